/*
 * The shapes of the four file kinds, as schema tables (schema.h): the
 * one place where a key, its type, its limits and its default are
 * written, read by the loaders (config.c) and the renderer's second
 * check (render.c). The run section's table is in run_schema.c.
 */
#include "config.h"
#include "config_schema.h"

#include <stddef.h>
#include <string.h>

#include "schema.h"
#include "ynode.h"

static const struct schema s_bool = { .type = SCHEMA_BOOL };
static const struct schema s_number = { .type = SCHEMA_NUMBER };
static const struct schema s_any = { .type = SCHEMA_ANY };
static const struct schema s_int = { .type = SCHEMA_INT };
static const struct schema s_retries = { .type = SCHEMA_INT, .min = 0,
    .max = 100 };
static const struct schema s_int_list = { .type = SCHEMA_LIST_OF,
    .of = &s_int };
static const struct schema s_string_map = { .type = SCHEMA_MAP_OF,
    .of = &shape_string };
static const struct schema s_free_map = { .type = SCHEMA_MAP_OF,
    .of = &s_any };

/* environments/<env>.yaml */
static const struct schema_field resource_limit_fields[] = {
	{ "cpu_cores", &s_number, false },
	{ "memory_gb", &s_number, false },
	{ "pids_max", &shape_uint, false },
	{ "max_open_files", &shape_uint, false },
	{ "max_processes", &shape_uint, false },
	{ "max_file_size_mb", &shape_uint, false },
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
	{ "allowed_capabilities", &shape_string_list, false },
	{ NULL, NULL, false },
};
static const struct schema s_security_policies = { .type = SCHEMA_MAP,
    .fields = security_policy_fields };
static const struct schema_field env_fields[] = {
	{ "variables", &shape_scalar_map, false },
	{ "secrets", &s_string_map, false },
	{ "resource_limits", &s_resource_limits, false },
	{ "security_policies", &s_security_policies, false },
	{ NULL, NULL, false },
};
const struct schema config_env_schema = { .type = SCHEMA_MAP,
    .fields = env_fields };

/* servers/<name>.yaml */
static const char *const network_modes[] = { "host", "none", NULL };
static const struct schema s_network = { .type = SCHEMA_ENUM,
    .choices = network_modes };

static const struct schema_field rlimit_fields[] = {
	{ "as", &shape_uint, false },
	{ "core", &shape_uint, false },
	{ "cpu", &shape_uint, false },
	{ "data", &shape_uint, false },
	{ "fsize", &shape_uint, false },
	{ "memlock", &shape_uint, false },
	{ "nofile", &shape_uint, false },
	{ "nproc", &shape_uint, false },
	{ "stack", &shape_uint, false },
	{ NULL, NULL, false },
};
static const struct schema s_rlimits = { .type = SCHEMA_MAP,
    .fields = rlimit_fields };
/* a server's own cgroup limits, over its environment's */
static const struct schema_field limit_fields[] = {
	{ "cpu_cores", &s_number, false },
	{ "memory_gb", &s_number, false },
	{ "pids_max", &shape_uint, false },
	{ NULL, NULL, false },
};
static const struct schema s_limits = { .type = SCHEMA_MAP,
    .fields = limit_fields };
static const char *const seccomp_modes[] = { "errno", "kill", "none", NULL };
static const struct schema s_seccomp = { .type = SCHEMA_ENUM,
    .choices = seccomp_modes };
static const struct schema_field syscalls_fields[] = {
	{ "allow", &shape_string_list, false },
	{ "deny", &shape_string_list, false },
	{ NULL, NULL, false },
};
static const struct schema s_syscalls = { .type = SCHEMA_MAP,
    .fields = syscalls_fields };
static const char *const filesystem_modes[] = { "strict", "host", NULL };
static const struct schema s_filesystem = { .type = SCHEMA_ENUM,
    .choices = filesystem_modes };
static const struct schema_field sandbox_fields[] = {
	{ "capabilities", &shape_string_list, false },
	{ "network", &s_network, false },
	{ "filesystem", &s_filesystem, false },
	{ "writable_paths", &shape_string_list, false },
	{ "readable_paths", &shape_string_list, false },
	{ "hidden_paths", &shape_string_list, false },
	{ "rlimits", &s_rlimits, false },
	{ "limits", &s_limits, false },
	{ "limits_required", &s_bool, false },
	{ "seccomp", &s_seccomp, false },
	{ "syscalls", &s_syscalls, false },
	{ NULL, NULL, false },
};
const struct schema config_sandbox_schema = { .type = SCHEMA_MAP,
    .fields = sandbox_fields };
