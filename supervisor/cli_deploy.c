/*
 * mcpvisor deploy start SPEC --dry-run: prepares the deployment exactly
 * as mcpvisord would and prints the plan, touching nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "client.h"
#include "state.h"
#include "diag.h"
#include "prepare.h"
#include "schema.h"
#include "ynode.h"

static const char usage_start[] =
"usage: mcpvisor deploy start SPEC [--environment ENV] [--dry-run] [--json]\n"
"                             [--sequential] [--max-parallel N] [--detach]\n"
"                             [--no-rollback] [--strategy S]\n"
"                             [--no-monitoring] [--monitor-port N]\n"
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
"      --no-rollback       if this upgrade fails, do not put back what ran\n"
"      --strategy S        immediate, batch, graceful, aggressive or manual\n"
"                          (default: the spec's rollback_strategy)\n"
"      --no-monitoring     no mcpvisor-monitor for this deployment\n"
"      --monitor-port N    the monitor's port (default: the spec's, 8765)\n"
"\n"
"Exit status: 0 deployed (or the plan is sound), 1 the deployment failed,\n"
"2 usage, 100 invalid configuration, 111 mcpvisord unreachable.\n";

static const char usage_status[] =
"usage: mcpvisor deploy status ID [--json] [--follow]\n"
"\n"
"Prints deployment ID's record from the state directory (mcpvisord need not\n"
"run). --follow tails its events live until it finishes.\n";

static const char usage_list[] =
"usage: mcpvisor deploy list [--limit N] [--json]\n"
"\n"
"Lists the most recent deployments (default 10), newest first.\n";

static const char usage_stop[] =
"usage: mcpvisor deploy stop ID [--json]\n"
"\n"
"Stops deployment ID in reverse dependency order and waits until it has.\n";

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


/* --- following a deployment --- */

struct tail {
	const struct cli	*cli;
	size_t			 total;
	size_t			 ready;
	size_t			 batch;
	size_t			 batches;
	size_t			 batch_servers;	/* of the current batch */
	size_t			 batch_ready;
	bool			 bar;		/* a progress bar is drawn */
};

static const char *
event_colour(const char *type)
{
	if (strstr(type, "failed") != NULL || strstr(type, "crashed") != NULL ||
	    strstr(type, "timeout") != NULL)
		return "\033[31m";
	if (strstr(type, "ready") != NULL || strstr(type, "completed") != NULL)
		return "\033[32m";
	if (strstr(type, "retry") != NULL || strstr(type, "exited") != NULL ||
	    strstr(type, "stopp") != NULL)
		return "\033[33m";
	return "\033[36m";
}

/* The current batch's progress, and the deployment's. */
static void
tail_bar(struct tail *t)
{
	size_t	width = 30, filled = t->batch_servers ? t->batch_ready * width /
		    t->batch_servers : 0;

	printf("\r\033[Kbatch %zu/%zu [", t->batch, t->batches);
	for (size_t i = 0; i < width; i++)
		putchar(i < filled ? '#' : '.');
	printf("] %zu/%zu; %zu/%zu ready in all", t->batch_ready,
	    t->batch_servers, t->ready, t->total);
	fflush(stdout);
	t->bar = true;
}

