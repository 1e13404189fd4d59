/*
 * mcpvisor deploy start SPEC --dry-run: prepares the deployment exactly
 * as mcpvisord would and prints the plan, touching nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_link.h"
#include "state.h"
#include "diag.h"
#include "prepare.h"
#include "runspec.h"
#include "schema.h"
#include "ynode.h"

#define WAIT_POLL_MS	250	/* --wait: how often it asks again */

static const char usage_start[] =
"usage: mcpvisor deploy start SPEC [--environment ENV] [--dry-run] [--json]\n"
"                             [--sequential] [--max-parallel N] [--detach]\n"
"                             [--no-rollback] [--strategy S]\n"
"                             [--no-monitoring] [--monitor-port N]\n"
"                             [--force-recreate] [--wait] [--once]\n"
"\n"
"Deploys SPEC for ENV (default: the spec's metadata.environment) through\n"
"mcpvisord, starting one in the background on the state directory when none\n"
"runs, and follows it live: a line per event (a progress bar on a terminal,\n"
"NDJSON with --json). Your environment goes with the request, for env() and\n"
"the environment's secrets.\n"
"\n"
"  -e, --environment ENV   the environment to deploy to\n"
"  -n, --dry-run           print the plan and exit; start nothing\n"
"      --json              JSON: the plan, or NDJSON events\n"
"      --sequential        one server at a time\n"
"      --max-parallel N    at most N servers in a batch\n"
"  -d, --detach            return once the deployment is submitted\n"
"      --force-recreate    over a running deployment of the same spec,\n"
"                          replace every server (by default only those\n"
"                          whose definition changed are: an apply)\n"
"      --wait              while another deployment is under way, wait for\n"
"                          it to end and deploy then (default: refused)\n"
"      --no-rollback       if this upgrade fails, do not put back what ran\n"
"      --strategy S        immediate, batch, graceful, aggressive or manual\n"
"                          (default: the spec's rollback_strategy)\n"
"      --no-monitoring     no mcpvisor-monitor for this deployment\n"
"      --monitor-port N    the monitor's port (default: the spec's, 8765)\n"
"      --once              a smoke test, with no daemon left behind: runs\n"
"                          mcpvisord --init --once in the foreground, which\n"
"                          deploys, waits until every server is ready and has\n"
"                          passed its health checks, stops them in order and\n"
"                          exits with the outcome (its log is the output;\n"
"                          your environment is its environment)\n"
"\n"
"Exit status: 0 deployed (or the plan is sound), 1 the deployment failed,\n"
"2 usage, 100 invalid configuration, 111 mcpvisord unreachable.\n";

static const char usage_status[] =
"usage: mcpvisor deploy status ID [SERVER...] [--json] [--follow]\n"
"\n"
"Prints deployment ID's record (of the SERVERs named only, if any): live\n"
"from mcpvisord while the deployment is active there, else from the state\n"
"directory (mcpvisord need not run). --json includes each server's CPU\n"
"and memory, measured for the asking. --follow tails its events live\n"
"until it finishes.\n";

static const char usage_stop[] =
"usage: mcpvisor deploy stop ID [--json]\n"
"\n"
"Stops deployment ID in reverse dependency order and waits until it has.\n";

static const char usage_approve[] =
"usage: mcpvisor deploy approve ID [--json]\n"
"\n"
"Lets deployment ID go ahead: one to an environment whose\n"
"security_policies say require_mfa waits, prepared, for the approval of\n"
"another user than the one who started it (mcpvisord --approvers-group\n"
"lets that user's group reach the daemon for this alone).\n";

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
	printf("  [%s]\n", runspec_yaml_str(run, "transport"));
}

static void
print_plan(const struct cli *cli, const struct prepared *pd)
{
	const struct deploy_settings	*ds = &pd->spec->settings;
	size_t				 seq = 0;
	const char			*bold = cli->color ? "\033[1m" : "";
	const char			*plain = cli->color ? "\033[0m" : "";
	const struct ynode		*policies;
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
	/* what the environment's policies will do to it, said before */
	policies = ynode_map_get(pd->env->env->doc, "security_policies");
	if (schema_bool(policies, "require_mfa", false) ||
	    schema_bool(policies, "encrypt_at_rest", false) ||
	    schema_bool(policies, "audit_logging", false))
		printf("  policies: %s%s%s\n", schema_bool(policies,
		    "require_mfa", false) ? "require_mfa (held, once prepared, "
		    "for another user's deploy approve) " : "",
		    schema_bool(policies, "encrypt_at_rest", false) ?
		    "encrypt_at_rest (snapshots sealed) " : "",
		    schema_bool(policies, "audit_logging", false) ?
		    "audit_logging (logs/audit.log)" : "");
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


/* path made absolute against the working directory (it need not
 * exist yet: mcpvisord makes it). NULL on ENOMEM. */
static char *
absolute_path(const char *path)
{
	char	cwd[PATH_MAX], *abs;

	if (path[0] == '/')
		return strdup(path);
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    asprintf(&abs, "%s/%s", cwd, path) == -1)
		return NULL;
	return abs;
}

