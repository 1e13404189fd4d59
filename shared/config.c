/*
 * Loading of the four file kinds. Shapes are tables (see schema.h), so
 * that the man page, the loader and the error messages agree; what no
 * table can say (a name that must match its file, an environment
 * variable's spelling) is checked by hand below.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "schema.h"
#include "ynode.h"

/* --- shapes --- */

static const struct schema s_string = { .type = SCHEMA_STRING };
static const struct schema s_bool = { .type = SCHEMA_BOOL };
static const struct schema s_number = { .type = SCHEMA_NUMBER };
static const struct schema s_scalar = { .type = SCHEMA_SCALAR };
static const struct schema s_any = { .type = SCHEMA_ANY };
static const struct schema s_int = { .type = SCHEMA_INT };
static const struct schema s_uint = { .type = SCHEMA_INT, .min = 0,
    .max = 1LL << 40 };
static const struct schema s_port = { .type = SCHEMA_INT, .min = 1,
    .max = 65535 };
static const struct schema s_seconds = { .type = SCHEMA_INT, .min = 1,
    .max = 86400 };
static const struct schema s_retries = { .type = SCHEMA_INT, .min = 0,
    .max = 100 };
static const struct schema s_string_list = { .type = SCHEMA_LIST_OF,
    .of = &s_string };
static const struct schema s_scalar_list = { .type = SCHEMA_LIST_OF,
    .of = &s_scalar };
static const struct schema s_int_list = { .type = SCHEMA_LIST_OF,
    .of = &s_int };
static const struct schema s_scalar_map = { .type = SCHEMA_MAP_OF,
    .of = &s_scalar };
static const struct schema s_string_map = { .type = SCHEMA_MAP_OF,
    .of = &s_string };
static const struct schema s_free_map = { .type = SCHEMA_MAP_OF,
    .of = &s_any };

/* environments/<env>.yaml */
static const struct schema_field resource_limit_fields[] = {
	{ "cpu_cores", &s_number, false },
	{ "memory_gb", &s_number, false },
	{ "max_open_files", &s_uint, false },
	{ "max_processes", &s_uint, false },
	{ "max_file_size_mb", &s_uint, false },
	{ "core_dumps", &s_bool, false },
	{ NULL, NULL, false },
};
static const struct schema s_resource_limits = { .type = SCHEMA_MAP,
    .fields = resource_limit_fields };
static const struct schema_field security_policy_fields[] = {
	{ "require_mfa", &s_bool, false },
	{ "encrypt_at_rest", &s_bool, false },
	{ "audit_logging", &s_bool, false },
	{ "allow_network", &s_bool, false },
	{ "allow_root", &s_bool, false },
	{ "allowed_capabilities", &s_string_list, false },
	{ NULL, NULL, false },
};
static const struct schema s_security_policies = { .type = SCHEMA_MAP,
    .fields = security_policy_fields };
static const struct schema_field env_fields[] = {
	{ "variables", &s_scalar_map, false },
	{ "secrets", &s_string_map, false },
	{ "resource_limits", &s_resource_limits, false },
	{ "security_policies", &s_security_policies, false },
	{ NULL, NULL, false },
};
static const struct schema s_env = { .type = SCHEMA_MAP,
    .fields = env_fields };

/* servers/<name>.yaml */
static const char *const transports[] = { "stdio", "http", NULL };
static const char *const restart_policies[] = { "always", "on-failure",
    "never", NULL };
static const char *const readiness_kinds[] = { "process", "notify", "fd",
    NULL };
static const char *const network_modes[] = { "host", "none", NULL };
static const struct schema s_transport = { .type = SCHEMA_ENUM,
    .choices = transports };
static const struct schema s_restart = { .type = SCHEMA_ENUM,
    .choices = restart_policies };
static const struct schema s_readiness = { .type = SCHEMA_ENUM,
    .choices = readiness_kinds };
static const struct schema s_network = { .type = SCHEMA_ENUM,
    .choices = network_modes };
static const struct schema s_stop_timeout = { .type = SCHEMA_INT, .min = 0,
    .max = 3600 };
static const struct schema s_fd = { .type = SCHEMA_INT, .min = 3,
    .max = 1023 };
static const struct schema_field run_fields[] = {
	{ "command", &s_string, true, NULL },
	{ "args", &s_scalar_list, false, NULL },
	{ "transport", &s_transport, false, "stdio" },
	{ "url", &s_string, false, NULL },
	{ "port", &s_port, false, NULL },
	{ "environment", &s_scalar_map, false, NULL },
	{ "working_directory", &s_string, false, "/" },
	{ "user", &s_string, false, NULL },
	{ "group", &s_string, false, NULL },
	{ "supplementary_groups", &s_string_list, false, NULL },
	{ "stop_signal", &s_string, false, "TERM" },
	{ "stop_timeout_seconds", &s_stop_timeout, false, "10" },
	{ "restart", &s_restart, false, "on-failure" },
	{ "restart_delay_ms", &s_uint, false, "100" },
	{ "restart_delay_max_ms", &s_uint, false, "30000" },
	{ "max_deaths", &s_uint, false, "5" },
	{ "death_window_seconds", &s_seconds, false, "60" },
	{ "readiness", &s_readiness, false, "process" },
	{ "readiness_fd", &s_fd, false, NULL },
	{ "log_max_bytes", &s_uint, false, "10485760" },
	{ "log_keep", &s_uint, false, "3" },
	{ "files_to_backup", &s_string_list, false, NULL },
	{ NULL, NULL, false, NULL },
};
const struct schema config_run_schema = { .type = SCHEMA_MAP,
    .fields = run_fields };
