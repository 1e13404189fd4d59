/* Tests of shared/template.c: the expression language and its bounds. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "diag.h"
#include "errbuf.h"
#include "template.h"
#include "ynode.h"

/* The scope: names resolve in a YAML tree; env() reads a fixed list. */
struct fixture {
	struct ynode	*root;
};

static int
lookup(void *arg, const char *const *parts, size_t nparts,
    const struct ynode **out, struct errbuf *err)
{
	const struct fixture	*fx = arg;
	const struct ynode	*n = fx->root;

	(void)err;
	for (size_t i = 0; i < nparts && n != NULL; i++)
		n = ynode_map_get(n, parts[i]);
	if (n == NULL)
		return -ENOENT;
	*out = n;
	return 0;
}

static const char *
fake_getenv(void *arg, const char *name)
{
	(void)arg;
	if (strcmp(name, "DB_USER") == 0)
		return "alice";
	if (strcmp(name, "EMPTY") == 0)
		return "";
	return NULL;
}

static struct fixture	fx;

static int
setup(void **state)
{
	const char		*text =
	    "config:\n  timeout_seconds: 15\n  name: api\n  api:\n"
	    "    port: 8000\n  flag: true\n  nothing: ~\n"
	    "  hosts: [a.example, b.example, c.example]\n"
	    "  ports: {http: 80, https: 443}\n  empty: []\n"
	    "  pairs: [[x, 1], [y, 2]]\n  ratio: 1.10\n  padded: '  p  '\n"
	    "  nested: [[1]]\n"
	    "env:\n  password: hunter2\n  secrets: [hunter2]\n";
	struct diag_list	 dl = { 0 };

	(void)state;
	assert_int_equal(ynode_load_buffer("ctx", text, strlen(text), &fx.root,
	    &dl), 0);
	diag_list_free(&dl);
	ynode_path(fx.root, "env.password")->flags |= YNODE_SECRET;
	ynode_path(fx.root, "env.secrets")->items[0]->flags |= YNODE_SECRET;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	ynode_free(fx.root);
	return 0;
}

/* Renders src; returns the errno and puts the text or error in buf. */
static int
render(const char *src, char *buf, size_t size, bool *secret)
{
	struct template_scope	 scope = { lookup, fake_getenv, &fx };
	struct template_output	 out;
	struct errbuf		 err;
	int			 r;

	err.msg[0] = '\0';
	r = template_render(src, &scope, &out, &err);
	if (r < 0) {
		snprintf(buf, size, "%s", err.msg);
		return r;
	}
	snprintf(buf, size, "%s", out.text);
	if (secret != NULL)
		*secret = out.secret;
	free(out.text);
	return 0;
}

