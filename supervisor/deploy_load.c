/*
 * Loading a deployment: prepare (prepare.h: every file read, checked,
 * rendered and planned), then for each server the run spec resolved
 * (runspec.h) and the worker's configuration made. What the deploy
 * would refuse is refused here, with the file and the reason.
 */
#include "deploy_load.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>

#include "childjob.h"
#include "diag.h"
#include "dynuser.h"
#include "errbuf.h"
#include "frame.h"
#include "log.h"
#include "prepare.h"
#include "render.h"
#include "revision.h"
#include "runspec.h"
#include "schema.h"
#include "server.h"
#include "supervisor.h"
#include "util.h"
#include "ynode.h"

int
dep_strategy_by_name(const char *name, char **err)
{
	int	k;

	if (name == NULL)
		return -1;
	if ((k = rollback_strategy_by_name(name)) >= 0)
		return k;
	if (asprintf(err, "unknown rollback strategy '%s' (immediate, batch, "
	    "graceful, aggressive or manual)", name) == -1)
		*err = NULL;
	return -EINVAL;
}

int
dep_sources_init(struct dep_sources *s, const struct deploy_request *rq,
    char **err)
{
	memset(s, 0, sizeof(*s));
	if ((s->strategy = dep_strategy_by_name(rq->strategy, err)) == -EINVAL)
		return -EINVAL;
	s->sequential = rq->sequential;
	s->max_parallel = rq->max_parallel;
	s->no_rollback = rq->no_rollback;
	s->no_monitoring = rq->no_monitoring;
	s->verbose = rq->verbose;
	s->force_recreate = rq->force_recreate;
	s->requester_uid = rq->requester_uid;
	s->requester_pid = rq->requester_pid;
	s->approved = rq->approved;
	s->monitor_port = rq->monitor_port;
	s->spec_path = strdup(rq->spec_path);
	s->config_dir = strdup(rq->config_dir);
	s->checks_dir = rq->checks_dir != NULL ? strdup(rq->checks_dir) :
	    config_sibling_dir(rq->config_dir, "health-checks");
	s->environment = rq->environment != NULL ? strdup(rq->environment) :
	    NULL;
	s->environ = rq->environ != NULL ? cJSON_Duplicate(rq->environ, 1) :
	    NULL;
	s->restores = rq->restores != NULL ? strdup(rq->restores) : NULL;
	s->backup_dir = rq->backup_dir != NULL ? strdup(rq->backup_dir) :
	    NULL;
	s->revision_dir = rq->revision_dir != NULL ?
	    strdup(rq->revision_dir) : NULL;
	s->from_revision = rq->to_revision;
	if (s->spec_path == NULL || s->config_dir == NULL ||
	    (rq->revision_dir != NULL && s->revision_dir == NULL) ||
	    (rq->restores != NULL && s->restores == NULL) ||
	    (rq->backup_dir != NULL && s->backup_dir == NULL) ||
	    s->checks_dir == NULL || (rq->environment != NULL &&
	    s->environment == NULL)) {
		dep_sources_clear(s);
		return -ENOMEM;
	}
	return 0;
}

void
dep_sources_files(const struct dep_sources *s, char *spec, char *config,
    char *checks)
{
	if (s->revision_dir == NULL) {
		snprintf(spec, PATH_MAX, "%s", s->spec_path);
		snprintf(config, PATH_MAX, "%s", s->config_dir);
		snprintf(checks, PATH_MAX, "%s", s->checks_dir);
		return;
	}
	snprintf(spec, PATH_MAX, "%.*s/" REVISION_SPEC, PATH_MAX - 32,
	    s->revision_dir);
	snprintf(config, PATH_MAX, "%s", s->revision_dir);
	snprintf(checks, PATH_MAX, "%.*s/" REVISION_CHECKS, PATH_MAX - 32,
	    s->revision_dir);
}

