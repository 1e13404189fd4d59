/*
 * The deployment machine: a table of actions indexed by state and event,
 * the only place its state changes. Servers start batch by batch, each
 * batch once the one before it is ready; a failure runs the on-failure
 * and pre-rollback hooks, then asks its listeners to undo it (a
 * rollback, when it upgraded a running deployment) or stops it; a stop
 * goes batch by batch in reverse. Everything that happens becomes an
 * event, and the record is rewritten at most once per loop turn.
 */
#include "deployment.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "apply.h"
#include "childjob.h"
#include "events.h"
#include "hooks.h"
#include "log.h"
#include "secrets.h"
#include "prepare.h"
#include "rollback_state.h"
#include "stack.h"
#include "state.h"
#include "upgrade.h"
#include "util.h"

typedef void dep_action(struct deployment *, const struct dep_input *);

void
dep_emit(struct deployment *dep, const char *server, const char *type,
    cJSON *details, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	events_emitv(dep->sv, &dep->owner.origin, server, type, details, fmt,
	    ap);
	va_end(ap);
	dep->owner.dirty = true;
}

/* The requester of a deployment is answered once it is prepared, or
 * once it will never be: ok, or the reason (every diagnostic of an
 * invalid one). */
static void
answer_requester(struct deployment *dep, enum dep_state next)
{
	struct supervisor	*sv = dep->sv;
	const char		*why = NULL;

	if (next != DEP_PRE_DEPLOY && next != DEP_AWAITING_APPROVAL)
		why = dep->invalid != NULL ? dep->invalid :
		    dep->failure[0] != '\0' ? dep->failure :
		    "stopped before it was prepared";
	if (sv->on_prepared != NULL)
		sv->on_prepared(sv, dep->id, why, dep->outcome == OUT_INVALID);
}

static void
set_state(struct deployment *dep, enum dep_state s)
{
	bool	was_preparing = dep->state <= DEP_PREPARING;

	dep->state = s;
	dep->owner.deploying = dep_deploying(dep);
	dep->owner.dirty = true;
	if (was_preparing && s > DEP_PREPARING)
		answer_requester(dep, s);
}

/* Tells every listener; true when one took the matter over. For some
 * notes the first that does ends it (only one may start a server). */
static bool
notify(struct deployment *dep, enum dep_note n, struct server_run *sr,
    const char *why)
{
	struct supervisor	*sv = dep->sv;
	bool			 taken = false;
	bool			 first_only = n == DN_SERVER_STARTING ||
				    n == DN_SERVER_STOPPED ||
				    n == DN_ROLLBACK_DUE;

	for (size_t i = 0; i < sv->nlisteners && !(taken && first_only); i++)
		taken |= sv->listeners[i](dep, n, sr, why);
	return taken;
}

/* --- hooks --- */

static void
on_hooks(void *arg, bool failed, const char *message)
{
	struct dep_input	in = { .why = message };

	dep_event(arg, failed ? DE_HOOKS_FAILED : DE_HOOKS_DONE, &in);
}

