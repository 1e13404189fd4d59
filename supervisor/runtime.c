/*
 * The runtime. Three kinds of object:
 *
 *	deployment	a prepared spec being started, supervised or stopped
 *	server_run	one server of it: attempts, readiness, restarts
 *	worker_proc	one mcpvisor-worker process and its channel
 *
 * A worker belongs to at most one server_run; when an attempt fails the
 * two are detached and the worker is told to stop (and killed if it does
 * not), so that late frames of a failed attempt change nothing. Workers
 * are freed only at the end of a loop turn, since an epoll batch may
 * still name them.
 */
#include "runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "diag.h"
#include "errbuf.h"
#include "hooks.h"
#include "log.h"
#include "util.h"
#include "monproc.h"
#include "prepare.h"
#include "schema.h"
#include "snapshot.h"
#include "state.h"
#include "ynode.h"


#define RECORDS_KEPT		100	/* finished deployments remembered */
#define RETRY_BASE_MS		250
#define RETRY_MAX_MS		30000
#define STOP_SLACK_MS		3000	/* beyond a server's stop timeout */
#define WORKER_DEATHS_MAX	5	/* worker crashes within ... */
#define WORKER_DEATH_WINDOW_MS	60000	/* ... this, and the server fails */

enum dep_state {
	DEP_RUNNING,
	DEP_SUCCEEDED,
	DEP_STOPPING,
	DEP_DONE,
};

enum srv_state {
	SR_PENDING,
	SR_STARTING,
	SR_READY,
	SR_RETRY_WAIT,
	SR_FAILED,
	SR_STOPPING,
	SR_STOPPED,
};

static const char *const srv_state_names[] = {
	"pending", "starting", "ready", "retry_wait", "failed", "stopping",
	"stopped",
};

struct worker_proc {
	struct worker_proc	*next;
	struct supervisor	*sv;
	struct server_run	*sr;		/* NULL once detached */
	struct watcher		 w;		/* the channel */
	struct frame_reader	 rd;
	struct frame_writer	 wr;
	struct loop_timer	 kill_timer;
	pid_t			 pid;
	pid_t			 server_pid;
	bool			 want_out;
	bool			 lost;		/* channel gone or process dead */
	bool			 reaped;
};

struct server_run {
	struct deployment	*dep;
	size_t			 index;
	const char		*name;
	enum srv_state		 state;
	unsigned		 attempts;
	unsigned		 restarts;
	unsigned		 stop_timeout_ms;
	char			*config_text;	/* holds secrets: memory only */
	struct worker_proc	*worker;
	pid_t			 server_pid;
	struct loop_timer	 ready_timer;
	struct loop_timer	 retry_timer;
	char			 last_error[256];
	uint64_t		 attempt_ms;
	uint64_t		 ready_after_ms;
	uint64_t		 crashes[WORKER_DEATHS_MAX];
	unsigned		 ncrashes;
	cJSON			*health;	/* check name -> last result */
	cJSON			*usage;		/* the last usage sample */
	/* an upgrade: the previous deployment's run of this server that this
	 * one replaces (and the reverse link), the snapshot of it, and
	 * whether it is being put back by a rollback */
	struct server_run	*replaces;
	struct server_run	*replaced_by;
	char			 snapshot[200];
	bool			 restoring;
	/* handed over from a run of another deployment (a batch rollback
	 * keeps a new version, a partial rollback keeps the current one):
	 * the deployment whose configuration it carries, and whether this
	 * run gave its process away (and is not to be stopped) */
	char			 config_of[64];
	bool			 kept;
	/* a rollback by hand: the snapshot to put back before the start,
	 * whether to take over the running version unchanged instead, and
	 * the run it took over (given back if the rollback fails) */
	char			 restore_snapshot[200];
	bool			 adopt;
	struct server_run	*adopted_from;
};

/* A rollback of a failed upgrade: the plan, and how far it got. */
struct rollback {
	char			 id[80];
	enum rollback_strategy	 strategy;
	const char		*state;		/* planned, running, ... */
	cJSON			*actions;	/* [{"action", "server", ...}] */
	size_t			 pending;	/* servers still being restored */
	int			 next_step;	/* custom actions run so far */
	bool			 by_hand;	/* mcpvisor rollback start */
	char			 target[64];	/* the deployment undone */
	char			 back_to[64];	/* the one put back */
	char			 reason[512];
	char			 failure[1100];
	char			 started_at[40];
	char			 finished_at[40];
	uint64_t		 started_ms;
	int			 logfd;
};

struct deployment {
	struct supervisor	*sv;
	char			 id[64];
	char			*spec_path;
	char			*environment;
	char			*config_dir;
	char			*checks_dir;
	struct prepared		*pd;		/* NULL until prepared */
	char			*environment_req;/* as requested, or NULL */
	bool			 sequential;
	unsigned		 max_parallel;
	cJSON			*environ;	/* the requester's */
	/* every secret value of the deployment, and every string derived
	 * from one: scrubbed from what workers report (memory only) */
	char			**secrets;
	size_t			 nsecrets;
	/* the deployment this one supersedes (an upgrade), still running
	 * until this one succeeds; NULL for a first deployment */
	struct deployment	*prev;
	bool			 rollback_enabled;
	enum rollback_strategy	 strategy;
	bool			 no_rollback_req;	/* --no-rollback */
	bool			 no_monitoring_req;	/* --no-monitoring */
	unsigned		 monitor_port_req;	/* --monitor-port */
	int			 strategy_req;	/* --strategy; -1: none */
	struct rollback		*rb;		/* once one started */
	/* a rollback started by hand is carried out by a deployment of the
	 * previous version's sources: its record, and whether it waits for
	 * approval (manual) before it starts */
	struct rollback		*hand;
	bool			 held;
	size_t			 failed_batch;	/* where it failed */
	struct server_run	*servers;
	size_t			 nservers;
	size_t			 batch;
	size_t			 stop_batch;
	size_t			 stopping;
	struct loop_timer	 stop_timer;
	enum dep_state		 state;
	const char		*outcome;	/* NULL while in progress */
	char			 failure[512];
	int			 logfd;
	uint64_t		 started_ms;
	char			 started_at[40];
	char			 finished_at[40];
	bool			 dirty;		/* record needs writing */
};

static void	server_attempt(struct server_run *);
static void	dep_next_batch(struct deployment *);
static void	dep_batch_check(struct deployment *);
static void	dep_fail(struct deployment *, struct server_run *,
		    const char *);
static void	dep_stop_next_batch(struct deployment *);
static bool	replace_begin(struct server_run *, struct server_run *);
static void	restore_done(struct server_run *, bool, const char *);
static void	rollback_begin(struct deployment *);
static void	rollback_stopped(struct deployment *);
static void	scrub_secrets(const struct deployment *, uint8_t *, size_t);
static void	dep_free(struct deployment *);
static void	hand_back(struct deployment *);
static void	give_back_adopted(struct deployment *);
static void	rb_free(struct rollback *);
static size_t	batch_of(const struct deployment *, const struct server_run *);
static void	hand_start(struct deployment *);
static void	rb_action(struct rollback *, const char *, const char *,
		    const char *, const char *);
static bool	server_transfer(struct server_run *, struct server_run *);
static int	snapshot_put_back(const struct server_run *, const char *,
		    bool, char *, size_t, const char **);
static void	rb_step_failed(struct deployment *, struct rollback *,
		    const char *, const char *, const char *);
static void	hand_finish(struct deployment *, const char *);

static const char *
str_or(const char *s, const char *def)
{
	return s != NULL ? s : def;
}

static const char *
json_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}


/* --- events --- */

