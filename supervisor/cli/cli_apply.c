/*
 * Applies, seen from the CLI: what a deployment would do to what runs
 * (deploy start --dry-run asks mcpvisord, which compares), and
 * mcpvisor reload, which has mcpvisord read a running stack's files
 * again and apply what changed.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_link.h"

static const char usage_reload[] =
"usage: mcpvisor reload [--detach] [--json] [STACK]\n"
"\n"
"Reads a running stack's files again (its spec, environment, server and\n"
"health-check files as they are now) and applies what changed, with the\n"
"options it was deployed with: only the servers whose definition changed are\n"
"replaced (see deploy start). STACK is a spec's metadata.name; it may be left\n"
"out when one stack runs. Your environment goes with the request, for env()\n"
"and secrets; SIGHUP to mcpvisord reloads every stack in its own. Follows it\n"
"live, as deploy start does.\n"
"\n"
"  -d, --detach   return once it is submitted\n"
"      --json     NDJSON events\n"
"\n"
"Exit status: 0 applied, 1 failed (or no deployment has succeeded to be\n"
"reloaded), 2 usage (or several stacks run, and none is named), 3 mcpvisord\n"
"is not running, 100 invalid configuration, 111 mcpvisord unreachable.\n";

cJSON *
cli_apply_diff(struct cli *cli, const struct prepare_opts *po,
    bool force_recreate, int *status)
{
	struct daemon_link	 c = { .fd = -1 };
	struct cli_tail		 t = { .cli = cli };
	cJSON			*rq, *resp = NULL;

	*status = 0;
	if (link_connect(&c, cli->state_dir, false, NULL) < 0)
		return NULL;
	if ((rq = cli_deploy_request(cli, po, force_recreate, status)) == NULL)
		goto out;
	cJSON_AddBoolToObject(rq, "dry_run", 1);
	if (link_request(&c, rq) < 0) {
		fprintf(stderr, "mcpvisor: sending the request failed\n");
		*status = CLI_EXIT_TEMPFAIL;
	} else if ((*status = cli_expect_ok(&c, &t, &resp)) == 0)
		cJSON_DeleteItemFromObject(resp, "ok");
out:
	cJSON_Delete(rq);
	link_close(&c);
	return resp;
}

void
cli_print_diff(const struct cli *cli, const cJSON *diff)
{
	const char	*replaces = cJSON_GetStringValue(cJSON_GetObjectItem(
			    diff, "replaces"));
	const cJSON	*s, *k;

	if (diff == NULL) {
		printf("\nNo mcpvisord runs on %s: every server would be "
		    "started.\n", cli->state_dir);
		return;
	}
	if (replaces == NULL) {
		printf("\nNothing runs on mcpvisord: every server would be "
		    "started.\n");
		return;
	}
	printf("\nOver the running deployment %s (an apply):\n", replaces);
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(diff, "servers")) {
		const char	*change = cJSON_GetStringValue(
				    cJSON_GetObjectItem(s, "change"));

		printf("  %-19s %-22s", change, cJSON_GetStringValue(
		    cJSON_GetObjectItem(s, "server")));
		if (strcmp(change, "unchanged") == 0)
			printf(" kept as it runs");
		cJSON_ArrayForEach(k, cJSON_GetObjectItem(s, "keys"))
			printf("%s%s", k == cJSON_GetObjectItem(s, "keys")->child ?
			    " " : ", ", k->valuestring);
		if (cJSON_GetObjectItem(s, "order") != NULL)
			printf(" (%s)", strcmp(cJSON_GetStringValue(
			    cJSON_GetObjectItem(s, "order")), "start_first") == 0 ?
			    "the new version starts beside the old, which stops "
			    "once it is ready" : "the old version stops first");
		printf("\n");
	}
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(diff, "removed"))
		printf("  %-19s %-22s stopped once the rest is ready\n",
		    "removed", s->valuestring);
}

int
cli_reload(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_link	 c = { .fd = -1 };
	struct cli_tail		 t = { .cli = cli };
	cJSON			*rq, *resp;
	bool			 detach = false;
	int			 ch, status;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "dh", longopts, NULL)) != -1)
		switch (ch) {
		case 'd':	detach = true; break;
		case 'j':	cli->json = true; break;
		case 'h':
			fputs(usage_reload, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(usage_reload, stderr);
			return CLI_EXIT_USAGE;
		}
	if (optind + 1 < argc) {
		fputs(usage_reload, stderr);
		return CLI_EXIT_USAGE;
	}
	if (link_connect(&c, cli->state_dir, false, NULL) < 0) {
		fprintf(stderr, "mcpvisor reload: mcpvisord is not running on "
		    "%s: nothing to reload\n", cli->state_dir);
		return 3;
	}
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", "reload");
	cJSON_AddBoolToObject(rq, "follow", !detach);
	if (optind < argc)
		cJSON_AddStringToObject(rq, "stack", argv[optind]);
	cli_add_environ(rq);
	if (link_request(&c, rq) < 0) {
		fprintf(stderr, "mcpvisor: sending the request failed\n");
		status = CLI_EXIT_TEMPFAIL;
	} else if ((status = cli_expect_ok(&c, &t, &resp)) == 0) {
		if (detach)
			printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(
			    resp, "deployment_id")));
		cJSON_Delete(resp);
		if (!detach)
			status = cli_tail_follow(&t, &c);
	}
	cJSON_Delete(rq);
	link_close(&c);
	return status;
}
