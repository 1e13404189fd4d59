/* Tests of shared/plan.c: batches, priorities, caps and every graph
 * error, with the guide's message for a cycle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "config.h"
#include "diag.h"
#include "plan.h"
#include "ynode.h"
#include "testutil.h"

struct fx {
	char			*dir;
	char			*path;
	struct deploy_spec	*spec;
	struct plan		*plan;
	struct diag_list	 dl;
};

static int
fx_plan(struct fx *f, const char *servers, unsigned max_parallel)
{
	struct plan_opts	 po = { .max_parallel = max_parallel };
	char			*text;

	memset(f, 0, sizeof(*f));
	f->dir = tu_tmpdir();
	if (asprintf(&text, "metadata: {name: t}\nservers:\n%s", servers) == -1)
		abort();
	f->path = tu_write(f->dir, "spec.yaml", text);
	free(text);
	if (spec_load(f->path, &f->spec, &f->dl) < 0) {
		diag_print(&f->dl, stderr);
		fail_msg("spec does not load");
	}
	return plan_build(f->spec->servers, f->spec->nservers, &po, &f->plan,
	    &f->dl);
}

static void
fx_free(struct fx *f)
{
	plan_free(f->plan);
	spec_free(f->spec);
	diag_list_free(&f->dl);
	tu_rmtree(f->dir);
	free(f->path);
	free(f->dir);
}

/* The plan as "a,b|c" (batches split by '|'). */
static void
expect_batches(const struct fx *f, const char *want)
{
	char	got[1024];
	size_t	n = 0;

	got[0] = '\0';
	for (size_t b = 0; b < f->plan->nbatches; b++) {
		const struct plan_batch	*pb = &f->plan->batches[b];

		for (size_t k = 0; k < pb->count; k++)
			n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s",
			    k > 0 ? "," : b > 0 ? "|" : "",
			    f->spec->servers[pb->servers[k]].name);
	}
	assert_string_equal(got, want);
}

#define S(name, extra) "  - name: " name "\n    parallel_safe: true\n" extra

static void
test_independent_servers_share_a_batch_by_priority(void **state)
{
	struct fx	f;

	(void)state;
	assert_int_equal(fx_plan(&f,
	    S("low", "    priority: 1\n")
	    S("high", "    priority: 100\n")
	    S("mid", "    priority: 50\n")
	    S("mid2", "    priority: 50\n"), 0), 0);
	expect_batches(&f, "high,mid,mid2,low");
	fx_free(&f);
}

static void
test_dependencies_make_levels(void **state)
{
	struct fx	f;

	(void)state;
	/* a diamond, listed backwards */
	assert_int_equal(fx_plan(&f,
	    S("top", "    dependencies: [left, right]\n")
	    S("left", "    dependencies: [base]\n    priority: 1\n")
	    S("right", "    dependencies: [base]\n    priority: 2\n")
	    S("base", "")
	    S("loner", ""), 0), 0);
	expect_batches(&f, "base,loner|right,left|top");
	fx_free(&f);
}

static void
test_unsafe_server_runs_alone(void **state)
{
	struct fx	f;

	(void)state;
	assert_int_equal(fx_plan(&f,
	    S("a", "    priority: 10\n")
	    "  - name: db\n    priority: 5\n    parallel_safe: false\n"
	    S("b", "    priority: 5\n")
	    S("c", "    priority: 1\n"), 0), 0);
	expect_batches(&f, "a|db|b,c");
	fx_free(&f);
}

static void
test_max_parallel_caps_batches(void **state)
{
	struct fx	f;

	(void)state;
	assert_int_equal(fx_plan(&f, S("a", "") S("b", "") S("c", "")
	    S("d", "") S("e", ""), 2), 0);
	expect_batches(&f, "a,b|c,d|e");
	fx_free(&f);
	/* --sequential is a cap of one */
	assert_int_equal(fx_plan(&f, S("a", "") S("b", "")
	    S("c", "    dependencies: [a]\n"), 1), 0);
	expect_batches(&f, "a|b|c");
	fx_free(&f);
}

static void
test_cycle_message_and_path(void **state)
{
	struct fx	f;

	(void)state;
	assert_int_equal(fx_plan(&f,
	    S("server-a", "    dependencies: [server-b]\n")
	    S("server-b", "    dependencies: [server-c]\n")
	    S("server-c", "    dependencies: [server-a]\n")
	    S("fine", ""), 0), -EINVAL);
	assert_null(f.plan);
	TU_EXPECT(&f.dl, "spec.yaml:3:11: Circular dependency detected in "
	    "deployment plan involving 'server-a': server-a -> server-b -> "
	    "server-c -> server-a");
	assert_int_equal(f.dl.errors, 1);
	fx_free(&f);
}

static void
test_every_cycle_reported_once(void **state)
{
	struct fx	f;

	(void)state;
	assert_int_equal(fx_plan(&f,
	    S("self", "    dependencies: [self]\n")
	    S("x", "    dependencies: [y]\n")
	    S("y", "    dependencies: [x]\n")
	    S("behind", "    dependencies: [x]\n"), 0), -EINVAL);
	TU_EXPECT(&f.dl, "involving 'self': self -> self");
	TU_EXPECT(&f.dl, "involving 'x': x -> y -> x");
	/* a server that waits on a cycle is not itself on one */
	assert_int_equal(f.dl.errors, 2);
	fx_free(&f);
}

static void
test_unknown_dependency_and_duplicates(void **state)
{
	struct fx	f;

	(void)state;
	assert_int_equal(fx_plan(&f,
	    S("a", "    dependencies: [ghost]\n")
	    S("b", "")
	    S("a", ""), 0), -EINVAL);
	TU_EXPECT(&f.dl, "spec.yaml:5:20: server 'a' depends on 'ghost', which "
	    "this deployment does not list");
	TU_EXPECT(&f.dl, "spec.yaml:8:11: server 'a' is listed twice (first at "
	    "line 3)");
	assert_int_equal(f.dl.errors, 2);
	fx_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_independent_servers_share_a_batch_by_priority),
		cmocka_unit_test(test_dependencies_make_levels),
		cmocka_unit_test(test_unsafe_server_runs_alone),
		cmocka_unit_test(test_max_parallel_caps_batches),
		cmocka_unit_test(test_cycle_message_and_path),
		cmocka_unit_test(test_every_cycle_reported_once),
		cmocka_unit_test(test_unknown_dependency_and_duplicates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
