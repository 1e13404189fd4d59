/*
 * Runs and attempts, beneath every type of check: an attempt is bounded
 * by its check's timeout (a loop timer), a failed one is followed by
 * another after an exponential back-off with jitter until the retries
 * are spent, and a finished run hands its result to the engine's
 * caller. Liveness repeats single attempts at the check's interval.
 */
#include "health_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util.h"

#define BACKOFF_BASE_MS		500
#define BACKOFF_MAX_MS		10000

cJSON *
check_details(struct check *c)
{
	if (c->details == NULL)
		c->details = cJSON_CreateObject();
	return c->details;
}

void
check_abort(struct check *c)
{
	c->ops->abort(c);
	c->deadline_ms = 0;
	loop_timer_cancel(c->h->loop, &c->deadline);
}

static void
on_deadline(struct loop_timer *t)
{
	struct check	*c = container_of(t, struct check, deadline);

	if (c->ops->expire != NULL)
		c->ops->expire(c);
	else
		check_finish(c, false, "no answer within %u ms", c->timeout_ms);
}

static void
on_wake(struct loop_timer *t)
{
	struct check	*c = container_of(t, struct check, wake);

	if (!c->running) {
		c->running = true;
		c->phase = HEALTH_LIVENESS;
		c->attempt = 0;
	}
	attempt_start(c);
}

void
check_timers_init(struct check *c)
{
	c->deadline.fn = on_deadline;
	c->wake.fn = on_wake;
}

void
attempt_start(struct check *c)
{
	uint64_t	now = mono_us();

	c->attempt++;
	loop_timer_cancel(c->h->loop, &c->wake);
	c->started_us = now;
	c->deadline_ms = now / 1000 + c->timeout_ms;
	loop_timer_set(c->h->loop, &c->deadline, c->timeout_ms);
	c->response_ms = -1;
	c->message[0] = '\0';
	cJSON_Delete(c->details);
	c->details = NULL;
	c->ops->start(c);
}

void
check_finish(struct check *c, bool healthy, const char *fmt, ...)
{
	struct health		*h = c->h;
	struct health_result	 res;
	uint64_t		 now = mono_us();
	va_list			 ap;

	if (!c->running)
		return;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
	check_abort(c);
	if (c->response_ms < 0)
		c->response_ms = (double)(now - c->started_us) / 1000.0;
	if (c->phase == HEALTH_LIVENESS)
		c->consecutive = healthy ? 0 : c->consecutive + 1;
	else if (!healthy && c->attempt <= c->retries) {
		/* another attempt, after a pause */
		loop_timer_set(h->loop, &c->wake, backoff_jitter_ms(
		    BACKOFF_BASE_MS, BACKOFF_MAX_MS, c->attempt, &h->rng));
		return;
	}
	c->running = false;
	if (h->liveness && !c->readiness_only)
		loop_timer_set(h->loop, &c->wake, c->interval_ms);
	res = (struct health_result){
		.check = c->name, .type = c->type_name, .phase = c->phase,
		.healthy = healthy, .critical = c->critical,
		.attempts = c->attempt,
		.consecutive_failures = c->consecutive,
		.failure_threshold = c->threshold,
		.response_ms = c->response_ms, .message = c->message,
		.details = c->details,
	};
	h->done(h->arg, c->index, &res);
}

cJSON *
health_result_json(const struct health_result *r)
{
	cJSON	*o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "check", r->check);
	cJSON_AddStringToObject(o, "type", r->type);
	cJSON_AddStringToObject(o, "phase", r->phase == HEALTH_LIVENESS ?
	    "liveness" : r->phase == HEALTH_ONCE ? "once" : "readiness");
	cJSON_AddBoolToObject(o, "healthy", r->healthy);
	cJSON_AddBoolToObject(o, "critical", r->critical);
	cJSON_AddNumberToObject(o, "attempts", r->attempts);
	cJSON_AddNumberToObject(o, "consecutive_failures",
	    r->consecutive_failures);
	cJSON_AddNumberToObject(o, "failure_threshold", r->failure_threshold);
	/* microseconds are noise in a record */
	cJSON_AddNumberToObject(o, "response_ms",
	    (double)(long long)(r->response_ms * 1000) / 1000);
	cJSON_AddStringToObject(o, "message", r->message);
	if (r->details != NULL)
		cJSON_AddItemToObject(o, "details",
		    cJSON_Duplicate(r->details, 1));
	return o;
}

bool
check_mcp_result(struct check *c, const struct mcp_session *s)
{
	const struct mcp_result	*r = mcp_session_result(s);
	const cJSON		*want = cJSON_GetObjectItem(c->config,
				    "expected_tools"), *t;
	cJSON			*d = check_details(c);

	cJSON_AddStringToObject(d, "protocol_version", r->protocol_version);
	cJSON_AddStringToObject(d, "server_name", r->server_name);
	cJSON_AddStringToObject(d, "server_version", r->server_version);
	if (r->tools != NULL) {
		cJSON	*names = cJSON_AddArrayToObject(d, "tools");

		cJSON_AddNumberToObject(d, "tool_count", (double)r->ntools);
		for (size_t i = 0; i < r->ntools; i++)
			cJSON_AddItemToArray(names,
			    cJSON_CreateString(r->tools[i]));
	}
	cJSON_ArrayForEach(t, want) {
		if (!cJSON_IsString(t) || mcp_session_has_tool(s,
		    t->valuestring))
			continue;
		snprintf(c->message, sizeof(c->message), "%s lists no tool "
		    "'%s'", r->server_name[0] != '\0' ? r->server_name :
		    "the server", t->valuestring);
		return false;
	}
	return true;
}
