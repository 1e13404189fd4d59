/*
 * Snapshot jobs. The child is a fork of mcpvisord made through the
 * spawn routine (spawn.h) with a function instead of an exec: it has the
 * inputs in its copy of our memory, does the work, writes its outcomes as
 * one JSON array to a pipe and exits. The loop reads the pipe; at EOF the
 * outcomes (or, if the child died without a word, a failure for each
 * item) reach the owner. A job is freed once it is both read and reaped.
 */
#include "snapjob.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "log.h"
#include "snapshot.h"
#include "spawn.h"
#include "supervisor.h"
#include "util.h"

#define SNAPJOB_OUTPUT_MAX	(4u << 20)

struct snapjob {
	struct snapjob		*next;
	struct supervisor	*sv;
	pid_t			 pid;
	struct watcher		 out;
	char			*buf;
	size_t			 len;
	size_t			 n;		/* items */
	snapjob_fn		*fn;		/* NULL: cancelled, or told */
	void			*arg;
	bool			 reaped;
	bool			 read;
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

static cJSON *
do_make(const struct snap_make *m, const char *backup_dir)
{
	struct errbuf	err = { "" };

	if (snapshot_create(backup_dir, m->id, m->deployment_id, m->server,
	    m->state, m->config, m->files, m->nfiles, NULL, &err) < 0)
		return outcome_json(false, "snapshot", err.msg);
	if (m->retention > 0)
		snapshot_prune(backup_dir, m->retention);
	return outcome_json(true, NULL, NULL);
}

/* The configuration a snapshot recorded, compared with the one that is
 * to start, then its files put back. */
static cJSON *
do_restore(const struct snap_restore *rs, const char *backup_dir)
{
	struct errbuf	 err = { "" };
	cJSON		*meta = NULL, *then, *now, *o;
	char		 why[1000];
	bool		 same;

	if (snapshot_verify(backup_dir, rs->snapshot, &meta, &err) == 0) {
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
	} else if (snapshot_restore_files(backup_dir, meta, rs->cleanup,
	    &err) < 0) {
		snprintf(why, sizeof(why), "Rollback action failed: "
		    "restore_files_%s_%s: %s", rs->server, rs->snapshot,
		    err.msg);
		o = outcome_json(false, "restore_files", why);
	} else
		o = outcome_json(true, NULL, NULL);
	cJSON_Delete(meta);
	return o;
}

static int
job_child(void *arg)
{
	const struct snapjob	*job = arg;
	const char		*dir = job->sv->backup_dir;
	cJSON			*list = cJSON_CreateArray();
	char			*text;
	size_t			 len, off = 0;

	for (size_t i = 0; i < job->n; i++)
		cJSON_AddItemToArray(list, job->making ?
		    do_make(job->make, dir) : do_restore(&job->restore[i], dir));
	if ((text = cJSON_PrintUnformatted(list)) == NULL)
		return 111;
	len = strlen(text);
	while (off < len) {
		ssize_t	n = write(STDOUT_FILENO, text + off, len - off);

		if (n <= 0)
			return 111;
		off += (size_t)n;
	}
	return 0;
}

/* --- in the loop --- */

static void
job_release(struct snapjob *job)
{
	struct snapjob	**pp = &job->sv->jobs;

	while (*pp != NULL && *pp != job)
		pp = &(*pp)->next;
	if (*pp == job)
		*pp = job->next;
	free(job->buf);
	free(job);
}

/* The outcomes, or a failure of every item when the child said nothing
 * we can read. */
static void
deliver(struct snapjob *job)
{
	struct snapjob_outcome	*out = calloc(job->n, sizeof(*out));
	cJSON			*list = job->buf != NULL ?
				    cJSON_ParseWithLength(job->buf, job->len) :
				    NULL;
	snapjob_fn		*fn = job->fn;

	job->fn = NULL;
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
	if (fn != NULL && out != NULL)
		fn(job->arg, out, job->n);
	free(out);
}

static void
on_output(struct watcher *w, uint32_t events)
{
	struct snapjob	*job = container_of(w, struct snapjob, out);
	char		 chunk[16384];
	ssize_t		 n;

	(void)events;
	while ((n = read(w->fd, chunk, sizeof(chunk))) > 0) {
		char	*p;

		if (job->len + (size_t)n > SNAPJOB_OUTPUT_MAX ||
		    (p = realloc(job->buf, job->len + (size_t)n + 1)) == NULL) {
			n = 0;		/* too much to be an answer: done */
			break;
		}
		job->buf = p;
		memcpy(job->buf + job->len, chunk, (size_t)n);
		job->len += (size_t)n;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	loop_del(&job->sv->loop, w);
	close(w->fd);
	w->fd = -1;
	job->read = true;
	deliver(job);
	if (job->reaped)
		job_release(job);
}

static struct snapjob *
job_start(struct supervisor *sv, struct snapjob *job, snapjob_fn *fn,
    void *arg)
{
	struct spawn_request	 rq = { .child_fn = job_child,
				    .child_arg = job };
	int			 out[2], r;

	job->sv = sv;
	job->fn = fn;
	job->arg = arg;
	if (pipe2(out, O_CLOEXEC) == -1) {
		free(job);
		return NULL;
	}
	rq.fds[rq.nfds++] = (struct spawn_fd){ 0, SPAWN_DEVNULL };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 1, out[1] };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 2, 2 };
	r = spawn_start(&rq, &job->pid, NULL);
	close(out[1]);
	if (r < 0) {
		close(out[0]);
		free(job);
		errno = -r;
		return NULL;
	}
	job->next = sv->jobs;
	sv->jobs = job;
	job->out = (struct watcher){ out[0], on_output };
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	if ((r = loop_add(&sv->loop, &job->out, EPOLLIN)) < 0) {
		/* reaped like any job, with no one to tell */
		kill(job->pid, SIGKILL);
		close(out[0]);
		job->out.fd = -1;
		job->fn = NULL;
		job->read = true;
		errno = -r;
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
	job->fn = NULL;
	job->arg = NULL;
	if (!job->reaped)
		kill(job->pid, SIGKILL);
}

bool
snapjobs_reaped(struct supervisor *sv, pid_t pid, int status)
{
	struct snapjob	*job;

	(void)status;
	for (job = sv->jobs; job != NULL; job = job->next)
		if (job->pid == pid && !job->reaped)
			break;
	if (job == NULL)
		return false;
	job->reaped = true;
	if (job->read)
		job_release(job);
	return true;
}

bool
snapjobs_pending(const struct supervisor *sv)
{
	return sv->jobs != NULL;
}

void
snapjobs_free_all(struct supervisor *sv)
{
	while (sv->jobs != NULL) {
		struct snapjob	*job = sv->jobs;

		if (!job->reaped)
			kill(job->pid, SIGKILL);
		if (job->out.fd != -1) {
			loop_del(&sv->loop, &job->out);
			close(job->out.fd);
		}
		sv->jobs = job->next;
		free(job->buf);
		free(job);
	}
}
