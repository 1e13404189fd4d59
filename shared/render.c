/*
 * Rendering of environments, servers and health-check configs. The
 * template engine asks us for names; we answer from three roots: env
 * (variables and secrets), config (the server's resolved configuration,
 * rendered on demand) and server (name, server_type, environment).
 */
#include "pattern.h"
#include "render.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <seccomp.h>
#include <sys/capability.h>

#include "config.h"
#include "diag.h"
#include "errbuf.h"
#include "runspec.h"
#include "schema.h"
#include "secrets.h"
#include "template.h"
#include "util.h"
#include "ynode.h"

struct render_ctx {
	const struct render_opts	*opts;
	struct ynode			*env;		/* may be NULL */
	const struct ynode		*secret_vars;	/* name -> variable */
	struct ynode			*config;	/* may be NULL */
	struct ynode			*server;	/* may be NULL */
	struct diag_list		*dl;
	unsigned			 depth;
	bool				 placeholders;
};

static int	render_node(struct render_ctx *, struct ynode *, const char *);

static int
ctx_lookup_config(struct render_ctx *ctx, const char *const *parts,
    size_t nparts, const struct ynode **out, struct errbuf *err)
{
	struct ynode	*n = ctx->config;
	char		 dotted[512];
	size_t		 used = 0;

	used += (size_t)snprintf(dotted, sizeof(dotted), "config");
	for (size_t i = 1; i < nparts && n != NULL; i++) {
		used += (size_t)snprintf(dotted + used, sizeof(dotted) - used,
		    ".%s", parts[i]);
		if (used >= sizeof(dotted))
			used = sizeof(dotted) - 1;
		n = ynode_map_get(n, parts[i]);
	}
	if (n == NULL) {
		errbuf_set(err, "undefined variable '%s'", dotted);
		return -ENOENT;
	}
	if (n->flags & YNODE_BROKEN) {
		errbuf_set(err, "'%s' could not be rendered (see its error)",
		    dotted);
		return -EINVAL;
	}
	if (ynode_is_template(n) &&
	    render_node(ctx, n, dotted + strlen("config.")) < 0) {
		if (n->flags & YNODE_RENDERING)
			errbuf_set(err, "circular template reference through "
			    "'%s'", dotted);
		else
			errbuf_set(err, "'%s' could not be rendered (see its "
			    "error)", dotted);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

static int
ctx_lookup(void *arg, const char *const *parts, size_t nparts,
    const struct ynode **out, struct errbuf *err)
{
	struct render_ctx	*ctx = arg;
	struct ynode		*n;

	if (strcmp(parts[0], "config") == 0 && ctx->config != NULL)
		return ctx_lookup_config(ctx, parts, nparts, out, err);
	if (strcmp(parts[0], "env") == 0 && nparts == 2 && ctx->env != NULL) {
		if ((n = ynode_map_get(ctx->env, parts[1])) == NULL) {
			errbuf_set(err, "undefined variable '%s'", parts[1]);
			return -ENOENT;
		}
		if ((n->flags & YNODE_PLACEHOLDER) &&
		    !ctx->opts->allow_unset_secrets) {
			errbuf_set(err, "secret '%s' is not set: environment "
			    "variable %s is empty or unset", parts[1],
			    schema_str(ctx->secret_vars, parts[1], "?"));
			return -ENOENT;
		}
		if (n->flags & YNODE_PLACEHOLDER)
			ctx->placeholders = true;
		*out = n;
		return 0;
	}
	if (strcmp(parts[0], "server") == 0 && nparts == 2 &&
	    ctx->server != NULL &&
	    (n = ynode_map_get(ctx->server, parts[1])) != NULL) {
		*out = n;
		return 0;
	}
	if (strcmp(parts[0], "env") == 0 && nparts == 2)
		errbuf_set(err, "undefined variable '%s'", parts[1]);
	return -ENOENT;
}

static const char *
ctx_getenv(void *arg, const char *name)
{
	const struct render_ctx	*ctx = arg;

	if (ctx->opts->getenv != NULL)
		return ctx->opts->getenv(ctx->opts->getenv_arg, name);
	return getenv(name);
}

/* Expands one template string in place. key names it in messages. */
static int
render_node(struct render_ctx *ctx, struct ynode *n, const char *key)
{
	struct template_scope	 scope = { ctx_lookup, ctx_getenv, ctx };
	struct template_output	 out;
	struct errbuf		 err;
	int			 r;

	if (n->flags & YNODE_RENDERING)
		return -ELOOP;
	if (ctx->depth >= RENDER_DEPTH_MAX) {
		diag_add(ctx->dl, DIAG_ERROR, &n->mark, "Template processing "
		    "failed for '%s': templates refer to each other more than "
		    "%d deep", key, RENDER_DEPTH_MAX);
		n->flags |= YNODE_BROKEN;
		return -ELOOP;
	}
	n->flags |= YNODE_RENDERING;
	ctx->depth++;
	err.msg[0] = '\0';
	r = template_render(n->text, &scope, &out, &err);
	ctx->depth--;
	n->flags &= ~(unsigned)YNODE_RENDERING;
	if (r < 0) {
		diag_add(ctx->dl, DIAG_ERROR, &n->mark,
		    "Template processing failed for '%s': %s", key,
		    r == -ENOMEM ? "out of memory" : err.msg);
		n->flags |= YNODE_BROKEN;
		return r;
	}
	if (ctx->opts->budget != NULL &&
	    (ctx->opts->budget->used += out.len) > ctx->opts->budget->max) {
		if (!ctx->opts->budget->said)
			diag_add(ctx->dl, DIAG_ERROR, &n->mark, "Template "
			    "processing failed for '%s': the deployment's "
			    "templates render more than %zu MiB together: "
			    "refused", key, ctx->opts->budget->max >> 20);
		ctx->opts->budget->said = true;
		explicit_bzero(out.text, out.len);
		free(out.text);
		n->flags |= YNODE_BROKEN;
		return -EFBIG;
	}
	free(n->text);
	n->text = out.text;
	n->len = out.len;
	n->kind = YNODE_STRING;
	n->flags |= YNODE_RENDERED;
	if (out.secret)
		n->flags |= YNODE_SECRET;
	if (out.placeholder) {
		n->flags |= YNODE_PLACEHOLDER | YNODE_SECRET;
		ctx->placeholders = true;
	}
	return 0;
}

/* Expands every template under n; path names n in messages. */
static void
render_tree(struct render_ctx *ctx, struct ynode *n, const char *path)
{
	char	sub[256];

	if (n == NULL)
		return;
	if (ynode_is_template(n) && !(n->flags & YNODE_BROKEN)) {
		(void)render_node(ctx, n, path);
		return;
	}
	for (size_t i = 0; i < n->count; i++) {
		if (n->kind == YNODE_MAP)
			snprintf(sub, sizeof(sub), "%s%s%s", path,
			    *path ? "." : "", n->keys[i]->text);
		else
			snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		render_tree(ctx, n->items[i], sub);
	}
}

/* --- environments --- */

int
render_env(const struct env_config *env, const struct render_opts *opts,
    struct rendered_env **out, struct diag_list *dl)
{
	const struct ynode	*secrets = ynode_map_get(env->doc, "secrets");
	struct render_ctx	 ctx = { .opts = opts, .dl = dl,
				    .secret_vars = secrets };
	struct rendered_env	*re;
	const struct ynode	*vars = ynode_map_get(env->doc, "variables");
	size_t			 before = dl->errors;

	if ((re = calloc(1, sizeof(*re))) == NULL ||
	    (re->values = ynode_new(YNODE_MAP, NULL)) == NULL) {
		free(re);
		return -ENOMEM;
	}
	re->env = env;
	ctx.env = re->values;
	/* secrets first, so that a variable may be built from one */
	for (size_t i = 0; secrets != NULL && i < secrets->count; i++) {
		const struct ynode	*var = secrets->items[i];
		char			*value = NULL;
		struct errbuf		 err;
		struct ynode		*n;
		int			 r;

		if ((r = secret_lookup(var->text, ctx_getenv, &ctx,
		    opts->secrets_dir, &value, &err)) == -ENOMEM)
			goto nomem;
		if (r < 0)
			diag_add(dl, DIAG_ERROR, &var->mark, "secret %s: %s",
			    secrets->keys[i]->text, err.msg);
		n = ynode_new_string(value != NULL ? value : "",
		    value != NULL ? strlen(value) : 0, &var->mark);
		if (n != NULL && (value == NULL || *value == '\0'))
			n->flags |= YNODE_PLACEHOLDER;
		if (value != NULL) {
			explicit_bzero(value, strlen(value));
			free(value);
		}
		if (n == NULL)
			goto nomem;
		n->flags |= YNODE_SECRET | YNODE_RENDERED;
		if (ynode_map_set(re->values, secrets->keys[i]->text,
		    &secrets->keys[i]->mark, n) < 0)
			goto nomem;
	}
	/* in file order: each variable may use those above it */
	for (size_t i = 0; vars != NULL && i < vars->count; i++) {
		struct ynode	*n = ynode_copy(vars->items[i]);

		if (n == NULL)
			goto nomem;
		if (ynode_is_template(n))
			(void)render_node(&ctx, n, vars->keys[i]->text);
		if (ynode_map_set(re->values, vars->keys[i]->text,
		    &vars->keys[i]->mark, n) < 0)
			goto nomem;
	}
	if (dl->errors > before) {
		rendered_env_free(re);
		return -EINVAL;
	}
	*out = re;
	return 0;
nomem:
	rendered_env_free(re);
	return -ENOMEM;
}

void
rendered_env_free(struct rendered_env *re)
{
	if (re == NULL)
		return;
	ynode_free(re->values);
	free(re);
}

/* --- validation rules --- */

#define REGEX_CACHE_MAX	64

/* A rule's pattern is compiled once per preparation, not once per
 * server and environment that it is checked for. */
struct regex_cache {
	size_t		 n;
	char		*source[REGEX_CACHE_MAX];
	struct pattern	*compiled[REGEX_CACHE_MAX];
};

struct regex_cache *
regex_cache_new(void)
{
	return calloc(1, sizeof(struct regex_cache));
}

void
regex_cache_free(struct regex_cache *rc)
{
	if (rc == NULL)
		return;
	for (size_t i = 0; i < rc->n; i++) {
		pattern_free(rc->compiled[i]);
		free(rc->source[i]);
	}
	free(rc);
}

/* The compiled pattern, from the cache when it is there; *own is set
 * when the caller must free it (the cache was full). NULL with the
 * reason in why. */
static struct pattern *
regex_get(struct regex_cache *rc, const char *source, bool *own, char *why,
    size_t size)
{
	struct pattern	*p;

	*own = false;
	for (size_t i = 0; rc != NULL && i < rc->n; i++)
		if (strcmp(rc->source[i], source) == 0)
			return rc->compiled[i];
	if ((p = pattern_compile(source, false, why, size)) == NULL)
		return NULL;
	if (rc != NULL && rc->n < REGEX_CACHE_MAX &&
	    (rc->source[rc->n] = strdup(source)) != NULL) {
		rc->compiled[rc->n++] = p;
		return p;
	}
	*own = true;
	return p;
}

static void
show_value(const struct ynode *n, char *buf, size_t size)
{
	if (n->flags & YNODE_SECRET)
		snprintf(buf, size, "***");
	else
		snprintf(buf, size, "'%.80s'", n->text != NULL ? n->text : "");
}

static void
apply_rule(const struct resolved_server *rs, const struct ynode *rule,
    struct regex_cache *cache, struct diag_list *dl)
{
	const char		*text = rule->text;
	const char		*server = rs->server->name;
	const struct ynode	*v;
	char			 key[256], shown[96];
	const char		*rest;
	size_t			 klen;
	bool			 format;
	struct pattern		*re;
	bool			 own;
	char			 why[200];

	if (strncmp(text, "required:", 9) == 0)
		format = false;
	else if (strncmp(text, "format:", 7) == 0)
		format = true;
	else {
		diag_add(dl, DIAG_ERROR, &rule->mark, "server '%s': unknown "
		    "validation rule '%s' (rules are required:KEY and "
		    "format:KEY:REGEX)", server, text);
		return;
	}
	rest = text + (format ? 7 : 9);
	klen = format ? strcspn(rest, ":") : strlen(rest);
	if (klen == 0 || klen >= sizeof(key) || (format && rest[klen] != ':')) {
		diag_add(dl, DIAG_ERROR, &rule->mark, "server '%s': validation "
		    "rule '%s' needs %s", server, text,
		    format ? "a key and a regular expression" : "a key");
		return;
	}
	memcpy(key, rest, klen);
	key[klen] = '\0';
	v = ynode_path(rs->config, key);
	if (v == NULL || v->kind == YNODE_NULL ||
	    (v->kind == YNODE_STRING && v->len == 0 &&
	    !(v->flags & YNODE_PLACEHOLDER))) {
		diag_add(dl, DIAG_ERROR, &rule->mark, "server '%s' (%s): rule "
		    "'%s' failed: '%s' is %s", server, rs->environment, text,
		    key, v == NULL ? "missing" : "empty");
		return;
	}
	if (v->flags & YNODE_PLACEHOLDER) {
		diag_add(dl, DIAG_WARNING, &rule->mark, "server '%s' (%s): rule "
		    "'%s' not checked: '%s' comes from a secret that is not set",
		    server, rs->environment, text, key);
		return;
	}
	if (!format)
		return;
	if (!ynode_is_scalar(v)) {
		diag_add(dl, DIAG_ERROR, &rule->mark, "server '%s' (%s): rule "
		    "'%s' failed: '%s' is a %s, not a value", server,
		    rs->environment, text, key, ynode_kind_name(v->kind));
		return;
	}
	if ((re = regex_get(cache, rest + klen + 1, &own, why,
	    sizeof(why))) == NULL) {
		diag_add(dl, DIAG_ERROR, &rule->mark, "server '%s': rule '%s': "
		    "bad regular expression: %s", server, text, why);
		return;
	}
	switch (pattern_search(re, v->text, v->len)) {
	case 1:
		break;
	case 0:
		show_value(v, shown, sizeof(shown));
		diag_add(dl, DIAG_ERROR, &rule->mark, "server '%s' (%s): rule "
		    "'%s' failed: value %s does not match", server,
		    rs->environment, text, shown);
		break;
	default:
		diag_add(dl, DIAG_ERROR, &rule->mark, "server '%s' (%s): rule "
		    "'%s' could not be decided: the pattern backtracks past "
		    "its bound", server, rs->environment, text);
	}
	if (own)
		pattern_free(re);
}

/* --- run and sandbox --- */

static const char *const stop_signals[] = { "TERM", "INT", "HUP", "QUIT",
    "KILL", "USR1", "USR2", NULL };

static void
check_run(const struct ynode *run, const struct ynode *policies,
    struct diag_list *dl)
{
	const struct ynode	*n, *args;
	const char		*sig;

	if ((n = ynode_map_get(run, "stop_signal")) != NULL &&
	    n->kind == YNODE_STRING) {
		bool	found = false;

		sig = strncasecmp(n->text, "SIG", 3) == 0 ? n->text + 3 :
		    n->text;
		for (size_t i = 0; stop_signals[i] != NULL; i++)
			found |= strcasecmp(stop_signals[i], sig) == 0;
		if (!found)
			diag_add(dl, DIAG_ERROR, &n->mark, "run.stop_signal "
			    "'%s' is not one of TERM, INT, HUP, QUIT, KILL, "
			    "USR1, USR2", n->text);
	}
	if (strcmp(runspec_yaml_str(run, "transport"), "http") == 0 &&
	    ynode_map_get(run, "url") == NULL &&
	    ynode_map_get(run, "port") == NULL)
		diag_add(dl, DIAG_ERROR, &run->mark,
		    "an http server names its 'url' or 'port' in run");
	if ((n = ynode_map_get(run, "port")) != NULL &&
	    n->kind == YNODE_STRING && strcmp(n->text, RUNSPEC_PORT_AUTO) == 0 &&
	    strcmp(runspec_yaml_str(run, "transport"), "http") != 0)
		diag_add(dl, DIAG_ERROR, &n->mark, "run.port 'auto' is for a "
		    "server of transport http: mcpvisord picks a free port and "
		    "passes it as $" RUNSPEC_PORT_ENV);
	if ((n = ynode_map_get(run, "readiness")) != NULL &&
	    n->kind == YNODE_STRING) {
		if (strcmp(n->text, "fd") == 0 &&
		    ynode_map_get(run, "readiness_fd") == NULL)
			diag_add(dl, DIAG_ERROR, &n->mark,
			    "readiness 'fd' needs run.readiness_fd");
		if (strcmp(n->text, "mcp") == 0 && strcmp(runspec_yaml_str(run,
		    "transport"), "stdio") != 0)
			diag_add(dl, DIAG_ERROR, &n->mark, "readiness 'mcp' is "
			    "the handshake over stdio; an http server is "
			    "checked by a health check of type mcp with "
			    "transport: http");
	}
	if ((args = ynode_map_get(run, "args")) != NULL)
		for (size_t i = 0; i < args->count; i++)
			if (args->items[i]->flags & YNODE_SECRET)
				diag_add(dl, DIAG_WARNING,
				    &args->items[i]->mark, "run.args[%zu] "
				    "holds a secret, and any user can read a "
				    "process's arguments: pass it in "
				    "run.environment instead", i);
	n = ynode_map_get(run, "user");
	if (n != NULL && !schema_bool(policies, "allow_root", true) &&
	    (strcmp(n->text, "root") == 0 || strcmp(n->text, "0") == 0))
		diag_add(dl, DIAG_ERROR, &n->mark, "run.user is root, and the "
		    "environment's security_policies.allow_root is false");
}

int
render_capability(const char *name, int *value)
{
	char		lower[64];
	cap_value_t	cv;
	size_t		j;

	for (j = 0; j + 1 < sizeof(lower) && name[j] != '\0'; j++)
		lower[j] = (char)tolower((unsigned char)name[j]);
	lower[j] = '\0';
	if (name[j] != '\0' || cap_from_name(lower, &cv) != 0)
		return -1;
	*value = cv;
	return 0;
}

static void
check_sandbox(const struct ynode *sandbox, const struct ynode *policies,
    struct diag_list *dl)
{
	const struct ynode	*caps = ynode_map_get(sandbox, "capabilities");
	const struct ynode	*allowed = ynode_map_get(policies,
				    "allowed_capabilities");
	const struct ynode	*net = ynode_map_get(sandbox, "network");

	for (size_t i = 0; caps != NULL && i < caps->count; i++) {
		const struct ynode	*c = caps->items[i];
		int			 cv;
		bool			 ok = allowed == NULL;
		size_t			 j;

		if (render_capability(c->text, &cv) < 0) {
			diag_add(dl, DIAG_ERROR, &c->mark, "unknown capability "
			    "'%s'", c->text);
			continue;
		}
		for (j = 0; allowed != NULL && j < allowed->count; j++)
			ok |= strcasecmp(allowed->items[j]->text, c->text) == 0;
		if (!ok)
			diag_add(dl, DIAG_ERROR, &c->mark, "capability '%s' is "
			    "not in the environment's security_policies."
			    "allowed_capabilities", c->text);
	}
	for (const char *const *k = (const char *const[]){ "allow", "deny",
	    NULL }; *k != NULL; k++) {
		const struct ynode	*l = ynode_map_get(ynode_map_get(sandbox,
					    "syscalls"), *k);

		for (size_t i = 0; l != NULL && i < l->count; i++)
			if (seccomp_syscall_resolve_name(l->items[i]->text) ==
			    __NR_SCMP_ERROR)
				diag_add(dl, DIAG_ERROR, &l->items[i]->mark,
				    "sandbox.syscalls.%s: no system call '%s' "
				    "on this architecture", *k,
				    l->items[i]->text);
	}
	for (const char *const *k = (const char *const[]){ "writable_paths",
	    "readable_paths", "hidden_paths", NULL }; *k != NULL; k++) {
		const struct ynode	*l = ynode_map_get(sandbox, *k);

		for (size_t i = 0; l != NULL && i < l->count; i++) {
			const char	*p = l->items[i]->text;

			if (!util_path_absolute_clean(p))
				diag_add(dl, DIAG_ERROR, &l->items[i]->mark,
				    "sandbox.%s: '%s' is not an absolute path "
				    "without '..'", *k, p);
		}
	}
	if (!schema_bool(policies, "allow_network", true) &&
	    (net == NULL || strcmp(net->text, "none") != 0))
		diag_add(dl, DIAG_ERROR, net != NULL ? &net->mark :
		    &sandbox->mark, "the environment's security_policies."
		    "allow_network is false: sandbox.network must be 'none'");
}

/* --- servers --- */

static struct ynode *
server_info(const struct server_config *srv, const char *environment)
{
	struct ynode	*m = ynode_new(YNODE_MAP, NULL), *v;
	const char	*keys[] = { "name", "server_type", "environment" };
	const char	*vals[3];

	vals[0] = srv->name;
	vals[1] = schema_str(srv->doc, "server_type", "");
	vals[2] = environment;
	for (size_t i = 0; m != NULL && i < 3; i++) {
		v = ynode_new_string(vals[i], strlen(vals[i]), NULL);
		if (v == NULL || ynode_map_set(m, keys[i], NULL, v) < 0) {
			ynode_free(m);
			return NULL;
		}
	}
	return m;
}

/* Copies the section key of the server file, renders and re-checks it. */
static int
render_section(struct render_ctx *ctx, const struct server_config *srv,
    const char *key, const struct schema *schema, struct ynode **out)
{
	const struct ynode	*src = ynode_map_get(srv->doc, key);
	struct ynode		*n;
	size_t			 before = ctx->dl->errors;

	*out = NULL;
	if (src == NULL || src->kind == YNODE_NULL)
		return 0;
	if ((n = ynode_copy(src)) == NULL)
		return -ENOMEM;
	render_tree(ctx, n, key);
	if (ctx->dl->errors == before)
		schema_check(n, schema, key, SCHEMA_RENDERED, ctx->dl);
	*out = n;
	return 0;
}

int
render_server(const struct server_config *srv, const struct rendered_env *env,
    const struct render_opts *opts, struct resolved_server **out,
    struct diag_list *dl)
{
	struct render_ctx	 ctx = { .opts = opts, .dl = dl,
				    .env = env->values, .secret_vars =
				    ynode_map_get(env->env->doc, "secrets") };
	struct resolved_server	*rs;
	const struct ynode	*base, *over, *templates, *rules, *policies;
	size_t			 before = dl->errors;

	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return -ENOMEM;
	rs->server = srv;
	rs->environment = env->env->name;
	base = ynode_map_get(srv->doc, "base_config");
	over = ynode_map_get(ynode_map_get(srv->doc, "environment_overrides"),
	    env->env->name);
	templates = ynode_map_get(srv->doc, "templates");
	rules = ynode_map_get(srv->doc, "validation_rules");
	policies = ynode_map_get(env->env->doc, "security_policies");

	rs->config = base != NULL && base->kind == YNODE_MAP ?
	    ynode_copy(base) : ynode_new(YNODE_MAP, NULL);
	if (rs->config == NULL ||
	    (over != NULL && over->kind == YNODE_MAP &&
	    ynode_merge(rs->config, over) < 0))
		goto nomem;
	for (size_t i = 0; templates != NULL && i < templates->count; i++) {
		struct ynode	*t = ynode_copy(templates->items[i]);

		if (t == NULL || ynode_map_set(rs->config,
		    templates->keys[i]->text, &templates->keys[i]->mark, t) < 0)
			goto nomem;
	}
	if ((ctx.server = server_info(srv, env->env->name)) == NULL)
		goto nomem;
	ctx.config = rs->config;
	render_tree(&ctx, rs->config, "");
	if (dl->errors == before)
		for (size_t i = 0; rules != NULL && i < rules->count; i++)
			apply_rule(rs, rules->items[i], opts->regexes, dl);
	if (render_section(&ctx, srv, "run", &config_run_schema,
	    &rs->run) < 0 ||
	    render_section(&ctx, srv, "sandbox", &config_sandbox_schema,
	    &rs->sandbox) < 0)
		goto nomem;
	if (rs->run != NULL)
		check_run(rs->run, policies, dl);
	/* the gateway serves stdio servers only, so far: a filter for
	 * another would be a promise nobody keeps */
	if (ynode_map_get(srv->doc, "gateway") != NULL && (rs->run == NULL ||
	    strcmp(runspec_yaml_str(rs->run, "transport"), "stdio") != 0))
		diag_add(dl, DIAG_ERROR, &ynode_map_get(srv->doc,
		    "gateway")->mark, "gateway: the gateway serves stdio "
		    "servers (it does not proxy transport: http yet); server "
		    "'%s' is not one", srv->name);
	if (rs->sandbox != NULL)
		check_sandbox(rs->sandbox, policies, dl);
	else if (!schema_bool(policies, "allow_network", true))
		diag_add(dl, DIAG_ERROR, &ynode_map_get(srv->doc, "name")->mark,
		    "server '%s' has no sandbox, and the environment's "
		    "security_policies.allow_network is false: give it "
		    "sandbox.network: none", srv->name);
	rs->placeholders = ctx.placeholders;
	ynode_free(ctx.server);
	if (dl->errors > before) {
		resolved_server_free(rs);
		return -EINVAL;
	}
	*out = rs;
	return 0;
nomem:
	ynode_free(ctx.server);
	resolved_server_free(rs);
	return -ENOMEM;
}

void
resolved_server_free(struct resolved_server *rs)
{
	if (rs == NULL)
		return;
	ynode_free(rs->config);
	ynode_free(rs->run);
	ynode_free(rs->sandbox);
	free(rs);
}

int
render_check(const struct check_def *check, const struct resolved_server *rs,
    const struct rendered_env *env, const struct render_opts *opts,
    struct ynode **out, struct diag_list *dl)
{
	struct render_ctx	 ctx = { .opts = opts, .dl = dl,
				    .env = env != NULL ? env->values : NULL,
				    .config = rs != NULL ? rs->config : NULL,
				    .secret_vars = env != NULL ?
				    ynode_map_get(env->env->doc, "secrets") :
				    NULL };
	const struct ynode	*src = ynode_map_get(check->node, "config");
	const struct schema	*schema = config_check_schema(check->type);
	struct ynode		*n;
	size_t			 before = dl->errors;
	char			 what[160];

	*out = NULL;
	if (src == NULL)
		return 0;
	if ((rs != NULL && (ctx.server = server_info(rs->server,
	    rs->environment)) == NULL) || (n = ynode_copy(src)) == NULL) {
		ynode_free(ctx.server);
		return -ENOMEM;
	}
	snprintf(what, sizeof(what), "%s.config", check->name);
	render_tree(&ctx, n, what);
	ynode_free(ctx.server);
	if (dl->errors == before && schema != NULL) {
		snprintf(what, sizeof(what), "the config of check '%s' for "
		    "server '%s'", check->name, rs != NULL ? rs->server->name :
		    "(none)");
		schema_check(n, schema, what, SCHEMA_RENDERED, dl);
	}
	if (dl->errors > before) {
		ynode_free(n);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

struct cJSON *
resolved_server_to_json(const struct resolved_server *rs, bool redact)
{
	cJSON	*o = cJSON_CreateObject(), *c;

	if (o == NULL ||
	    cJSON_AddStringToObject(o, "server", rs->server->name) == NULL ||
	    cJSON_AddStringToObject(o, "server_type",
	    schema_str(rs->server->doc, "server_type", "")) == NULL ||
	    cJSON_AddStringToObject(o, "environment", rs->environment) ==
	    NULL)
		goto fail;
	if ((c = ynode_to_json(rs->config, redact)) == NULL)
		goto fail;
	cJSON_AddItemToObject(o, "config", c);
	if (rs->run != NULL) {
		if ((c = ynode_to_json(rs->run, redact)) == NULL)
			goto fail;
		cJSON_AddItemToObject(o, "run", c);
	}
	if (rs->sandbox != NULL) {
		if ((c = ynode_to_json(rs->sandbox, redact)) == NULL)
			goto fail;
		cJSON_AddItemToObject(o, "sandbox", c);
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}