void
dep_sources_clear(struct dep_sources *s)
{
	free(s->spec_path);
	free(s->environment);
	free(s->config_dir);
	free(s->checks_dir);
	free(s->restores);
	free(s->backup_dir);
	free(s->revision_dir);
	cJSON_Delete(s->environ);
	memset(s, 0, sizeof(*s));
}

/* The secrets of one server (its own, never another's), for its worker
 * to mask in the server's output and its own messages. */
static int
add_mask(cJSON *o, const struct prepared_server *ps)
{
	struct secret_set	 mine = { 0 };
	cJSON			*list;
	int			 r = 0;

	if (secrets_collect(&mine, ps->resolved->config) < 0 ||
	    secrets_collect(&mine, ps->resolved->run) < 0 ||
	    secrets_collect(&mine, ps->resolved->sandbox) < 0)
		r = -ENOMEM;
	for (size_t k = 0; k < ps->nchecks && r == 0; k++)
		if (secrets_collect(&mine, ps->checks[k].config) < 0)
			r = -ENOMEM;
	if (r == 0 && mine.n > 0) {
		if ((list = cJSON_AddArrayToObject(o, "mask")) == NULL)
			r = -ENOMEM;
		for (size_t i = 0; i < mine.n && r == 0; i++)
			if (cJSON_AddItemToArray(list,
			    cJSON_CreateString(mine.v[i])) == 0)
				r = -ENOMEM;
	}
	secrets_clear(&mine);
	return r;
}

/* The run spec's user made the server's dynamic id, its group (unless
 * it names one) every dynamic user's; the worker is told, so that it
 * gives the server its writable paths. */
static void
add_dynamic_identity(cJSON *o, uid_t id)
{
	cJSON	*run = cJSON_GetObjectItem(o, "run");
	char	 num[16];

	snprintf(num, sizeof(num), "%u", (unsigned)id);
	cJSON_DeleteItemFromObject(run, "user");
	cJSON_AddStringToObject(run, "user", num);
	snprintf(num, sizeof(num), "%u", RUNSPEC_DYNAMIC_GID);
	if (cJSON_GetObjectItem(run, "group") == NULL)
		cJSON_AddStringToObject(run, "group", num);
	cJSON_AddBoolToObject(o, "dynamic_user", 1);
}

/* The worker's configuration: the server, its run spec (scalars as the
 * user wrote them), sandbox, limits and checks, secrets included; it
 * travels only over the worker's private channel. */
