/*
 * mcpvisor rollback: the snapshots upgrades took, the record of each
 * rollback, and the approval a manual rollback waits for (start, which
 * follows like a deployment, lives with deploy). list and
 * status read the state directory (mcpvisord need not run); approve asks
 * mcpvisord over its control socket.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "client.h"
#include "snapshot.h"
#include "state.h"

static const char usage_list[] =
"usage: mcpvisor rollback list [--json]\n"
"\n"
"Every snapshot in the backup directory, newest first: the deployment\n"
"that ran the server, the server, when, how many files and bytes, and\n"
"whether its checksums hold (a snapshot that fails them is never\n"
"restored).\n";

static const char usage_status[] =
"usage: mcpvisor rollback status ROLLBACK_ID [--json]\n"
"\n"
"A rollback's record: its strategy, state, reason and each planned\n"
"action with its outcome. Its log is STATE-DIR/logs/ROLLBACK_ID.log.\n";

static const char usage_approve[] =
"usage: mcpvisor rollback approve ROLLBACK_ID\n"
"\n"
"Lets a rollback planned by the manual strategy run.\n";

static void
print_json(const cJSON *o)
{
	char	*s = cJSON_Print(o);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
}

static const char *
str(const cJSON *o, const char *key)
{
	const char	*s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s != NULL ? s : "";
}

static int
rollback_list(struct cli *cli, int argc, char **argv)
{
	cJSON		*list;
	const cJSON	*s;
	int		 i, n, status = CLI_EXIT_OK;

	if ((i = cli_parse_simple(cli, argc, argv, usage_list, &status)) < 0)
		return status;
	if (argc != i) {
		fputs(usage_list, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((n = snapshot_list(cli->backup_dir, &list)) < 0) {
		fprintf(stderr, "mcpvisor rollback list: %s: %s\n",
		    cli->backup_dir, strerror(-n));
		return CLI_EXIT_TEMPFAIL;
	}
	if (cli->json) {
		print_json(list);
		cJSON_Delete(list);
		return CLI_EXIT_OK;
	}
	if (n == 0)
		printf("no snapshots in %s\n", cli->backup_dir);
	else
		printf("%-44s %-34s %-16s %-24s %5s %9s  %s\n", "SNAPSHOT",
		    "DEPLOYMENT", "SERVER", "CREATED", "FILES", "BYTES",
		    "INTEGRITY");
	cJSON_ArrayForEach(s, list)
		printf("%-44s %-34s %-16s %-24s %5d %9.0f  %s\n", str(s, "id"),
		    str(s, "deployment_id"), str(s, "server"),
		    str(s, "created_at"), (int)cJSON_GetNumberValue(
		    cJSON_GetObjectItem(s, "files")), cJSON_GetNumberValue(
		    cJSON_GetObjectItem(s, "size")), str(s, "integrity"));
	cJSON_Delete(list);
	return CLI_EXIT_OK;
}

static int
rollback_status(struct cli *cli, int argc, char **argv)
{
	char		 path[PATH_MAX + 128];
	cJSON		*rec;
	const cJSON	*a;
	int		 i, r, status = CLI_EXIT_OK;

	if ((i = cli_parse_simple(cli, argc, argv, usage_status,
	    &status)) < 0)
		return status;
	if (argc - i != 1 || !cli_valid_id(argv[i], "rollback_")) {
		fputs(usage_status, stderr);
		return CLI_EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%s/rollbacks/%s.json", cli->state_dir,
	    argv[i]);
	if ((r = state_read_json(path, &rec)) < 0) {
		fprintf(stderr, "mcpvisor rollback status: %s: %s\n", argv[i],
		    r == -ENOENT ? "no such rollback" : strerror(-r));
		return r == -ENOENT ? CLI_EXIT_FAILED : CLI_EXIT_TEMPFAIL;
	}
	if (cli->json) {
		print_json(rec);
		cJSON_Delete(rec);
		return CLI_EXIT_OK;
	}
	printf("%s  %s of %s back to %s\n", str(rec, "id"),
	    str(rec, "strategy"), str(rec, "deployment_id"),
	    str(rec, "previous_deployment_id"));
	printf("  state %s; started %s%s%s\n", str(rec, "state"),
	    str(rec, "started_at"), cJSON_GetObjectItem(rec, "finished_at") !=
	    NULL ? ", finished " : "", str(rec, "finished_at"));
	printf("  reason: %s\n", str(rec, "reason"));
	if (cJSON_GetObjectItem(rec, "failure") != NULL)
		printf("  failure: %s\n", str(rec, "failure"));
	cJSON_ArrayForEach(a, cJSON_GetObjectItem(rec, "actions"))
		printf("    %-15s %-20s %-8s %s\n", str(a, "action"),
		    str(a, "server"), str(a, "status"), str(a, "message"));
	status = strcmp(str(rec, "state"), "failed") == 0 ? CLI_EXIT_FAILED :
	    CLI_EXIT_OK;
	cJSON_Delete(rec);
	return status;
}

static int
rollback_approve(struct cli *cli, int argc, char **argv)
{
	struct client_conn	 c = { .fd = -1 };
	cJSON			*rq, *resp = NULL;
	uint8_t			 type;
	int			 i, r, status = CLI_EXIT_OK;

	if ((i = cli_parse_simple(cli, argc, argv, usage_approve,
	    &status)) < 0)
		return status;
	if (argc - i != 1 || !cli_valid_id(argv[i], "rollback_")) {
		fputs(usage_approve, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((r = client_connect(&c, cli->state_dir, false)) < 0) {
		fprintf(stderr, "mcpvisor: mcpvisord at %s/control.sock: %s\n",
		    cli->state_dir, strerror(-r));
		return CLI_EXIT_TEMPFAIL;
	}
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", "rollback_approve");
	cJSON_AddStringToObject(rq, "id", argv[i]);
	if (client_request(&c, rq) < 0) {
		status = CLI_EXIT_TEMPFAIL;
		goto out;
	}
	/* events may come first; the answer is the response */
	while ((r = client_next(&c, &type, &resp)) == 1 &&
	    type != FRAME_RESPONSE) {
		cJSON_Delete(resp);
		resp = NULL;
	}
	if (r < 0 || resp == NULL) {
		status = CLI_EXIT_TEMPFAIL;
		goto out;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItem(resp, "ok"))) {
		fprintf(stderr, "mcpvisor rollback approve: %s\n",
		    str(resp, "error"));
		status = CLI_EXIT_FAILED;
	} else
		printf("rollback %s approved\n", argv[i]);
out:
	cJSON_Delete(resp);
	cJSON_Delete(rq);
	client_close(&c);
	return status;
}

int
cli_rollback(struct cli *cli, int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "list", rollback_list, "snapshots, with their integrity" },
		{ "status", rollback_status, "a rollback's plan and outcome" },
		{ "start", cli_rollback_start, "roll a deployment back by hand" },
		{ "approve", rollback_approve, "let a manual rollback run" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, "rollback", verbs, argc - 1, argv + 1);
}