/* Records and announces one event; takes ownership of details. */
static void
sv_event(struct supervisor *sv, struct deployment *dep, const char *server,
    const char *type, cJSON *details, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void
sv_event(struct supervisor *sv, struct deployment *dep, const char *server,
    const char *type, cJSON *details, const char *fmt, ...)
{
	cJSON	*ev = cJSON_CreateObject();
	char	 when[40], message[1024], line[1400];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	state_iso_now(when, sizeof(when));
	if (ev == NULL) {
		cJSON_Delete(details);
		return;
	}
	cJSON_AddNumberToObject(ev, "seq", (double)++sv->seq);
	cJSON_AddStringToObject(ev, "timestamp", when);
	if (dep != NULL)
		cJSON_AddStringToObject(ev, "deployment_id", dep->id);
	cJSON_AddStringToObject(ev, "event_type", type);
	if (server != NULL)
		cJSON_AddStringToObject(ev, "server_name", server);
	cJSON_AddStringToObject(ev, "message", message);
	cJSON_AddItemToObject(ev, "details",
	    details != NULL ? details : cJSON_CreateObject());
	if (journal_append(&sv->journal, ev) < 0)
		log_warnx("journal: out of memory; event %llu not recorded",
		    (unsigned long long)sv->seq);
	if (dep != NULL && dep->logfd != -1) {
		n = snprintf(line, sizeof(line), "%s %s%s%s %s\n", when,
		    server != NULL ? server : "", server != NULL ? ": " : "",
		    type, message);
		if (n > 0 && write(dep->logfd, line, (size_t)n < sizeof(line) ?
		    (size_t)n : sizeof(line) - 1) == -1)
			log_warn("deployment log");
	}
	if (sv->init_mode)
		log_info("%s%s%s %s", server != NULL ? server : "",
		    server != NULL ? ": " : "", type, message);
	if (sv->on_event != NULL)
		sv->on_event(sv, ev);
	cJSON_Delete(ev);
	if (dep != NULL)
		dep->dirty = true;
}

/* --- records --- */

static cJSON *
dep_record(const struct deployment *dep)
{
	cJSON	*o = cJSON_CreateObject(), *list, *s;
	size_t	 ready = 0;

	cJSON_AddStringToObject(o, "id", dep->id);
	cJSON_AddStringToObject(o, "deployment", dep->pd != NULL ?
	    dep->pd->spec->name : str_or(strrchr(dep->spec_path, '/'),
	    "/?") + 1);
	cJSON_AddStringToObject(o, "spec", dep->spec_path);
	cJSON_AddStringToObject(o, "environment", str_or(dep->environment,
	    str_or(dep->environment_req, "")));
	cJSON_AddStringToObject(o, "config_dir", dep->config_dir);
	if (dep->checks_dir != NULL)
		cJSON_AddStringToObject(o, "checks_dir", dep->checks_dir);
	cJSON_AddStringToObject(o, "state", dep->state == DEP_RUNNING ?
	    "running" : dep->state == DEP_SUCCEEDED ? "succeeded" :
	    dep->state == DEP_STOPPING ? "stopping" : "done");
	cJSON_AddStringToObject(o, "outcome", dep->outcome != NULL ?
	    dep->outcome : "in_progress");
	if (dep->failure[0] != '\0')
		cJSON_AddStringToObject(o, "failure", dep->failure);
	cJSON_AddNumberToObject(o, "mcpvisord_pid", getpid());
	cJSON_AddStringToObject(o, "started_at", dep->started_at);
	if (dep->finished_at[0] != '\0')
		cJSON_AddStringToObject(o, "finished_at", dep->finished_at);
	cJSON_AddNumberToObject(o, "batches", dep->pd != NULL ?
	    (double)dep->pd->plan->nbatches : 0);
	list = cJSON_AddArrayToObject(o, "servers");
	for (size_t i = 0; i < dep->nservers; i++) {
		const struct server_run	*sr = &dep->servers[i];

		ready += sr->state == SR_READY;
		cJSON_AddItemToArray(list, s = cJSON_CreateObject());
		cJSON_AddStringToObject(s, "name", sr->name);
		cJSON_AddStringToObject(s, "state",
		    srv_state_names[sr->state]);
		cJSON_AddNumberToObject(s, "attempts", sr->attempts);
		cJSON_AddNumberToObject(s, "restarts", sr->restarts);
		if (sr->worker != NULL)
			cJSON_AddNumberToObject(s, "worker_pid",
			    sr->worker->pid);
		if (sr->server_pid > 0)
			cJSON_AddNumberToObject(s, "server_pid",
			    sr->server_pid);
		if (sr->ready_after_ms > 0)
			cJSON_AddNumberToObject(s, "ready_after_ms",
			    (double)sr->ready_after_ms);
		if (sr->last_error[0] != '\0')
			cJSON_AddStringToObject(s, "last_error",
			    sr->last_error);
		if (sr->snapshot[0] != '\0')
			cJSON_AddStringToObject(s, "snapshot", sr->snapshot);
		if (sr->config_of[0] != '\0')
			cJSON_AddStringToObject(s, "configuration_of",
			    sr->config_of);
		if (sr->kept)
			cJSON_AddBoolToObject(s, "handed_over", 1);
		if (sr->health != NULL)
			cJSON_AddItemToObject(s, "health",
			    cJSON_Duplicate(sr->health, 1));
		if (sr->usage != NULL && sr->worker != NULL)
			cJSON_AddItemToObject(s, "usage",
			    cJSON_Duplicate(sr->usage, 1));
	}
	cJSON_AddNumberToObject(o, "total", (double)dep->nservers);
	cJSON_AddNumberToObject(o, "ready", (double)ready);
	if (dep->prev != NULL)
		cJSON_AddStringToObject(o, "previous_deployment_id",
		    dep->prev->id);
	if (dep->rb != NULL) {
		cJSON	*rb = cJSON_AddObjectToObject(o, "rollback");

		cJSON_AddStringToObject(rb, "id", dep->rb->id);
		cJSON_AddStringToObject(rb, "state", dep->rb->state);
		cJSON_AddStringToObject(rb, "strategy",
		    rollback_strategy_name(dep->rb->strategy));
	}
	return o;
}

/* Writes one record of the state directory (dir/ID.json), and says so
 * when it cannot: a record is evidence, its loss is worth a line. Takes
 * ownership of o. */
static void
record_write(struct supervisor *sv, const char *dir, const char *id,
    cJSON *o)
{
	char	rel[160];
	int	r;

	snprintf(rel, sizeof(rel), "%s/%s.json", dir, id);
	if (o == NULL || (r = state_write_json(sv->state_dir, rel, o)) < 0)
		log_warnx("%s: writing its record: %s", id, o == NULL ?
		    "out of memory" : strerror(-r));
	cJSON_Delete(o);
}

static void
dep_write_record(struct deployment *dep)
{
	struct supervisor	*sv = dep->sv;
	cJSON			*rec = dep_record(dep);

	if (sv->on_watch != NULL && rec != NULL)
		sv->on_watch(sv, FRAME_RECORD, rec);
	record_write(sv, "deployments", dep->id, rec);
	dep->dirty = false;
}

/* --- workers --- */

static void
worker_update_events(struct worker_proc *wp)
{
	if (!wp->lost && frame_writer_interest_changed(&wp->wr, &wp->want_out))
		loop_mod(&wp->sv->loop, &wp->w,
		    EPOLLIN | (wp->want_out ? EPOLLOUT : 0));
}

static void
worker_send(struct worker_proc *wp, uint8_t type, const void *p, uint32_t len)
{
	int	r;

	if (wp->lost)
		return;
	if ((r = frame_write(&wp->wr, type, p, len)) < 0 && r != -EPIPE)
		log_warnx("worker %d: sending %s: %s", (int)wp->pid,
		    frame_type_name(type), strerror(-r));
	worker_update_events(wp);
}

static void
worker_kill(struct worker_proc *wp)
{
	if (wp->server_pid > 0)
		kill(-wp->server_pid, SIGKILL);
	if (!wp->reaped)
		kill(wp->pid, SIGKILL);
}

static void
on_worker_kill_timer(struct loop_timer *t)
{
	struct worker_proc	*wp = container_of(t, struct worker_proc,
				    kill_timer);

	log_warnx("worker %d did not stop in time: killing it and its server",
	    (int)wp->pid);
	worker_kill(wp);
}

/* Separates a worker from its server (after a failed attempt): it is
 * told to stop, and killed if it does not within ms. */
static void
worker_detach(struct worker_proc *wp, unsigned ms)
{
	if (wp->sr != NULL && wp->sr->worker == wp)
		wp->sr->worker = NULL;
	wp->sr = NULL;
	if (wp->reaped)
		return;
	worker_send(wp, FRAME_STOP, NULL, 0);
	wp->kill_timer.fn = on_worker_kill_timer;
	loop_timer_set(&wp->sv->loop, &wp->kill_timer, ms);
}

static void	worker_lost(struct worker_proc *, const char *);

static void
worker_close_channel(struct worker_proc *wp)
{
	if (wp->w.fd == -1)
		return;
	loop_del(&wp->sv->loop, &wp->w);
	close(wp->w.fd);
	wp->w.fd = -1;
	frame_reader_clear(&wp->rd);
	frame_writer_clear(&wp->wr);
}

/* Overwrites every secret in a worker's report with asterisks, before
 * it can reach an event, a log or a record: a check's output or message
 * may hold whatever its program printed. */
static void
scrub_secrets(const struct deployment *dep, uint8_t *data, size_t len)
{
	for (size_t i = 0; i < dep->nsecrets; i++) {
		size_t	 n = strlen(dep->secrets[i]);
		uint8_t	*p = data, *end = data + len;

		while ((p = memmem(p, (size_t)(end - p), dep->secrets[i],
		    n)) != NULL) {
			memset(p, '*', n);
			p += n;
		}
	}
}

static void
forget_secrets(struct deployment *dep)
{
	for (size_t i = 0; i < dep->nsecrets; i++) {
		explicit_bzero(dep->secrets[i], strlen(dep->secrets[i]));
		free(dep->secrets[i]);
	}
	free(dep->secrets);
	dep->secrets = NULL;
	dep->nsecrets = 0;
}

static int
add_secret(struct deployment *dep, const char *text)
{
	char	**v;

	for (size_t i = 0; i < dep->nsecrets; i++)
		if (strcmp(dep->secrets[i], text) == 0)
			return 0;
	if ((v = realloc(dep->secrets, (dep->nsecrets + 1) * sizeof(*v))) ==
	    NULL)
		return -ENOMEM;
	dep->secrets = v;
	if ((v[dep->nsecrets] = strdup(text)) == NULL)
		return -ENOMEM;
	dep->nsecrets++;
	return 0;
}

/* Gathers the secret strings of a rendered tree (three characters or
 * more: shorter ones would scrub ordinary text). */
static int
collect_secrets(struct deployment *dep, const struct ynode *n)
{
	if (n == NULL)
		return 0;
	if (n->kind == YNODE_MAP || n->kind == YNODE_SEQ) {
		for (size_t i = 0; i < n->count; i++)
			if (collect_secrets(dep, n->items[i]) < 0)
				return -ENOMEM;
		return 0;
	}
	if (!(n->flags & YNODE_SECRET) || n->text == NULL || n->len < 3)
		return 0;
	return add_secret(dep, n->text);
}

/* dst comes to hold a configuration of src's: it scrubs src's secrets
 * too. */
static int
merge_secrets(struct deployment *dst, const struct deployment *src)
{
	for (size_t i = 0; i < src->nsecrets; i++)
		if (add_secret(dst, src->secrets[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* A health check's result: kept as the server's latest for that check,
 * and announced (in the guide's words when it failed). */
static void
on_health(struct server_run *sr, const struct frame *f)
{
	struct deployment	*dep = sr->dep;
	cJSON			*j = cJSON_ParseWithLength((char *)f->data,
				    f->len);
	const char		*check = json_str(j, "check");
	const char		*message = str_or(json_str(j, "message"), "");
	const char		*phase = str_or(json_str(j, "phase"), "");
	bool			 healthy = cJSON_IsTrue(cJSON_GetObjectItem(j,
				    "healthy"));
	bool			 critical = cJSON_IsTrue(cJSON_GetObjectItem(j,
				    "critical"));
	char			 when[40];
	cJSON			*keep;

	if (check == NULL) {
		log_warnx("worker %d (%s): a health frame without a check",
		    (int)sr->worker->pid, sr->name);
		cJSON_Delete(j);
		return;
	}
	if (sr->health == NULL)
		sr->health = cJSON_CreateObject();
	state_iso_now(when, sizeof(when));
	keep = cJSON_Duplicate(j, 1);
	cJSON_DeleteItemFromObject(keep, "check");
	cJSON_AddStringToObject(keep, "at", when);
	cJSON_DeleteItemFromObject(sr->health, check);
	cJSON_AddItemToObject(sr->health, check, keep);
	dep->dirty = true;
	if (healthy)
		sv_event(dep->sv, dep, sr->name, "health_check_passed", j,
		    "Health check '%s' passed (%s): %s", check, phase,
		    message);
	else
		sv_event(dep->sv, dep, sr->name, critical ?
		    "health_check_failed" : "health_check_warning", j,
		    "%s: Health check '%s' failed: %s", critical ? "Error" :
		    "Warning", check, message);
}

/* A usage sample: kept for the record (written when something else
 * changes: samples alone do not rewrite records) and passed to whoever
 * watches. */
static void
on_usage(struct server_run *sr, const struct frame *f)
{
	struct deployment	*dep = sr->dep;
	cJSON			*j = cJSON_ParseWithLength((char *)f->data,
				    f->len), *m;
	char			 when[40];

	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return;
	}
	state_iso_now(when, sizeof(when));
	cJSON_AddStringToObject(j, "at", when);
	cJSON_Delete(sr->usage);
	sr->usage = j;
	if (dep->sv->on_watch == NULL)
		return;
	m = cJSON_Duplicate(j, 1);
	cJSON_AddStringToObject(m, "deployment_id", dep->id);
	cJSON_AddStringToObject(m, "server_name", sr->name);
	cJSON_AddNumberToObject(m, "server_pid", sr->server_pid);
	dep->sv->on_watch(dep->sv, FRAME_METRICS, m);
	cJSON_Delete(m);
}

static void
on_frame(struct worker_proc *wp, struct frame *f)
{
	struct server_run	*sr = wp->sr;
	struct deployment	*dep;
	cJSON			*j;
	uint32_t		 how, code;

	if (f->type == FRAME_HELLO) {
		if (frame_get_u32(f->data) != (uint32_t)wp->pid)
			worker_lost(wp, "protocol violation: hello from a "
			    "different pid");
		return;
	}
	if (f->type == FRAME_STARTED)
		wp->server_pid = (pid_t)frame_get_u32(f->data);
	if (sr == NULL)
		return;		/* a detached worker: its news is stale */
	dep = sr->dep;
	if (f->type == FRAME_HEALTH || f->type == FRAME_FAILED ||
	    f->type == FRAME_SANDBOX)
		scrub_secrets(dep, f->data, f->len);
	switch (f->type) {
	case FRAME_HEALTH:
		on_health(sr, f);
		break;
	case FRAME_USAGE:
		on_usage(sr, f);
		break;
	case FRAME_SANDBOX:
		sv_event(dep->sv, dep, sr->name, "sandbox_applied",
		    cJSON_ParseWithLength((char *)f->data, f->len),
		    "worker %d sandboxed", (int)wp->pid);
		break;
	case FRAME_STARTED:
		sr->server_pid = wp->server_pid;
		if (sr->state == SR_READY) {
			sr->restarts++;
			sv_event(dep->sv, dep, sr->name, "server_restarted",
			    NULL, "pid %d (restart %u)", (int)sr->server_pid,
			    sr->restarts);
		} else
			sv_event(dep->sv, dep, sr->name, "server_started",
			    NULL, "pid %d (attempt %u)", (int)sr->server_pid,
			    sr->attempts);
		/* aggressive: a restored server counts once it runs (its
		 * readiness goes on as usual, unwaited for) */
		if (sr->restoring && sr->replaced_by != NULL &&
		    sr->replaced_by->dep->rb != NULL &&
		    sr->replaced_by->dep->rb->strategy == ROLLBACK_AGGRESSIVE)
			restore_done(sr, true, NULL);
		if (sr->state == SR_STARTING)
			rb_action(dep->hand, "start_previous", sr->name, "done",
			    NULL);
		break;
	case FRAME_READY:
		if (sr->state != SR_STARTING) {
			sv_event(dep->sv, dep, sr->name, "server_ready", NULL,
			    "ready again after restart %u", sr->restarts);
			break;
		}
		loop_timer_cancel(&dep->sv->loop, &sr->ready_timer);
		sr->state = SR_READY;
		sr->ready_after_ms = mono_ms() - sr->attempt_ms;
		if (sr->restoring)
			restore_done(sr, true, NULL);
		rb_action(dep->hand, "verify_health", sr->name, "done", NULL);
		j = cJSON_CreateObject();
		cJSON_AddBoolToObject(j, "first", 1);
		cJSON_AddNumberToObject(j, "ready_ms", (double)sr->ready_after_ms);
		sv_event(dep->sv, dep, sr->name, "server_ready", j,
		    "ready in %llu ms", (unsigned long long)sr->ready_after_ms);
		dep_batch_check(dep);
		break;
	case FRAME_EXITED:
		how = frame_get_u32(f->data);
		code = frame_get_u32(f->data + 4);
		snprintf(sr->last_error, sizeof(sr->last_error),
		    how ? "killed by signal %u" : "exited with status %u",
		    code);
		sv_event(dep->sv, dep, sr->name, "server_exited", NULL, "%s",
		    sr->last_error);
		if (sr->state == SR_STARTING) {
			char	reason[300];

			snprintf(reason, sizeof(reason), "%s before it was "
			    "ready", sr->last_error);
			worker_lost(wp, reason);
		}
		break;
	case FRAME_FAILED:
		j = cJSON_ParseWithLength((char *)f->data, f->len);
		snprintf(sr->last_error, sizeof(sr->last_error), "%s: %s%s%s",
		    str_or(json_str(j, "stage"), "?"),
		    str_or(json_str(j, "reason"), "?"),
		    json_str(j, "errno") != NULL ? ": " : "",
		    str_or(json_str(j, "errno"), ""));
		sv_event(dep->sv, dep, sr->name, "server_failed", j, "%s",
		    sr->last_error);
		if (sr->state != SR_READY) {
			worker_lost(wp, sr->last_error);
			break;
		}
		/* the worker gave up on a supervised server (crash loop):
		 * it stays failed, visibly, instead of being restarted */
		sr->state = SR_FAILED;
		worker_detach(wp, sr->stop_timeout_ms + STOP_SLACK_MS);
		if (dep->state == DEP_RUNNING)
			dep_fail(dep, sr, sr->last_error);
		break;
	}
}

static bool
worker_frame(void *arg, struct frame *f)
{
	struct worker_proc	*wp = arg;

	on_frame(wp, f);
	return !wp->lost;
}

static void
on_worker_channel(struct watcher *w, uint32_t events)
{
	struct worker_proc	*wp = container_of(w, struct worker_proc, w);
	char			 why[128];
	int			 r;

	r = frame_service(&wp->rd, &wp->wr, events, worker_frame, wp);
	if (wp->lost)
		return;
	if (r >= 0) {
		worker_update_events(wp);
		return;
	}
	if (r == -EPIPE)
		snprintf(why, sizeof(why), "worker %d died", (int)wp->pid);
	else {
		snprintf(why, sizeof(why), "worker %d broke the protocol: %s",
		    (int)wp->pid, strerror(-r));
		log_warnx("%s: dropping its link", why);
		worker_kill(wp);
	}
	worker_lost(wp, why);
}

static struct worker_proc *
worker_spawn(struct supervisor *sv, struct server_run *sr)
{
	struct worker_proc	*wp;
	int			 pair[2], err;
	pid_t			 pid;

	if ((wp = calloc(1, sizeof(*wp))) == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		free(wp);
		return NULL;
	}
	if ((pid = fork()) == -1) {
		err = errno;
		close(pair[0]);
		close(pair[1]);
		free(wp);
		errno = err;
		return NULL;
	}
	if (pid == 0) {
		sigset_t	 none;
		int		 null = open("/dev/null", O_RDWR);
		int		 logfd = sr->dep->logfd != -1 ? sr->dep->logfd :
				    2;
		char		*argv[] = { "mcpvisor-worker", NULL };
		char		*envp[6];
		int		 ne = 0;
		const char	*keep[] = { "PATH", "LANG", "TZ",
				    "MCPVISOR_DEBUG" };

		/* the channel goes to descriptor 3, output to the log */
		if (pair[1] == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(pair[1], 3) == -1)
			_exit(127);
		if (null == -1 || dup2(null, 0) == -1 ||
		    dup2(logfd, 1) == -1 || dup2(logfd, 2) == -1)
			_exit(127);
		close_range(4, ~0U, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		/* secrets never travel in a worker's environment */
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
			const char *v = getenv(keep[i]);

			if (v != NULL && asprintf(&envp[ne], "%s=%s", keep[i],
			    v) != -1)
				ne++;
		}
		envp[ne] = NULL;
		execve(sv->worker_path, argv, envp);
		_exit(127);
	}
	close(pair[1]);
	fcntl(pair[0], F_SETFL, fcntl(pair[0], F_GETFL) | O_NONBLOCK);
	wp->sv = sv;
	wp->sr = sr;
	wp->pid = pid;
	wp->w.fd = pair[0];
	wp->w.fn = on_worker_channel;
	frame_reader_init(&wp->rd, pair[0], FRAME_FROM_WORKER);
	frame_writer_init(&wp->wr, pair[0]);
	if (loop_add(&sv->loop, &wp->w, EPOLLIN) < 0) {
		close(pair[0]);
		kill(pid, SIGKILL);
		free(wp);
		return NULL;
	}
	wp->next = sv->workers;
	sv->workers = wp;
	return wp;
}

/* --- servers --- */

/* Notes why a server's last attempt or run ended; why may already be
 * sr->last_error, and copying a string onto itself is undefined. */
static void
set_error(struct server_run *sr, const char *why)
{
	if (why != sr->last_error)
		snprintf(sr->last_error, sizeof(sr->last_error), "%s", why);
}

static unsigned
retry_delay(unsigned attempt)
{
	unsigned	base = RETRY_BASE_MS, r = 0;

	for (unsigned i = 1; i < attempt && base < RETRY_MAX_MS; i++)
		base *= 2;
	if (base > RETRY_MAX_MS)
		base = RETRY_MAX_MS;
	/* jitter of +-25%, so that failed servers do not retry in step */
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (unsigned)mono_ms();
	return base - base / 4 + r % (base / 2 + 1);
}

static void
on_retry_timer(struct loop_timer *t)
{
	server_attempt(container_of(t, struct server_run, retry_timer));
}

static void
attempt_failed(struct server_run *sr, const char *reason)
{
	struct deployment	*dep = sr->dep;
	unsigned		 allowed = 1 + dep->pd->servers[sr->index].spec->
				    retry_attempts;
	unsigned		 delay;

	loop_timer_cancel(&dep->sv->loop, &sr->ready_timer);
	if (sr->worker != NULL)
		worker_detach(sr->worker, sr->stop_timeout_ms + STOP_SLACK_MS);
	set_error(sr, reason);
	if (dep->state != DEP_RUNNING) {
		sr->state = SR_FAILED;
		if (sr->restoring)
			restore_done(sr, false, reason);
		return;
	}
	if (sr->attempts < allowed) {
		delay = retry_delay(sr->attempts);
		sr->state = SR_RETRY_WAIT;
		sv_event(dep->sv, dep, sr->name, "server_retry", NULL,
		    "attempt %u of %u failed (%s); next in %u ms",
		    sr->attempts, allowed, reason, delay);
		sr->retry_timer.fn = on_retry_timer;
		loop_timer_set(&dep->sv->loop, &sr->retry_timer, delay);
		return;
	}
	sr->state = SR_FAILED;
	dep_fail(dep, sr, reason);
}

static void
on_ready_timer(struct loop_timer *t)
{
	struct server_run	*sr = container_of(t, struct server_run,
				    ready_timer);
	char			 reason[128];

	snprintf(reason, sizeof(reason), "not ready within %u s",
	    sr->dep->pd->servers[sr->index].spec->timeout_seconds);
	attempt_failed(sr, reason);
}

static void
server_attempt(struct server_run *sr)
{
	struct deployment	*dep = sr->dep;
	struct worker_proc	*wp;
	char			 reason[160];

	/* an upgrade stops the running version first, snapshot taken */
	if (sr->attempts == 0 && sr->replaces == NULL && dep->prev != NULL &&
	    dep->state == DEP_RUNNING) {
		struct server_run	*old = NULL;

		for (size_t i = 0; i < dep->prev->nservers; i++)
			if (strcmp(dep->prev->servers[i].name, sr->name) == 0)
				old = &dep->prev->servers[i];
		/* a partial rollback by hand leaves this one as it runs */
		if (sr->adopt && old != NULL && old->replaced_by == NULL &&
		    server_transfer(sr, old)) {
			sr->adopted_from = old;
			rb_action(dep->hand, "keep_current", sr->name, "done",
			    NULL);
			sv_event(dep->sv, dep, sr->name, "server_kept", NULL,
			    "taken over unchanged from %s (pid %d)",
			    old->dep->id, (int)sr->server_pid);
			return;
		}
		if (old != NULL && old->replaced_by == NULL &&
		    replace_begin(sr, old))
			return;
	}
	/* a rollback by hand: the snapshot of the version to start, checked
	 * against the configuration rendered for it now, files put back */
	if (sr->restore_snapshot[0] != '\0' && sr->attempts == 0) {
		const char	*step;
		char		 why[1000];

		rb_action(dep->hand, "stop_new", sr->name, "done", NULL);
		if (snapshot_put_back(sr, sr->restore_snapshot,
		    dep->hand->strategy == ROLLBACK_GRACEFUL, why, sizeof(why),
		    &step) < 0) {
			rb_step_failed(dep, dep->hand, step, sr->name, why);
			sr->state = SR_FAILED;
			dep_fail(dep, sr, why);
			return;
		}
		rb_action(dep->hand, "restore_files", sr->name, "done", NULL);
		rb_action(dep->hand, "restore_config", sr->name, "done", NULL);
	} else if (dep->hand != NULL && sr->attempts == 0)
		rb_action(dep->hand, "stop_new", sr->name, "done", NULL);
	sr->attempts++;
	sr->state = SR_STARTING;
	sr->attempt_ms = mono_ms();
	sr->server_pid = 0;
	if ((wp = worker_spawn(dep->sv, sr)) == NULL) {
		snprintf(reason, sizeof(reason), "cannot start a worker: %s",
		    strerror(errno));
		attempt_failed(sr, reason);
		return;
	}
	sr->worker = wp;
	/* no need to wait for hello: the socket buffers the config */
	worker_send(wp, FRAME_CONFIG, sr->config_text,
	    (uint32_t)strlen(sr->config_text));
	sr->ready_timer.fn = on_ready_timer;
	loop_timer_set(&dep->sv->loop, &sr->ready_timer,
	    (uint64_t)dep->pd->servers[sr->index].spec->timeout_seconds * 1000);
	dep->dirty = true;
}

/* Counts a crash of a supervised server's worker; true: too many. */
static bool
count_crash(struct server_run *sr, uint64_t now)
{
	unsigned	kept = 0;

	for (unsigned i = 0; i < sr->ncrashes; i++)
		if (now - sr->crashes[i] < WORKER_DEATH_WINDOW_MS)
			sr->crashes[kept++] = sr->crashes[i];
	sr->ncrashes = kept;
	if (sr->ncrashes < WORKER_DEATHS_MAX)
		sr->crashes[sr->ncrashes++] = now;
	return sr->ncrashes >= WORKER_DEATHS_MAX;
}

/* The worker's channel closed, its process died or it broke the
 * protocol. Called once per worker. */
static void
worker_lost(struct worker_proc *wp, const char *why)
{
	struct server_run	*sr = wp->sr;
	struct deployment	*dep;

	if (wp->lost)
		return;
	wp->lost = true;
	worker_close_channel(wp);
	if (sr == NULL)
		return;
	dep = sr->dep;
	wp->sr = NULL;
	sr->worker = NULL;
	switch (sr->state) {
	case SR_STOPPING:
		sr->state = SR_STOPPED;
		loop_timer_cancel(&dep->sv->loop, &wp->kill_timer);
		if (sr->restoring)
			/* a rollback waited for it to stop before starting it */
			server_attempt(sr);
		else if (sr->replaced_by != NULL &&
		    sr->replaced_by->state == SR_PENDING &&
		    sr->replaced_by->dep->state == DEP_RUNNING)
			/* the upgrade waited for the old version to stop */
			server_attempt(sr->replaced_by);
		else if (dep->stopping > 0 && --dep->stopping == 0)
			dep_stop_next_batch(dep);
		break;
	case SR_STARTING:
		/* the worker's server must not outlive it */
		worker_kill(wp);
		attempt_failed(sr, why);
		break;
	case SR_READY:
		worker_kill(wp);
		set_error(sr, why);
		sv_event(dep->sv, dep, sr->name, "worker_crashed", NULL,
		    "%s", why);
		if (dep->state == DEP_RUNNING) {
			/* during a deployment this is its failure */
			sr->state = SR_FAILED;
			dep_fail(dep, sr, why);
		} else if (count_crash(sr, mono_ms())) {
			sr->state = SR_FAILED;
			sv_event(dep->sv, dep, sr->name, "server_failed", NULL,
			    "%u worker crashes within %u s: giving up",
			    WORKER_DEATHS_MAX, WORKER_DEATH_WINDOW_MS / 1000);
		} else {
			sr->state = SR_RETRY_WAIT;
			sr->retry_timer.fn = on_retry_timer;
			loop_timer_set(&dep->sv->loop, &sr->retry_timer,
			    retry_delay(sr->ncrashes));
		}
		break;
	default:
		break;
	}
	dep->dirty = true;
}

static void
worker_reaped(struct supervisor *sv, struct worker_proc *wp, int status)
{
	char	why[128];

	wp->reaped = true;
	loop_timer_cancel(&sv->loop, &wp->kill_timer);
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "worker %d killed by signal %d",
		    (int)wp->pid, WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "worker %d exited with status %d",
		    (int)wp->pid, WEXITSTATUS(status));
	/* what is left in the channel came before the death: read it */
	if (!wp->lost)
		on_worker_channel(&wp->w, EPOLLIN);
	worker_lost(wp, why);
}

/* --- deployments --- */

static void
on_stop_timer(struct loop_timer *t)
{
	struct deployment	*dep = container_of(t, struct deployment,
				    stop_timer);

	for (size_t i = 0; i < dep->nservers; i++) {
		struct server_run	*sr = &dep->servers[i];

		if (sr->state == SR_STOPPING && sr->worker != NULL) {
			sv_event(dep->sv, dep, sr->name, "stop_timeout", NULL,
			    "not stopped in time: killed");
			dep->sv->grace_expired = true;
			worker_kill(sr->worker);
		}
	}
}

/* --- hooks --- */

static void
dep_hook_env(const struct deployment *dep, const char *phase, char **env,
    size_t n)
{
	size_t		 i = 0;
	const char	*path = getenv("PATH");

	if (asprintf(&env[i], "MCPVISOR_PHASE=%s", phase) != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_DEPLOYMENT_ID=%s", dep->id) != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_DEPLOYMENT=%s", dep->pd != NULL ?
	    dep->pd->spec->name : "") != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_ENVIRONMENT=%s", str_or(
	    dep->environment, str_or(dep->environment_req, ""))) != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_SPEC=%s", dep->spec_path) != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_CONFIG_DIR=%s", dep->config_dir) != -1)
		i++;
	if (asprintf(&env[i], "MCPVISOR_STATE_DIR=%s", dep->sv->state_dir) != -1)
		i++;
	if (asprintf(&env[i], "MCPVISOR_OUTCOME=%s", str_or(dep->outcome,
	    "in_progress")) != -1) i++;
	if (dep->failure[0] != '\0' &&
	    asprintf(&env[i], "MCPVISOR_FAILURE=%s", dep->failure) != -1) i++;
	if (asprintf(&env[i], "PATH=%s", str_or(path,
	    "/usr/local/bin:/usr/bin:/bin")) != -1) i++;
	while (i < n)
		env[i++] = NULL;
}

