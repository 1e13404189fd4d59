/*
 * Rolling a failed upgrade back, as a listener of the deployments'
 * notes. When an upgrade fails (its hooks ran), the rollback is planned:
 * the new servers stop in reverse dependency order (killed, for
 * "aggressive"), the custom actions of each run, every replaced server
 * is checked against its snapshot and its files put back ("graceful"
 * also removes files the new version added; off the loop), and it is
 * started again from the configuration it ran with, still held in
 * memory. The rollback is over when each is ready again by its own
 * health checks (or merely running, for "aggressive"). "manual" plans
 * and waits for approval; "batch" keeps the new version of the batches
 * that had succeeded.
 */
#include "rollback.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "deployment.h"
#include "hooks.h"
#include "prepare.h"
#include "rollback_state.h"
#include "schema.h"
#include "server.h"
#include "snapjob.h"
#include "upgrade.h"
#include "ynode.h"

static const char *
json_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

/* --- its kind --- */

static void	rollback_stopped(struct deployment *);

static void
execute(struct rollback *rb)
{
	struct deployment	*dep = rb->owner;

	dep_emit(dep, NULL, "rollback_started", rb_json(rb), "rollback %s "
	    "(%s): stopping the new version, then putting back %s's", rb->id,
	    rollback_strategy_name(rb->strategy), dep->prev->id);
	rb_write(rb);
	if (!dep_running(dep))
		rollback_stopped(dep);	/* stopped while it waited */
	else
		dep_stop(dep, rb->strategy == ROLLBACK_AGGRESSIVE ? STOP_KILL :
		    rb->strategy == ROLLBACK_IMMEDIATE ? STOP_NOW :
		    STOP_GRACEFUL);
}

static void
hold(struct rollback *rb)
{
	struct deployment	*dep = rb->owner;
	struct supervisor	*sv = dep->sv;

	dep_emit(dep, NULL, "rollback_planned", rb_json(rb), "rollback %s "
	    "waits for approval: mcpvisor rollback approve %s", rb->id, rb->id);
	rb_write(rb);
	dep_write_record(dep);
	/* whoever follows the deployment learns its fate now; the approval
	 * may be hours away */
	if (sv->on_finished != NULL)
		sv->on_finished(sv, dep->id, dep_outcome_name(dep->outcome));
}

static void
finished(struct rollback *rb)
{
	struct deployment	*dep = rb->owner;
	struct supervisor	*sv = dep->sv;
	uint64_t		 ms = rb_elapsed_ms(rb);
	cJSON			*d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "rollback_id", rb->id);
	cJSON_AddNumberToObject(d, "duration_ms", (double)ms);
	if (rb->state == RB_FAILED) {
		cJSON_AddStringToObject(d, "failure", rb->failure);
		dep_emit(dep, NULL, "rollback_failed", d, "Rollback %s failed: "
		    "%s", rb->id, rb->failure);
	} else
		dep_emit(dep, NULL, "rollback_completed", d, "rollback %s: the "
		    "previous version is back in %llu ms", rb->id,
		    (unsigned long long)ms);
	rb_log(rb, "rollback %s %s after %llu ms", rb->id,
	    rb_state_name(rb->state), (unsigned long long)ms);
	rb_write(rb);
	dep_write_record(dep);
	if (rb->logfd != -1)
		close(rb->logfd);
	rb->logfd = -1;
	upgrade_hand_back(dep);
	if (sv->on_finished != NULL)
		sv->on_finished(sv, dep->id, dep_outcome_name(dep->outcome));
}

static const struct rb_kind auto_kind = { execute, hold, finished };

/* --- restoring --- */

/* One replaced server is back (or could not be brought back). */
static void
restore_done(struct server_run *old, bool ok, const char *why)
{
	struct rollback	*rb;

	if (!old->restoring || old->replaced_by == NULL)
		return;
	old->restoring = false;
	rb = old->replaced_by->dep->rb;
	if (ok) {
		rb_action(rb, "start_previous", old->name, "done", NULL);
		if (rb->strategy != ROLLBACK_AGGRESSIVE)
			rb_action(rb, "verify_health", old->name, "done", NULL);
		dep_emit(old->dep, old->name, "server_restored", NULL, "the "
		    "previous version is back (pid %d)", (int)old->server_pid);
	} else {
		rb_action(rb, "start_previous", old->name, "failed", why);
		if (rb->failure[0] == '\0')
			snprintf(rb->failure, sizeof(rb->failure), "the "
			    "previous version of %s did not come back: %s",
			    old->name, why);
	}
	if (rb->pending > 0 && --rb->pending == 0)
		rb_event(rb, RBE_FINISHED, NULL);
}

