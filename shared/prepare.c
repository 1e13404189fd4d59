/*
 * Deployment preparation. Problems are gathered, not stopped at: a user
 * fixing a spec wants every mistake of a run at once. Rendering happens
 * only when the spec and files are sound, since its errors would
 * otherwise repeat the loaders'.
 */
#include "prepare.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <sys/capability.h>

#include "cgroup.h"
#include "diag.h"
#include "errbuf.h"
#include "runspec.h"
#include "schema.h"
#include "ynode.h"

/* A check of port: auto checks the port of the server it runs for: one
 * that has none (run.port) is refused. */
static void
check_port_auto(const struct prepared_check *pc,
    const struct resolved_server *rs, struct diag_list *dl)
{
	const struct ynode	*port = ynode_map_get(pc->config, "port");

	if (port == NULL || port->kind != YNODE_STRING ||
	    strcmp(port->text, RUNSPEC_PORT_AUTO) != 0 || rs == NULL ||
	    ynode_map_get(rs->run, "port") != NULL)
		return;
	diag_add(dl, DIAG_ERROR, &port->mark, "health check '%s': port 'auto' "
	    "is the port of the server it checks, and server '%s' names none "
	    "(run.port)", pc->def->name, rs->server->name);
}

static int
prepare_server(struct prepared *pd, size_t i, const struct render_opts *ro,
    struct diag_list *dl)
{
	struct prepared_server		*ps = &pd->servers[i];
	const struct spec_server	*s = &pd->spec->servers[i];
	const struct server_config	*srv = project_server(pd->project,
					    s->name);
	const struct ynode		*hc = s->health_checks;
	int				 r;

	ps->spec = s;
	if ((r = render_server(srv, pd->env, ro, &ps->resolved, dl)) < 0)
		return r;
	if (hc == NULL || hc->count == 0)
		return 0;
	if ((ps->checks = calloc(hc->count, sizeof(*ps->checks))) == NULL)
		return -ENOMEM;
	for (size_t j = 0; j < hc->count; j++) {
		struct prepared_check	*pc = &ps->checks[ps->nchecks++];

		pc->def = project_check(pd->project, hc->items[j]->text);
		r = render_check(pc->def, ps->resolved, pd->env, ro,
		    &pc->config, dl);
		if (r == -ENOMEM)
			return r;
		check_port_auto(pc, ps->resolved, dl);
	}
	return 0;
}

int
prepare_probe_unshare(int flags)
{
	pid_t	pid = fork();
	int	status;

	if (pid == -1)
		return errno;
	if (pid == 0)
		_exit(unshare(flags) == 0 ? 0 : errno & 0x7f);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : EIO;
}

/* Whether this process holds capability c, in its permitted set (which
 * its workers inherit). */
static bool
permitted(cap_t caps, cap_value_t c)
{
	cap_flag_value_t	v = CAP_CLEAR;

	return caps != NULL && cap_get_flag(caps, c, CAP_PERMITTED, &v) == 0 &&
	    v == CAP_SET;
}

static void
check_network(const struct resolved_server *rs, int *netns,
    struct diag_list *dl)
{
	const struct ynode	*net = ynode_map_get(rs->sandbox, "network");

	if (net == NULL || net->kind != YNODE_STRING ||
	    strcmp(net->text, "none") != 0)
		return;
	if (*netns == -1)
		*netns = prepare_probe_unshare(CLONE_NEWNET);
	if (*netns != 0)
		diag_add(dl, DIAG_ERROR, &net->mark, "server '%s': "
		    "sandbox.network: none needs a network namespace of its "
		    "own, and this host does not let mcpvisord make one "
		    "(unshare(CLONE_NEWNET): %s; in a container it takes "
		    "CAP_SYS_ADMIN): use network: host, or run where it can",
		    rs->server->name, strerror(*netns));
}

/* sandbox.filesystem: strict, written out, where no view can be made
 * is refused; left out, it is the default only where one can
 * (mcpvisord's worker_config says which). */
static bool
under(const char *path, const char *dir)
{
	size_t	n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' ||
	    path[n] == '\0');
}