/* Starts the hooks of phase for dep. Returns 1 when done will be called
 * later, 0 when there were none (or they could not start: said as an
 * event). */
static int
dep_hooks(struct deployment *dep, const char *phase, hook_done_fn *done)
{
	char	*env[16];
	cJSON	*doc = cJSON_CreateObject();
	int	 r;

	dep_hook_env(dep, phase, env, 16);
	cJSON_AddStringToObject(doc, "phase", phase);
	cJSON_AddItemToObject(doc, "deployment", dep_record(dep));
	r = hooks_start(dep->sv, dep->config_dir, phase, env, doc, dep->logfd,
	    done, dep);
	cJSON_Delete(doc);
	for (size_t i = 0; i < 16 && env[i] != NULL; i++)
		free(env[i]);
	if (r < 0)
		sv_event(dep->sv, dep, NULL, "hook_failed", NULL,
		    "%s hooks cannot run: %s", phase, strerror(-r));
	else if (r == 1)
		sv_event(dep->sv, dep, NULL, "hooks_started", NULL,
		    "%s hooks", phase);
	return r == 1;
}

/* After-the-fact hooks: their failure is said, and changes nothing. */
static void
on_after_hooks(void *arg, bool failed, const char *message)
{
	struct deployment	*dep = arg;

	if (failed)
		sv_event(dep->sv, dep, NULL, "hook_failed", NULL, "%s",
		    message);
	else
		sv_event(dep->sv, dep, NULL, "hooks_done", NULL,
		    "hooks ran");
}

static void
dep_finish(struct deployment *dep)
{
	struct supervisor	*sv = dep->sv;
	int			 r;

	dep->state = DEP_DONE;
	/* a deployment that had succeeded and was then stopped */
	if (dep->outcome == NULL || strcmp(dep->outcome, "succeeded") == 0)
		dep->outcome = "stopped";
	state_iso_now(dep->finished_at, sizeof(dep->finished_at));
	hand_finish(dep, "stopped before it was over");
	sv_event(sv, dep, NULL, "deployment_stopped", NULL,
	    "every server stopped (%s)", dep->outcome);
	dep_write_record(dep);
	/* whoever is told the deployment is over may read the journal at
	 * once: it must hold every event up to this one already */
	if ((r = journal_commit(&sv->journal)) < 0)
		log_warnx("journal: %s", strerror(-r));
	/* secrets are not kept longer than the servers that needed them */
	for (size_t i = 0; i < dep->nservers; i++) {
		if (dep->servers[i].config_text != NULL)
			explicit_bzero(dep->servers[i].config_text,
			    strlen(dep->servers[i].config_text));
		free(dep->servers[i].config_text);
		dep->servers[i].config_text = NULL;
	}
	forget_secrets(dep);
	if (dep->rb != NULL && strcmp(dep->rb->state, "running") == 0)
		rollback_stopped(dep);
	else if (dep->prev != NULL && dep->prev->state != DEP_DONE &&
	    dep->rb == NULL && sv->dep == dep)
		/* an upgrade that failed without a rollback, or was stopped
		 * before it finished: the old deployment is current again */
		hand_back(dep);
	/* a follower hears the end of the rollback too */
	if (sv->on_finished != NULL && (dep->rb == NULL ||
	    strcmp(dep->rb->state, "running") != 0))
		sv->on_finished(sv, dep->id, dep->outcome);
	if (strcmp(dep->outcome, "failed") == 0 ||
	    strcmp(dep->outcome, "invalid") == 0)
		dep_hooks(dep, "post-rollback", on_after_hooks);
	if ((sv->shutting_down || sv->init_mode) && (sv->dep == NULL ||
	    sv->dep->state == DEP_DONE) && (sv->dep == NULL ||
	    sv->dep->prev == NULL || sv->dep->prev->state == DEP_DONE)) {
		sv->done = true;
		if (sv->exit_status == SV_EXIT_OK)
			sv->exit_status = strcmp(dep->outcome, "invalid") == 0 ?
			    SV_EXIT_CONFIG : strcmp(dep->outcome, "failed") == 0 ?
			    SV_EXIT_FAILED : sv->grace_expired ? SV_EXIT_GRACE :
			    SV_EXIT_OK;
	}
}

