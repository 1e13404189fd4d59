/* Tests of shared/render.c: merge, templates, secrets, validation rules,
 * and the run and sandbox sections. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "diag.h"
#include "render.h"
#include "ynode.h"
#include "testutil.h"

/* Process environment seen by the renderer. */
static const char *
fake_getenv(void *arg, const char *name)
{
	(void)arg;
	if (strcmp(name, "BRAVE_API_KEY") == 0)
		return "BSA-very-secret-42";
	if (strcmp(name, "DB_HOST") == 0)
		return "db.internal";
	return NULL;
}

struct fx {
	char			*dir;
	char			*env_path;
	char			*srv_path;
	struct env_config	*env;
	struct server_config	*srv;
	struct rendered_env	*re;
	struct resolved_server	*rs;
	struct diag_list	 dl;
};

static const char production[] =
    "variables:\n"
    "  db_host: \"{{ env('DB_HOST') or 'localhost' }}\"\n"
    "  db_url: \"postgres://{{ env.db_host }}/app\"\n"
    "  api_port: 8000\n"
    "secrets:\n"
    "  brave_api_key: BRAVE_API_KEY\n"
    "  db_password: DB_PASSWORD\n"
    "security_policies:\n"
    "  allowed_capabilities: [CAP_NET_BIND_SERVICE]\n";

/* Loads env and server text and renders; returns render_server's code. */
static int
fx_render(struct fx *f, const char *env_text, const char *srv_text,
    bool allow_unset)
{
	struct render_opts	ro = { .allow_unset_secrets = allow_unset,
				    .getenv = fake_getenv };

	memset(f, 0, sizeof(*f));
	f->dir = tu_tmpdir();
	f->env_path = tu_write(f->dir, "production.yaml", env_text);
	f->srv_path = tu_write(f->dir, "brave-search.yaml", srv_text);
	if (env_load(f->env_path, &f->env, &f->dl) < 0 ||
	    server_load(f->srv_path, &f->srv, &f->dl) < 0) {
		diag_print(&f->dl, stderr);
		fail_msg("fixture files do not load");
	}
	if (render_env(f->env, &ro, &f->re, &f->dl) < 0)
		return -EINVAL;
	return render_server(f->srv, f->re, &ro, &f->rs, &f->dl);
}

static void
fx_free(struct fx *f)
{
	resolved_server_free(f->rs);
	rendered_env_free(f->re);
	server_free(f->srv);
	env_free(f->env);
	diag_list_free(&f->dl);
	tu_rmtree(f->dir);
	free(f->env_path);
	free(f->srv_path);
	free(f->dir);
}

/* The guide's own example, verbatim. */
static const char guide_server[] =
    "name: brave-search\n"
    "server_type: search\n"
    "\n"
    "base_config:\n"
    "  timeout_seconds: 30\n"
    "  retry_attempts: 3\n"
    "  api:\n"
    "    rate_limit_per_minute: 100\n"
    "\n"
    "environment_overrides:\n"
    "  production:\n"
    "    timeout_seconds: 15\n"
    "    api:\n"
    "      rate_limit_per_minute: 500\n"
    "\n"
    "templates:\n"
    "  api_key: \"{{ env.brave_api_key }}\"\n"
    "  timeout: \"{{ config.timeout_seconds }}\"\n"
    "\n"
    "validation_rules:\n"
    "  - \"required:api_key\"\n"
    "  - \"format:timeout_seconds:^[0-9]+$\"\nrun: {command: x}\n";

static void
test_guide_example(void **state)
{
	struct fx		 f;
	const struct ynode	*c;
	cJSON			*j;
	char			*text;

	(void)state;
	assert_int_equal(fx_render(&f, production, guide_server, false), 0);
	c = f.rs->config;
	assert_int_equal(ynode_path(c, "timeout_seconds")->v.i, 15);
	assert_int_equal(ynode_path(c, "retry_attempts")->v.i, 3);
	assert_int_equal(ynode_path(c, "api.rate_limit_per_minute")->v.i, 500);
	assert_string_equal(ynode_path(c, "timeout")->text, "15");
	assert_string_equal(ynode_path(c, "api_key")->text,
	    "BSA-very-secret-42");
	assert_true(ynode_path(c, "api_key")->flags & YNODE_SECRET);
	assert_false(ynode_path(c, "timeout")->flags & YNODE_SECRET);
	/* the variables saw the process environment and each other */
	assert_string_equal(ynode_map_get(f.re->values, "db_url")->text,
	    "postgres://db.internal/app");
	j = resolved_server_to_json(f.rs, true);
	text = cJSON_PrintUnformatted(j);
	assert_null(strstr(text, "BSA-very-secret-42"));
	assert_non_null(strstr(text, "\"api_key\":\"***\""));
	free(text);
	cJSON_Delete(j);
	fx_free(&f);
}

