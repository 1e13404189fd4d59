#include "synthetic.h"

#include <time.h>

#include <cjson/cJSON.h>

#include "control.h"
#include "events.h"
#include "supervisor.h"
#include "util.h"

static void
emit(struct synthetic *sy)
{
	struct timespec	 ts;
	cJSON		*ev = cJSON_CreateObject(), *d;

	clock_gettime(CLOCK_REALTIME, &ts);
	cJSON_AddStringToObject(ev, "event_type", "synthetic");
	cJSON_AddStringToObject(ev, "message", "synthetic event");
	d = cJSON_AddObjectToObject(ev, "details");
	cJSON_AddNumberToObject(d, "index", (double)sy->next++);
	cJSON_AddNumberToObject(d, "emitted_ns", (double)ts.tv_sec * 1e9 +
	    (double)ts.tv_nsec);
	events_broadcast(sy->sv, ev);
	cJSON_Delete(ev);
	sy->left--;
}

/* Emits what is due by now at the rate asked for, then waits a
 * millisecond: the loop serves everything else in between. */
static void
on_timer(struct loop_timer *t)
{
	struct synthetic	*sy = container_of(t, struct synthetic, timer);
	uint64_t		 target = (mono_ms() - sy->started_ms) *
				    sy->rate / 1000 + 1;
	uint64_t		 due = sy->rate == 0 ? 1000 : target > sy->next ?
				    target - sy->next : 0;

	while (due-- > 0 && sy->left > 0)
		emit(sy);
	if (sy->left > 0)
		loop_timer_set(&sy->sv->loop, &sy->timer, sy->rate == 0 ? 0 :
		    1);
}

static void
do_synthetic(struct client *c, const cJSON *rq, void *arg)
{
	struct synthetic	*sy = arg;
	const cJSON		*n = cJSON_GetObjectItem(rq, "count");
	const cJSON		*rate = cJSON_GetObjectItem(rq, "rate");

	if (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > 1e8 ||
	    (rate != NULL && (!cJSON_IsNumber(rate) || rate->valuedouble < 0 ||
	    rate->valuedouble > 1e7))) {
		client_error(c, "usage", "synthetic_events needs a 'count' "
		    "(1 to 1e8) and may take a 'rate' per second");
		return;
	}
	if (sy->left > 0) {
		client_error(c, "busy", "synthetic events are being emitted");
		return;
	}
	sy->left = (uint64_t)n->valuedouble;
	sy->next = 0;
	sy->rate = rate != NULL ? (unsigned)rate->valuedouble : 0;
	sy->started_ms = mono_ms();
	loop_timer_set(&sy->sv->loop, &sy->timer, 0);
	/* the asker hears them too, if it wants */
	if (cJSON_IsTrue(cJSON_GetObjectItem(rq, "follow")))
		control_watch(c);
	client_ok(c, cJSON_CreateObject());
}

void
synthetic_register(struct control *ctl, struct supervisor *sv,
    struct synthetic *sy)
{
	sy->sv = sv;
	sy->timer.fn = on_timer;
	static const struct request_key keys[] = {
		{ "count", RQ_NUMBER, true }, { "rate", RQ_NUMBER, false },
		{ "follow", RQ_BOOL, false }, { NULL, RQ_STRING, false },
	};

	control_add_verb(ctl, "synthetic_events", keys, do_synthetic, sy);
}

void
synthetic_stop(struct synthetic *sy)
{
	if (sy->sv != NULL)
		loop_timer_cancel(&sy->sv->loop, &sy->timer);
}