static void
dep_stop_next_batch(struct deployment *dep)
{
	unsigned	longest = 0;

	while (dep->stopping == 0 && dep->stop_batch > 0) {
		const struct plan_batch *pb =
		    &dep->pd->plan->batches[--dep->stop_batch];

		for (size_t k = 0; k < pb->count; k++) {
			struct server_run *sr = &dep->servers[pb->servers[k]];

			loop_timer_cancel(&dep->sv->loop, &sr->ready_timer);
			loop_timer_cancel(&dep->sv->loop, &sr->retry_timer);
			if (sr->worker == NULL || sr->worker->lost) {
				if (sr->state != SR_FAILED)
					sr->state = SR_STOPPED;
				continue;
			}
			sr->state = SR_STOPPING;
			dep->stopping++;
			if (dep->rb != NULL &&
			    dep->rb->strategy == ROLLBACK_AGGRESSIVE) {
				/* no stdin EOF, no TERM: gone now */
				sv_event(dep->sv, dep, sr->name, "server_killed",
				    NULL, "SIGKILL to worker %d and its server "
				    "(aggressive rollback)", (int)sr->worker->pid);
				worker_kill(sr->worker);
			} else if (dep->rb != NULL &&
			    dep->rb->strategy == ROLLBACK_IMMEDIATE) {
				/* at once: TERM, no stdin grace */
				uint8_t	now[4];

				frame_put_u32(now, FRAME_STOP_NOW);
				worker_send(sr->worker, FRAME_STOP, now, 4);
			} else
				worker_send(sr->worker, FRAME_STOP, NULL, 0);
			if (sr->stop_timeout_ms > longest)
				longest = sr->stop_timeout_ms;
		}
		if (dep->stopping > 0) {
			dep->stop_timer.fn = on_stop_timer;
			loop_timer_set(&dep->sv->loop, &dep->stop_timer,
			    longest + STOP_SLACK_MS);
		}
	}
	if (dep->stopping == 0) {
		loop_timer_cancel(&dep->sv->loop, &dep->stop_timer);
		dep_finish(dep);
	}
}

static void
dep_begin_stop(struct deployment *dep)
{
	if (dep->state == DEP_STOPPING || dep->state == DEP_DONE)
		return;
	dep->state = DEP_STOPPING;
	if (dep->prev != NULL && dep->prev->state != DEP_DONE)
		give_back_adopted(dep);
	/* a server still waiting to start never will */
	dep->stop_batch = dep->pd != NULL ? dep->pd->plan->nbatches : 0;
	sv_event(dep->sv, dep, NULL, "deployment_stopping", NULL,
	    "stopping in reverse dependency order");
	dep_stop_next_batch(dep);
}

/* Rolling back a failed deployment is, for now, stopping what it
 * started; the pre-rollback hooks run before that, and their failure is
 * said but cannot leave a failed deployment half up. */
static void
on_pre_rollback_hooks(void *arg, bool failed, const char *message)
{
	struct deployment	*dep = arg;

	if (failed)
		sv_event(dep->sv, dep, NULL, "hook_failed", NULL, "%s "
		    "(rolling back all the same)", message);
	if (dep->prev != NULL)
		rollback_begin(dep);
	else
		dep_begin_stop(dep);
}

static void
on_failure_hooks(void *arg, bool failed, const char *message)
{
	struct deployment	*dep = arg;

	if (failed)
		sv_event(dep->sv, dep, NULL, "hook_failed", NULL, "%s",
		    message);
	if (!dep_hooks(dep, "pre-rollback", on_pre_rollback_hooks))
		on_pre_rollback_hooks(dep, false, NULL);
}

/* Fails the deployment with outcome "failed" or "invalid" (its files
 * were found wrong only after pre-validation hooks ran). */
static void
dep_fail_as(struct deployment *dep, struct server_run *sr, const char *reason,
    const char *outcome)
{
	cJSON	*d;

	if (dep->outcome != NULL)
		return;
	dep->outcome = outcome;
	if (dep->pd != NULL)
		dep->failed_batch = batch_of(dep, sr);
	hand_finish(dep, reason);
	snprintf(dep->failure, sizeof(dep->failure), "%s: %s",
	    sr != NULL ? sr->name : "deployment", reason);
	d = cJSON_CreateObject();
	if (sr != NULL)
		cJSON_AddStringToObject(d, "server", sr->name);
	cJSON_AddStringToObject(d, "reason", reason);
	/* what a rollback has to undo; executing it is rollback's work */
	cJSON_AddStringToObject(d, "rollback", dep->pd == NULL ||
	    dep->pd->spec->settings.rollback_on_failure ?
	    "stop what this deployment started" : "disabled");
	sv_event(dep->sv, dep, sr != NULL ? sr->name : NULL,
	    "deployment_failed", d, "%s", dep->failure);
	dep_write_record(dep);
	if (!dep_hooks(dep, "on-failure", on_failure_hooks))
		on_failure_hooks(dep, false, NULL);
}

static void
dep_fail(struct deployment *dep, struct server_run *sr, const char *reason)
{
	dep_fail_as(dep, sr, reason, "failed");
}

/* --- upgrades and rollbacks ---
 *
 * A deployment started while another runs successfully is an upgrade:
 * each server the new one names and the old one runs is snapshotted,
 * stopped, then started anew. The old deployment keeps whatever else it
 * runs until the new one succeeds (and then stops it: the new spec is
 * the whole truth). If the new one fails and rollback is on, the new
 * servers are stopped (killed, for "aggressive"), every replaced server
 * is checked against its snapshot, its files are put back ("graceful"
 * also removes files the new version added), and it is started again
 * from the configuration it ran with, still held in memory; the rollback
 * is over when each is ready again by its own health checks (or merely
 * running, for "aggressive"). "manual" plans and waits for approval.
 */

static void
rb_log(struct rollback *rb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
rb_log(struct rollback *rb, const char *fmt, ...)
{
	char	when[40], line[1200];
	va_list	ap;
	int	n;

	if (rb == NULL || rb->logfd == -1)
		return;
	state_iso_now(when, sizeof(when));
	n = snprintf(line, sizeof(line), "%s ", when);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(rb->logfd, line, (size_t)n) == -1)
		log_warn("rollback log");
}

static cJSON *
rollback_json(const struct deployment *dep, const struct rollback *rb)
{
	cJSON			*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", rb->id);
	cJSON_AddStringToObject(o, "deployment_id", rb->target);
	if (rb->back_to[0] != '\0')
		cJSON_AddStringToObject(o, "previous_deployment_id",
		    rb->back_to);
	if (rb->by_hand) {
		cJSON_AddBoolToObject(o, "by_hand", 1);
		cJSON_AddStringToObject(o, "rollback_deployment_id", dep->id);
	}
	cJSON_AddStringToObject(o, "strategy",
	    rollback_strategy_name(rb->strategy));
	cJSON_AddStringToObject(o, "state", rb->state);
	cJSON_AddStringToObject(o, "reason", rb->reason);
	cJSON_AddStringToObject(o, "started_at", rb->started_at);
	if (rb->finished_at[0] != '\0') {
		cJSON_AddStringToObject(o, "finished_at", rb->finished_at);
	}
	if (rb->failure[0] != '\0')
		cJSON_AddStringToObject(o, "failure", rb->failure);
	cJSON_AddItemToObject(o, "actions", cJSON_Duplicate(rb->actions, 1));
	return o;
}

static void
rb_write(struct deployment *dep, const struct rollback *rb)
{
	record_write(dep->sv, "rollbacks", rb->id, rollback_json(dep, rb));
	dep->dirty = true;
}

static void
rollback_write(struct deployment *dep)
{
	rb_write(dep, dep->rb);
}

/* Sets the outcome of one planned action. */
static void
rb_action(struct rollback *rb, const char *action, const char *server,
    const char *status, const char *message)
{
	cJSON	*a;

	if (rb == NULL)
		return;
	cJSON_ArrayForEach(a, rb->actions) {
		if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(a,
		    "action")), action) != 0 || strcmp(cJSON_GetStringValue(
		    cJSON_GetObjectItem(a, "server")), server) != 0)
			continue;
		cJSON_DeleteItemFromObject(a, "status");
		cJSON_AddStringToObject(a, "status", status);
		if (message != NULL) {
			cJSON_DeleteItemFromObject(a, "message");
			cJSON_AddStringToObject(a, "message", message);
		}
	}
	rb_log(rb, "%s %s: %s%s%s", action, server, status,
	    message != NULL ? ": " : "", message != NULL ? message : "");
}

/* The configuration a server ran with, secrets masked: what its
 * snapshot records, and what the snapshot is checked against before the
 * configuration in memory is used again. */
static cJSON *
masked_config(const struct server_run *old)
{
	char	*text = strdup(old->config_text);
	cJSON	*j;

	if (text == NULL)
		return NULL;
	scrub_secrets(old->dep, (uint8_t *)text, strlen(text));
	j = cJSON_Parse(text);
	explicit_bzero(text, strlen(text));
	free(text);
	return j;
}

static int
snapshot_server(struct server_run *sr, struct server_run *old,
    struct errbuf *err)
{
	struct deployment	*dep = sr->dep;
	cJSON			*cfg = masked_config(old), *state, *f;
	const char		**paths;
	size_t			 n = 0;
	int			 r;

	if (cfg == NULL)
		return -ENOMEM;
	state = cJSON_CreateObject();
	cJSON_AddStringToObject(state, "state", srv_state_names[old->state]);
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
			paths[n++] = p->valuestring;
	snprintf(sr->snapshot, sizeof(sr->snapshot), "snap_%s_%s",
	    dep->id + strlen("deploy_"), sr->name);
	r = paths == NULL ? -ENOMEM : snapshot_create(dep->sv->backup_dir,
	    sr->snapshot, old->dep->id, sr->name, state, cfg, paths, n, NULL,
	    err);
	free(paths);
	cJSON_Delete(state);
	cJSON_Delete(cfg);
	if (r == 0 && dep->pd->spec->settings.snapshot_retention > 0)
		snapshot_prune(dep->sv->backup_dir,
		    dep->pd->spec->settings.snapshot_retention);
	return r;
}

/* Moves the live server of src (its worker, the configuration it runs
 * with, its counters and health) to dst, the run of the same server in
 * another deployment, without touching the process; src is left with
 * nothing to stop. Only a ready server with a live worker moves. */
static bool
server_transfer(struct server_run *dst, struct server_run *src)
{
	char	*text = dst->config_text;

	if (src->state != SR_READY || src->worker == NULL ||
	    src->worker->lost || src->config_text == NULL ||
	    merge_secrets(dst->dep, src->dep) < 0)
		return false;
	loop_timer_cancel(&dst->dep->sv->loop, &dst->ready_timer);
	loop_timer_cancel(&dst->dep->sv->loop, &dst->retry_timer);
	dst->config_text = src->config_text;
	src->config_text = NULL;
	if (text != NULL) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	dst->worker = src->worker;
	dst->worker->sr = dst;
	src->worker = NULL;
	dst->server_pid = src->server_pid;
	dst->state = SR_READY;
	src->state = SR_STOPPED;
	dst->attempts = src->attempts;
	dst->restarts = src->restarts;
	dst->ready_after_ms = src->ready_after_ms;
	memcpy(dst->crashes, src->crashes, sizeof(dst->crashes));
	dst->ncrashes = src->ncrashes;
	cJSON_Delete(dst->health);
	dst->health = src->health;
	src->health = NULL;
	cJSON_Delete(dst->usage);
	dst->usage = src->usage;
	src->usage = NULL;
	snprintf(dst->config_of, sizeof(dst->config_of), "%s",
	    src->config_of[0] != '\0' ? src->config_of : src->dep->id);
	if (strcmp(dst->config_of, dst->dep->id) == 0)
		dst->config_of[0] = '\0';
	dst->kept = false;
	src->kept = true;
	dst->dep->dirty = src->dep->dirty = true;
	return true;
}

/* Takes over old for sr: snapshot, then stop. Returns true when the
 * start waits for old to stop (or the deployment failed). */
static bool
replace_begin(struct server_run *sr, struct server_run *old)
{
	struct deployment	*dep = sr->dep;
	struct errbuf		 err = { "" };
	cJSON			*d;

	if (old->config_text == NULL)
		return false;	/* the old deployment is over */
	if (snapshot_server(sr, old, &err) < 0) {
		char	reason[600];

		snprintf(reason, sizeof(reason), "no snapshot of the running "
		    "version: %s", err.msg);
		sr->state = SR_FAILED;
		dep_fail(dep, sr, reason);
		return true;
	}
	old->replaced_by = sr;
	sr->replaces = old;
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "snapshot", sr->snapshot);
	cJSON_AddStringToObject(d, "previous_deployment", old->dep->id);
	sv_event(dep->sv, dep, sr->name, "snapshot_created", d,
	    "snapshot %s of the running version (%s)", sr->snapshot,
	    old->dep->id);
	loop_timer_cancel(&dep->sv->loop, &old->ready_timer);
	loop_timer_cancel(&dep->sv->loop, &old->retry_timer);
	old->dep->dirty = true;
	dep->dirty = true;
	if (old->worker == NULL || old->worker->lost) {
		old->state = SR_STOPPED;
		return false;
	}
	sr->state = SR_PENDING;
	old->state = SR_STOPPING;
	if (dep->hand != NULL && dep->hand->strategy == ROLLBACK_AGGRESSIVE) {
		worker_kill(old->worker);
		return true;
	}
	if (dep->hand != NULL && dep->hand->strategy == ROLLBACK_IMMEDIATE) {
		uint8_t	now[4];

		frame_put_u32(now, FRAME_STOP_NOW);
		worker_send(old->worker, FRAME_STOP, now, 4);
	} else
		worker_send(old->worker, FRAME_STOP, NULL, 0);
	old->worker->kill_timer.fn = on_worker_kill_timer;
	loop_timer_set(&dep->sv->loop, &old->worker->kill_timer,
	    old->stop_timeout_ms + STOP_SLACK_MS);
	return true;
}

/* A failed upgrade is over: the deployment it meant to replace is the
 * current one again (whatever of it still runs), and the upgrade is kept
 * aside until the next deployment. */
static void
hand_back(struct deployment *dep)
{
	struct deployment	*prev = dep->prev;
	struct supervisor	*sv = dep->sv;

	for (size_t i = 0; i < prev->nservers; i++)
		prev->servers[i].replaced_by = NULL;
	for (size_t i = 0; i < dep->nservers; i++)
		dep->servers[i].replaces = NULL;
	dep->prev = NULL;
	if (sv->retired != dep) {
		dep_free(sv->retired);
		sv->retired = dep;
	}
	sv->dep = prev;
	prev->dirty = true;
}

