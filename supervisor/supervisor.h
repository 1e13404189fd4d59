/*
 * mcpvisord's state and its public face. Which room holds what (the
 * headers beside each say more):
 *
 *	runtime.c	the supervisor itself: start-up, the loop turn and its
 *			group commit, the ordered shutdown and its grace, what
 *			is reaped
 *	server.c	one server run: its state table, and the decoder that
 *			turns a worker's frames into its events
 *	workerproc.c	one mcpvisor-worker process: spawn, channel, kill,
 *			bury
 *	deployment.c	one deployment: its state table (validate, prepare
 *			in a child, hooks, batches, failure, reverse stop),
 *			and the notes it gives its listeners
 *	deployment_record.c  a deployment's record, its hooks' environment
 *	deploy_load.c	a deployment's sources loaded, rendered, planned, and
 *			each server's run spec and worker configuration
 *	stack.c		stacks (a spec's metadata.name), each with its
 *			current deployment
 *	upgrade.c	a deployment over a running one: replace or take over
 *			each server, hand back on failure (a listener)
 *	apply.c		which servers of such a deployment changed (the rest
 *			are taken over as they run), and a dry run's diff
 *	rollback_state.c  a rollback's own state table, plan, record and log
 *	rollback.c	rolling a failed upgrade back (a listener)
 *	rollback_hand.c	mcpvisor rollback start, approve (a listener)
 *	childjob.c	work in a child, off the loop, its answer read off a
 *			pipe (a deployment's preparation, snapshots)
 *	snapjob.c	snapshots made and put back in a child job
 *	hooks.c		deployment hooks and custom rollback actions, each a
 *			task of a sandboxed worker
 *	events.c	events and the journal
 *	recover.c	what a dead mcpvisord left behind (records,
 *			rollbacks, its servers' leftovers)
 *	control.c	the control socket and its clients
 *	control_verbs.c	its built-in verbs
 *	monproc.c	the mcpvisor-monitor process (and the gateway's)
 *	gwlink.c	what mcpvisor-gateway is handed: a pair per stdio
 *			server's worker
 *	sampler.c	the servers' CPU and memory, measured when asked
 *	forkserver.c	the template workers are cloned from
 *	mcpvisord.c	options, signals, and the wiring of the above
 */
#ifndef MCPVISOR_SUPERVISOR_H
#define MCPVISOR_SUPERVISOR_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "state.h"

struct apply_preview;
struct cJSON;
struct deployment;
struct hook_run;
struct server_run;
struct stack;
struct childjob;
struct peer;
struct serverctl;
struct snapjob;
struct worker_proc;

/* Exit statuses of mcpvisord (see mcpvisord(8)). */
#define SV_EXIT_OK		0	/* stopped in order */
#define SV_EXIT_FAILED		1	/* the deployment failed */
#define SV_EXIT_GRACE		3	/* stragglers had to be killed */
#define SV_EXIT_CONFIG		100
#define SV_EXIT_TEMPFAIL	111

struct deploy_request {
	const char		*spec_path;
	const char		*environment;	/* NULL: the spec's */
	const char		*config_dir;
	const char		*checks_dir;	/* NULL: beside config_dir */
	bool			 sequential;
	unsigned		 max_parallel;
	bool			 no_rollback;	/* over the spec's setting */
	const char		*strategy;	/* NULL: the spec's */
	bool			 no_monitoring;	/* over the spec's setting */
	unsigned		 monitor_port;	/* 0: the spec's */
	/* the requester's environment (NAME=VALUE), for env() and secrets;
	 * NULL: mcpvisord's own */
	struct cJSON		*environ;
	/* recovery: the deployment this one brings back, so that one
	 * interrupted in turn is brought back again */
	const char		*restores;
	/* --backup-dir: where its snapshots go (absolute); NULL:
	 * mcpvisord's */
	const char		*backup_dir;
	bool			 verbose;	/* --verbose: debug events */
	/* --force-recreate: an apply replaces every server, changed or
	 * not */
	bool			 force_recreate;
	/* a reload's: the stack whose files are read again (NULL: the only
	 * one that runs); a rollback to a revision's: that stack's revision
	 * to_revision, and (filled from it) where its files are kept */
	const char		*stack;
	unsigned		 to_revision;
	const char		*revision_dir;
	/* who asked (SO_PEERCRED), -1 for mcpvisord itself; approved:
	 * require_mfa was satisfied already (recovery of one approved) */
	int			 requester_uid;
	pid_t			 requester_pid;
	bool			 approved;
};

