/*
 * One mcpvisor-worker process seen from the root: spawned through the
 * shared spawn routine with its channel (a peer) on descriptor 3 and its
 * output to the deployment's log, killed when it must be, buried once it
 * is reaped and its channel closed. Frames reach the owner (a server
 * run) through a callback; a worker whose owner let go of it is told to
 * stop, killed if it does not, and its frames are stale.
 */
#ifndef MCPVISOR_WORKERPROC_H
#define MCPVISOR_WORKERPROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct frame;
struct supervisor;
struct worker_proc;

/* A frame from the worker, or f NULL: the worker is lost (its channel
 * closed, it died or broke the protocol), why says how; called once,
 * and nothing follows. */
typedef void worker_frame_fn(struct worker_proc *, const struct frame *f,
    const char *why, void *arg);

/* The kernel's news of a worker (it is our child: waitid() says when it
 * is stopped and continued), handed to its owner as frames of these
 * types. They are never on the wire: a worker cannot send them. A
 * worker stopped for longer than WORKER_STOPPED_GRACE_MS is lost. */
#define WORKER_NOTE_STOPPED	250
#define WORKER_NOTE_CONTINUED	251
#define WORKER_STOPPED_GRACE_MS	10000

/* Starts a worker whose output goes to logfd (-1: ours), with
 * WORKER_PID_NAMESPACE as the init of a PID namespace of its own (it
 * still speaks of pids as we see them). NULL with errno set when a
 * descriptor, the fork or the loop failed. */
#define WORKER_PID_NAMESPACE	1u
struct cJSON;
/* What a worker of this configuration is started with: a server or hook
 * in a filesystem view (sandbox.filesystem: strict) has a PID namespace
 * of its own too, whose init is its worker. */
unsigned	worker_flags_of(const struct cJSON *config);
struct worker_proc	*worker_spawn(struct supervisor *, int logfd,
			    unsigned flags, worker_frame_fn *, void *arg);
pid_t	worker_pid(const struct worker_proc *);
/* The few variables of ours a worker needs (secrets never travel in a
 * worker's environment), into envp (n entries at most, NULL-ended; the
 * caller frees each). */
#define WORKER_ENV_MAX	5
struct spawn_request;
/* A worker's descriptors (and the fork server's): 0 /dev/null, 1 and 2
 * out_fd, 3 channel_fd. */
void	worker_fd_map(struct spawn_request *, int out_fd, int channel_fd);
void	worker_environment(char **envp, size_t n);
/* The server's pid, as the worker reported it (0: none yet). */
pid_t	worker_server_pid(const struct worker_proc *);
void	worker_send(struct worker_proc *, uint8_t type, const void *,
	    uint32_t len);
/* FRAME_STOP, with FRAME_STOP_* flags (0: the stdin grace). */
void	worker_stop(struct worker_proc *, uint32_t flags);
/* The owner lets go: the worker is told to stop and killed if it has
 * not gone within ms; its callback is not called again. */
void	worker_detach(struct worker_proc *, unsigned ms);
/* Hands the worker (and its callback) to another owner. */
void	worker_reown(struct worker_proc *, worker_frame_fn *, void *arg);
/* The worker runs server of stack, in the cgroup leaf cgroup_leaf_name()
 * names: once the worker is gone, what is left there is killed and the
 * leaf removed. */
void	worker_owns_cgroup(struct worker_proc *, const char *stack,
	    const char *server);
/* Its server's cgroup leaf, or "". */
const char	*worker_cgroup(const struct worker_proc *);
/* At the end: the leaves still waiting, removed now (what they held is
 * reaped by then) or left with a warning. */
void	workers_remove_cgroups(struct supervisor *);
/* Kills the worker and its server outright. */
void	worker_kill(struct worker_proc *);
/* Kills them if the worker has not gone within ms. */
void	worker_kill_after(struct worker_proc *, unsigned ms);
/* The owner lets go of a worker that misbehaved: its channel is closed
 * and it is killed with its server, now. */
void	worker_abandon(struct worker_proc *);
/* The worker runs a stdio server the gateway serves: about is what the
 * gateway is told of it (JSON text); worker_gateway() says it, or NULL
 * (none, or the worker is lost); worker_attach_gateway() hands the
 * worker its end of a pair to the gateway (fd is passed and closed). */
void		 worker_serves_gateway(struct worker_proc *, const char *about);
const char	*worker_gateway(const struct worker_proc *);
int		 worker_attach_gateway(struct worker_proc *, int fd);
/* Whether its channel is gone (the owner heard so, or will). */
bool	worker_lost(const struct worker_proc *);

/* A gateway (re)started: every worker the gateway serves gets a pair. */
void	workers_connect_gateway(struct supervisor *);
/* Every worker attached to a server: the signal, forwarded. */
void	workers_forward_signal(struct supervisor *, int sig);
void	workers_kill_all(struct supervisor *);
/* SIGCHLD: true when pid was a worker's (its last frames are read
 * first, then its owner hears that it is lost). */
bool	workers_reaped(struct supervisor *, pid_t, int status);
/* SIGCHLD of a stop (stopped) or a continue of pid, if it is a worker. */
void	workers_paused(struct supervisor *, pid_t, bool stopped);
/* Frees the workers that are reaped and whose channel is closed (at the
 * end of a loop turn: a batch of events may still name them). */
void	workers_bury(struct supervisor *);
/* Forgets every worker (mcpvisord exits). */
void	workers_free_all(struct supervisor *);

#endif
