/* Tests of shared/loop.c: the timer heap (order, cancel, re-arm, many
 * timers), deferred work, a watcher stopped within a batch, and signals
 * through the signalfd. Real descriptors and real time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

struct tick {
	struct loop_timer	 t;
	int			 id;
	int			*order;
	size_t			*n;
	uint64_t		 fired_ms;
};

static void
on_tick(struct loop_timer *t)
{
	struct tick	*k = container_of(t, struct tick, t);

	k->order[(*k->n)++] = k->id;
	k->fired_ms = mono_ms();
}

static void
run_until(struct loop *l, const size_t *n, size_t want, unsigned ms)
{
	uint64_t	end = mono_ms() + ms;

	while (*n < want && mono_ms() < end)
		assert_int_equal(loop_once(l, 20), 0);
}

static void
test_timers_fire_in_deadline_order(void **state)
{
	struct loop	 l;
	struct tick	 k[5];
	int		 order[5];
	size_t		 n = 0;
	const unsigned	 ms[5] = { 50, 10, 40, 20, 30 };

	(void)state;
	assert_int_equal(loop_init(&l), 0);
	for (int i = 0; i < 5; i++) {
		k[i] = (struct tick){ .t.fn = on_tick, .id = i, .order = order,
		    .n = &n };
		assert_int_equal(loop_timer_set(&l, &k[i].t, ms[i]), 0);
	}
	run_until(&l, &n, 5, 2000);
	assert_int_equal(n, 5);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 3);
	assert_int_equal(order[2], 4);
	assert_int_equal(order[3], 2);
	assert_int_equal(order[4], 0);
	for (int i = 0; i < 5; i++)
		assert_false(loop_timer_pending(&k[i].t));
	loop_free(&l);
}

static void
test_cancel_and_rearm(void **state)
{
	struct loop	 l;
	struct tick	 a, b, c;
	int		 order[3];
	size_t		 n = 0;
	uint64_t	 t0 = mono_ms();

	(void)state;
	assert_int_equal(loop_init(&l), 0);
	a = (struct tick){ .t.fn = on_tick, .id = 1, .order = order, .n = &n };
	b = (struct tick){ .t.fn = on_tick, .id = 2, .order = order, .n = &n };
	c = (struct tick){ .t.fn = on_tick, .id = 3, .order = order, .n = &n };
	loop_timer_set(&l, &a.t, 10);
	loop_timer_set(&l, &b.t, 20);
	loop_timer_set(&l, &c.t, 30);
	/* the earliest cancelled, a later one brought forward */
	loop_timer_cancel(&l, &a.t);
	assert_false(loop_timer_pending(&a.t));
	loop_timer_set(&l, &c.t, 5);
	/* cancelling what is not set changes nothing */
	loop_timer_cancel(&l, &a.t);
	run_until(&l, &n, 2, 2000);
	assert_int_equal(n, 2);
	assert_int_equal(order[0], 3);
	assert_int_equal(order[1], 2);
	assert_true(c.fired_ms - t0 >= 5);
	assert_true(b.fired_ms - t0 >= 20);
	/* nothing else fires */
	assert_int_equal(loop_once(&l, 50), 0);
	assert_int_equal(n, 2);
	loop_free(&l);
}

/* Many timers set and cancelled at random keep the heap sound: every
 * one left fires once, in order. */
static void
test_heap_holds_under_churn(void **state)
{
	enum { N = 300 };
	struct loop	 l;
	struct tick	*k = calloc(N, sizeof(*k));
	int		*order = calloc(N, sizeof(int));
	bool		 live[N] = { false };
	size_t		 n = 0, want = 0;
	uint64_t	 rng = 7;

	(void)state;
	assert_int_equal(loop_init(&l), 0);
	for (int i = 0; i < N; i++)
		k[i] = (struct tick){ .t.fn = on_tick, .id = i, .order = order,
		    .n = &n };
	for (int step = 0; step < 3000; step++) {
		int	i;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		i = (int)(rng % N);
		if (rng & 0x10000) {
			loop_timer_set(&l, &k[i].t, 20 + (rng >> 20) % 80);
			live[i] = true;
		} else {
			loop_timer_cancel(&l, &k[i].t);
			live[i] = false;
		}
	}
	for (int i = 0; i < N; i++)
		want += live[i];
	run_until(&l, &n, want, 3000);
	assert_int_equal(n, want);
	for (size_t i = 0; i + 1 < n; i++)
		assert_true(k[order[i]].t.at <= k[order[i + 1]].t.at);
	loop_free(&l);
	free(k);
	free(order);
}

