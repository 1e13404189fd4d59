/*
 * A deployment: a prepared spec being started batch by batch, supervised
 * or stopped in reverse order, as a table of actions indexed by state
 * and event (deployment.c). It owns its server runs; what happens to
 * them and to itself it tells its listeners (supervisor.h: rollbacks,
 * upgrades, rollbacks by hand), which never need to be called from here.
 */
#ifndef MCPVISOR_DEPLOYMENT_H
#define MCPVISOR_DEPLOYMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deploy_load.h"
#include "server.h"
#include "supervisor.h"

struct cJSON;
struct rollback;

#define RECORDS_KEPT		100	/* finished deployments remembered */

enum dep_state {
	DEP_VALIDATING,	/* pre-validation hooks; nothing read yet */
	DEP_PREPARING,	/* loaded, rendered and planned in a child */
	/* prepared, for an environment whose security_policies say
	 * require_mfa: held until a second person approves */
	DEP_AWAITING_APPROVAL,
	DEP_PRE_DEPLOY,	/* prepared; pre-deploy hooks */
	DEP_DEPLOYING,	/* batch by batch */
	DEP_ON_FAILURE,	/* failed: on-failure hooks */
	DEP_PRE_ROLLBACK, /* failed: pre-rollback hooks */
	DEP_FAILED,	/* failed, hooks ran: a rollback decides what follows */
	DEP_SUCCEEDED,	/* every server ready: supervised */
	DEP_STOPPING,	/* in reverse order */
	DEP_DONE,
	DEP_N
};

enum dep_event {
	DE_HOOKS_DONE,	/* the hooks of the state's phase ran */
	DE_HOOKS_FAILED, /* one of them failed (why) */
	DE_SERVER_READY, /* one of its servers is ready (sr) */
	DE_SERVER_FAILED, /* one gave up (sr, why) */
	DE_SERVER_STOPPED, /* one stopped (sr) */
	DE_STOP,	/* deploy stop, shutdown, superseded, a rollback */
	DE_STOP_TIMEOUT, /* the stop's deadline */
	DE_FAIL,	/* failed from outside (why): a rollback by hand */
	DE_PREPARED,	/* the child's answer is in dep->ld (why: it failed) */
	DE_APPROVED,	/* deploy approve, by another person */
	DE_N
};

enum dep_outcome {
	OUT_NONE,	/* in progress */
	OUT_SUCCEEDED,
	OUT_FAILED,
	OUT_INVALID,	/* its files were found wrong after its hooks ran */
	OUT_STOPPED,
	OUT_SUPERSEDED,	/* an upgrade succeeded in its place */
};

struct dep_input {
	struct server_run	*sr;
	const char		*why;
	bool			 invalid;	/* PREPARED: why is the files' */
};

struct childjob;

struct deployment {
	struct supervisor	*sv;
	/* its stack, once it is installed there (stack.c); until then, the
	 * next in sv->preparing or sv->unprepared */
	struct stack		*stack;
	struct deployment	*next;
	struct server_owner	 owner;		/* what its servers see */
	char			 id[64];
	struct dep_sources	 src;
	struct dep_loaded	 ld;		/* empty until loaded */
	struct childjob		*prep;		/* while it is PREPARING */
	char			*invalid;	/* every diagnostic, when it is */
	/* the deployment this one supersedes (an upgrade), still running
	 * until this one succeeds; NULL for a first deployment */
	struct deployment	*prev;
	bool			 rollback_enabled;
	enum rollback_strategy	 strategy;
	struct rollback		*rb;		/* once one was planned */
	/* a rollback by hand is carried out by a deployment of the previous
	 * version's sources: its record, and whether it waits for approval
	 * (manual) before it starts */
	struct rollback		*hand;
	bool			 held;
	size_t			 failed_batch;	/* where it failed */
	size_t			 batch;
	size_t			 stop_batch;
	size_t			 stopping;	/* servers of the stop batch */
	enum stop_how		 stop_how;	/* how they are stopped */
	struct loop_timer	 stop_timer;
	enum dep_state		 state;
	enum dep_outcome	 outcome;
	unsigned		 revision;	/* its stack's, once succeeded */
	char			 failure[512];
	uint64_t		 started_ms;
	char			 started_at[40];
	char			 finished_at[40];
};

/* A new deployment of rq's sources: neither loaded nor current. 0, or a
 * negative errno (with *err for -EINVAL). */
int		 dep_new(struct supervisor *, const struct deploy_request *,
		    struct deployment **, char **err);
/* Loads it (VALIDATING, after pre-validation hooks). 0 or a negative
 * errno with *err. */
int		 dep_load_now(struct deployment *, char **err);
void		 dep_free(struct deployment *);	/* accepts NULL */
/* Opens its log, STATE_DIR/logs/deployment_ID.log. */
void		 dep_open_log(struct deployment *);
/* Runs its pre-validation hooks (which may write the very files it is
 * to load): 1 when they run (it loads when they are done), 0 when there
 * are none (the caller loads it). */
int		 dep_validate(struct deployment *);
/* Says it starts (the monitor follows its wishes), and records it. */
void		 dep_announce(struct deployment *);
/* Its pre-deploy hooks, then its first batch. */
void		 dep_deploy(struct deployment *);
/* The one entry point of its state table. */
void		 dep_event(struct deployment *, enum dep_event,
		    const struct dep_input *);
/* Stops it in reverse order, the way how says. */
void		 dep_stop(struct deployment *, enum stop_how);
/* Starts the first attempt of sr, which a listener had taken over
 * (DN_SERVER_STARTING), unless the deployment moved on meanwhile. */
void		 dep_start_server(struct deployment *, struct server_run *);
/* Whether its servers are still being deployed (failed attempts are
 * retried): from validation until a rollback or a stop takes over. */
bool		 dep_deploying(const struct deployment *);
bool		 dep_running(const struct deployment *);	/* not done */
const char	*dep_outcome_name(enum dep_outcome);
const char	*dep_state_name(enum dep_state);	/* its record's */
const char	*dep_action_name(enum dep_state, enum dep_event);
/* The run of server name, or NULL. */
struct server_run *dep_server(const struct deployment *, const char *name);
/* The batch sr belongs to (NULL: the one being deployed). */
size_t		 dep_batch_of(const struct deployment *,
		    const struct server_run *);
/* Its record, a new tree; written at once, and shown to watchers. */
struct cJSON	*dep_record(const struct deployment *);
void		 dep_write_record(struct deployment *);
/* With its environment's security_policies.audit_logging, one line of
 * STATE-DIR/logs/audit.log: who (uid, pid; -1: mcpvisord) did what to
 * it. Nothing otherwise. */
void		 dep_audit(const struct deployment *, const char *action,
		    int uid, pid_t pid, const char *detail);
/* An event of this deployment (server may be NULL). */
void		 dep_emit(struct deployment *, const char *server,
		    const char *type, struct cJSON *details, const char *fmt,
		    ...) __attribute__((format(printf, 5, 6)));
/* The MCPVISOR_* environment of its hooks and rollback actions, phase
 * named, NULL-terminated within n (free each string). */
void		 dep_hook_env(const struct deployment *, const char *phase,
		    char **env, size_t n);
/* Who its hooks and rollback actions run as: the spec's hooks: mapping
 * as JSON (read from the spec file when it is not loaded yet), or NULL
 * when it declares none. The caller deletes it. */
struct cJSON	*dep_hook_identity(const struct deployment *);
/* Runs the after-the-fact hooks of phase (their failure is only said). */
void		 dep_after_hooks(struct deployment *, const char *phase);

#endif