static void
tail_event(struct tail *t, const cJSON *ev)
{
	const char	*type = cJSON_GetStringValue(cJSON_GetObjectItem(ev,
			    "event_type"));
	const char	*server = cJSON_GetStringValue(cJSON_GetObjectItem(ev,
			    "server_name"));
	const char	*msg = cJSON_GetStringValue(cJSON_GetObjectItem(ev,
			    "message"));
	const char	*when = cJSON_GetStringValue(cJSON_GetObjectItem(ev,
			    "timestamp"));
	const cJSON	*d = cJSON_GetObjectItem(ev, "details");
	char		*line;

	if (t->cli->json) {
		if ((line = cJSON_PrintUnformatted(ev)) != NULL)
			printf("%s\n", line);
		free(line);
		fflush(stdout);
		return;
	}
	if (type == NULL)
		return;
	if (strcmp(type, "deployment_started") == 0) {
		t->total = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(d,
		    "total"));
		t->batches = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(d,
		    "batches"));
	} else if (strcmp(type, "batch_started") == 0) {
		t->batch++;
		const cJSON	*n = cJSON_GetObjectItem(d, "servers");

		t->batch_servers = cJSON_IsNumber(n) && n->valuedouble > 0 ?
		    (size_t)n->valuedouble : 0;
		t->batch_ready = 0;
	} else if (strcmp(type, "server_ready") == 0 && t->ready < t->total &&
	    cJSON_IsTrue(cJSON_GetObjectItem(d, "first"))) {
		t->ready++;
		if (t->batch_ready < t->batch_servers)
			t->batch_ready++;
	}
	if (t->bar)
		printf("\r\033[K");
	printf("%s  %-18s %s%-20s%s %s\n", when != NULL && strlen(when) > 11 ?
	    when + 11 : "", server != NULL ? server : "",
	    t->cli->color ? event_colour(type) : "", type,
	    t->cli->color ? "\033[0m" : "", msg != NULL ? msg : "");
	if (t->cli->color && t->total > 0)
		tail_bar(t);
	fflush(stdout);
}

/* Prints events until the final response; returns the outcome's exit
 * status. */
static int
tail_follow(struct tail *t, struct client_conn *c)
{
	uint8_t		 type;
	cJSON		*j;
	int		 r, status = CLI_EXIT_FAILED;

	while ((r = client_next(c, &type, &j)) == 1) {
		if (type == FRAME_EVENT) {
			tail_event(t, j);
			cJSON_Delete(j);
			continue;
		}
		if (cJSON_IsTrue(cJSON_GetObjectItem(j, "finished"))) {
			const char *outcome = cJSON_GetStringValue(
			    cJSON_GetObjectItem(j, "outcome"));

			if (t->bar)
				printf("\r\033[K");
			if (t->cli->json) {
				char *line = cJSON_PrintUnformatted(j);

				printf("%s\n", line != NULL ? line : "");
				free(line);
			} else
				printf("deployment %s: %s\n",
				    cJSON_GetStringValue(cJSON_GetObjectItem(j,
				    "deployment_id")), outcome);
			status = outcome == NULL ? CLI_EXIT_FAILED :
			    strcmp(outcome, "succeeded") == 0 ||
			    strcmp(outcome, "stopped") == 0 ? CLI_EXIT_OK :
			    strcmp(outcome, "invalid") == 0 ? CLI_EXIT_CONFIG :
			    CLI_EXIT_FAILED;
			cJSON_Delete(j);
			return status;
		}
		cJSON_Delete(j);
	}
	fprintf(stderr, "mcpvisor: lost mcpvisord: %s\n", strerror(-r));
	return CLI_EXIT_TEMPFAIL;
}

/* Reads the first response; prints an error and returns an exit status
 * when it says no, else 0 with *resp (the caller deletes it). Events that
 * come before it (a deployment's first ones do) go to t. */
static int
expect_ok(struct client_conn *c, struct tail *t, cJSON **resp)
{
	uint8_t		 type;
	cJSON		*j;
	const char	*code, *err;
	int		 r;

	*resp = NULL;
	while ((r = client_next(c, &type, &j)) == 1 && type != FRAME_RESPONSE) {
		tail_event(t, j);
		cJSON_Delete(j);
	}
	if (r < 0) {
		fprintf(stderr, "mcpvisor: mcpvisord: %s\n", strerror(-r));
		return CLI_EXIT_TEMPFAIL;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItem(j, "ok"))) {
		*resp = j;
		return 0;
	}
	code = cJSON_GetStringValue(cJSON_GetObjectItem(j, "code"));
	err = cJSON_GetStringValue(cJSON_GetObjectItem(j, "error"));
	fprintf(stderr, "%s%s", err != NULL ? err : "refused",
	    err != NULL && err[0] != '\0' && err[strlen(err) - 1] == '\n' ?
	    "" : "\n");
	r = code != NULL && strcmp(code, "config") == 0 ? CLI_EXIT_CONFIG :
	    code != NULL && strcmp(code, "usage") == 0 ? CLI_EXIT_USAGE :
	    CLI_EXIT_FAILED;
	cJSON_Delete(j);
	return r;
}