/* mcpvisor rollback start */
struct rollback_request {
	const char		*deployment_id;	/* the current deployment */
	const struct cJSON	*servers;	/* names; NULL: all */
	const char		*strategy;	/* NULL: graceful */
	/* the requester's environment, to render the previous version's
	 * configuration again (secrets are never stored) */
	struct cJSON		*environ;
	int			 requester_uid;	/* SO_PEERCRED */
};

/* What a deployment tells its listeners (see deployment.h). */
enum dep_note {
	DN_SUCCEEDED,		/* every server ready */
	DN_FAILED,		/* it failed (why) */
	DN_ROLLBACK_DUE,	/* failed, its hooks ran: undo it now */
	DN_STOPPING,		/* its reverse stop begins */
	DN_STOPPED,		/* every server stopped: it is over */
	DN_SERVER_STARTING,	/* a server's first attempt is next */
	DN_SERVER_STARTED,	/* a server's process runs */
	DN_SERVER_READY,	/* a server is ready */
	DN_SERVER_FAILED,	/* a server gave up (why) */
	DN_SERVER_STOPPED,	/* a server stopped */
};

/* A listener hears every note of every deployment. It returns true
 * when it took the matter over: for DN_ROLLBACK_DUE, the rollback (else
 * the deployment just stops); for DN_SERVER_STARTING, the start (it will
 * call dep_start_server() itself); for DN_SERVER_STOPPED, what follows;
 * for DN_STOPPED, telling the deployment's followers that it is over
 * (it carries on with a rollback). */
typedef bool dep_listener_fn(struct deployment *, enum dep_note,
    struct server_run *, const char *why);

#define SV_LISTENERS_MAX	8
#define SV_CGROUPS_LEFT_MAX	64	/* leaves waiting to be removed */