/* What a restore job is about: the old runs, parallel to its items. */
struct restore_ctx {
	struct deployment	*dep;
	size_t			 n;
	struct server_run	**olds;
	struct snap_restore	*items;
	cJSON			**configs;
};

static void
restore_ctx_free(void *arg)
{
	struct restore_ctx	*rc = arg;

	if (rc == NULL)
		return;
	for (size_t i = 0; i < rc->n; i++)
		cJSON_Delete(rc->configs[i]);
	free(rc->olds);
	free(rc->items);
	free(rc->configs);
	free(rc);
}

/* The snapshots are checked and their files put back: each server whose
 * were starts again, once all are counted, so that one that fails at
 * once cannot end the rollback before the others began. */
static void
on_restored(void *arg, const struct snapjob_outcome *out, size_t n)
{
	struct restore_ctx	*rc = arg;
	struct deployment	*dep = rc->dep;
	struct rollback		*rb = dep->rb;

	rb->job = NULL;
	for (size_t i = 0; i < n; i++) {
		struct server_run	*old = rc->olds[i];

		if (!out[i].ok) {
			rb_step_failed(rb, &dep->owner.origin, out[i].step,
			    old->name, out[i].why);
			continue;
		}
		rb_action(rb, "restore_files", old->name, "done", NULL);
		rb_action(rb, "restore_config", old->name, "done", NULL);
		old->restoring = true;
		old->attempts = 0;
		rb->pending++;
	}
	rb_write(rb);
	if (rb->pending == 0) {
		rb_event(rb, RBE_FINISHED, NULL);
		return;
	}
	/* one still stopping starts when it has stopped; one that never
	 * stopped (its new version started beside it, and was never ready)
	 * is back as it runs */
	for (size_t i = 0; i < n; i++) {
		struct server_run	*old = rc->olds[i];

		if (!old->restoring)
			continue;
		if (old->state == SR_READY)
			restore_done(old, true, NULL);
		else if (old->state != SR_STOPPING &&
		    old->state != SR_STARTING)
			server_event(old, SE_START, NULL);
	}
}

/* The failed upgrade has stopped and its custom actions ran: every
 * replaced server's snapshot is checked and put back, off the loop. */
static void
rollback_restore(struct deployment *dep)
{
	const struct plan	*plan = dep->prev->ld.pd->plan;
	struct rollback		*rb = dep->rb;
	struct restore_ctx	*rc;
	size_t			 total = dep->prev->ld.nservers;

	rb_write(rb);
	if ((rc = calloc(1, sizeof(*rc))) == NULL ||
	    (rc->olds = calloc(total + 1, sizeof(*rc->olds))) == NULL ||
	    (rc->items = calloc(total + 1, sizeof(*rc->items))) == NULL ||
	    (rc->configs = calloc(total + 1, sizeof(*rc->configs))) == NULL) {
		restore_ctx_free(rc);
		rb_event(rb, RBE_FINISHED, "out of memory putting back the "
		    "previous version");
		return;
	}
	rc->dep = dep;
	for (size_t b = 0; b < plan->nbatches; b++)
		for (size_t k = 0; k < plan->batches[b].count; k++) {
			struct server_run	*old = &dep->prev->ld.servers[
						    plan->batches[b].servers[k]];
			struct server_run	*sr = old->replaced_by;

			if (sr == NULL || sr->dep != dep)
				continue;
			rc->olds[rc->n] = old;
			rc->configs[rc->n] = upgrade_masked_config(old);
			rc->items[rc->n] = (struct snap_restore){ old->name,
			    sr->snapshot, rc->configs[rc->n],
			    rb->strategy == ROLLBACK_GRACEFUL,
			    dep->src.backup_dir };
			rc->n++;
		}
	if (rc->n == 0) {
		restore_ctx_free(rc);
		rb_event(rb, RBE_FINISHED, NULL);
		return;
	}
	rb->job_ctx = rc;
	rb->job_ctx_free = restore_ctx_free;
	if ((rb->job = snapjob_restore(dep->sv, rc->items, rc->n, on_restored,
	    rc)) == NULL) {
		char	why[160];

		snprintf(why, sizeof(why), "Rollback action failed: the "
		    "snapshots cannot be put back: %s", strerror(errno));
		for (size_t i = 0; i < rc->n; i++)
			rb_step_failed(rb, &dep->owner.origin, "restore_files",
			    rc->olds[i]->name, why);
		rb_event(rb, RBE_FINISHED, NULL);
	}
}