void
dep_audit(const struct deployment *dep, const char *action, int uid,
    pid_t pid, const char *detail)
{
	char	 path[PATH_MAX + 32], when[40], *text;
	cJSON	*o;
	int	 fd;

	if (!dep->ld.audit_logging || (o = cJSON_CreateObject()) == NULL)
		return;
	state_iso_now(when, sizeof(when));
	cJSON_AddStringToObject(o, "timestamp", when);
	cJSON_AddStringToObject(o, "deployment_id", dep->id);
	cJSON_AddStringToObject(o, "environment", dep->ld.environment);
	cJSON_AddStringToObject(o, "action", action);
	if (uid >= 0) {
		cJSON_AddNumberToObject(o, "uid", uid);
		cJSON_AddNumberToObject(o, "pid", (double)pid);
	} else
		cJSON_AddStringToObject(o, "by", "mcpvisord");
	if (detail != NULL)
		cJSON_AddStringToObject(o, "detail", detail);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	snprintf(path, sizeof(path), "%s/logs/audit.log", dep->sv->state_dir);
	/* one write of a whole line, appended: lines never interleave */
	if (text != NULL && (fd = open(path, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) != -1) {
		size_t	len = strlen(text);

		text[len] = '\n';
		if (write(fd, text, len + 1) != (ssize_t)(len + 1))
			log_warn("%s", path);
		close(fd);
	} else if (text != NULL)
		log_warn("%s", path);
	free(text);
}

/* The secrets of every server it has loaded, for the workers of its
 * hooks to mask in what they print (none yet before it is loaded: the
 * pre-validation hooks). The caller wipes it. */
static cJSON *
dep_mask(const struct deployment *dep)
{
	cJSON	*mask = cJSON_CreateArray();

	for (size_t i = 0; mask != NULL && i < dep->ld.secrets.n; i++)
		cJSON_AddItemToArray(mask,
		    cJSON_CreateString(dep->ld.secrets.v[i]));
	return mask;
}

/* Starts the hooks of phase; 1 when on_hooks will be called, 0 when
 * there are none (or they could not start: said as an event). */
static int
run_hooks(struct deployment *dep, const char *phase, hook_done_fn *done)
{
	char			*env[16];
	cJSON			*doc = cJSON_CreateObject();
	cJSON			*identity = dep_hook_identity(dep);
	cJSON			*mask = dep_mask(dep);
	struct hook_context	 ctx = { dep->src.config_dir, identity,
				    dep->owner.origin.logfd, dep->id, mask,
				    dep->src.verbose };
	int			 r;

	dep_hook_env(dep, phase, env, 16);
	cJSON_AddStringToObject(doc, "phase", phase);
	cJSON_AddItemToObject(doc, "deployment", dep_record(dep));
	r = hooks_start(dep->sv, &ctx, phase, env, doc, done, dep);
	cJSON_Delete(doc);
	cJSON_Delete(identity);
	secrets_wipe_json(mask);
	cJSON_Delete(mask);
	for (size_t i = 0; i < 16 && env[i] != NULL; i++)
		free(env[i]);
	if (r < 0)
		dep_emit(dep, NULL, "hook_failed", NULL, "%s hooks cannot run: "
		    "%s", phase, strerror(-r));
	else if (r == 1)
		dep_emit(dep, NULL, "hooks_started", NULL, "%s hooks", phase);
	return r == 1;
}

/* After-the-fact hooks: their failure is said, and changes nothing. */
static void
on_after_hooks(void *arg, bool failed, const char *message)
{
	struct deployment	*dep = arg;

	if (failed)
		dep_emit(dep, NULL, "hook_failed", NULL, "%s", message);
	else
		dep_emit(dep, NULL, "hooks_done", NULL, "hooks ran");
}

void
dep_after_hooks(struct deployment *dep, const char *phase)
{
	run_hooks(dep, phase, on_after_hooks);
}

/* --- batches --- */

static void	first_batch(struct deployment *, const struct dep_input *);

void
dep_announce(struct deployment *dep)
{
	const struct deploy_settings	*ds = &dep->ld.pd->spec->settings;
	struct supervisor		*sv = dep->sv;
	cJSON				*d = cJSON_CreateObject();

	/* the monitor follows the wishes of the deployment started last */
	if (sv->want_monitor != NULL)
		sv->want_monitor(sv, ds->monitoring_enabled &&
		    !dep->src.no_monitoring, dep->src.monitor_port != 0 ?
		    dep->src.monitor_port : ds->monitor_port);
	cJSON_AddNumberToObject(d, "total", (double)dep->ld.nservers);
	cJSON_AddNumberToObject(d, "batches",
	    (double)dep->ld.pd->plan->nbatches);
	cJSON_AddStringToObject(d, "deployment", dep->ld.pd->spec->name);
	cJSON_AddStringToObject(d, "environment", dep->ld.environment);
	dep_emit(dep, NULL, "deployment_started", d, "%s for %s: %zu servers "
	    "in %zu batches", dep->ld.pd->spec->name, dep->ld.environment,
	    dep->ld.nservers, dep->ld.pd->plan->nbatches);
	dep_write_record(dep);
}

int
dep_validate(struct deployment *dep)
{
	return run_hooks(dep, "pre-validation", on_hooks);
}

void
dep_deploy(struct deployment *dep)
{
	set_state(dep, DEP_PRE_DEPLOY);
	if (!run_hooks(dep, "pre-deploy", on_hooks))
		first_batch(dep, NULL);
}

static void
succeeded(struct deployment *dep)
{
	struct supervisor	*sv = dep->sv;
	cJSON			*d = cJSON_CreateObject();
	uint64_t		 ms = mono_ms() - dep->started_ms;

	set_state(dep, DEP_SUCCEEDED);
	dep->outcome = OUT_SUCCEEDED;
	cJSON_AddNumberToObject(d, "duration_ms", (double)ms);
	cJSON_AddNumberToObject(d, "total", (double)dep->ld.nservers);
	dep_emit(dep, NULL, "deployment_completed", d, "%zu servers ready in "
	    "%llu ms", dep->ld.nservers, (unsigned long long)ms);
	notify(dep, DN_SUCCEEDED, NULL, NULL);
	dep_write_record(dep);
	if (sv->on_finished != NULL)
		sv->on_finished(sv, dep->id, "succeeded");
	if (dep->prev != NULL && dep_running(dep->prev)) {
		/* what the new version did not name goes with the old */
		dep->prev->outcome = OUT_SUPERSEDED;
		dep_emit(dep->prev, NULL, "deployment_superseded", NULL,
		    "superseded by %s", dep->id);
		dep_stop(dep->prev, STOP_GRACEFUL);
	}
	dep_after_hooks(dep, "post-deploy");
	/* preparing left freed heap behind (every file parsed, every
	 * template rendered); supervising for weeks needs none of it */
	malloc_trim(0);
}

static bool	batch_ready(const struct deployment *);

static void
next_batch(struct deployment *dep)
{
	const struct plan	*plan = dep->ld.pd->plan;
	const struct plan_batch	*pb;
	cJSON			*d;

	if (dep->batch == plan->nbatches) {
		succeeded(dep);
		return;
	}
	pb = &plan->batches[dep->batch];
	d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "batch", (double)dep->batch + 1);
	cJSON_AddNumberToObject(d, "batches", (double)plan->nbatches);
	cJSON_AddNumberToObject(d, "servers", (double)pb->count);
	dep_emit(dep, NULL, "batch_started", d, "batch %zu of %zu: %zu "
	    "server%s", dep->batch + 1, plan->nbatches, pb->count,
	    pb->count == 1 ? "" : "s");
	for (size_t k = 0; k < pb->count && dep->state == DEP_DEPLOYING; k++)
		dep_start_server(dep, &dep->ld.servers[pb->servers[k]]);
	/* servers taken over as they run are ready at once */
	if (dep->state == DEP_DEPLOYING && batch_ready(dep)) {
		dep->batch++;
		next_batch(dep);
	}
}