struct supervisor {
	struct loop		 loop;
	char			 state_dir[PATH_MAX];
	char			 worker_path[PATH_MAX];
	char			 backup_dir[PATH_MAX];	/* snapshots */
	struct journal		 journal;
	/* every stack (stack.c), each with its current deployment */
	struct stack		*stacks;
	/* those being prepared (hooks, then loading in a child), the
	 * newest first: each becomes its stack's current one once
	 * prepared, and an invalid one never does, so that it cannot
	 * disturb what runs */
	struct deployment	*preparing;
	struct deployment	*unprepared;	/* freed at the turn's end */
	struct worker_proc	*workers;	/* every live worker */
	struct peer		*gateway;	/* its channel (gwlink.c) */
	struct hook_run		*hooks;		/* running deployment hooks */
	/* mcpvisor stop|start|restart SERVER under way (serverctl.c), and
	 * how many there were, for their ids */
	struct serverctl	*serverctl;
	unsigned		 serverctl_seq;
	struct childjob		*jobs;		/* work in children */
	struct apply_preview	*previews;	/* dry runs (apply.c) */
	bool			 init_mode;
	/* --once (with --init): stop in order once the deployment
	 * succeeded, and exit with its outcome */
	bool			 once;
	struct loop_timer	 once_timer;
	/* --limits-optional: a server whose cgroup limits cannot be
	 * enforced runs without them (a container's read-only cgroups) */
	bool			 limits_optional;
	/* whether workers can give their servers a filesystem view (mount
	 * and PID namespaces): sandbox.filesystem's default is strict
	 * where they can, host where not */
	bool			 filesystem_views;
	/* whether a server without run.user gets a dynamic uid (dynuser.c):
	 * mcpvisord is root and may become one; else it runs as ours */
	bool			 dynamic_users;
	/* --secrets-dir (default $CREDENTIALS_DIRECTORY): a file per
	 * secret, named as its variable; "" for none */
	char			 secrets_dir[PATH_MAX];
	/* --approvers-group: its members may reach the control socket to
	 * approve (require_mfa), and for nothing else; -1: no one */
	int			 approvers_gid;
	bool			 deployment_log_failing;	/* said so */
	bool			 records_failing;		/* said so */
	bool			 monitoring_off;	/* --no-monitoring */
	/* the fork server (forkserver.c): its pid (0: none), its socket
	 * (while pid is), whether it is not to be used (--no-fork-server,
	 * or stopped), and when it may be started again */
	struct forkserver {
		pid_t		 pid;
		int		 fd;
		bool		 off;
		uint64_t	 retry_ms;
	}			 forkserver;
	/* cgroup leaves of gone workers that still held processes: tried
	 * again until they can be removed (workerproc.c) */
	struct cgroup_left {
		char		 name[256];
		unsigned	 tries;
	}			 cgroups_left[SV_CGROUPS_LEFT_MAX];
	size_t			 ncgroups_left;
	struct loop_timer	 cgroup_timer;
	/* watchers that want usage samples as they come (sampler.c) */
	unsigned		 sampler_wanted;
	struct loop_timer	 sampler_timer;
	bool			 shutting_down;
	unsigned		 grace_ms;
	struct loop_timer	 grace_timer;
	bool			 grace_expired;
	bool			 done;
	int			 exit_status;
	uint64_t		 seq;		/* events */
	dep_listener_fn		*listeners[SV_LISTENERS_MAX];
	size_t			 nlisteners;
	/* set by whoever wires the daemon (mcpvisord.c); each may be NULL.
	 * on_event hears every event; on_watch what only watchers (the
	 * monitor) hear: each record written (FRAME_RECORD) and each usage
	 * sample (FRAME_METRICS); on_finished a deployment's end (success,
	 * failure or stop); want_monitor the current deployment's wish for
	 * a monitor, on a port */
	void			*wiring;
	void			(*on_event)(struct supervisor *,
				    const struct cJSON *);
	void			(*on_watch)(struct supervisor *, uint8_t type,
				    const struct cJSON *);
	void			(*on_finished)(struct supervisor *,
				    const char *id, const char *outcome);
	/* a deployment is prepared (why NULL), or will never be: why, and
	 * whether its files are invalid */
	void			(*on_prepared)(struct supervisor *,
				    const char *id, const char *why,
				    bool invalid);
	void			(*want_monitor)(struct supervisor *, bool on,
				    unsigned port);
};

/* runtime.c */

/* Sets up the loop, the state directory and the journal, and makes us a
 * subreaper. 0 or a negative errno (logged). */
int	runtime_init(struct supervisor *, const char *state_dir,
	    const char *worker_path);
/* One loop turn, then the end-of-turn work (records, journal). Returns
 * the loop's error, if it had one. */
int	runtime_turn(struct supervisor *, int timeout_ms);
void	runtime_free(struct supervisor *);
/* Stops everything and ends the loop when done (SIGTERM). */
void	runtime_shutdown(struct supervisor *);
/* Forwards a signal to every server. */
void	runtime_forward_signal(struct supervisor *, int sig);
/* SIGCHLD: true when pid was a worker's or a snapshot job's. */
bool	runtime_reaped(struct supervisor *, pid_t pid, int status);
/* Adds a listener to every deployment's notes. */
void	runtime_listen(struct supervisor *, dep_listener_fn *);

/* forkserver.c */
/* A worker cloned by the fork server, its descriptors 1 and 2 out_fd and
 * 3 channel_fd (ours stay ours), with new_pid_ns the init of a PID
 * namespace of its own: 0 and *pid, or a negative errno when the caller
 * is to exec one instead. */
int	forkserver_spawn(struct supervisor *, int out_fd, int channel_fd,
	    bool new_pid_ns, pid_t *pid);
/* SIGCHLD: true when pid was the fork server's. */
bool	forkserver_reaped(struct supervisor *, pid_t, int status);
/* Lets it go (it exits at end of file); no more clones. */
void	forkserver_stop(struct supervisor *);

/* sampler.c */
/* Measures every running server of deployment id (NULL: of every one)
 * now, but for those measured less than max_age_ms ago: the sample is
 * kept in its run (for records and status) and shown to watchers
 * (FRAME_METRICS). */
void	sampler_sample(struct supervisor *, const char *id,
	    unsigned max_age_ms);
