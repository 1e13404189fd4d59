#include "rollback_state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "events.h"
#include "log.h"
#include "snapjob.h"
#include "state.h"
#include "supervisor.h"
#include "util.h"

typedef int rb_action_fn(struct rollback *, const char *why);

static const char *const state_names[RB_N] = {
	"planned", "awaiting_approval", "running", "succeeded", "failed",
	"cancelled",
};

const char *
rb_state_name(enum rb_state s)
{
	return s < RB_N ? state_names[s] : "?";
}

/* --- the table --- */

static int
refuse(struct rollback *rb, const char *why)
{
	(void)rb;
	(void)why;
	return -EALREADY;
}

static int
ignore(struct rollback *rb, const char *why)
{
	(void)rb;
	(void)why;
	return 0;
}

static int
run(struct rollback *rb, const char *why)
{
	(void)why;
	rb->state = RB_RUNNING;
	rb->started_ms = mono_ms();
	if (rb->kind->execute != NULL)
		rb->kind->execute(rb);
	return 0;
}

static int
hold(struct rollback *rb, const char *why)
{
	(void)why;
	rb->state = RB_AWAITING_APPROVAL;
	if (rb->kind->hold != NULL)
		rb->kind->hold(rb);
	return 0;
}

static int
finish(struct rollback *rb, const char *why)
{
	if (why != NULL && rb->failure[0] == '\0')
		snprintf(rb->failure, sizeof(rb->failure), "%s", why);
	rb->state = rb->failure[0] != '\0' ? RB_FAILED : RB_SUCCEEDED;
	state_iso_now(rb->finished_at, sizeof(rb->finished_at));
	if (rb->kind->finished != NULL)
		rb->kind->finished(rb);
	return 0;
}

static int
cancel(struct rollback *rb, const char *why)
{
	if (why != NULL && rb->failure[0] == '\0')
		snprintf(rb->failure, sizeof(rb->failure), "%s", why);
	rb->state = RB_CANCELLED;
	state_iso_now(rb->finished_at, sizeof(rb->finished_at));
	if (rb->kind->finished != NULL)
		rb->kind->finished(rb);
	return 0;
}

static rb_action_fn *const actions[RB_N][RBE_N] = {
	/*			  GO      HOLD    APPROVE FINISHED ABANDONED */
	[RB_PLANNED] =		{ run,    hold,   refuse, refuse,  cancel },
	[RB_AWAITING_APPROVAL] = { refuse, ignore, run,    refuse,  cancel },
	[RB_RUNNING] =		{ refuse, refuse, refuse, finish,  finish },
	[RB_SUCCEEDED] =	{ refuse, refuse, refuse, refuse,  ignore },
	[RB_FAILED] =		{ refuse, refuse, refuse, refuse,  ignore },
	[RB_CANCELLED] =	{ refuse, refuse, refuse, refuse,  ignore },
};

int
rb_event(struct rollback *rb, enum rb_event ev, const char *why)
{
	return actions[rb->state][ev](rb, why);
}

const char *
rb_action_name(enum rb_state s, enum rb_event e)
{
	rb_action_fn	*fn = actions[s][e];

	return fn == run ? "run" : fn == hold ? "hold" : fn == finish ?
	    "finish" : fn == cancel ? "cancel" : fn == ignore ? "ignore" :
	    "refuse";
}

bool
rb_waiting(const struct rollback *rb)
{
	return rb != NULL && rb->state == RB_AWAITING_APPROVAL;
}

bool
rb_running(const struct rollback *rb)
{
	return rb != NULL && rb->state == RB_RUNNING;
}

uint64_t
rb_elapsed_ms(const struct rollback *rb)
{
	return rb->started_ms > 0 ? mono_ms() - rb->started_ms : 0;
}

/* --- the rollback itself --- */

