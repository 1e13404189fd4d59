/*
 * One run of a server in a deployment: its attempts, readiness,
 * restarts and stop, as a table of actions indexed by state and event
 * (server.c). The worker's frames are decoded into events; what the
 * owner (a deployment) needs to know comes back to it as notes.
 */
#ifndef MCPVISOR_SERVER_H
#define MCPVISOR_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "events.h"
#include "loop.h"
#include "supervisor.h"

struct cJSON;
struct secret_set;
struct server_run;
struct snapjob;
struct worker_proc;

#define WORKER_DEATHS_MAX	5	/* worker crashes within ... */
#define WORKER_DEATH_WINDOW_MS	60000	/* ... this, and the server fails */
#define STOP_SLACK_MS		3000	/* beyond a server's stop timeout */

enum srv_state {
	SR_PENDING,	/* not started yet */
	SR_STARTING,	/* an attempt: a worker runs it, not ready yet */
	SR_READY,
	SR_RETRY_WAIT,	/* waiting to try again */
	SR_FAILED,	/* given up */
	SR_STOPPING,
	SR_STOPPED,
	SR_EXITED,	/* it ended as its restart policy allows */
	SR_N
};

enum srv_event {
	SE_START,	/* begin an attempt */
	SE_HELLO,	/* the worker introduced itself */
	SE_SANDBOX,	/* what its sandbox kept and dropped */
	SE_STARTED,	/* the server's process runs */
	SE_READY,
	SE_HEALTH,	/* a health check's result */
	SE_EXITED,	/* the server exited */
	SE_FAILED,	/* the worker reports a failure */
	SE_LOST,	/* the worker's channel closed or it died */
	SE_READY_TIMEOUT,
	SE_RETRY,	/* the retry timer */
	SE_STOP,
	SE_STOP_TIMEOUT,
	SE_ABANDON,	/* it cannot be started (why) */
	SE_FINISHED,	/* it ended per its restart policy; the worker goes */
	SE_PAUSED,	/* the worker was stopped (SIGSTOP) */
	SE_RESUMED,	/* ... and continued */
	SE_N
};

/* How a stop is carried out. */
enum stop_how {
	STOP_GRACEFUL,	/* stdin EOF (stdio), then the stop signal */
	STOP_NOW,	/* the stop signal at once */
	STOP_KILL,	/* SIGKILL to the worker and its server */
};

/* What an apply (a deployment over a running one of its stack) does
 * with a server (apply.c). */
enum srv_change {
	SC_NONE,	/* not an apply */
	SC_ADDED,	/* the running deployment has no such server */
	SC_CHANGED,	/* its definition differs: replaced */
	SC_FOLLOWS,	/* a dependency it follows is replaced: so is it */
	SC_RECREATED,	/* --force-recreate: replaced, changed or not */
	SC_UNCHANGED,	/* taken over as it runs */
	SC_NOT_RUNNING,	/* the running deployment's is not ready: anew */
	SC_N
};

/* What comes with an event. */
struct srv_input {
	uint32_t		 a, b;	/* STARTED: pid; EXITED: how, code */
	uint32_t		 oom_limit_mib;	/* EXITED: the OOM killer's */
	struct cJSON		*json;	/* SANDBOX, HEALTH, USAGE, FAILED */
	const char		*why;	/* LOST */
	enum stop_how		 how;	/* STOP */
	unsigned		 kill_after_ms;	/* STOP: 0, or the worker's
						 * own deadline */
};

/* What a server run needs of its owner. */
struct server_owner {
	struct supervisor	*sv;
	struct event_origin	 origin;	/* its events' */
	struct secret_set	*secrets;	/* scrubbed from reports */
	bool			 dirty;		/* a record to write */
	bool			 deploying;	/* failed attempts are retried */
	void			(*note)(struct server_owner *,
				    struct server_run *, enum dep_note,
				    const char *why);
};