/* --- custom rollback actions ---
 *
 * Run one after another, as the plan lists them, once the new version
 * has stopped and before anything is restored; a failed one fails the
 * rollback, which goes on restoring all the same. */

static void	next_custom(struct deployment *);

static void
on_custom_action(void *arg, bool failed, const char *message)
{
	struct deployment	*dep = arg;
	struct rollback		*rb = dep->rb;
	cJSON			*a = cJSON_GetArrayItem(rb->actions,
				    rb->next_step - 1);
	const char		*name = json_str(a, "action");
	const char		*server = json_str(a, "server");

	if (failed) {
		char	why[1400];

		snprintf(why, sizeof(why), "Rollback action failed: %s_%s: %s "
		    "(its output is in logs/%s.log)", name, server, message,
		    rb->id);
		rb_step_failed(rb, &dep->owner.origin, name, server, why);
	} else
		rb_action(rb, name, server, "done", NULL);
	next_custom(dep);
}

/* The program of an action, relative to the directory that holds the
 * configuration directory (as a server's command is). NULL on ENOMEM. */
static char *
action_program(const struct deployment *dep, const char *program)
{
	char	*base, *path = NULL;

	if (program[0] == '/')
		return strdup(program);
	if ((base = config_sibling_dir(dep->src.config_dir, "")) == NULL ||
	    asprintf(&path, "%s%s", base, program) == -1)
		path = NULL;
	free(base);
	return path;
}

static cJSON *
action_doc(const struct deployment *dep, const cJSON *a,
    const struct ynode *def)
{
	struct rollback	*rb = dep->rb;
	cJSON		*doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "action", json_str(a, "action"));
	cJSON_AddStringToObject(doc, "rollback_id", rb->id);
	cJSON_AddStringToObject(doc, "deployment_id", rb->target);
	cJSON_AddStringToObject(doc, "previous_deployment_id", rb->back_to);
	cJSON_AddStringToObject(doc, "server", json_str(a, "server"));
	if (json_str(a, "snapshot") != NULL)
		cJSON_AddStringToObject(doc, "snapshot", json_str(a,
		    "snapshot"));
	cJSON_AddStringToObject(doc, "strategy",
	    rollback_strategy_name(rb->strategy));
	cJSON_AddItemToObject(doc, "params", ynode_map_get(def, "params") !=
	    NULL ? ynode_to_json(ynode_map_get(def, "params"), false) :
	    cJSON_CreateObject());
	return doc;
}

/* Starts the custom action a (an entry of the plan): 1 when it runs, or
 * a negative errno. */