void
dep_start_server(struct deployment *dep, struct server_run *sr)
{
	if (dep->state != DEP_DEPLOYING || sr->state != SR_PENDING)
		return;
	if (notify(dep, DN_SERVER_STARTING, sr, NULL))
		return;
	server_event(sr, SE_START, NULL);
}

static bool
batch_ready(const struct deployment *dep)
{
	const struct plan_batch	*pb;

	if (dep->batch >= dep->ld.pd->plan->nbatches)
		return false;
	pb = &dep->ld.pd->plan->batches[dep->batch];
	/* a server that was ready and has ended as its policy allows
	 * (a one-shot job) has done its part */
	for (size_t k = 0; k < pb->count; k++) {
		const struct server_run	*sr = &dep->ld.servers[pb->servers[k]];

		if ((sr->state != SR_READY && sr->state != SR_EXITED) ||
		    upgrade_old_remains(sr))
			return false;
	}
	return true;
}

/* --- failure --- */

static void	pre_rollback_hooks(struct deployment *, const struct dep_input *);
static void	begin_stop(struct deployment *, const struct dep_input *);

/* Fails the deployment with outcome "failed" or "invalid" (its files
 * were found wrong only after pre-validation hooks ran). */
static void
fail_as(struct deployment *dep, struct server_run *sr, const char *reason,
    enum dep_outcome outcome)
{
	cJSON	*d;

	if (dep->outcome != OUT_NONE)
		return;
	dep->outcome = outcome;
	if (dep->ld.pd != NULL)
		dep->failed_batch = dep_batch_of(dep, sr);
	notify(dep, DN_FAILED, sr, reason);
	snprintf(dep->failure, sizeof(dep->failure), "%s: %s",
	    sr != NULL ? sr->name : "deployment", reason);
	d = cJSON_CreateObject();
	if (sr != NULL)
		cJSON_AddStringToObject(d, "server", sr->name);
	cJSON_AddStringToObject(d, "reason", reason);
	/* what a rollback has to undo; executing it is rollback's work */
	cJSON_AddStringToObject(d, "rollback", dep->ld.pd == NULL ||
	    dep->ld.pd->spec->settings.rollback_on_failure ?
	    "stop what this deployment started" : "disabled");
	dep_emit(dep, sr != NULL ? sr->name : NULL, "deployment_failed", d,
	    "%s", dep->failure);
	set_state(dep, DEP_ON_FAILURE);
	dep_write_record(dep);
	if (!run_hooks(dep, "on-failure", on_hooks))
		pre_rollback_hooks(dep, NULL);
}