static char *
worker_config(struct supervisor *sv, const struct dep_loaded *ld, size_t i,
    const char *id, const struct runspec *rs, uid_t dynamic_id)
{
	const struct prepared_server	*ps = &ld->pd->servers[i];
	const struct env_config		*env = ld->pd->env->env;
	const struct deploy_settings	*ds = &ld->pd->spec->settings;
	cJSON				*o = cJSON_CreateObject();
	char				 dir[PATH_MAX + 64];
	char				*text;

	snprintf(dir, sizeof(dir), "%s/servers/%s", sv->state_dir,
	    ps->spec->name);
	cJSON_AddStringToObject(o, "server", ps->spec->name);
	cJSON_AddStringToObject(o, "deployment", id);
	cJSON_AddStringToObject(o, "stack", ld->pd->spec->name);
	if (sv->limits_optional)
		cJSON_AddBoolToObject(o, "limits_optional", 1);
	cJSON_AddStringToObject(o, "server_dir", dir);
	cJSON_AddItemToObject(o, "run", runspec_pack(rs));
	if (dynamic_id != 0)
		add_dynamic_identity(o, dynamic_id);
	cJSON_AddItemToObject(o, "sandbox", ps->resolved->sandbox != NULL ?
	    ynode_to_json(ps->resolved->sandbox, false) : cJSON_CreateObject());
	/* the default view, written out: the worker's own default is none */
	if (cJSON_GetObjectItem(cJSON_GetObjectItem(o, "sandbox"),
	    "filesystem") == NULL)
		cJSON_AddStringToObject(cJSON_GetObjectItem(o, "sandbox"),
		    "filesystem", sv->filesystem_views ? "strict" : "host");
	if (ynode_map_get(ps->resolved->server->doc, "gateway") != NULL)
		cJSON_AddItemToObject(o, "gateway", ynode_to_json(
		    ynode_map_get(ps->resolved->server->doc, "gateway"),
		    false));
	if (ynode_map_get(env->doc, "resource_limits") != NULL)
		cJSON_AddItemToObject(o, "resource_limits", ynode_to_json(
		    ynode_map_get(env->doc, "resource_limits"), false));
	if (ds->health_checks_enabled && ps->nchecks > 0) {
		cJSON	*list = cJSON_AddArrayToObject(o, "health_checks");

		for (size_t k = 0; k < ps->nchecks; k++)
			cJSON_AddItemToArray(list, check_json(ps->checks[k].def,
			    ps->checks[k].config, false));
	}
	if (add_mask(o, ps) < 0) {
		cJSON_Delete(o);
		return NULL;
	}
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* A server's rendered configuration, secrets masked: what an apply
 * compares (its worker never sees it, only what run's templates make of
 * it). */
static char *
masked_rendering(const struct ynode *config, const struct secret_set *secrets)
{
	cJSON	*j = ynode_to_json(config, false);
	char	*text;

	if (j == NULL)
		return NULL;
	secrets_scrub_json(secrets, j);
	text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return text;
}

static const char *
request_getenv(void *arg, const char *name)
{
	const cJSON	*client_env = arg;

	return cJSON_GetStringValue(cJSON_GetObjectItem(client_env, name));
}

static int
collect_secrets(struct dep_loaded *ld)
{
	struct secret_set	*s = &ld->secrets;

	if (secrets_collect(s, ld->pd->env->values) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < ld->pd->spec->nservers; i++) {
		const struct prepared_server *ps = &ld->pd->servers[i];

		if (secrets_collect(s, ps->resolved->config) < 0 ||
		    secrets_collect(s, ps->resolved->run) < 0 ||
		    secrets_collect(s, ps->resolved->sandbox) < 0)
			return -ENOMEM;
		for (size_t k = 0; k < ps->nchecks; k++)
			if (secrets_collect(s, ps->checks[k].config) < 0)
				return -ENOMEM;
	}
	return 0;
}

/* Each server's run spec (refused with its file when it is not one a
 * worker can start) and its run. */
static int
make_runs_with(struct supervisor *sv, const struct dep_sources *src,
    struct dep_loaded *ld, const char *id, struct dynuser_map *ids,
    struct diag_list *dl)
{
	int	r = 0;

	if ((ld->servers = calloc(ld->nservers, sizeof(*ld->servers))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ld->nservers; i++) {
		const struct prepared_server *ps = &ld->pd->servers[i];
		struct server_run	*sr = &ld->servers[i];
		struct runspec		*rs;
		struct errbuf		 err = { "" };
		uid_t			 dynamic_id = 0;

		if (ps->resolved->run == NULL) {
			diag_add_file(dl, DIAG_ERROR, ps->resolved->server->path,
			    "server '%s' has no run section: mcpvisor does not "
			    "know how to start it", ps->spec->name);
			r = -EINVAL;
			continue;
		}
		if (runspec_from_yaml(ps->resolved->run, src->config_dir, &rs,
		    &err) < 0) {
			diag_add_file(dl, DIAG_ERROR, ps->resolved->server->path,
			    "server '%s': %s", ps->spec->name, err.msg);
			r = -EINVAL;
			continue;
		}
		sr->index = i;
		sr->name = ps->spec->name;
		sr->stop_timeout_ms = rs->stop_timeout_ms;
		sr->attempts_allowed = 1 + ps->spec->retry_attempts;
		sr->ready_timeout_s = ps->spec->timeout_seconds;
		if (rs->user == NULL && ids != NULL && dynuser_for(ids,
		    ps->spec->name, &dynamic_id, &err) < 0) {
			diag_add_file(dl, DIAG_ERROR, ps->resolved->server->path,
			    "server '%s': no dynamic user for it: %s",
			    ps->spec->name, err.msg);
			runspec_free(rs);
			r = -EINVAL;
			continue;
		}
		sr->config_text = worker_config(sv, ld, i, id, rs,
		    rs->user == NULL ? dynamic_id : 0);
		snprintf(sr->stack, sizeof(sr->stack), "%s",
		    ld->pd->spec->name);
		runspec_free(rs);
		if (sr->config_text == NULL || (ps->resolved->config != NULL &&
		    (sr->rendered = masked_rendering(ps->resolved->config,
		    &ld->secrets)) == NULL))
			return -ENOMEM;
		if (strlen(sr->config_text) > FRAME_MAX) {
			diag_add_file(dl, DIAG_ERROR, ps->resolved->server->path,
			    "server '%s': what its worker is given (its run "
			    "section, sandbox and checks, rendered) is %zu KiB; "
			    "a worker takes at most %u KiB", ps->spec->name,
			    strlen(sr->config_text) >> 10, FRAME_MAX >> 10);
			r = -EINVAL;
		}
	}
	return r;
}

/* make_runs_with, the dynamic users' ids read once and, when the load
 * gave out new ones, written once. */
static int
make_runs(struct supervisor *sv, const struct dep_sources *src,
    struct dep_loaded *ld, const char *id, struct diag_list *dl)
{
	struct dynuser_map	 ids;
	struct errbuf		 err = { "" };
	int			 r;

	if (!sv->dynamic_users)
		return make_runs_with(sv, src, ld, id, NULL, dl);
	if ((r = dynuser_load(&ids, sv->state_dir, &err)) < 0) {
		diag_add_file(dl, DIAG_ERROR, ids.path, "the servers' dynamic "
		    "users: %s", err.msg);
		return r == -ENOMEM ? r : -EINVAL;
	}
	r = make_runs_with(sv, src, ld, id, &ids, dl);
	if (r == 0 && !src->dry_run && dynuser_save(&ids, &err) < 0) {
		diag_add_file(dl, DIAG_ERROR, ids.path, "the servers' dynamic "
		    "users: %s", err.msg);
		return -EINVAL;
	}
	if (r != 0 || src->dry_run)
		dynuser_drop(&ids);	/* ids for servers that do not run */
	return r;
}

static void
diags_to_text(struct diag_list *dl, char **err)
{
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(err, &len)) != NULL) {
		diag_print(dl, fp);
		fclose(fp);
	}
}

