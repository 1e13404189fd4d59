/*
 * mcpvisor deploy list: the stacks, each at its current revision, or
 * (--all) the deployments themselves, read from the records in the state
 * directory (mcpvisord need not run).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "state.h"

static const char usage_list[] =
"usage: mcpvisor deploy list [--all] [--limit N] [--json]\n"
"\n"
"Lists the stacks (each spec's metadata.name), the one deployed last\n"
"first, one row each: its current revision (its newest successful\n"
"deployment's; - when none succeeded), then its newest deployment's id,\n"
"environment, state, outcome and servers ready. --all lists the\n"
"deployments themselves instead, newest first, with the revision each\n"
"became. --limit N shows the first N rows (with --all, 10 unless given).\n";

/* A stack's row of deploy list: its newest deployment's record, the
 * revision it is at and how many deployments it has had. */
struct stack_row {
	const cJSON	*newest;
	const cJSON	*current;	/* its newest successful one, or NULL */
	int		 deployments;
};

static void
print_deployment_row(const cJSON *rec)
{
	long long	rev = cli_record_int(rec, "revision");
	char		revtext[24] = "-";

	if (rev > 0)
		snprintf(revtext, sizeof(revtext), "%lld", rev);
	printf("%-32s %-28s %-12s %-10s %-12s %-5s %lld/%lld\n",
	    cli_record_text(rec, "id"), cli_record_text(rec, "deployment"),
	    cli_record_text(rec, "environment"), cli_record_text(rec, "state"),
	    cli_record_text(rec, "outcome"), revtext, cli_record_int(rec,
	    "ready"), cli_record_int(rec, "total"));
}

/* --all: every deployment, newest first; a damaged record says why. */
static void
list_deployments(struct cli *cli, cJSON **recs, int n, long limit,
    cJSON *arr)
{
	char	why[160];

	for (int i = 0; i < n && i < limit; i++) {
		if (cli->json)
			cJSON_AddItemToArray(arr, cJSON_Duplicate(recs[i], 1));
		else if (cli_record_damage(recs[i], why, sizeof(why)) != NULL)
			printf("%-32s damaged: %s\n",
			    cli_record_text(recs[i], "id"), why);
		else
			print_deployment_row(recs[i]);
	}
}

static cJSON *
stack_json(const struct stack_row *row)
{
	const cJSON	*rec = row->newest;
	cJSON		*o = cJSON_CreateObject();
	static const char *const copied[] = { "id", "environment", "state",
			    "outcome", "ready", "total", NULL };

	cJSON_AddStringToObject(o, "stack", cli_record_text(rec,
	    "deployment"));
	if (row->current != NULL) {
		cJSON_AddNumberToObject(o, "revision", (double)cli_record_int(
		    row->current, "revision"));
		cJSON_AddStringToObject(o, "revision_deployment_id",
		    cli_record_text(row->current, "id"));
	} else
		cJSON_AddNullToObject(o, "revision");
	for (size_t i = 0; copied[i] != NULL; i++)
		cJSON_AddItemToObject(o, copied[i], cJSON_Duplicate(
		    cJSON_GetObjectItem(rec, copied[i]), 1));
	cJSON_AddNumberToObject(o, "deployments", row->deployments);
	return o;
}

/* One row per stack, in the order of their newest deployments (records
 * come newest first); damaged records, which name no stack one can
 * trust, follow, each saying why. */
static int
list_stacks(struct cli *cli, cJSON **recs, int n, long limit, cJSON *arr)
{
	struct stack_row	*rows;
	char			 why[160];
	int			 nrows = 0;

	if ((rows = calloc((size_t)n + 1, sizeof(*rows))) == NULL) {
		fprintf(stderr, "mcpvisor deploy list: out of memory\n");
		return CLI_EXIT_FAILED;
	}
	for (int i = 0; i < n; i++) {
		const char	*stack;
		int		 k;

		if (cli_record_damage(recs[i], why, sizeof(why)) != NULL)
			continue;
		/* a deployment whose spec never loaded is of stack "-" */
		stack = cli_record_text(recs[i], "deployment");
		for (k = 0; k < nrows && strcmp(stack, cli_record_text(
		    rows[k].newest, "deployment")) != 0; k++)
			;
		if (k == nrows)
			rows[nrows++].newest = recs[i];
		rows[k].deployments++;
		if (rows[k].current == NULL &&
		    cli_record_int(recs[i], "revision") > 0)
			rows[k].current = recs[i];
	}
	if (!cli->json && nrows > 0)
		printf("%-28s %-8s %-32s %-12s %-10s %-12s %s\n", "STACK",
		    "REVISION", "NEWEST DEPLOYMENT", "ENVIRONMENT", "STATE",
		    "OUTCOME", "READY");
	for (int k = 0; k < nrows && k < limit; k++) {
		const cJSON	*rec = rows[k].newest;
		char		 revtext[24] = "-";

		if (cli->json) {
			cJSON_AddItemToArray(arr, stack_json(&rows[k]));
			continue;
		}
		if (rows[k].current != NULL)
			snprintf(revtext, sizeof(revtext), "%lld",
			    cli_record_int(rows[k].current, "revision"));
		printf("%-28s %-8s %-32s %-12s %-10s %-12s %lld/%lld\n",
		    cli_record_text(rec, "deployment"), revtext,
		    cli_record_text(rec, "id"), cli_record_text(rec,
		    "environment"), cli_record_text(rec, "state"),
		    cli_record_text(rec, "outcome"), cli_record_int(rec,
		    "ready"), cli_record_int(rec, "total"));
	}
	for (int i = 0; i < n; i++)
		if (cli_record_damage(recs[i], why, sizeof(why)) == NULL)
			continue;
		else if (cli->json)
			cJSON_AddItemToArray(arr, cJSON_Duplicate(recs[i], 1));
		else
			printf("%-32s damaged: %s\n",
			    cli_record_text(recs[i], "id"), why);
	free(rows);
	return CLI_EXIT_OK;
}

int
cli_deploy_list(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	cJSON		**recs, *arr;
	long		  limit = -1;
	bool		  all = false;
	char		 *end;
	int		  c, n, status;

	optind = 0;
	while ((c = getopt_long(argc, argv, "al:h", longopts, NULL)) != -1) {
		if (c == 'j')
			cli->json = true;
		else if (c == 'a')
			all = true;
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
	if (limit < 0)
		limit = all ? 10 : LONG_MAX;
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
	status = CLI_EXIT_OK;
	if (all)
		list_deployments(cli, recs, n, limit, arr);
	else
		status = list_stacks(cli, recs, n, limit, arr);
	for (int i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
	free(recs);
	if (cli->json && status == CLI_EXIT_OK) {
		char	*text = cJSON_Print(arr);

		printf("%s\n", text != NULL ? text : "[]");
		free(text);
	}
	cJSON_Delete(arr);
	return status;
}