static void
fail(struct deployment *dep, const struct dep_input *in)
{
	fail_as(dep, in->sr, in->why, OUT_FAILED);
}

/* --- preparing, in a child --- */

/* What was loaded becomes its runs. */
static void
dep_loaded_adopt(struct deployment *dep)
{
	for (size_t i = 0; i < dep->ld.nservers; i++)
		server_init(&dep->ld.servers[i], &dep->owner, dep);
	dep->rollback_enabled = dep->ld.rollback_enabled;
	dep->strategy = dep->ld.strategy;
	/* the requester's environment and the parsed files are needed no
	 * longer: the workers' configurations are rendered */
	cJSON_Delete(dep->src.environ);
	dep->src.environ = NULL;
	dep_loaded_shed(&dep->ld);
}

static void
on_prepared(void *arg, char *answer, size_t len)
{
	struct deployment	*dep = arg;
	struct dep_input	 in = { 0 };
	char			*why = NULL;
	int			 r;

	dep->prep = NULL;
	if ((r = dep_load_answer(&dep->src, answer, len, &dep->ld, &why,
	    &in.invalid)) < 0) {
		free(dep->invalid);
		dep->invalid = why;
		in.why = why != NULL ? why : strerror(-r);
	}
	dep_event(dep, DE_PREPARED, &in);
}

static void
prepare(struct deployment *dep, const struct dep_input *in)
{
	char	why[160];

	(void)in;
	set_state(dep, DEP_PREPARING);
	if ((dep->prep = dep_load_start(dep->sv, &dep->src, dep->id,
	    on_prepared, dep)) == NULL) {
		snprintf(why, sizeof(why), "cannot start its preparation: %s",
		    strerror(errno));
		fail_as(dep, NULL, why, OUT_FAILED);
	}
}

static void
cancel_preparation(struct deployment *dep)
{
	childjob_cancel(dep->prep);
	dep->prep = NULL;
}

/* Takes dep out of the deployments being prepared; false if it was
 * not one of them. */
static bool
leave_preparing(struct deployment *dep)
{
	for (struct deployment **pp = &dep->sv->preparing; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == dep) {
			*pp = dep->next;
			dep->next = NULL;
			return true;
		}
	return false;
}

/* Prepared (and approved where that is asked): it becomes its stack's
 * current deployment (an upgrade of the one that runs, if one does),
 * unless its stack or one of its servers' names is taken. */
static void
go_ahead(struct deployment *dep)
{
	char	*why = NULL;
	int	 r;

	if ((r = stack_claim(dep, &why)) < 0) {
		fail_as(dep, NULL, why != NULL ? why : strerror(-r),
		    r == -EEXIST ? OUT_INVALID : OUT_FAILED);
		free(why);
		return;
	}
	leave_preparing(dep);
	stack_install(dep);
	dep_announce(dep);
	apply_plan(dep);
	dep_deploy(dep);
}

static void
prepared(struct deployment *dep, const struct dep_input *in)
{
	if (in->why != NULL) {
		/* the record says why; the follower hears "invalid" */
		fail_as(dep, NULL, in->why, in->invalid ? OUT_INVALID :
		    OUT_FAILED);
		return;
	}
	dep_loaded_adopt(dep);
	dep_audit(dep, "requested", dep->src.requester_uid,
	    dep->src.requester_pid, dep->src.spec_path);
	if (dep->ld.require_mfa && !dep->src.approved && dep->sv->once) {
		/* a one-shot run has no second person to wait for */
		fail_as(dep, NULL, "the environment's security_policies."
		    "require_mfa holds a deployment until a second person "
		    "approves it, which --once cannot wait for: smoke-test "
		    "the spec in an environment without it", OUT_FAILED);
		return;
	}
	if (dep->ld.require_mfa && !dep->src.approved) {
		/* nothing of it runs, nor does it replace what runs, before
		 * a second person says so; it stays the one being prepared */
		set_state(dep, DEP_AWAITING_APPROVAL);
		dep_emit(dep, NULL, "deployment_awaiting_approval", NULL,
		    "environment %s requires a second person: mcpvisor deploy "
		    "approve %s, as a user other than uid %d", dep->ld.environment,
		    dep->id, (int)dep->src.requester_uid);
		dep_audit(dep, "held", -1, 0, "require_mfa: for another user's "
		    "approval");
		dep_write_record(dep);
		return;
	}
	go_ahead(dep);
}