static const struct schema_field rlimit_fields[] = {
	{ "as", &s_uint, false },
	{ "core", &s_uint, false },
	{ "cpu", &s_uint, false },
	{ "data", &s_uint, false },
	{ "fsize", &s_uint, false },
	{ "memlock", &s_uint, false },
	{ "nofile", &s_uint, false },
	{ "nproc", &s_uint, false },
	{ "stack", &s_uint, false },
	{ NULL, NULL, false },
};
static const struct schema s_rlimits = { .type = SCHEMA_MAP,
    .fields = rlimit_fields };
static const struct schema_field sandbox_fields[] = {
	{ "capabilities", &s_string_list, false },
	{ "network", &s_network, false },
	{ "writable_paths", &s_string_list, false },
	{ "rlimits", &s_rlimits, false },
	{ NULL, NULL, false },
};
const struct schema config_sandbox_schema = { .type = SCHEMA_MAP,
    .fields = sandbox_fields };
static const struct schema s_overrides = { .type = SCHEMA_MAP_OF,
    .of = &s_free_map };
static const struct schema_field server_fields[] = {
	{ "name", &s_string, true },
	{ "server_type", &s_string, true },
	{ "description", &s_string, false },
	{ "base_config", &s_free_map, false },
	{ "environment_overrides", &s_overrides, false },
	{ "templates", &s_scalar_map, false },
	{ "validation_rules", &s_string_list, false },
	{ "run", &config_run_schema, false },
	{ "sandbox", &config_sandbox_schema, false },
	{ NULL, NULL, false },
};
static const struct schema s_server = { .type = SCHEMA_MAP,
    .fields = server_fields };

/* files of the health-check directory */
static const char *const check_types[] = { "http", "tcp", "command",
    "file_system", "mcp", "custom", NULL };
static const char *const http_methods[] = { "GET", "HEAD", "POST", "PUT",
    "PATCH", "DELETE", "OPTIONS", NULL };
static const char *const mcp_probes[] = { "ping", "tools_list", "both",
    NULL };
static const struct schema s_check_type = { .type = SCHEMA_ENUM,
    .choices = check_types };
static const struct schema s_http_method = { .type = SCHEMA_ENUM,
    .choices = http_methods };
static const struct schema s_mcp_probe = { .type = SCHEMA_ENUM,
    .choices = mcp_probes };
static const struct schema_field http_fields[] = {
	{ "url", &s_string, true },
	{ "method", &s_http_method, false },
	{ "headers", &s_scalar_map, false },
	{ "body", &s_string, false },
	{ "expected_status", &s_int_list, false },
	{ "expected_body", &s_string, false },
	{ "expected_body_regex", &s_string, false },
	{ "verify_tls", &s_bool, false },
	{ "ca_file", &s_string, false },
	{ "follow_redirects", &s_bool, false },
	{ NULL, NULL, false },
};
static const struct schema_field tcp_fields[] = {
	{ "host", &s_string, true },
	{ "port", &s_port, true },
	{ NULL, NULL, false },
};
static const struct schema_field command_fields[] = {
	{ "command", &s_string, true },
	{ "args", &s_scalar_list, false },
	{ "environment", &s_scalar_map, false },
	{ "expected_output", &s_string, false },
	{ "expected_output_regex", &s_string, false },
	{ NULL, NULL, false },
};
static const struct schema_field fs_fields[] = {
	{ "path", &s_string, true },
	{ "check_readable", &s_bool, false },
	{ "check_writable", &s_bool, false },
	{ "min_free_space_mb", &s_uint, false },
	{ NULL, NULL, false },
};
static const struct schema_field mcp_fields[] = {
	{ "transport", &s_transport, false },
	{ "url", &s_string, false },
	{ "protocol_version", &s_string, false },
	{ "probe", &s_mcp_probe, false },
	{ "expected_tools", &s_string_list, false },
	{ NULL, NULL, false },
};
static const struct schema_field custom_fields[] = {
	{ "program", &s_string, false },
	{ "args", &s_scalar_list, false },
	{ "plugin", &s_string, false },
	{ "function", &s_string, false },
	{ "params", &s_any, false },
	{ NULL, NULL, false },
};
static const struct schema check_config_schemas[] = {
	{ .type = SCHEMA_MAP, .fields = http_fields },
	{ .type = SCHEMA_MAP, .fields = tcp_fields },
	{ .type = SCHEMA_MAP, .fields = command_fields },
	{ .type = SCHEMA_MAP, .fields = fs_fields },
	{ .type = SCHEMA_MAP, .fields = mcp_fields },
	{ .type = SCHEMA_MAP, .fields = custom_fields },
};
static const struct schema_field check_fields[] = {
	{ "name", &s_string, true },
	{ "type", &s_check_type, true },
	{ "description", &s_string, false },
	{ "timeout_seconds", &s_seconds, false },
	{ "retry_attempts", &s_retries, false },
	{ "critical", &s_bool, false },
	{ "tags", &s_string_list, false },
	{ "interval_seconds", &s_seconds, false },
	{ "failure_threshold", &s_retries, false },
	{ "config", &s_free_map, false },
	{ NULL, NULL, false },
};
static const struct schema s_check = { .type = SCHEMA_MAP,
    .fields = check_fields };