static void
rollback_finish(struct deployment *dep)
{
	struct rollback		*rb = dep->rb;
	struct deployment	*prev = dep->prev;
	struct supervisor	*sv = dep->sv;
	cJSON			*d;
	uint64_t		 ms = mono_ms() - rb->started_ms;

	if (prev == NULL || strcmp(rb->state, "running") != 0)
		return;		/* finished already */
	d = cJSON_CreateObject();
	rb->state = rb->failure[0] != '\0' ? "failed" : "succeeded";
	state_iso_now(rb->finished_at, sizeof(rb->finished_at));
	cJSON_AddStringToObject(d, "rollback_id", rb->id);
	cJSON_AddNumberToObject(d, "duration_ms", (double)ms);
	if (rb->failure[0] != '\0') {
		cJSON_AddStringToObject(d, "failure", rb->failure);
		sv_event(sv, dep, NULL, "rollback_failed", d, "Rollback %s "
		    "failed: %s", rb->id, rb->failure);
	} else
		sv_event(sv, dep, NULL, "rollback_completed", d, "rollback %s: "
		    "the previous version is back in %llu ms", rb->id,
		    (unsigned long long)ms);
	rb_log(dep->rb, "rollback %s %s after %llu ms", rb->id, rb->state,
	    (unsigned long long)ms);
	rollback_write(dep);
	dep_write_record(dep);
	if (rb->logfd != -1)
		close(rb->logfd);
	rb->logfd = -1;
	hand_back(dep);
	if (sv->on_finished != NULL)
		sv->on_finished(sv, dep->id, dep->outcome);
}

/* One replaced server is back (or could not be brought back). */
static void
restore_done(struct server_run *old, bool ok, const char *why)
{
	struct deployment	*dep;

	if (!old->restoring || old->replaced_by == NULL)
		return;
	old->restoring = false;
	dep = old->replaced_by->dep;
	if (ok) {
		rb_action(dep->rb, "start_previous", old->name, "done", NULL);
		if (dep->rb->strategy != ROLLBACK_AGGRESSIVE)
			rb_action(dep->rb, "verify_health", old->name, "done",
			    NULL);
		sv_event(dep->sv, old->dep, old->name, "server_restored", NULL,
		    "the previous version is back (pid %d)",
		    (int)old->server_pid);
	} else {
		rb_action(dep->rb, "start_previous", old->name, "failed", why);
		if (dep->rb->failure[0] == '\0')
			snprintf(dep->rb->failure, sizeof(dep->rb->failure),
			    "the previous version of %s did not come back: %s",
			    old->name, why);
	}
	if (dep->rb->pending > 0 && --dep->rb->pending == 0)
		rollback_finish(dep);
}

/* The configuration a snapshot recorded, compared with the one run is to
 * start with (which deployment carries it aside), then its files put
 * back. 0, or -1 with why in the guide's words (and what was wrong). */
static int
snapshot_put_back(const struct server_run *run, const char *snapshot,
    bool cleanup, char *why, size_t whysize, const char **step)
{
	struct errbuf	 err = { "" };
	cJSON		*meta = NULL, *now = masked_config(run), *then;
	bool		 same;
	int		 r = -1;

	if (snapshot_verify(run->dep->sv->backup_dir, snapshot, &meta,
	    &err) == 0) {
		then = cJSON_Duplicate(cJSON_GetObjectItem(meta, "config"), 1);
		cJSON_DeleteItemFromObject(then, "deployment");
		cJSON_DeleteItemFromObject(now, "deployment");
		same = now != NULL && cJSON_Compare(then, now, 1);
		cJSON_Delete(then);
		if (!same)
			snprintf(err.msg, sizeof(err.msg), "the snapshot does "
			    "not match the configuration to start");
	}
	cJSON_Delete(now);
	if (err.msg[0] != '\0') {
		*step = "restore_config";
		snprintf(why, whysize, "Rollback action failed: "
		    "restore_config_%s_%s: %s", run->name, snapshot, err.msg);
	} else if (snapshot_restore_files(run->dep->sv->backup_dir, meta,
	    cleanup, &err) < 0) {
		*step = "restore_files";
		snprintf(why, whysize, "Rollback action failed: "
		    "restore_files_%s_%s: %s", run->name, snapshot, err.msg);
	} else
		r = 0;
	cJSON_Delete(meta);
	return r;
}

/* One step of a rollback failed: said, recorded, and the first such
 * failure is the rollback's. */
static void
rb_step_failed(struct deployment *dep, struct rollback *rb, const char *step,
    const char *server, const char *why)
{
	rb_action(rb, step, server, "failed", why);
	sv_event(dep->sv, dep, server, "rollback_action_failed", NULL, "%s",
	    why);
	if (rb->failure[0] == '\0')
		snprintf(rb->failure, sizeof(rb->failure), "%s", why);
}

/* The failed upgrade has stopped: put each replaced server back. */
static void
rollback_restore(struct deployment *dep)
{
	struct deployment	*prev = dep->prev;
	const struct plan	*plan = prev->pd->plan;
	struct rollback		*rb = dep->rb;

	for (size_t b = 0; b < plan->nbatches; b++)
	    for (size_t k = 0; k < plan->batches[b].count; k++) {
		struct server_run	*old = &prev->servers[
					    plan->batches[b].servers[k]];
		struct server_run	*sr = old->replaced_by;
		const char		*step;
		char			 why[1000];

		if (sr == NULL || sr->dep != dep)
			continue;
		if (snapshot_put_back(old, sr->snapshot,
		    rb->strategy == ROLLBACK_GRACEFUL, why, sizeof(why),
		    &step) < 0) {
			rb_step_failed(dep, rb, step, old->name, why);
			continue;
		}
		rb_action(rb, "restore_files", old->name, "done", NULL);
		rb_action(rb, "restore_config", old->name, "done", NULL);
		old->restoring = true;
		old->attempts = 0;
		rb->pending++;
	}
	rollback_write(dep);
	if (rb->pending == 0) {
		rollback_finish(dep);
		return;
	}
	/* started once all are counted: one that fails at once must not
	 * end the rollback before the others began. One still stopping
	 * starts when it has stopped. */
	for (size_t i = 0; i < prev->nservers; i++) {
		struct server_run	*old = &prev->servers[i];

		if (old->restoring && old->state != SR_STOPPING &&
		    old->state != SR_STARTING)
			server_attempt(old);
	}
}

/* --- custom rollback actions ---
 *
 * Run one after another, as the plan lists them, once the new version
 * has stopped and before anything is restored; a failed one fails the
 * rollback, which goes on restoring all the same. */

static void	rollback_next_custom(struct deployment *);

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
		rb_step_failed(dep, rb, name, server, why);
	} else
		rb_action(rb, name, server, "done", NULL);
	rollback_next_custom(dep);
}

/* Starts the custom action a (an entry of the plan): 1 when it runs, or
 * a negative errno. */
static int
custom_action_start(struct deployment *dep, const cJSON *a)
{
	struct rollback		*rb = dep->rb;
	const char		*name = json_str(a, "action");
	const struct ynode	*def = ynode_map_get(ynode_map_get(
				    dep->pd->spec->doc, "rollback_actions"),
				    name);
	const struct ynode	*args = ynode_map_get(def, "args");
	struct hook_action	 ha = { .name = name };
	char			*env[16], *program = NULL, *base;
	char			**argv = NULL;
	cJSON			*doc;
	size_t			 i = 0;
	int			 r = -ENOMEM;

	ha.timeout_ms = (unsigned)schema_int(def, "timeout_seconds", 60) *
	    1000;
	ha.plugin = schema_str(def, "plugin", NULL);
	ha.function = schema_str(def, "function", NULL);
	ha.program = schema_str(def, "program", NULL);
	/* a relative path is taken from the directory that holds the
	 * configuration directory, as a server's command is */
	if (ha.program != NULL && ha.program[0] != '/') {
		if ((base = config_sibling_dir(dep->config_dir, "")) == NULL ||
		    asprintf(&program, "%s%s", base, ha.program) == -1) {
			free(base);
			return -ENOMEM;
		}
		free(base);
		ha.program = program;
	}
	if ((argv = calloc((args != NULL ? args->count : 0) + 1,
	    sizeof(char *))) == NULL) {
		free(program);
		return -ENOMEM;
	}
	for (size_t k = 0; args != NULL && k < args->count; k++)
		argv[k] = args->items[k]->text;
	ha.args = argv;
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "action", name);
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
	dep_hook_env(dep, "rollback-action", env, 16);
	while (i < 12 && env[i] != NULL)
		i++;
	if (asprintf(&env[i], "MCPVISOR_ROLLBACK_ID=%s", rb->id) != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_SERVER=%s", json_str(a, "server")) !=
	    -1) i++;
	if (asprintf(&env[i], "MCPVISOR_ACTION=%s", name) != -1) i++;
	env[i] = NULL;
	if (doc != NULL)
		r = hooks_run_action(dep->sv, &ha, env, doc, rb->logfd,
		    on_custom_action, dep);
	for (i = 0; i < 16 && env[i] != NULL; i++)
		free(env[i]);
	cJSON_Delete(doc);
	free(argv);
	free(program);
	return r;
}