static void
approved(struct deployment *dep, const struct dep_input *in)
{
	dep_emit(dep, NULL, "deployment_approved", NULL, "%s", in->why != NULL ?
	    in->why : "approved");
	go_ahead(dep);
}


static void
stop_preparing(struct deployment *dep, const struct dep_input *in)
{
	cancel_preparation(dep);
	begin_stop(dep, in);
}

static void
fail_preparing(struct deployment *dep, const struct dep_input *in)
{
	cancel_preparation(dep);
	fail(dep, in);
}

static void
pre_rollback_hooks(struct deployment *dep, const struct dep_input *in)
{
	if (in != NULL && in->why != NULL)
		dep_emit(dep, NULL, "hook_failed", NULL, "%s", in->why);
	set_state(dep, DEP_PRE_ROLLBACK);
	if (!run_hooks(dep, "pre-rollback", on_hooks))
		dep_event(dep, DE_HOOKS_DONE, NULL);
}

/* Its failure's hooks ran (their failure is said, but cannot leave a
 * failed deployment half up): a listener undoes it, or it stops. */
static void
rollback_due(struct deployment *dep, const struct dep_input *in)
{
	if (in != NULL && in->why != NULL)
		dep_emit(dep, NULL, "hook_failed", NULL, "%s (rolling back "
		    "all the same)", in->why);
	set_state(dep, DEP_FAILED);
	if (!notify(dep, DN_ROLLBACK_DUE, NULL, dep->failure))
		dep_stop(dep, STOP_GRACEFUL);
}

/* --- the stop --- */

static void
finish(struct deployment *dep)
{
	struct supervisor	*sv = dep->sv;
	bool			 taken;

	/* it was never prepared: it never became current, and goes at the
	 * end of the turn */
	if (leave_preparing(dep)) {
		dep->next = sv->unprepared;
		sv->unprepared = dep;
	}
	set_state(dep, DEP_DONE);
	/* a deployment that had succeeded and was then stopped */
	if (dep->outcome == OUT_NONE || dep->outcome == OUT_SUCCEEDED)
		dep->outcome = OUT_STOPPED;
	state_iso_now(dep->finished_at, sizeof(dep->finished_at));
	dep_emit(dep, NULL, "deployment_stopped", NULL, "every server stopped "
	    "(%s)", dep_outcome_name(dep->outcome));
	dep_audit(dep, "finished", -1, 0, dep_outcome_name(dep->outcome));
	taken = notify(dep, DN_STOPPED, NULL, NULL);
	dep_write_record(dep);
	/* whoever is told the deployment is over may read the journal at
	 * once: it must hold every event up to this one already */
	events_commit(sv);
	/* secrets are not kept longer than the servers that needed them */
	for (size_t i = 0; i < dep->ld.nservers; i++)
		server_forget_config(&dep->ld.servers[i]);
	secrets_clear(&dep->ld.secrets);
	/* a follower hears the end of a rollback that carries on too */
	if (!taken && sv->on_finished != NULL)
		sv->on_finished(sv, dep->id, dep_outcome_name(dep->outcome));
	if (dep->outcome == OUT_FAILED || dep->outcome == OUT_INVALID)
		dep_after_hooks(dep, "post-rollback");
}

static void
stop_next_batch(struct deployment *dep)
{
	struct srv_input	in = { .how = dep->stop_how };
	unsigned		longest = 0;

	while (dep->stopping == 0 && dep->stop_batch > 0) {
		const struct plan_batch *pb =
		    &dep->ld.pd->plan->batches[--dep->stop_batch];

		for (size_t k = 0; k < pb->count; k++) {
			struct server_run *sr = &dep->ld.servers[pb->servers[k]];

			server_event(sr, SE_STOP, &in);
			if (sr->state != SR_STOPPING)
				continue;
			dep->stopping++;
			if (sr->stop_timeout_ms > longest)
				longest = sr->stop_timeout_ms;
		}
		if (dep->stopping > 0)
			loop_timer_set(&dep->sv->loop, &dep->stop_timer,
			    longest + STOP_SLACK_MS);
	}
	if (dep->stopping == 0) {
		loop_timer_cancel(&dep->sv->loop, &dep->stop_timer);
		finish(dep);
	}
}

