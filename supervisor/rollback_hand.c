/*
 * Rollbacks by hand.
 *
 * "mcpvisor rollback start D" while D deploys fails D on purpose: its
 * automatic rollback follows, with the strategy asked for. Once D has
 * succeeded, its predecessor P is gone from memory (its configuration
 * held secrets), so the rollback is a deployment R of P's sources,
 * rendered again with the requester's environment: R upgrades D server
 * by server, and before each server starts, the snapshot D took of P's
 * version is checked against the configuration rendered now and its
 * files are put back (off the loop). With --servers, R is D's spec in
 * which only the named servers take P's configuration; the others are
 * taken over from D as they run, untouched. If R fails, D comes back,
 * as after any failed upgrade. R's rollback record follows R through
 * its notes.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "deployment.h"
#include "log.h"
#include "prepare.h"
#include "revision.h"
#include "rollback.h"
#include "rollback_state.h"
#include "snapjob.h"
#include "stack.h"
#include "upgrade.h"
#include "util.h"

/* --- its kind --- */

static void
execute(struct rollback *rb)
{
	struct deployment	*r = rb->owner;

	r->held = false;
	dep_emit(r, NULL, "rollback_started", rb_json(rb), "rollback %s (%s): "
	    "%s is put back in place of %s", rb->id,
	    rollback_strategy_name(rb->strategy), rb->back_to, rb->target);
	rb_write(rb);
	dep_deploy(r);
}

static void
hold(struct rollback *rb)
{
	struct deployment	*r = rb->owner;

	r->held = true;
	dep_emit(r, NULL, "rollback_planned", rb_json(rb), "rollback %s waits "
	    "for approval: mcpvisor rollback approve %s", rb->id, rb->id);
	rb_write(rb);
}

static void
finished(struct rollback *rb)
{
	struct deployment	*r = rb->owner;
	uint64_t		 ms = rb_elapsed_ms(rb);
	cJSON			*d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "rollback_id", rb->id);
	cJSON_AddNumberToObject(d, "duration_ms", (double)ms);
	if (rb->state != RB_SUCCEEDED) {
		cJSON_AddStringToObject(d, "failure", rb->failure);
		dep_emit(r, NULL, "rollback_failed", d, "Rollback %s %s: %s",
		    rb->id, rb_state_name(rb->state), rb->failure);
	} else
		dep_emit(r, NULL, "rollback_completed", d, "rollback %s: %s is "
		    "back in %llu ms", rb->id, rb->back_to,
		    (unsigned long long)ms);
	rb_log(rb, "rollback %s %s after %llu ms%s%s", rb->id,
	    rb_state_name(rb->state), (unsigned long long)ms,
	    rb->state != RB_SUCCEEDED ? ": " : "", rb->state != RB_SUCCEEDED ?
	    rb->failure : "");
	rb_write(rb);
}

static const struct rb_kind hand_kind = { execute, hold, finished };

/* --- the carrier's servers --- */

static void
on_restored(void *arg, const struct snapjob_outcome *out, size_t n)
{
	struct server_run	*sr = arg;
	struct deployment	*r = sr->dep;
	struct srv_input	 in = { .why = out[0].why };

	(void)n;
	sr->job = NULL;
	if (!out[0].ok) {
		rb_step_failed(r->hand, &r->owner.origin, out[0].step, sr->name,
		    out[0].why);
		server_event(sr, SE_ABANDON, &in);
		return;
	}
	rb_action(r->hand, "restore_files", sr->name, "done", NULL);
	rb_action(r->hand, "restore_config", sr->name, "done", NULL);
	sr->restored = true;
	dep_start_server(r, sr);
}

/* Before a server of R starts: the snapshot of the version it brings
 * back, checked against the configuration rendered for it now, and its
 * files put back. True when that is under way. */