cJSON *
cli_deploy_request(struct cli *cli, const struct prepare_opts *po,
    bool force_recreate, int *status)
{
	cJSON			 *rq = cJSON_CreateObject();
	char			 *spec = realpath(po->spec_path, NULL);
	int			  spec_errno = errno;
	char			 *cfg = realpath(cli->paths.config_dir, NULL);
	int			  cfg_errno = errno;
	char			 *chk = cli->paths.checks_dir == NULL ? NULL :
				    realpath(cli->paths.checks_dir, NULL);
	char			 *bdir;

	/* in the words of the dry run, which opens the same paths */
	if (spec == NULL || cfg == NULL) {
		fprintf(stderr, "%s: error: cannot open: %s\n", spec == NULL ?
		    po->spec_path : cli->paths.config_dir,
		    strerror(spec == NULL ? spec_errno : cfg_errno));
		*status = CLI_EXIT_CONFIG;
		cJSON_Delete(rq);
		rq = NULL;
		goto out;
	}
	cJSON_AddStringToObject(rq, "verb", "deploy");
	cJSON_AddStringToObject(rq, "spec", spec);
	cJSON_AddStringToObject(rq, "config_dir", cfg);
	if (chk != NULL)
		cJSON_AddStringToObject(rq, "checks_dir", chk);
	if (po->environment != NULL)
		cJSON_AddStringToObject(rq, "environment", po->environment);
	cJSON_AddBoolToObject(rq, "sequential", po->sequential);
	if (cli->no_rollback)
		cJSON_AddBoolToObject(rq, "no_rollback", 1);
	if (cli->strategy != NULL)
		cJSON_AddStringToObject(rq, "strategy", cli->strategy);
	if (cli->no_monitoring)
		cJSON_AddBoolToObject(rq, "no_monitoring", 1);
	if (cli->verbose)
		cJSON_AddBoolToObject(rq, "verbose", 1);
	if (force_recreate)
		cJSON_AddBoolToObject(rq, "force_recreate", 1);
	if (cli->backup_dir_given && (bdir = absolute_path(cli->backup_dir)) !=
	    NULL) {
		cJSON_AddStringToObject(rq, "backup_dir", bdir);
		free(bdir);
	}
	if (cli->monitor_port != 0)
		cJSON_AddNumberToObject(rq, "monitor_port", cli->monitor_port);
	if (po->max_parallel > 0)
		cJSON_AddNumberToObject(rq, "max_parallel", po->max_parallel);
	cli_add_environ(rq);
out:
	free(spec);
	free(cfg);
	free(chk);
	return rq;
}

/* The deployment submitted: 0 with *resp, or an exit status (said). With
 * wait, one refused because another is under way is submitted again once
 * that one is done, as often as it takes. */
static int
submit_when_free(struct cli *cli, struct daemon_link *c, struct cli_tail *t,
    const cJSON *rq, bool wait, cJSON **resp)
{
	bool	said = false;
	int	status;

	for (;;) {
		if (cli_connect(cli, c, true) < 0)
			return CLI_EXIT_TEMPFAIL;
		if (link_request(c, rq) < 0) {
			fprintf(stderr, "mcpvisor: sending the request failed\n");
			return CLI_EXIT_TEMPFAIL;
		}
		if ((status = cli_expect_ok_unless(c, t, resp, wait ? "busy" :
		    NULL)) != -1)
			return status;
		if (!said)
			fprintf(stderr, "mcpvisor deploy start: waiting: %s\n",
			    cJSON_GetStringValue(cJSON_GetObjectItem(*resp,
			    "error")));
		said = true;
		cJSON_Delete(*resp);
		*resp = NULL;
		link_close(c);
		/* the daemon tells no one that it is free; asking four times
		 * a second costs it nothing */
		(void)poll(NULL, 0, WAIT_POLL_MS);
	}
}