/* What the request says over the spec's settings. */
static void
take_settings(const struct dep_sources *src, struct dep_loaded *ld)
{
	ld->rollback_enabled = !src->no_rollback &&
	    ld->pd->spec->settings.rollback_on_failure;
	ld->strategy = src->strategy >= 0 ?
	    (enum rollback_strategy)src->strategy :
	    ld->pd->spec->settings.rollback_strategy;
}

int
dep_load(struct supervisor *sv, const struct dep_sources *src, const char *id,
    struct dep_loaded *ld, char **err)
{
	char			 spec[PATH_MAX], config[PATH_MAX];
	char			 checks[PATH_MAX];
	struct project_paths	 paths = { .config_dir = config,
				    .checks_dir = checks };
	char			 registered[PATH_MAX + 16];
	struct prepare_opts	 po = { .paths = &paths,
				    .spec_path = spec,
				    .environment = src->environment,
				    .sequential = src->sequential,
				    .max_parallel = src->max_parallel,
				    .host_checks = true,
				    .limits_optional = sv->limits_optional };
	struct diag_list	 dl = { 0 };
	int			 r;

	memset(ld, 0, sizeof(*ld));
	dep_sources_files(src, spec, config, checks);
	snprintf(registered, sizeof(registered), "%s/health-checks",
	    sv->state_dir);
	paths.registered_checks_dir = registered;
	/* the daemon's own: only its user and root may ask for a deployment,
	 * so it reads NAME_FILE and the directory with no rights it would
	 * lend to a requester who lacks them */
	if (sv->secrets_dir[0] != '\0')
		po.render.secrets_dir = sv->secrets_dir;
	if (src->environ != NULL) {
		po.render.getenv = request_getenv;
		po.render.getenv_arg = src->environ;
	}
	if ((r = prepare_deployment(&po, &ld->pd, &dl)) == 0) {
		ld->nservers = ld->pd->spec->nservers;
		ld->encrypt_at_rest = schema_bool(ynode_map_get(
		    ld->pd->env->env->doc, "security_policies"),
		    "encrypt_at_rest", false);
		ld->require_mfa = schema_bool(ynode_map_get(
		    ld->pd->env->env->doc, "security_policies"),
		    "require_mfa", false);
		ld->audit_logging = schema_bool(ynode_map_get(
		    ld->pd->env->env->doc, "security_policies"),
		    "audit_logging", false);
		if ((ld->environment = strdup(ld->pd->environment)) == NULL ||
		    collect_secrets(ld) < 0)
			r = -ENOMEM;
		else
			r = make_runs(sv, src, ld, id, &dl);
	}
	if (r < 0) {
		if (dl.n > 0)
			diags_to_text(&dl, err);
		diag_list_free(&dl);
		dep_loaded_clear(ld);
		return r;
	}
	diag_list_free(&dl);
	take_settings(src, ld);
	return 0;
}