static int
custom_action_start(struct deployment *dep, const cJSON *a)
{
	const char		*name = json_str(a, "action");
	const struct ynode	*def = ynode_map_get(ynode_map_get(
				    dep->ld.pd->spec->doc, "rollback_actions"),
				    name);
	const struct ynode	*args = ynode_map_get(def, "args");
	struct hook_action	 ha = { .name = name };
	char			*env[16], *program = NULL, **argv;
	cJSON			*doc;
	size_t			 i = 0;
	int			 r = -ENOMEM;

	ha.timeout_ms = (unsigned)schema_int(def, "timeout_seconds", 60) *
	    1000;
	ha.plugin = schema_str(def, "plugin", NULL);
	ha.function = schema_str(def, "function", NULL);
	if (schema_str(def, "program", NULL) != NULL && (ha.program = program =
	    action_program(dep, schema_str(def, "program", NULL))) == NULL)
		return -ENOMEM;
	if ((argv = calloc((args != NULL ? args->count : 0) + 1,
	    sizeof(char *))) == NULL) {
		free(program);
		return -ENOMEM;
	}
	for (size_t k = 0; args != NULL && k < args->count; k++)
		argv[k] = args->items[k]->text;
	ha.args = argv;
	doc = action_doc(dep, a, def);
	dep_hook_env(dep, "rollback-action", env, 16);
	while (i < 12 && env[i] != NULL)
		i++;
	if (asprintf(&env[i], "MCPVISOR_ROLLBACK_ID=%s", dep->rb->id) != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_SERVER=%s", json_str(a, "server")) !=
	    -1) i++;
	if (asprintf(&env[i], "MCPVISOR_ACTION=%s", name) != -1) i++;
	env[i] = NULL;
	if (doc != NULL) {
		cJSON			*identity = dep_hook_identity(dep);
		struct hook_context	 ctx = { dep->src.config_dir, identity,
					    dep->rb->logfd };

		r = hooks_run_action(dep->sv, &ctx, &ha, env, doc,
		    on_custom_action, dep);
		cJSON_Delete(identity);
	}
	for (i = 0; i < 16 && env[i] != NULL; i++)
		free(env[i]);
	cJSON_Delete(doc);
	free(argv);
	free(program);
	return r;
}

static void
next_custom(struct deployment *dep)
{
	struct rollback	*rb = dep->rb;
	cJSON		*a;
	int		 r;

	while ((a = cJSON_GetArrayItem(rb->actions, rb->next_step)) != NULL) {
		rb->next_step++;
		if (!cJSON_IsTrue(cJSON_GetObjectItem(a, "custom")))
			continue;
		rb_action(rb, json_str(a, "action"), json_str(a, "server"),
		    "running", NULL);
		if ((r = custom_action_start(dep, a)) == 1)
			return;
		on_custom_action(dep, true, strerror(-r));
		return;
	}
	rollback_restore(dep);
}

/* The new version is down, every server of it: the custom actions run,
 * then what it replaced is put back. */
static void
rollback_stopped(struct deployment *dep)
{
	cJSON	*a;

	cJSON_ArrayForEach(a, dep->rb->actions)
		if (strcmp(json_str(a, "action"), "stop_new") == 0)
			rb_action(dep->rb, "stop_new", json_str(a, "server"),
			    "done", NULL);
	next_custom(dep);
}

/* --- the plan --- */

/* "batch": the batches done before the one that failed keep their new
 * version, which joins the previous deployment in place of the one it
 * replaced; a server the previous deployment did not run has no place
 * there and is stopped with the rest. */
static void
keep_done_batches(struct deployment *dep)
{
	const struct plan	*plan = dep->ld.pd->plan;

	for (size_t b = 0; b < dep->failed_batch; b++)
		for (size_t k = 0; k < plan->batches[b].count; k++) {
			struct server_run *sr = &dep->ld.servers[
					    plan->batches[b].servers[k]];
			struct server_run *old = sr->replaces;

			if (old == NULL || !server_transfer(old, sr))
				continue;
			old->replaced_by = NULL;
			sr->replaces = NULL;
			rb_plan(dep->rb, "keep_new", sr->name, NULL, false);
			rb_action(dep->rb, "keep_new", sr->name, "done", NULL);
			dep_emit(old->dep, sr->name, "server_kept", NULL,
			    "batch %zu had succeeded: the new version stays "
			    "(pid %d), now part of %s", b + 1,
			    (int)old->server_pid, old->dep->id);
		}
}

static bool
touched(const struct server_run *sr)
{
	return !sr->kept && (sr->state != SR_PENDING || sr->replaces != NULL);
}

/* In reverse dependency order for what stops, the custom actions of each
 * stopped server between, and forward order for what starts again. */
