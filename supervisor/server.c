/*
 * The server machine. A server run is driven by one table: a cell per
 * state and event, each a small action, and only the actions change the
 * state. The worker's frames are decoded into events here (the JSON of
 * a report parsed once and scrubbed of every secret); what the owner
 * must act on it hears as a note: started, ready, failed, stopped.
 *
 * Frames arrive only from the worker of an attempt (starting, ready or
 * stopping); a frame in another state cannot happen and is refused, as
 * is a timer of a state the run has left.
 */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "gwlink.h"
#include "log.h"
#include "port_pick.h"
#include "runspec.h"
#include "secrets.h"
#include "snapjob.h"
#include "state.h"
#include "util.h"
#include "workerproc.h"

#define RETRY_BASE_MS		250
#define RETRY_MAX_MS		30000

typedef void server_action(struct server_run *, const struct srv_input *);

static const char *const state_names[SR_N] = {
	"pending", "starting", "ready", "retry_wait", "failed", "stopping",
	"stopped", "exited",
};

static const char *const event_names[SE_N] = {
	"start", "hello", "sandbox", "started", "ready", "health",
	"exited", "failed", "lost", "ready_timeout", "retry", "stop",
	"stop_timeout", "abandon", "finished", "paused", "resumed",
};

static void
srv_event(struct server_run *sr, const char *type, cJSON *details,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
srv_event(struct server_run *sr, const char *type, cJSON *details,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	events_emitv(sr->owner->sv, &sr->owner->origin, sr->name, type,
	    details, fmt, ap);
	va_end(ap);
	sr->owner->dirty = true;
}

static void
note(struct server_run *sr, enum dep_note n, const char *why)
{
	sr->owner->dirty = true;
	sr->owner->note(sr->owner, sr, n, why);
}

/* Notes why a server's last attempt or run ended; why may already be
 * sr->last_error, and copying a string onto itself is undefined. */
static void
set_error(struct server_run *sr, const char *why)
{
	if (why != sr->last_error)
		snprintf(sr->last_error, sizeof(sr->last_error), "%s", why);
}

/* Lets go of the worker: told to stop (killed if it lingers), or, when
 * it misbehaved, killed at once with its server. */
static void
let_go(struct server_run *sr, bool kill_now)
{
	struct worker_proc	*wp = sr->worker;

	if (wp == NULL)
		return;
	sr->worker = NULL;
	if (kill_now)
		worker_abandon(wp);
	else
		worker_detach(wp, sr->stop_timeout_ms + STOP_SLACK_MS);
}

static void	on_worker(struct worker_proc *, const struct frame *,
		    const char *, void *);

static void
attempt_failed(struct server_run *sr, const char *reason)
{
	struct server_owner	*o = sr->owner;
	unsigned		 delay;

	loop_timer_cancel(&o->sv->loop, &sr->ready_timer);
	let_go(sr, false);
	set_error(sr, reason);
	if (o->deploying && sr->attempts < sr->attempts_allowed) {
		delay = backoff_jitter_ms(RETRY_BASE_MS, RETRY_MAX_MS,
		    sr->attempts, &sr->rng);
		sr->state = SR_RETRY_WAIT;
		srv_event(sr, "server_retry", NULL, "attempt %u of %u failed "
		    "(%s); next in %u ms", sr->attempts, sr->attempts_allowed,
		    reason, delay);
		loop_timer_set(&o->sv->loop, &sr->retry_timer, delay);
		return;
	}
	sr->state = SR_FAILED;
	note(sr, DN_SERVER_FAILED, reason);
}

/* --- the actions --- */

static void
ignore(struct server_run *sr, const struct srv_input *in)
{
	(void)sr;
	(void)in;
}

static void
refuse(struct server_run *sr, const struct srv_input *in)
{
	(void)in;
	log_debug("server %s: an event its state (%s) does not take",
	    sr->name, state_names[sr->state]);
}

/* A copy of a configuration, which holds secrets, gone. */
static void
wipe_free(char *text)
{
	if (text != NULL)
		explicit_bzero(text, strlen(text));
	free(text);
}

/* The flags of its worker, from what mcpvisord wrote into its
 * configuration. */
static unsigned
worker_flags(const struct server_run *sr)
{
	cJSON		*config = cJSON_Parse(sr->config_text);
	unsigned	 flags = worker_flags_of(config);

	cJSON_Delete(config);
	return flags;
}

static void
begin(struct server_run *sr, const struct srv_input *in)
{
	struct server_owner	*o = sr->owner;
	char			 reason[160];
	char			*own;
	const char		*text;
	bool			 picked;

	(void)in;
	loop_timer_cancel(&o->sv->loop, &sr->retry_timer);
	sr->attempts++;
	sr->state = SR_STARTING;
	sr->attempt_ms = mono_ms();
	sr->server_pid = 0;
	o->dirty = true;
	/* a port of its own for each attempt, when its file lets us pick */
	if ((own = port_pick_config(sr->config_text, &sr->port, &picked)) ==
	    NULL && errno != 0) {
		snprintf(reason, sizeof(reason), "no port to pick for run.port "
		    "auto: %s", strerror(errno));
		attempt_failed(sr, reason);
		return;
	}
	text = own != NULL ? own : sr->config_text;
	if ((sr->worker = worker_spawn(o->sv, o->origin.logfd,
	    worker_flags(sr), on_worker, sr)) == NULL) {
		snprintf(reason, sizeof(reason), "cannot start a worker: %s",
		    strerror(errno));
		wipe_free(own);
		attempt_failed(sr, reason);
		return;
	}
	/* no need to wait for hello: the socket buffers the config */
	worker_send(sr->worker, FRAME_CONFIG, text, (uint32_t)strlen(text));
	wipe_free(own);
	if (picked)
		srv_event(sr, "port_picked", NULL, "port %u (run.port auto), in "
		    "its environment as $" RUNSPEC_PORT_ENV, sr->port);
	/* the leaf it makes for its server, which we remove after it */
	worker_owns_cgroup(sr->worker, sr->stack, sr->name);
	{
		char	about[512];

		if ((sr->via_gateway = gwlink_about(sr, about,
		    sizeof(about)))) {
			worker_serves_gateway(sr->worker, about);
			gwlink_worker(o->sv, sr->worker);
		}
	}
	srv_event(sr, "worker_started", NULL, "worker %d for attempt %u of %u "
	    "(ready within %u s; %zu bytes of configuration)",
	    (int)worker_pid(sr->worker), sr->attempts, sr->attempts_allowed,
	    sr->ready_timeout_s, strlen(sr->config_text));
	loop_timer_set(&o->sv->loop, &sr->ready_timer,
	    (uint64_t)sr->ready_timeout_s * 1000);
}

static void
note_sandbox(struct server_run *sr, const struct srv_input *in)
{
	srv_event(sr, "sandbox_applied", cJSON_Duplicate(in->json, 1),
	    "worker %d sandboxed", (int)worker_pid(sr->worker));
}

static void
note_started(struct server_run *sr, const struct srv_input *in)
{
	sr->server_pid = (pid_t)in->a;
	srv_event(sr, "server_started", NULL, "pid %d (attempt %u)",
	    (int)sr->server_pid, sr->attempts);
	note(sr, DN_SERVER_STARTED, NULL);
}

static void
note_restarted(struct server_run *sr, const struct srv_input *in)
{
	sr->server_pid = (pid_t)in->a;
	sr->restarts++;
	srv_event(sr, "server_restarted", NULL, "pid %d (restart %u)",
	    (int)sr->server_pid, sr->restarts);
}

static void
note_pid(struct server_run *sr, const struct srv_input *in)
{
	sr->server_pid = (pid_t)in->a;
	srv_event(sr, "server_started", NULL, "pid %d (attempt %u)",
	    (int)sr->server_pid, sr->attempts);
}

static void
become_ready(struct server_run *sr, const struct srv_input *in)
{
	cJSON	*d = cJSON_CreateObject();

	(void)in;
	loop_timer_cancel(&sr->owner->sv->loop, &sr->ready_timer);
	sr->state = SR_READY;
	sr->ready_after_ms = mono_ms() - sr->attempt_ms;
	cJSON_AddBoolToObject(d, "first", 1);
	cJSON_AddNumberToObject(d, "ready_ms", (double)sr->ready_after_ms);
	srv_event(sr, "server_ready", d, "ready in %llu ms",
	    (unsigned long long)sr->ready_after_ms);
	note(sr, DN_SERVER_READY, NULL);
}

static void
ready_again(struct server_run *sr, const struct srv_input *in)
{
	(void)in;
	srv_event(sr, "server_ready", NULL, "ready again after restart %u",
	    sr->restarts);
}

/* A health check's result: kept as the server's latest for that check,
 * and announced (in the guide's words when it failed). */
static void
note_health(struct server_run *sr, const struct srv_input *in)
{
	cJSON		*j = in->json, *keep;
	const char	*check = cJSON_GetStringValue(cJSON_GetObjectItem(j,
			    "check"));
	const char	*message = cJSON_GetStringValue(cJSON_GetObjectItem(j,
			    "message"));
	const char	*phase = cJSON_GetStringValue(cJSON_GetObjectItem(j,
			    "phase"));
	bool		 critical = cJSON_IsTrue(cJSON_GetObjectItem(j,
			    "critical"));
	char		 when[40];

	if (check == NULL) {
		log_warnx("worker %d (%s): a health frame without a check",
		    (int)worker_pid(sr->worker), sr->name);
		return;
	}
	message = message != NULL ? message : "";
	phase = phase != NULL ? phase : "";
	if (sr->health == NULL)
		sr->health = cJSON_CreateObject();
	state_iso_now(when, sizeof(when));
	keep = cJSON_Duplicate(j, 1);
	cJSON_DeleteItemFromObject(keep, "check");
	cJSON_AddStringToObject(keep, "at", when);
	cJSON_DeleteItemFromObject(sr->health, check);
	cJSON_AddItemToObject(sr->health, check, keep);
	if (cJSON_IsTrue(cJSON_GetObjectItem(j, "healthy")))
		srv_event(sr, "health_check_passed", cJSON_Duplicate(j, 1),
		    "Health check '%s' passed (%s): %s", check, phase,
		    message);
	else
		srv_event(sr, critical ? "health_check_failed" :
		    "health_check_warning", cJSON_Duplicate(j, 1),
		    "%s: Health check '%s' failed: %s", critical ? "Error" :
		    "Warning", check, message);
}

/* How a server ended, in words: the OOM killer named as such. */
static void
exit_text(const struct srv_input *in, char *buf, size_t size)
{
	if (in->a && in->oom_limit_mib > 0)
		snprintf(buf, size, "killed: out of memory (limit %u MiB)",
		    in->oom_limit_mib);
	else
		snprintf(buf, size, in->a ? "killed by signal %u" :
		    "exited with status %u", in->b);
}

static void
note_exit(struct server_run *sr, const struct srv_input *in)
{
	exit_text(in, sr->last_error, sizeof(sr->last_error));
	srv_event(sr, "server_exited", NULL, "%s", sr->last_error);
}

static void
exited_starting(struct server_run *sr, const struct srv_input *in)
{
	char	reason[300];

	note_exit(sr, in);
	snprintf(reason, sizeof(reason), "%s before it was ready",
	    sr->last_error);
	/* the worker's server must not outlive it */
	let_go(sr, true);
	attempt_failed(sr, reason);
}

/* The worker's words for a failure: stage, reason, errno. */
static void
note_failure(struct server_run *sr, const struct srv_input *in)
{
	const char	*stage = cJSON_GetStringValue(cJSON_GetObjectItem(
			    in->json, "stage"));
	const char	*reason = cJSON_GetStringValue(cJSON_GetObjectItem(
			    in->json, "reason"));
	const char	*err = cJSON_GetStringValue(cJSON_GetObjectItem(
			    in->json, "errno"));

	snprintf(sr->last_error, sizeof(sr->last_error), "%s: %s%s%s",
	    stage != NULL ? stage : "?", reason != NULL ? reason : "?",
	    err != NULL ? ": " : "", err != NULL ? err : "");
	srv_event(sr, "server_failed", cJSON_Duplicate(in->json, 1), "%s",
	    sr->last_error);
}

static void
failed_starting(struct server_run *sr, const struct srv_input *in)
{
	note_failure(sr, in);
	let_go(sr, true);
	attempt_failed(sr, sr->last_error);
}

/* The worker gave up on a supervised server (crash loop): it stays
 * failed, visibly, instead of being restarted. */
static void
failed_ready(struct server_run *sr, const struct srv_input *in)
{
	note_failure(sr, in);
	sr->state = SR_FAILED;
	let_go(sr, false);
	note(sr, DN_SERVER_FAILED, sr->last_error);
}

static void	stopped(struct server_run *);

static void
failed_stopping(struct server_run *sr, const struct srv_input *in)
{
	note_failure(sr, in);
	let_go(sr, true);
	stopped(sr);
}

static void
lost_starting(struct server_run *sr, const struct srv_input *in)
{
	/* the worker's server must not outlive it */
	worker_kill(sr->worker);
	sr->worker = NULL;
	attempt_failed(sr, in->why);
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

static void
lost_ready(struct server_run *sr, const struct srv_input *in)
{
	struct server_owner	*o = sr->owner;

	worker_kill(sr->worker);
	sr->worker = NULL;
	set_error(sr, in->why);
	srv_event(sr, "worker_crashed", NULL, "%s", in->why);
	if (o->deploying) {
		/* during a deployment this is its failure */
		sr->state = SR_FAILED;
		note(sr, DN_SERVER_FAILED, in->why);
	} else if (count_crash(sr, mono_ms())) {
		sr->state = SR_FAILED;
		srv_event(sr, "server_failed", NULL, "%u worker crashes within "
		    "%u s: giving up", WORKER_DEATHS_MAX,
		    WORKER_DEATH_WINDOW_MS / 1000);
		note(sr, DN_SERVER_FAILED, sr->last_error);
	} else {
		sr->state = SR_RETRY_WAIT;
		loop_timer_set(&o->sv->loop, &sr->retry_timer,
		    backoff_jitter_ms(RETRY_BASE_MS, RETRY_MAX_MS,
		    sr->ncrashes, &sr->rng));
	}
}

static void
stopped(struct server_run *sr)
{
	sr->state = SR_STOPPED;
	note(sr, DN_SERVER_STOPPED, NULL);
}

static void
lost_stopping(struct server_run *sr, const struct srv_input *in)
{
	(void)in;
	sr->worker = NULL;
	stopped(sr);
}

static void
ready_timeout(struct server_run *sr, const struct srv_input *in)
{
	char	reason[128];

	(void)in;
	snprintf(reason, sizeof(reason), "not ready within %u s",
	    sr->ready_timeout_s);
	attempt_failed(sr, reason);
}

/* The server ended as its policy allows (restart: never, or on-failure
 * after a clean exit): an orderly end, not a crash. Its worker exits
 * on its own. */
static void
finished(struct server_run *sr, const struct srv_input *in)
{
	char	status[80];

	exit_text(in, status, sizeof(status));
	sr->state = SR_EXITED;
	let_go(sr, false);
	srv_event(sr, "server_finished", NULL, "%s; restart policy keeps it "
	    "down", status);
}

/* The kernel says the worker was stopped, or continued; a stop that
 * lasts is the worker's loss (see WORKER_STOPPED_GRACE_MS). */
static void
note_paused(struct server_run *sr, const struct srv_input *in)
{
	(void)in;
	srv_event(sr, "worker_stopped", NULL, "worker %d stopped: lost unless "
	    "continued within %u s", (int)worker_pid(sr->worker),
	    WORKER_STOPPED_GRACE_MS / 1000);
}

static void
note_resumed(struct server_run *sr, const struct srv_input *in)
{
	(void)in;
	srv_event(sr, "worker_continued", NULL, "worker %d continued",
	    (int)worker_pid(sr->worker));
}

/* It ended on its own just as it was told to stop: stopped. */
static void
finished_stopping(struct server_run *sr, const struct srv_input *in)
{
	(void)in;
	let_go(sr, false);
	stopped(sr);
}

/* A stop before or after any attempt: nothing runs. A failed server
 * stays failed, and one that ended stays ended, visibly. */
static void
stop_idle(struct server_run *sr, const struct srv_input *in)
{
	(void)in;
	loop_timer_cancel(&sr->owner->sv->loop, &sr->ready_timer);
	loop_timer_cancel(&sr->owner->sv->loop, &sr->retry_timer);
	if (sr->state != SR_FAILED && sr->state != SR_EXITED)
		sr->state = SR_STOPPED;
	sr->owner->dirty = true;
}

static void
stop_running(struct server_run *sr, const struct srv_input *in)
{
	struct worker_proc	*wp = sr->worker;

	loop_timer_cancel(&sr->owner->sv->loop, &sr->ready_timer);
	loop_timer_cancel(&sr->owner->sv->loop, &sr->retry_timer);
	if (wp == NULL || worker_lost(wp)) {
		sr->state = SR_STOPPED;
		sr->owner->dirty = true;
		return;
	}
	sr->state = SR_STOPPING;
	sr->owner->dirty = true;
	switch (in->how) {
	case STOP_KILL:
		/* no stdin EOF, no TERM: gone now */
		srv_event(sr, "server_killed", NULL, "SIGKILL to worker %d and "
		    "its server (aggressive rollback)", (int)worker_pid(wp));
		worker_kill(wp);
		break;
	case STOP_NOW:
		worker_stop(wp, FRAME_STOP_NOW);
		break;
	case STOP_GRACEFUL:
		worker_stop(wp, 0);
		break;
	}
	if (in->kill_after_ms > 0)
		worker_kill_after(wp, in->kill_after_ms);
}

static void
stop_timeout(struct server_run *sr, const struct srv_input *in)
{
	(void)in;
	if (sr->worker == NULL)
		return;
	srv_event(sr, "stop_timeout", NULL, "not stopped in time: killed");
	sr->owner->sv->grace_expired = true;
	worker_kill(sr->worker);
}

/* It will not be started after all: what had to come first failed. */
static void
abandon(struct server_run *sr, const struct srv_input *in)
{
	set_error(sr, in->why);
	sr->state = SR_FAILED;
	note(sr, DN_SERVER_FAILED, in->why);
}

/* --- the table --- */

#define NO	refuse
static server_action *const actions[SR_N][SE_N] = {
	/*		  START   HELLO   SANDBOX       STARTED         READY
	 *		  HEALTH       EXITED           FAILED
	 *		  LOST           READY_TIMEOUT  RETRY  STOP
	 *		  STOP_TIMEOUT ABANDON FINISHED PAUSED RESUMED */
	[SR_PENDING] =	{ begin,  NO,     NO,           NO,             NO,
			  NO,          NO,              NO,
			  NO,            NO,            NO,    stop_idle,
			  ignore,      abandon, NO,
			  NO,          NO },
	[SR_STARTING] =	{ ignore, ignore, note_sandbox, note_started,   become_ready,
			  note_health, exited_starting, failed_starting,
			  lost_starting, ready_timeout, NO,    stop_running,
			  ignore,      NO,      NO,
			  note_paused, note_resumed },
	[SR_READY] =	{ NO,     ignore, note_sandbox, note_restarted, ready_again,
			  note_health, note_exit,       failed_ready,
			  lost_ready,    NO,            NO,    stop_running,
			  ignore,      NO,      finished,
			  note_paused, note_resumed },
	[SR_RETRY_WAIT] = { begin, NO,    NO,           NO,             NO,
			  NO,          NO,              NO,
			  NO,            NO,            begin, stop_idle,
			  ignore,      NO,      NO,
			  NO,          NO },
	[SR_FAILED] =	{ begin,  NO,     NO,           NO,             NO,
			  NO,          NO,              NO,
			  NO,            NO,            NO,    stop_idle,
			  ignore,      ignore,  NO,
			  NO,          NO },
	[SR_STOPPING] =	{ ignore, ignore, note_sandbox, note_pid,       ignore,
			  note_health, note_exit,       failed_stopping,
			  lost_stopping, NO,            NO,    ignore,
			  stop_timeout, NO,     finished_stopping,
			  note_paused, note_resumed },
	[SR_STOPPED] =	{ begin,  NO,     NO,           NO,             NO,
			  NO,          NO,              NO,
			  NO,            NO,            NO,    stop_idle,
			  ignore,      ignore,  NO,
			  NO,          NO },
	[SR_EXITED] =	{ begin,  NO,     NO,           NO,             NO,
			  NO,          NO,              NO,
			  NO,            NO,            NO,    stop_idle,
			  ignore,      ignore,  NO,
			  NO,          NO },
};
#undef NO

void
server_event(struct server_run *sr, enum srv_event ev,
    const struct srv_input *in)
{
	static const struct srv_input	none;

	actions[sr->state][ev](sr, in != NULL ? in : &none);
}

/* --- frames into events --- */

static void
on_worker(struct worker_proc *wp, const struct frame *f, const char *why,
    void *arg)
{
	struct server_run	*sr = arg;
	struct srv_input	 in = { .why = why };
	enum srv_event		 ev;

	(void)wp;
	if (f == NULL) {
		server_event(sr, SE_LOST, &in);
		return;
	}
	switch (f->type) {
	case FRAME_HELLO:	ev = SE_HELLO; break;
	case FRAME_SANDBOX:	ev = SE_SANDBOX; break;
	case FRAME_STARTED:	ev = SE_STARTED; break;
	case FRAME_READY:	ev = SE_READY; break;
	case FRAME_HEALTH:	ev = SE_HEALTH; break;
	case FRAME_EXITED:	ev = SE_EXITED; break;
	case FRAME_FAILED:	ev = SE_FAILED; break;
	case FRAME_FINISHED:	ev = SE_FINISHED; break;
	case WORKER_NOTE_STOPPED: ev = SE_PAUSED; break;
	case WORKER_NOTE_CONTINUED: ev = SE_RESUMED; break;
	default:		return;
	}
	if (f->type == FRAME_STARTED || f->type == FRAME_EXITED ||
	    f->type == FRAME_FINISHED) {
		in.a = frame_get_u32(f->data);
		in.b = f->len >= 8 ? frame_get_u32(f->data + 4) : 0;
		in.oom_limit_mib = f->len >= 12 ? frame_get_u32(f->data + 8) :
		    0;
	}
	if (f->type == FRAME_SANDBOX || f->type == FRAME_HEALTH ||
	    f->type == FRAME_FAILED) {
		in.json = cJSON_ParseWithLength((char *)f->data, f->len);
		/* a check's output may hold whatever its program printed */
		if (sr->owner->secrets != NULL)
			secrets_scrub_json(sr->owner->secrets, in.json);
	}
	server_event(sr, ev, &in);
	cJSON_Delete(in.json);
}

/* --- the run itself --- */

static void
on_ready_timer(struct loop_timer *t)
{
	server_event(container_of(t, struct server_run, ready_timer),
	    SE_READY_TIMEOUT, NULL);
}

static void
on_retry_timer(struct loop_timer *t)
{
	server_event(container_of(t, struct server_run, retry_timer),
	    SE_RETRY, NULL);
}

void
server_init(struct server_run *sr, struct server_owner *o,
    struct deployment *dep)
{
	sr->owner = o;
	sr->dep = dep;
	sr->ready_timer.fn = on_ready_timer;
	sr->retry_timer.fn = on_retry_timer;
}

void
server_forget_config(struct server_run *sr)
{
	if (sr->config_text != NULL)
		explicit_bzero(sr->config_text, strlen(sr->config_text));
	free(sr->config_text);
	sr->config_text = NULL;
	free(sr->rendered);
	sr->rendered = NULL;
}

void
server_clear(struct server_run *sr)
{
	if (sr->owner != NULL) {
		loop_timer_cancel(&sr->owner->sv->loop, &sr->ready_timer);
		loop_timer_cancel(&sr->owner->sv->loop, &sr->retry_timer);
	}
	if (sr->worker != NULL)
		worker_reown(sr->worker, NULL, NULL);
	sr->worker = NULL;
	snapjob_cancel(sr->job);
	sr->job = NULL;
	server_forget_config(sr);
	cJSON_Delete(sr->health);
	cJSON_Delete(sr->usage);
	cJSON_Delete(sr->changed_keys);
	sr->health = sr->usage = sr->changed_keys = NULL;
}

bool
server_has_process(const struct server_run *sr)
{
	return sr->worker != NULL && sr->server_pid > 0 &&
	    (sr->state == SR_STARTING || sr->state == SR_READY);
}

int
server_signal(struct server_run *sr, int sig, int uid)
{
	uint8_t	 b[4];
	cJSON	*d;

	if (!server_has_process(sr))
		return -ESRCH;
	frame_put_u32(b, (uint32_t)sig);
	worker_send(sr->worker, FRAME_SIGNAL, b, sizeof(b));
	if ((d = cJSON_CreateObject()) != NULL) {
		cJSON_AddStringToObject(d, "signal", runspec_signal_name(sig));
		cJSON_AddNumberToObject(d, "pid", sr->server_pid);
		cJSON_AddNumberToObject(d, "requester_uid", uid);
	}
	srv_event(sr, "server_signalled", d, "SIG%s sent to pid %d (asked by "
	    "uid %d)", runspec_signal_name(sig), (int)sr->server_pid, uid);
	return 0;
}

bool
server_transfer(struct server_run *dst, struct server_run *src)
{
	struct supervisor	*sv = dst->owner->sv;

	if (src->state != SR_READY || src->worker == NULL ||
	    worker_lost(src->worker) || src->config_text == NULL ||
	    secrets_merge(dst->owner->secrets, src->owner->secrets) < 0)
		return false;
	loop_timer_cancel(&sv->loop, &dst->ready_timer);
	loop_timer_cancel(&sv->loop, &dst->retry_timer);
	server_forget_config(dst);
	dst->config_text = src->config_text;
	src->config_text = NULL;
	dst->rendered = src->rendered;
	src->rendered = NULL;
	memcpy(dst->stack, src->stack, sizeof(dst->stack));
	dst->worker = src->worker;
	src->worker = NULL;
	worker_reown(dst->worker, on_worker, dst);
	dst->server_pid = src->server_pid;
	dst->port = src->port;
	dst->via_gateway = src->via_gateway;
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
	dst->usage_ticks = src->usage_ticks;
	dst->usage_ms = src->usage_ms;
	dst->usage_pid = src->usage_pid;
	snprintf(dst->config_of, sizeof(dst->config_of), "%s",
	    src->config_of[0] != '\0' ? src->config_of :
	    src->owner->origin.deployment_id);
	if (strcmp(dst->config_of, dst->owner->origin.deployment_id) == 0)
		dst->config_of[0] = '\0';
	dst->kept = false;
	src->kept = true;
	dst->owner->dirty = src->owner->dirty = true;
	return true;
}

const char *
server_state_name(enum srv_state s)
{
	return s < SR_N ? state_names[s] : "?";
}

const char *
server_event_name(enum srv_event e)
{
	return e < SE_N ? event_names[e] : "?";
}

const char *
server_action_name(enum srv_state s, enum srv_event e)
{
	static const struct {
		server_action	*fn;
		const char	*name;
	} names[] = {
#define A(f)	{ f, #f }
		A(ignore), A(refuse), A(begin), A(note_sandbox),
		A(note_started), A(note_restarted), A(note_pid),
		A(become_ready), A(ready_again), A(note_health),
		A(note_exit), A(exited_starting), A(failed_starting),
		A(failed_ready), A(failed_stopping), A(lost_starting),
		A(lost_ready), A(lost_stopping), A(ready_timeout),
		A(stop_idle), A(stop_running), A(stop_timeout), A(abandon),
		A(finished), A(finished_stopping), A(note_paused),
		A(note_resumed),
#undef A
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].fn == actions[s][e])
			return names[i].name;
	return "?";
}