/* --- a load made in a child, carried back as JSON --- */

cJSON *
dep_loaded_to_json(const struct dep_loaded *ld)
{
	cJSON	*o = cJSON_CreateObject(), *list, *s;

	cJSON_AddStringToObject(o, "environment", ld->environment);
	cJSON_AddBoolToObject(o, "encrypt_at_rest", ld->encrypt_at_rest);
	cJSON_AddBoolToObject(o, "require_mfa", ld->require_mfa);
	cJSON_AddBoolToObject(o, "audit_logging", ld->audit_logging);
	list = cJSON_AddArrayToObject(o, "servers");
	for (size_t i = 0; i < ld->nservers; i++) {
		const struct server_run	*sr = &ld->servers[i];

		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "name", sr->name);
		cJSON_AddStringToObject(s, "config", sr->config_text);
		if (sr->rendered != NULL)
			cJSON_AddStringToObject(s, "rendered", sr->rendered);
		cJSON_AddNumberToObject(s, "stop_timeout_ms", sr->stop_timeout_ms);
		cJSON_AddNumberToObject(s, "attempts_allowed",
		    sr->attempts_allowed);
		cJSON_AddNumberToObject(s, "ready_timeout_s", sr->ready_timeout_s);
		cJSON_AddItemToArray(list, s);
	}
	list = cJSON_AddArrayToObject(o, "secrets");
	for (size_t i = 0; i < ld->secrets.n; i++)
		cJSON_AddItemToArray(list, cJSON_CreateString(ld->secrets.v[i]));
	return o;
}

/* The spec and its plan, read again here (a small file, parsed in
 * milliseconds): what the child rendered is taken from its answer. */
static int
load_outline(const struct dep_sources *src, struct prepared **out,
    struct diag_list *dl)
{
	struct prepared		*pd;
	struct plan_opts	 plo;
	char			 spec[PATH_MAX], config[PATH_MAX];
	char			 checks[PATH_MAX];
	int			 r;

	if ((pd = calloc(1, sizeof(*pd))) == NULL)
		return -ENOMEM;
	dep_sources_files(src, spec, config, checks);
	if ((r = spec_load(spec, &pd->spec, dl)) < 0)
		goto fail;
	pd->max_parallel = prepare_max_parallel(pd->spec, src->sequential,
	    src->max_parallel);
	plo.max_parallel = pd->max_parallel;
	if ((r = plan_build(pd->spec->servers, pd->spec->nservers, &plo,
	    &pd->plan, dl)) < 0)
		goto fail;
	if ((pd->servers = calloc(pd->spec->nservers,
	    sizeof(*pd->servers))) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < pd->spec->nservers; i++)
		pd->servers[i].spec = &pd->spec->servers[i];
	*out = pd;
	return 0;
fail:
	prepared_free(pd);
	return r;
}