static void
test_undefined_variable_message(void **state)
{
	struct fx	f;
	const char	*env = "variables:\n  api_port: 8000\n";

	(void)state;
	assert_int_equal(fx_render(&f, env, guide_server, false), -EINVAL);
	TU_EXPECT(&f.dl, "brave-search.yaml:17:12: Template processing failed "
	    "for 'api_key': undefined variable 'brave_api_key'");
	fx_free(&f);
}

static void
test_unset_secret(void **state)
{
	struct fx	f;
	const char	*srv = "name: brave-search\nserver_type: s\n"
	    "templates:\n  pw: \"{{ env.db_password }}\"\n"
	    "validation_rules: [\"required:pw\", \"format:pw:^x$\"]\nrun: {command: x}\n";

	(void)state;
	assert_int_equal(fx_render(&f, production, srv, false), -EINVAL);
	TU_EXPECT(&f.dl, ":4:7: Template processing failed for 'pw': secret "
	    "'db_password' is not set: environment variable DB_PASSWORD is "
	    "empty or unset");
	fx_free(&f);
	/* config validate checks with a placeholder and says so */
	assert_int_equal(fx_render(&f, production, srv, true), 0);
	assert_true(f.rs->placeholders);
	assert_int_equal(f.dl.errors, 0);
	TU_EXPECT(&f.dl, "rule 'required:pw' not checked: 'pw' comes from a "
	    "secret that is not set");
	fx_free(&f);
}

static void
test_validation_rules(void **state)
{
	struct fx	f;
	const char	*srv = "name: brave-search\nserver_type: s\n"
	    "base_config:\n  timeout_seconds: soon\n  empty: \"\"\n"
	    "  nested: {a: 1}\n"
	    "templates:\n  api_key: \"{{ env.brave_api_key }}\"\n"
	    "validation_rules:\n"
	    "  - \"required:missing_key\"\n"
	    "  - \"required:empty\"\n"
	    "  - \"format:timeout_seconds:^[0-9]+$\"\n"
	    "  - \"format:api_key:^sk-[a-z]+$\"\n"
	    "  - \"format:nested:^x$\"\n"
	    "  - \"format:timeout_seconds:([\"\n"
	    "  - \"looks:good\"\n"
	    "  - \"required:nested.a\"\n"
	    "  - \"format:api_key:^BSA-\"\nrun: {command: x}\n";

	(void)state;
	assert_int_equal(fx_render(&f, production, srv, false), -EINVAL);
	TU_EXPECT(&f.dl, ":10:5: server 'brave-search' (production): rule "
	    "'required:missing_key' failed: 'missing_key' is missing");
	TU_EXPECT(&f.dl, ":11:5: server 'brave-search' (production): rule "
	    "'required:empty' failed: 'empty' is empty");
	TU_EXPECT(&f.dl, ":12:5: server 'brave-search' (production): rule "
	    "'format:timeout_seconds:^[0-9]+$' failed: value 'soon' does not "
	    "match");
	/* a secret that fails a rule is named, never shown */
	TU_EXPECT(&f.dl, ":13:5: server 'brave-search' (production): rule "
	    "'format:api_key:^sk-[a-z]+$' failed: value *** does not match");
	TU_EXPECT(&f.dl, ":14:5: server 'brave-search' (production): rule "
	    "'format:nested:^x$' failed: 'nested' is a mapping, not a value");
	TU_EXPECT(&f.dl, ":15:5: server 'brave-search': rule "
	    "'format:timeout_seconds:([': bad regular expression");
	TU_EXPECT(&f.dl, ":16:5: server 'brave-search': unknown validation "
	    "rule 'looks:good'");
	assert_int_equal(f.dl.errors, 7);
	for (size_t i = 0; i < f.dl.n; i++)
		assert_null(strstr(f.dl.v[i].msg, "BSA-very-secret"));
	fx_free(&f);
}