static bool
before_start(struct deployment *r, struct server_run *sr)
{
	struct snap_restore	 item = { sr->name, sr->restore_snapshot, NULL,
				    r->hand->strategy == ROLLBACK_GRACEFUL,
				    r->src.backup_dir };
	struct srv_input	 in;
	cJSON			*now;
	char			 why[300];

	if (sr->attempts > 0 || sr->job != NULL)
		return false;
	rb_action(r->hand, "stop_new", sr->name, "done", NULL);
	if (sr->restore_snapshot[0] == '\0' || sr->restored)
		return false;
	/* the child has its own copy of what it needs */
	item.config_now = now = upgrade_masked_config(sr);
	sr->job = snapjob_restore(r->sv, &item, 1, on_restored, sr);
	cJSON_Delete(now);
	if (sr->job == NULL) {
		snprintf(why, sizeof(why), "Rollback action failed: "
		    "restore_files_%s_%s: %s", sr->name, sr->restore_snapshot,
		    strerror(errno));
		rb_step_failed(r->hand, &r->owner.origin, "restore_files",
		    sr->name, why);
		in = (struct srv_input){ .why = why };
		server_event(sr, SE_ABANDON, &in);
	}
	return true;
}

bool
rollback_hand_listener(struct deployment *r, enum dep_note n,
    struct server_run *sr, const char *why)
{
	struct rollback	*rb = r->hand;

	if (rb == NULL)
		return false;
	switch (n) {
	case DN_SUCCEEDED:
		rb_event(rb, RBE_FINISHED, NULL);
		return false;
	case DN_FAILED:
		rb_event(rb, RBE_ABANDONED, why);
		return false;
	case DN_STOPPED:
		rb_event(rb, RBE_ABANDONED, "stopped before it was over");
		return false;
	case DN_SERVER_STARTING:
		return before_start(r, sr);
	case DN_SERVER_STARTED:
		rb_action(rb, "start_previous", sr->name, "done", NULL);
		return false;
	case DN_SERVER_READY:
		rb_action(rb, "verify_health", sr->name, "done", NULL);
		return false;
	default:
		return false;
	}
}

/* --- the plan --- */

/* Fills R's plan and marks what each server does: take over D's
 * process, or start P's version from a snapshot. */
static void
hand_plan(struct deployment *r, const struct deployment *d,
    const cJSON *only)
{
	const struct plan	*plan = r->ld.pd->plan;
	struct rollback		*rb = r->hand;

	for (size_t b = 0; b < plan->nbatches; b++)
		for (size_t k = 0; k < plan->batches[b].count; k++) {
			struct server_run	*sr = &r->ld.servers[
						    plan->batches[b].servers[k]];
			const struct server_run	*cur = dep_server(d, sr->name);
			bool			 named = only == NULL;

			for (const cJSON *n = only != NULL ? only->child :
			    NULL; n != NULL; n = n->next)
				named |= strcmp(n->valuestring, sr->name) == 0;
			if (!named) {
				sr->adopt = true;
				rb_plan(rb, "keep_current", sr->name, NULL,
				    false);
				continue;
			}
			if (cur != NULL)
				rb_plan(rb, "stop_new", sr->name, NULL, false);
			if (cur != NULL && cur->snapshot[0] != '\0') {
				snprintf(sr->restore_snapshot,
				    sizeof(sr->restore_snapshot), "%s",
				    cur->snapshot);
				rb_plan(rb, "restore_files", sr->name,
				    cur->snapshot, false);
				rb_plan(rb, "restore_config", sr->name,
				    cur->snapshot, false);
			}
			rb_plan(rb, "start_previous", sr->name, NULL, false);
			rb_plan(rb, "verify_health", sr->name, NULL, false);
		}
}

/* With --servers: R was prepared from D's sources; the named servers take
 * the configuration rendered from P's. */