static int
deploy_submit(struct cli *cli, const struct prepare_opts *po, bool detach,
    bool force_recreate, bool wait)
{
	struct daemon_link	  c = { .fd = -1 };
	struct cli_tail		  t = { .cli = cli };
	cJSON			 *rq, *resp;
	int			  status;

	if ((rq = cli_deploy_request(cli, po, force_recreate, &status)) ==
	    NULL)
		return status;
	cJSON_AddBoolToObject(rq, "follow", !detach);
	if ((status = submit_when_free(cli, &c, &t, rq, wait, &resp)) != 0)
		goto out;
	if (detach)
		printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(resp,
		    "deployment_id")));
	cJSON_Delete(resp);
	if (!detach)
		status = cli_tail_follow(&t, &c);
out:
	link_close(&c);
	cJSON_Delete(rq);
	return status;
}

/* A number operand of an option, from 1 to max; -1 after saying so. */
static long
option_number(const char *opt, const char *text, long max)
{
	char	*end;
	long	 n = strtol(text, &end, 10);

	if (*text == '\0' || *end != '\0' || n < 1 || n > max) {
		fprintf(stderr, "mcpvisor deploy start: %s takes a number from "
		    "1 to %ld\n", opt, max);
		return -1;
	}
	return n;
}

struct start_opts {
	struct prepare_opts	po;
	bool			dry_run;
	bool			detach;
	bool			force_recreate;
	bool			wait;
	bool			once;
};