/* A command the view would not show: one under what strict hides, not
 * named among the paths it keeps. A warning (the view is what the
 * server asked for), naming the fix. */
static void
check_command_visible(const struct resolved_server *rs,
    struct diag_list *dl)
{
	static const char *const hidden[] = { "/tmp", "/var/tmp", "/home",
	    "/root", "/run/user" };
	const struct ynode	*cmd = ynode_map_get(rs->run, "command");
	const char		*path;

	if (cmd == NULL || cmd->kind != YNODE_STRING || cmd->text[0] != '/')
		return;
	path = cmd->text;
	for (const char *const *k = (const char *const[]){ "readable_paths",
	    "writable_paths", NULL }; *k != NULL; k++) {
		const struct ynode	*l = ynode_map_get(rs->sandbox, *k);

		for (size_t i = 0; l != NULL && i < l->count; i++)
			if (l->items[i]->kind == YNODE_STRING &&
			    under(path, l->items[i]->text))
				return;
	}
	for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
		if (under(path, hidden[i])) {
			diag_add(dl, DIAG_WARNING, &cmd->mark, "server '%s': "
			    "%s is under %s, which its filesystem view "
			    "(sandbox.filesystem: strict) hides: add it to "
			    "sandbox.readable_paths", rs->server->name, path,
			    hidden[i]);
			return;
		}
}

static void
check_filesystem(const struct resolved_server *rs, int *fsns,
    struct diag_list *dl)
{
	const struct ynode	*fs = ynode_map_get(rs->sandbox, "filesystem");
	bool			 asked = fs != NULL && fs->kind == YNODE_STRING &&
				    strcmp(fs->text, "strict") == 0;

	if (fs != NULL && !asked)
		return;
	if (*fsns == -1)
		*fsns = prepare_probe_unshare(PREPARE_VIEW_NAMESPACES);
	if (*fsns == 0)
		check_command_visible(rs, dl);
	if (asked && *fsns != 0)
		diag_add(dl, DIAG_ERROR, &fs->mark, "server '%s': "
		    "sandbox.filesystem: strict needs a mount and a PID "
		    "namespace of its own, and this host does not let "
		    "mcpvisord make them (unshare: %s; they take "
		    "CAP_SYS_ADMIN): use filesystem: host, or run where it "
		    "can", rs->server->name, strerror(*fsns));
}

/* A server's own user or group, and capabilities kept, are given by a
 * worker that holds CAP_SETUID and CAP_SETGID, and CAP_SETPCAP and those
 * capabilities: mcpvisord's own, which it passes on. */
static void
check_privileges(const struct resolved_server *rs, cap_t caps,
    struct diag_list *dl)
{
	const struct ynode	*keep = ynode_map_get(rs->sandbox,
				    "capabilities");
	const struct ynode	*who = ynode_map_get(rs->run, "user");

	if (who == NULL)
		who = ynode_map_get(rs->run, "group");
	if (who != NULL && (!permitted(caps, CAP_SETUID) ||
	    !permitted(caps, CAP_SETGID)))
		diag_add(dl, DIAG_ERROR, &who->mark, "server '%s': a user or "
		    "group of its own needs CAP_SETUID and CAP_SETGID, which "
		    "mcpvisord does not hold (it runs unprivileged, or in a "
		    "container without them): leave run.user and run.group "
		    "out to run as mcpvisord's user", rs->server->name);
	for (size_t i = 0; keep != NULL && i < keep->count; i++) {
		const struct ynode	*c = keep->items[i];
		int			 cv;

		if (render_capability(c->text, &cv) < 0)
			continue;	/* said by the renderer */
		if (!permitted(caps, cv) || !permitted(caps, CAP_SETPCAP))
			diag_add(dl, DIAG_ERROR, &c->mark, "server '%s': "
			    "keeping %s needs mcpvisord to hold it and "
			    "CAP_SETPCAP, and it does not (it runs "
			    "unprivileged, or in a container without them)",
			    rs->server->name, c->text);
	}
}