static void
expect(const char *src, const char *want)
{
	char	buf[1024];

	assert_int_equal(render(src, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, want);
}

static void
expect_error(const char *src, const char *fragment)
{
	char	buf[1024];

	assert_true(render(src, buf, sizeof(buf), NULL) < 0);
	if (strstr(buf, fragment) == NULL)
		fail_msg("'%s' gave '%s', wanted '%s'", src, buf, fragment);
}

static void
test_plain_text_passes(void **state)
{
	(void)state;
	expect("no templates here", "no templates here");
	expect("", "");
	expect("a } b { c }}", "a } b { c }}");
}

static void
test_dotted_lookup(void **state)
{
	(void)state;
	expect("{{ config.timeout_seconds }}", "15");
	expect("{{config.api.port}}", "8000");
	expect("http://h:{{ config.api.port }}/x/{{ config.name }}",
	    "http://h:8000/x/api");
	expect("{{ config.flag }}", "true");
	expect("[{{ config.nothing }}]", "[]");
}

static void
test_undefined_variable(void **state)
{
	(void)state;
	expect_error("{{ env.brave_api_key }}",
	    "undefined variable 'env.brave_api_key'");
	expect_error("{{ nope }}", "undefined variable 'nope'");
	expect_error("{{ config.api }}", "'config.api' is a mapping");
}

static void
test_env_function_and_or(void **state)
{
	(void)state;
	expect("{{ env('DB_USER') }}", "alice");
	expect("{{ env('DB_HOST') or 'localhost' }}", "localhost");
	expect("{{ env('EMPTY') or 'fallback' }}", "fallback");
	expect_error("{{ env('DB_HOST') }}",
	    "environment variable 'DB_HOST' is not set");
	/* the unused branch is never resolved, so it cannot fail */
	expect("{{ 'x' or undefined.thing }}", "x");
	expect("{{ missing or also_missing or 42 }}", "42");
	expect("{{ (env('NOPE') or 'a') }}", "a");
	/* 'order' is a name, not the keyword */
	expect_error("{{ order }}", "undefined variable 'order'");
}

static void
test_literals(void **state)
{
	(void)state;
	expect("{{ 'single' }}-{{ \"double\" }}-{{ 7 }}-{{ -3 }}",
	    "single-double-7--3");
	expect("{{ 'it\\'s' }}", "it's");
	expect("{{ '{{' }} literal {{ '}}' }}", "{{ literal }}");
}

static void
test_random_string(void **state)
{
	char	a[64], b[64];
	bool	secret = false;
	regex_t	re;

	(void)state;
	assert_int_equal(render("{{ random_string(32) }}", a, sizeof(a),
	    &secret), 0);
	assert_int_equal(strlen(a), 32);
	assert_true(secret);
	assert_int_equal(regcomp(&re, "^[A-Za-z0-9]{32}$", REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, a, 0, NULL, 0), 0);
	regfree(&re);
	assert_int_equal(render("{{ random_string(32) }}", b, sizeof(b), NULL),
	    0);
	assert_string_not_equal(a, b);
	expect_error("{{ random_string(0) }}", "length from 1 to 4096");
	expect_error("{{ random_string(5000) }}", "length from 1 to 4096");
	expect_error("{{ random_string('x') }}", "length");
}

static void
test_base64_and_secrets(void **state)
{
	char	buf[128];
	bool	secret = true;

	(void)state;
	expect("{{ base64_encode('hello') }}", "aGVsbG8=");
	expect("{{ base64_encode(config.name) }}", "YXBp");
	expect("{{ base64_encode('') }}", "");
	assert_int_equal(render("{{ config.name }}", buf, sizeof(buf),
	    &secret), 0);
	assert_false(secret);
	/* a secret taints whatever is made of it */
	assert_int_equal(render("user:{{ base64_encode(env.password) }}", buf,
	    sizeof(buf), &secret), 0);
	assert_true(secret);
	assert_string_equal(buf, "user:aHVudGVyMg==");
}

static void
test_now_isoformat(void **state)
{
	char	buf[128];
	regex_t	re;

	(void)state;
	assert_int_equal(render("{{ now().isoformat() }}", buf, sizeof(buf),
	    NULL), 0);
	assert_int_equal(regcomp(&re, "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{6}\\+00:00$", REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, buf, 0, NULL, 0), 0);
	regfree(&re);
	expect_error("{{ now().strftime() }}", "no method 'strftime'");
	expect_error("{{ now(1) }}", "now() takes 0 arguments");
}

static void
test_filters(void **state)
{
	(void)state;
	expect("{{ config.name | upper }}", "API");
	expect("{{ 'MiXeD' | lower }}", "mixed");
	expect("{{ missing | default('d') }}", "d");
	expect("{{ config.nothing | default(5) }}", "5");
	expect("{{ config.name | default('d') | upper }}", "API");
	expect_error("{{ config.name | shout }}", "unknown filter 'shout'");
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	expect_error("{{ 'open }}", "unterminated string");
	expect_error("{{ config.name ", "expected '}}'");
	expect_error("{{ }}", "expected a value");
	expect_error("{{ config. }}", "expected a name after '.'");
	expect_error("{{ launch_missiles() }}", "unknown function");
	expect_error("{{ env('A', 'B', 'C') }}", "too many arguments");
	expect_error("{{ env() }}", "env() takes 1 argument");
	expect_error("{{ 99999999999999999999 }}", "integer out of range");
}

static void
test_nesting_is_bounded(void **state)
{
	char	src[512];
	size_t	n = 0;

	(void)state;
	n += (size_t)snprintf(src, sizeof(src), "{{ ");
	for (int i = 0; i < 100; i++)
		src[n++] = '(';
	src[n] = '\0';
	expect_error(src, "nested too deeply");
}

static void
test_output_is_bounded(void **state)
{
	struct ynode	*big;
	char		*text, *src, buf[256];
	size_t		 len = 40000;

	(void)state;
	text = malloc(len + 1);
	memset(text, 'x', len);
	text[len] = '\0';
	big = ynode_new_string(text, len, NULL);
	assert_int_equal(ynode_map_set(ynode_map_get(fx.root, "config"),
	    "big", NULL, big), 0);
	assert_int_equal(render("{{ config.big }}", buf, sizeof(buf), NULL), 0);
	src = "{{ config.big }}{{ config.big }}";
	assert_int_equal(render(src, buf, sizeof(buf), NULL), -E2BIG);
	assert_non_null(strstr(buf, "exceeds"));
	free(text);
}

/* The statements a configuration needs, and what is not one is said. */
static void
test_statements(void **state)
{
	bool	secret = true;
	char	buf[256];

	(void)state;
	expect("{% if config.flag %}on{% else %}off{% endif %}", "on");
	expect("{% if config.nothing %}a{% elif config.timeout_seconds > 10 %}"
	    "b{% else %}c{% endif %}", "b");
	expect("{% if not config.flag %}a{% elif false %}b{% else %}c"
	    "{% endif %}", "c");
	expect("{% for h in config.hosts %}{{ h }}{% if not loop.last %},"
	    "{% endif %}{% endfor %}", "a.example,b.example,c.example");
	expect("{% for k, v in config.ports.items() %}{{ k }}={{ v }};"
	    "{% endfor %}", "http=80;https=443;");
	expect("{% for k in config.ports %}{{ loop.index }}{{ k }} "
	    "{% endfor %}", "1http 2https ");
	expect("{% for v in config.ports.values() %}{{ v }}{% endfor %}",
	    "80443");
	expect("{% for a, b in config.pairs %}{{ a }}{{ b }}{% endfor %}",
	    "x1y2");
	expect("{% for h in config.empty %}x{% else %}none{% endfor %}", "none");
	expect("{% for h in config.hosts %}{% for p in config.ports %}"
	    "{{ loop.index0 }}{% endfor %}{% endfor %}", "010101");
	/* names of an untaken branch are never looked up */
	expect("{% if false %}{{ undefined_thing }}{% endif %}ok", "ok");
	expect("{# a comment #}kept{#- trimmed -#}  here", "kepthere");
	expect("a  {%- if true -%}  b  {%- endif -%}  c", "abc");
	expect("{{- ' x ' -}}", " x ");
	/* a condition that reads a secret makes the output secret */
	assert_int_equal(render("{% if env.password == 'x' %}y{% else %}n"
	    "{% endif %}", buf, sizeof(buf), &secret), 0);
	assert_string_equal(buf, "n");
	assert_true(secret);
	expect_error("{% if config.flag %}never closed", "has no endif");
	expect_error("{% for h in config.hosts %}x", "has no endfor");
	expect_error("{% if true %}x{% endfor %}", "ends with endfor");
	expect_error("{% if true %}{% else %}{% else %}{% endif %}",
	    "after its else");
	expect_error("x{% endif %}", "'endif' at offset");
	expect_error("{% set x = 1 %}", "unknown statement 'set'");
	expect_error("{% for h in config.name %}{% endfor %}",
	    "a string is not a list or a mapping");
	expect_error("{% for h in missing %}{% endfor %}",
	    "undefined variable 'missing'");
	expect_error("{% for k in config.ports.items() %}{% endfor %}",
	    "items() gives pairs");
	expect_error("{# open", "unterminated comment");
	expect_error("{% if %}", "expected a value");
	expect_error("{% for %}", "expected a name after 'for'");
	expect_error("{{ loop.index }}", "undefined variable 'loop.index'");
	expect_error("{% for h in config.hosts %}{{ loop.nope }}{% endfor %}",
	    "loop has index");
}

static void
test_expressions(void **state)
{
	(void)state;
	expect("{{ 'a' ~ config.api.port ~ 'b' }}", "a8000b");
	expect("{{ config.api.port + 1 }}", "8001");
	expect("{{ config.api.port - 8000 - 1 }}", "-1");
	expect("{{ 'ab' + 'cd' }}", "abcd");
	expect("{{ 1.5 + 1 }}", "2.5");
	expect("{{ config.ratio }}", "1.10");
	expect("{{ config.ratio + 0 }}", "1.1");
	expect("{{ 2 == 2 }} {{ 2 != 2 }} {{ 1 < 2 < 3 }} {{ 3 < 2 < 4 }}",
	    "true false true false");
	expect("{{ 'b' > 'a' }} {{ 1 == '1' }} {{ none == none }}",
	    "true false true");
	expect("{{ config.flag and config.name }}", "api");
	expect("{{ config.nothing and missing }}", "");
	expect("{{ not config.flag or 'x' }}", "x");
	expect("{{ 'yes' if config.flag else 'no' }}", "yes");
	expect("{{ 'yes' if config.nothing else 'no' }}", "no");
	expect("{{ missing | upper if false else 'safe' }}", "safe");
	expect("{{ 'a' if false }}", "");
	expect("{{ missing is defined }} {{ config.name is defined }} "
	    "{{ config.nothing is none }} {{ missing is not defined }}",
	    "false true true true");
	expect_error("{{ missing | upper if true else 'x' }}",
	    "undefined variable 'missing'");
	expect_error("{{ config.name + 1 }}", "cannot add a string and an "
	    "integer");
	expect_error("{{ config.name < 1 }}", "cannot order a string and an "
	    "integer");
	expect_error("{{ config.name is odd }}", "unknown test 'odd'");
	/* past the range of an integer, the sum is a float, as in Python */
	expect("{{ 9223372036854775807 + 1 > 0 }}x", "truex");
}

static void
test_more_filters(void **state)
{
	bool	secret = false;
	char	buf[256];

	(void)state;
	expect("{{ '42' | int + 1 }}", "43");
	expect("{{ '3.7' | int }} {{ 3.7 | int }} {{ true | int }}", "3 3 1");
	expect("{{ '2' | float }} {{ config.api.port | float }}", "2.0 8000.0");
	expect("{{ config.api.port | string ~ '/tcp' }}", "8000/tcp");
	expect("[{{ config.padded | trim }}]", "[p]");
	expect("{{ 'a-b-c' | replace('-', '+') }}", "a+b+c");
	expect("{{ config.hosts | join(', ') }}", "a.example, b.example, "
	    "c.example");
	expect("{{ config.hosts | join }}", "a.exampleb.examplec.example");
	expect("{{ config.hosts | length }} {{ 'héllo' | length }} "
	    "{{ config.ports | length }}", "3 5 2");
	expect("{{ config.ports | tojson }}", "{\"http\":80,\"https\":443}");
	expect("{{ config.name | tojson }}", "\"api\"");
	expect("{{ config.flag | tojson }} {{ config.nothing | tojson }}",
	    "true null");
	expect("{{ '' | default('d', true) }} {{ '' | default('d') }}|", "d |");
	expect("{{ config.name | upper | replace('P', 'p') | lower }}", "api");
	/* a list holding a secret makes its JSON and its join secret */
	assert_int_equal(render("{{ env.secrets | tojson }}", buf, sizeof(buf),
	    &secret), 0);
	assert_true(secret);
	secret = false;
	assert_int_equal(render("{{ env.secrets | join }}", buf, sizeof(buf),
	    &secret), 0);
	assert_true(secret);
	expect_error("{{ 'abc' | int }}", "int: 'abc' is not a number");
	expect_error("{{ env.password | int }}", "int: '***' is not a number");
	expect_error("{{ config.ports | int }}", "a mapping is not a number");
	expect_error("{{ 'x' | replace('x') }}", "takes 2 arguments");
	expect_error("{{ 'x' | replace('', 'y') }}", "nothing to replace");
	expect_error("{{ config.nested | join }}", "item 0 of");
	expect_error("{{ 5 | length }}", "length: an integer has none");
	expect_error("{{ config.name | join }}", "join: a string is not a list");
	expect_error("{{ 'x' | shout }}", "unknown filter 'shout'");
}

/* However a template loops, it stops at its bounds. */
static void
test_loops_are_bounded(void **state)
{
	char	src[1024];
	size_t	n = 0;

	(void)state;
	/* 3^9 passes through nine nested loops: past the bound */
	for (int i = 0; i < 9; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n,
		    "{%% for x%d in config.hosts %%}", i);
	n += (size_t)snprintf(src + n, sizeof(src) - n, "x");
	for (int i = 0; i < 9; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n,
		    "{%% endfor %%}");
	expect_error(src, "the loops ran more than 10000 times");
	/* and statements nest no deeper than expressions do */
	n = 0;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n,
		    "{%% if true %%}");
	expect_error(src, "statements nested too deeply");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text_passes),
		cmocka_unit_test(test_dotted_lookup),
		cmocka_unit_test(test_undefined_variable),
		cmocka_unit_test(test_env_function_and_or),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_random_string),
		cmocka_unit_test(test_base64_and_secrets),
		cmocka_unit_test(test_now_isoformat),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_nesting_is_bounded),
		cmocka_unit_test(test_output_is_bounded),
		cmocka_unit_test(test_statements),
		cmocka_unit_test(test_expressions),
		cmocka_unit_test(test_more_filters),
		cmocka_unit_test(test_loops_are_bounded),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
