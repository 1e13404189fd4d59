#include "upgrade.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "deployment.h"
#include "prepare.h"
#include "rollback_state.h"
#include "secrets.h"
#include "server.h"
#include "snapjob.h"

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

/* Stops the version sr replaces, the way a rollback by hand asks (the
 * stop of an upgrade is graceful), or starts sr at once when nothing of
 * it runs. */
static void
stop_old(struct server_run *sr, struct server_run *old)
{
	struct deployment	*dep = sr->dep;
	struct srv_input	 in = { .how = STOP_GRACEFUL,
				    .kill_after_ms = old->stop_timeout_ms +
				    STOP_SLACK_MS };

	if (dep->hand != NULL && dep->hand->strategy == ROLLBACK_AGGRESSIVE)
		in.how = STOP_KILL;
	else if (dep->hand != NULL && dep->hand->strategy == ROLLBACK_IMMEDIATE)
		in.how = STOP_NOW;
	server_event(old, SE_STOP, &in);
	if (old->state != SR_STOPPING)
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
	stop_old(sr, old);
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
	return replace_begin(sr, old);
}

void
upgrade_hand_back(struct deployment *dep)
{
	struct deployment	*prev = dep->prev;
	struct supervisor	*sv = dep->sv;

	for (size_t i = 0; i < prev->ld.nservers; i++)
		prev->ld.servers[i].replaced_by = NULL;
	for (size_t i = 0; i < dep->ld.nservers; i++)
		dep->ld.servers[i].replaces = NULL;
	dep->prev = NULL;
	if (sv->retired != dep) {
		dep_free(sv->retired);
		sv->retired = dep;
	}
	sv->dep = prev;
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

bool
upgrade_listener(struct deployment *dep, enum dep_note n,
    struct server_run *sr, const char *why)
{
	struct server_run	*next;

	(void)why;
	switch (n) {
	case DN_SERVER_STARTING:
		return on_starting(dep, sr);
	case DN_SERVER_STOPPED:
		/* the upgrade waited for the old version to stop */
		if ((next = sr->replaced_by) == NULL ||
		    next->state != SR_PENDING || !dep_deploying(next->dep))
			return false;
		dep_start_server(next->dep, next);
		return true;
	case DN_STOPPING:
		if (dep->prev != NULL && dep_running(dep->prev))
			upgrade_give_back_adopted(dep);
		return false;
	case DN_STOPPED:
		/* failed without a rollback, or stopped before it finished:
		 * the old deployment is current again */
		if (dep->prev != NULL && dep_running(dep->prev) &&
		    dep->rb == NULL && dep->sv->dep == dep)
			upgrade_hand_back(dep);
		return false;
	default:
		return false;
	}
}
