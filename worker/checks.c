/*
 * Health checks in the worker. Once the server is up by its own
 * readiness, every check runs; the server is ready when all critical
 * ones pass, and its attempt failed when one does not. From then on the
 * checks repeat as liveness checks: failure_threshold failures in a row
 * of a critical one restart the server per its policy. Checks share the
 * worker's loop.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "frame.h"
#include "health.h"
#include "log.h"
#include "runspec.h"
#include "worker.h"

static void	on_check_done(void *, size_t, const struct health_result *);

/* Loaded before the sandbox closes: libcurl is read from disk here,
 * while every path is still reachable. */
int
checks_setup(struct worker *w, const cJSON *list, struct errbuf *err)
{
	const cJSON	*c;
	int		 r;

	if (cJSON_GetArraySize(list) == 0)
		return 0;
	if ((w->health = health_new(&w->loop, on_check_done, w)) == NULL ||
	    (w->verdicts = malloc((size_t)cJSON_GetArraySize(list))) ==
	    NULL) {
		errbuf_set(err, "health checks: %s", strerror(errno));
		return -ENOMEM;
	}
	memset(w->verdicts, -1, (size_t)cJSON_GetArraySize(list));
	cJSON_ArrayForEach(c, list)
		if ((r = health_add(w->health, c, err)) < 0)
			return r;
	if (health_wants_stdio(w->health) && w->run->transport != RUN_STDIO) {
		errbuf_set(err, "an MCP check over stdio, but the server's "
		    "transport is not stdio");
		return -EINVAL;
	}
	return 0;
}

void
checks_readiness(struct worker *w)
{
	w->check_failure[0] = '\0';
	w->checks_pending = health_count(w->health);
	/* a check may finish inside health_run (file_system does), and a
	 * failed one may end the attempt: then the rest are not started */
	for (size_t i = 0; i < health_count(w->health) &&
	    w->checks_pending > 0 && w->state == S_STARTED; i++)
		health_run(w->health, i, HEALTH_READINESS);
}

void
checks_stop(struct worker *w, const char *why)
{
	if (w->health == NULL)
		return;
	health_liveness(w->health, false);
	health_cancel(w->health);
	health_detach_stdio(w->health, why);
	w->checks_pending = 0;
}

static void
send_health(struct worker *w, const struct health_result *r, bool restart)
{
	cJSON	*o = health_result_json(r);

	if (o == NULL)
		return;
	if (restart)
		cJSON_AddStringToObject(o, "action", "restart");
	worker_send_json(w, FRAME_HEALTH, o);
}

static void
on_liveness(struct worker *w, const struct health_result *r, bool changed)
{
	bool	restart = !r->healthy && r->critical &&
		    r->failure_threshold > 0 &&
		    r->consecutive_failures >= r->failure_threshold;
	char	reason[700];

	/* a steady healthy server sends nothing */
	if (changed || !r->healthy)
		send_health(w, r, restart);
	if (!restart || w->state != S_READY)
		return;
	log_warnx("%s: health check '%s' failed %u times in a row: %s",
	    w->name, r->check, r->consecutive_failures, r->message);
	if (w->run->restart == RUN_RESTART_NEVER) {
		snprintf(reason, sizeof(reason), "health check '%s' failed %u "
		    "times in a row: %s", r->check, r->consecutive_failures,
		    r->message);
		worker_send_failed(w, "unhealthy", reason, 0);
		w->exit_status = EXIT_TEMPFAIL;
		server_stop(w);
		return;
	}
	server_restart_unhealthy(w);
}

static void
on_check_done(void *arg, size_t i, const struct health_result *r)
{
	struct worker	*w = arg;
	bool		 changed = w->verdicts[i] != (signed char)r->healthy;

	w->verdicts[i] = (signed char)r->healthy;
	if (r->phase == HEALTH_LIVENESS) {
		on_liveness(w, r, changed);
		return;
	}
	send_health(w, r, false);
	if (!r->healthy && r->critical && w->check_failure[0] == '\0')
		snprintf(w->check_failure, sizeof(w->check_failure),
		    "health check '%s' failed after %u attempts: %s",
		    r->check, r->attempts, r->message);
	if (w->checks_pending == 0 || --w->checks_pending > 0 ||
	    w->state != S_STARTED)
		return;
	if (w->check_failure[0] == '\0') {
		server_ready(w);
		return;
	}
	if (w->ever_ready) {
		/* a supervised server back from a restart: failing its checks
		 * is one more death, counted toward the crash loop */
		log_warnx("%s: %s", w->name, w->check_failure);
		server_restart_unhealthy(w);
		return;
	}
	/* not ready: the root counts this attempt as failed */
	worker_send_failed(w, "health", w->check_failure, 0);
	w->exit_status = EXIT_TEMPFAIL;
	w->ever_ready = false;
	w->run->restart = RUN_RESTART_NEVER;
	server_stop(w);
}