static const struct schema s_check_list = { .type = SCHEMA_LIST_OF,
    .of = &s_check };
static const struct schema_field check_file_fields[] = {
	{ "health_checks", &s_check_list, true },
	{ NULL, NULL, false },
};
static const struct schema s_check_file = { .type = SCHEMA_MAP,
    .fields = check_file_fields };

/* files of the deployments directory */
static const char *const strategies[] = { "immediate", "batch", "graceful",
    "aggressive", "manual", NULL };
static const struct schema s_strategy = { .type = SCHEMA_ENUM,
    .choices = strategies };
static const struct schema_field metadata_fields[] = {
	{ "name", &s_string, true },
	{ "environment", &s_string, false },
	{ "description", &s_string, false },
	{ "version", &s_string, false },
	{ "labels", &s_scalar_map, false },
	{ NULL, NULL, false },
};
static const struct schema s_metadata = { .type = SCHEMA_MAP,
    .fields = metadata_fields };
static const struct schema_field spec_server_fields[] = {
	{ "name", &s_string, true },
	{ "server_type", &s_string, false },
	{ "priority", &s_int, false },
	{ "parallel_safe", &s_bool, false },
	{ "dependencies", &s_string_list, false },
	{ "timeout_seconds", &s_seconds, false },
	{ "retry_attempts", &s_retries, false },
	{ "health_checks", &s_string_list, false },
	{ "rollback_actions", &s_string_list, false },
	{ NULL, NULL, false },
};
static const struct schema s_spec_server = { .type = SCHEMA_MAP,
    .fields = spec_server_fields };
static const struct schema s_spec_servers = { .type = SCHEMA_LIST_OF,
    .of = &s_spec_server };
static const struct schema_field settings_fields[] = {
	{ "parallel_deployment", &s_bool, false },
	{ "max_parallel", &s_uint, false },
	{ "rollback_on_failure", &s_bool, false },
	{ "rollback_strategy", &s_strategy, false },
	{ "health_checks_enabled", &s_bool, false },
	{ "monitoring_enabled", &s_bool, false },
	{ "monitor_port", &s_port, false },
	{ "snapshot_retention", &s_uint, false },
	{ "metrics_interval_seconds", &s_uint, false },
	{ NULL, NULL, false },
};
static const struct schema s_settings = { .type = SCHEMA_MAP,
    .fields = settings_fields };
/* custom rollback actions, by name: a program (JSON on stdin) or a
 * plugin function (mcpvisor/plugin.h) */
static const struct schema_field rollback_action_fields[] = {
	{ "program", &s_string, false },
	{ "args", &s_string_list, false },
	{ "plugin", &s_string, false },
	{ "function", &s_string, false },
	{ "params", &s_free_map, false },
	{ "timeout_seconds", &s_seconds, false },
	{ "description", &s_string, false },
	{ NULL, NULL, false },
};
static const struct schema s_rollback_action = { .type = SCHEMA_MAP,
    .fields = rollback_action_fields };
static const struct schema s_rollback_actions = { .type = SCHEMA_MAP_OF,
    .of = &s_rollback_action };
static const struct schema_field spec_fields[] = {
	{ "metadata", &s_metadata, true },
	{ "servers", &s_spec_servers, true },
	{ "deployment_settings", &s_settings, false },
	{ "rollback_actions", &s_rollback_actions, false },
	{ NULL, NULL, false },
};
static const struct schema s_spec = { .type = SCHEMA_MAP,
    .fields = spec_fields };

const struct schema *
config_check_schema(const char *type)
{
	for (size_t i = 0; check_types[i] != NULL; i++)
		if (strcmp(check_types[i], type) == 0)
			return &check_config_schemas[i];
	return NULL;
}

const char *
rollback_strategy_name(enum rollback_strategy s)
{
	return strategies[s];
}

/* --- helpers --- */

/* The file's stem: "deploy/config/servers/brave-search.yaml" gives
 * "brave-search". */