static void
limits_of(const struct ynode *m, struct cgroup_limits *l)
{
	double	v;

	if ((v = schema_number(m, "cpu_cores", 0)) > 0)
		l->cpu_cores = cgroup_at_most(v, CGROUP_CPU_CORES_MAX);
	if ((v = schema_number(m, "memory_gb", 0)) > 0)
		l->memory_bytes = (uint64_t)(cgroup_at_most(v,
		    CGROUP_MEMORY_GB_MAX) * (1u << 30));
	if ((v = schema_number(m, "pids_max", 0)) >= 1)
		l->pids_max = (long)cgroup_at_most(v, CGROUP_PIDS_MAX);
}

/* The environment's resource_limits and the server's sandbox.limits
 * are the kernel's to enforce, through a cgroup of the server's own:
 * where mcpvisord cannot make one, the server does not start, unless it
 * says sandbox.limits_required: false. */
static void
check_limits(const struct resolved_server *rs, const struct ynode *env_limits,
    bool optional, struct diag_list *dl)
{
	const struct ynode	*own = ynode_map_get(rs->sandbox, "limits");
	const struct ynode	*at = own != NULL ? own : env_limits;
	struct cgroup_limits	 l = { 0 };
	struct errbuf		 err;

	limits_of(env_limits, &l);
	limits_of(own, &l);
	if ((l.cpu_cores <= 0 && l.memory_bytes == 0 && l.pids_max == 0) ||
	    cgroup_can_limit(&l, &err) == 0)
		return;
	if (optional || !schema_bool(rs->sandbox, "limits_required", true))
		diag_add(dl, DIAG_WARNING, &at->mark, "server '%s' runs without "
		    "its limits (%s): %s", rs->server->name, optional ?
		    "mcpvisord --limits-optional" :
		    "sandbox.limits_required: false", err.msg);
	else
		diag_add(dl, DIAG_ERROR, &at->mark, "server '%s': its limits "
		    "cannot be enforced here: %s; say sandbox.limits_required: "
		    "false to run it unlimited", rs->server->name, err.msg);
}

static void
check_host(struct prepared *pd, bool limits_optional, struct diag_list *dl)
{
	const struct ynode	*env_limits = ynode_map_get(pd->env->env->doc,
				    "resource_limits");
	cap_t			 caps = cap_get_proc();
	int			 netns = -1, fsns = -1;

	for (size_t i = 0; i < pd->spec->nservers; i++) {
		const struct resolved_server	*rs = pd->servers[i].resolved;

		if (rs == NULL)
			continue;
		check_network(rs, &netns, dl);
		check_filesystem(rs, &fsns, dl);
		check_privileges(rs, caps, dl);
		check_limits(rs, env_limits, limits_optional, dl);
	}
	cap_free(caps);
}

unsigned
prepare_max_parallel(const struct deploy_spec *spec, bool sequential,
    unsigned requested)
{
	return sequential || !spec->settings.parallel_deployment ? 1 :
	    requested > 0 ? requested : spec->settings.max_parallel;
}

int
prepare_deployment(const struct prepare_opts *po, struct prepared **out,
    struct diag_list *dl)
{
	struct prepared		*pd;
	const struct env_config	*env;
	struct plan_opts	 plo;
	struct render_opts	 ro = po->render;
	struct render_budget	 budget = { 0, RENDER_BUDGET_DEFAULT };
	size_t			 before = dl->errors;
	int			 r;

