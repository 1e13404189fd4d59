/*
 * mcpvisor config show | validate | list. All three read files only; the
 * daemon need not run.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "config.h"
#include "diag.h"
#include "plan.h"
#include "render.h"
#include "runspec.h"
#include "schema.h"
#include "ynode.h"

static const char usage_show[] =
"usage: mcpvisor config show [--json] SERVER ENVIRONMENT\n"
"\n"
"Prints SERVER's configuration as ENVIRONMENT resolves it: base_config with\n"
"the environment's overrides merged in, templates rendered, then the run and\n"
"sandbox sections. Secrets print as ***.\n";

static const char usage_validate[] =
"usage: mcpvisor config validate [--json] [--max-exposure N]\n"
"\n"
"Checks every environment, server, health-check and deployment file, renders\n"
"every server for every environment, applies validation rules and plans every\n"
"deployment. Lists every problem as FILE:LINE:COLUMN; exits 100 if any.\n"
"Secrets whose variables are unset are checked as placeholders.\n"
"--max-exposure N (0 to 10) also fails every server whose exposure score in\n"
"an environment (mcpvisor security) is above N.\n";

static const char usage_list[] =
"usage: mcpvisor config list [--json]\n"
"\n"
"Lists environments, servers, health checks and deployments.\n";

/* Scalars print as JSON text, which YAML reads back as the same value. */
static void
print_scalar(const struct ynode *n)
{
	cJSON	*j = ynode_to_json(n, true);
	char	*text = j != NULL ? cJSON_PrintUnformatted(j) : NULL;

	fputs(text != NULL ? text : "?", stdout);
	free(text);
	cJSON_Delete(j);
}

static void
print_yaml(const struct ynode *n, int indent)
{
	for (size_t i = 0; i < n->count; i++) {
		const struct ynode	*v = n->items[i];

		printf("%*s", indent, "");
		if (n->kind == YNODE_MAP)
			printf("%s:", n->keys[i]->text);
		else
			printf("-");
		if (ynode_is_scalar(v)) {
			putchar(' ');
			print_scalar(v);
			putchar('\n');
		} else if (v->count == 0)
			printf(" %s\n", v->kind == YNODE_MAP ? "{}" : "[]");
		else {
			putchar('\n');
			print_yaml(v, indent + 2);
		}
	}
}

static void
print_section(const char *name, const struct ynode *n)
{
	if (n == NULL)
		return;
	printf("%s:%s\n", name, n->count == 0 ? " {}" : "");
	print_yaml(n, 2);
}

int
cli_render_one(struct cli *cli, const char *server, const char *environment,
    struct cli_rendered *r, struct diag_list *dl)
{
	struct render_opts	ro = { .allow_unset_secrets = true };
	struct project		*p;

	memset(r, 0, sizeof(*r));
	if (project_load(&cli->paths, &r->p, dl) < 0)
		return CLI_EXIT_TEMPFAIL;
	p = r->p;
	if ((r->srv = project_server(p, server)) == NULL)
		diag_add_file(dl, DIAG_ERROR, NULL, "no server '%s' in %s/"
		    "servers", server, cli->paths.config_dir);
	if (environment != NULL)
		r->env = project_env(p, environment);
	else if ((r->env = project_env(p, "development")) == NULL &&
	    p->nenvs == 1)
		r->env = p->envs[0];
	if (r->env == NULL)
		diag_add_file(dl, DIAG_ERROR, NULL, environment != NULL ?
		    "no environment '%s' in %s/environments" : "several "
		    "environments and none is 'development': name one%s%s",
		    environment != NULL ? environment : "",
		    environment != NULL ? cli->paths.config_dir : "");
	/* other files' errors are shown, but need not hide this server */
	if (r->srv == NULL || r->env == NULL ||
	    render_env(r->env, &ro, &r->re, dl) < 0 ||
	    render_server(r->srv, r->re, &ro, &r->rs, dl) < 0)
		return CLI_EXIT_CONFIG;
	return 0;
}

void
cli_rendered_free(struct cli_rendered *r)
{
	resolved_server_free(r->rs);
	rendered_env_free(r->re);
	project_free(r->p);
	memset(r, 0, sizeof(*r));
}