static void
plan_actions(struct deployment *dep, struct rollback *rb)
{
	const struct plan	*plan = dep->ld.pd->plan;
	const struct server_run	*sr;

	for (size_t b = plan->nbatches; b-- > 0;)
		for (size_t k = plan->batches[b].count; k-- > 0;)
			if (touched(sr = &dep->ld.servers[
			    plan->batches[b].servers[k]]))
				rb_plan(rb, "stop_new", sr->name, NULL, false);
	for (size_t b = plan->nbatches; b-- > 0;)
		for (size_t k = plan->batches[b].count; k-- > 0;) {
			const struct ynode	*names;

			sr = &dep->ld.servers[plan->batches[b].servers[k]];
			names = dep->ld.pd->spec->servers[sr->index].
			    rollback_actions;
			for (size_t n = 0; touched(sr) && names != NULL &&
			    n < names->count; n++)
				rb_plan(rb, names->items[n]->text, sr->name,
				    sr->snapshot[0] != '\0' ? sr->snapshot :
				    NULL, true);
		}
	for (size_t b = 0; b < plan->nbatches; b++)
		for (size_t k = 0; k < plan->batches[b].count; k++) {
			sr = &dep->ld.servers[plan->batches[b].servers[k]];
			if (sr->replaces == NULL)
				continue;
			rb_plan(rb, "restore_files", sr->name, sr->snapshot,
			    false);
			rb_plan(rb, "restore_config", sr->name, sr->snapshot,
			    false);
			rb_plan(rb, "start_previous", sr->name, NULL, false);
			if (rb->strategy != ROLLBACK_AGGRESSIVE)
				rb_plan(rb, "verify_health", sr->name, NULL,
				    false);
		}
}

static void
rollback_begin(struct deployment *dep)
{
	struct rollback	*rb;
	char		 id[80];

	if (!dep->rollback_enabled) {
		dep_emit(dep, NULL, "rollback_skipped", NULL, "rollback is off: "
		    "the new version is stopped, the previous one is not put "
		    "back");
		dep_stop(dep, STOP_GRACEFUL);
		return;
	}
	/* a rollback by hand that fails is undone in turn */
	snprintf(id, sizeof(id), "rollback_%s%s", dep->id + strlen("deploy_"),
	    dep->hand != NULL ? "_undo" : "");
	if ((rb = rb_new(dep->sv, &auto_kind, dep, id, dep->strategy, dep->id,
	    dep->prev->id, dep->failure)) == NULL) {
		dep_emit(dep, NULL, "rollback_skipped", NULL, "out of memory "
		    "planning the rollback: the new version is stopped");
		dep_stop(dep, STOP_GRACEFUL);
		return;
	}
	dep->rb = rb;
	upgrade_give_back_adopted(dep);
	if (rb->strategy == ROLLBACK_BATCH)
		keep_done_batches(dep);
	plan_actions(dep, rb);
	rb_log(rb, "rollback %s planned (%s) for %s: %s", rb->id,
	    rollback_strategy_name(rb->strategy), dep->id, dep->failure);
	rb_event(rb, rb->strategy == ROLLBACK_MANUAL ? RBE_HOLD : RBE_GO, NULL);
}

bool
rollback_listener(struct deployment *dep, enum dep_note n,
    struct server_run *sr, const char *why)
{
	switch (n) {
	case DN_ROLLBACK_DUE:
		if (dep->prev == NULL)
			return false;
		rollback_begin(dep);
		return true;
	case DN_STOPPED:
		if (!rb_running(dep->rb))
			return false;
		rollback_stopped(dep);
		return true;
	case DN_SERVER_STARTED:
		/* aggressive: a restored server counts once it runs (its
		 * readiness goes on as usual, unwaited for) */
		if (sr->restoring && sr->replaced_by != NULL &&
		    sr->replaced_by->dep->rb != NULL &&
		    sr->replaced_by->dep->rb->strategy == ROLLBACK_AGGRESSIVE)
			restore_done(sr, true, NULL);
		return false;
	case DN_SERVER_READY:
		restore_done(sr, true, NULL);
		return false;
	case DN_SERVER_FAILED:
		restore_done(sr, false, why);
		return false;
	case DN_SERVER_STOPPED:
		/* it waited for it to stop before starting it */
		if (!sr->restoring)
			return false;
		server_event(sr, SE_START, NULL);
		return true;
	default:
		return false;
	}
}

int
rollback_approve(struct deployment *dep, const char *id)
{
	if (dep == NULL || dep->rb == NULL || strcmp(dep->rb->id, id) != 0)
		return -ENOENT;
	if (!rb_waiting(dep->rb))
		return -EALREADY;
	dep_emit(dep, NULL, "rollback_approved", NULL, "rollback %s approved",
	    id);
	return rb_event(dep->rb, RBE_APPROVE, NULL);
}