	if (ro.budget == NULL)
		ro.budget = &budget;
	if ((pd = calloc(1, sizeof(*pd))) == NULL)
		return -ENOMEM;
	if (ro.regexes == NULL &&
	    (ro.regexes = pd->regexes = regex_cache_new()) == NULL) {
		free(pd);
		return -ENOMEM;
	}
	if ((r = project_load(po->paths, &pd->project, dl)) < 0)
		goto fail;
	if ((r = spec_load(po->spec_path, &pd->spec, dl)) < 0)
		goto fail;
	pd->environment = po->environment != NULL ? po->environment :
	    pd->spec->environment;
	if (pd->environment == NULL) {
		diag_add_file(dl, DIAG_ERROR, po->spec_path, "no environment: "
		    "give --environment, or metadata.environment in the spec");
		r = -ENOENT;
		goto fail;
	}
	spec_check(pd->spec, pd->project, pd->environment, dl);
	pd->max_parallel = prepare_max_parallel(pd->spec, po->sequential,
	    po->max_parallel);
	plo.max_parallel = pd->max_parallel;
	r = plan_build(pd->spec->servers, pd->spec->nservers, &plo, &pd->plan,
	    dl);
	if (r == -ENOMEM)
		goto fail;
	if (dl->errors > before) {
		r = -EINVAL;
		goto fail;
	}
	env = project_env(pd->project, pd->environment);
	if ((r = render_env(env, &ro, &pd->env, dl)) < 0)
		goto fail;
	if ((pd->servers = calloc(pd->spec->nservers,
	    sizeof(*pd->servers))) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < pd->spec->nservers; i++)
		if ((r = prepare_server(pd, i, &ro, dl)) == -ENOMEM)
			goto fail;
	if (po->host_checks && dl->errors == before)
		check_host(pd, po->limits_optional, dl);
	if (dl->errors > before) {
		r = -EINVAL;
		goto fail;
	}
	*out = pd;
	return 0;
fail:
	prepared_free(pd);
	return r;
}

void
prepared_shed(struct prepared *pd)
{
	for (size_t i = 0; pd->servers != NULL && i < pd->spec->nservers;
	    i++) {
		struct prepared_server	*ps = &pd->servers[i];

		for (size_t j = 0; j < ps->nchecks; j++)
			ynode_free(ps->checks[j].config);
		free(ps->checks);
		ps->checks = NULL;
		ps->nchecks = 0;
		resolved_server_free(ps->resolved);
		ps->resolved = NULL;
	}
	rendered_env_free(pd->env);
	pd->env = NULL;
	regex_cache_free(pd->regexes);
	pd->regexes = NULL;
	project_free(pd->project);
	pd->project = NULL;
}

void
prepared_free(struct prepared *pd)
{
	if (pd == NULL)
		return;
	prepared_shed(pd);
	free(pd->servers);
	plan_free(pd->plan);
	spec_free(pd->spec);
	free(pd);
}

