/*
 * The one way every process here starts another: fork, then in the child
 * a clean process (descriptors moved into place from a map and every
 * other one closed, the signal mask emptied and every disposition reset,
 * optionally its own process group or session and a parent-death
 * signal) and execve. The child allocates nothing between the fork and
 * the exec. A failure there comes back through a close-on-exec pipe: the
 * parent learns "it runs" from EOF and "it failed, errno N" from four
 * bytes, then the child exits 127.
 */
#ifndef MCPVISOR_SPAWN_H
#define MCPVISOR_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SPAWN_FDS_MAX	8
/* as spawn_fd.parent: the child's descriptor is /dev/null */
#define SPAWN_DEVNULL	(-2)

struct spawn_fd {
	int	child;		/* the descriptor in the child */
	int	parent;		/* ours that it becomes, or SPAWN_DEVNULL */
};

struct spawn_request {
	/* with a '/', executed as it is; a bare name is looked up in our
	 * PATH */
	const char	*path;
	char *const	*argv;		/* argv[0] included, NULL-terminated */
	char *const	*envp;		/* NULL: an empty environment */
	const char	*cwd;		/* NULL: ours */
	/* every descriptor of the child, 0 to 2 included; the rest are
	 * closed */
	struct spawn_fd	 fds[SPAWN_FDS_MAX];
	size_t		 nfds;
	bool		 new_pgrp;	/* its own process group */
	bool		 new_session;	/* its own session */
	/* forked twice, so that it is never our child: it belongs to init
	 * (or the nearest subreaper) from the start */
	bool		 detach;
	int		 pdeathsig;	/* sent to it when we die; 0: none */
	/* instead of an exec: called in the child once it is set up, and
	 * its return is the child's exit status (this may allocate: the
	 * caller is single-threaded) */
	int		(*child_fn)(void *arg);
	void		*child_arg;
	/* cloned as our parent's child, not ours (CLONE_PARENT): a fork
	 * server starts children on its parent's behalf. With child_fn
	 * only, from a single-threaded caller (the child is a clone3 of
	 * it, with no fork handlers run); its process group is set from
	 * the child's side alone */
	bool		 sibling;
	/* the first process of a new PID namespace (CLONE_NEWPID), its
	 * init: forked, never sharing our memory; its parent's pid is 0 to
	 * it, so the parent-death test is the signal alone */
	bool		 new_pid_ns;
	/* cgroup.procs of cgroups to join, open for writing: the child
	 * writes "0" to each first, so that all it does is counted and
	 * limited there (the kernel checks the move against the rights of
	 * whoever opened them) */
	const int	*join_cgroups;
	size_t		 njoin_cgroups;
	/* a system call filter (a struct sock_fprog) the child loads last
	 * before its exec; it needs no_new_privs already set */
	const void	*seccomp_filter;
};

/* Starts rq. Returns 0 and the child's pid (0 for a detached one), or a
 * negative errno when a pipe or the fork failed. With status_fd, also a
 * non-blocking descriptor for spawn_exec_status() (the caller closes
 * it); without, a failed exec shows only as exit status 127. */
int	spawn_start(const struct spawn_request *, pid_t *pid, int *status_fd);

/* Reads the status descriptor once it is readable: 0 when the exec
 * worked, the child's errno (> 0) when it failed, or -EAGAIN. */
int	spawn_exec_status(int status_fd);
/* Waits for the exec's outcome (a few milliseconds) and closes fd:
 * 0 or the child's errno. */
int	spawn_wait_exec(int status_fd);

/*
 * Children we started, told apart from children we adopted. A subreaper
 * (or PID 1) inherits every orphan of its tree; with tracking on, the
 * caller hands each reaped pid to spawn_forget() and can then kill what
 * it adopted without ever signalling a process it started or one that
 * is not of its tree: the kernel reparents to a subreaper only its own
 * descendants.
 */
void	spawn_track_children(void);
/* A reaped pid: true when it was one we started (and is forgotten). */
bool	spawn_forget(pid_t);
/* A child a fork server started for us (spawn_request.sibling): ours,
 * as if we had started it. */
void	spawn_note_started(pid_t);
/* SIGKILL to every child of ours that we did not start: the orphans
 * reparented to us. Returns how many. */
unsigned spawn_kill_adopted(void);
/* SIGKILL to every child of ours, started or adopted. */
unsigned spawn_kill_children(void);

#endif