static void
begin_stop(struct deployment *dep, const struct dep_input *in)
{
	(void)in;
	set_state(dep, DEP_STOPPING);
	notify(dep, DN_STOPPING, NULL, NULL);
	/* a server still waiting to start never will */
	dep->stop_batch = dep->ld.pd != NULL ? dep->ld.pd->plan->nbatches : 0;
	dep_emit(dep, NULL, "deployment_stopping", NULL, "stopping in reverse "
	    "dependency order");
	stop_next_batch(dep);
}

void
dep_stop(struct deployment *dep, enum stop_how how)
{
	if (dep->state == DEP_STOPPING || dep->state == DEP_DONE)
		return;
	dep->stop_how = how;
	dep_event(dep, DE_STOP, NULL);
}

static void
server_stopped(struct deployment *dep, const struct dep_input *in)
{
	(void)in;
	if (dep->stopping > 0 && --dep->stopping == 0)
		stop_next_batch(dep);
}

static void
kill_stragglers(struct deployment *dep, const struct dep_input *in)
{
	(void)in;
	for (size_t i = 0; i < dep->ld.nservers; i++)
		if (dep->ld.servers[i].state == SR_STOPPING)
			server_event(&dep->ld.servers[i], SE_STOP_TIMEOUT,
			    NULL);
}

static void
on_stop_timer(struct loop_timer *t)
{
	dep_event(container_of(t, struct deployment, stop_timer),
	    DE_STOP_TIMEOUT, NULL);
}

/* --- the table --- */

static void
ignore(struct deployment *dep, const struct dep_input *in)
{
	(void)dep;
	(void)in;
}

static void
refuse(struct deployment *dep, const struct dep_input *in)
{
	(void)in;
	log_debug("deployment %s: an event its state (%s) does not take",
	    dep->id, dep_state_name(dep->state));
}

static void
first_batch(struct deployment *dep, const struct dep_input *in)
{
	(void)in;
	set_state(dep, DEP_DEPLOYING);
	next_batch(dep);
}

static void
batch_check(struct deployment *dep, const struct dep_input *in)
{
	(void)in;
	if (!batch_ready(dep))
		return;
	dep->batch++;
	next_batch(dep);
}

#define NO	refuse
static dep_action *const actions[DEP_N][DE_N] = {
	/*		   HOOKS_DONE          HOOKS_FAILED
	 *		   SERVER_READY        SERVER_FAILED  SERVER_STOPPED
	 *		   STOP        STOP_TIMEOUT     FAIL    PREPARED
	 *		   APPROVED */
	[DEP_VALIDATING] = { prepare,            fail,
			   NO,                 NO,            NO,
			   begin_stop, ignore,          fail,   NO,
			   NO },
	[DEP_PREPARING] =  { NO,                 NO,
			   NO,                 NO,            NO,
			   stop_preparing, ignore,      fail_preparing,
			   prepared,
			   NO },
	[DEP_AWAITING_APPROVAL] = { NO,          NO,
			   NO,                 NO,            NO,
			   begin_stop, ignore,          fail,   NO,
			   approved },
	[DEP_PRE_DEPLOY] = { first_batch,        fail,
			   NO,                 NO,            NO,
			   begin_stop, ignore,          fail,   NO,
			   NO },
	[DEP_DEPLOYING] = { NO,                  NO,
			   batch_check,        fail,          ignore,
			   begin_stop, ignore,          fail,   NO,
			   NO },
	[DEP_ON_FAILURE] = { pre_rollback_hooks, pre_rollback_hooks,
			   ignore,             ignore,        ignore,
			   begin_stop, ignore,          ignore, NO,
			   NO },
	[DEP_PRE_ROLLBACK] = { rollback_due,     rollback_due,
			   ignore,             ignore,        ignore,
			   begin_stop, ignore,          ignore, NO,
			   NO },
	[DEP_FAILED] =	   { NO,                 NO,
			   ignore,             ignore,        ignore,
			   begin_stop, ignore,          ignore, NO,
			   NO },
	[DEP_SUCCEEDED] =  { NO,                 NO,
			   ignore,             ignore,        ignore,
			   begin_stop, ignore,          NO,     NO,
			   NO },
	[DEP_STOPPING] =   { ignore,             ignore,
			   ignore,             ignore,        server_stopped,
			   ignore,     kill_stragglers, ignore, ignore,
			   ignore },
	[DEP_DONE] =	   { ignore,             ignore,
			   ignore,             ignore,        ignore,
			   ignore,     ignore,          ignore, ignore,
			   ignore },
};
#undef NO