static int
config_show(struct cli *cli, int argc, char **argv)
{
	struct diag_list		 dl = { 0 };
	struct cli_rendered		 r;
	const struct server_config	*srv;
	const struct env_config		*env;
	struct resolved_server		*rs;
	int				 i, status = CLI_EXIT_CONFIG;

	if ((i = cli_parse_simple(cli, argc, argv, usage_show, &status)) < 0)
		return status;
	if (argc - i != 2) {
		fputs(usage_show, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((status = cli_render_one(cli, argv[i], argv[i + 1], &r, &dl)) != 0)
		goto out;
	srv = r.srv;
	env = r.env;
	rs = r.rs;
	status = dl.errors > 0 ? CLI_EXIT_CONFIG : CLI_EXIT_OK;
	if (cli->json) {
		cJSON	*o = resolved_server_to_json(rs, true);

		if (o != NULL && dl.n > 0)
			cJSON_AddItemToObject(o, "diagnostics",
			    diag_to_json(&dl));
		cli_print_json(o);
		cJSON_Delete(o);
		goto done;
	}
	if (dl.n > 0)
		diag_print(&dl, stderr);
	printf("# %s in %s (%s)\n", srv->name, env->name, srv->path);
	print_section("config", rs->config);
	print_section("run", rs->run);
	print_section("sandbox", rs->sandbox);
	goto done;
out:
	if (dl.n > 0)
		cli_print_diags(cli, &dl);
done:
	cli_rendered_free(&r);
	diag_list_free(&dl);
	return status;
}

struct spec_list {
	struct deploy_spec	**v;
	size_t			  n;
};

static int
load_specs(const struct cli *cli, struct spec_list *sl, struct diag_list *dl)
{
	char	**files;
	int	  n;

	memset(sl, 0, sizeof(*sl));
	if ((n = config_list_dir(cli->paths.deployments_dir, &files)) < 0) {
		if (n != -ENOENT)
			diag_add_file(dl, DIAG_ERROR,
			    cli->paths.deployments_dir,
			    "cannot read directory: %s", strerror(-n));
		return 0;
	}
	if (n > 0 && (sl->v = calloc((size_t)n, sizeof(*sl->v))) == NULL) {
		config_free_list(files, n);
		return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		if (spec_load(files[i], &sl->v[sl->n], dl) == 0)
			sl->n++;
	config_free_list(files, n);
	return 0;
}

static void
free_specs(struct spec_list *sl)
{
	for (size_t i = 0; i < sl->n; i++)
		spec_free(sl->v[i]);
	free(sl->v);
}

/* Renders every server for env, and each check a spec gives it. */
static void
validate_environment(const struct project *p, const struct env_config *env,
    const struct spec_list *sl, double max_exposure, struct diag_list *dl)
{
	struct render_opts	 ro = { .allow_unset_secrets = true };
	struct rendered_env	*re = NULL;

	/* without a cache each rule's pattern is compiled per server */
	ro.regexes = regex_cache_new();
	if (render_env(env, &ro, &re, dl) < 0) {
		regex_cache_free(ro.regexes);
		return;
	}
	for (size_t i = 0; i < p->nservers; i++) {
		struct resolved_server	*rs = NULL;

		if (render_server(p->servers[i], re, &ro, &rs, dl) < 0)
			continue;
		if (max_exposure >= 0) {
			struct exposure	x;

			cli_exposure(rs, env, &x);
			if (x.score > max_exposure + 1e-9)
				diag_add(dl, DIAG_ERROR, &ynode_map_get(
				    p->servers[i]->doc, "name")->mark,
				    "server '%s' in %s: exposure %.1f %s, above "
				    "--max-exposure %.1f (mcpvisor security %s "
				    "%s)", p->servers[i]->name, env->name,
				    x.score, cli_exposure_level(x.score),
				    max_exposure, p->servers[i]->name,
				    env->name);
		}
		for (size_t s = 0; s < sl->n; s++) {
			const struct deploy_spec *spec = sl->v[s];

			if (spec->environment != NULL &&
			    strcmp(spec->environment, env->name) != 0)
				continue;
			for (size_t k = 0; k < spec->nservers; k++) {
				const struct ynode *hc =
				    spec->servers[k].health_checks;

				if (strcmp(spec->servers[k].name,
				    p->servers[i]->name) != 0 || hc == NULL)
					continue;
				for (size_t c = 0; c < hc->count; c++) {
					const struct check_def *def =
					    project_check(p, hc->items[c]->text);
					struct ynode *cfg = NULL;

					if (def != NULL && render_check(def,
					    rs, re, &ro, &cfg, dl) == 0)
						ynode_free(cfg);
				}
			}
		}
		resolved_server_free(rs);
	}
	rendered_env_free(re);
	regex_cache_free(ro.regexes);
}

static int
config_validate(struct cli *cli, int argc, char **argv)
{
	struct diag_list	 dl = { 0 };
	struct project		*p = NULL;
	struct spec_list	 sl = { 0 };
	double			 max_exposure = -1;
	char			*end;
	int			 i, status, k;

	/* --max-exposure N, taken out before the common options */
	for (k = 1; k < argc; k++) {
		const char	*v = NULL;
		int		 take = 1;

		if (strcmp(argv[k], "--max-exposure") == 0 && k + 1 < argc) {
			v = argv[k + 1];
			take = 2;
		} else if (strncmp(argv[k], "--max-exposure=", 15) == 0)
			v = argv[k] + 15;
		else if (strcmp(argv[k], "--max-exposure") == 0)
			v = "";
		else
			continue;
		max_exposure = strtod(v, &end);
		if (*v == '\0' || *end != '\0' || max_exposure < 0 ||
		    max_exposure > 10) {
			fprintf(stderr, "mcpvisor config validate: "
			    "--max-exposure takes a number from 0 to 10\n");
			return CLI_EXIT_USAGE;
		}
		memmove(&argv[k], &argv[k + take], (size_t)(argc - k - take +
		    1) * sizeof(*argv));
		argc -= take;
		k--;
	}
	if ((i = cli_parse_simple(cli, argc, argv, usage_validate,
	    &status)) < 0)
		return status;
	if (argc != i) {
		fputs(usage_validate, stderr);
		return CLI_EXIT_USAGE;
	}
	if (project_load(&cli->paths, &p, &dl) < 0 ||
	    load_specs(cli, &sl, &dl) < 0) {
		fprintf(stderr, "mcpvisor: out of memory\n");
		status = CLI_EXIT_TEMPFAIL;
		goto out;
	}
	if (p->nenvs == 0)
		diag_add_file(&dl, DIAG_ERROR, cli->paths.config_dir,
		    "no environment files (environments/*.yaml)");
	for (size_t s = 0; s < sl.n; s++) {
		struct plan		*plan = NULL;
		struct plan_opts	 po = { 0 };

		spec_check(sl.v[s], p, sl.v[s]->environment, &dl);
		if (plan_build(sl.v[s]->servers, sl.v[s]->nservers, &po,
		    &plan, &dl) == 0)
			plan_free(plan);
	}
	for (size_t e = 0; e < p->nenvs; e++)
		validate_environment(p, p->envs[e], &sl, max_exposure, &dl);
	status = dl.errors > 0 ? CLI_EXIT_CONFIG : CLI_EXIT_OK;
	if (cli->json) {
		cJSON	*o = cJSON_CreateObject();

		cJSON_AddBoolToObject(o, "valid", dl.errors == 0);
		cJSON_AddStringToObject(o, "config_dir", cli->paths.config_dir);
		cJSON_AddNumberToObject(o, "environments", (double)p->nenvs);
		cJSON_AddNumberToObject(o, "servers", (double)p->nservers);
		cJSON_AddNumberToObject(o, "health_checks", (double)p->nchecks);
		cJSON_AddNumberToObject(o, "deployments", (double)sl.n);
		cJSON_AddNumberToObject(o, "errors", (double)dl.errors);
		cJSON_AddNumberToObject(o, "warnings", (double)dl.warnings);
		cJSON_AddItemToObject(o, "diagnostics", diag_to_json(&dl));
		cli_print_json(o);
		cJSON_Delete(o);
		goto out;
	}
	diag_print(&dl, stderr);
	/* which directory was read: the default depends on where one is */
	if (dl.errors > 0)
		fprintf(stderr, "mcpvisor: configuration in %s is invalid: %zu "
		    "error%s, %zu warning%s\n", cli->paths.config_dir, dl.errors,
		    dl.errors == 1 ? "" : "s", dl.warnings,
		    dl.warnings == 1 ? "" : "s");
	else
		printf("configuration is valid: %zu environments, %zu servers, "
		    "%zu health checks, %zu deployments (%zu warning%s), read "
		    "from %s\n", p->nenvs, p->nservers, p->nchecks, sl.n,
		    dl.warnings, dl.warnings == 1 ? "" : "s",
		    cli->paths.config_dir);
out:
	free_specs(&sl);
	project_free(p);
	diag_list_free(&dl);
	return status;
}

static cJSON *
list_json(const struct project *p, const struct spec_list *sl)
{
	cJSON	*o = cJSON_CreateObject(), *a, *e;

	a = cJSON_AddArrayToObject(o, "environments");
	for (size_t i = 0; i < p->nenvs; i++) {
		const struct ynode *d = p->envs[i]->doc;

		cJSON_AddItemToArray(a, e = cJSON_CreateObject());
		cJSON_AddStringToObject(e, "name", p->envs[i]->name);
		cJSON_AddStringToObject(e, "path", p->envs[i]->path);
		cJSON_AddNumberToObject(e, "variables", (double)(
		    ynode_map_get(d, "variables") != NULL ?
		    ynode_map_get(d, "variables")->count : 0));
		cJSON_AddNumberToObject(e, "secrets", (double)(
		    ynode_map_get(d, "secrets") != NULL ?
		    ynode_map_get(d, "secrets")->count : 0));
	}
	a = cJSON_AddArrayToObject(o, "servers");
	for (size_t i = 0; i < p->nservers; i++) {
		const struct ynode *d = p->servers[i]->doc;

		cJSON_AddItemToArray(a, e = cJSON_CreateObject());
		cJSON_AddStringToObject(e, "name", p->servers[i]->name);
		cJSON_AddStringToObject(e, "server_type",
		    schema_str(d, "server_type", ""));
		cJSON_AddStringToObject(e, "transport", runspec_yaml_str(
		    ynode_map_get(d, "run"), "transport"));
		cJSON_AddStringToObject(e, "path", p->servers[i]->path);
	}
	a = cJSON_AddArrayToObject(o, "health_checks");
	for (size_t i = 0; i < p->nchecks; i++) {
		cJSON_AddItemToArray(a, e = cJSON_CreateObject());
		cJSON_AddStringToObject(e, "name", p->checks[i].name);
		cJSON_AddStringToObject(e, "type", p->checks[i].type);
		cJSON_AddStringToObject(e, "path", p->checks[i].path);
	}
	a = cJSON_AddArrayToObject(o, "deployments");
	for (size_t i = 0; i < sl->n; i++) {
		cJSON_AddItemToArray(a, e = cJSON_CreateObject());
		cJSON_AddStringToObject(e, "name", sl->v[i]->name);
		if (sl->v[i]->environment != NULL)
			cJSON_AddStringToObject(e, "environment",
			    sl->v[i]->environment);
		cJSON_AddNumberToObject(e, "servers",
		    (double)sl->v[i]->nservers);
		cJSON_AddStringToObject(e, "path", sl->v[i]->path);
	}
	return o;
}

static void
list_text(const struct cli *cli, const struct project *p,
    const struct spec_list *sl)
{
	printf("Environments (%s/environments)\n", cli->paths.config_dir);
	for (size_t i = 0; i < p->nenvs; i++) {
		const struct ynode *v = ynode_map_get(p->envs[i]->doc,
		    "variables");
		const struct ynode *s = ynode_map_get(p->envs[i]->doc,
		    "secrets");

		printf("  %-24s %zu variables, %zu secrets\n",
		    p->envs[i]->name, v != NULL ? v->count : 0,
		    s != NULL ? s->count : 0);
	}
	printf("\nServers (%s/servers)\n", cli->paths.config_dir);
	for (size_t i = 0; i < p->nservers; i++) {
		const struct ynode *d = p->servers[i]->doc;

		printf("  %-24s %-14s %s\n", p->servers[i]->name,
		    schema_str(d, "server_type", ""),
		    runspec_yaml_str(ynode_map_get(d, "run"), "transport"));
	}
	printf("\nHealth checks (%s)\n", cli->paths.checks_dir);
	for (size_t i = 0; i < p->nchecks; i++)
		printf("  %-24s %s\n", p->checks[i].name, p->checks[i].type);
	printf("\nDeployments (%s)\n", cli->paths.deployments_dir);
	for (size_t i = 0; i < sl->n; i++)
		printf("  %-24s %-12s %zu servers  %s\n", sl->v[i]->name,
		    sl->v[i]->environment != NULL ? sl->v[i]->environment : "-",
		    sl->v[i]->nservers, sl->v[i]->path);
}

static int
config_list(struct cli *cli, int argc, char **argv)
{
	struct diag_list	 dl = { 0 };
	struct project		*p = NULL;
	struct spec_list	 sl = { 0 };
	int			 i, status;

	if ((i = cli_parse_simple(cli, argc, argv, usage_list, &status)) < 0)
		return status;
	if (argc != i) {
		fputs(usage_list, stderr);
		return CLI_EXIT_USAGE;
	}
	if (project_load(&cli->paths, &p, &dl) < 0 ||
	    load_specs(cli, &sl, &dl) < 0) {
		fprintf(stderr, "mcpvisor: out of memory\n");
		status = CLI_EXIT_TEMPFAIL;
		goto out;
	}
	/* list what loaded; say what did not */
	diag_print(&dl, stderr);
	if (cli->json) {
		cJSON	*o = list_json(p, &sl);

		cli_print_json(o);
		cJSON_Delete(o);
	} else
		list_text(cli, p, &sl);
	status = dl.errors > 0 ? CLI_EXIT_CONFIG : CLI_EXIT_OK;
out:
	free_specs(&sl);
	project_free(p);
	diag_list_free(&dl);
	return status;
}

static const struct cli_verb config_verbs[] = {
	{ "show", config_show, "a server's resolved configuration" },
	{ "validate", config_validate, "check every configuration file" },
	{ "list", config_list, "environments, servers, checks, deployments" },
	{ NULL, NULL, NULL },
};

int
cli_config(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "config", config_verbs, argc - 1, argv + 1);
}