struct watched {
	struct watcher		 w;
	struct watched		*other;
	struct loop		*l;
	int			 calls;
};

static void
on_readable(struct watcher *w, uint32_t events)
{
	struct watched	*me = container_of(w, struct watched, w);
	char		 c;

	(void)events;
	me->calls++;
	assert_int_equal(read(w->fd, &c, 1), 1);
	/* the first to run stops the other, whose event is in this batch */
	if (me->other->w.fd >= 0) {
		loop_del(me->l, &me->other->w);
		close(me->other->w.fd);
		me->other->w.fd = -1;
	}
}

static void
test_watcher_stopped_within_its_batch_hears_nothing(void **state)
{
	struct loop	 l;
	struct watched	 a = { 0 }, b = { 0 };
	int		 pa[2], pb[2];

	(void)state;
	assert_int_equal(loop_init(&l), 0);
	assert_int_equal(pipe(pa), 0);
	assert_int_equal(pipe(pb), 0);
	a = (struct watched){ { pa[0], on_readable }, &b, &l, 0 };
	b = (struct watched){ { pb[0], on_readable }, &a, &l, 0 };
	assert_int_equal(loop_add(&l, &a.w, EPOLLIN), 0);
	assert_int_equal(loop_add(&l, &b.w, EPOLLIN), 0);
	assert_int_equal(write(pa[1], "x", 1), 1);
	assert_int_equal(write(pb[1], "x", 1), 1);
	assert_int_equal(loop_once(&l, 1000), 0);
	assert_int_equal(a.calls + b.calls, 1);
	if (a.w.fd >= 0) {
		loop_del(&l, &a.w);
		close(a.w.fd);
	}
	if (b.w.fd >= 0) {
		loop_del(&l, &b.w);
		close(b.w.fd);
	}
	close(pa[1]);
	close(pb[1]);
	loop_free(&l);
}

struct later {
	struct loop_deferred	 d;
	int			*log;
	size_t			*n;
	int			 id;
};

static void
on_later(struct loop_deferred *d)
{
	struct later	*x = container_of(d, struct later, d);

	x->log[(*x->n)++] = x->id;
}

static void
test_deferred_runs_once_in_order(void **state)
{
	struct loop	 l;
	struct later	 a, b, c;
	int		 log[4];
	size_t		 n = 0;

	(void)state;
	assert_int_equal(loop_init(&l), 0);
	a = (struct later){ .log = log, .n = &n, .id = 1 };
	b = (struct later){ .log = log, .n = &n, .id = 2 };
	c = (struct later){ .log = log, .n = &n, .id = 3 };
	loop_defer(&l, &a.d, on_later);
	loop_defer(&l, &b.d, on_later);
	loop_defer(&l, &a.d, on_later);	/* queued already: once */
	loop_defer(&l, &c.d, on_later);
	loop_undefer(&l, &c.d);		/* its owner went away */
	assert_int_equal(loop_once(&l, 0), 0);
	assert_int_equal(n, 2);
	assert_int_equal(log[0], 1);
	assert_int_equal(log[1], 2);
	assert_int_equal(loop_once(&l, 0), 0);
	assert_int_equal(n, 2);
	loop_free(&l);
}

static int	signals_heard;

static void
on_signal(struct watcher *w, uint32_t events)
{
	struct signalfd_siginfo	si;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		if (si.ssi_signo == SIGUSR1)
			signals_heard++;
}

static void
test_signals_arrive_through_the_loop(void **state)
{
	struct loop	 l;
	struct watcher	 sw;
	sigset_t	 set;

	(void)state;
	assert_int_equal(loop_init(&l), 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	assert_int_equal(loop_add_signals(&l, &sw, &set, on_signal), 0);
	kill(getpid(), SIGUSR1);
	for (int i = 0; i < 50 && signals_heard == 0; i++)
		assert_int_equal(loop_once(&l, 20), 0);
	assert_int_equal(signals_heard, 1);
	loop_del(&l, &sw);
	close(sw.fd);
	loop_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_fire_in_deadline_order),
		cmocka_unit_test(test_cancel_and_rearm),
		cmocka_unit_test(test_heap_holds_under_churn),
		cmocka_unit_test(
		    test_watcher_stopped_within_its_batch_hears_nothing),
		cmocka_unit_test(test_deferred_runs_once_in_order),
		cmocka_unit_test(test_signals_arrive_through_the_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
