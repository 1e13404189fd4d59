/*
 * The configuration model: environment files, server files, health-check
 * files and deployment specs, as the deployment guide lays them out under
 * a configuration directory. Loading checks each file's shape and keeps
 * its YAML tree (with positions) for rendering; cross-file references are
 * checked by spec_check(). Nothing here renders templates or reads
 * secrets: see render.h.
 */
#ifndef MCPVISOR_CONFIG_H
#define MCPVISOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct diag_list;
struct ynode;

struct env_config {
	char		*name;		/* from the file name */
	char		*path;
	struct ynode	*doc;		/* owned */
};

struct server_config {
	char		*name;
	char		*path;
	struct ynode	*doc;		/* owned */
};

/* One entry of a health-check file; strings borrow from its file's doc. */
struct check_def {
	const char		*name;
	const char		*type;
	const char		*path;
	const struct ynode	*node;
	size_t			 seq;	/* order of definition */
};

struct check_file {
	char		*path;
	struct ynode	*doc;		/* owned */
};

enum rollback_strategy {
	ROLLBACK_IMMEDIATE,
	ROLLBACK_BATCH,
	ROLLBACK_GRACEFUL,
	ROLLBACK_AGGRESSIVE,
	ROLLBACK_MANUAL,
};

struct deploy_settings {
	bool			parallel_deployment;
	unsigned		max_parallel;		/* 0: no cap */
	bool			rollback_on_failure;
	enum rollback_strategy	rollback_strategy;
	bool			health_checks_enabled;
	bool			monitoring_enabled;
	unsigned		monitor_port;
	unsigned		snapshot_retention;
	unsigned		metrics_interval_seconds;	/* 0: off */
	/* a stack's successful deployments kept as revisions (0: none) */
	unsigned		revision_history;
};

/* One server of a spec; strings and nodes borrow from the spec's doc. */
struct spec_server {
	const char		*name;
	const char		*server_type;		/* may be NULL */
	long long		 priority;
	bool			 parallel_safe;
	/* replaced by an apply whenever a dependency of it is */
	bool			 restart_on_dependency_change;
	/* an upgrade stops it before starting its new version, even a
	 * stdio server's (one that cannot run twice) */
	bool			 upgrade_stop_first;
	unsigned		 timeout_seconds;
	unsigned		 retry_attempts;
	const struct ynode	*node;			/* for positions */
	const struct ynode	*dependencies;		/* list or NULL */
	const struct ynode	*health_checks;		/* list or NULL */
	const struct ynode	*rollback_actions;	/* names, or NULL */
};

struct deploy_spec {
	char			*path;
	struct ynode		*doc;			/* owned */
	const char		*name;
	const char		*environment;		/* may be NULL */
	struct spec_server	*servers;
	size_t			 nservers;
	struct deploy_settings	 settings;
};

struct project_paths {
	const char	*config_dir;	/* environments/, servers/ */
	const char	*checks_dir;	/* *.yaml health-check files */
	const char	*deployments_dir;/* *.yaml deployment specs */
	/* checks registered with "mcpvisor health register" (in the state
	 * directory); may be NULL or absent */
	const char	*registered_checks_dir;
};

struct project {
	struct env_config	**envs;
	size_t			  nenvs;
	struct server_config	**servers;
	size_t			  nservers;
	struct check_file	**check_files;
	size_t			  ncheck_files;
	struct check_def	 *checks;
	size_t			  nchecks;
};

/* Each loader returns 0 and a new object the caller owns (free with the
 * matching _free), or a negative errno after adding every problem found
 * to dl. */
int	env_load(const char *path, struct env_config **, struct diag_list *);
int	server_load(const char *path, struct server_config **,
	    struct diag_list *);
int	check_file_load(const char *path, struct check_file **,
	    struct diag_list *);
int	spec_load(const char *path, struct deploy_spec **, struct diag_list *);
void	env_free(struct env_config *);
void	server_free(struct server_config *);
void	check_file_free(struct check_file *);
void	spec_free(struct deploy_spec *);

/* Loads every environment, server and health-check file. Files with
 * errors are reported to dl and left out; *out holds the rest. Returns 0
 * (look at dl->errors) or -ENOMEM. checks_dir may be NULL. */
int	project_load(const struct project_paths *, struct project **out,
	    struct diag_list *);
void	project_free(struct project *);

const struct env_config		*project_env(const struct project *,
				    const char *);
const struct server_config	*project_server(const struct project *,
				    const char *);
const struct check_def		*project_check(const struct project *,
				    const char *);

/* Checks what a spec names against the project: the environment, a
 * server file per server (and its server_type), each health check.
 * Dependencies are the planner's job. Returns the number of errors. */
unsigned	spec_check(const struct deploy_spec *, const struct project *,
		    const char *environment, struct diag_list *);

/* Lists *.yaml and *.yml files of dir, sorted; *names holds malloc'd
 * full paths. Returns the count, or a negative errno. */
int	config_list_dir(const char *dir, char ***names);
void	config_free_list(char **, int);

const char	*rollback_strategy_name(enum rollback_strategy);
/* A rollback strategy's value by its name, or -1. */
int		 rollback_strategy_by_name(const char *);

/* The directory name beside config_dir: "deploy/config" and
 * "health-checks" give "deploy/health-checks". Returns a malloc'd path
 * or NULL on ENOMEM. */
char		*config_sibling_dir(const char *config_dir, const char *name);
/* The configuration directory when none is given: $MCPVISOR_CONFIG_DIR;
 * deploy/config when there is one here (a source tree, or a project laid
 * out as it); else, as installed, /etc/mcpvisor/config for root and
 * $XDG_CONFIG_HOME/mcpvisor/config (~/.config/mcpvisor/config) for
 * anyone else, with health-checks/ and deployments/ beside it. 0, or
 * -ENAMETOOLONG. */
int		 config_dir_default(char *buf, size_t size);
/* The phases hooks run at (CONFIG-DIR/hooks/PHASE.d), NULL-ended. */
extern const char *const config_hook_phases[];

/* The templatable sections, checked again once rendered. */
struct schema;
extern const struct schema	config_run_schema;
extern const struct schema	config_sandbox_schema;
/* The schema of a health check's config for its type, or NULL. */
const struct schema		*config_check_schema(const char *type);

#endif
