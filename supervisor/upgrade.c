#include "upgrade.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "deployment.h"
#include "port_pick.h"
#include "prepare.h"
#include "rollback_state.h"
#include "secrets.h"
#include "server.h"
#include "snapjob.h"
#include "stack.h"

cJSON *
upgrade_masked_config(const struct server_run *sr)
{
	cJSON	*j;

	if (sr->config_text == NULL ||
	    (j = cJSON_Parse(sr->config_text)) == NULL)
		return NULL;
	secrets_scrub_json(sr->owner->secrets, j);
	return j;
}

/* Whether two versions of it can run at once: a stdio server shares no
 * port, and one of run.port auto gets a port of its own at each start. */
static bool
can_run_twice(const struct server_run *sr)
{
	cJSON		*c = sr->config_text != NULL ?
			    cJSON_Parse(sr->config_text) : NULL;
	const char	*t = cJSON_GetStringValue(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(c, "run"), "transport"));
	bool		 twice = t != NULL && (strcmp(t, "stdio") == 0 ||
			    (strcmp(t, "http") == 0 && port_pick_auto(c)));

	secrets_wipe_json(c);
	cJSON_Delete(c);
	return twice;
}

bool
upgrade_starts_first(const struct server_run *sr,
    const struct server_run *old)
{
	const struct deployment	*dep = sr->dep;

	return dep->hand == NULL && !dep->ld.pd->spec->servers[sr->index].
	    upgrade_stop_first && can_run_twice(sr) && can_run_twice(old);
}

bool
upgrade_old_remains(const struct server_run *sr)
{
	const struct server_run	*old = sr->replaces;

	return old != NULL && old->replaced_by == sr && !old->restoring &&
	    (old->state == SR_STARTING || old->state == SR_READY ||
	    old->state == SR_RETRY_WAIT || old->state == SR_STOPPING);
}

/* Stops the version sr replaces, the way a rollback by hand asks (the
 * stop of an upgrade is graceful). Whether it is stopping. */
static bool
stop_version(struct deployment *dep, struct server_run *old)
{
	struct srv_input	 in = { .how = STOP_GRACEFUL,
				    .kill_after_ms = old->stop_timeout_ms +
				    STOP_SLACK_MS };

	if (dep->hand != NULL && dep->hand->strategy == ROLLBACK_AGGRESSIVE)
		in.how = STOP_KILL;
	else if (dep->hand != NULL && dep->hand->strategy == ROLLBACK_IMMEDIATE)
		in.how = STOP_NOW;
	server_event(old, SE_STOP, &in);
	return old->state == SR_STOPPING;
}

/* Start-new-then-stop-old where the two can run at once (stdio servers,
 * http servers of run.port auto): sr starts beside old, which is stopped once sr is
 * ready (upgrade_listener); else stop-then-start, sr starting once old
 * has stopped, or at once when nothing of it runs. */
static void
replace_now(struct server_run *sr, struct server_run *old)
{
	struct deployment	*dep = sr->dep;

	if (server_has_process(old) && upgrade_starts_first(sr, old)) {
		dep_emit(dep, sr->name, "upgrade_started_beside", NULL, "the new "
		    "version starts beside the running one (pid %d), which "
		    "stops once it is ready", (int)old->server_pid);
		dep_start_server(dep, sr);
		return;
	}
	if (!stop_version(dep, old))
		dep_start_server(dep, sr);
}

static void
on_snapshot(void *arg, const struct snapjob_outcome *out, size_t n)
{
	struct server_run	*sr = arg;
	struct server_run	*old = sr->replacing;
	struct deployment	*dep = sr->dep;
	char			 reason[1100];
	cJSON			*d;

	(void)n;
	sr->job = NULL;
	sr->replacing = NULL;
	/* the deployment moved on meanwhile (a failure, a stop): the
	 * running version stays as it is */
	if (dep->state != DEP_DEPLOYING || sr->state != SR_PENDING)
		return;
	if (!out[0].ok) {
		struct srv_input	in = { .why = reason };

		snprintf(reason, sizeof(reason), "no snapshot of the running "
		    "version: %s", out[0].why);
		server_event(sr, SE_ABANDON, &in);
		return;
	}
	old->replaced_by = sr;
	sr->replaces = old;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "snapshot", sr->snapshot);
	cJSON_AddStringToObject(d, "previous_deployment", old->dep->id);
	dep_emit(dep, sr->name, "snapshot_created", d, "snapshot %s of the "
	    "running version (%s)", sr->snapshot, old->dep->id);
	old->owner->dirty = true;
	replace_now(sr, old);
}

/* Takes over old for sr: snapshot, then stop. Returns true when the
 * start waits for that (or the deployment failed). */
