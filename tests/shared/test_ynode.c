/* Tests of shared/ynode.c: YAML to tree, positions, typing, limits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "diag.h"
#include "ynode.h"

static struct ynode *
load_ok(const char *text)
{
	struct diag_list	 dl = { 0 };
	struct ynode		*root = NULL;

	assert_int_equal(ynode_load_buffer("t.yaml", text, strlen(text), &root,
	    &dl), 0);
	assert_int_equal(dl.errors, 0);
	diag_list_free(&dl);
	return root;
}

/* Loads text expecting failure; returns the first message, formatted as
 * "line:col: msg", in buf. */
static size_t
load_fail(const char *text, char *buf, size_t size)
{
	struct diag_list	 dl = { 0 };
	struct ynode		*root = NULL;
	size_t			 errors;

	assert_true(ynode_load_buffer("t.yaml", text, strlen(text), &root,
	    &dl) < 0);
	assert_null(root);
	assert_true(dl.n > 0);
	snprintf(buf, size, "%s:%u:%u: %s", dl.v[0].file, dl.v[0].line,
	    dl.v[0].col, dl.v[0].msg);
	errors = dl.errors;
	diag_list_free(&dl);
	return errors;
}

static void
test_scalar_types(void **state)
{
	struct ynode	*r;

	(void)state;
	r = load_ok("i: 42\nn: -7\nf: 1.5\nb: true\nB: false\nz: ~\ne:\n"
	    "s: hello\nq: \"42\"\nyes_is_text: yes\nbig: 0x10\n");
	assert_int_equal(ynode_map_get(r, "i")->kind, YNODE_INT);
	assert_int_equal(ynode_map_get(r, "i")->v.i, 42);
	assert_int_equal(ynode_map_get(r, "n")->v.i, -7);
	assert_int_equal(ynode_map_get(r, "f")->kind, YNODE_FLOAT);
	assert_true(ynode_map_get(r, "b")->v.b);
	assert_int_equal(ynode_map_get(r, "B")->kind, YNODE_BOOL);
	assert_int_equal(ynode_map_get(r, "z")->kind, YNODE_NULL);
	assert_int_equal(ynode_map_get(r, "e")->kind, YNODE_NULL);
	assert_string_equal(ynode_map_get(r, "s")->text, "hello");
	/* quoted stays a string */
	assert_int_equal(ynode_map_get(r, "q")->kind, YNODE_STRING);
	/* the Norway problem: yes is not a boolean here */
	assert_int_equal(ynode_map_get(r, "yes_is_text")->kind, YNODE_STRING);
	assert_int_equal(ynode_map_get(r, "big")->kind, YNODE_STRING);
	ynode_free(r);
}

static void
test_positions(void **state)
{
	struct ynode		*r;
	const struct ynode	*n;

	(void)state;
	r = load_ok("a:\n  b:\n    - x\n    - y: 1\n");
	n = ynode_path(r, "a.b");
	assert_non_null(n);
	assert_int_equal(n->kind, YNODE_SEQ);
	assert_int_equal(n->items[1]->mark.line, 4);
	assert_int_equal(n->items[1]->mark.col, 7);
	assert_string_equal(ymark_file(&n->mark), "t.yaml");
	ynode_free(r);
}

static void
test_syntax_error_has_position(void **state)
{
	char	msg[512];

	(void)state;
	load_fail("a: 1\nb: [1, 2\nc: 3\n", msg, sizeof(msg));
	assert_non_null(strstr(msg, "t.yaml:"));
	/* libyaml points at the place it gave up, past line 1 */
	assert_true(strncmp(msg, "t.yaml:1:", 9) != 0);
}

static void
test_duplicate_keys_all_reported(void **state)
{
	char	msg[512];

	(void)state;
	assert_int_equal(load_fail("a: 1\nb: 2\na: 3\nb: 4\n", msg,
	    sizeof(msg)), 2);
	assert_non_null(strstr(msg, "duplicate key"));
	assert_non_null(strstr(msg, "first at line"));
}

static void
test_alias_rejected(void **state)
{
	char	msg[512];

	(void)state;
	load_fail("a: &x [1, 2]\nb: *x\n", msg, sizeof(msg));
	assert_non_null(strstr(msg, "t.yaml:2:4: aliases"));
}

static void
test_second_document_rejected(void **state)
{
	char	msg[512];

	(void)state;
	load_fail("a: 1\n---\nb: 2\n", msg, sizeof(msg));
	assert_non_null(strstr(msg, "one YAML document"));
}

