/*
 * Loading of the four file kinds. Shapes are tables (config_schema.c,
 * see schema.h), so that the man page, the loader and the error messages
 * agree; what no table can say (a name that must match its file, an
 * environment variable's spelling) is checked by hand below.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "config_schema.h"
#include "schema.h"
#include "ynode.h"

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

	if ((doc = load_checked(path, &config_env_schema, "environment file", dl)) == NULL)
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

	if ((doc = load_checked(path, &config_server_schema, "server file", dl)) == NULL)
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

	if ((doc = load_checked(path, &config_check_file_schema, "health-check file",
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

/* A setting, or its default from the schema. */
static bool
setting_bool(const struct ynode *m, const char *key)
{
	return schema_bool(m, key, strcmp(schema_default(
	    &config_settings_schema, key), "true") == 0);
}

static unsigned
setting_uint(const struct ynode *m, const char *key)
{
	return (unsigned)schema_int(m, key, strtoll(schema_default(
	    &config_settings_schema, key), NULL, 10));
}

static void
spec_read_settings(const struct ynode *doc, struct deploy_settings *s)
{
	const struct ynode	*m = ynode_map_get(doc, "deployment_settings");
	int			 k;

	s->parallel_deployment = setting_bool(m, "parallel_deployment");
	s->max_parallel = setting_uint(m, "max_parallel");
	s->rollback_on_failure = setting_bool(m, "rollback_on_failure");
	s->health_checks_enabled = setting_bool(m, "health_checks_enabled");
	s->monitoring_enabled = setting_bool(m, "monitoring_enabled");
	s->monitor_port = setting_uint(m, "monitor_port");
	s->snapshot_retention = setting_uint(m, "snapshot_retention");
	s->metrics_interval_seconds = setting_uint(m,
	    "metrics_interval_seconds");
	s->revision_history = setting_uint(m, "revision_history");
	k = rollback_strategy_by_name(schema_str(m, "rollback_strategy",
	    schema_default(&config_settings_schema, "rollback_strategy")));
	s->rollback_strategy = k >= 0 ? (enum rollback_strategy)k :
	    ROLLBACK_GRACEFUL;
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

	if ((doc = load_checked(path, &config_spec_schema, "deployment spec", dl)) == NULL)
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
		s->restart_on_dependency_change = schema_bool(n,
		    "restart_on_dependency_change", false);
		s->upgrade_stop_first = schema_bool(n, "upgrade_stop_first",
		    false);
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
config_dir_default(char *buf, size_t size)
{
	const char	*given = getenv("MCPVISOR_CONFIG_DIR");
	const char	*xdg = getenv("XDG_CONFIG_HOME");
	const char	*home = getenv("HOME");
	struct stat	 st;
	int		 n;

	if (given != NULL && *given != '\0')
		n = snprintf(buf, size, "%s", given);
	else if (stat("deploy/config", &st) == 0 && S_ISDIR(st.st_mode))
		n = snprintf(buf, size, "deploy/config");
	else if (geteuid() == 0)
		n = snprintf(buf, size, "/etc/mcpvisor/config");
	else if (xdg != NULL && *xdg == '/')
		n = snprintf(buf, size, "%s/mcpvisor/config", xdg);
	else
		n = snprintf(buf, size, "%s/.config/mcpvisor/config",
		    home != NULL ? home : "/nonexistent");
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

const char *const config_hook_phases[] = { "pre-validation", "pre-deploy",
    "post-deploy", "on-failure", "pre-rollback", "post-rollback", NULL };

/* An override for an environment that does not exist would never apply:
 * a typo ("prodution") said, not ignored. */
static void
check_overrides(const struct project *p, struct diag_list *dl)
{
	const char	**names = calloc(p->nenvs + 1, sizeof(*names));

	if (names == NULL)
		return;
	for (size_t i = 0; i < p->nenvs; i++)
		names[i] = p->envs[i]->name;
	for (size_t i = 0; i < p->nservers; i++) {
		const struct ynode *over = ynode_map_get(p->servers[i]->doc,
		    "environment_overrides");

		for (size_t k = 0; over != NULL && over->kind == YNODE_MAP &&
		    k < over->count; k++) {
			const char	*env = over->keys[k]->text, *near;

			if (project_env(p, env) != NULL)
				continue;
			near = schema_nearest(names, env);
			diag_add(dl, DIAG_ERROR, &over->keys[k]->mark,
			    "environment_overrides for '%s', which is no "
			    "environment (no environments/%s.yaml)%s%s%s", env,
			    env, near != NULL ? "; did you mean '" : "",
			    near != NULL ? near : "", near != NULL ? "'?" : "");
		}
	}
	free(names);
}

/* CONFIG-DIR/hooks holds a PHASE.d folder per phase and nothing else: a
 * folder of another name would never run. */
static void
check_hook_folders(const char *config_dir, struct diag_list *dl)
{
	char		 dir[4096], want[64];
	DIR		*d;
	struct dirent	*e;

	snprintf(dir, sizeof(dir), "%s/hooks", config_dir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		size_t		 len = strlen(e->d_name);
		const char	*near;
		bool		 known = false;

		if (e->d_name[0] == '.')
			continue;
		for (size_t i = 0; config_hook_phases[i] != NULL; i++) {
			snprintf(want, sizeof(want), "%s.d",
			    config_hook_phases[i]);
			known |= strcmp(want, e->d_name) == 0;
		}
		if (known)
			continue;
		snprintf(want, sizeof(want), "%.*s", len > 2 &&
		    strcmp(e->d_name + len - 2, ".d") == 0 ? (int)(len - 2) :
		    (int)len, e->d_name);
		near = schema_nearest(config_hook_phases, want);
		diag_add_file(dl, DIAG_ERROR, dir, "'%s' is not a hook phase's "
		    "folder, and would never run%s%s%s (the phases: "
		    "pre-validation, pre-deploy, post-deploy, on-failure, "
		    "pre-rollback, post-rollback, each as PHASE.d)", e->d_name,
		    near != NULL ? "; did you mean '" : "",
		    near != NULL ? near : "", near != NULL ? ".d'?" : "");
	}
	closedir(d);
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
	check_overrides(p, dl);
	check_hook_folders(paths->config_dir, dl);
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