static bool
replace_begin(struct server_run *sr, struct server_run *old)
{
	struct deployment	*dep = sr->dep;
	struct snap_make	 m = { .id = sr->snapshot,
				    .deployment_id = old->dep->id,
				    .server = sr->name,
				    .retention = dep->ld.pd->spec->settings.
				    snapshot_retention,
				    .backup_dir = dep->src.backup_dir,
				    .encrypt = dep->ld.encrypt_at_rest };
	cJSON			*cfg, *state, *f;
	const char		**paths;
	char			 reason[300];

	if (old->config_text == NULL)
		return false;	/* the old deployment is over */
	if ((cfg = upgrade_masked_config(old)) == NULL)
		return false;
	state = cJSON_CreateObject();
	cJSON_AddStringToObject(state, "state", server_state_name(old->state));
	cJSON_AddNumberToObject(state, "server_pid", old->server_pid);
	cJSON_AddNumberToObject(state, "restarts", old->restarts);
	if (old->health != NULL)
		cJSON_AddItemToObject(state, "health",
		    cJSON_Duplicate(old->health, 1));
	f = cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "run"),
	    "files_to_backup");
	paths = calloc((size_t)cJSON_GetArraySize(f) + 1, sizeof(char *));
	for (const cJSON *p = f != NULL ? f->child : NULL; paths != NULL &&
	    p != NULL; p = p->next)
		if (cJSON_IsString(p))
			paths[m.nfiles++] = p->valuestring;
	snprintf(sr->snapshot, sizeof(sr->snapshot), "snap_%s_%s",
	    dep->id + strlen("deploy_"), sr->name);
	m.state = state;
	m.config = cfg;
	m.files = paths;
	sr->replacing = old;
	if (paths == NULL || (sr->job = snapjob_make(dep->sv, &m, on_snapshot,
	    sr)) == NULL) {
		struct srv_input	in = { .why = reason };

		sr->replacing = NULL;
		snprintf(reason, sizeof(reason), "no snapshot of the running "
		    "version: %s", strerror(paths == NULL ? ENOMEM : errno));
		server_event(sr, SE_ABANDON, &in);
	}
	free(paths);
	cJSON_Delete(state);
	cJSON_Delete(cfg);
	return true;
}

/* A rollback by hand leaves a server it does not name as it runs. */
static bool
adopt(struct server_run *sr, struct server_run *old)
{
	struct deployment	*dep = sr->dep;

	if (!server_transfer(sr, old))
		return false;
	sr->adopted_from = old;
	rb_action(dep->hand, "keep_current", sr->name, "done", NULL);
	dep_emit(dep, sr->name, "server_kept", NULL, "taken over unchanged "
	    "from %s (pid %d)", old->dep->id, (int)sr->server_pid);
	return true;
}

static bool
on_starting(struct deployment *dep, struct server_run *sr)
{
	struct server_run	*old;

	/* an upgrade stops the running version first, snapshot taken */
	if (dep->prev == NULL || sr->attempts > 0 || sr->replaces != NULL ||
	    sr->job != NULL || (old = dep_server(dep->prev, sr->name)) ==
	    NULL || old->replaced_by != NULL)
		return false;
	if (sr->adopt && adopt(sr, old))
		return true;
	/* an apply found it unchanged, but its running version can no
	 * longer be taken over (not ready by now): it is started anew */
	if (sr->change == SC_UNCHANGED) {
		sr->change = SC_NOT_RUNNING;
		sr->owner->dirty = true;
	}
	return replace_begin(sr, old);
}

void
upgrade_hand_back(struct deployment *dep)
{
	struct deployment	*prev = dep->prev;
	struct stack		*st = dep->stack;

	for (size_t i = 0; i < prev->ld.nservers; i++)
		prev->ld.servers[i].replaced_by = NULL;
	for (size_t i = 0; i < dep->ld.nservers; i++)
		dep->ld.servers[i].replaces = NULL;
	dep->prev = NULL;
	if (st->retired != dep) {
		dep_free(st->retired);
		st->retired = dep;
	}
	st->dep = prev;
	prev->owner.dirty = true;
}

void
upgrade_give_back_adopted(struct deployment *dep)
{
	for (size_t i = 0; i < dep->ld.nservers; i++) {
		struct server_run	*sr = &dep->ld.servers[i];

		if (sr->adopted_from != NULL &&
		    server_transfer(sr->adopted_from, sr))
			dep_emit(sr->adopted_from->dep, sr->name, "server_kept",
			    NULL, "given back unchanged (pid %d)",
			    (int)sr->adopted_from->server_pid);
		sr->adopted_from = NULL;
	}
}

/* The version next replaces, started beside it, is gone: next's batch
 * may be done. */
static void
old_gone(struct server_run *next)
{
	if (next->state == SR_READY && next->dep->state == DEP_DEPLOYING)
		dep_event(next->dep, DE_SERVER_READY,
		    &(struct dep_input){ .sr = next });
}

bool
upgrade_listener(struct deployment *dep, enum dep_note n,
    struct server_run *sr, const char *why)
{
	struct server_run	*next;
	bool			 stopping;

	(void)why;
	switch (n) {
	case DN_SERVER_STARTING:
		return on_starting(dep, sr);
	case DN_SERVER_READY:
		/* the new version, started beside the old one, is ready: the
		 * old one goes (its batch waits for that) */
		if (upgrade_old_remains(sr) && dep_deploying(dep) &&
		    sr->replaces->state != SR_STOPPING)
			(void)stop_version(dep, sr->replaces);
		return false;
	case DN_SERVER_STOPPED:
		/* the upgrade waited for the old version to stop: to start
		 * the new one, or, started beside it, to go on */
		if ((next = sr->replaced_by) == NULL || !dep_deploying(next->dep))
			return false;
		if (next->state == SR_PENDING) {
			dep_start_server(next->dep, next);
			return true;
		}
		/* what follows may end the upgrade, and with it stop dep:
		 * then this server, stopped before, is none of that stop's */
		stopping = dep->state == DEP_STOPPING;
		old_gone(next);
		return !stopping;
	case DN_SERVER_FAILED:
		/* an old version that gave up is gone as well */
		if ((next = sr->replaced_by) != NULL)
			old_gone(next);
		return false;
	case DN_STOPPING:
		if (dep->prev != NULL && dep_running(dep->prev))
			upgrade_give_back_adopted(dep);
		return false;
	case DN_STOPPED:
		/* failed without a rollback, or stopped before it finished:
		 * the old deployment is current again */
		if (dep->prev != NULL && dep_running(dep->prev) &&
		    dep->rb == NULL && dep->stack != NULL &&
		    dep->stack->dep == dep)
			upgrade_hand_back(dep);
		return false;
	default:
		return false;
	}
}
