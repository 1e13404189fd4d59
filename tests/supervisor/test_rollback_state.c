/* Tests of supervisor/rollback_state.c: the rollback's own table, what a
 * kind of rollback is asked to do in each transition, and its record. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "rollback_state.h"
#include "state.h"
#include "supervisor.h"
#include "../shared/testutil.h"

static const char *const expected[RB_N][RBE_N] = {
	/* GO HOLD APPROVE FINISHED ABANDONED */
	[RB_PLANNED] = { "run", "hold", "refuse", "refuse", "cancel" },
	[RB_AWAITING_APPROVAL] = { "refuse", "ignore", "run", "refuse",
	    "cancel" },
	[RB_RUNNING] = { "refuse", "refuse", "refuse", "finish", "finish" },
	[RB_SUCCEEDED] = { "refuse", "refuse", "refuse", "refuse", "ignore" },
	[RB_FAILED] = { "refuse", "refuse", "refuse", "refuse", "ignore" },
	[RB_CANCELLED] = { "refuse", "refuse", "refuse", "refuse", "ignore" },
};

static void
test_every_cell_acts_or_refuses_on_purpose(void **state)
{
	(void)state;
	for (int s = 0; s < RB_N; s++)
		for (int e = 0; e < RBE_N; e++)
			if (strcmp(rb_action_name((enum rb_state)s,
			    (enum rb_event)e), expected[s][e]) != 0)
				fail_msg("%s x event %d: %s, not %s",
				    rb_state_name((enum rb_state)s), e,
				    rb_action_name((enum rb_state)s,
				    (enum rb_event)e), expected[s][e]);
}

static int	executed, held, finished;

static void	on_execute(struct rollback *rb) { (void)rb; executed++; }
static void	on_hold(struct rollback *rb) { (void)rb; held++; }
static void	on_finished(struct rollback *rb) { (void)rb; finished++; }

static const struct rb_kind kind = { on_execute, on_hold, on_finished };

struct rig {
	struct supervisor	 sv;
	char			*dir;
	struct rollback		*rb;
};

static void
rig_init(struct rig *r, enum rollback_strategy strategy)
{
	memset(r, 0, sizeof(*r));
	executed = held = finished = 0;
	r->dir = tu_tmpdir();
	assert_int_equal(runtime_init(&r->sv, r->dir, "/bin/cat"), 0);
	assert_non_null(r->rb = rb_new(&r->sv, &kind, NULL, "rollback_test",
	    strategy, "deploy_new", "deploy_old", "a health check failed"));
	assert_int_equal(r->rb->state, RB_PLANNED);
}

static void
rig_free(struct rig *r)
{
	rb_free(r->rb);
	runtime_free(&r->sv);
	tu_rmtree(r->dir);
	free(r->dir);
}

static void
test_manual_waits_for_one_approval(void **state)
{
	struct rig	r;

	(void)state;
	rig_init(&r, ROLLBACK_MANUAL);
	assert_int_equal(rb_event(r.rb, RBE_HOLD, NULL), 0);
	assert_true(rb_waiting(r.rb));
	assert_int_equal(held, 1);
	assert_int_equal(executed, 0);
	assert_int_equal(rb_event(r.rb, RBE_APPROVE, NULL), 0);
	assert_true(rb_running(r.rb));
	assert_int_equal(executed, 1);
	/* a second approval is refused, as the CLI says */
	assert_int_equal(rb_event(r.rb, RBE_APPROVE, NULL), -EALREADY);
	assert_int_equal(rb_event(r.rb, RBE_FINISHED, NULL), 0);
	assert_int_equal(r.rb->state, RB_SUCCEEDED);
	assert_int_equal(finished, 1);
	assert_true(r.rb->finished_at[0] != '\0');
	rig_free(&r);
}

static void
test_a_failed_step_makes_it_failed(void **state)
{
	struct rig	r;
	char		path[4200];
	cJSON		*rec, *a;

	(void)state;
	rig_init(&r, ROLLBACK_GRACEFUL);
	rb_plan(r.rb, "restore_config", "app", "snap_1", false);
	assert_int_equal(rb_event(r.rb, RBE_GO, NULL), 0);
	rb_step_failed(r.rb, NULL, "restore_config", "app", "Rollback action "
	    "failed: restore_config_app_snap_1: checksum mismatch");
	assert_int_equal(rb_event(r.rb, RBE_FINISHED, NULL), 0);
	assert_int_equal(r.rb->state, RB_FAILED);
	rb_write(r.rb);
	snprintf(path, sizeof(path), "%s/rollbacks/rollback_test.json", r.dir);
	assert_int_equal(state_read_json(path, &rec), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(rec,
	    "state")), "failed");
	a = cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "actions"), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(a,
	    "status")), "failed");
	assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(rec,
	    "failure")), "checksum mismatch"));
	cJSON_Delete(rec);
	rig_free(&r);
}

static void
test_abandoned_before_approval_is_cancelled(void **state)
{
	struct rig	r;

	(void)state;
	rig_init(&r, ROLLBACK_MANUAL);
	rb_event(r.rb, RBE_HOLD, NULL);
	assert_int_equal(rb_event(r.rb, RBE_ABANDONED, "stopped before it "
	    "was over"), 0);
	assert_int_equal(r.rb->state, RB_CANCELLED);
	assert_int_equal(executed, 0);
	assert_int_equal(finished, 1);
	/* over: nothing moves it again */
	assert_int_equal(rb_event(r.rb, RBE_APPROVE, NULL), -EALREADY);
	assert_int_equal(rb_event(r.rb, RBE_ABANDONED, NULL), 0);
	assert_int_equal(finished, 1);
	rig_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cell_acts_or_refuses_on_purpose),
		cmocka_unit_test(test_manual_waits_for_one_approval),
		cmocka_unit_test(test_a_failed_step_makes_it_failed),
		cmocka_unit_test(test_abandoned_before_approval_is_cancelled),
	};

	/* as mcpvisord does: a worker gone is its channel's EOF, not a
	 * signal that ends us */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