static char *
file_stem(const char *path)
{
	const char	*base = strrchr(path, '/');
	const char	*dot;

	base = base != NULL ? base + 1 : path;
	dot = strrchr(base, '.');
	return strndup(base, dot != NULL && dot != base ?
	    (size_t)(dot - base) : strlen(base));
}

/* Names become file names and log prefixes: keep them plain, as
 * [A-Za-z0-9][A-Za-z0-9._-]{0,127}. */
static bool
valid_name(const char *s)
{
	size_t	n;

	if (!isalnum((unsigned char)s[0]))
		return false;
	for (n = 1; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && s[n] != '.' &&
		    s[n] != '_' && s[n] != '-')
			return false;
	return n <= 128;
}

static void
check_name(const struct ynode *doc, const char *key, const char *what,
    struct diag_list *dl)
{
	const struct ynode	*n = ynode_map_get(doc, key);

	if (n != NULL && n->kind == YNODE_STRING && !valid_name(n->text))
		diag_add(dl, DIAG_ERROR, &n->mark, "%s '%.80s' must be letters, "
		    "digits, '.', '_' or '-' (at most 128)", what, n->text);
}

static bool
valid_env_var_name(const char *s)
{
	if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
		return false;
	for (s++; *s != '\0'; s++)
		if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* Loads path and checks it against s. Returns the tree, even when it
 * breaks the schema (so that the caller's own checks still run and every
 * problem is reported), or NULL when it is not YAML or is empty. */
static struct ynode *
load_checked(const char *path, const struct schema *s, const char *what,
    struct diag_list *dl)
{
	struct ynode	*doc = NULL;

	if (ynode_load_file(path, &doc, dl) < 0)
		return NULL;
	if (doc == NULL) {
		diag_add_file(dl, DIAG_ERROR, path, "file is empty");
		return NULL;
	}
	schema_check(doc, s, what, SCHEMA_RAW, dl);
	return doc;
}

/* --- environments --- */

int
env_load(const char *path, struct env_config **out, struct diag_list *dl)
{
	struct env_config	*env;
	struct ynode		*doc, *secrets;
	size_t			 before = dl->errors;

	if ((doc = load_checked(path, &s_env, "environment file", dl)) == NULL)
		return -EINVAL;
	if ((secrets = ynode_map_get(doc, "secrets")) != NULL &&
	    secrets->kind == YNODE_MAP)
		for (size_t i = 0; i < secrets->count; i++) {
			const struct ynode *v = secrets->items[i];

			if (v->kind == YNODE_STRING &&
			    !valid_env_var_name(v->text))
				diag_add(dl, DIAG_ERROR, &v->mark,
				    "secret '%s' must name an environment "
				    "variable, not '%.60s'",
				    secrets->keys[i]->text, v->text);
			if (ynode_map_get(ynode_map_get(doc, "variables"),
			    secrets->keys[i]->text) != NULL)
				diag_add(dl, DIAG_ERROR,
				    &secrets->keys[i]->mark, "'%s' is both a "
				    "variable and a secret",
				    secrets->keys[i]->text);
		}
	if (dl->errors > before) {
		ynode_free(doc);
		return -EINVAL;
	}
	if ((env = calloc(1, sizeof(*env))) == NULL ||
	    (env->path = strdup(path)) == NULL ||
	    (env->name = file_stem(path)) == NULL) {
		if (env != NULL)
			free(env->path);
		free(env);
		ynode_free(doc);
		return -ENOMEM;
	}
	env->doc = doc;
	*out = env;
	return 0;
}

void
env_free(struct env_config *env)
{
	if (env == NULL)
		return;
	ynode_free(env->doc);
	free(env->name);
	free(env->path);
	free(env);
}

/* --- servers --- */

int
server_load(const char *path, struct server_config **out,
    struct diag_list *dl)
{
	struct server_config	*srv;
	struct ynode		*doc;
	const struct ynode	*name;
	char			*stem;
	size_t			 before = dl->errors;

	if ((doc = load_checked(path, &s_server, "server file", dl)) == NULL)
		return -EINVAL;
	if ((stem = file_stem(path)) == NULL) {
		ynode_free(doc);
		return -ENOMEM;
	}
	check_name(doc, "name", "server name", dl);
	name = ynode_map_get(doc, "name");
	if (name != NULL && name->text != NULL && strcmp(name->text, stem) != 0)
		diag_add(dl, DIAG_ERROR, &name->mark, "server '%s' is in a "
		    "file named '%s': deployments find servers by file name, "
		    "so the two must match", name->text, stem);
	free(stem);
	if (dl->errors > before) {
		ynode_free(doc);
		return -EINVAL;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL ||
	    (srv->path = strdup(path)) == NULL ||
	    (srv->name = strdup(name->text)) == NULL) {
		if (srv != NULL)
			free(srv->path);
		free(srv);
		ynode_free(doc);
		return -ENOMEM;
	}
	srv->doc = doc;
	*out = srv;
	return 0;
}

void
server_free(struct server_config *srv)
{
	if (srv == NULL)
		return;
	ynode_free(srv->doc);
	free(srv->name);
	free(srv->path);
	free(srv);
}

/* --- health checks --- */

static void
check_custom(const struct ynode *check, struct diag_list *dl)
{
	const struct ynode	*cfg = ynode_map_get(check, "config");
	bool			 program, plugin;

	program = ynode_map_get(cfg, "program") != NULL;
	plugin = ynode_map_get(cfg, "plugin") != NULL;
	if (program == plugin)
		diag_add(dl, DIAG_ERROR, cfg != NULL ? &cfg->mark : &check->mark,
		    "a custom check names either 'program' or 'plugin' (with "
		    "'function')");
	else if (plugin && ynode_map_get(cfg, "function") == NULL)
		diag_add(dl, DIAG_ERROR, &cfg->mark,
		    "a plugin check names its 'function'");
}

int
check_file_load(const char *path, struct check_file **out,
    struct diag_list *dl)
{
	struct check_file	*cf;
	struct ynode		*doc;
	const struct ynode	*list;
	size_t			 before = dl->errors;

	if ((doc = load_checked(path, &s_check_file, "health-check file",
	    dl)) == NULL)
		return -EINVAL;
	list = ynode_map_get(doc, "health_checks");
	for (size_t i = 0; list != NULL && list->kind == YNODE_SEQ &&
	    i < list->count; i++) {
		const struct ynode	*c = list->items[i];
		const char		*type = schema_str(c, "type", "");
		const struct ynode	*cfg = ynode_map_get(c, "config");
		const struct schema	*cs = config_check_schema(type);
		char			 what[160];

		if (c->kind != YNODE_MAP)
			continue;
		check_name(c, "name", "health check name", dl);
		if (cs == NULL || (cfg != NULL && cfg->kind != YNODE_MAP))
			continue;
		snprintf(what, sizeof(what), "the config of %s check '%s'",
		    type, schema_str(c, "name", "?"));
		if (cfg == NULL && cs->fields[0].required)
			diag_add(dl, DIAG_ERROR, &c->mark, "%s check '%s' needs "
			    "a 'config' with '%s'", type,
			    schema_str(c, "name", "?"), cs->fields[0].key);
		else if (cfg != NULL)
			schema_check(cfg, cs, what, SCHEMA_RAW, dl);
		if (strcmp(type, "custom") == 0)
			check_custom(c, dl);
	}
	if (dl->errors > before) {
		ynode_free(doc);
		return -EINVAL;
	}
	if ((cf = calloc(1, sizeof(*cf))) == NULL ||
	    (cf->path = strdup(path)) == NULL) {
		free(cf);
		ynode_free(doc);
		return -ENOMEM;
	}
	cf->doc = doc;
	*out = cf;
	return 0;
}

void
check_file_free(struct check_file *cf)
{
	if (cf == NULL)
		return;
	ynode_free(cf->doc);
	free(cf->path);
	free(cf);
}

/* --- deployment specs --- */

static void
spec_read_settings(const struct ynode *doc, struct deploy_settings *s)
{
	const struct ynode	*m = ynode_map_get(doc, "deployment_settings");
	const char		*strategy;

	s->parallel_deployment = schema_bool(m, "parallel_deployment", true);
	s->max_parallel = (unsigned)schema_int(m, "max_parallel", 0);
	s->rollback_on_failure = schema_bool(m, "rollback_on_failure", true);
	s->health_checks_enabled = schema_bool(m, "health_checks_enabled",
	    true);
	s->monitoring_enabled = schema_bool(m, "monitoring_enabled", true);
	s->monitor_port = (unsigned)schema_int(m, "monitor_port", 8765);
	s->snapshot_retention = (unsigned)schema_int(m, "snapshot_retention",
	    5);
	s->metrics_interval_seconds = (unsigned)schema_int(m,
	    "metrics_interval_seconds", 5);
	strategy = schema_str(m, "rollback_strategy", "graceful");
	s->rollback_strategy = ROLLBACK_GRACEFUL;
	for (size_t i = 0; strategies[i] != NULL; i++)
		if (strcmp(strategies[i], strategy) == 0)
			s->rollback_strategy = (enum rollback_strategy)i;
}

/* Names the built-in steps of a rollback plan take; a custom action of
 * the same name would make the plan ambiguous. */
static const char *const builtin_rollback_steps[] = { "stop_new",
    "restore_files", "restore_config", "start_previous", "verify_health",
    "keep_new", NULL };

/* Each custom action is a program or a plugin function, never both, and
 * every name a server lists is defined. */
static void
check_rollback_actions(const struct ynode *doc, struct diag_list *dl)
{
	const struct ynode	*defs = ynode_map_get(doc, "rollback_actions");
	const struct ynode	*servers = ynode_map_get(doc, "servers");

	for (size_t i = 0; defs != NULL && defs->kind == YNODE_MAP &&
	    i < defs->count; i++) {
		const struct ynode	*a = defs->items[i], *key = defs->keys[i];
		bool			 program = ynode_map_get(a, "program") !=
					    NULL;
		bool			 plugin = ynode_map_get(a, "plugin") !=
					    NULL;

		for (size_t k = 0; builtin_rollback_steps[k] != NULL; k++)
			if (strcmp(key->text, builtin_rollback_steps[k]) == 0)
				diag_add(dl, DIAG_ERROR, &key->mark, "'%s' is "
				    "a built-in rollback step: give the custom "
				    "action another name", key->text);
		if (program == plugin)
			diag_add(dl, DIAG_ERROR, &a->mark, "rollback action "
			    "'%s' needs either 'program' or 'plugin' (with "
			    "'function')", key->text);
		else if (plugin && ynode_map_get(a, "function") == NULL)
			diag_add(dl, DIAG_ERROR, &a->mark, "rollback action "
			    "'%s' names a plugin but no 'function'", key->text);
		else if (program && ynode_map_get(a, "function") != NULL)
			diag_add(dl, DIAG_ERROR, &ynode_map_get(a,
			    "function")->mark, "'function' goes with 'plugin', "
			    "not with 'program'");
	}
	for (size_t i = 0; servers != NULL && servers->kind == YNODE_SEQ &&
	    i < servers->count; i++) {
		const struct ynode	*names = ynode_map_get(servers->items[i],
					    "rollback_actions");

		for (size_t k = 0; names != NULL && names->kind == YNODE_SEQ &&
		    k < names->count; k++)
			if (names->items[k]->text != NULL &&
			    ynode_map_get(defs, names->items[k]->text) == NULL)
				diag_add(dl, DIAG_ERROR, &names->items[k]->mark,
				    "no rollback action '%s' (define it under "
				    "rollback_actions)", names->items[k]->text);
	}
}

int
spec_load(const char *path, struct deploy_spec **out, struct diag_list *dl)
{
	struct deploy_spec	*spec;
	struct ynode		*doc;
	const struct ynode	*meta, *list;
	size_t			 before = dl->errors;

	if ((doc = load_checked(path, &s_spec, "deployment spec", dl)) == NULL)
		return -EINVAL;
	meta = ynode_map_get(doc, "metadata");
	list = ynode_map_get(doc, "servers");
	check_name(meta, "name", "deployment name", dl);
	if (list != NULL && list->kind == YNODE_SEQ && list->count == 0)
		diag_add(dl, DIAG_ERROR, &list->mark,
		    "a deployment lists at least one server");
	check_rollback_actions(doc, dl);
	if (dl->errors > before) {
		ynode_free(doc);
		return -EINVAL;
	}
	if ((spec = calloc(1, sizeof(*spec))) == NULL ||
	    (spec->path = strdup(path)) == NULL ||
	    (spec->servers = calloc(list->count,
	    sizeof(*spec->servers))) == NULL) {
		if (spec != NULL)
			free(spec->path);
		free(spec);
		ynode_free(doc);
		return -ENOMEM;
	}
	spec->doc = doc;
	spec->name = schema_str(meta, "name", "");
	spec->environment = schema_str(meta, "environment", NULL);
	spec->nservers = list->count;
	for (size_t i = 0; i < list->count; i++) {
		const struct ynode	*n = list->items[i];
		struct spec_server	*s = &spec->servers[i];

		s->node = n;
		s->name = schema_str(n, "name", "");
		s->server_type = schema_str(n, "server_type", NULL);
		s->priority = schema_int(n, "priority", 0);
		s->parallel_safe = schema_bool(n, "parallel_safe", false);
		s->timeout_seconds = (unsigned)schema_int(n, "timeout_seconds",
		    300);
		s->retry_attempts = (unsigned)schema_int(n, "retry_attempts",
		    3);
		s->dependencies = ynode_map_get(n, "dependencies");
		s->health_checks = ynode_map_get(n, "health_checks");
		s->rollback_actions = ynode_map_get(n, "rollback_actions");
	}
	spec_read_settings(doc, &spec->settings);
	*out = spec;
	return 0;
}

void
spec_free(struct deploy_spec *spec)
{
	if (spec == NULL)
		return;
	ynode_free(spec->doc);
	free(spec->servers);
	free(spec->path);
	free(spec);
}

unsigned
spec_check(const struct deploy_spec *spec, const struct project *p,
    const char *environment, struct diag_list *dl)
{
	size_t	before = dl->errors;

	if (environment != NULL && project_env(p, environment) == NULL) {
		const struct ynode *m = ynode_path(spec->doc,
		    "metadata.environment");

		if (m != NULL && strcmp(m->text, environment) == 0)
			diag_add(dl, DIAG_ERROR, &m->mark,
			    "no environment '%s' (no environments/%s.yaml)",
			    environment, environment);
		else
			diag_add_file(dl, DIAG_ERROR, spec->path,
			    "no environment '%s' (no environments/%s.yaml)",
			    environment, environment);
	}
	for (size_t i = 0; i < spec->nservers; i++) {
		const struct spec_server	*s = &spec->servers[i];
		const struct server_config	*srv;
		const struct ynode		*hc = s->health_checks;
		const struct ynode		*name = ynode_map_get(s->node,
						    "name");

		if ((srv = project_server(p, s->name)) == NULL)
			diag_add(dl, DIAG_ERROR, &name->mark, "no server file "
			    "for '%s' (servers/%s.yaml)", s->name, s->name);
		else if (s->server_type != NULL &&
		    strcmp(s->server_type, schema_str(srv->doc, "server_type",
		    "")) != 0)
			diag_add(dl, DIAG_ERROR, &ynode_map_get(s->node,
			    "server_type")->mark, "server '%s' is of type '%s' "
			    "in %s, not '%s'", s->name,
			    schema_str(srv->doc, "server_type", ""), srv->path,
			    s->server_type);
		for (size_t j = 0; hc != NULL && j < hc->count; j++)
			if (project_check(p, hc->items[j]->text) == NULL)
				diag_add(dl, DIAG_ERROR, &hc->items[j]->mark,
				    "server '%s' names health check '%s', "
				    "which no health-check file defines",
				    s->name, hc->items[j]->text);
	}
	return (unsigned)(dl->errors - before);
}

/* --- the project --- */

char *
config_sibling_dir(const char *config_dir, const char *name)
{
	size_t	 len = strlen(config_dir);
	char	*path = NULL;

	while (len > 1 && config_dir[len - 1] == '/')
		len--;
	while (len > 0 && config_dir[len - 1] != '/')
		len--;
	/* len now covers the parent and its slash, or is 0 for "config" */
	if (asprintf(&path, "%.*s%s", (int)len, config_dir, name) == -1)
		return NULL;
	return path;
}

static int
name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
has_yaml_suffix(const char *name)
{
	size_t	len = strlen(name);

	return (len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
	    (len > 4 && strcmp(name + len - 4, ".yml") == 0);
}

int
config_list_dir(const char *dir, char ***out)
{
	DIR		 *d;
	struct dirent	 *de;
	char		**names = NULL;
	size_t		  n = 0, cap = 0;
	int		  r;

	if ((d = opendir(dir)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		char	*path;

		if (de->d_name[0] == '.' || !has_yaml_suffix(de->d_name))
			continue;
		if (n == cap) {
			char	**v;

			cap = cap ? cap * 2 : 16;
			if ((v = realloc(names, cap * sizeof(*v))) == NULL)
				goto nomem;
			names = v;
		}
		if (asprintf(&path, "%s/%s", dir, de->d_name) == -1)
			goto nomem;
		names[n++] = path;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), name_order);
	*out = names;
	return (int)n;
nomem:
	r = -ENOMEM;
	closedir(d);
	config_free_list(names, (int)n);
	return r;
}

void
config_free_list(char **names, int n)
{
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int
push_ptr(void *arrayp, size_t *n, void *item)
{
	void	***array = arrayp;
	void	 **v;

	if ((v = realloc(*array, (*n + 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	v[(*n)++] = item;
	*array = v;
	return 0;
}

/* Loads every YAML file of dir/sub with load; items land in *array. */
static int
load_all(const char *dir, const char *sub, void *array, size_t *n,
    int (*load)(const char *, void **, struct diag_list *),
    void (*release)(void *), struct diag_list *dl)
{
	char	  path[4096];
	char	**files;
	int	  nfiles, r = 0;

	snprintf(path, sizeof(path), "%s%s%s", dir, sub ? "/" : "",
	    sub ? sub : "");
	nfiles = config_list_dir(path, &files);
	/* a project without health checks has no directory for them */
	if (nfiles == -ENOENT && sub == NULL)
		return 0;
	if (nfiles < 0) {
		diag_add_file(dl, DIAG_ERROR, path, "cannot read directory: %s",
		    strerror(-nfiles));
		return 0;
	}
	for (int i = 0; i < nfiles && r == 0; i++) {
		void	*item;

		if (load(files[i], &item, dl) < 0)
			continue;
		if ((r = push_ptr(array, n, item)) < 0)
			release(item);
	}
	config_free_list(files, nfiles);
	return r;
}

static int
load_env_any(const char *p, void **o, struct diag_list *dl)
{
	return env_load(p, (struct env_config **)o, dl);
}

static int
load_server_any(const char *p, void **o, struct diag_list *dl)
{
	return server_load(p, (struct server_config **)o, dl);
}

static int
load_checks_any(const char *p, void **o, struct diag_list *dl)
{
	return check_file_load(p, (struct check_file **)o, dl);
}

static void
env_free_any(void *p)
{
	env_free(p);
}

static void
server_free_any(void *p)
{
	server_free(p);
}

static void
check_file_free_any(void *p)
{
	check_file_free(p);
}

static int
check_order(const void *a, const void *b)
{
	const struct check_def	*x = a, *y = b;
	int			 c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Gathers every check of every file, sorted by name for lookups. A name
 * defined twice is an error at the later definition, which is dropped. */
static int
project_index_checks(struct project *p, struct diag_list *dl)
{
	size_t	total = 0, kept = 0;

	for (size_t i = 0; i < p->ncheck_files; i++)
		total += ynode_map_get(p->check_files[i]->doc,
		    "health_checks")->count;
	if (total == 0)
		return 0;
	if ((p->checks = calloc(total, sizeof(*p->checks))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < p->ncheck_files; i++) {
		const struct check_file	*cf = p->check_files[i];
		const struct ynode	*list = ynode_map_get(cf->doc,
					    "health_checks");

		for (size_t j = 0; j < list->count; j++) {
			struct check_def	*d = &p->checks[p->nchecks];
			const struct ynode	*c = list->items[j];

			d->name = schema_str(c, "name", "");
			d->type = schema_str(c, "type", "");
			d->path = cf->path;
			d->node = c;
			d->seq = p->nchecks++;
		}
	}
	qsort(p->checks, p->nchecks, sizeof(*p->checks), check_order);
	for (size_t i = 0; i < p->nchecks; i++) {
		const struct check_def	*d = &p->checks[i];

		if (kept > 0 && strcmp(p->checks[kept - 1].name, d->name) == 0) {
			diag_add(dl, DIAG_ERROR, &ynode_map_get(d->node,
			    "name")->mark, "health check '%s' is already "
			    "defined at %s:%u", d->name, p->checks[kept - 1].path,
			    p->checks[kept - 1].node->mark.line);
			continue;
		}
		p->checks[kept++] = *d;
	}
	p->nchecks = kept;
	return 0;
}

static int
env_order(const void *a, const void *b)
{
	return strcmp((*(struct env_config *const *)a)->name,
	    (*(struct env_config *const *)b)->name);
}

static int
server_order(const void *a, const void *b)
{
	return strcmp((*(struct server_config *const *)a)->name,
	    (*(struct server_config *const *)b)->name);
}

int
project_load(const struct project_paths *paths, struct project **out,
    struct diag_list *dl)
{
	struct project	*p;
	int		 r;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -ENOMEM;
	if ((r = load_all(paths->config_dir, "environments", &p->envs,
	    &p->nenvs, load_env_any, env_free_any, dl)) < 0 ||
	    (r = load_all(paths->config_dir, "servers", &p->servers,
	    &p->nservers, load_server_any, server_free_any, dl)) < 0 ||
	    (paths->checks_dir != NULL &&
	    (r = load_all(paths->checks_dir, NULL, &p->check_files,
	    &p->ncheck_files, load_checks_any, check_file_free_any,
	    dl)) < 0) ||
	    (paths->registered_checks_dir != NULL &&
	    (r = load_all(paths->registered_checks_dir, NULL,
	    &p->check_files, &p->ncheck_files, load_checks_any,
	    check_file_free_any, dl)) < 0) ||
	    (r = project_index_checks(p, dl)) < 0) {
		project_free(p);
		return r;
	}
	/* sorted by name, so that lookups are binary searches: a deployment
	 * of thousands of servers must not cost quadratic time */
	if (p->nenvs > 1)
		qsort(p->envs, p->nenvs, sizeof(*p->envs), env_order);
	if (p->nservers > 1)
		qsort(p->servers, p->nservers, sizeof(*p->servers),
		    server_order);
	*out = p;
	return 0;
}

void
project_free(struct project *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nenvs; i++)
		env_free(p->envs[i]);
	for (size_t i = 0; i < p->nservers; i++)
		server_free(p->servers[i]);
	for (size_t i = 0; i < p->ncheck_files; i++)
		check_file_free(p->check_files[i]);
	free(p->envs);
	free(p->servers);
	free(p->check_files);
	free(p->checks);
	free(p);
}

static int
env_key(const void *key, const void *elem)
{
	return strcmp(key, (*(struct env_config *const *)elem)->name);
}

static int
server_key(const void *key, const void *elem)
{
	return strcmp(key, (*(struct server_config *const *)elem)->name);
}

static int
check_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct check_def *)elem)->name);
}

const struct env_config *
project_env(const struct project *p, const char *name)
{
	struct env_config *const *e;

	if (p->nenvs == 0)
		return NULL;
	e = bsearch(name, p->envs, p->nenvs, sizeof(*p->envs), env_key);
	return e != NULL ? *e : NULL;
}

const struct server_config *
project_server(const struct project *p, const char *name)
{
	struct server_config *const *s;

	if (p->nservers == 0)
		return NULL;
	s = bsearch(name, p->servers, p->nservers, sizeof(*p->servers),
	    server_key);
	return s != NULL ? *s : NULL;
}

const struct check_def *
project_check(const struct project *p, const char *name)
{
	if (p->nchecks == 0)
		return NULL;
	return bsearch(name, p->checks, p->nchecks, sizeof(*p->checks),
	    check_key);
}