/* One server's run, from the child's answer; false when it is not the
 * server the spec names there. */
static bool
run_from_json(struct server_run *sr, const struct prepared_server *ps,
    size_t i, const cJSON *s)
{
	const char	*name = cJSON_GetStringValue(cJSON_GetObjectItem(s,
			    "name"));
	const char	*config = cJSON_GetStringValue(cJSON_GetObjectItem(s,
			    "config"));
	const char	*rendered = cJSON_GetStringValue(cJSON_GetObjectItem(s,
			    "rendered"));

	if (name == NULL || config == NULL || strcmp(name, ps->spec->name) != 0)
		return false;
	sr->index = i;
	sr->name = ps->spec->name;
	sr->stop_timeout_ms = (unsigned)json_int_within(cJSON_GetObjectItem(s,
	    "stop_timeout_ms"), 0, UINT_MAX, 0);
	sr->attempts_allowed = (unsigned)json_int_within(cJSON_GetObjectItem(s,
	    "attempts_allowed"), 1, UINT_MAX, 1);
	sr->ready_timeout_s = (unsigned)json_int_within(cJSON_GetObjectItem(s,
	    "ready_timeout_s"), 1, UINT_MAX, 1);
	if (rendered != NULL && (sr->rendered = strdup(rendered)) == NULL)
		return false;
	return (sr->config_text = strdup(config)) != NULL;
}

int
dep_load_from_json(const struct dep_sources *src, const cJSON *answer,
    struct dep_loaded *ld, char **err)
{
	const cJSON	*list = cJSON_GetObjectItem(answer, "servers"), *s;
	const char	*env = cJSON_GetStringValue(cJSON_GetObjectItem(answer,
			    "environment"));
	struct diag_list dl = { 0 };
	size_t		 i = 0;
	int		 r;

	memset(ld, 0, sizeof(*ld));
	if ((r = load_outline(src, &ld->pd, &dl)) < 0) {
		if (dl.n > 0)
			diags_to_text(&dl, err);
		diag_list_free(&dl);
		return r;
	}
	diag_list_free(&dl);
	ld->nservers = ld->pd->spec->nservers;
	if (env == NULL || !cJSON_IsArray(list) ||
	    (size_t)cJSON_GetArraySize(list) != ld->nservers ||
	    (ld->environment = strdup(env)) == NULL ||
	    (ld->servers = calloc(ld->nservers, sizeof(*ld->servers))) ==
	    NULL) {
		r = -EINVAL;
		goto changed;
	}
	ld->pd->environment = ld->environment;
	ld->encrypt_at_rest = cJSON_IsTrue(cJSON_GetObjectItem(answer,
	    "encrypt_at_rest"));
	ld->require_mfa = cJSON_IsTrue(cJSON_GetObjectItem(answer,
	    "require_mfa"));
	ld->audit_logging = cJSON_IsTrue(cJSON_GetObjectItem(answer,
	    "audit_logging"));
	cJSON_ArrayForEach(s, list) {
		snprintf(ld->servers[i].stack, sizeof(ld->servers[i].stack),
		    "%s", ld->pd->spec->name);
		if (!run_from_json(&ld->servers[i], &ld->pd->servers[i], i, s)) {
			r = -EINVAL;
			goto changed;
		}
		i++;
	}
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(answer, "secrets"))
		if (cJSON_IsString(s) &&
		    secrets_add(&ld->secrets, s->valuestring) < 0) {
			r = -ENOMEM;
			goto changed;
		}
	take_settings(src, ld);
	return 0;