static const struct schema s_overrides = { .type = SCHEMA_MAP_OF,
    .of = &s_free_map };
/* what the gateway offers of a server (mcpvisor-gateway(8)) */
static const struct schema_field gateway_tools_fields[] = {
	{ "allow", &shape_string_list, false },
	{ "deny", &shape_string_list, false },
	{ NULL, NULL, false },
};
static const struct schema s_gateway_tools = { .type = SCHEMA_MAP,
    .fields = gateway_tools_fields };
static const struct schema_field gateway_fields[] = {
	{ "tools", &s_gateway_tools, false },
	{ NULL, NULL, false },
};
static const struct schema s_gateway = { .type = SCHEMA_MAP,
    .fields = gateway_fields };

static const struct schema_field server_fields[] = {
	{ "name", &shape_string, true },
	{ "server_type", &shape_string, true },
	{ "description", &shape_string, false },
	{ "base_config", &s_free_map, false },
	{ "environment_overrides", &s_overrides, false },
	{ "templates", &shape_scalar_map, false },
	{ "validation_rules", &shape_string_list, false },
	{ "run", &config_run_schema, true, NULL,
	  "mcpvisor does not know how to start this server; add, for "
	  "example:\n    run:\n      command: npx\n      args: [\"-y\", "
	  "\"@modelcontextprotocol/server-memory\"]" },
	{ "sandbox", &config_sandbox_schema, false },
	{ "gateway", &s_gateway, false },
	{ NULL, NULL, false },
};
const struct schema config_server_schema = { .type = SCHEMA_MAP,
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
	{ "url", &shape_string, true },
	{ "port", &shape_port_or_auto, false },
	{ "method", &s_http_method, false },
	{ "headers", &shape_scalar_map, false },
	{ "body", &shape_string, false },
	{ "expected_status", &s_int_list, false },
	{ "expected_body", &shape_string, false },
	{ "expected_body_regex", &shape_string, false },
	{ "verify_tls", &s_bool, false },
	{ "ca_file", &shape_string, false },
	{ "follow_redirects", &s_bool, false },
	{ NULL, NULL, false },
};
static const struct schema_field tcp_fields[] = {
	{ "host", &shape_string, true },
	{ "port", &shape_port_or_auto, true },
	{ NULL, NULL, false },
};
static const struct schema_field command_fields[] = {
	{ "command", &shape_string, true },
	{ "args", &shape_scalar_list, false },
	{ "environment", &shape_scalar_map, false },
	{ "expected_output", &shape_string, false },
	{ "expected_output_regex", &shape_string, false },
	{ NULL, NULL, false },
};
static const struct schema_field fs_fields[] = {
	{ "path", &shape_string, true },
	{ "check_readable", &s_bool, false },
	{ "check_writable", &s_bool, false },
	{ "min_free_space_mb", &shape_uint, false },
	{ NULL, NULL, false },
};
static const struct schema_field mcp_fields[] = {
	{ "transport", &shape_transport, false },
	{ "url", &shape_string, false },
	{ "port", &shape_port_or_auto, false },
	{ "protocol_version", &shape_string, false },
	{ "probe", &s_mcp_probe, false },
	{ "expected_tools", &shape_string_list, false },
	{ NULL, NULL, false },
};
static const struct schema_field custom_fields[] = {
	{ "program", &shape_string, false },
	{ "args", &shape_scalar_list, false },
	{ "plugin", &shape_string, false },
	{ "function", &shape_string, false },
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
	{ "name", &shape_string, true },
	{ "type", &s_check_type, true },
	{ "description", &shape_string, false },
	{ "timeout_seconds", &shape_seconds, false },
	{ "retry_attempts", &s_retries, false },
	{ "critical", &s_bool, false },
	{ "tags", &shape_string_list, false },
	{ "interval_seconds", &shape_seconds, false },
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
const struct schema config_check_file_schema = { .type = SCHEMA_MAP,
    .fields = check_file_fields };

/* files of the deployments directory */
static const char *const strategies[] = { "immediate", "batch", "graceful",
    "aggressive", "manual", NULL };
static const struct schema s_strategy = { .type = SCHEMA_ENUM,
    .choices = strategies };
static const struct schema_field metadata_fields[] = {
	{ "name", &shape_string, true },
	{ "environment", &shape_string, false },
	{ "description", &shape_string, false },
	{ "version", &shape_string, false },
	{ "labels", &shape_scalar_map, false },
	{ NULL, NULL, false },
};
static const struct schema s_metadata = { .type = SCHEMA_MAP,
    .fields = metadata_fields };
static const struct schema_field spec_server_fields[] = {
	{ "name", &shape_string, true },
	{ "server_type", &shape_string, false },
	{ "priority", &s_int, false },
	{ "parallel_safe", &s_bool, false },
	{ "dependencies", &shape_string_list, false },
	{ "timeout_seconds", &shape_seconds, false },
	{ "retry_attempts", &s_retries, false },
	{ "health_checks", &shape_string_list, false },
	{ "rollback_actions", &shape_string_list, false },
	{ "restart_on_dependency_change", &s_bool, false },
	{ "upgrade_stop_first", &s_bool, false },
	{ NULL, NULL, false },
};
static const struct schema s_spec_server = { .type = SCHEMA_MAP,
    .fields = spec_server_fields };
static const struct schema s_spec_servers = { .type = SCHEMA_LIST_OF,
    .of = &s_spec_server };
static const struct schema_field settings_fields[] = {
	{ "parallel_deployment", &s_bool, false, "true" },
	{ "max_parallel", &shape_uint, false, "0" },
	{ "rollback_on_failure", &s_bool, false, "true" },
	{ "rollback_strategy", &s_strategy, false, "graceful" },
	{ "health_checks_enabled", &s_bool, false, "true" },
	{ "monitoring_enabled", &s_bool, false, "true" },
	{ "monitor_port", &shape_port, false, "8765" },
	{ "snapshot_retention", &shape_uint, false, "5" },
	{ "metrics_interval_seconds", &shape_uint, false, "5" },
	{ "revision_history", &shape_uint, false, "10" },
	{ NULL, NULL, false, NULL },
};
const struct schema config_settings_schema = { .type = SCHEMA_MAP,
    .fields = settings_fields };
/* custom rollback actions, by name: a program (JSON on stdin) or a
 * plugin function (mcpvisor/plugin.h) */
static const struct schema_field rollback_action_fields[] = {
	{ "program", &shape_string, false },
	{ "args", &shape_string_list, false },
	{ "plugin", &shape_string, false },
	{ "function", &shape_string, false },
	{ "params", &s_free_map, false },
	{ "timeout_seconds", &shape_seconds, false },
	{ "description", &shape_string, false },
	{ NULL, NULL, false },
};
static const struct schema s_rollback_action = { .type = SCHEMA_MAP,
    .fields = rollback_action_fields };
static const struct schema s_rollback_actions = { .type = SCHEMA_MAP_OF,
    .of = &s_rollback_action };
/* who the deployment's hooks and custom rollback actions run as, and
 * their sandbox (the server's sandbox keys) */
static const struct schema_field hooks_fields[] = {
	{ "user", &shape_string, false, NULL },
	{ "group", &shape_string, false, NULL },
	{ "supplementary_groups", &shape_string_list, false, NULL },
	{ "sandbox", &config_sandbox_schema, false, NULL },
	{ NULL, NULL, false, NULL },
};
static const struct schema s_hooks = { .type = SCHEMA_MAP,
    .fields = hooks_fields };
static const struct schema_field spec_fields[] = {
	{ "metadata", &s_metadata, true },
	{ "servers", &s_spec_servers, true },
	{ "deployment_settings", &config_settings_schema, false },
	{ "rollback_actions", &s_rollback_actions, false },
	{ "hooks", &s_hooks, false },
	{ NULL, NULL, false },
};
const struct schema config_spec_schema = { .type = SCHEMA_MAP,
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


int
rollback_strategy_by_name(const char *name)
{
	for (size_t i = 0; strategies[i] != NULL; i++)
		if (strcmp(strategies[i], name) == 0)
			return (int)i;
	return -1;
}
