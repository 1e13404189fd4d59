/* Tests of supervisor/server.c, the server machine: every cell of its
 * table is the action meant for it, and the transitions that need no
 * server behave as the table says (a real worker process is spawned for
 * an attempt; its frames are played as events). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"
#include "supervisor.h"
#include "workerproc.h"
#include "../shared/testutil.h"

/* The whole table, row by row: a change to a cell must be made here
 * too, on purpose. */
static const char *const expected[SR_N][SE_N] = {
	/* START HELLO SANDBOX STARTED READY HEALTH EXITED FAILED LOST
	 * READY_TIMEOUT RETRY STOP STOP_TIMEOUT ABANDON FINISHED PAUSED RESUMED */
	[SR_PENDING] = { "begin", "refuse", "refuse", "refuse", "refuse",
	    "refuse", "refuse", "refuse", "refuse", "refuse", "refuse",
	    "stop_idle", "ignore", "abandon", "refuse", "refuse", "refuse" },
	[SR_STARTING] = { "ignore", "ignore", "note_sandbox", "note_started",
	    "become_ready", "note_health", "exited_starting",
	    "failed_starting", "lost_starting", "ready_timeout", "refuse",
	    "stop_running", "ignore", "refuse", "refuse", "note_paused",
	    "note_resumed" },
	[SR_READY] = { "refuse", "ignore", "note_sandbox", "note_restarted",
	    "ready_again", "note_health", "note_exit", "failed_ready",
	    "lost_ready", "refuse", "refuse", "stop_running", "ignore",
	    "refuse", "finished", "note_paused", "note_resumed" },
	[SR_RETRY_WAIT] = { "begin", "refuse", "refuse", "refuse", "refuse",
	    "refuse", "refuse", "refuse", "refuse", "refuse", "begin",
	    "stop_idle", "ignore", "refuse", "refuse", "refuse", "refuse" },
	[SR_FAILED] = { "begin", "refuse", "refuse", "refuse", "refuse",
	    "refuse", "refuse", "refuse", "refuse", "refuse", "refuse",
	    "stop_idle", "ignore", "ignore", "refuse", "refuse", "refuse" },
	[SR_STOPPING] = { "ignore", "ignore", "note_sandbox", "note_pid",
	    "ignore", "note_health", "note_exit", "failed_stopping",
	    "lost_stopping", "refuse", "refuse", "ignore", "stop_timeout",
	    "refuse", "finished_stopping", "note_paused", "note_resumed" },
	[SR_STOPPED] = { "begin", "refuse", "refuse", "refuse", "refuse",
	    "refuse", "refuse", "refuse", "refuse", "refuse", "refuse",
	    "stop_idle", "ignore", "ignore", "refuse", "refuse", "refuse" },
	[SR_EXITED] = { "begin", "refuse", "refuse", "refuse", "refuse",
	    "refuse", "refuse", "refuse", "refuse", "refuse", "refuse",
	    "stop_idle", "ignore", "ignore", "refuse", "refuse", "refuse" },
};

static void
test_every_cell_acts_or_refuses_on_purpose(void **state)
{
	(void)state;
	for (int s = 0; s < SR_N; s++)
		for (int e = 0; e < SE_N; e++)
			if (strcmp(server_action_name((enum srv_state)s,
			    (enum srv_event)e), expected[s][e]) != 0)
				fail_msg("%s x %s: %s, not %s",
				    server_state_name((enum srv_state)s),
				    server_event_name((enum srv_event)e),
				    server_action_name((enum srv_state)s,
				    (enum srv_event)e), expected[s][e]);
}

struct rig {
	struct supervisor	 sv;
	struct server_owner	 owner;
	struct server_run	 sr;
	char			*dir;
	enum dep_note		 notes[16];
	size_t			 nnotes;
	char			 why[256];
};

static void
on_note(struct server_owner *o, struct server_run *sr, enum dep_note n,
    const char *why)
{
	struct rig	*r = (struct rig *)(void *)((char *)o -
			    offsetof(struct rig, owner));

	(void)sr;
	if (r->nnotes < 16)
		r->notes[r->nnotes++] = n;
	snprintf(r->why, sizeof(r->why), "%s", why != NULL ? why : "");
}