changed:
	if (asprintf(err, "%s: the deployment changed while it was being "
	    "prepared: try again", src->spec_path) == -1)
		*err = NULL;
	dep_loaded_clear(ld);
	return r;
}

/* --- in a child, off the loop --- */

/* a load's bounds: its CPU time, and its answer (the workers'
 * configurations, JSON twice over, of at most RENDER_BUDGET_DEFAULT of
 * rendered text) */
#define LOAD_CPU_S		120
#define LOAD_ANSWER_MAX		(4 * (size_t)RENDER_BUDGET_DEFAULT)

struct load_job {
	struct supervisor		*sv;
	const struct dep_sources	*src;
	const char			*id;
};

/* In the child: the whole load (files, rendering, rules, plan and the
 * workers' configurations), its answer as JSON. */
static int
load_in_child(const void *arg, int fd)
{
	const struct load_job	*job = arg;
	struct dep_loaded	 ld;
	struct rlimit		 cpu = { LOAD_CPU_S, LOAD_CPU_S };
	char			*err = NULL, *text, why[PATH_MAX + 160];
	cJSON			*o;
	int			 r;

	setrlimit(RLIMIT_CPU, &cpu);
	if ((r = dep_load(job->sv, job->src, job->id, &ld, &err)) < 0) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "error", err != NULL ? err :
		    strerror(-r));
		cJSON_AddBoolToObject(o, "invalid", r == -EINVAL);
	} else {
		/* its files, copied as they were read: its revision's, once
		 * it succeeds (a deployment without goes on) */
		if (!job->src->dry_run && revision_stage(job->sv->state_dir,
		    job->src, ld.pd->spec->name, job->id, why,
		    sizeof(why)) < 0)
			log_warnx("%s: no revision will be kept: %s", job->id,
			    why);
		o = dep_loaded_to_json(&ld);
	}
	if ((text = cJSON_PrintUnformatted(o)) == NULL)
		return 111;
	return write_all(fd, text, strlen(text)) < 0 ? 111 : 0;
}

struct childjob *
dep_load_start(struct supervisor *sv, const struct dep_sources *src,
    const char *id, void (*done)(void *, char *, size_t), void *arg)
{
	/* the child has its copy of it from the fork, before this returns */
	const struct load_job	job = { sv, src, id };

	return childjob_start(sv, load_in_child, &job, LOAD_ANSWER_MAX, done,
	    arg);
}

int
dep_load_answer(const struct dep_sources *src, char *answer, size_t len,
    struct dep_loaded *ld, char **why, bool *invalid)
{
	cJSON		*o = answer != NULL ? cJSON_ParseWithLength(answer,
			    len) : NULL;
	const char	*error = cJSON_GetStringValue(cJSON_GetObjectItem(o,
			    "error"));
	int		 r = 0;

	*why = NULL;
	*invalid = false;
	if (answer != NULL)
		explicit_bzero(answer, len);
	free(answer);
	if (o == NULL) {
		r = -EIO;
		*why = strdup("the preparation ended without an answer "
		    "(killed, or past its bounds)");
	} else if (error != NULL) {
		r = -EINVAL;
		*why = strdup(error);
		*invalid = cJSON_IsTrue(cJSON_GetObjectItem(o, "invalid"));
	} else if ((r = dep_load_from_json(src, o, ld, why)) < 0)
		*invalid = true;
	secrets_wipe_json(o);
	cJSON_Delete(o);
	return r;
}

void
dep_loaded_shed(struct dep_loaded *ld)
{
	prepared_shed(ld->pd);
}

void
dep_loaded_clear(struct dep_loaded *ld)
{
	for (size_t i = 0; ld->servers != NULL && i < ld->nservers; i++)
		server_clear(&ld->servers[i]);
	free(ld->servers);
	secrets_clear(&ld->secrets);
	prepared_free(ld->pd);
	free(ld->environment);
	memset(ld, 0, sizeof(*ld));
}
