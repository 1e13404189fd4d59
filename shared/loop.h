/*
 * The event loop of every process but the monitor (whose loop is
 * libwebsockets'): one epoll set, one timerfd behind a heap of timers,
 * and a list of work deferred to the end of the current batch. Owners
 * embed a watcher (a descriptor and its callback), a timer or a deferral
 * in their own structure; the loop never allocates for them, except the
 * heap's array.
 */
#ifndef MCPVISOR_LOOP_H
#define MCPVISOR_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watcher;
typedef void watcher_fn(struct watcher *, uint32_t events);

/* An owner that stops watching sets fd to -1 (after loop_del and
 * close): an event of the same batch still queued for it is then not
 * delivered. */
struct watcher {
	int		 fd;
	watcher_fn	*fn;
};

struct loop_timer;
typedef void timer_fn(struct loop_timer *);

struct loop_timer {
	uint64_t	 at;		/* CLOCK_MONOTONIC, ms */
	size_t		 slot;		/* index in the heap + 1; 0: idle */
	timer_fn	*fn;
};

/* Work for the end of the batch: typically freeing what an event of the
 * batch may still name. */
struct loop_deferred;
typedef void deferred_fn(struct loop_deferred *);

struct loop_deferred {
	struct loop_deferred	*next;
	deferred_fn		*fn;
	bool			 queued;
};

struct loop {
	int			 epfd;
	int			 timerfd;
	struct watcher		 timer_watch;
	struct loop_timer	**heap;
	size_t			 ntimers;
	size_t			 cap;
	uint64_t		 armed;	/* deadline set on the timerfd */
	struct loop_deferred	*deferred;
};

/* 0 or a negative errno. */
int		loop_init(struct loop *);
/* Runs what was deferred, then closes the loop's own descriptors. */
void		loop_free(struct loop *);
/* Watches w->fd for events, calling w->fn. 0 or a negative errno. */
int		loop_add(struct loop *, struct watcher *, uint32_t events);
int		loop_mod(struct loop *, struct watcher *, uint32_t events);
/* Stops watching w->fd (the caller closes it and sets w->fd = -1). */
void		loop_del(struct loop *, struct watcher *);
/* Blocks the signals of set, and delivers them through a signalfd that
 * w watches (w->fd is the signalfd; the caller reads it in fn). 0 or a
 * negative errno. */
int		loop_add_signals(struct loop *, struct watcher *,
		    const sigset_t *, watcher_fn *);
/* (Re)arms t to fire after ms; t->fn must be set. 0 or -ENOMEM. */
int		loop_timer_set(struct loop *, struct loop_timer *, uint64_t ms);
void		loop_timer_cancel(struct loop *, struct loop_timer *);
bool		loop_timer_pending(const struct loop_timer *);
/* Calls d->fn once the current batch of events is dispatched (at once,
 * if nothing is being dispatched, on the next loop_once). Queuing a
 * deferral that is queued already changes nothing. */
void		loop_defer(struct loop *, struct loop_deferred *,
		    deferred_fn *);
/* Takes d off the list, if it is on it (its owner is going away). */
void		loop_undefer(struct loop *, struct loop_deferred *);
/* Waits for events (at most timeout_ms, -1: forever), dispatches them and
 * every due timer, then runs what was deferred. Returns 0 (EINTR
 * included) or the negative errno of epoll_wait. */
int		loop_once(struct loop *, int timeout_ms);

#endif