static void
rollback_next_custom(struct deployment *dep)
{
	struct rollback	*rb = dep->rb;
	cJSON		*a;

	while ((a = cJSON_GetArrayItem(rb->actions, rb->next_step)) != NULL) {
		int	r;

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
	rollback_write(dep);
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
	rollback_next_custom(dep);
}

static void
rollback_execute(struct deployment *dep)
{
	struct rollback	*rb = dep->rb;

	rb->state = "running";
	rb->started_ms = mono_ms();
	sv_event(dep->sv, dep, NULL, "rollback_started", rollback_json(dep, dep->rb),
	    "rollback %s (%s): stopping the new version, then putting back "
	    "%s's", rb->id, rollback_strategy_name(rb->strategy),
	    dep->prev->id);
	rollback_write(dep);
	if (dep->state == DEP_DONE)
		rollback_stopped(dep);	/* stopped while it waited */
	else
		dep_begin_stop(dep);
}

static void
plan_action(cJSON *actions, const char *action, const char *server,
    const char *snapshot)
{
	cJSON	*a = cJSON_CreateObject();

	cJSON_AddStringToObject(a, "action", action);
	cJSON_AddStringToObject(a, "server", server);
	if (snapshot != NULL)
		cJSON_AddStringToObject(a, "snapshot", snapshot);
	cJSON_AddStringToObject(a, "status", "planned");
	cJSON_AddItemToArray(actions, a);
}

static struct rollback *
rb_new(struct deployment *dep, const char *id, enum rollback_strategy strategy,
    const char *target, const char *back_to, const char *reason)
{
	struct rollback	*rb;
	char		 path[PATH_MAX + 128];

	if ((rb = calloc(1, sizeof(*rb))) == NULL ||
	    (rb->actions = cJSON_CreateArray()) == NULL) {
		free(rb);
		return NULL;
	}
	snprintf(rb->id, sizeof(rb->id), "%s", id);
	snprintf(rb->target, sizeof(rb->target), "%s", target);
	snprintf(rb->back_to, sizeof(rb->back_to), "%s", back_to);
	snprintf(rb->reason, sizeof(rb->reason), "%s", reason);
	rb->strategy = strategy;
	rb->state = "planned";
	state_iso_now(rb->started_at, sizeof(rb->started_at));
	snprintf(path, sizeof(path), "%s/logs/%s.log", dep->sv->state_dir,
	    rb->id);
	rb->logfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	return rb;
}

static void
rb_free(struct rollback *rb)
{
	if (rb == NULL)
		return;
	if (rb->logfd != -1)
		close(rb->logfd);
	cJSON_Delete(rb->actions);
	free(rb);
}

/* The batch that failed: the one a failed server belongs to, or the one
 * being deployed. */
static size_t
batch_of(const struct deployment *dep, const struct server_run *sr)
{
	const struct plan	*plan = dep->pd->plan;

	for (size_t b = 0; sr != NULL && b < plan->nbatches; b++)
		for (size_t k = 0; k < plan->batches[b].count; k++)
			if (plan->batches[b].servers[k] == sr->index)
				return b;
	return dep->batch < plan->nbatches ? dep->batch : plan->nbatches - 1;
}

/* "batch": the batches done before the one that failed keep their new
 * version, which joins the previous deployment in place of the one it
 * replaced; a server the previous deployment did not run has no place
 * there and is stopped with the rest. */
static void
keep_done_batches(struct deployment *dep)
{
	const struct plan	*plan = dep->pd->plan;

	for (size_t b = 0; b < dep->failed_batch; b++)
		for (size_t k = 0; k < plan->batches[b].count; k++) {
			struct server_run *sr = &dep->servers[
					    plan->batches[b].servers[k]];
			struct server_run *old = sr->replaces;

			if (old == NULL || !server_transfer(old, sr))
				continue;
			old->replaced_by = NULL;
			sr->replaces = NULL;
			plan_action(dep->rb->actions, "keep_new", sr->name,
			    NULL);
			rb_action(dep->rb, "keep_new", sr->name, "done", NULL);
			sv_event(dep->sv, old->dep, sr->name, "server_kept", NULL,
			    "batch %zu had succeeded: the new version stays "
			    "(pid %d), now part of %s", b + 1,
			    (int)old->server_pid, old->dep->id);
		}
}

/* A partial rollback by hand that fails gives the servers it took over
 * unchanged back to the deployment it took them from. */
static void
give_back_adopted(struct deployment *dep)
{
	for (size_t i = 0; i < dep->nservers; i++) {
		struct server_run	*sr = &dep->servers[i];

		if (sr->adopted_from != NULL &&
		    server_transfer(sr->adopted_from, sr))
			sv_event(dep->sv, sr->adopted_from->dep, sr->name,
			    "server_kept", NULL, "given back unchanged "
			    "(pid %d)", (int)sr->adopted_from->server_pid);
		sr->adopted_from = NULL;
	}
}

/* Plans the rollback of a failed upgrade, in reverse dependency order
 * for what stops and forward order for what starts again, the custom
 * actions of each stopped server between the two. */
static void
rollback_begin(struct deployment *dep)
{
	struct rollback	*rb;
	const struct plan *plan = dep->pd->plan;
	char		 id[80];

	if (!dep->rollback_enabled) {
		sv_event(dep->sv, dep, NULL, "rollback_skipped", NULL,
		    "rollback is off: the new version is stopped, the "
		    "previous one is not put back");
		dep_begin_stop(dep);
		return;
	}
	/* a rollback by hand that fails is undone in turn */
	snprintf(id, sizeof(id), "rollback_%s%s", dep->id + strlen("deploy_"),
	    dep->hand != NULL ? "_undo" : "");
	if ((rb = rb_new(dep, id, dep->strategy, dep->id, dep->prev->id,
	    dep->failure)) == NULL) {
		log_warnx("deployment %s: out of memory planning its "
		    "rollback", dep->id);
		dep_begin_stop(dep);
		return;
	}
	dep->rb = rb;
	give_back_adopted(dep);
	if (rb->strategy == ROLLBACK_BATCH)
		keep_done_batches(dep);
	for (size_t b = plan->nbatches; b-- > 0;)
		for (size_t k = plan->batches[b].count; k-- > 0;) {
			const struct server_run	*sr = &dep->servers[
						    plan->batches[b].servers[k]];

			if (!sr->kept && (sr->state != SR_PENDING ||
			    sr->replaces != NULL))
				plan_action(rb->actions, "stop_new", sr->name,
				    NULL);
		}
	for (size_t b = plan->nbatches; b-- > 0;)
		for (size_t k = plan->batches[b].count; k-- > 0;) {
			const struct server_run	*sr = &dep->servers[
						    plan->batches[b].servers[k]];
			const struct ynode	*names = dep->pd->spec->servers[
						    sr->index].rollback_actions;

			if (sr->kept || (sr->state == SR_PENDING &&
			    sr->replaces == NULL))
				continue;
			for (size_t n = 0; names != NULL && n < names->count;
			    n++) {
				plan_action(rb->actions, names->items[n]->text,
				    sr->name, sr->snapshot[0] != '\0' ?
				    sr->snapshot : NULL);
				cJSON_AddBoolToObject(cJSON_GetArrayItem(
				    rb->actions, cJSON_GetArraySize(
				    rb->actions) - 1), "custom", 1);
			}
		}
	for (size_t b = 0; b < plan->nbatches; b++)
		for (size_t k = 0; k < plan->batches[b].count; k++) {
			const struct server_run	*sr = &dep->servers[
						    plan->batches[b].servers[k]];

			if (sr->replaces == NULL)
				continue;
			plan_action(rb->actions, "restore_files", sr->name,
			    sr->snapshot);
			plan_action(rb->actions, "restore_config", sr->name,
			    sr->snapshot);
			plan_action(rb->actions, "start_previous", sr->name,
			    NULL);
			if (rb->strategy != ROLLBACK_AGGRESSIVE)
				plan_action(rb->actions, "verify_health",
				    sr->name, NULL);
		}
	rb_log(dep->rb, "rollback %s planned (%s) for %s: %s", rb->id,
	    rollback_strategy_name(rb->strategy), dep->id, dep->failure);
	if (rb->strategy == ROLLBACK_MANUAL) {
		rb->state = "awaiting_approval";
		sv_event(dep->sv, dep, NULL, "rollback_planned",
		    rollback_json(dep, dep->rb), "rollback %s waits for approval: "
		    "mcpvisor rollback approve %s", rb->id, rb->id);
		rollback_write(dep);
		dep_write_record(dep);
		/* whoever follows the deployment learns its fate now; the
		 * approval may be hours away */
		if (dep->sv->on_finished != NULL)
			dep->sv->on_finished(dep->sv, dep->id, dep->outcome);
		return;
	}
	rollback_execute(dep);
}

int
runtime_rollback_approve(struct supervisor *sv, const char *id)
{
	struct deployment	*dep = sv->dep;

	if (dep != NULL && dep->hand != NULL && strcmp(dep->hand->id, id) ==
	    0) {
		if (!dep->held)
			return -EALREADY;
		sv_event(sv, dep, NULL, "rollback_approved", NULL, "rollback "
		    "%s approved", id);
		hand_start(dep);
		return 0;
	}
	if (dep == NULL || dep->rb == NULL || strcmp(dep->rb->id, id) != 0)
		return -ENOENT;
	if (strcmp(dep->rb->state, "awaiting_approval") != 0)
		return -EALREADY;
	sv_event(sv, dep, NULL, "rollback_approved", NULL, "rollback %s "
	    "approved", id);
	rollback_execute(dep);
	return 0;
}

/* The batch being deployed is ready, every server of it: the next. */
static void
dep_batch_check(struct deployment *dep)
{
	const struct plan_batch	*pb;

	if (dep->state != DEP_RUNNING || dep->batch >= dep->pd->plan->nbatches)
		return;
	pb = &dep->pd->plan->batches[dep->batch];
	for (size_t k = 0; k < pb->count; k++)
		if (dep->servers[pb->servers[k]].state != SR_READY)
			return;
	dep->batch++;
	dep_next_batch(dep);
}

static void
dep_next_batch(struct deployment *dep)
{
	const struct plan	*plan = dep->pd->plan;
	cJSON			*details;

	if (dep->batch == plan->nbatches) {
		cJSON		*d = cJSON_CreateObject();
		uint64_t	 ms = mono_ms() - dep->started_ms;

		dep->state = DEP_SUCCEEDED;
		dep->outcome = "succeeded";
		cJSON_AddNumberToObject(d, "duration_ms", (double)ms);
		cJSON_AddNumberToObject(d, "total", (double)dep->nservers);
		sv_event(dep->sv, dep, NULL, "deployment_completed", d,
		    "%zu servers ready in %llu ms", dep->nservers,
		    (unsigned long long)ms);
		hand_finish(dep, NULL);
		dep_write_record(dep);
		if (dep->sv->on_finished != NULL)
			dep->sv->on_finished(dep->sv, dep->id, "succeeded");
		if (dep->prev != NULL && dep->prev->state != DEP_DONE) {
			/* what the new version did not name goes with the old */
			dep->prev->outcome = "superseded";
			sv_event(dep->sv, dep->prev, NULL, "deployment_superseded",
			    NULL, "superseded by %s", dep->id);
			dep_begin_stop(dep->prev);
		}
		dep_hooks(dep, "post-deploy", on_after_hooks);
		/* preparing left freed heap behind (every file parsed, every
		 * template rendered); supervising for weeks needs none of it */
		malloc_trim(0);
		return;
	}
	details = cJSON_CreateObject();
	cJSON_AddNumberToObject(details, "batch", (double)dep->batch + 1);
	cJSON_AddNumberToObject(details, "batches", (double)plan->nbatches);
	cJSON_AddNumberToObject(details, "servers",
	    (double)plan->batches[dep->batch].count);
	sv_event(dep->sv, dep, NULL, "batch_started", details,
	    "batch %zu of %zu: %zu server%s", dep->batch + 1, plan->nbatches,
	    plan->batches[dep->batch].count,
	    plan->batches[dep->batch].count == 1 ? "" : "s");
	for (size_t k = 0; k < plan->batches[dep->batch].count; k++)
		server_attempt(&dep->servers[plan->batches[dep->batch].servers[k]]);
	/* servers taken over as they run are ready at once */
	dep_batch_check(dep);
}

static void
dep_free(struct deployment *dep)
{
	if (dep == NULL)
		return;
	for (size_t i = 0; i < dep->nservers; i++) {
		struct server_run	*sr = &dep->servers[i];

		loop_timer_cancel(&dep->sv->loop, &sr->ready_timer);
		loop_timer_cancel(&dep->sv->loop, &sr->retry_timer);
		if (sr->worker != NULL)
			sr->worker->sr = NULL;
		if (sr->config_text != NULL)
			explicit_bzero(sr->config_text,
			    strlen(sr->config_text));
		free(sr->config_text);
		cJSON_Delete(sr->health);
		cJSON_Delete(sr->usage);
	}
	forget_secrets(dep);
	rb_free(dep->rb);
	rb_free(dep->hand);
	dep_free(dep->prev);
	loop_timer_cancel(&dep->sv->loop, &dep->stop_timer);
	hooks_cancel(dep->sv, dep);
	cJSON_Delete(dep->environ);
	free(dep->environment_req);
	if (dep->logfd != -1)
		close(dep->logfd);
	prepared_free(dep->pd);
	free(dep->servers);
	free(dep->spec_path);
	free(dep->environment);
	free(dep->config_dir);
	free(dep->checks_dir);
	free(dep);
}

/* A relative path with a '/' in run (command, working_directory) is
 * taken from the directory that holds the configuration directory, so
 * that a tree like deploy/ can move: "mcp-servers/node_modules/.bin/x"
 * with --config-dir /srv/deploy/config is /srv/deploy/mcp-servers/... A
 * bare name (no '/') is left for PATH. */
static void
resolve_relative(cJSON *run, const char *key, const char *config_dir)
{
	const char	*v = cJSON_GetStringValue(cJSON_GetObjectItem(run, key));
	char		*base, *path;

	if (v == NULL || v[0] == '/' || strchr(v, '/') == NULL)
		return;
	if ((base = config_sibling_dir(config_dir, "")) == NULL)
		return;
	if (asprintf(&path, "%s%s", base, v) != -1) {
		cJSON_ReplaceItemInObject(run, key, cJSON_CreateString(path));
		free(path);
	}
	free(base);
}

/* The worker's configuration: the rendered server, secrets included;
 * it travels only over the worker's private channel. */
static char *
server_config_text(struct deployment *dep, size_t i)
{
	const struct prepared_server	*ps = &dep->pd->servers[i];
	const struct env_config		*env = dep->pd->env->env;
	cJSON				*o = cJSON_CreateObject();
	char				 dir[PATH_MAX + 64];
	char				*text;

	snprintf(dir, sizeof(dir), "%s/servers/%s", dep->sv->state_dir,
	    ps->spec->name);
	cJSON_AddStringToObject(o, "server", ps->spec->name);
	cJSON_AddStringToObject(o, "deployment", dep->id);
	cJSON_AddStringToObject(o, "server_dir", dir);
	/* usage samples only for a monitor to show: idle workers sleep */
	cJSON_AddNumberToObject(o, "metrics_interval_ms",
	    dep->pd->spec->settings.monitoring_enabled &&
	    !dep->no_monitoring_req && !monproc_disabled(dep->sv) ?
	    dep->pd->spec->settings.metrics_interval_seconds * 1000.0 : 0);
	cJSON_AddItemToObject(o, "run", ynode_to_json(ps->resolved->run,
	    false));
	if (ps->resolved->sandbox != NULL)
		cJSON_AddItemToObject(o, "sandbox",
		    ynode_to_json(ps->resolved->sandbox, false));
	if (ynode_map_get(env->doc, "resource_limits") != NULL)
		cJSON_AddItemToObject(o, "resource_limits", ynode_to_json(
		    ynode_map_get(env->doc, "resource_limits"), false));
	if (dep->pd->spec->settings.health_checks_enabled && ps->nchecks > 0) {
		cJSON	*list = cJSON_AddArrayToObject(o, "health_checks");

		for (size_t k = 0; k < ps->nchecks; k++)
			cJSON_AddItemToArray(list, check_json(ps->checks[k].def,
			    ps->checks[k].config, false));
	}
	resolve_relative(cJSON_GetObjectItem(o, "run"), "command",
	    dep->config_dir);
	resolve_relative(cJSON_GetObjectItem(o, "run"), "working_directory",
	    dep->config_dir);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

static const char *
request_getenv(void *arg, const char *name)
{
	const cJSON	*environ = arg;

	return cJSON_GetStringValue(cJSON_GetObjectItem(environ, name));
}

/* Loads, checks, renders and plans; fills the servers. Returns 0, or a
 * negative errno with the diagnostics in *err (malloc'd). */
static int
dep_prepare(struct deployment *dep, char **err)
{
	struct project_paths	 paths = { .config_dir = dep->config_dir,
				    .checks_dir = dep->checks_dir };
	char			 registered[PATH_MAX + 16];
	struct prepare_opts	 po = { .paths = &paths,
				    .spec_path = dep->spec_path,
				    .environment = dep->environment_req,
				    .sequential = dep->sequential,
				    .max_parallel = dep->max_parallel };
	struct diag_list	 dl = { 0 };
	size_t			 len = 0;
	FILE			*fp;
	int			 r;

	snprintf(registered, sizeof(registered), "%s/health-checks",
	    dep->sv->state_dir);
	paths.registered_checks_dir = registered;
	if (dep->environ != NULL) {
		po.render.getenv = request_getenv;
		po.render.getenv_arg = dep->environ;
	}
	r = prepare_deployment(&po, &dep->pd, &dl);
	for (size_t i = 0; r == 0 && i < dep->pd->spec->nservers; i++)
		if (dep->pd->servers[i].resolved->run == NULL) {
			diag_add_file(&dl, DIAG_ERROR,
			    dep->pd->servers[i].resolved->server->path,
			    "server '%s' has no run section: mcpvisor does not "
			    "know how to start it",
			    dep->pd->servers[i].spec->name);
			r = -EINVAL;
		}
	if (r < 0) {
		if ((fp = open_memstream(err, &len)) != NULL) {
			diag_print(&dl, fp);
			fclose(fp);
		}
		diag_list_free(&dl);
		prepared_free(dep->pd);
		dep->pd = NULL;
		return r;
	}
	diag_list_free(&dl);
	dep->nservers = dep->pd->spec->nservers;
	if ((dep->environment = strdup(dep->pd->environment)) == NULL ||
	    (dep->servers = calloc(dep->nservers, sizeof(*dep->servers))) ==
	    NULL)
		return -ENOMEM;
	if (collect_secrets(dep, dep->pd->env->values) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < dep->nservers; i++) {
		struct server_run	*sr = &dep->servers[i];
		const struct prepared_server *ps = &dep->pd->servers[i];
		const struct ynode	*run = dep->pd->servers[i].resolved->run;

		if (collect_secrets(dep, ps->resolved->config) < 0 ||
		    collect_secrets(dep, ps->resolved->run) < 0 ||
		    collect_secrets(dep, ps->resolved->sandbox) < 0)
			return -ENOMEM;
		for (size_t k = 0; k < ps->nchecks; k++)
			if (collect_secrets(dep, ps->checks[k].config) < 0)
				return -ENOMEM;

		sr->dep = dep;
		sr->index = i;
		sr->name = dep->pd->servers[i].spec->name;
		sr->stop_timeout_ms = (unsigned)schema_int(run,
		    "stop_timeout_seconds", 10) * 1000;
		if ((sr->config_text = server_config_text(dep, i)) == NULL)
			return -ENOMEM;
	}
	dep->rollback_enabled = !dep->no_rollback_req &&
	    dep->pd->spec->settings.rollback_on_failure;
	dep->strategy = dep->strategy_req >= 0 ?
	    (enum rollback_strategy)dep->strategy_req :
	    dep->pd->spec->settings.rollback_strategy;
	/* the requester's environment and the parsed files are needed no
	 * longer: the workers' configurations are rendered */
	cJSON_Delete(dep->environ);
	dep->environ = NULL;
	prepared_shed(dep->pd);
	return 0;
}

static void
dep_announce(struct deployment *dep)
{
	const struct deploy_settings	*ds = &dep->pd->spec->settings;
	cJSON				*details = cJSON_CreateObject();

	/* the monitor follows the current deployment's wishes */
	monproc_want(dep->sv, ds->monitoring_enabled && !dep->no_monitoring_req,
	    dep->monitor_port_req != 0 ? dep->monitor_port_req :
	    ds->monitor_port);

	cJSON_AddNumberToObject(details, "total", (double)dep->nservers);
	cJSON_AddNumberToObject(details, "batches",
	    (double)dep->pd->plan->nbatches);
	cJSON_AddStringToObject(details, "deployment", dep->pd->spec->name);
	cJSON_AddStringToObject(details, "environment", dep->environment);
	sv_event(dep->sv, dep, NULL, "deployment_started", details,
	    "%s for %s: %zu servers in %zu batches", dep->pd->spec->name,
	    dep->environment, dep->nservers, dep->pd->plan->nbatches);
	dep_write_record(dep);
}

static void
on_pre_deploy_hooks(void *arg, bool failed, const char *message)
{
	struct deployment	*dep = arg;

	/* stopped while its hooks ran: there is nothing to start */
	if (dep->state != DEP_RUNNING)
		return;
	if (failed) {
		dep_fail(dep, NULL, message);
		return;
	}
	dep_next_batch(dep);
}

static void
dep_pre_deploy(struct deployment *dep)
{
	if (!dep_hooks(dep, "pre-deploy", on_pre_deploy_hooks))
		dep_next_batch(dep);
}

static void
on_pre_validation_hooks(void *arg, bool failed, const char *message)
{
	struct deployment	*dep = arg;
	char			*err = NULL;
	int			 r;

	if (dep->state != DEP_RUNNING)
		return;
	if (failed) {
		dep_fail(dep, NULL, message);
		return;
	}
	if ((r = dep_prepare(dep, &err)) < 0) {
		/* the record says why; the follower hears "invalid" */
		dep_fail_as(dep, NULL, err != NULL ? err : strerror(-r),
		    "invalid");
		free(err);
		return;
	}
	dep_announce(dep);
	dep_pre_deploy(dep);
}

static int
strategy_by_name(const char *name, char **err)
{
	for (int k = ROLLBACK_IMMEDIATE; name != NULL && k <= ROLLBACK_MANUAL;
	    k++)
		if (strcmp(name, rollback_strategy_name(
		    (enum rollback_strategy)k)) == 0)
			return k;
	if (name != NULL && asprintf(err, "unknown rollback strategy '%s' "
	    "(immediate, batch, graceful, aggressive or manual)", name) == -1)
		*err = NULL;
	return name == NULL ? -1 : -EINVAL;
}

/* A new deployment of rq's sources, not yet prepared nor current. */
static int
dep_new(struct supervisor *sv, const struct deploy_request *rq,
    struct deployment **out, char **err)
{
	struct deployment	*dep;
	int			 strategy;

	*out = NULL;
	if ((strategy = strategy_by_name(rq->strategy, err)) == -EINVAL)
		return -EINVAL;
	if ((dep = calloc(1, sizeof(*dep))) == NULL)
		return -ENOMEM;
	dep->sv = sv;
	dep->logfd = -1;
	dep->sequential = rq->sequential;
	dep->max_parallel = rq->max_parallel;
	dep->no_rollback_req = rq->no_rollback;
	dep->no_monitoring_req = rq->no_monitoring;
	dep->monitor_port_req = rq->monitor_port;
	dep->strategy_req = strategy;
	dep->spec_path = strdup(rq->spec_path);
	dep->config_dir = strdup(rq->config_dir);
	dep->checks_dir = rq->checks_dir != NULL ? strdup(rq->checks_dir) :
	    config_sibling_dir(rq->config_dir, "health-checks");
	dep->environment_req = rq->environment != NULL ?
	    strdup(rq->environment) : NULL;
	dep->environ = rq->environ != NULL ? cJSON_Duplicate(rq->environ, 1) :
	    NULL;
	if (dep->spec_path == NULL || dep->config_dir == NULL ||
	    dep->checks_dir == NULL) {
		dep_free(dep);
		return -ENOMEM;
	}
	state_new_id(dep->id, sizeof(dep->id));
	state_iso_now(dep->started_at, sizeof(dep->started_at));
	dep->started_ms = mono_ms();
	*out = dep;
	return 0;
}

static void
dep_open_log(struct deployment *dep)
{
	char	path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/logs/deployment_%s.log",
	    dep->sv->state_dir, dep->id);
	if ((dep->logfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		log_warn("%s", path);
}

/* Forgets the deployment dep replaced (and, with it, what that one
 * replaced). */
static void
dep_forget_prev(struct deployment *dep)
{
	if (dep == NULL || dep->prev == NULL)
		return;
	for (size_t i = 0; i < dep->nservers; i++) {
		dep->servers[i].replaces = NULL;
		dep->servers[i].adopted_from = NULL;
	}
	dep_free(dep->prev);
	dep->prev = NULL;
}

/* Makes dep the current deployment: an upgrade of the one that runs
 * successfully (which stays until dep succeeds, and comes back if it
 * fails), or the successor of one that is over. */
static void
dep_install(struct supervisor *sv, struct deployment *dep)
{
	int	r;

	if (sv->dep != NULL && sv->dep->state == DEP_SUCCEEDED) {
		/* two generations stay: the current one and the one it
		 * replaced, which a rollback by hand goes back to */
		dep_forget_prev(sv->dep->prev);
		dep->prev = sv->dep;
	} else
		dep_free(sv->dep);
	dep_free(sv->retired);
	sv->retired = NULL;
	sv->dep = dep;
	/* the state directory keeps a bounded history */
	if ((r = state_prune_records(sv->state_dir, RECORDS_KEPT)) < 0)
		log_warnx("pruning old records: %s", strerror(-r));
}

/* Refuses a new deployment (or rollback) while the current one is in
 * the way: deploying, stopping, rolling back or awaiting approval. */
static int
dep_busy(struct supervisor *sv, char **err)
{
	const struct rollback	*waiting = sv->dep == NULL ? NULL :
				    sv->dep->rb != NULL ? sv->dep->rb :
				    sv->dep->hand;

	if (sv->shutting_down)
		return -ESHUTDOWN;
	if (waiting != NULL && strcmp(waiting->state, "awaiting_approval") ==
	    0) {
		if (asprintf(err, "rollback %s awaits approval (mcpvisor "
		    "rollback approve %s)", waiting->id, waiting->id) == -1)
			*err = NULL;
		return -EBUSY;
	}
	if (sv->dep != NULL && sv->dep->state != DEP_DONE &&
	    (sv->dep->state != DEP_SUCCEEDED || (sv->dep->prev != NULL &&
	    sv->dep->prev->state != DEP_DONE))) {
		if (asprintf(err, "deployment %s is %s; stop it first",
		    sv->dep->id, sv->dep->state == DEP_STOPPING ? "stopping" :
		    "active") == -1)
			*err = NULL;
		return -EBUSY;
	}
	return 0;
}

int
runtime_deploy(struct supervisor *sv, const struct deploy_request *rq,
    char *id, size_t idsize, char **err)
{
	struct deployment	*dep;
	int			 r;

	*err = NULL;
	if ((r = dep_busy(sv, err)) < 0 || (r = dep_new(sv, rq, &dep, err)) < 0)
		return r;
	dep_open_log(dep);
	/* pre-validation hooks may write the very files we are to load */
	if ((r = dep_hooks(dep, "pre-validation", on_pre_validation_hooks)) ==
	    0 && (r = dep_prepare(dep, err)) < 0) {
		dep_free(dep);
		return r;
	}
	dep_install(sv, dep);
	snprintf(id, idsize, "%s", dep->id);
	if (dep->pd == NULL) {
		/* hooks are running; the rest follows when they are done */
		sv_event(sv, dep, NULL, "deployment_started", NULL,
		    "running the pre-validation hooks first");
		dep_write_record(dep);
		return 0;
	}
	dep_announce(dep);
	dep_pre_deploy(dep);
	return 0;
}

/* --- rollbacks by hand ---
 *
 * "mcpvisor rollback start D" while D deploys fails D on purpose: its
 * automatic rollback follows, with the strategy asked for. Once D has
 * succeeded, its predecessor P is gone from memory (its configuration
 * held secrets), so the rollback is a deployment R of P's sources,
 * rendered again with the requester's environment: R upgrades D server
 * by server, and before each server starts, the snapshot D took of P's
 * version is checked against the configuration rendered now and its
 * files are put back. With --servers, R is D's spec in which only the
 * named servers take P's configuration; the others are taken over from
 * D as they run, untouched. If R fails, D comes back, as after any
 * failed upgrade.
 */

static void
hand_start(struct deployment *r)
{
	struct rollback	*rb = r->hand;

	r->held = false;
	rb->state = "running";
	rb->started_ms = mono_ms();
	sv_event(r->sv, r, NULL, "rollback_started", rollback_json(r, rb),
	    "rollback %s (%s): %s is put back in place of %s", rb->id,
	    rollback_strategy_name(rb->strategy), rb->back_to, rb->target);
	rb_write(r, rb);
	dep_pre_deploy(r);
}

/* The deployment carrying out a rollback by hand has succeeded (why:
 * NULL), failed or been stopped. */
static void
hand_finish(struct deployment *r, const char *why)
{
	struct rollback	*rb = r->hand;
	cJSON		*d;
	uint64_t	 ms;

	if (rb == NULL || (strcmp(rb->state, "running") != 0 &&
	    strcmp(rb->state, "awaiting_approval") != 0))
		return;
	ms = rb->started_ms > 0 ? mono_ms() - rb->started_ms : 0;
	rb->state = why == NULL ? "succeeded" : rb->started_ms > 0 ? "failed" :
	    "cancelled";
	state_iso_now(rb->finished_at, sizeof(rb->finished_at));
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "rollback_id", rb->id);
	cJSON_AddNumberToObject(d, "duration_ms", (double)ms);
	if (why != NULL) {
		if (rb->failure[0] == '\0')
			snprintf(rb->failure, sizeof(rb->failure), "%s", why);
		cJSON_AddStringToObject(d, "failure", rb->failure);
		sv_event(r->sv, r, NULL, "rollback_failed", d, "Rollback %s "
		    "%s: %s", rb->id, rb->state, rb->failure);
	} else
		sv_event(r->sv, r, NULL, "rollback_completed", d, "rollback %s: "
		    "%s is back in %llu ms", rb->id, rb->back_to,
		    (unsigned long long)ms);
	rb_log(rb, "rollback %s %s after %llu ms%s%s", rb->id, rb->state,
	    (unsigned long long)ms, why != NULL ? ": " : "", why != NULL ?
	    rb->failure : "");
	rb_write(r, rb);
}

/* Fills R's plan of the rollback by hand and marks what each server does:
 * take over D's process, or start P's version from a snapshot. */
static void
hand_plan(struct deployment *r, struct deployment *d, const cJSON *only)
{
	const struct plan	*plan = r->pd->plan;
	struct rollback		*rb = r->hand;

	for (size_t b = 0; b < plan->nbatches; b++)
		for (size_t k = 0; k < plan->batches[b].count; k++) {
			struct server_run	*sr = &r->servers[
						    plan->batches[b].servers[k]];
			const struct server_run	*cur = NULL;
			bool			 named = only == NULL;

			for (size_t i = 0; i < d->nservers; i++)
				if (strcmp(d->servers[i].name, sr->name) == 0)
					cur = &d->servers[i];
			for (const cJSON *n = only != NULL ? only->child :
			    NULL; n != NULL; n = n->next)
				named |= strcmp(n->valuestring, sr->name) == 0;
			if (!named) {
				sr->adopt = true;
				plan_action(rb->actions, "keep_current",
				    sr->name, NULL);
				continue;
			}
			if (cur != NULL)
				plan_action(rb->actions, "stop_new", sr->name,
				    NULL);
			if (cur != NULL && cur->snapshot[0] != '\0') {
				snprintf(sr->restore_snapshot,
				    sizeof(sr->restore_snapshot), "%s",
				    cur->snapshot);
				plan_action(rb->actions, "restore_files",
				    sr->name, cur->snapshot);
				plan_action(rb->actions, "restore_config",
				    sr->name, cur->snapshot);
			}
			plan_action(rb->actions, "start_previous", sr->name,
			    NULL);
			plan_action(rb->actions, "verify_health", sr->name,
			    NULL);
		}
}

/* With --servers: R was prepared from D's sources; the named servers take
 * the configuration rendered from P's. */
static int
hand_take_previous(struct deployment *r, const struct deployment *p,
    const struct rollback_request *rq, const cJSON *only, char **err)
{
	struct deploy_request	 prq = { .spec_path = p->spec_path,
				    .environment = p->environment,
				    .config_dir = p->config_dir,
				    .checks_dir = p->checks_dir,
				    .environ = rq->environ };
	struct deployment	*tmp;
	int			 rc;

	if ((rc = dep_new(r->sv, &prq, &tmp, err)) < 0)
		return rc;
	snprintf(tmp->id, sizeof(tmp->id), "%s", r->id);
	if ((rc = dep_prepare(tmp, err)) < 0) {
		dep_free(tmp);
		return rc;
	}
	for (const cJSON *n = only->child; n != NULL; n = n->next) {
		struct server_run	*dst = NULL, *src = NULL;
		char			*t;

		for (size_t i = 0; i < r->nservers; i++)
			if (strcmp(r->servers[i].name, n->valuestring) == 0)
				dst = &r->servers[i];
		for (size_t i = 0; i < tmp->nservers; i++)
			if (strcmp(tmp->servers[i].name, n->valuestring) == 0)
				src = &tmp->servers[i];
		if (dst == NULL || src == NULL) {
			if ((dst == NULL ? asprintf(err, "server '%s' is not "
			    "part of the deployment rolled back",
			    n->valuestring) : asprintf(err, "server '%s' did "
			    "not run in %s: there is no earlier version of it "
			    "to go back to", n->valuestring, p->id)) == -1)
				*err = NULL;
			dep_free(tmp);
			return -EINVAL;
		}
		t = dst->config_text;
		dst->config_text = src->config_text;
		src->config_text = t;
	}
	rc = merge_secrets(r, tmp);
	dep_free(tmp);
	return rc;
}

int
runtime_rollback_start(struct supervisor *sv, const struct rollback_request *rq,
    char *id, size_t idsize, char **err)
{
	struct deployment	*d = sv->dep, *p, *r;
	struct deploy_request	 drq = { 0 };
	int			 strategy, rc;
	char			 rid[80];

	*err = NULL;
	if ((strategy = strategy_by_name(rq->strategy, err)) == -EINVAL)
		return -EINVAL;
	if (d == NULL || strcmp(d->id, rq->deployment_id) != 0) {
		if ((d == NULL ? asprintf(err, "%s is not the current "
		    "deployment (none is)", rq->deployment_id) :
		    asprintf(err, "%s is not the current deployment (that is "
		    "%s)", rq->deployment_id, d->id)) == -1)
			*err = NULL;
		return -ENOENT;
	}
	if (d->state == DEP_RUNNING && d->prev != NULL && d->rb == NULL &&
	    d->hand == NULL) {
		/* an upgrade in progress: undone whole, as a failure is */
		if (rq->servers != NULL) {
			if (asprintf(err, "%s is still deploying: it rolls back "
			    "whole (leave out --servers)", d->id) == -1)
				*err = NULL;
			return -EINVAL;
		}
		d->rollback_enabled = true;
		if (strategy >= 0)
			d->strategy = (enum rollback_strategy)strategy;
		snprintf(id, idsize, "rollback_%s", d->id + strlen("deploy_"));
		dep_fail(d, NULL, "rollback started by hand");
		return 0;
	}
	if ((rc = dep_busy(sv, err)) < 0)
		return rc;
	if (d->state != DEP_SUCCEEDED || (p = d->prev) == NULL ||
	    p->state != DEP_DONE) {
		if (asprintf(err, "%s replaced no deployment: there is nothing "
		    "to go back to (mcpvisor deploy stop %s stops it)", d->id,
		    d->id) == -1)
			*err = NULL;
		return -ENOENT;
	}
	drq.spec_path = rq->servers != NULL ? d->spec_path : p->spec_path;
	drq.environment = rq->servers != NULL ? d->environment : p->environment;
	drq.config_dir = rq->servers != NULL ? d->config_dir : p->config_dir;
	drq.checks_dir = rq->servers != NULL ? d->checks_dir : p->checks_dir;
	drq.environ = rq->environ;
	/* if the rollback fails, the way back to D: as asked, but never a
	 * second approval */
	drq.strategy = rq->strategy != NULL && strategy != ROLLBACK_MANUAL ?
	    rq->strategy : "graceful";
	if ((rc = dep_new(sv, &drq, &r, err)) < 0)
		return rc;
	if ((rc = dep_prepare(r, err)) < 0 || (rq->servers != NULL &&
	    (rc = hand_take_previous(r, p, rq, rq->servers, err)) < 0)) {
		dep_free(r);
		return rc;
	}
	r->rollback_enabled = true;
	snprintf(rid, sizeof(rid), "rollback_%s", r->id + strlen("deploy_"));
	if ((r->hand = rb_new(r, rid, strategy >= 0 ?
	    (enum rollback_strategy)strategy : ROLLBACK_GRACEFUL, d->id, p->id,
	    "started by hand")) == NULL) {
		dep_free(r);
		return -ENOMEM;
	}
	r->hand->by_hand = true;
	dep_open_log(r);
	dep_install(sv, r);
	hand_plan(r, d, rq->servers);
	snprintf(id, idsize, "%s", rid);
	rb_log(r->hand, "rollback %s of %s back to %s (%s), carried out by %s",
	    rid, d->id, p->id, rollback_strategy_name(r->hand->strategy),
	    r->id);
	dep_announce(r);
	if (r->hand->strategy == ROLLBACK_MANUAL) {
		r->held = true;
		r->hand->state = "awaiting_approval";
		sv_event(sv, r, NULL, "rollback_planned", rollback_json(r,
		    r->hand), "rollback %s waits for approval: mcpvisor "
		    "rollback approve %s", rid, rid);
		rb_write(r, r->hand);
		return 0;
	}
	hand_start(r);
	return 0;
}

int
runtime_stop(struct supervisor *sv, const char *id)
{
	if (sv->dep == NULL || (id != NULL && strcmp(id, sv->dep->id) != 0))
		return -ENOENT;
	if (sv->dep->state == DEP_DONE)
		return -EALREADY;
	dep_begin_stop(sv->dep);
	return 0;
}

static void
on_grace_timer(struct loop_timer *t)
{
	struct supervisor	*sv = container_of(t, struct supervisor,
				    grace_timer);

	log_warnx("grace of %u ms exceeded: killing what is left",
	    sv->grace_ms);
	sv->grace_expired = true;
	for (struct worker_proc *wp = sv->workers; wp != NULL; wp = wp->next)
		worker_kill(wp);
	sv->done = true;
	sv->exit_status = SV_EXIT_GRACE;
}

void
runtime_shutdown(struct supervisor *sv)
{
	if (sv->shutting_down)
		return;
	sv->shutting_down = true;
	sv->grace_timer.fn = on_grace_timer;
	loop_timer_set(&sv->loop, &sv->grace_timer, sv->grace_ms);
	if (sv->dep != NULL && sv->dep->prev != NULL &&
	    sv->dep->prev->state != DEP_DONE)
		dep_begin_stop(sv->dep->prev);
	if (sv->dep != NULL && sv->dep->state != DEP_DONE)
		dep_begin_stop(sv->dep);
	else if (sv->dep == NULL || sv->dep->prev == NULL ||
	    sv->dep->prev->state == DEP_DONE)
		sv->done = true;
}

cJSON *
runtime_record(const struct supervisor *sv, const char *id)
{
	if (sv->dep == NULL)
		return NULL;
	if (id == NULL || strcmp(id, sv->dep->id) == 0)
		return dep_record(sv->dep);
	/* the deployment an upgrade supersedes, until it is over */
	if (sv->dep->prev != NULL && strcmp(id, sv->dep->prev->id) == 0)
		return dep_record(sv->dep->prev);
	return NULL;
}

/* --- synthetic events --- */

static void
emit_synthetic(struct supervisor *sv)
{
	struct timespec	 ts;
	cJSON		*ev = cJSON_CreateObject(), *d;

	clock_gettime(CLOCK_REALTIME, &ts);
	cJSON_AddNumberToObject(ev, "seq", (double)++sv->seq);
	cJSON_AddStringToObject(ev, "event_type", "synthetic");
	cJSON_AddStringToObject(ev, "message", "synthetic event");
	d = cJSON_AddObjectToObject(ev, "details");
	cJSON_AddNumberToObject(d, "index", (double)sv->synth_next++);
	cJSON_AddNumberToObject(d, "emitted_ns", (double)ts.tv_sec * 1e9 +
	    (double)ts.tv_nsec);
	if (sv->on_event != NULL)
		sv->on_event(sv, ev);
	cJSON_Delete(ev);
	sv->synth_left--;
}

/* Emits what is due by now at the rate asked for, then waits a
 * millisecond: the loop serves everything else in between. */
static void
on_synthetic(struct loop_timer *t)
{
	struct supervisor	*sv = container_of(t, struct supervisor,
				    synth_timer);
	uint64_t		 target = (mono_ms() - sv->synth_started_ms) *
				    sv->synth_rate / 1000 + 1;
	uint64_t		 due = sv->synth_rate == 0 ? 1000 :
				    target > sv->synth_next ? target -
				    sv->synth_next : 0;

	while (due-- > 0 && sv->synth_left > 0)
		emit_synthetic(sv);
	if (sv->synth_left > 0)
		loop_timer_set(&sv->loop, &sv->synth_timer,
		    sv->synth_rate == 0 ? 0 : 1);
}

int
runtime_synthetic_events(struct supervisor *sv, uint64_t n, unsigned rate)
{
	if (sv->synth_left > 0)
		return -EBUSY;
	sv->synth_left = n;
	sv->synth_next = 0;
	sv->synth_rate = rate;
	sv->synth_started_ms = mono_ms();
	sv->synth_timer.fn = on_synthetic;
	return loop_timer_set(&sv->loop, &sv->synth_timer, 0);
}

cJSON *
runtime_records(const struct supervisor *sv)
{
	cJSON	*list = cJSON_CreateArray();

	for (const struct deployment *d = sv->dep; list != NULL && d != NULL;
	    d = d->prev)
		cJSON_AddItemToArray(list, dep_record(d));
	if (list != NULL && sv->retired != NULL)
		cJSON_AddItemToArray(list, dep_record(sv->retired));
	return list;
}

/* --- signals --- */

static void
forward_signal(struct supervisor *sv, int sig)
{
	uint8_t	b[4];

	frame_put_u32(b, (uint32_t)sig);
	for (struct worker_proc *wp = sv->workers; wp != NULL; wp = wp->next)
		if (wp->sr != NULL)
			worker_send(wp, FRAME_SIGNAL, b, 4);
}

static void
on_signal(struct watcher *w, uint32_t events)
{
	struct supervisor	*sv = container_of(w, struct supervisor, sigw);
	struct signalfd_siginfo	 si;
	int			 status;
	pid_t			 pid;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			/* one SIGCHLD may stand for many exits, orphans
			 * included when we are PID 1 or a subreaper */
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
				struct worker_proc *wp;

				for (wp = sv->workers; wp != NULL;
				    wp = wp->next)
					if (wp->pid == pid && !wp->reaped)
						break;
				if (wp != NULL)
					worker_reaped(sv, wp, status);
				else if (!monproc_reaped(sv, pid, status))
					hooks_reaped(sv, pid, status);
			}
			break;
		case SIGTERM:
		case SIGINT:
			log_info("signal %d: stopping in order",
			    (int)si.ssi_signo);
			runtime_shutdown(sv);
			break;
		default:
			forward_signal(sv, (int)si.ssi_signo);
			break;
		}
	}
}