static int
connect_or_fail(struct cli *cli, struct client_conn *c, bool start)
{
	int	r = client_connect(c, cli->state_dir, start);

	if (r < 0)
		fprintf(stderr, "mcpvisor: mcpvisord at %s/control.sock: %s\n",
		    cli->state_dir, r == -ENOENT || r == -ECONNREFUSED ?
		    "not running" : strerror(-r));
	return r;
}

/* env() and secrets resolve in the requester's environment; the socket
 * is private and mcpvisord keeps none of it */
static void
add_environ(cJSON *rq)
{
	extern char	**environ;
	cJSON		 *env = cJSON_AddObjectToObject(rq, "environ");

	for (char **e = environ; *e != NULL; e++) {
		char	*eq = strchr(*e, '=');

		if (eq != NULL) {
			*eq = '\0';
			cJSON_AddStringToObject(env, *e, eq + 1);
			*eq = '=';
		}
	}
}

static int
deploy_submit(struct cli *cli, const struct prepare_opts *po, bool detach)
{
	struct client_conn	  c = { .fd = -1 };
	struct tail		  t = { .cli = cli };
	cJSON			 *rq = cJSON_CreateObject(), *resp;
	char			 *spec = realpath(po->spec_path, NULL);
	char			 *cfg = realpath(cli->paths.config_dir, NULL);
	char			 *chk = realpath(cli->paths.checks_dir, NULL);
	int			  status;

	if (spec == NULL || cfg == NULL) {
		fprintf(stderr, "mcpvisor: %s: %s\n", spec == NULL ?
		    po->spec_path : cli->paths.config_dir, strerror(errno));
		status = CLI_EXIT_CONFIG;
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
	if (cli->monitor_port != 0)
		cJSON_AddNumberToObject(rq, "monitor_port", cli->monitor_port);
	if (po->max_parallel > 0)
		cJSON_AddNumberToObject(rq, "max_parallel", po->max_parallel);
	cJSON_AddBoolToObject(rq, "follow", !detach);
	add_environ(rq);
	if (connect_or_fail(cli, &c, true) < 0) {
		status = CLI_EXIT_TEMPFAIL;
		goto out;
	}
	if (client_request(&c, rq) < 0) {
		fprintf(stderr, "mcpvisor: sending the request failed\n");
		status = CLI_EXIT_TEMPFAIL;
		goto out;
	}
	if ((status = expect_ok(&c, &t, &resp)) != 0)
		goto out;
	if (detach)
		printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(resp,
		    "deployment_id")));
	cJSON_Delete(resp);
	if (!detach)
		status = tail_follow(&t, &c);