static int
take_previous(struct deployment *r, const struct deployment *p,
    const struct rollback_request *rq, char **err)
{
	struct deploy_request	 prq = { .spec_path = p->src.spec_path,
				    .environment = p->ld.environment,
				    .config_dir = p->src.config_dir,
				    .checks_dir = p->src.checks_dir,
				    .revision_dir = revision_files_kept(&p->src) ?
				    p->src.revision_dir : NULL,
				    .environ = rq->environ };
	struct deployment	*tmp;
	int			 rc;

	if ((rc = dep_new(r->sv, &prq, &tmp, err)) < 0)
		return rc;
	snprintf(tmp->id, sizeof(tmp->id), "%s", r->id);
	if ((rc = dep_load_now(tmp, err)) < 0) {
		dep_free(tmp);
		return rc;
	}
	for (const cJSON *n = rq->servers->child; n != NULL; n = n->next) {
		struct server_run	*dst = dep_server(r, n->valuestring);
		struct server_run	*src = dep_server(tmp, n->valuestring);
		char			*t;

		if (dst == NULL || src == NULL) {
			rc = dst == NULL ? util_say(err, -EINVAL, "server '%s' is "
			    "not part of the deployment rolled back",
			    n->valuestring) : util_say(err, -EINVAL, "server '%s' "
			    "did not run in %s: there is no earlier version of "
			    "it to go back to", n->valuestring, p->id);
			dep_free(tmp);
			return rc;
		}
		t = dst->config_text;
		dst->config_text = src->config_text;
		src->config_text = t;
		t = dst->rendered;
		dst->rendered = src->rendered;
		src->rendered = t;
		memcpy(dst->stack, src->stack, sizeof(dst->stack));
	}
	rc = secrets_merge(&r->ld.secrets, &tmp->ld.secrets);
	dep_free(tmp);
	return rc;
}

/* R, prepared: from P's sources, or with --servers D's with the named
 * servers taking P's configuration. */
static int
carrier_new(struct supervisor *sv, const struct deployment *d,
    const struct rollback_request *rq, int strategy, struct deployment **out,
    char **err)
{
	const struct deployment	*p = d->prev;
	const struct deployment	*from = rq->servers != NULL ? d : p;
	/* from the files its revision kept, not those on disk, which may
	 * have been edited since; D's snapshots are where D made them */
	bool			 kept = revision_files_kept(&from->src);
	struct deploy_request	 drq = { .spec_path = from->src.spec_path,
				    .environment = from->ld.environment,
				    .config_dir = from->src.config_dir,
				    .checks_dir = from->src.checks_dir,
				    .revision_dir = kept ?
				    from->src.revision_dir : NULL,
				    .to_revision = kept && rq->servers == NULL ?
				    from->revision : 0,
				    .environ = rq->environ,
				    .backup_dir = d->src.backup_dir,
				    .requester_uid = rq->requester_uid };
	struct deployment	*r;
	char			 why[PATH_MAX + 160];
	int			 rc;

	/* if the rollback fails, the way back to D: as asked, but never a
	 * second approval */
	drq.strategy = rq->strategy != NULL && strategy != ROLLBACK_MANUAL ?
	    rq->strategy : "graceful";
	if ((rc = dep_new(sv, &drq, &r, err)) < 0)
		return rc;
	if (!kept)
		log_warnx("%s: %s keeps no files of its own (its revision was "
		    "pruned, or never kept): rendered from %s", r->id, from->id,
		    from->src.spec_path);
	if ((rc = dep_load_now(r, err)) < 0 || (rq->servers != NULL &&
	    (rc = take_previous(r, p, rq, err)) < 0)) {
		dep_free(r);
		return rc;
	}
	/* its files, as read: its revision's once it succeeds */
	if (revision_stage(sv->state_dir, &r->src, r->ld.pd->spec->name, r->id,
	    why, sizeof(why)) < 0)
		log_warnx("%s: no revision will be kept: %s", r->id, why);
	r->rollback_enabled = true;
	*out = r;
	return 0;
}

/* D deploys still: undone whole, as a failure is. */
static int
undo_in_progress(struct deployment *d, const struct rollback_request *rq,
    int strategy, char *id, size_t idsize, char **err)
{
	struct dep_input	in = { .why = "rollback started by hand" };

	if (rq->servers != NULL)
		return util_say(err, -EINVAL, "%s is still deploying: it "
		    "rolls back whole (leave out --servers)", d->id);
	d->rollback_enabled = true;
	if (strategy >= 0)
		d->strategy = (enum rollback_strategy)strategy;
	snprintf(id, idsize, "rollback_%s", d->id + strlen("deploy_"));
	dep_event(d, DE_FAIL, &in);
	return 0;
}