struct server_run {
	struct server_owner	*owner;
	struct deployment	*dep;		/* the owner, for its listeners */
	size_t			 index;
	const char		*name;
	enum srv_state		 state;
	unsigned		 attempts;
	unsigned		 attempts_allowed;
	unsigned		 ready_timeout_s;
	unsigned		 restarts;
	unsigned		 stop_timeout_ms;
	char			*config_text;	/* holds secrets: memory only */
	/* its configuration as rendered for its environment, secrets
	 * masked (JSON; NULL when it has none): what an apply compares
	 * beside config_text */
	char			*rendered;
	char			 stack[96];	/* its deployment's spec name */
	struct worker_proc	*worker;
	pid_t			 server_pid;	/* as its worker said */
	unsigned		 port;		/* it listens on: written, or
						 * picked for this attempt */
	bool			 via_gateway;	/* its worker serves the
						 * gateway a pair (stdio) */
	struct loop_timer	 ready_timer;
	struct loop_timer	 retry_timer;
	char			 last_error[256];
	uint64_t		 attempt_ms;
	uint64_t		 ready_after_ms;
	uint64_t		 crashes[WORKER_DEATHS_MAX];
	unsigned		 ncrashes;
	uint64_t		 rng;		/* retry jitter */
	struct cJSON		*health;	/* check name -> last result */
	/* the last usage sample (sampler.c), and the CPU time and moment
	 * the next one's share is measured from, for the process usage_pid */
	struct cJSON		*usage;
	uint64_t		 usage_ticks;
	uint64_t		 usage_ms;
	pid_t			 usage_pid;
	/* an upgrade: the previous deployment's run of this server that this
	 * one replaces (and the reverse link), the snapshot of it, and
	 * whether it is being put back by a rollback */
	struct server_run	*replaces;
	struct server_run	*replaced_by;
	struct server_run	*replacing;	/* while its snapshot is made */
	char			 snapshot[200];
	bool			 restoring;
	/* handed over from a run of another deployment (a batch rollback
	 * keeps a new version, a partial rollback keeps the current one):
	 * the deployment whose configuration it carries, and whether this
	 * run gave its process away (and is not to be stopped) */
	char			 config_of[64];
	bool			 kept;
	/* a rollback by hand: the snapshot to put back before the start
	 * (done once put back), whether to take over the running version
	 * unchanged instead, and the run it took over (given back if the
	 * rollback fails) */
	char			 restore_snapshot[200];
	bool			 restored;
	bool			 adopt;
	struct server_run	*adopted_from;
	/* an apply: what became of it, and the keys of its definition
	 * that differ (strings, "run.environment.LEVEL"), or NULL */
	enum srv_change		 change;
	struct cJSON		*changed_keys;
	/* snapshot work in a child on its behalf, or NULL */
	struct snapjob		*job;
};

/* Sets a new run's timers up; the owner fills the rest. */
void		 server_init(struct server_run *, struct server_owner *,
		    struct deployment *);
/* The one entry point: dispatches through the table. */
void		 server_event(struct server_run *, enum srv_event,
		    const struct srv_input *);
/* Cancels its timers, lets go of its worker and frees what it holds. */
void		 server_clear(struct server_run *);
/* Wipes and frees the configuration (it holds secrets). */
void		 server_forget_config(struct server_run *);
/* Moves the live server of src (its worker, the configuration it runs
 * with, its counters and health) to dst, the run of the same server in
 * another deployment, without touching the process; src is left with
 * nothing to stop. Only a ready server with a live worker moves; false
 * otherwise (or on ENOMEM). */
bool		 server_transfer(struct server_run *dst,
		    struct server_run *src);

/* Sends sig to the server's process group through its worker, and says
 * so in an event, as requested by uid (mcpvisor kill). A server that
 * dies of it is restarted per its policy, as any death. -ESRCH when no
 * process of it runs. */
int		 server_signal(struct server_run *, int sig, int uid);
/* Whether a process of it runs (starting or ready, its pid known). */
bool		 server_has_process(const struct server_run *);

const char	*server_state_name(enum srv_state);
const char	*server_event_name(enum srv_event);
/* The name of the action of a cell: what the tests walk. */
const char	*server_action_name(enum srv_state, enum srv_event);

#endif