static void
rig_init(struct rig *r, bool deploying)
{
	memset(r, 0, sizeof(*r));
	r->dir = tu_tmpdir();
	/* a worker that exits at once: the frames are played here */
	assert_int_equal(runtime_init(&r->sv, r->dir, "/bin/cat"), 0);
	r->owner = (struct server_owner){ .sv = &r->sv, .deploying = deploying,
	    .note = on_note };
	r->owner.origin = (struct event_origin){ "deploy_test", -1 };
	server_init(&r->sr, &r->owner, NULL);
	r->sr.name = "s";
	r->sr.attempts_allowed = 2;
	r->sr.ready_timeout_s = 5;
	r->sr.stop_timeout_ms = 1000;
	r->sr.config_text = strdup("{}");
}

static void
rig_free(struct rig *r)
{
	server_clear(&r->sr);
	runtime_free(&r->sv);
	while (waitpid(-1, NULL, 0) > 0)
		;
	tu_rmtree(r->dir);
	free(r->dir);
}

static void
test_a_stop_before_any_attempt(void **state)
{
	struct rig	r;

	(void)state;
	rig_init(&r, true);
	server_event(&r.sr, SE_STOP, NULL);
	assert_int_equal(r.sr.state, SR_STOPPED);
	/* a failed server stays visibly failed */
	r.sr.state = SR_FAILED;
	server_event(&r.sr, SE_STOP, NULL);
	assert_int_equal(r.sr.state, SR_FAILED);
	assert_int_equal(r.nnotes, 0);
	rig_free(&r);
}

static void
test_abandoned_before_it_started(void **state)
{
	struct srv_input	in = { .why = "no snapshot of the running version" };
	struct rig		r;

	(void)state;
	rig_init(&r, true);
	server_event(&r.sr, SE_ABANDON, &in);
	assert_int_equal(r.sr.state, SR_FAILED);
	assert_int_equal(r.nnotes, 1);
	assert_int_equal(r.notes[0], DN_SERVER_FAILED);
	assert_string_equal(r.why, "no snapshot of the running version");
	assert_string_equal(r.sr.last_error, r.why);
	rig_free(&r);
}

static void
test_attempts_retried_while_deploying_then_failed(void **state)
{
	struct rig	r;

	(void)state;
	rig_init(&r, true);
	server_event(&r.sr, SE_START, NULL);
	assert_int_equal(r.sr.state, SR_STARTING);
	assert_int_equal(r.sr.attempts, 1);
	assert_non_null(r.sr.worker);
	assert_true(loop_timer_pending(&r.sr.ready_timer));
	server_event(&r.sr, SE_READY_TIMEOUT, NULL);
	assert_int_equal(r.sr.state, SR_RETRY_WAIT);
	assert_null(r.sr.worker);
	assert_true(loop_timer_pending(&r.sr.retry_timer));
	assert_string_equal(r.sr.last_error, "not ready within 5 s");
	server_event(&r.sr, SE_RETRY, NULL);
	assert_int_equal(r.sr.state, SR_STARTING);
	assert_int_equal(r.sr.attempts, 2);
	server_event(&r.sr, SE_READY_TIMEOUT, NULL);
	assert_int_equal(r.sr.state, SR_FAILED);
	assert_int_equal(r.nnotes, 1);
	assert_int_equal(r.notes[0], DN_SERVER_FAILED);
	rig_free(&r);
}