out:
	client_close(&c);
	cJSON_Delete(rq);
	free(spec);
	free(cfg);
	free(chk);
	return status;
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
		{ "detach", no_argument, NULL, 'd' },
		{ "no-rollback", no_argument, NULL, 'R' },
		{ "strategy", required_argument, NULL, 'S' },
		{ "no-monitoring", no_argument, NULL, 'N' },
		{ "monitor-port", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct prepare_opts	 po = { .paths = &cli->paths };
	struct diag_list	 dl = { 0 };
	struct prepared		*pd = NULL;
	bool			 dry_run = false, detach = false;
	char			*end;
	long			 n;
	int			 c, r, status;

	/* 0, not 1: glibc then resets its state for a new argv */
	optind = 0;
	while ((c = getopt_long(argc, argv, "e:ndh", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			po.environment = optarg;
			break;
		case 'n':
			dry_run = true;
			break;
		case 'd':
			detach = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 's':
			po.sequential = true;
			break;
		case 'R':
			cli->no_rollback = true;
			break;
		case 'N':
			cli->no_monitoring = true;
			break;
		case 'P':
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 1 ||
			    n > 65535) {
				fprintf(stderr, "mcpvisor deploy start: "
				    "--monitor-port takes 1 to 65535\n");
				return CLI_EXIT_USAGE;
			}
			cli->monitor_port = (unsigned)n;
			break;
		case 'S':
			if (!cli_valid_strategy("deploy start", optarg))
				return CLI_EXIT_USAGE;
			cli->strategy = optarg;
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
	po.spec_path = argv[optind];
	if (!dry_run)
		return deploy_submit(cli, &po, detach);
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

		printf("  %-22s %s%-10s%s attempts %d  restarts %d",
		    cJSON_GetStringValue(cJSON_GetObjectItem(s, "name")), colour,
		    state, cli->color ? "\033[0m" : "",
		    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(s,
		    "attempts")), (int)cJSON_GetNumberValue(
		    cJSON_GetObjectItem(s, "restarts")));
		if (cJSON_GetObjectItem(s, "server_pid") != NULL)
			printf("  pid %d", (int)cJSON_GetNumberValue(
			    cJSON_GetObjectItem(s, "server_pid")));
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
	struct client_conn	 conn = { .fd = -1 };
	struct tail		 t = { .cli = cli };
	char			 path[8192];
	cJSON			*rec = NULL, *rq, *resp;
	bool			 follow = false;
	int			 c, r, status;

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
	if (argc - optind != 1 || !cli_valid_id(argv[optind], "deploy_")) {
		fputs(usage_status, stderr);
		return CLI_EXIT_USAGE;
	}
	if (follow) {
		if (connect_or_fail(cli, &conn, false) < 0)
			return CLI_EXIT_TEMPFAIL;
		rq = cJSON_CreateObject();
		cJSON_AddStringToObject(rq, "verb", "follow");
		cJSON_AddStringToObject(rq, "id", argv[optind]);
		status = client_request(&conn, rq) < 0 ? CLI_EXIT_TEMPFAIL :
		    expect_ok(&conn, &t, &resp);
		cJSON_Delete(rq);
		if (status == 0) {
			t.total = (size_t)cJSON_GetNumberValue(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(resp, "record"), "total"));
			cJSON_Delete(resp);
			status = tail_follow(&t, &conn);
		}
		client_close(&conn);
		return status;
	}
	snprintf(path, sizeof(path), "%s/deployments/%s.json", cli->state_dir,
	    argv[optind]);
	if ((r = state_read_json(path, &rec)) < 0) {
		fprintf(stderr, "mcpvisor: no deployment %s (%s)\n",
		    argv[optind], strerror(-r));
		return CLI_EXIT_FAILED;
	}
	if (cli->json) {
		char	*text = cJSON_Print(rec);

		printf("%s\n", text != NULL ? text : "");
		free(text);
	} else
		print_record(cli, rec);
	cJSON_Delete(rec);
	return CLI_EXIT_OK;
}

