/*
 * Work off the loop, in a child. The child is a fork of mcpvisord made
 * through the spawn routine (spawn.h) with a function instead of an
 * exec: it has its inputs in its copy of our memory, does the work,
 * writes its answer to its standard output and exits. The loop only
 * reads the pipe; at EOF the answer (NULL when the child said nothing,
 * or more than it may) reaches the owner. A job is freed once it is both
 * read and reaped.
 */
#ifndef MCPVISOR_CHILDJOB_H
#define MCPVISOR_CHILDJOB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct childjob;
struct supervisor;

/* In the child: the work, its answer written to fd; the exit status. */
typedef int childjob_work_fn(const void *arg, int fd);
/* In the loop, once: the answer (NUL-terminated, the callee's to keep
 * or free), or NULL. */
typedef void childjob_done_fn(void *arg, char *answer, size_t len);

/* Starts a child; NULL with errno set when it cannot be started. An
 * answer longer than max is none. */
struct childjob	*childjob_start(struct supervisor *, childjob_work_fn *,
		    const void *work_arg, size_t max, childjob_done_fn *,
		    void *done_arg);
/* The owner went away: the child is killed, its callback not called. */
void		 childjob_cancel(struct childjob *);
/* SIGCHLD: true when pid was a job's. */
bool		 childjobs_reaped(struct supervisor *, pid_t, int status);
/* Jobs still running (a shutdown waits for them). */
bool		 childjobs_pending(const struct supervisor *);
void		 childjobs_free_all(struct supervisor *);

#endif