int
runtime_init(struct supervisor *sv, const char *state_dir,
    const char *worker_path)
{
	struct errbuf	err;
	sigset_t	set;
	int		r, fd;

	snprintf(sv->state_dir, sizeof(sv->state_dir), "%s", state_dir);
	if (sv->backup_dir[0] == '\0' && (size_t)snprintf(sv->backup_dir,
	    sizeof(sv->backup_dir), "%s/backups", state_dir) >=
	    sizeof(sv->backup_dir))
		return -ENAMETOOLONG;
	snprintf(sv->worker_path, sizeof(sv->worker_path), "%s", worker_path);
	if (access(worker_path, X_OK) == -1) {
		log_warn("worker %s", worker_path);
		return -errno;
	}
	if ((r = state_prepare(state_dir, &err)) < 0) {
		log_warnx("state directory: %s", err.msg);
		return r;
	}
	if ((r = loop_init(&sv->loop)) < 0 ||
	    (r = journal_open(&sv->journal, state_dir)) < 0) {
		log_warnx("event loop or journal: %s", strerror(-r));
		return r;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		log_warn("signalfd");
		return -errno;
	}
	signal(SIGPIPE, SIG_IGN);
	sv->sigw.fd = fd;
	sv->sigw.fn = on_signal;
	/* orphans come to us, not to an init that knows nothing of them */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER");
	return loop_add(&sv->loop, &sv->sigw, EPOLLIN);
}