static int
deploy_list(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cJSON		**recs, *arr;
	long		  limit = 10;
	char		 *end;
	int		  c, n;

	optind = 0;
	while ((c = getopt_long(argc, argv, "l:h", longopts, NULL)) != -1) {
		if (c == 'j')
			cli->json = true;
		else if (c == 'l') {
			limit = strtol(optarg, &end, 10);
			if (*end != '\0' || limit < 1) {
				fputs(usage_list, stderr);
				return CLI_EXIT_USAGE;
			}
		} else {
			fputs(usage_list, c == 'h' ? stdout : stderr);
			return c == 'h' ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(usage_list, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((n = state_list_records(cli->state_dir, &recs)) < 0) {
		if (n != -ENOENT) {
			fprintf(stderr, "mcpvisor: %s: %s\n", cli->state_dir,
			    strerror(-n));
			return CLI_EXIT_FAILED;
		}
		n = 0;
		recs = NULL;
	}
	arr = cJSON_CreateArray();
	for (int i = 0; i < n; i++) {
		if (i < limit && cli->json)
			cJSON_AddItemToArray(arr, cJSON_Duplicate(recs[i], 1));
		else if (i < limit)
			printf("%-32s %-28s %-12s %-10s %-12s %d/%d\n",
			    cJSON_GetStringValue(cJSON_GetObjectItem(recs[i],
			    "id")), cJSON_GetStringValue(cJSON_GetObjectItem(
			    recs[i], "deployment")), cJSON_GetStringValue(
			    cJSON_GetObjectItem(recs[i], "environment")),
			    cJSON_GetStringValue(cJSON_GetObjectItem(recs[i],
			    "state")), cJSON_GetStringValue(cJSON_GetObjectItem(
			    recs[i], "outcome")), (int)cJSON_GetNumberValue(
			    cJSON_GetObjectItem(recs[i], "ready")),
			    (int)cJSON_GetNumberValue(cJSON_GetObjectItem(
			    recs[i], "total")));
		cJSON_Delete(recs[i]);
	}
	free(recs);
	if (cli->json) {
		char	*text = cJSON_Print(arr);

		printf("%s\n", text != NULL ? text : "[]");
		free(text);
	}
	cJSON_Delete(arr);
	return CLI_EXIT_OK;
}

static int
deploy_stop(struct cli *cli, int argc, char **argv)
{
	struct client_conn	 conn = { .fd = -1 };
	struct tail		 t = { .cli = cli };
	cJSON			*rq, *resp;
	int			 i, status;

	if ((i = cli_parse_simple(cli, argc, argv, usage_stop, &status)) < 0)
		return status;
	if (argc - i != 1 || !cli_valid_id(argv[i], "deploy_")) {
		fputs(usage_stop, stderr);
		return CLI_EXIT_USAGE;
	}
	if (connect_or_fail(cli, &conn, false) < 0)
		return CLI_EXIT_TEMPFAIL;
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", "stop");
	cJSON_AddStringToObject(rq, "id", argv[i]);
	status = client_request(&conn, rq) < 0 ? CLI_EXIT_TEMPFAIL :
	    expect_ok(&conn, &t, &resp);
	cJSON_Delete(rq);
	if (status == 0) {
		cJSON_Delete(resp);
		status = tail_follow(&t, &conn);
	}
	client_close(&conn);
	return status;
}

/* --- mcpvisor rollback start (here: it follows like a deployment) --- */

static const char usage_rollback_start[] =
"usage: mcpvisor rollback start DEPLOY_ID [--servers A,B] [--strategy S]\n"
"                               [--detach] [--json]\n"
"\n"
"Rolls DEPLOY_ID, the current deployment, back to the one it replaced,\n"
"and follows the rollback live. While DEPLOY_ID is still deploying, it\n"
"is undone whole, as a failure would undo it. Once it has succeeded, the\n"
"previous version's configuration is rendered again from its files, with\n"
"your environment for env() and secrets, checked against the snapshot\n"
"taken when it was replaced, its files are put back, and it is started\n"
"and checked healthy; if that fails, DEPLOY_ID comes back.\n"
"\n"
"  --servers A,B     only these servers; the others keep running as they\n"
"                    are, untouched\n"
"  --strategy S      immediate (stop at once), graceful (default: stop in\n"
"                    order, remove files the newer version added),\n"
"                    aggressive (kill), batch, or manual (plan, then wait\n"
"                    for mcpvisor rollback approve)\n"
"  --detach          print the rollback's id and return\n";

int
cli_rollback_start(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "servers", required_argument, NULL, 's' },
		{ "strategy", required_argument, NULL, 'S' },
		{ "detach", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct client_conn	 conn = { .fd = -1 };
	struct tail		 t = { .cli = cli };
	const char		*strategy = NULL, *servers = NULL, *st;
	bool			 detach = false;
	cJSON			*rq, *resp, *list;
	char			 path[PATH_MAX + 128], rid[80], *names, *tok;
	char			*save;
	int			 c, r, status;

	optind = 0;
	while ((c = getopt_long(argc, argv, "dh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			servers = optarg;
			break;
		case 'S':
			if (!cli_valid_strategy("rollback start", optarg))
				return CLI_EXIT_USAGE;
			strategy = optarg;
			break;
		case 'd':
			detach = true;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			fputs(usage_rollback_start, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(usage_rollback_start, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != 1 || !cli_valid_id(argv[optind], "deploy_")) {
		fputs(usage_rollback_start, stderr);
		return CLI_EXIT_USAGE;
	}
	/* a manual rollback waits for its approval: nothing to follow yet */
	if (strategy != NULL && strcmp(strategy, "manual") == 0)
		detach = true;
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", "rollback_start");
	cJSON_AddStringToObject(rq, "deployment_id", argv[optind]);
	if (strategy != NULL)
		cJSON_AddStringToObject(rq, "strategy", strategy);
	if (servers != NULL) {
		list = cJSON_AddArrayToObject(rq, "servers");
		if ((names = strdup(servers)) == NULL) {
			cJSON_Delete(rq);
			return CLI_EXIT_TEMPFAIL;
		}
		for (tok = strtok_r(names, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save))
			cJSON_AddItemToArray(list, cJSON_CreateString(tok));
		free(names);
	}
	cJSON_AddBoolToObject(rq, "follow", !detach);
	add_environ(rq);
	if (connect_or_fail(cli, &conn, false) < 0) {
		cJSON_Delete(rq);
		return CLI_EXIT_TEMPFAIL;
	}
	status = client_request(&conn, rq) < 0 ? CLI_EXIT_TEMPFAIL :
	    expect_ok(&conn, &t, &resp);
	cJSON_Delete(rq);
	if (status != 0) {
		client_close(&conn);
		return status;
	}
	snprintf(rid, sizeof(rid), "%s", str_or_empty(cJSON_GetStringValue(
	    cJSON_GetObjectItem(resp, "rollback_id"))));
	snprintf(path, sizeof(path), "%s/rollbacks/%s.json", cli->state_dir,
	    rid);
	if (detach || rid[0] == '\0') {
		if (strategy != NULL && strcmp(strategy, "manual") == 0 &&
		    !cli->json)
			printf("%s waits for approval: mcpvisor rollback "
			    "approve %s\n", rid, rid);
		else
			printf("%s\n", rid);
		cJSON_Delete(resp);
		client_close(&conn);
		return CLI_EXIT_OK;
	}
	cJSON_Delete(resp);
	status = tail_follow(&t, &conn);
	client_close(&conn);
	/* the deployment followed may have "failed" on purpose: the
	 * rollback's own record says how the rollback went */
	if (status == CLI_EXIT_TEMPFAIL)
		return status;
	if ((r = state_read_json(path, &resp)) < 0) {
		fprintf(stderr, "mcpvisor rollback start: %s: %s\n", path,
		    strerror(-r));
		return CLI_EXIT_TEMPFAIL;
	}
	st = cJSON_GetStringValue(cJSON_GetObjectItem(resp, "state"));
	if (!cli->json)
		printf("rollback %s: %s\n", rid, st != NULL ? st : "?");
	status = st != NULL && strcmp(st, "succeeded") == 0 ? CLI_EXIT_OK :
	    CLI_EXIT_FAILED;
	cJSON_Delete(resp);
	return status;
}

static const struct cli_verb deploy_verbs[] = {
	{ "start", deploy_start, "deploy (or plan, --dry-run) and follow" },
	{ "status", deploy_status, "a deployment's record (--follow: live)" },
	{ "list", deploy_list, "recent deployments" },
	{ "stop", deploy_stop, "stop a deployment in reverse order" },
	{ NULL, NULL, NULL },
};

int
cli_deploy(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "deploy", deploy_verbs, argc - 1, argv + 1);
}