static void
test_depth_limit(void **state)
{
	char	text[400], msg[512];
	size_t	n = 0;

	(void)state;
	for (int i = 0; i < 100; i++)
		text[n++] = '[';
	text[n] = '\0';
	load_fail(text, msg, sizeof(msg));
	assert_non_null(strstr(msg, "deeper than 64"));
}

static void
test_nul_byte_rejected(void **state)
{
	char	msg[512];

	(void)state;
	load_fail("a: \"x\\0y\"\n", msg, sizeof(msg));
	assert_non_null(strstr(msg, "NUL"));
}

static void
test_integer_out_of_range(void **state)
{
	char	msg[512];

	(void)state;
	load_fail("a: 99999999999999999999999\n", msg, sizeof(msg));
	assert_non_null(strstr(msg, "t.yaml:1:4: integer out of range"));
}

static void
test_complex_key_rejected(void **state)
{
	char	msg[512];

	(void)state;
	load_fail("? [a, b]\n: 1\n", msg, sizeof(msg));
	assert_non_null(strstr(msg, "mapping key"));
}

static void
test_empty_document(void **state)
{
	struct diag_list	 dl = { 0 };
	struct ynode		*root = (struct ynode *)1;

	(void)state;
	assert_int_equal(ynode_load_buffer("e", "", 0, &root, &dl), 0);
	assert_null(root);
	diag_list_free(&dl);
}

static void
test_missing_file(void **state)
{
	struct diag_list	 dl = { 0 };
	struct ynode		*root = NULL;

	(void)state;
	assert_true(ynode_load_file("/nonexistent/x.yaml", &root, &dl) < 0);
	assert_int_equal(dl.errors, 1);
	assert_string_equal(dl.v[0].file, "/nonexistent/x.yaml");
	diag_list_free(&dl);
}

static void
test_deep_merge(void **state)
{
	struct ynode	*base, *over;

	(void)state;
	base = load_ok("timeout: 30\napi:\n  rate: 100\n  url: x\n"
	    "list: [1, 2]\n");
	over = load_ok("timeout: 15\napi:\n  rate: 500\nlist: [3]\nnew: y\n");
	assert_int_equal(ynode_merge(base, over), 0);
	assert_int_equal(ynode_path(base, "timeout")->v.i, 15);
	assert_int_equal(ynode_path(base, "api.rate")->v.i, 500);
	/* untouched keys of a merged map survive */
	assert_string_equal(ynode_path(base, "api.url")->text, "x");
	/* lists are replaced, not concatenated */
	assert_int_equal(ynode_path(base, "list")->count, 1);
	assert_string_equal(ynode_path(base, "new")->text, "y");
	/* the override's position travels with its value */
	assert_int_equal(ynode_path(base, "api.rate")->mark.line, 3);
	ynode_free(base);
	ynode_free(over);
}

static void
test_json_redacts_secrets(void **state)
{
	struct ynode	*r;
	cJSON		*j;
	char		*text;

	(void)state;
	r = load_ok("user: bob\npassword: hunter2\n");
	ynode_map_get(r, "password")->flags |= YNODE_SECRET;
	j = ynode_to_json(r, true);
	text = cJSON_PrintUnformatted(j);
	assert_string_equal(text, "{\"user\":\"bob\",\"password\":\"***\"}");
	free(text);
	cJSON_Delete(j);
	ynode_free(r);
}

static void
test_many_keys_is_fast_and_correct(void **state)
{
	char			*text;
	size_t			 n = 0, cap = 20000 * 16;
	struct ynode		*r;

	(void)state;
	text = malloc(cap);
	for (int i = 0; i < 20000; i++)
		n += (size_t)snprintf(text + n, cap - n, "k%d: %d\n", i, i);
	r = load_ok(text);
	assert_int_equal(r->count, 20000);
	assert_int_equal(ynode_map_get(r, "k19999")->v.i, 19999);
	ynode_free(r);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalar_types),
		cmocka_unit_test(test_positions),
		cmocka_unit_test(test_syntax_error_has_position),
		cmocka_unit_test(test_duplicate_keys_all_reported),
		cmocka_unit_test(test_alias_rejected),
		cmocka_unit_test(test_second_document_rejected),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_nul_byte_rejected),
		cmocka_unit_test(test_integer_out_of_range),
		cmocka_unit_test(test_complex_key_rejected),
		cmocka_unit_test(test_empty_document),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_deep_merge),
		cmocka_unit_test(test_json_redacts_secrets),
		cmocka_unit_test(test_many_keys_is_fast_and_correct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