static void
test_a_ready_server_and_its_worker_crashes(void **state)
{
	struct srv_input	started = { .a = 4242 };
	struct srv_input	lost = { .why = "worker 1 died" };
	struct rig		r;

	(void)state;
	rig_init(&r, false);
	server_event(&r.sr, SE_START, NULL);
	server_event(&r.sr, SE_STARTED, &started);
	assert_int_equal(r.sr.server_pid, 4242);
	server_event(&r.sr, SE_READY, NULL);
	assert_int_equal(r.sr.state, SR_READY);
	assert_int_equal(r.nnotes, 2);
	assert_int_equal(r.notes[0], DN_SERVER_STARTED);
	assert_int_equal(r.notes[1], DN_SERVER_READY);
	/* supervised, not deploying: a crash is retried, counted */
	for (unsigned i = 1; i < WORKER_DEATHS_MAX; i++) {
		server_event(&r.sr, SE_LOST, &lost);
		assert_int_equal(r.sr.state, SR_RETRY_WAIT);
		server_event(&r.sr, SE_RETRY, NULL);
		server_event(&r.sr, SE_READY, NULL);
		assert_int_equal(r.sr.state, SR_READY);
	}
	/* ... until the tally says it is a crash loop */
	server_event(&r.sr, SE_LOST, &lost);
	assert_int_equal(r.sr.state, SR_FAILED);
	assert_int_equal(r.notes[r.nnotes - 1], DN_SERVER_FAILED);
	rig_free(&r);
}

static void
test_a_crash_while_deploying_fails_it(void **state)
{
	struct srv_input	lost = { .why = "worker 1 killed by signal 9" };
	struct rig		r;

	(void)state;
	rig_init(&r, true);
	server_event(&r.sr, SE_START, NULL);
	server_event(&r.sr, SE_READY, NULL);
	server_event(&r.sr, SE_LOST, &lost);
	assert_int_equal(r.sr.state, SR_FAILED);
	assert_int_equal(r.notes[r.nnotes - 1], DN_SERVER_FAILED);
	assert_string_equal(r.why, "worker 1 killed by signal 9");
	rig_free(&r);
}

static void
test_a_stop_of_a_running_server_waits_for_its_worker(void **state)
{
	struct srv_input	lost = { .why = "worker 1 exited with status 0" };
	struct rig		r;

	(void)state;
	rig_init(&r, false);
	server_event(&r.sr, SE_START, NULL);
	server_event(&r.sr, SE_READY, NULL);
	server_event(&r.sr, SE_STOP, NULL);
	assert_int_equal(r.sr.state, SR_STOPPING);
	/* a second stop changes nothing; the worker's end completes it */
	server_event(&r.sr, SE_STOP, NULL);
	assert_int_equal(r.sr.state, SR_STOPPING);
	server_event(&r.sr, SE_LOST, &lost);
	assert_int_equal(r.sr.state, SR_STOPPED);
	assert_int_equal(r.notes[r.nnotes - 1], DN_SERVER_STOPPED);
	rig_free(&r);
}

/* restart: never (or on-failure after a clean exit): the worker says
 * so, and its exit that follows is no crash */
static void
test_an_end_its_policy_allows_is_no_crash(void **state)
{
	struct srv_input	exited = { .a = 0, .b = 3 };
	struct rig		r;

	(void)state;
	rig_init(&r, false);
	server_event(&r.sr, SE_START, NULL);
	server_event(&r.sr, SE_READY, NULL);
	server_event(&r.sr, SE_EXITED, &exited);
	server_event(&r.sr, SE_FINISHED, &exited);
	assert_int_equal(r.sr.state, SR_EXITED);
	assert_null(r.sr.worker);
	assert_string_equal(r.sr.last_error, "exited with status 3");
	assert_string_equal(server_state_name(r.sr.state), "exited");
	/* stopping the deployment leaves it as it ended */
	server_event(&r.sr, SE_STOP, NULL);
	assert_int_equal(r.sr.state, SR_EXITED);
	assert_int_equal(r.sr.ncrashes, 0);
	rig_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cell_acts_or_refuses_on_purpose),
		cmocka_unit_test(test_a_stop_before_any_attempt),
		cmocka_unit_test(test_abandoned_before_it_started),
		cmocka_unit_test(
		    test_attempts_retried_while_deploying_then_failed),
		cmocka_unit_test(test_a_ready_server_and_its_worker_crashes),
		cmocka_unit_test(test_a_crash_while_deploying_fails_it),
		cmocka_unit_test(test_an_end_its_policy_allows_is_no_crash),
		cmocka_unit_test(
		    test_a_stop_of_a_running_server_waits_for_its_worker),
	};

	/* as mcpvisord does: a worker gone is its channel's EOF, not a
	 * signal that ends us */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