void
dep_event(struct deployment *dep, enum dep_event ev, const struct dep_input *in)
{
	static const struct dep_input	none;

	actions[dep->state][ev](dep, in != NULL ? in : &none);
}

const char *
dep_action_name(enum dep_state s, enum dep_event e)
{
	static const struct {
		dep_action	*fn;
		const char	*name;
	} names[] = {
#define A(f)	{ f, #f }
		A(ignore), A(refuse), A(prepare), A(prepared),
		A(stop_preparing), A(fail_preparing), A(fail), A(approved),
		A(first_batch), A(batch_check), A(pre_rollback_hooks),
		A(rollback_due), A(begin_stop), A(server_stopped),
		A(kill_stragglers),
#undef A
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].fn == actions[s][e])
			return names[i].name;
	return "?";
}

/* --- what its servers tell it --- */

static void
on_server_note(struct server_owner *o, struct server_run *sr, enum dep_note n,
    const char *why)
{
	struct deployment	*dep = container_of(o, struct deployment,
				    owner);
	struct dep_input	 in = { .sr = sr, .why = why };

	switch (n) {
	case DN_SERVER_READY:
		notify(dep, n, sr, why);
		dep_event(dep, DE_SERVER_READY, &in);
		break;
	case DN_SERVER_FAILED:
		notify(dep, n, sr, why);
		dep_event(dep, DE_SERVER_FAILED, &in);
		break;
	case DN_SERVER_STOPPED:
		if (!notify(dep, n, sr, why))
			dep_event(dep, DE_SERVER_STOPPED, &in);
		break;
	default:
		notify(dep, n, sr, why);
		break;
	}
}

/* --- the deployment itself --- */

int
dep_new(struct supervisor *sv, const struct deploy_request *rq,
    struct deployment **out, char **err)
{
	struct deployment	*dep;
	int			 r;

	*out = NULL;
	if ((dep = calloc(1, sizeof(*dep))) == NULL)
		return -ENOMEM;
	if ((r = dep_sources_init(&dep->src, rq, err)) < 0) {
		free(dep);
		return r;
	}
	dep->sv = sv;
	state_new_id(dep->id, sizeof(dep->id));
	state_iso_now(dep->started_at, sizeof(dep->started_at));
	dep->started_ms = mono_ms();
	dep->owner = (struct server_owner){ .sv = sv, .secrets =
	    &dep->ld.secrets, .note = on_server_note };
	dep->owner.origin = (struct event_origin){ dep->id, -1,
	    dep->src.verbose };
	dep->stop_timer.fn = on_stop_timer;
	set_state(dep, DEP_VALIDATING);
	*out = dep;
	return 0;
}

int
dep_load_now(struct deployment *dep, char **err)
{
	int	r;

	if ((r = dep_load(dep->sv, &dep->src, dep->id, &dep->ld, err)) < 0)
		return r;
	dep_loaded_adopt(dep);
	return 0;
}

void
dep_open_log(struct deployment *dep)
{
	char	path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/logs/deployment_%s.log",
	    dep->sv->state_dir, dep->id);
	if ((dep->owner.origin.logfd = open(path, O_WRONLY | O_APPEND |
	    O_CREAT | O_CLOEXEC, 0600)) == -1)
		log_warn("%s", path);
}

void
dep_free(struct deployment *dep)
{
	if (dep == NULL)
		return;
	loop_timer_cancel(&dep->sv->loop, &dep->stop_timer);
	hooks_cancel(dep->sv, dep);
	childjob_cancel(dep->prep);
	free(dep->invalid);
	rb_free(dep->rb);
	rb_free(dep->hand);
	dep_free(dep->prev);
	dep_loaded_clear(&dep->ld);
	dep_sources_clear(&dep->src);
	if (dep->owner.origin.logfd != -1)
		close(dep->owner.origin.logfd);
	free(dep);
}