/* A watcher wants samples as they come (more), or no longer: while any
 * does, every metrics_interval_seconds of the current deployment. */
void	sampler_want(struct supervisor *, bool more);
/* A deployment became current: its interval applies. */
void	sampler_deployment_changed(struct supervisor *);

/* Whether a deployment of any stack is being prepared, or runs. */
bool	runtime_busy(const struct supervisor *);
/* Prepares and starts a deployment. Returns 0 and its id in id, or a
 * negative errno with the reason in err (a config error: -EINVAL, with
 * every diagnostic joined; one of the same spec file being prepared, or
 * its stack busy: -EBUSY). */
int	runtime_deploy(struct supervisor *, const struct deploy_request *,
	    char *id, size_t idsize, char **err);
/* Deploys a stack's current sources again, read from its files as they
 * are now, with its options: an apply of what changed (SIGHUP, mcpvisor
 * reload). Of who, only the stack, the requester and its environment
 * count (NULL environ: mcpvisord's own). As runtime_deploy, -ESRCH when
 * no deployment of the stack has succeeded to be reloaded, and
 * -EDESTADDRREQ when no stack is named and several run. */
int	runtime_reload(struct supervisor *, const struct deploy_request *who,
	    char *id, size_t idsize, char **err);
/* Whether deployment id (NULL: the active one, the newest being
 * prepared or else the stack installed last) is being prepared or is
 * its stack's current deployment. */
bool	runtime_is_current(const struct supervisor *, const char *id);
/* Stops deployment id (NULL: the active one) in reverse order. -ENOENT
 * when it is not being prepared nor its stack's current one, -EALREADY
 * when it is over. */
int	runtime_stop(struct supervisor *, const char *id, int uid, pid_t pid);
/* The record of deployment id (NULL: the active one), a new tree, or
 * NULL when it is not in memory. */
struct cJSON	*runtime_record(const struct supervisor *, const char *id);
/* The record of the current deployment of the stack deployment id is
 * of (or was, while it still runs), or NULL. */
struct cJSON	*runtime_stack_record(const struct supervisor *,
		    const char *id);
/* The records of every deployment in memory: those being prepared, and
 * of each stack the current one, the one it upgrades or replaced, a
 * failed upgrade kept aside (a new array). */
struct cJSON	*runtime_records(const struct supervisor *);

/* rollback_hand.c */

/* Rolls the current deployment back to the one it replaced (see
 * mcpvisor(1), rollback start). Returns 0 and the rollback's id in id, or
 * a negative errno with the reason in err. */
int	runtime_rollback_start(struct supervisor *,
	    const struct rollback_request *, char *id, size_t idsize,
	    char **err);
/* Approves rollback id, which a "manual" strategy planned. -ENOENT:
 * no such rollback waits; -EALREADY: it is not waiting. */
/* uid: the approver's; a rollback to a require_mfa environment needs
 * another user than the one who asked for it (-EPERM). */
int	runtime_rollback_approve(struct supervisor *, const char *id, int uid);
/* mcpvisor monitor record: metrics (an object of numbers) for server of
 * the current deployment, made an event that the monitor keeps. 0, or
 * -ENOENT / -EINVAL with why. */
int	runtime_record_metrics(struct supervisor *, const char *server,
	    const struct cJSON *metrics, char *why, size_t size);
/* mcpvisor kill: sig to each server named (a list of strings) of the
 * current deployment, through its worker, as asked by uid; each added to
 * done as {server, pid}. Nothing is sent unless every one runs: 0, or
 * -ENOENT (a name it has not, with the nearest in why), -ESRCH (one not
 * running), -EINVAL. */
int	runtime_signal_servers(struct supervisor *, const struct cJSON *names,
	    int sig, int uid, struct cJSON *done, char *why, size_t size);
/* deploy approve: the second person (uid, pid) of a deployment held for
 * require_mfa. 0, or -ENOENT (none held by that id), -EPERM (the
 * requester itself), with why. */
int	runtime_deploy_approve(struct supervisor *, const char *id, int uid,
	    pid_t pid, char *why, size_t size);

/* recover.c */

/* Marks records of deployments a dead mcpvisord left running as
 * interrupted; starts again the last one that had succeeded. */
void	runtime_recover(struct supervisor *);

#endif