static void
bury_workers(struct supervisor *sv)
{
	struct worker_proc	**pp = &sv->workers, *wp;

	while ((wp = *pp) != NULL) {
		if (wp->reaped && wp->lost) {
			*pp = wp->next;
			loop_timer_cancel(&sv->loop, &wp->kill_timer);
			worker_close_channel(wp);
			free(wp);
		} else
			pp = &wp->next;
	}
}

int
runtime_turn(struct supervisor *sv, int timeout_ms)
{
	int	r = loop_once(&sv->loop, timeout_ms);

	/* end of the turn: one record write and one journal fdatasync for
	 * however many events happened (group commit) */
	if (sv->dep != NULL && sv->dep->dirty)
		dep_write_record(sv->dep);
	if (sv->dep != NULL && sv->dep->prev != NULL && sv->dep->prev->dirty)
		dep_write_record(sv->dep->prev);
	if ((r = journal_commit(&sv->journal)) < 0)
		log_warnx("journal: %s", strerror(-r));
	bury_workers(sv);
	return r;
}

void
runtime_free(struct supervisor *sv)
{
	/* the deployment first: it lets go of its workers */
	loop_timer_cancel(&sv->loop, &sv->synth_timer);
	hooks_free_all(sv);
	dep_free(sv->dep);
	sv->dep = NULL;
	dep_free(sv->retired);
	sv->retired = NULL;
	for (struct worker_proc *wp = sv->workers; wp != NULL; wp = wp->next)
		wp->reaped = wp->lost = true;
	bury_workers(sv);
	journal_close(&sv->journal);
	if (sv->sigw.fd > 0)
		close(sv->sigw.fd);
	loop_free(&sv->loop);
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
		const char	*st, *id;
		char		 rel[160], when[40];
		size_t		 len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (state_read_json(path, &rec) < 0)
			continue;
		st = json_str(rec, "state");
		id = json_str(rec, "id");
		if (st != NULL && id != NULL && strlen(id) < 100 &&
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
			state_write_json(sv->state_dir, rel, rec);
			sv_event(sv, NULL, NULL, "rollback_interrupted", NULL,
			    "%s: mcpvisord stopped while it was %s", id, was);
		}
		cJSON_Delete(rec);
	}
	closedir(d);
}

void
runtime_recover(struct supervisor *sv)
{
	cJSON		**recs;
	cJSON		 *restore = NULL;
	char		  restored_id[64] = "";
	int		  n;

	recover_rollbacks(sv);
	if ((n = state_list_records(sv->state_dir, &recs)) < 0)
		return;
	for (int i = 0; i < n; i++) {
		char		 state[32], id[64], rel[128];

		if (json_str(recs[i], "state") == NULL ||
		    json_str(recs[i], "id") == NULL ||
		    strcmp(json_str(recs[i], "state"), "done") == 0)
			continue;
		/* copies: the record's own strings are replaced below */
		snprintf(state, sizeof(state), "%s", json_str(recs[i], "state"));
		snprintf(id, sizeof(id), "%s", json_str(recs[i], "id"));
		/* a previous mcpvisord died while this deployment was up;
		 * its workers stopped their servers when it did */
		if (restore == NULL && strcmp(state, "succeeded") == 0) {
			restore = recs[i];
			snprintf(restored_id, sizeof(restored_id), "%s", id);
		}
		cJSON_ReplaceItemInObject(recs[i], "state",
		    cJSON_CreateString("done"));
		cJSON_ReplaceItemInObject(recs[i], "outcome",
		    cJSON_CreateString("interrupted"));
		snprintf(rel, sizeof(rel), "deployments/%s.json", id);
		state_write_json(sv->state_dir, rel, recs[i]);
		sv_event(sv, NULL, NULL, "deployment_interrupted", NULL,
		    "%s: mcpvisord stopped while it was %s", id, state);
	}
	if (restore != NULL && json_str(restore, "spec") != NULL &&
	    json_str(restore, "config_dir") != NULL) {
		struct deploy_request	 rq = {
			.spec_path = json_str(restore, "spec"),
			.environment = json_str(restore, "environment"),
			.config_dir = json_str(restore, "config_dir"),
			.checks_dir = json_str(restore, "checks_dir"),
		};
		char			 id[64], *err = NULL;

		sv_event(sv, NULL, NULL, "deployment_restoring", NULL,
		    "bringing back %s, the last successful deployment",
		    restored_id);
		if (runtime_deploy(sv, &rq, id, sizeof(id), &err) < 0)
			log_warnx("restoring %s: %s", restored_id,
			    str_or(err, "failed"));
		free(err);
	}
	for (int i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
	free(recs);
}
