/*
 * A generator of synthetic events, for measuring the event path (the
 * control socket, the monitor, its WebSocket clients) and nothing else.
 * Test builds only (MCPVISOR_SYNTHETIC_EVENTS): a daemon built for
 * production has no such verb.
 *
 *	{"verb": "synthetic_events", "count": N, "rate": R, "follow": B}
 *
 * emits N events (event_type "synthetic"), R per second (0: all at once,
 * a loop turn each thousand), to whoever follows or watches; they are
 * not journalled. Each carries its emission time (details.emitted_ns,
 * CLOCK_REALTIME) and index.
 */
#ifndef MCPVISOR_SYNTHETIC_H
#define MCPVISOR_SYNTHETIC_H

#include <stdint.h>

#include "loop.h"

struct control;
struct supervisor;

struct synthetic {
	struct supervisor	*sv;
	uint64_t		 left;
	uint64_t		 next;
	unsigned		 rate;
	uint64_t		 started_ms;
	struct loop_timer	 timer;
};

/* Adds the verb to ctl; sy is the caller's (it outlives ctl). */
void	synthetic_register(struct control *, struct supervisor *,
	    struct synthetic *sy);
void	synthetic_stop(struct synthetic *);

#endif