cJSON *
check_json(const struct check_def *def, const struct ynode *config,
    bool redact)
{
	static const char *const settings[] = { "timeout_seconds",
	    "retry_attempts", "interval_seconds", "failure_threshold", NULL };
	const struct ynode	*tags = ynode_map_get(def->node, "tags");
	cJSON			*o = cJSON_CreateObject(), *t;

	if (o == NULL || cJSON_AddStringToObject(o, "name", def->name) ==
	    NULL || cJSON_AddStringToObject(o, "type", def->type) == NULL ||
	    cJSON_AddBoolToObject(o, "critical", schema_bool(def->node,
	    "critical", true)) == NULL)
		goto fail;
	for (size_t i = 0; settings[i] != NULL; i++)
		if (ynode_map_get(def->node, settings[i]) != NULL &&
		    cJSON_AddNumberToObject(o, settings[i], (double)schema_int(
		    def->node, settings[i], 0)) == NULL)
			goto fail;
	if ((t = cJSON_AddArrayToObject(o, "tags")) == NULL)
		goto fail;
	for (size_t i = 0; tags != NULL && i < tags->count; i++)
		cJSON_AddItemToArray(t, cJSON_CreateString(tags->items[i]->text));
	if (config != NULL) {
		if ((t = ynode_to_json(config, redact)) == NULL)
			goto fail;
		cJSON_AddItemToObject(o, "config", t);
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static cJSON *
server_json(const struct prepared_server *ps)
{
	const struct spec_server	*s = ps->spec;
	const struct resolved_server	*rs = ps->resolved;
	cJSON				*o = cJSON_CreateObject(), *a, *c;

	if (o == NULL ||
	    cJSON_AddStringToObject(o, "name", s->name) == NULL ||
	    cJSON_AddStringToObject(o, "server_type",
	    schema_str(rs->server->doc, "server_type", "")) == NULL ||
	    cJSON_AddNumberToObject(o, "priority", (double)s->priority) ==
	    NULL ||
	    cJSON_AddBoolToObject(o, "parallel_safe", s->parallel_safe) ==
	    NULL || cJSON_AddBoolToObject(o, "restart_on_dependency_change",
	    s->restart_on_dependency_change) == NULL ||
	    cJSON_AddBoolToObject(o, "upgrade_stop_first",
	    s->upgrade_stop_first) == NULL ||
	    cJSON_AddNumberToObject(o, "timeout_seconds",
	    s->timeout_seconds) == NULL ||
	    cJSON_AddNumberToObject(o, "retry_attempts", s->retry_attempts) ==
	    NULL || (a = cJSON_AddArrayToObject(o, "dependencies")) == NULL)
		goto fail;
	for (size_t i = 0; s->dependencies != NULL &&
	    i < s->dependencies->count; i++)
		cJSON_AddItemToArray(a,
		    cJSON_CreateString(s->dependencies->items[i]->text));
	if ((a = cJSON_AddArrayToObject(o, "health_checks")) == NULL)
		goto fail;
	for (size_t i = 0; i < ps->nchecks; i++) {
		const struct prepared_check	*pc = &ps->checks[i];

		if ((c = check_json(pc->def, pc->config, true)) == NULL)
			goto fail;
		cJSON_AddItemToArray(a, c);
	}
	if (rs->run != NULL)
		cJSON_AddItemToObject(o, "run", ynode_to_json(rs->run, true));
	if (rs->sandbox != NULL)
		cJSON_AddItemToObject(o, "sandbox",
		    ynode_to_json(rs->sandbox, true));
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

cJSON *
prepared_plan_json(const struct prepared *pd)
{
	const struct deploy_settings	*ds = &pd->spec->settings;
	cJSON				*o, *st, *batches, *b, *list, *s;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "deployment", pd->spec->name) == NULL ||
	    cJSON_AddStringToObject(o, "environment", pd->environment) ==
	    NULL || cJSON_AddStringToObject(o, "spec", pd->spec->path) ==
	    NULL || cJSON_AddNumberToObject(o, "total_servers",
	    (double)pd->spec->nservers) == NULL ||
	    (st = cJSON_AddObjectToObject(o, "settings")) == NULL)
		goto fail;
	cJSON_AddBoolToObject(st, "parallel_deployment", pd->max_parallel != 1);
	cJSON_AddNumberToObject(st, "max_parallel", pd->max_parallel);
	cJSON_AddBoolToObject(st, "rollback_on_failure",
	    ds->rollback_on_failure);
	cJSON_AddStringToObject(st, "rollback_strategy",
	    rollback_strategy_name(ds->rollback_strategy));
	cJSON_AddBoolToObject(st, "health_checks_enabled",
	    ds->health_checks_enabled);
	cJSON_AddBoolToObject(st, "monitoring_enabled", ds->monitoring_enabled);
	cJSON_AddNumberToObject(st, "monitor_port", ds->monitor_port);
	if ((batches = cJSON_AddArrayToObject(o, "batches")) == NULL)
		goto fail;
	for (size_t i = 0; i < pd->plan->nbatches; i++) {
		const struct plan_batch	*pb = &pd->plan->batches[i];

		if ((b = cJSON_CreateObject()) == NULL)
			goto fail;
		cJSON_AddItemToArray(batches, b);
		cJSON_AddNumberToObject(b, "batch", (double)(i + 1));
		cJSON_AddBoolToObject(b, "parallel", pb->count > 1);
		if ((list = cJSON_AddArrayToObject(b, "servers")) == NULL)
			goto fail;
		for (size_t k = 0; k < pb->count; k++) {
			if ((s = server_json(&pd->servers[pb->servers[k]])) ==
			    NULL)
				goto fail;
			cJSON_AddItemToArray(list, s);
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}
