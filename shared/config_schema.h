/*
 * The shapes of whole files, for the loaders (config.c). The run and
 * sandbox sections' shapes are in config.h, for everyone.
 */
#ifndef MCPVISOR_CONFIG_SCHEMA_H
#define MCPVISOR_CONFIG_SCHEMA_H

struct schema;

extern const struct schema	config_env_schema;
extern const struct schema	config_server_schema;
extern const struct schema	config_check_file_schema;
extern const struct schema	config_spec_schema;
extern const struct schema	config_settings_schema;

/* The leaf shapes the file tables share with the run section
 * (run_schema.c). */
extern const struct schema	shape_string;
extern const struct schema	shape_scalar;
extern const struct schema	shape_uint;	/* 0 to 2^40 */
extern const struct schema	shape_port;
/* a port, or 'auto': the one mcpvisord picks (run.port), the checked
 * server's (a health check's) */
extern const struct schema	shape_port_or_auto;
extern const struct schema	shape_seconds;	/* 1 to 86400 */
extern const struct schema	shape_string_list;
extern const struct schema	shape_scalar_list;
extern const struct schema	shape_scalar_map;
extern const struct schema	shape_transport;	/* stdio, http */

#endif
