/*
 * What a dead mcpvisord left behind: deployments whose records say they
 * ran are marked interrupted (their workers stopped their servers when
 * it died), rollbacks it was carrying out likewise, and each stack's
 * last deployment that had succeeded is started again.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "events.h"
#include "log.h"
#include "procstat.h"
#include "state.h"
#include "supervisor.h"
#include "util.h"

static const char *
json_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

/* Rollbacks a dead mcpvisord left unfinished are reported as such; the
 * previous version they were putting back is the last successful
 * deployment, which recovery then starts again. */
static void
recover_rollbacks(struct supervisor *sv)
{
	char		 dir[PATH_MAX + 16], path[PATH_MAX + 300];
	DIR		*d;
	struct dirent	*de;

	snprintf(dir, sizeof(dir), "%s/rollbacks", sv->state_dir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		cJSON		*rec = NULL;
		const char	*st, *id, *damage;
		char		 rel[160], when[40], name[96];
		size_t		 len = strlen(de->d_name);

		if (len < 6 || len - 5 >= sizeof(name) ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		memcpy(name, de->d_name, len - 5);
		name[len - 5] = '\0';
		/* ids from disk become paths: checked as the CLI's are */
		if (!state_valid_id(name, "rollback_"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (state_read_record(path, name, "rollback_", &rec,
		    &damage) < 0) {
			if (damage != NULL)
				events_emit(sv, NULL, NULL, "record_damaged",
				    NULL, "rollbacks/%s: %s: not recovered",
				    de->d_name, damage);
			continue;
		}
		st = json_str(rec, "state");
		id = json_str(rec, "id");
		if (st != NULL &&
		    (strcmp(st, "running") == 0 || strcmp(st, "planned") == 0 ||
		    strcmp(st, "awaiting_approval") == 0)) {
			char	was[32];

			snprintf(was, sizeof(was), "%s", st);
			state_iso_now(when, sizeof(when));
			cJSON_ReplaceItemInObject(rec, "state",
			    cJSON_CreateString("interrupted"));
			cJSON_DeleteItemFromObject(rec, "finished_at");
			cJSON_AddStringToObject(rec, "finished_at", when);
			cJSON_DeleteItemFromObject(rec, "failure");
			cJSON_AddStringToObject(rec, "failure", "mcpvisord "
			    "stopped during the rollback; the last successful "
			    "deployment is started again");
			snprintf(rel, sizeof(rel), "rollbacks/%s.json", id);
			state_write_record(sv->state_dir, rel, rec);
			events_emit(sv, NULL, NULL, "rollback_interrupted", NULL,
			    "%s: mcpvisord stopped while it was %s", id, was);
		}
		cJSON_Delete(rec);
	}
	closedir(d);
}

/* What a server of our previous life left behind, when the worker that
 * would have swept it died after we did: marked with our state directory
 * in its environment (set by its worker), it is killed before anything
 * is brought back. A process that cleared its environment escapes this
 * (a server's cgroup, where there is one, does not). */
static void
sweep_previous_life(struct supervisor *sv)
{
	char		mark[PATH_MAX + 32];
	unsigned	n;

	snprintf(mark, sizeof(mark), "MCPVISOR_STATE_DIR=%s", sv->state_dir);
	if ((n = proc_kill_marked(mark, NULL, NULL)) > 0)
		events_emit(sv, NULL, NULL, "orphans_swept", NULL, "%u "
		    "process(es) left by servers of a previous mcpvisord "
		    "killed", n);
}

#define RECOVER_STACKS_MAX	64

/* Adds rec to restore when it is one to bring back (it had succeeded,
 * or was bringing one back) and its stack has none there yet: records
 * come newest first, so each stack's newest is brought back. */
static void
to_restore(cJSON *rec, cJSON **restore, size_t *n)
{
	const char	*stack = json_str(rec, "deployment");

	if (json_str(rec, "spec") == NULL || json_str(rec, "config_dir") ==
	    NULL || (strcmp(json_str(rec, "state"), "succeeded") != 0 &&
	    json_str(rec, "restores") == NULL))
		return;
	for (size_t i = 0; i < *n; i++)
		if (strcmp(json_str(restore[i], "deployment") != NULL ?
		    json_str(restore[i], "deployment") : "", stack != NULL ?
		    stack : "") == 0)
			return;
	if (*n == RECOVER_STACKS_MAX) {
		log_warnx("more than %d stacks to bring back: %s is not",
		    RECOVER_STACKS_MAX, json_str(rec, "id"));
		return;
	}
	restore[(*n)++] = rec;
}

/* Deploys rec's sources again, as it ran. */
static void
bring_back(struct supervisor *sv, const cJSON *rec)
{
	char			 restored_id[64], id[64], *err = NULL;
	char			 kept[PATH_MAX + 16];
	struct deploy_request	 rq = {
		.spec_path = json_str(rec, "spec"),
		.environment = json_str(rec, "environment"),
		.config_dir = json_str(rec, "config_dir"),
		.checks_dir = json_str(rec, "checks_dir"),
		.restores = restored_id,
		.backup_dir = json_str(rec, "backup_dir"),
		.verbose = cJSON_IsTrue(cJSON_GetObjectItem(rec, "verbose")),
		/* its revision, from that revision's own files */
		.revision_dir = json_str(rec, "revision_dir"),
		.to_revision = (unsigned)json_int_within(cJSON_GetObjectItem(
		    rec, cJSON_GetObjectItem(rec, "revision") != NULL ?
		    "revision" : "from_revision"), 0, UINT_MAX, 0),
		/* the last successful deployment: approved then, if its
		 * environment asked for that */
		.requester_uid = -1, .approved = true,
	};

	/* a path from disk is read as root only where revisions are kept */
	snprintf(kept, sizeof(kept), "%s/stacks/", sv->state_dir);
	if (rq.revision_dir != NULL && (strncmp(rq.revision_dir, kept,
	    strlen(kept)) != 0 || strstr(rq.revision_dir, "/..") != NULL)) {
		log_warnx("%s: revision_dir %s is not one of ours: its "
		    "project's files are read instead", json_str(rec, "id"),
		    rq.revision_dir);
		rq.revision_dir = NULL;
		rq.to_revision = 0;
	}
	snprintf(restored_id, sizeof(restored_id), "%s", json_str(rec, "id"));
	events_emit(sv, NULL, NULL, "deployment_restoring", NULL, "bringing "
	    "back %s, the last successful deployment of stack %s",
	    restored_id, json_str(rec, "deployment") != NULL ?
	    json_str(rec, "deployment") : "?");
	if (runtime_deploy(sv, &rq, id, sizeof(id), &err) < 0)
		log_warnx("restoring %s: %s", restored_id, err != NULL ? err :
		    "failed");
	free(err);
}

void
runtime_recover(struct supervisor *sv)
{
	cJSON		**recs;
	cJSON		 *restore[RECOVER_STACKS_MAX];
	size_t		  nrestore = 0;
	int		  n;

	sweep_previous_life(sv);
	/* a write a kill -9 cut short: the record it was to replace (or,
	 * mid-exchange, the one kept beside it) is whole */
	if (state_remove_stale_temporaries(sv->state_dir) > 0)
		log_info("removed temporary files left by a previous mcpvisord");
	recover_rollbacks(sv);
	if ((n = state_list_records(sv->state_dir, &recs)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		char		 state[32], id[64], rel[128];

		if (json_str(recs[i], "damaged") != NULL) {
			events_emit(sv, NULL, NULL, "record_damaged", NULL,
			    "deployments/%s.json: %s, with no previous version "
			    "to fall back to: not recovered",
			    json_str(recs[i], "id"), json_str(recs[i],
			    "damaged"));
			continue;
		}
		if (json_str(recs[i], "recovered_from") != NULL)
			events_emit(sv, NULL, NULL, "record_damaged", NULL,
			    "deployments/%s.json: %s: its previous version is "
			    "used", json_str(recs[i], "id"), json_str(recs[i],
			    "damage"));
		if (json_str(recs[i], "state") == NULL ||
		    json_str(recs[i], "id") == NULL ||
		    strcmp(json_str(recs[i], "state"), "done") == 0)
			continue;
		/* copies: the record's own strings are replaced below */
		snprintf(state, sizeof(state), "%s", json_str(recs[i], "state"));
		snprintf(id, sizeof(id), "%s", json_str(recs[i], "id"));
		/* a previous mcpvisord died while this deployment was up
		 * (its workers stopped their servers when it did), or while
		 * it was bringing one back: each stack's newest comes back,
		 * read before its state is replaced below */
		to_restore(recs[i], restore, &nrestore);
		cJSON_ReplaceItemInObject(recs[i], "state",
		    cJSON_CreateString("done"));
		cJSON_ReplaceItemInObject(recs[i], "outcome",
		    cJSON_CreateString("interrupted"));
		cJSON_DeleteItemFromObject(recs[i], "recovered_from");
		cJSON_DeleteItemFromObject(recs[i], "damage");
		snprintf(rel, sizeof(rel), "deployments/%s.json", id);
		state_write_record(sv->state_dir, rel, recs[i]);
		events_emit(sv, NULL, NULL, "deployment_interrupted", NULL,
		    "%s: mcpvisord stopped while it was %s", id, state);
	}
	/* the oldest stack first, as they were started */
	while (nrestore > 0)
		bring_back(sv, restore[--nrestore]);
	for (int i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
	free(recs);
	/* said now: an idle loop may not end a turn for a long time */
	events_commit(sv);
}