/* The options and the spec; -1 with *status when that is all. */
static int
start_options(struct cli *cli, int argc, char **argv, struct start_opts *o,
    int *status)
{
	static const struct option longopts[] = {
		{ "environment", required_argument, NULL, 'e' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "sequential", no_argument, NULL, 's' },
		{ "max-parallel", required_argument, NULL, 'p' },
		{ "detach", no_argument, NULL, 'd' },
		{ "no-rollback", no_argument, NULL, 'R' },
		{ "strategy", required_argument, NULL, 'S' },
		{ "no-monitoring", no_argument, NULL, 'N' },
		{ "monitor-port", required_argument, NULL, 'P' },
		{ "once", no_argument, NULL, 'O' },
		{ "force-recreate", no_argument, NULL, 'F' },
		{ "wait", no_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long	n;
	int	c;

	*status = CLI_EXIT_USAGE;
	/* 0, not 1: glibc then resets its state for a new argv */
	optind = 0;
	while ((c = getopt_long(argc, argv, "e:ndh", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':	o->po.environment = optarg; break;
		case 'n':	o->dry_run = true; break;
		case 'd':	o->detach = true; break;
		case 'j':	cli->json = true; break;
		case 's':	o->po.sequential = true; break;
		case 'R':	cli->no_rollback = true; break;
		case 'N':	cli->no_monitoring = true; break;
		case 'O':	o->once = true; break;
		case 'F':	o->force_recreate = true; break;
		case 'W':	o->wait = true; break;
		case 'P':
			if ((n = option_number("--monitor-port", optarg,
			    65535)) < 0)
				return -1;
			cli->monitor_port = (unsigned)n;
			break;
		case 'S':
			if (!cli_valid_strategy("deploy start", optarg))
				return -1;
			cli->strategy = optarg;
			break;
		case 'p':
			if ((n = option_number("--max-parallel", optarg,
			    100000)) < 0)
				return -1;
			o->po.max_parallel = (unsigned)n;
			break;
		case 'h':
			fputs(usage_start, stdout);
			*status = CLI_EXIT_OK;
			return -1;
		default:
			fputs(usage_start, stderr);
			return -1;
		}
	}
	if (argc - optind != 1) {
		fputs(usage_start, stderr);
		return -1;
	}
	o->po.spec_path = argv[optind];
	/* what a daemon of our own does not take, refused rather than
	 * ignored */
	if (o->once && (o->dry_run || o->detach || cli->json ||
	    cli->no_rollback || cli->strategy != NULL || o->force_recreate ||
	    o->wait)) {
		fprintf(stderr, "mcpvisor deploy start: --once runs a first "
		    "deployment in the foreground and prints its log: it "
		    "takes no --%s\n", o->dry_run ? "dry-run" : o->detach ?
		    "detach" : cli->json ? "json" : o->wait ? "wait (it runs "
		    "a daemon of its own, which nothing else keeps busy)" :
		    o->force_recreate ?
		    "force-recreate (a first deployment replaces nothing)" :
		    cli->no_rollback ?
		    "no-rollback (a first deployment has nothing to roll "
		    "back to)" : "strategy (a first deployment has nothing "
		    "to roll back to)");
		return -1;
	}
	if (o->dry_run && o->wait) {
		fprintf(stderr, "mcpvisor deploy start: --wait queues a "
		    "deployment; a dry run starts none\n");
		return -1;
	}
	return 0;
}

/* --once: mcpvisord --init SPEC --once on the state directory, in our
 * place, so that its exit status is ours and nothing outlives it. */
static int
deploy_once(struct cli *cli, const struct prepare_opts *po)
{
	struct daemon_link	 c = { .fd = -1 };
	char			 exe[PATH_MAX], port[16], parallel[16];
	const char		*argv[32];
	size_t			 n = 0;

	if (link_connect(&c, cli->state_dir, false, NULL) == 0) {
		link_close(&c);
		fprintf(stderr, "mcpvisor deploy start: mcpvisord runs on %s; "
		    "--once runs one of its own: give it another --state-dir\n",
		    cli->state_dir);
		return CLI_EXIT_USAGE;
	}
	if (daemon_path(exe, sizeof(exe)) < 0)
		return CLI_EXIT_TEMPFAIL;
	argv[n++] = "mcpvisord";
	argv[n++] = "--state-dir";
	argv[n++] = cli->state_dir;
	argv[n++] = "--config-dir";
	argv[n++] = cli->paths.config_dir;
	if (cli->paths.checks_dir != NULL) {
		argv[n++] = "--checks-dir";
		argv[n++] = cli->paths.checks_dir;
	}
	if (cli->backup_dir_given) {
		argv[n++] = "--backup-dir";
		argv[n++] = cli->backup_dir;
	}
	if (po->environment != NULL) {
		argv[n++] = "--environment";
		argv[n++] = po->environment;
	}
	if (po->sequential)
		argv[n++] = "--sequential";
	if (po->max_parallel > 0) {
		snprintf(parallel, sizeof(parallel), "%u", po->max_parallel);
		argv[n++] = "--max-parallel";
		argv[n++] = parallel;
	}
	if (cli->no_monitoring)
		argv[n++] = "--no-monitoring";
	if (cli->monitor_port != 0) {
		snprintf(port, sizeof(port), "%u", cli->monitor_port);
		argv[n++] = "--monitor-port";
		argv[n++] = port;
	}
	if (cli->verbose)
		argv[n++] = "--verbose";
	argv[n++] = "--once";
	argv[n++] = "--init";
	argv[n++] = po->spec_path;
	argv[n] = NULL;
	fflush(NULL);
	execv(exe, (char *const *)(uintptr_t)argv);
	fprintf(stderr, "mcpvisor deploy start: %s: %s\n", exe,
	    strerror(errno));
	return CLI_EXIT_TEMPFAIL;
}

/* --dry-run: the plan, as a start would make it, and, when mcpvisord
 * runs, what it would do to what runs. */
static int
deploy_dry_run(struct cli *cli, const struct prepare_opts *po,
    bool force_recreate)
{
	struct diag_list	 dl = { 0 };
	struct prepared		*pd = NULL;
	cJSON			*o, *diff = NULL;
	char			*text;
	int			 r, status = CLI_EXIT_OK;

	if ((r = prepare_deployment(po, &pd, &dl)) < 0) {
		cli_print_diags(cli, &dl);
		diag_list_free(&dl);
		return r == -ENOMEM ? CLI_EXIT_TEMPFAIL : CLI_EXIT_CONFIG;
	}
	if (dl.n > 0 && !cli->json)
		diag_print(&dl, stderr);
	diff = cli_apply_diff(cli, po, force_recreate, &status);
	if (status != 0)
		goto out;
	if (cli->json) {
		o = prepared_plan_json(pd);
		if (o != NULL && dl.n > 0)
			cJSON_AddItemToObject(o, "diagnostics",
			    diag_to_json(&dl));
		/* null: no mcpvisord runs */
		if (o != NULL) {
			cJSON_AddItemToObject(o, "apply", diff != NULL ? diff :
			    cJSON_CreateNull());
			diff = NULL;
		}
		text = o != NULL ? cJSON_Print(o) : NULL;
		if (text != NULL)
			printf("%s\n", text);
		free(text);
		cJSON_Delete(o);
	} else {
		print_plan(cli, pd);
		cli_print_diff(cli, diff);
	}
out:
	cJSON_Delete(diff);
	prepared_free(pd);
	diag_list_free(&dl);
	return status;
}

static int
deploy_start(struct cli *cli, int argc, char **argv)
{
	struct start_opts	o = { .po = { .paths = &cli->paths } };
	int			status;

	if (start_options(cli, argc, argv, &o, &status) < 0)
		return status;
	if (o.once)
		return deploy_once(cli, &o.po);
	return o.dry_run ? deploy_dry_run(cli, &o.po, o.force_recreate) :
	    deploy_submit(cli, &o.po, o.detach, o.force_recreate, o.wait);
}

static const char *
str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* A server's checks, one line each: the last result of each. */
static void
print_health(const struct cli *cli, const cJSON *health)
{
	const cJSON	*c;

	cJSON_ArrayForEach(c, health) {
		bool		 ok = cJSON_IsTrue(cJSON_GetObjectItem(c,
				    "healthy"));
		bool		 critical = cJSON_IsTrue(cJSON_GetObjectItem(c,
				    "critical"));
		const char	*mark = ok ? "ok" : critical ? "FAIL" : "warn";
		const char	*colour = !cli->color ? "" : ok ? "\033[32m" :
				    critical ? "\033[31m" : "\033[33m";

		printf("      %s%-4s%s %-22s %-9s %8.1f ms  %s\n", colour, mark,
		    cli->color ? "\033[0m" : "", c->string,
		    str_or_empty(cJSON_GetStringValue(cJSON_GetObjectItem(c,
		    "phase"))), cJSON_GetNumberValue(cJSON_GetObjectItem(c,
		    "response_ms")), str_or_empty(cJSON_GetStringValue(
		    cJSON_GetObjectItem(c, "message"))));
	}
}

static void
print_record(const struct cli *cli, const cJSON *rec)
{
	const cJSON	*s;

	printf("%s  %s (%s)\n", cJSON_GetStringValue(cJSON_GetObjectItem(rec,
	    "id")), cJSON_GetStringValue(cJSON_GetObjectItem(rec, "deployment")),
	    cJSON_GetStringValue(cJSON_GetObjectItem(rec, "environment")));
	printf("  state %s, outcome %s; started %s%s%s\n",
	    cJSON_GetStringValue(cJSON_GetObjectItem(rec, "state")),
	    cJSON_GetStringValue(cJSON_GetObjectItem(rec, "outcome")),
	    cJSON_GetStringValue(cJSON_GetObjectItem(rec, "started_at")),
	    cJSON_GetObjectItem(rec, "finished_at") != NULL ?
	    ", finished " : "",
	    cJSON_GetObjectItem(rec, "finished_at") != NULL ?
	    cJSON_GetStringValue(cJSON_GetObjectItem(rec, "finished_at")) : "");
	if (cJSON_GetObjectItem(rec, "failure") != NULL)
		printf("  failure: %s\n", cJSON_GetStringValue(
		    cJSON_GetObjectItem(rec, "failure")));
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(rec, "servers")) {
		const char *state = cJSON_GetStringValue(cJSON_GetObjectItem(s,
		    "state"));
		const char *colour = !cli->color ? "" :
		    strcmp(state, "ready") == 0 ? "\033[32m" :
		    strcmp(state, "failed") == 0 ? "\033[31m" : "\033[33m";

		printf("  %-22s %s%-10s%s attempts %lld  restarts %lld",
		    cJSON_GetStringValue(cJSON_GetObjectItem(s, "name")), colour,
		    state, cli->color ? "\033[0m" : "",
		    cli_record_int(s, "attempts"), cli_record_int(s, "restarts"));
		if (cJSON_GetObjectItem(s, "server_pid") != NULL)
			printf("  pid %lld", cli_record_int(s, "server_pid"));
		if (cJSON_GetObjectItem(s, "last_error") != NULL)
			printf("  (%s)", cJSON_GetStringValue(
			    cJSON_GetObjectItem(s, "last_error")));
		putchar('\n');
		print_health(cli, cJSON_GetObjectItem(s, "health"));
	}
}

static int
deploy_status(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_link	 conn = { .fd = -1 };
	struct cli_tail		 t = { .cli = cli };
	cJSON			*rec = NULL, *rq, *resp, *names = NULL;
	char			 why[256];
	bool			 follow = false;
	int			 c, status = CLI_EXIT_OK;

	optind = 0;
	while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		if (c == 'j')
			cli->json = true;
		else if (c == 'f')
			follow = true;
		else {
			fputs(usage_status, c == 'h' ? stdout : stderr);
			return c == 'h' ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || (follow && argc - optind > 1)) {
		fputs(usage_status, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!cli_valid_id(argv[optind], "deploy_"))
		return cli_bad_id("deploy status", argv[optind], "deploy_");
	if (follow) {
		if (cli_connect(cli, &conn, false) < 0)
			return CLI_EXIT_TEMPFAIL;
		rq = cJSON_CreateObject();
		cJSON_AddStringToObject(rq, "verb", "follow");
		cJSON_AddStringToObject(rq, "id", argv[optind]);
		status = link_request(&conn, rq) < 0 ? CLI_EXIT_TEMPFAIL :
		    cli_expect_ok(&conn, &t, &resp);
		cJSON_Delete(rq);
		if (status == 0) {
			t.total = (size_t)cli_record_int(cJSON_GetObjectItem(resp,
			    "record"), "total");
			cJSON_Delete(resp);
			status = cli_tail_follow(&t, &conn);
		}
		link_close(&conn);
		return status;
	}
	if (argc - optind > 1) {
		names = cJSON_CreateArray();
		for (int i = optind + 1; i < argc; i++)
			cJSON_AddItemToArray(names, cJSON_CreateString(argv[i]));
	}
	/* the live record comes filtered; the one on disk is filtered here */
	if ((rec = cli_live_record(cli, argv[optind], cli->json, names)) ==
	    NULL && ((status = cli_load_record("deploy status",
	    cli->state_dir, "deployments", argv[optind], &rec)) !=
	    CLI_EXIT_OK || (names != NULL && state_record_only(rec, names,
	    why, sizeof(why)) < 0))) {
		if (status == CLI_EXIT_OK) {
			fprintf(stderr, "mcpvisor deploy status: %s\n", why);
			status = CLI_EXIT_FAILED;
		}
		cJSON_Delete(names);
		cJSON_Delete(rec);
		return status;
	}
	cJSON_Delete(names);
	if (cli->json) {
		char	*text = cJSON_Print(rec);

		printf("%s\n", text != NULL ? text : "");
		free(text);
	} else
		print_record(cli, rec);
	cJSON_Delete(rec);
	return CLI_EXIT_OK;
}

/* A verb that names one deployment: "stop" is followed until the
 * deployment has stopped; "deploy_approve" is answered at once. */
static int
id_verb(struct cli *cli, int argc, char **argv, const char *usage,
    const char *verb, const char *wire_verb, bool follow)
{
	struct daemon_link	 conn = { .fd = -1 };
	struct cli_tail		 t = { .cli = cli };
	cJSON			*rq, *resp;
	int			 i, status;

	if ((i = cli_parse_simple(cli, argc, argv, usage, &status)) < 0)
		return status;
	if (argc - i != 1) {
		fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!cli_valid_id(argv[i], "deploy_"))
		return cli_bad_id(verb, argv[i], "deploy_");
	if (cli_connect(cli, &conn, false) < 0)
		return CLI_EXIT_TEMPFAIL;
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", wire_verb);
	cJSON_AddStringToObject(rq, "id", argv[i]);
	status = link_request(&conn, rq) < 0 ? CLI_EXIT_TEMPFAIL :
	    cli_expect_ok(&conn, &t, &resp);
	cJSON_Delete(rq);
	if (status == 0) {
		cJSON_Delete(resp);
		if (follow)
			status = cli_tail_follow(&t, &conn);
		else if (!cli->json)
			printf("deployment %s approved\n", argv[i]);
	}
	link_close(&conn);
	return status;
}

static int
deploy_stop(struct cli *cli, int argc, char **argv)
{
	return id_verb(cli, argc, argv, usage_stop, "deploy stop", "stop",
	    true);
}

static int
deploy_approve(struct cli *cli, int argc, char **argv)
{
	return id_verb(cli, argc, argv, usage_approve, "deploy approve",
	    "deploy_approve", false);
}

static const struct cli_verb deploy_verbs[] = {
	{ "start", deploy_start, "deploy (or plan, --dry-run) and follow" },
	{ "status", deploy_status, "a deployment's record (--follow: live)" },
	{ "list", cli_deploy_list, "each stack at its revision (--all: deployments)" },
	{ "stop", deploy_stop, "stop a deployment in reverse order" },
	{ "approve", deploy_approve, "let a deployment held by require_mfa go" },
	{ NULL, NULL, NULL },
};

int
cli_deploy(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "deploy", deploy_verbs, argc - 1, argv + 1);
}
