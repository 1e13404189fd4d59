/*
 * Rendering: a server's configuration for one environment. The server's
 * base_config is deep-merged with its environment_overrides entry, its
 * templates are added on top, and every "{{ }}" string is expanded (names
 * resolved lazily, so templates may refer to each other; a cycle is an
 * error). validation_rules then apply to the result, and the run and
 * sandbox sections are rendered against it and checked again.
 *
 * Secrets are read from the process environment here and only here. A
 * secret's value, and everything derived from it, is flagged
 * YNODE_SECRET so that every printer can redact it.
 */
#ifndef MCPVISOR_RENDER_H
#define MCPVISOR_RENDER_H

#include <stdbool.h>
#include <stddef.h>

struct check_def;
struct cJSON;
struct diag_list;
struct env_config;
struct server_config;
struct ynode;

#define RENDER_DEPTH_MAX	16

/* Compiled validation-rule patterns, shared by every server rendered
 * with the same options: thousands of servers usually repeat a handful
 * of rules. Make with regex_cache_new, free with regex_cache_free. */
struct regex_cache;

struct regex_cache	*regex_cache_new(void);
void			 regex_cache_free(struct regex_cache *);

struct render_opts {
	/* When set (config validate), a secret whose environment variable
	 * is unset renders as an empty placeholder and rules that depend on
	 * it are skipped with a warning. Otherwise it is an error. */
	bool		  allow_unset_secrets;
	/* Reads the process environment; NULL: getenv(3). */
	const char	*(*getenv)(void *arg, const char *name);
	void		 *getenv_arg;
	/* Where a secret the environment is not given, nor a file by
	 * NAME_FILE, may be found as a file NAME; NULL: nowhere. */
	const char	 *secrets_dir;
	/* Optional; without it every rule's pattern is compiled afresh. */
	struct regex_cache *regexes;
	/* Optional: the bytes every template of a deployment may render,
	 * together; past max, rendering fails with a clear error (templates
	 * that refer to each other can double at every step). */
	struct render_budget *budget;
};

struct render_budget {
	size_t	used;
	size_t	max;
	bool	said;		/* past max: said once, not per template */
};
/* A deployment's rendered text, at most (prepare uses it). */
#define RENDER_BUDGET_DEFAULT	(64u << 20)

struct rendered_env {
	const struct env_config	*env;		/* borrowed */
	struct ynode		*values;	/* variables and secrets */
};

struct resolved_server {
	const struct server_config	*server;	/* borrowed */
	const char			*environment;	/* borrowed */
	struct ynode			*config;
	struct ynode			*run;		/* NULL if none */
	struct ynode			*sandbox;	/* NULL if none */
	bool				 placeholders;	/* unset secrets */
};

/* Renders an environment's variables and reads its secrets. Returns 0
 * and *out (free with rendered_env_free), or a negative errno with the
 * problems in dl. */
int	render_env(const struct env_config *, const struct render_opts *,
	    struct rendered_env **out, struct diag_list *);
void	rendered_env_free(struct rendered_env *);

/* The number of the capability NAME (CAP_NET_ADMIN, in any case): 0
 * and *value, or -1 when there is none of that name. */
int	render_capability(const char *name, int *value);

/* Resolves srv for env. Returns 0 and *out (free with
 * resolved_server_free), or -EINVAL with every problem in dl. */
int	render_server(const struct server_config *srv,
	    const struct rendered_env *env, const struct render_opts *,
	    struct resolved_server **out, struct diag_list *);
void	resolved_server_free(struct resolved_server *);

/* Renders a health check's config for a resolved server. Returns 0 and
 * a new tree in *out (NULL when the check has no config), or -EINVAL.
 * Without a server (or an environment), names of config (or env) are
 * undefined: the check is rendered as it stands. */
int	render_check(const struct check_def *,
	    const struct resolved_server *, const struct rendered_env *,
	    const struct render_opts *, struct ynode **out,
	    struct diag_list *);

/* {"server", "environment", "config", "run", "sandbox"}, secrets
 * redacted when redact is set. NULL on ENOMEM. */
struct cJSON	*resolved_server_to_json(const struct resolved_server *,
		    bool redact);

#endif
