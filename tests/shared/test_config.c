/* Tests of shared/config.c and shared/schema.c: shapes and cross-file
 * references, with every error reported at its file, line and column. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include "config.h"
#include "diag.h"
#include "ynode.h"
#include "testutil.h"

static void
test_unknown_key_suggests(void **state)
{
	struct diag_list	 dl = { 0 };
	struct server_config	*srv = NULL;
	char			*dir = tu_tmpdir(), *path;

	(void)state;
	path = tu_write(dir, "echo.yaml", "name: echo\nserver_type: t\n"
	    "run:\n  comand: /bin/cat\n");
	assert_int_equal(server_load(path, &srv, &dl), -EINVAL);
	assert_null(srv);
	TU_EXPECT(&dl, "echo.yaml:4:3: unknown key 'comand' in run (did you "
	    "mean 'command'?)");
	TU_EXPECT(&dl, "echo.yaml:4:3: missing required key 'command' in run");
	diag_list_free(&dl);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

static void
test_every_error_in_a_file(void **state)
{
	struct diag_list	 dl = { 0 };
	struct server_config	*srv = NULL;
	char			*dir = tu_tmpdir(), *path;

	(void)state;
	path = tu_write(dir, "bad.yaml",
	    "name: bad\n"
	    "colour: blue\n"
	    "validation_rules: required:x\n"
	    "run:\n"
	    "  command: x\n"
	    "  transport: carrier-pigeon\n"
	    "  stop_timeout_seconds: forever\n"
	    "  port: 70000\n"
	    "sandbox:\n"
	    "  network: [a]\n");
	assert_true(server_load(path, &srv, &dl) < 0);
	TU_EXPECT(&dl, "bad.yaml:1:1: missing required key 'server_type'");
	TU_EXPECT(&dl, "bad.yaml:2:1: unknown key 'colour' in server file");
	TU_EXPECT(&dl, "bad.yaml:3:19: 'validation_rules' must be a list, not "
	    "string 'required:x'");
	TU_EXPECT(&dl, "bad.yaml:6:14: 'transport' must be one of stdio, http, "
	    "not 'carrier-pigeon'");
	TU_EXPECT(&dl, "bad.yaml:7:25: 'stop_timeout_seconds' must be an "
	    "integer, not string 'forever'");
	TU_EXPECT(&dl, "bad.yaml:8:9: 'port' must be from 1 to 65535, not "
	    "70000");
	TU_EXPECT(&dl, "bad.yaml:10:12: 'network' must be one of");
	assert_int_equal(dl.errors, 7);
	diag_list_free(&dl);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

static void
test_server_name_must_match_file(void **state)
{
	struct diag_list	 dl = { 0 };
	struct server_config	*srv = NULL;
	char			*dir = tu_tmpdir(), *path;

	(void)state;
	path = tu_write(dir, "alpha.yaml", "name: beta\nserver_type: t\nrun: {command: x}\n");
	assert_true(server_load(path, &srv, &dl) < 0);
	TU_EXPECT(&dl, "alpha.yaml:1:7: server 'beta' is in a file named "
	    "'alpha'");
	diag_list_free(&dl);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

static void
test_environment_file(void **state)
{
	struct diag_list	 dl = { 0 };
	struct env_config	*env = NULL;
	char			*dir = tu_tmpdir(), *good, *bad;

	(void)state;
	good = tu_write(dir, "production.yaml",
	    "variables:\n  db_host: \"{{ env('DB_HOST') or 'localhost' }}\"\n"
	    "  api_port: 8000\nsecrets:\n  db_password: DB_PASSWORD\n"
	    "resource_limits:\n  cpu_cores: 4\n  memory_gb: 8\n"
	    "security_policies:\n  require_mfa: true\n"
	    "  encrypt_at_rest: true\n");
	assert_int_equal(env_load(good, &env, &dl), 0);
	assert_string_equal(env->name, "production");
	env_free(env);
	env = NULL;
	bad = tu_write(dir, "broken.yaml",
	    "variables:\n  nested:\n    no: 1\n"
	    "secrets:\n  pw: \"not a var\"\n"
	    "resource_limits:\n  cpu_cores: lots\n"
	    "security_policies:\n  require_mfa: yes\n");
	assert_true(env_load(bad, &env, &dl) < 0);
	TU_EXPECT(&dl, "broken.yaml:3:5: 'variables.nested' must be a single "
	    "value, not mapping");
	TU_EXPECT(&dl, "broken.yaml:7:14: 'cpu_cores' must be a number");
	TU_EXPECT(&dl, "broken.yaml:9:16: 'require_mfa' must be a boolean "
	    "(true or false), not string 'yes'");
	diag_list_free(&dl);
	tu_rmtree(dir);
	free(good);
	free(bad);
	free(dir);
}

static void
test_secret_must_name_a_variable(void **state)
{
	struct diag_list	 dl = { 0 };
	struct env_config	*env = NULL;
	char			*dir = tu_tmpdir(), *path;

	(void)state;
	path = tu_write(dir, "e.yaml", "variables:\n  pw: x\n"
	    "secrets:\n  pw: PW\n  key: \"hunter 2\"\n");
	assert_true(env_load(path, &env, &dl) < 0);
	TU_EXPECT(&dl, "e.yaml:4:3: 'pw' is both a variable and a secret");
	TU_EXPECT(&dl, "e.yaml:5:8: secret 'key' must name an environment "
	    "variable");
	diag_list_free(&dl);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

static void
test_health_check_files(void **state)
{
	struct diag_list	 dl = { 0 };
	struct check_file	*cf = NULL;
	char			*dir = tu_tmpdir(), *good, *bad;

	(void)state;
	good = tu_write(dir, "ok.yaml", "health_checks:\n"
	    "  - name: http_health_api\n    type: http\n"
	    "    timeout_seconds: 15\n    retry_attempts: 3\n"
	    "    critical: true\n    tags: [http, api]\n    config:\n"
	    "      url: \"http://localhost:{{ config.port }}/health\"\n"
	    "      expected_status: [200]\n      expected_body: healthy\n"
	    "  - name: tcp\n    type: tcp\n    config:\n"
	    "      host: localhost\n      port: \"{{ config.port }}\"\n");
	assert_int_equal(check_file_load(good, &cf, &dl), 0);
	check_file_free(cf);
	cf = NULL;
	bad = tu_write(dir, "bad.yaml", "health_checks:\n"
	    "  - name: a\n    type: smoke-signal\n"
	    "  - name: b\n    type: http\n    config:\n      method: GET\n"
	    "  - name: c\n    type: tcp\n    config:\n      host: h\n"
	    "      port: 0\n"
	    "  - name: d\n    type: custom\n    config: {}\n"
	    "  - name: e\n    type: mcp\n    config:\n      probe: poke\n");
	assert_true(check_file_load(bad, &cf, &dl) < 0);
	TU_EXPECT(&dl, "bad.yaml:3:11: 'type' must be one of http, tcp, "
	    "command, file_system, mcp, custom, not 'smoke-signal'");
	TU_EXPECT(&dl, "bad.yaml:7:7: missing required key 'url' in the config "
	    "of http check 'b'");
	TU_EXPECT(&dl, "bad.yaml:12:13: 'port' must be from 1 to 65535");
	TU_EXPECT(&dl, "a custom check names either 'program' or 'plugin'");
	TU_EXPECT(&dl, "bad.yaml:19:14: 'probe' must be one of ping, "
	    "tools_list, both");
	diag_list_free(&dl);
	tu_rmtree(dir);
	free(good);
	free(bad);
	free(dir);
}

static const char spec_text[] =
    "metadata:\n"
    "  name: demo\n"
    "  environment: production\n"
    "servers:\n"
    "  - name: a\n"
    "    server_type: search\n"
    "    priority: 100\n"
    "    parallel_safe: true\n"
    "    health_checks: [ping, nonesuch]\n"
    "  - name: ghost\n"
    "    timeout_seconds: 0\n"
    "deployment_settings:\n"
    "  rollback_strategy: hope\n";

static void
test_spec_shape(void **state)
{
	struct diag_list	 dl = { 0 };
	struct deploy_spec	*spec = NULL;
	char			*dir = tu_tmpdir(), *path;

	(void)state;
	path = tu_write(dir, "d.yaml", spec_text);
	assert_true(spec_load(path, &spec, &dl) < 0);
	TU_EXPECT(&dl, "d.yaml:11:22: 'timeout_seconds' must be from 1 to "
	    "86400, not 0");
	TU_EXPECT(&dl, "d.yaml:13:22: 'rollback_strategy' must be one of "
	    "immediate, batch, graceful, aggressive, manual, not 'hope'");
	assert_int_equal(dl.errors, 2);
	diag_list_free(&dl);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

static void
test_spec_rollback_actions(void **state)
{
	struct diag_list	 dl = { 0 };
	struct deploy_spec	*spec = NULL;
	char			*dir = tu_tmpdir(), *path;

	(void)state;
	path = tu_write(dir, "r.yaml",
	    "metadata: {name: demo}\n"
	    "rollback_actions:\n"
	    "  cleanup: {program: bin/cleanup, args: [--all]}\n"
	    "  both: {program: x, plugin: y.so, function: f}\n"
	    "  stop_new: {program: x}\n"
	    "  lonely: {plugin: y.so}\n"
	    "  mixed: {program: x, function: f}\n"
	    "servers:\n"
	    "  - name: a\n"
	    "    rollback_actions: [cleanup, nowhere]\n");
	assert_true(spec_load(path, &spec, &dl) < 0);
	TU_EXPECT(&dl, "r.yaml:4:9: rollback action 'both' needs either "
	    "'program' or 'plugin'");
	TU_EXPECT(&dl, "r.yaml:5:3: 'stop_new' is a built-in rollback step");
	TU_EXPECT(&dl, "r.yaml:6:11: rollback action 'lonely' names a plugin "
	    "but no 'function'");
	TU_EXPECT(&dl, "r.yaml:7:33: 'function' goes with 'plugin'");
	TU_EXPECT(&dl, "r.yaml:10:33: no rollback action 'nowhere'");
	assert_int_equal(dl.errors, 5);
	diag_list_free(&dl);
	free(path);
	path = tu_write(dir, "ok.yaml",
	    "metadata: {name: demo}\n"
	    "rollback_actions:\n"
	    "  cleanup: {plugin: /p.so, function: f, params: {a: 1}}\n"
	    "servers:\n"
	    "  - name: a\n"
	    "    rollback_actions: [cleanup]\n");
	assert_int_equal(spec_load(path, &spec, &dl), 0);
	assert_int_equal(dl.errors, 0);
	assert_int_equal(spec->servers[0].rollback_actions->count, 1);
	spec_free(spec);
	tu_rmtree(dir);
	free(path);
	free(dir);
}

static void
test_spec_references(void **state)
{
	struct diag_list	 dl = { 0 };
	struct deploy_spec	*spec = NULL;
	struct project		*p = NULL;
	struct project_paths	 paths;
	char			*dir = tu_tmpdir(), *cfg, *checks, *path;
	char			*files[4];

	(void)state;
	if (asprintf(&cfg, "%s/config", dir) == -1 ||
	    asprintf(&checks, "%s/health-checks", dir) == -1)
		abort();
	mkdir(cfg, 0700);
	files[0] = tu_write(cfg, "environments/production.yaml",
	    "variables: {}\n");
	files[1] = tu_write(cfg, "servers/a.yaml",
	    "name: a\nserver_type: knowledge\nrun: {command: x}\n");
	files[2] = tu_write(dir, "health-checks/c.yaml",
	    "health_checks:\n  - name: ping\n    type: mcp\n");
	files[3] = tu_write(dir, "health-checks/d.yaml",
	    "health_checks:\n  - name: ping\n    type: tcp\n"
	    "    config: {host: h, port: 1}\n");
	paths.config_dir = cfg;
	paths.checks_dir = checks;
	paths.deployments_dir = NULL;
	assert_int_equal(project_load(&paths, &p, &dl), 0);
	TU_EXPECT(&dl, "d.yaml:2:11: health check 'ping' is already defined "
	    "at ");
	assert_int_equal(p->nchecks, 1);
	diag_list_free(&dl);
	path = tu_write(dir, "spec.yaml",
	    "metadata: {name: demo, environment: staging}\n"
	    "servers:\n"
	    "  - name: a\n    server_type: search\n"
	    "    health_checks: [ping, nonesuch]\n"
	    "  - name: ghost\n");
	assert_int_equal(spec_load(path, &spec, &dl), 0);
	assert_int_equal(spec_check(spec, p, spec->environment, &dl), 4);
	TU_EXPECT(&dl, "spec.yaml:1:37: no environment 'staging'");
	TU_EXPECT(&dl, "spec.yaml:4:18: server 'a' is of type 'knowledge'");
	TU_EXPECT(&dl, "spec.yaml:5:27: server 'a' names health check "
	    "'nonesuch', which no health-check file defines");
	TU_EXPECT(&dl, "spec.yaml:6:11: no server file for 'ghost'");
	spec_free(spec);
	project_free(p);
	diag_list_free(&dl);
	tu_rmtree(dir);
	for (int i = 0; i < 4; i++)
		free(files[i]);
	free(path);
	free(cfg);
	free(checks);
	free(dir);
}

static void
test_project_keeps_good_files(void **state)
{
	struct diag_list	 dl = { 0 };
	struct project		*p = NULL;
	struct project_paths	 paths = { 0 };
	char			*dir = tu_tmpdir(), *f[3];

	(void)state;
	f[0] = tu_write(dir, "servers/good.yaml", "name: good\nserver_type: t\nrun: {command: x}\n");
	f[1] = tu_write(dir, "servers/bad.yaml", "name: bad\n");
	f[2] = tu_write(dir, "environments/dev.yaml", "variables: [oops\n");
	paths.config_dir = dir;
	assert_int_equal(project_load(&paths, &p, &dl), 0);
	assert_int_equal(p->nservers, 1);
	assert_non_null(project_server(p, "good"));
	assert_int_equal(p->nenvs, 0);
	assert_int_equal(dl.errors, 3);
	TU_EXPECT(&dl, "bad.yaml:1:1: missing required key 'server_type'");
	/* what a deploy would refuse is refused on load, with an example */
	TU_EXPECT(&dl, "bad.yaml:1:1: missing required key 'run' in server "
	    "file: mcpvisor does not know how to start this server; add, for "
	    "example:\n    run:\n      command:");
	TU_EXPECT(&dl, "dev.yaml:2:1:");
	project_free(p);
	diag_list_free(&dl);
	tu_rmtree(dir);
	for (int i = 0; i < 3; i++)
		free(f[i]);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unknown_key_suggests),
		cmocka_unit_test(test_every_error_in_a_file),
		cmocka_unit_test(test_server_name_must_match_file),
		cmocka_unit_test(test_environment_file),
		cmocka_unit_test(test_secret_must_name_a_variable),
		cmocka_unit_test(test_health_check_files),
		cmocka_unit_test(test_spec_shape),
		cmocka_unit_test(test_spec_references),
		cmocka_unit_test(test_spec_rollback_actions),
		cmocka_unit_test(test_project_keeps_good_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