/* Patterns mean what they mean in Python's re, where the guide's users
 * wrote them: \d, \w, (?i), lazy quantifiers and lookaheads work; a
 * pattern that backtracks without end is bounded, and said so. */
static void
test_validation_rules_are_python_patterns(void **state)
{
	struct fx	f;
	const char	*srv = "name: brave-search\nserver_type: s\n"
	    "base_config:\n  timeout_seconds: 30\n  host: Api.Example.com\n"
	    "  word: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\n"
	    "templates:\n  api_key: \"BSA-x\"\n"
	    "validation_rules:\n"
	    "  - 'format:timeout_seconds:^\\d+$'\n"
	    "  - 'format:host:(?i)^api\\.example\\.com$'\n"
	    "  - 'format:host:^\\w+(?=\\.)'\n"
	    "  - 'format:timeout_seconds:^\\d{3,}$'\n"
	    "  - 'format:word:^(a+)+$'\n"
	    "run: {command: x}\n";

	(void)state;
	assert_int_equal(fx_render(&f, production, srv, false), -EINVAL);
	TU_EXPECT(&f.dl, ":13:5: server 'brave-search' (production): rule "
	    "'format:timeout_seconds:^\\d{3,}$' failed: value '30' does not "
	    "match");
	TU_EXPECT(&f.dl, ":14:5: server 'brave-search' (production): rule "
	    "'format:word:^(a+)+$' could not be decided: the pattern "
	    "backtracks past its bound");
	/* the first three hold */
	assert_int_equal(f.dl.errors, 2);
	fx_free(&f);
}

static void
test_template_cycle(void **state)
{
	struct fx	f;
	const char	*srv = "name: brave-search\nserver_type: s\n"
	    "templates:\n  a: \"{{ config.b }}\"\n  b: \"x{{ config.a }}\"\n"
	    "  c: \"{{ config.c }}\"\nrun: {command: x}\n";

	(void)state;
	assert_int_equal(fx_render(&f, production, srv, false), -EINVAL);
	TU_EXPECT(&f.dl, "Template processing failed for 'b': circular template "
	    "reference through 'config.a'");
	TU_EXPECT(&f.dl, "Template processing failed for 'c': circular template "
	    "reference through 'config.c'");
	fx_free(&f);
}

static void
test_templates_refer_to_each_other(void **state)
{
	struct fx	f;
	const char	*srv = "name: brave-search\nserver_type: s\n"
	    "base_config:\n  port: \"{{ env.api_port }}\"\n"
	    "  url: \"http://127.0.0.1:{{ config.port }}{{ config.path }}\"\n"
	    "templates:\n  path: /mcp\n"
	    "  id: \"{{ server.name }}@{{ server.environment }}\"\nrun: {command: x}\n";

	(void)state;
	assert_int_equal(fx_render(&f, production, srv, false), 0);
	assert_string_equal(ynode_path(f.rs->config, "url")->text,
	    "http://127.0.0.1:8000/mcp");
	assert_string_equal(ynode_path(f.rs->config, "id")->text,
	    "brave-search@production");
	fx_free(&f);
}

static void
test_run_and_sandbox(void **state)
{
	struct fx	f;
	const char	*srv = "name: brave-search\nserver_type: s\n"
	    "base_config:\n  port: 8080\n"
	    "run:\n  command: /usr/bin/server\n"
	    "  args: [\"--port\", \"{{ config.port }}\"]\n"
	    "  transport: http\n  port: \"{{ config.port }}\"\n"
	    "  environment:\n    KEY: \"{{ env.brave_api_key }}\"\n"
	    "sandbox:\n  capabilities: [CAP_NET_BIND_SERVICE]\n"
	    "  network: host\n  rlimits: {nofile: 1024}\n";

	(void)state;
	assert_int_equal(fx_render(&f, production, srv, false), 0);
	assert_string_equal(ynode_path(f.rs->run, "args")->items[1]->text,
	    "8080");
	assert_string_equal(ynode_path(f.rs->run, "port")->text, "8080");
	assert_true(ynode_path(f.rs->run, "environment.KEY")->flags &
	    YNODE_SECRET);
	assert_int_equal(f.dl.n, 0);
	fx_free(&f);
}

