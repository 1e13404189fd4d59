/*
 * epoll plus an indexed binary heap of timers: setting, cancelling and
 * firing a timer are O(log n), and the timerfd always holds the earliest
 * deadline, so an idle supervisor sleeps until something is due.
 */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

uint64_t
loop_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

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

	if (at == l->armed)
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
	struct loop	*l = (struct loop *)((char *)w -
			    offsetof(struct loop, timer_watch));
	uint64_t	 expirations, now = loop_now_ms();

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
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -errno;
	if ((l->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1)
		return -errno;
	l->timer_watch.fd = l->timerfd;
	l->timer_watch.fn = on_timerfd;
	return loop_add(l, &l->timer_watch, EPOLLIN);
}

void
loop_free(struct loop *l)
{
	if (l->timerfd > 0)
		close(l->timerfd);
	if (l->epfd > 0)
		close(l->epfd);
	free(l->heap);
	memset(l, 0, sizeof(*l));
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

bool
loop_timer_pending(const struct loop_timer *t)
{
	return t->slot != 0;
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
	t->at = loop_now_ms() + ms;
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

	if ((n = epoll_wait(l->epfd, evs, 64, timeout_ms)) == -1)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct watcher	*w = evs[i].data.ptr;

		w->fn(w, evs[i].events);
	}
	return 0;
}