struct rollback *
rb_new(struct supervisor *sv, const struct rb_kind *kind, void *owner,
    const char *id, enum rollback_strategy strategy, const char *target,
    const char *back_to, const char *reason)
{
	struct rollback	*rb;
	char		 path[PATH_MAX + 128];

	if ((rb = calloc(1, sizeof(*rb))) == NULL ||
	    (rb->actions = cJSON_CreateArray()) == NULL) {
		free(rb);
		return NULL;
	}
	rb->sv = sv;
	rb->kind = kind;
	rb->owner = owner;
	snprintf(rb->id, sizeof(rb->id), "%s", id);
	snprintf(rb->target, sizeof(rb->target), "%s", target);
	snprintf(rb->back_to, sizeof(rb->back_to), "%s", back_to);
	snprintf(rb->reason, sizeof(rb->reason), "%s", reason);
	rb->strategy = strategy;
	rb->state = RB_PLANNED;
	state_iso_now(rb->started_at, sizeof(rb->started_at));
	snprintf(path, sizeof(path), "%s/logs/%s.log", sv->state_dir, rb->id);
	rb->logfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	return rb;
}

void
rb_free(struct rollback *rb)
{
	if (rb == NULL)
		return;
	snapjob_cancel(rb->job);
	if (rb->job_ctx_free != NULL)
		rb->job_ctx_free(rb->job_ctx);
	if (rb->logfd != -1)
		close(rb->logfd);
	cJSON_Delete(rb->actions);
	free(rb);
}

void
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

void
rb_plan(struct rollback *rb, const char *action, const char *server,
    const char *snapshot, bool custom)
{
	cJSON	*a = cJSON_CreateObject();

	cJSON_AddStringToObject(a, "action", action);
	cJSON_AddStringToObject(a, "server", server);
	if (snapshot != NULL)
		cJSON_AddStringToObject(a, "snapshot", snapshot);
	cJSON_AddStringToObject(a, "status", "planned");
	if (custom)
		cJSON_AddBoolToObject(a, "custom", 1);
	cJSON_AddItemToArray(rb->actions, a);
}

void
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

void
rb_step_failed(struct rollback *rb, const struct event_origin *o,
    const char *step, const char *server, const char *why)
{
	rb_action(rb, step, server, "failed", why);
	events_emit(rb->sv, o, server, "rollback_action_failed", NULL, "%s",
	    why);
	if (rb->failure[0] == '\0')
		snprintf(rb->failure, sizeof(rb->failure), "%s", why);
}

cJSON *
rb_json(const struct rollback *rb)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", rb->id);
	cJSON_AddStringToObject(o, "deployment_id", rb->target);
	if (rb->back_to[0] != '\0')
		cJSON_AddStringToObject(o, "previous_deployment_id",
		    rb->back_to);
	if (rb->by_hand) {
		cJSON_AddBoolToObject(o, "by_hand", 1);
		cJSON_AddStringToObject(o, "rollback_deployment_id",
		    rb->carrier);
	}
	cJSON_AddStringToObject(o, "strategy",
	    rollback_strategy_name(rb->strategy));
	cJSON_AddStringToObject(o, "state", state_names[rb->state]);
	cJSON_AddStringToObject(o, "reason", rb->reason);
	cJSON_AddStringToObject(o, "started_at", rb->started_at);
	if (rb->finished_at[0] != '\0')
		cJSON_AddStringToObject(o, "finished_at", rb->finished_at);
	if (rb->failure[0] != '\0')
		cJSON_AddStringToObject(o, "failure", rb->failure);
	cJSON_AddItemToObject(o, "actions", cJSON_Duplicate(rb->actions, 1));
	return o;
}

cJSON *
rb_summary(const struct rollback *rb)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", rb->id);
	cJSON_AddStringToObject(o, "state", state_names[rb->state]);
	cJSON_AddStringToObject(o, "strategy",
	    rollback_strategy_name(rb->strategy));
	return o;
}

void
rb_write(const struct rollback *rb)
{
	events_write_record(rb->sv, "rollbacks", rb->id, rb_json(rb));
}