static void
test_run_checked_after_rendering(void **state)
{
	struct fx	f;
	const char	*srv = "name: brave-search\nserver_type: s\n"
	    "base_config:\n  port: eighty\n"
	    "run:\n  command: /usr/bin/server\n"
	    "  args: [\"--key\", \"{{ env.brave_api_key }}\"]\n"
	    "  port: \"{{ config.port }}\"\n  stop_signal: STOP\n"
	    "  readiness: fd\n"
	    "sandbox:\n  capabilities: [CAP_SYS_ADMIN, cap_bogus]\n";

	(void)state;
	assert_int_equal(fx_render(&f, production, srv, false), -EINVAL);
	TU_EXPECT(&f.dl, ":8:9: 'port' must be an integer or 'auto', not string "
	    "'eighty'");
	TU_EXPECT(&f.dl, ":9:16: run.stop_signal 'STOP' is not one of");
	TU_EXPECT(&f.dl, "readiness 'fd' needs run.readiness_fd");
	TU_EXPECT(&f.dl, ":7:19: run.args[1] holds a secret");
	TU_EXPECT(&f.dl, ":12:18: capability 'CAP_SYS_ADMIN' is not in the "
	    "environment's security_policies.allowed_capabilities");
	TU_EXPECT(&f.dl, ":12:33: unknown capability 'cap_bogus'");
	fx_free(&f);
}

static void
test_policies(void **state)
{
	struct fx	f;
	const char	*env = "security_policies:\n  allow_network: false\n"
	    "  allow_root: false\n";
	const char	*srv = "name: brave-search\nserver_type: s\n"
	    "run:\n  command: x\n  user: root\n"
	    "sandbox:\n  network: host\n";

	(void)state;
	assert_int_equal(fx_render(&f, env, srv, false), -EINVAL);
	TU_EXPECT(&f.dl, ":5:9: run.user is root, and the environment's "
	    "security_policies.allow_root is false");
	TU_EXPECT(&f.dl, ":7:12: the environment's security_policies."
	    "allow_network is false: sandbox.network must be 'none'");
	fx_free(&f);
}

static void
test_check_rendered_per_server(void **state)
{
	struct fx		 f;
	struct check_file	*cf = NULL;
	struct check_def	 def;
	struct ynode		*cfg = NULL;
	struct render_opts	 ro = { .getenv = fake_getenv };
	char			*path;
	const char		*srv = "name: brave-search\nserver_type: s\n"
	    "base_config:\n  port: 3001\nrun: {command: x}\n";

	(void)state;
	assert_int_equal(fx_render(&f, production, srv, false), 0);
	path = tu_write(f.dir, "checks.yaml", "health_checks:\n"
	    "  - name: h\n    type: http\n    config:\n"
	    "      url: \"http://127.0.0.1:{{ config.port }}/health\"\n"
	    "      expected_status: [200]\n");
	assert_int_equal(check_file_load(path, &cf, &f.dl), 0);
	def.name = "h";
	def.type = "http";
	def.path = path;
	def.node = ynode_map_get(cf->doc, "health_checks")->items[0];
	assert_int_equal(render_check(&def, f.rs, f.re, &ro, &cfg, &f.dl), 0);
	assert_string_equal(ynode_map_get(cfg, "url")->text,
	    "http://127.0.0.1:3001/health");
	ynode_free(cfg);
	check_file_free(cf);
	free(path);
	fx_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guide_example),
		cmocka_unit_test(test_undefined_variable_message),
		cmocka_unit_test(test_unset_secret),
		cmocka_unit_test(test_validation_rules),
		cmocka_unit_test(test_validation_rules_are_python_patterns),
		cmocka_unit_test(test_template_cycle),
		cmocka_unit_test(test_templates_refer_to_each_other),
		cmocka_unit_test(test_run_and_sandbox),
		cmocka_unit_test(test_run_checked_after_rendering),
		cmocka_unit_test(test_policies),
		cmocka_unit_test(test_check_rendered_per_server),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
