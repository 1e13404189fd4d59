/*
 * mcpvisord's event loop: one epoll set, one timerfd behind a heap of
 * timers. Owners embed a watcher (a descriptor and its callback) or a
 * timer in their own structure; the loop never allocates for them.
 */
#ifndef MCPVISOR_LOOP_H
#define MCPVISOR_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watcher;
typedef void watcher_fn(struct watcher *, uint32_t events);

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

struct loop {
	int			 epfd;
	int			 timerfd;
	struct watcher		 timer_watch;
	struct loop_timer	**heap;
	size_t			 ntimers;
	size_t			 cap;
	uint64_t		 armed;	/* deadline set on the timerfd */
};

int		loop_init(struct loop *);
void		loop_free(struct loop *);
/* Watches w->fd for events, calling w->fn. 0 or a negative errno. */
int		loop_add(struct loop *, struct watcher *, uint32_t events);
int		loop_mod(struct loop *, struct watcher *, uint32_t events);
void		loop_del(struct loop *, struct watcher *);
/* (Re)arms t to fire after ms; t->fn must be set. 0 or -ENOMEM. */
int		loop_timer_set(struct loop *, struct loop_timer *, uint64_t ms);
void		loop_timer_cancel(struct loop *, struct loop_timer *);
bool		loop_timer_pending(const struct loop_timer *);
/* Waits for events (at most timeout_ms, -1: forever) and dispatches them
 * and every due timer. Returns 0 or a negative errno. */
int		loop_once(struct loop *, int timeout_ms);
uint64_t	loop_now_ms(void);

#endif
