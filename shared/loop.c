/*
 * epoll plus an indexed binary heap of timers: setting, cancelling and
 * firing a timer are O(log n), and the timerfd always holds the earliest
 * deadline, so an idle process sleeps until something is due.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void
heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer	*t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->slot = a + 1;
	l->heap[b]->slot = b + 1;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i > 0 && l->heap[(i - 1) / 2]->at > l->heap[i]->at) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t	least = i, c;

		for (c = 2 * i + 1; c <= 2 * i + 2 && c < l->ntimers; c++)
			if (l->heap[c]->at < l->heap[least]->at)
				least = c;
		if (least == i)
			return;
		heap_swap(l, i, least);
		i = least;
	}
}

static void
rearm(struct loop *l)
{
	struct itimerspec	its = { 0 };
	uint64_t		at = l->ntimers > 0 ? l->heap[0]->at : 0;

	/* a later deadline than the armed one leaves the timerfd as it is:
	 * it fires early, finds nothing due and is armed again.
	 * Reprogramming is a system call (in a virtual machine, an exit to
	 * the hypervisor) that a hundred checks in flight would otherwise
	 * pay at every start and end. With no timer left it is disarmed,
	 * so that an idle process is never woken. */
	if (at == l->armed || (at != 0 && l->armed != 0 && at > l->armed))
		return;
	l->armed = at;
	if (at > 0) {
		its.it_value.tv_sec = (time_t)(at / 1000);
		its.it_value.tv_nsec = (long)(at % 1000) * 1000000;
	}
	timerfd_settime(l->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void
on_timerfd(struct watcher *w, uint32_t events)
{
	struct loop	*l = container_of(w, struct loop, timer_watch);
	uint64_t	 expirations, now = mono_ms();

	(void)events;
	if (read(l->timerfd, &expirations, sizeof(expirations)) == -1 &&
	    errno != EAGAIN)
		return;
	l->armed = 0;
	while (l->ntimers > 0 && l->heap[0]->at <= now) {
		struct loop_timer	*t = l->heap[0];

		loop_timer_cancel(l, t);
		t->fn(t);
	}
	rearm(l);
}

int
loop_init(struct loop *l)
{
	memset(l, 0, sizeof(*l));
	l->epfd = l->timerfd = -1;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -errno;
	if ((l->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1)
		return -errno;
	l->timer_watch.fd = l->timerfd;
	l->timer_watch.fn = on_timerfd;
	return loop_add(l, &l->timer_watch, EPOLLIN);
}

static void
run_deferred(struct loop *l)
{
	struct loop_deferred	*d;

	while ((d = l->deferred) != NULL) {
		l->deferred = d->next;
		d->next = NULL;
		d->queued = false;
		d->fn(d);
	}
}

void
loop_free(struct loop *l)
{
	run_deferred(l);
	if (l->timerfd >= 0)
		close(l->timerfd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l->heap);
	memset(l, 0, sizeof(*l));
	l->epfd = l->timerfd = -1;
}

int
loop_add(struct loop *l, struct watcher *w, uint32_t events)
{
	struct epoll_event	ev = { .events = events, .data.ptr = w };

	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) == -1 ? -errno : 0;
}

int
loop_mod(struct loop *l, struct watcher *w, uint32_t events)
{
	struct epoll_event	ev = { .events = events, .data.ptr = w };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) == -1 ? -errno : 0;
}

void
loop_del(struct loop *l, struct watcher *w)
{
	if (w->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

int
loop_add_signals(struct loop *l, struct watcher *w, const sigset_t *set,
    watcher_fn *fn)
{
	int	r;

	if (sigprocmask(SIG_BLOCK, set, NULL) == -1 ||
	    (w->fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		return -errno;
	w->fn = fn;
	if ((r = loop_add(l, w, EPOLLIN)) < 0) {
		close(w->fd);
		w->fd = -1;
	}
	return r;
}

void
loop_defer(struct loop *l, struct loop_deferred *d, deferred_fn *fn)
{
	struct loop_deferred	**pp = &l->deferred;

	if (d->queued)
		return;
	/* in order: what was deferred first runs first */
	while (*pp != NULL)
		pp = &(*pp)->next;
	d->fn = fn;
	d->next = NULL;
	d->queued = true;
	*pp = d;
}

bool
loop_timer_pending(const struct loop_timer *t)
{
	return t->slot != 0;
}

void
loop_undefer(struct loop *l, struct loop_deferred *d)
{
	struct loop_deferred	**pp = &l->deferred;

	if (!d->queued)
		return;
	while (*pp != NULL && *pp != d)
		pp = &(*pp)->next;
	if (*pp == d)
		*pp = d->next;
	d->next = NULL;
	d->queued = false;
}

int
loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t ms)
{
	loop_timer_cancel(l, t);
	if (l->ntimers == l->cap) {
		size_t			  cap = l->cap ? l->cap * 2 : 64;
		struct loop_timer	**h;

		if ((h = realloc(l->heap, cap * sizeof(*h))) == NULL)
			return -ENOMEM;
		l->heap = h;
		l->cap = cap;
	}
	t->at = mono_ms() + ms;
	l->heap[l->ntimers] = t;
	t->slot = ++l->ntimers;
	heap_up(l, l->ntimers - 1);
	rearm(l);
	return 0;
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	size_t	i;

	if (t->slot == 0)
		return;
	i = t->slot - 1;
	t->slot = 0;
	if (--l->ntimers != i) {
		l->heap[i] = l->heap[l->ntimers];
		l->heap[i]->slot = i + 1;
		heap_up(l, i);
		heap_down(l, i);
	}
	rearm(l);
}

int
loop_once(struct loop *l, int timeout_ms)
{
	struct epoll_event	evs[64];
	int			n;

	/* something deferred outside a batch runs now, before a wait */
	run_deferred(l);
	if ((n = epoll_wait(l->epfd, evs, 64, timeout_ms)) == -1)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct watcher	*w = evs[i].data.ptr;

		/* stopped watching earlier in this batch */
		if (w->fd >= 0)
			w->fn(w, evs[i].events);
	}
	run_deferred(l);
	return 0;
}
