/*
 * Snapshot jobs: child jobs (childjob.h) whose answer is one JSON array
 * of outcomes, one per item; a child that died without a word fails
 * every item.
 */
#include "snapjob.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "childjob.h"
#include "crypto.h"
#include "errbuf.h"
#include "snapshot.h"
#include "supervisor.h"
#include "util.h"

#define SNAPJOB_OUTPUT_MAX	(4u << 20)

struct snapjob {
	struct supervisor	*sv;
	struct childjob		*child;
	size_t			 n;		/* items */
	snapjob_fn		*fn;
	void			*arg;
	bool			 making;	/* else restoring */
	/* the child's inputs (the caller's memory, copied by the fork):
	 * read only in the child */
	const struct snap_make	*make;
	const struct snap_restore *restore;
};

/* --- in the child --- */

static cJSON *
outcome_json(bool ok, const char *step, const char *why)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "ok", ok);
	if (!ok) {
		cJSON_AddStringToObject(o, "step", step);
		cJSON_AddStringToObject(o, "why", why);
	}
	return o;
}

/* In the child: the key is read here, so that it never lives on in
 * mcpvisord's own memory. */
static cJSON *
do_make(const struct snap_make *m, const char *backup_dir,
    const char *state_dir)
{
	struct errbuf	err = { "" };
	unsigned char	key[CRYPTO_KEY_LEN];
	int		r;

	if (m->encrypt && snapshot_key_load(state_dir, true, key, &err) < 0)
		return outcome_json(false, "snapshot", err.msg);
	r = snapshot_create(backup_dir, m->id, m->deployment_id, m->server,
	    m->state, m->config, m->files, m->nfiles, m->encrypt ? key : NULL,
	    NULL, &err);
	explicit_bzero(key, sizeof(key));
	if (r < 0)
		return outcome_json(false, "snapshot", err.msg);
	if (m->retention > 0)
		snapshot_prune(backup_dir, m->retention);
	return outcome_json(true, NULL, NULL);
}

/* The configuration a snapshot recorded, compared with the one that is
 * to start, then its files put back. */
static cJSON *
do_restore(const struct snap_restore *rs, const char *backup_dir,
    const char *state_dir)
{
	struct errbuf	 err = { "" }, kerr = { "" };
	unsigned char	 keybuf[CRYPTO_KEY_LEN], *key = keybuf;
	cJSON		*meta = NULL, *then, *now, *o;
	char		 why[1000];
	bool		 same;

	/* an encrypted snapshot needs it; a clear one does not */
	if (snapshot_key_load(state_dir, false, keybuf, &kerr) < 0)
		key = NULL;
	if (snapshot_verify(backup_dir, rs->snapshot, key, &meta, &err) == 0 &&
	    cJSON_GetObjectItem(meta, "config") == NULL)
		snprintf(err.msg, sizeof(err.msg), "the snapshot is encrypted "
		    "and there is no key to open it%s%.400s", kerr.msg[0] !=
		    '\0' ? ": " : "", kerr.msg);
	if (err.msg[0] == '\0') {
		then = cJSON_Duplicate(cJSON_GetObjectItem(meta, "config"), 1);
		now = cJSON_Duplicate(rs->config_now, 1);
		cJSON_DeleteItemFromObject(then, "deployment");
		cJSON_DeleteItemFromObject(now, "deployment");
		same = now != NULL && cJSON_Compare(then, now, 1);
		cJSON_Delete(then);
		cJSON_Delete(now);
		if (!same)
			snprintf(err.msg, sizeof(err.msg), "the snapshot does "
			    "not match the configuration to start");
	}
	if (err.msg[0] != '\0') {
		snprintf(why, sizeof(why), "Rollback action failed: "
		    "restore_config_%s_%s: %s", rs->server, rs->snapshot,
		    err.msg);
		o = outcome_json(false, "restore_config", why);
	} else if (snapshot_restore_files(backup_dir, meta, rs->cleanup, key,
	    &err) < 0) {
		snprintf(why, sizeof(why), "Rollback action failed: "
		    "restore_files_%s_%s: %s", rs->server, rs->snapshot,
		    err.msg);
		o = outcome_json(false, "restore_files", why);
	} else
		o = outcome_json(true, NULL, NULL);
	explicit_bzero(keybuf, sizeof(keybuf));
	cJSON_Delete(meta);
	return o;
}

static int
job_child(const void *arg, int fd)
{
	const struct snapjob	*job = arg;
	cJSON			*list = cJSON_CreateArray();
	char			*text;

	for (size_t i = 0; i < job->n; i++) {
		const char	*dir = job->making ? job->make->backup_dir :
				    job->restore[i].backup_dir;

		if (dir == NULL)
			dir = job->sv->backup_dir;
		cJSON_AddItemToArray(list, job->making ?
		    do_make(job->make, dir, job->sv->state_dir) :
		    do_restore(&job->restore[i], dir, job->sv->state_dir));
	}
	if ((text = cJSON_PrintUnformatted(list)) == NULL)
		return 111;
	return write_all(fd, text, strlen(text)) < 0 ? 111 : 0;
}

/* --- in the loop --- */

/* The outcomes, or a failure of every item when the child said nothing
 * we can read. */
static void
deliver(void *arg, char *answer, size_t len)
{
	struct snapjob		*job = arg;
	struct snapjob_outcome	*out = calloc(job->n, sizeof(*out));
	cJSON			*list = answer != NULL ?
				    cJSON_ParseWithLength(answer, len) : NULL;

	free(answer);
	for (size_t i = 0; out != NULL && i < job->n; i++) {
		const cJSON	*o = cJSON_GetArrayItem(list, (int)i);
		const char	*step = cJSON_GetStringValue(
				    cJSON_GetObjectItem(o, "step"));
		const char	*why = cJSON_GetStringValue(
				    cJSON_GetObjectItem(o, "why"));

		out[i].ok = cJSON_IsTrue(cJSON_GetObjectItem(o, "ok"));
		if (out[i].ok)
			continue;
		snprintf(out[i].step, sizeof(out[i].step), "%s", step != NULL ?
		    step : job->making ? "snapshot" : "restore_files");
		snprintf(out[i].why, sizeof(out[i].why), "%s", why != NULL ?
		    why : "the snapshot process ended without a word");
	}
	cJSON_Delete(list);
	if (out != NULL)
		job->fn(job->arg, out, job->n);
	free(out);
	free(job);
}

static struct snapjob *
job_start(struct supervisor *sv, struct snapjob *job, snapjob_fn *fn,
    void *arg)
{
	job->sv = sv;
	job->fn = fn;
	job->arg = arg;
	if ((job->child = childjob_start(sv, job_child, job,
	    SNAPJOB_OUTPUT_MAX, deliver, job)) == NULL) {
		free(job);
		return NULL;
	}
	return job;
}

struct snapjob *
snapjob_make(struct supervisor *sv, const struct snap_make *m, snapjob_fn *fn,
    void *arg)
{
	struct snapjob	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return NULL;
	job->make = m;
	job->making = true;
	job->n = 1;
	return job_start(sv, job, fn, arg);
}

struct snapjob *
snapjob_restore(struct supervisor *sv, const struct snap_restore *items,
    size_t n, snapjob_fn *fn, void *arg)
{
	struct snapjob	*job;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return NULL;
	job->restore = items;
	job->n = n;
	return job_start(sv, job, fn, arg);
}

void
snapjob_cancel(struct snapjob *job)
{
	if (job == NULL)
		return;
	childjob_cancel(job->child);
	free(job);
}