int
runtime_rollback_start(struct supervisor *sv, const struct rollback_request *rq,
    char *id, size_t idsize, char **err)
{
	struct deployment	*d = stack_deployment(sv, rq->deployment_id), *r;
	int			 strategy, rc;
	char			 rid[80];

	*err = NULL;
	if ((strategy = dep_strategy_by_name(rq->strategy, err)) == -EINVAL)
		return -EINVAL;
	if (d == NULL || d->stack->dep != d)
		return d == NULL ? util_say(err, -ENOENT, "%s is not a current "
		    "deployment", rq->deployment_id) : util_say(err, -ENOENT,
		    "%s is not the current deployment of stack %s (that is %s)",
		    rq->deployment_id, d->stack->name, d->stack->dep->id);
	if (dep_deploying(d) && d->prev != NULL && d->rb == NULL &&
	    d->hand == NULL)
		return undo_in_progress(d, rq, strategy, id, idsize, err);
	if ((rc = stack_busy(sv, d->stack, err)) < 0)
		return rc;
	if (d->state != DEP_SUCCEEDED || d->prev == NULL ||
	    dep_running(d->prev))
		return util_say(err, -ENOENT, "%s replaced no deployment: "
		    "there is nothing to go back to (mcpvisor deploy stop %s "
		    "stops it)", d->id, d->id);
	if ((rc = carrier_new(sv, d, rq, strategy, &r, err)) < 0)
		return rc;
	snprintf(rid, sizeof(rid), "rollback_%s", r->id + strlen("deploy_"));
	if ((r->hand = rb_new(sv, &hand_kind, r, rid, strategy >= 0 ?
	    (enum rollback_strategy)strategy : ROLLBACK_GRACEFUL, d->id,
	    d->prev->id, "started by hand")) == NULL) {
		dep_free(r);
		return -ENOMEM;
	}
	r->hand->by_hand = true;
	snprintf(r->hand->carrier, sizeof(r->hand->carrier), "%s", r->id);
	dep_open_log(r);
	stack_install(r);
	hand_plan(r, d, rq->servers);
	snprintf(id, idsize, "%s", rid);
	rb_log(r->hand, "rollback %s of %s back to %s (%s), carried out by %s",
	    rid, d->id, d->prev->id, rollback_strategy_name(r->hand->strategy),
	    r->id);
	dep_announce(r);
	/* to a require_mfa environment, as a manual one: held for a
	 * second person */
	rb_event(r->hand, r->hand->strategy == ROLLBACK_MANUAL ||
	    r->ld.require_mfa ? RBE_HOLD : RBE_GO, NULL);
	return 0;
}

int
runtime_rollback_approve(struct supervisor *sv, const char *id, int uid)
{
	struct deployment	*dep = NULL;

	/* a rollback by hand's carrier is its stack's current deployment;
	 * any other rollback's deployment is its stack's current one too */
	for (const struct stack *st = sv->stacks; st != NULL; st = st->next)
		if (st->dep != NULL && ((st->dep->hand != NULL &&
		    strcmp(st->dep->hand->id, id) == 0) || (st->dep->rb !=
		    NULL && strcmp(st->dep->rb->id, id) == 0)))
			dep = st->dep;
	if (dep != NULL && dep->hand != NULL && strcmp(dep->hand->id, id) ==
	    0) {
		if (!rb_waiting(dep->hand))
			return -EALREADY;
		if (dep->ld.require_mfa && dep->src.requester_uid >= 0 &&
		    uid == dep->src.requester_uid) {
			dep_audit(dep, "rollback_approval_refused", uid, 0,
			    "the requester itself");
			return -EPERM;
		}
		dep_audit(dep, "rollback_approved", uid, 0, id);
		dep_emit(dep, NULL, "rollback_approved", NULL, "rollback %s "
		    "approved", id);
		return rb_event(dep->hand, RBE_APPROVE, NULL);
	}
	return rollback_approve(dep, id);
}
