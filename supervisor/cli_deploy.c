/*
 * mcpvisor deploy start SPEC --dry-run: prepares the deployment exactly
 * as mcpvisord would and prints the plan, touching nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "diag.h"
#include "prepare.h"
#include "schema.h"
#include "ynode.h"

static const char usage_start[] =
"usage: mcpvisor deploy start SPEC [--environment ENV] [--dry-run] [--json]\n"
"                             [--sequential] [--max-parallel N]\n"
"\n"
"Plans the deployment SPEC for ENV (default: the spec's metadata.environment):\n"
"loads and checks every file, renders each server's configuration and health\n"
"checks, validates them and orders the servers into batches.\n"
"\n"
"  -e, --environment ENV   the environment to deploy to\n"
"  -n, --dry-run           print the plan and exit; start nothing\n"
"      --json              the plan as JSON\n"
"      --sequential        one server at a time\n"
"      --max-parallel N    at most N servers in a batch\n"
"\n"
"Exit status: 0 the plan is sound, 2 usage, 100 invalid configuration.\n";

static const char *
check_summary(const struct prepared_check *pc, char *buf, size_t size)
{
	const char	*target = NULL;

	if (pc->config != NULL) {
		const struct ynode	*t = ynode_map_get(pc->config, "url");

		if (t == NULL)
			t = ynode_map_get(pc->config, "path");
		if (t == NULL)
			t = ynode_map_get(pc->config, "command");
		if (t == NULL)
			t = ynode_map_get(pc->config, "program");
		if (t != NULL && !(t->flags & YNODE_SECRET))
			target = t->text;
		if (target == NULL && (t = ynode_map_get(pc->config,
		    "port")) != NULL)
			target = t->text;
	}
	snprintf(buf, size, "%s (%s%s%s%s)", pc->def->name, pc->def->type,
	    schema_bool(pc->def->node, "critical", true) ? ", critical" : "",
	    target != NULL ? ", " : "", target != NULL ? target : "");
	return buf;
}

static void
print_run(const struct ynode *run)
{
	const struct ynode	*args = ynode_map_get(run, "args");

	printf("       run: %s", schema_str(run, "command", "?"));
	for (size_t i = 0; args != NULL && i < args->count; i++)
		printf(" %s", args->items[i]->flags & YNODE_SECRET ? "***" :
		    args->items[i]->text);
	printf("  [%s]\n", schema_str(run, "transport", "stdio"));
}

static void
print_plan(const struct cli *cli, const struct prepared *pd)
{
	const struct deploy_settings	*ds = &pd->spec->settings;
	size_t				 seq = 0;
	const char			*bold = cli->color ? "\033[1m" : "";
	const char			*plain = cli->color ? "\033[0m" : "";
	char				 parallel[32];

	printf("%sDeployment plan: %s%s (environment %s, %s)\n", bold,
	    pd->spec->name, plain, pd->environment, pd->spec->path);
	if (pd->max_parallel == 1)
		snprintf(parallel, sizeof(parallel), "off");
	else if (pd->max_parallel == 0)
		snprintf(parallel, sizeof(parallel), "on");
	else
		snprintf(parallel, sizeof(parallel), "up to %u at once",
		    pd->max_parallel);
	printf("  %zu server%s in %zu batch%s; parallel: %s; rollback: %s; "
	    "health checks: %s; monitoring: %s\n", pd->spec->nservers,
	    pd->spec->nservers == 1 ? "" : "s", pd->plan->nbatches,
	    pd->plan->nbatches == 1 ? "" : "es", parallel,
	    ds->rollback_on_failure ?
	    rollback_strategy_name(ds->rollback_strategy) : "off",
	    ds->health_checks_enabled ? "on" : "off",
	    ds->monitoring_enabled ? "on" : "off");
	for (size_t b = 0; b < pd->plan->nbatches; b++) {
		const struct plan_batch	*pb = &pd->plan->batches[b];

		printf("\n%sBatch %zu%s (%s)\n", bold, b + 1, plain,
		    pb->count > 1 ? "parallel" : "alone");
		for (size_t k = 0; k < pb->count; k++) {
			const struct prepared_server	*ps =
			    &pd->servers[pb->servers[k]];
			const struct spec_server	*s = ps->spec;
			char				 buf[512];

			printf("  %zu. %-22s type=%s priority=%lld timeout=%us "
			    "retries=%u\n", ++seq, s->name,
			    schema_str(ps->resolved->server->doc,
			    "server_type", ""), s->priority,
			    s->timeout_seconds, s->retry_attempts);
			if (s->dependencies != NULL &&
			    s->dependencies->count > 0) {
				printf("       after:");
				for (size_t d = 0; d < s->dependencies->count;
				    d++)
					printf(" %s",
					    s->dependencies->items[d]->text);
				printf(" (ready)\n");
			}
			if (ps->resolved->run != NULL)
				print_run(ps->resolved->run);
			for (size_t c = 0; c < ps->nchecks; c++)
				printf("       check: %s\n", check_summary(
				    &ps->checks[c], buf, sizeof(buf)));
		}
	}
}

static int
deploy_start(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "environment", required_argument, NULL, 'e' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "sequential", no_argument, NULL, 's' },
		{ "max-parallel", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct prepare_opts	 po = { .paths = &cli->paths };
	struct diag_list	 dl = { 0 };
	struct prepared		*pd = NULL;
	bool			 dry_run = false;
	char			*end;
	long			 n;
	int			 c, r, status;

	/* 0, not 1: glibc then resets its state for a new argv */
	optind = 0;
	while ((c = getopt_long(argc, argv, "e:nh", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			po.environment = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 's':
			po.sequential = true;
			break;
		case 'p':
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 1 ||
			    n > 100000) {
				fprintf(stderr, "mcpvisor deploy start: "
				    "--max-parallel takes a number from 1 to "
				    "100000\n");
				return CLI_EXIT_USAGE;
			}
			po.max_parallel = (unsigned)n;
			break;
		case 'h':
			fputs(usage_start, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(usage_start, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		fputs(usage_start, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!dry_run) {
		fprintf(stderr, "mcpvisor deploy start: this build plans "
		    "deployments only; run it with --dry-run (starting "
		    "servers needs the mcpvisord runtime)\n");
		return CLI_EXIT_USAGE;
	}
	po.spec_path = argv[optind];
	r = prepare_deployment(&po, &pd, &dl);
	if (r < 0) {
		cli_print_diags(cli, &dl);
		status = r == -ENOMEM ? CLI_EXIT_TEMPFAIL : CLI_EXIT_CONFIG;
		goto out;
	}
	if (dl.n > 0 && !cli->json)
		diag_print(&dl, stderr);
	if (cli->json) {
		cJSON	*o = prepared_plan_json(pd);
		char	*text;

		if (o != NULL && dl.n > 0)
			cJSON_AddItemToObject(o, "diagnostics",
			    diag_to_json(&dl));
		text = o != NULL ? cJSON_Print(o) : NULL;
		if (text != NULL)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else
		print_plan(cli, pd);
	status = CLI_EXIT_OK;
out:
	prepared_free(pd);
	diag_list_free(&dl);
	return status;
}

static const struct cli_verb deploy_verbs[] = {
	{ "start", deploy_start, "plan (--dry-run) a deployment" },
	{ NULL, NULL, NULL },
};

int
cli_deploy(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "deploy", deploy_verbs, argc - 1, argv + 1);
}
