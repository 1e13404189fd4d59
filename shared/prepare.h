/*
 * Preparing a deployment: everything that happens before a process is
 * started. Loads the project and the spec, checks what the spec names,
 * renders the environment, every server and every health check the spec
 * gives it, and plans the order. mcpvisord and the CLI's --dry-run run
 * exactly this, so a dry run shows what a deployment would do.
 */
#ifndef MCPVISOR_PREPARE_H
#define MCPVISOR_PREPARE_H

#include <stdbool.h>
#include <sched.h>
#include <stddef.h>

#include "config.h"
#include "plan.h"
#include "render.h"

struct cJSON;
struct diag_list;
struct ynode;

struct prepare_opts {
	const struct project_paths	*paths;
	const char			*spec_path;
	const char			*environment;	/* NULL: the spec's */
	bool				 sequential;
	unsigned			 max_parallel;	/* 0: the spec's */
	/* the process that will start the servers prepares them: what
	 * their sandboxes ask of this host is tried here, so that what it
	 * cannot give is refused now, not at start after every retry */
	bool				 host_checks;
	/* limits the host cannot enforce: a warning, not an error, for
	 * every server (mcpvisord --limits-optional) */
	bool				 limits_optional;
	struct render_opts		 render;
};

struct prepared_check {
	const struct check_def	*def;
	struct ynode		*config;	/* rendered; may be NULL */
};

struct prepared_server {
	const struct spec_server	*spec;
	struct resolved_server		*resolved;
	struct prepared_check		*checks;
	size_t				 nchecks;
};

struct prepared {
	struct project		*project;
	struct deploy_spec	*spec;
	const char		*environment;
	struct rendered_env	*env;
	struct prepared_server	*servers;	/* parallel to spec->servers */
	struct plan		*plan;
	unsigned		 max_parallel;	/* in effect; 0: no cap */
	struct regex_cache	*regexes;	/* owned; NULL if the caller's */
};

/* Whether this process may make the namespaces flags name (unshare(2)'s,
 * tried in a child, which then exits): 0, or the errno it failed
 * with. A filesystem view takes PREPARE_VIEW_NAMESPACES. */
int	prepare_probe_unshare(int flags);
#define PREPARE_VIEW_NAMESPACES	(CLONE_NEWNS | CLONE_NEWPID)

/* Returns 0 and *out (free with prepared_free), or a negative errno with
 * every problem in dl: -EINVAL for invalid configuration, -ENOENT when
 * no environment is named anywhere, -ENOMEM. */
int	prepare_deployment(const struct prepare_opts *, struct prepared **out,
	    struct diag_list *);
void	prepared_free(struct prepared *);
/* The servers started at once: 1 when sequential or the spec says not
 * in parallel, else what was asked (0: the spec's max_parallel). */
unsigned	prepare_max_parallel(const struct deploy_spec *, bool sequential,
		    unsigned requested);
/* Frees what only preparing needed: every parsed file, the rendered
 * environment, servers and checks. The spec and the plan stay. */
void	prepared_shed(struct prepared *);

/* A check as the health engine takes it (health.h): the definition's
 * settings and config (rendered for one server; may be NULL), secrets
 * redacted when redact is set (never for a worker, which needs them).
 * NULL on ENOMEM. */
struct cJSON	*check_json(const struct check_def *, const struct ynode *config,
		    bool redact);

/* The plan as JSON, with each server's details and checks; secrets
 * redacted. NULL on ENOMEM. */
struct cJSON	*prepared_plan_json(const struct prepared *);

#endif
