/* Tests of supervisor/deployment.c, the deployment machine: every cell
 * of its table is the action meant for it, and the paths that start no
 * server (a stop before loading, a failed validation, files found
 * invalid) go through the states and tell the listeners what the table
 * says, with a real supervisor and its state directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "deployment.h"
#include "state.h"
#include "supervisor.h"
#include "../shared/testutil.h"

static const char *const expected[DEP_N][DE_N] = {
	/* HOOKS_DONE HOOKS_FAILED SERVER_READY SERVER_FAILED SERVER_STOPPED
	 * STOP STOP_TIMEOUT FAIL PREPARED APPROVED */
	[DEP_VALIDATING] = { "prepare", "fail", "refuse", "refuse",
	    "refuse", "begin_stop", "ignore", "fail", "refuse", "refuse" },
	[DEP_PREPARING] = { "refuse", "refuse", "refuse", "refuse", "refuse",
	    "stop_preparing", "ignore", "fail_preparing", "prepared",
	    "refuse" },
	[DEP_AWAITING_APPROVAL] = { "refuse", "refuse", "refuse", "refuse",
	    "refuse", "begin_stop", "ignore", "fail", "refuse", "approved" },
	[DEP_PRE_DEPLOY] = { "first_batch", "fail", "refuse", "refuse",
	    "refuse", "begin_stop", "ignore", "fail", "refuse", "refuse" },
	[DEP_DEPLOYING] = { "refuse", "refuse", "batch_check", "fail",
	    "ignore", "begin_stop", "ignore", "fail", "refuse", "refuse" },
	[DEP_ON_FAILURE] = { "pre_rollback_hooks", "pre_rollback_hooks",
	    "ignore", "ignore", "ignore", "begin_stop", "ignore", "ignore",
	    "refuse", "refuse" },
	[DEP_PRE_ROLLBACK] = { "rollback_due", "rollback_due", "ignore",
	    "ignore", "ignore", "begin_stop", "ignore", "ignore", "refuse",
	    "refuse" },
	[DEP_FAILED] = { "refuse", "refuse", "ignore", "ignore", "ignore",
	    "begin_stop", "ignore", "ignore", "refuse", "refuse" },
	[DEP_SUCCEEDED] = { "refuse", "refuse", "ignore", "ignore", "ignore",
	    "begin_stop", "ignore", "refuse", "refuse", "refuse" },
	[DEP_STOPPING] = { "ignore", "ignore", "ignore", "ignore",
	    "server_stopped", "ignore", "kill_stragglers", "ignore", "ignore",
	    "ignore" },
	[DEP_DONE] = { "ignore", "ignore", "ignore", "ignore", "ignore",
	    "ignore", "ignore", "ignore", "ignore", "ignore" },
};

static void
test_every_cell_acts_or_refuses_on_purpose(void **state)
{
	(void)state;
	for (int s = 0; s < DEP_N; s++)
		for (int e = 0; e < DE_N; e++)
			if (strcmp(dep_action_name((enum dep_state)s,
			    (enum dep_event)e), expected[s][e]) != 0)
				fail_msg("state %d x event %d: %s, not %s", s,
				    e, dep_action_name((enum dep_state)s,
				    (enum dep_event)e), expected[s][e]);
}

/* What every deployment tells its listeners, in order. */
static enum dep_note	heard[32];
static size_t		nheard;

static bool
listener(struct deployment *dep, enum dep_note n, struct server_run *sr,
    const char *why)
{
	(void)dep;
	(void)sr;
	(void)why;
	if (nheard < 32)
		heard[nheard++] = n;
	return false;
}

struct rig {
	struct supervisor	 sv;
	char			*dir;
	char			*config;
	struct deployment	*dep;
};

static void
rig_init(struct rig *r, const char *spec)
{
	struct deploy_request	 rq = { 0 };
	char			*err = NULL;

	memset(r, 0, sizeof(*r));
	nheard = 0;
	r->dir = tu_tmpdir();
	assert_true(asprintf(&r->config, "%s/config", r->dir) != -1);
	assert_int_equal(mkdir(r->config, 0700), 0);
	assert_int_equal(runtime_init(&r->sv, r->dir, "/bin/cat"), 0);
	runtime_listen(&r->sv, listener);
	rq.spec_path = spec;
	rq.config_dir = r->config;
	assert_int_equal(dep_new(&r->sv, &rq, &r->dep, &err), 0);
	assert_null(err);
	assert_int_equal(r->dep->state, DEP_VALIDATING);
}

