/*
 * The run section's shape: its keys, their types and limits, and the
 * defaults every reader of a run spec takes, the worker among them. It
 * is apart from config_schema.c so that the worker links this small
 * table and not every file's (their pointers are relocated, so each
 * table costs each process its pages). The leaf shapes the file tables
 * share are defined here too (config_schema.h).
 */
#include "config.h"
#include "config_schema.h"

#include <stddef.h>
#include <string.h>

#include "schema.h"

const struct schema shape_string = { .type = SCHEMA_STRING };
const struct schema shape_scalar = { .type = SCHEMA_SCALAR };
const struct schema shape_uint = { .type = SCHEMA_INT, .min = 0,
    .max = 1LL << 40 };
const struct schema shape_port = { .type = SCHEMA_INT, .min = 1,
    .max = 65535 };
const struct schema shape_port_or_auto = { .type = SCHEMA_INT, .min = 1,
    .max = 65535, .word = "auto" };
const struct schema shape_seconds = { .type = SCHEMA_INT, .min = 1,
    .max = 86400 };
const struct schema shape_string_list = { .type = SCHEMA_LIST_OF,
    .of = &shape_string };
const struct schema shape_scalar_list = { .type = SCHEMA_LIST_OF,
    .of = &shape_scalar };
const struct schema shape_scalar_map = { .type = SCHEMA_MAP_OF,
    .of = &shape_scalar };

static const char *const transports[] = { "stdio", "http", NULL };
static const char *const restart_policies[] = { "always", "on-failure",
    "never", NULL };
static const char *const readiness_kinds[] = { "process", "notify", "fd",
    "mcp", NULL };
const struct schema shape_transport = { .type = SCHEMA_ENUM,
    .choices = transports };
static const struct schema s_restart = { .type = SCHEMA_ENUM,
    .choices = restart_policies };
static const struct schema s_readiness = { .type = SCHEMA_ENUM,
    .choices = readiness_kinds };
static const struct schema s_stop_timeout = { .type = SCHEMA_INT, .min = 0,
    .max = 3600 };
static const struct schema s_fd = { .type = SCHEMA_INT, .min = 3,
    .max = 1023 };
static const struct schema_field run_fields[] = {
	{ "command", &shape_string, true, NULL },
	{ "args", &shape_scalar_list, false, NULL },
	{ "transport", &shape_transport, false, "stdio" },
	{ "url", &shape_string, false, NULL },
	{ "port", &shape_port_or_auto, false, NULL },
	{ "environment", &shape_scalar_map, false, NULL },
	{ "working_directory", &shape_string, false, "/" },
	{ "user", &shape_string, false, NULL },
	{ "group", &shape_string, false, NULL },
	{ "supplementary_groups", &shape_string_list, false, NULL },
	{ "stop_signal", &shape_string, false, "TERM" },
	{ "stop_timeout_seconds", &s_stop_timeout, false, "10" },
	{ "restart", &s_restart, false, "on-failure" },
	{ "restart_delay_ms", &shape_uint, false, "100" },
	{ "restart_delay_max_ms", &shape_uint, false, "30000" },
	{ "max_deaths", &shape_uint, false, "5" },
	{ "death_window_seconds", &shape_seconds, false, "60" },
	/* no default here: it is mcp for a stdio server and process for
	 * any other (runspec.c) */
	{ "readiness", &s_readiness, false, NULL },
	{ "readiness_fd", &s_fd, false, NULL },
	{ "start_seconds", &s_stop_timeout, false, "1" },
	{ "log_max_bytes", &shape_uint, false, "10485760" },
	{ "log_keep", &shape_uint, false, "3" },
	{ "files_to_backup", &shape_string_list, false, NULL },
	{ NULL, NULL, false, NULL },
};
const struct schema config_run_schema = { .type = SCHEMA_MAP,
    .fields = run_fields };

/* Here and not in schema.c, which checks YAML: the worker links none. */
const char *
schema_default(const struct schema *s, const char *key)
{
	for (const struct schema_field *f = s->fields; f != NULL &&
	    f->key != NULL; f++)
		if (strcmp(f->key, key) == 0)
			return f->def;
	return NULL;
}
