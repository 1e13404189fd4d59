/*
 * Usage samples: the server's process tree's CPU and memory, sent to the
 * root every usage_interval_ms while a monitor wants them. The first
 * sample of a server (or of a restarted one) only sets the base its CPU
 * share is measured from.
 */
#include <cjson/cJSON.h>

#include "frame.h"
#include "procstat.h"
#include "util.h"
#include "worker.h"

static void
on_usage_timer(struct loop_timer *t)
{
	struct worker		*w = container_of(t, struct worker, usage_timer);
	struct proc_usage	 u;
	uint64_t		 now = mono_ms();
	cJSON			*o;

	loop_timer_set(&w->loop, &w->usage_timer, w->usage_interval_ms);
	if (w->child.pid <= 0 || (w->state != S_STARTED &&
	    w->state != S_READY) || proc_tree_usage(w->child.pid, &u) < 0)
		return;
	if (w->usage_pid == w->child.pid) {
		o = cJSON_CreateObject();
		/* a tenth of a percent is all a sample can tell */
		cJSON_AddNumberToObject(o, "cpu_percent", (double)(long long)(
		    proc_cpu_percent(&w->usage_prev, &u, now -
		    w->usage_prev_ms) * 10 + 0.5) / 10);
		cJSON_AddNumberToObject(o, "rss_bytes", (double)u.rss_bytes);
		cJSON_AddNumberToObject(o, "processes", u.processes);
		cJSON_AddNumberToObject(o, "interval_ms",
		    (double)(now - w->usage_prev_ms));
		worker_send_json(w, FRAME_USAGE, o);
	}
	w->usage_prev = u;
	w->usage_pid = w->child.pid;
	w->usage_prev_ms = now;
}

void
usage_start(struct worker *w)
{
	if (w->usage_interval_ms == 0)
		return;
	w->usage_timer.fn = on_usage_timer;
	loop_timer_set(&w->loop, &w->usage_timer, w->usage_interval_ms);
}