static void
rig_free(struct rig *r)
{
	/* on no list of the supervisor's (runtime_deploy would put it
	 * on one, and free it at the end of the turn it ends in) */
	dep_free(r->dep);
	runtime_free(&r->sv);
	tu_rmtree(r->dir);
	free(r->config);
	free(r->dir);
}

static const char *
record_field(const struct rig *r, const char *key, char *buf, size_t size)
{
	char	path[4200];
	cJSON	*rec;

	snprintf(path, sizeof(path), "%s/deployments/%s.json", r->dir,
	    r->dep->id);
	assert_int_equal(state_read_json(path, &rec), 0);
	snprintf(buf, size, "%s", cJSON_GetStringValue(cJSON_GetObjectItem(rec,
	    key)));
	cJSON_Delete(rec);
	return buf;
}

static void
test_stopped_before_it_was_read(void **state)
{
	struct rig	r;
	char		buf[64];

	(void)state;
	rig_init(&r, "/nonexistent/spec.yaml");
	dep_stop(r.dep, STOP_GRACEFUL);
	assert_int_equal(r.dep->state, DEP_DONE);
	assert_int_equal(r.dep->outcome, OUT_STOPPED);
	assert_int_equal(nheard, 2);
	assert_int_equal(heard[0], DN_STOPPING);
	assert_int_equal(heard[1], DN_STOPPED);
	assert_string_equal(record_field(&r, "outcome", buf, sizeof(buf)),
	    "stopped");
	assert_string_equal(record_field(&r, "state", buf, sizeof(buf)),
	    "done");
	/* a stop of what is over changes nothing */
	dep_stop(r.dep, STOP_GRACEFUL);
	assert_int_equal(nheard, 2);
	rig_free(&r);
}

static void
test_a_failed_validation_hook_fails_then_stops(void **state)
{
	struct dep_input	in = { .why = "hook 10-check exited with status 1" };
	struct rig		r;
	char			buf[600];

	(void)state;
	rig_init(&r, "/nonexistent/spec.yaml");
	dep_event(r.dep, DE_HOOKS_FAILED, &in);
	/* no hooks of its failure, nothing to roll back: it stops */
	assert_int_equal(r.dep->state, DEP_DONE);
	assert_int_equal(r.dep->outcome, OUT_FAILED);
	assert_int_equal(nheard, 4);
	assert_int_equal(heard[0], DN_FAILED);
	assert_int_equal(heard[1], DN_ROLLBACK_DUE);
	assert_int_equal(heard[2], DN_STOPPING);
	assert_int_equal(heard[3], DN_STOPPED);
	assert_string_equal(record_field(&r, "failure", buf, sizeof(buf)),
	    "deployment: hook 10-check exited with status 1");
	/* a second failure is not another one */
	dep_event(r.dep, DE_FAIL, &in);
	assert_int_equal(nheard, 4);
	rig_free(&r);
}

static void
test_files_found_invalid_after_the_hooks(void **state)
{
	struct rig	r;
	char		buf[64];
	int		status;
	pid_t		pid;

	(void)state;
	rig_init(&r, "/nonexistent/spec.yaml");
	/* the pre-validation hooks ran: now it is read, in a child, and
	 * cannot be */
	dep_event(r.dep, DE_HOOKS_DONE, NULL);
	assert_int_equal(r.dep->state, DEP_PREPARING);
	for (int i = 0; i < 500 && r.dep->state != DEP_DONE; i++)
		runtime_turn(&r.sv, 10);
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		runtime_reaped(&r.sv, pid, status);
	assert_int_equal(r.dep->state, DEP_DONE);
	assert_non_null(strstr(r.dep->invalid, "/nonexistent/spec.yaml"));
	assert_int_equal(r.dep->outcome, OUT_INVALID);
	assert_string_equal(record_field(&r, "outcome", buf, sizeof(buf)),
	    "invalid");
	rig_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_cell_acts_or_refuses_on_purpose),
		cmocka_unit_test(test_stopped_before_it_was_read),
		cmocka_unit_test(test_a_failed_validation_hook_fails_then_stops),
		cmocka_unit_test(test_files_found_invalid_after_the_hooks),
	};

	/* as mcpvisord does: a worker gone is its channel's EOF, not a
	 * signal that ends us */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
