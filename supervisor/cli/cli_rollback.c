/*
 * mcpvisor rollback: the snapshots upgrades took, the record of each
 * rollback, and the approval a manual rollback waits for (start, which
 * follows like a deployment, lives with deploy). list and
 * status read the state directory (mcpvisord need not run); approve asks
 * mcpvisord over its control socket.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_link.h"
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

static const char *
str(const cJSON *o, const char *key)
{
	const char	*s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s != NULL ? s : "";
}

/* The backup directories to look in: --backup-dir alone when it is
 * given; else the default one and each that a deployment's record names
 * (deploy start --backup-dir), once each. */
static cJSON *
backup_dirs(const struct cli *cli)
{
	cJSON		*dirs = cJSON_CreateArray(), **recs = NULL, *d;
	int		 n;
	bool		 seen;

	cJSON_AddItemToArray(dirs, cJSON_CreateString(cli->backup_dir));
	if (cli->backup_dir_given)
		return dirs;
	n = state_list_records(cli->state_dir, &recs);
	for (int i = 0; i < n; i++) {
		const char	*b = str(recs[i], "backup_dir");

		seen = b[0] == '\0';
		cJSON_ArrayForEach(d, dirs)
			seen |= strcmp(d->valuestring, b) == 0;
		if (!seen)
			cJSON_AddItemToArray(dirs, cJSON_CreateString(b));
	}
	for (int i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
	free(recs);
	return dirs;
}

static int
rollback_list(struct cli *cli, int argc, char **argv)
{
	cJSON		*all, *list, *dirs, *s, *next;
	const cJSON	*d;
	int		 i, n, status = CLI_EXIT_OK;

	if ((i = cli_parse_simple(cli, argc, argv, usage_list, &status)) < 0)
		return status;
	if (argc != i) {
		fputs(usage_list, stderr);
		return CLI_EXIT_USAGE;
	}
	all = cJSON_CreateArray();
	dirs = backup_dirs(cli);
	cJSON_ArrayForEach(d, dirs) {
		if ((n = snapshot_list(d->valuestring, &list)) < 0) {
			/* only the one asked for, or the default, must be
			 * readable: a recorded one may be gone */
			if (d == dirs->child && n != -ENOENT) {
				fprintf(stderr, "mcpvisor rollback list: %s: "
				    "%s\n", d->valuestring, strerror(-n));
				status = CLI_EXIT_TEMPFAIL;
			}
			continue;
		}
		for (s = list->child; s != NULL; s = next) {
			next = s->next;
			cJSON_AddStringToObject(s, "backup_dir", d->valuestring);
			cJSON_AddItemToArray(all, cJSON_DetachItemViaPointer(
			    list, s));
		}
		cJSON_Delete(list);
	}
	if (status != CLI_EXIT_OK) {
		cJSON_Delete(all);
		cJSON_Delete(dirs);
		return status;
	}
	if (cli->json) {
		cli_print_json(all);
		cJSON_Delete(all);
		cJSON_Delete(dirs);
		return CLI_EXIT_OK;
	}
	if (cJSON_GetArraySize(all) == 0)
		printf("no snapshots in %s\n", cli->backup_dir);
	else
		printf("%-44s %-34s %-16s %-24s %5s %9s  %-9s %s\n", "SNAPSHOT",
		    "DEPLOYMENT", "SERVER", "CREATED", "FILES", "BYTES",
		    "INTEGRITY", "DIRECTORY");
	cJSON_ArrayForEach(s, all)
		printf("%-44s %-34s %-16s %-24s %5lld %9lld  %-9s %s\n",
		    str(s, "id"), str(s, "deployment_id"), str(s, "server"),
		    str(s, "created_at"), cli_record_int(s, "files"),
		    cli_record_int(s, "size"), str(s, "integrity"),
		    str(s, "backup_dir"));
	cJSON_Delete(all);
	cJSON_Delete(dirs);
	return CLI_EXIT_OK;
}

static int
rollback_status(struct cli *cli, int argc, char **argv)
{
	cJSON		*rec;
	const cJSON	*a;
	int		 i, status = CLI_EXIT_OK;

	if ((i = cli_parse_simple(cli, argc, argv, usage_status,
	    &status)) < 0)
		return status;
	if (argc - i != 1) {
		fputs(usage_status, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!cli_valid_id(argv[i], "rollback_"))
		return cli_bad_id("rollback status", argv[i], "rollback_");
	if ((status = cli_load_record("rollback status", cli->state_dir,
	    "rollbacks", argv[i], &rec)) != CLI_EXIT_OK)
		return status;
	if (cli->json) {
		cli_print_json(rec);
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
	struct daemon_link	 c = { .fd = -1 };
	cJSON			*rq, *resp = NULL;
	uint8_t			 type;
	int			 i, r, status = CLI_EXIT_OK;

	if ((i = cli_parse_simple(cli, argc, argv, usage_approve,
	    &status)) < 0)
		return status;
	if (argc - i != 1) {
		fputs(usage_approve, stderr);
		return CLI_EXIT_USAGE;
	}
	if (!cli_valid_id(argv[i], "rollback_"))
		return cli_bad_id("rollback approve", argv[i], "rollback_");
	if ((r = cli_connect(cli, &c, false)) < 0)
		return r == -EPERM ? CLI_EXIT_FAILED : CLI_EXIT_TEMPFAIL;
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", "rollback_approve");
	cJSON_AddStringToObject(rq, "id", argv[i]);
	if (link_request(&c, rq) < 0) {
		status = CLI_EXIT_TEMPFAIL;
		goto out;
	}
	/* events may come first; the answer is the response */
	while ((r = link_next(&c, &type, &resp)) == 1 &&
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
	link_close(&c);
	return status;
}

/* --- mcpvisor rollback start: it follows like a deployment --- */

static const char usage_rollback_start[] =
"usage: mcpvisor rollback start DEPLOY_ID [--servers A,B] [--strategy S]\n"
"                               [--detach] [--json]\n"
"       mcpvisor rollback start STACK --to-revision N [--detach] [--json]\n"
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
"  --detach          print the rollback's id and return\n"
"\n"
"With --to-revision, STACK (a spec's metadata.name) is deployed again as\n"
"its revision N (mcpvisor history STACK lists those kept), from that\n"
"revision's own files and with its options, whatever the files on disk\n"
"say now: an apply over what runs, which replaces only the servers that\n"
"differ, and becomes the stack's next revision.\n";

struct rollback_start {
	const char	*id;		/* or the stack, with to_revision */
	unsigned	 to_revision;
	const char	*strategy;
	const char	*servers;
	bool		 detach;
};

/* The operand and options; -1 with *status when that is all. */
static int
rollback_start_options(struct cli *cli, int argc, char **argv,
    struct rollback_start *o, int *status)
{
	static const struct option longopts[] = {
		{ "servers", required_argument, NULL, 's' },
		{ "strategy", required_argument, NULL, 'S' },
		{ "detach", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "to-revision", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char		*end;
	unsigned long	 n;
	int		 c;

	optind = 0;
	*status = CLI_EXIT_USAGE;
	while ((c = getopt_long(argc, argv, "dh", longopts, NULL)) != -1) {
		switch (c) {
		case 's':	o->servers = optarg; break;
		case 'r':
			n = strtoul(optarg, &end, 10);
			if (optarg[0] < '1' || optarg[0] > '9' || *end != '\0' ||
			    n > UINT_MAX) {
				fprintf(stderr, "mcpvisor rollback start: "
				    "--to-revision takes a revision's number, "
				    "not '%s'\n", optarg);
				return -1;
			}
			o->to_revision = (unsigned)n;
			break;
		case 'd':	o->detach = true; break;
		case 'j':	cli->json = true; break;
		case 'S':
			if (!cli_valid_strategy("rollback start", optarg))
				return -1;
			o->strategy = optarg;
			break;
		case 'h':
			fputs(usage_rollback_start, stdout);
			*status = CLI_EXIT_OK;
			return -1;
		default:
			fputs(usage_rollback_start, stderr);
			return -1;
		}
	}
	if (argc - optind != 1) {
		fputs(usage_rollback_start, stderr);
		return -1;
	}
	if (o->to_revision > 0) {
		if (o->servers != NULL || o->strategy != NULL) {
			fprintf(stderr, "mcpvisor rollback start: --to-revision "
			    "puts back a whole revision, as an apply: it takes "
			    "neither --servers nor --strategy\n");
			return -1;
		}
		o->id = argv[optind];
		return 0;
	}
	if (!cli_valid_id(argv[optind], "deploy_")) {
		cli_bad_id("rollback start", argv[optind], "deploy_");
		return -1;
	}
	o->id = argv[optind];
	/* a manual rollback waits for its approval: nothing to follow yet */
	if (o->strategy != NULL && strcmp(o->strategy, "manual") == 0)
		o->detach = true;
	return 0;
}

static cJSON *
rollback_start_request(const struct rollback_start *o)
{
	cJSON	*rq = cJSON_CreateObject(), *list;
	char	*names, *tok, *save;

	if (o->to_revision > 0) {
		cJSON_AddStringToObject(rq, "verb", "rollback_revision");
		cJSON_AddStringToObject(rq, "stack", o->id);
		cJSON_AddNumberToObject(rq, "to_revision", o->to_revision);
		cJSON_AddBoolToObject(rq, "follow", !o->detach);
		cli_add_environ(rq);
		return rq;
	}
	cJSON_AddStringToObject(rq, "verb", "rollback_start");
	cJSON_AddStringToObject(rq, "deployment_id", o->id);
	if (o->strategy != NULL)
		cJSON_AddStringToObject(rq, "strategy", o->strategy);
	if (o->servers != NULL) {
		list = cJSON_AddArrayToObject(rq, "servers");
		if ((names = strdup(o->servers)) == NULL) {
			cJSON_Delete(rq);
			return NULL;
		}
		for (tok = strtok_r(names, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save))
			cJSON_AddItemToArray(list, cJSON_CreateString(tok));
		free(names);
	}
	cJSON_AddBoolToObject(rq, "follow", !o->detach);
	cli_add_environ(rq);
	return rq;
}

/* The deployment followed may have "failed" on purpose: the rollback's
 * own record says how the rollback went. */
static int
rollback_outcome(const struct cli *cli, const char *rid)
{
	char		 path[PATH_MAX + 128];
	const char	*st;
	cJSON		*rec;
	int		 r, status;

	snprintf(path, sizeof(path), "%s/rollbacks/%s.json", cli->state_dir,
	    rid);
	if ((r = state_read_json(path, &rec)) < 0) {
		fprintf(stderr, "mcpvisor rollback start: %s: %s\n", path,
		    strerror(-r));
		return CLI_EXIT_TEMPFAIL;
	}
	st = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "state"));
	if (!cli->json)
		printf("rollback %s: %s\n", rid, st != NULL ? st : "?");
	status = st != NULL && strcmp(st, "succeeded") == 0 ? CLI_EXIT_OK :
	    CLI_EXIT_FAILED;
	cJSON_Delete(rec);
	return status;
}

int
cli_rollback_start(struct cli *cli, int argc, char **argv)
{
	struct rollback_start	 o = { 0 };
	struct daemon_link	 conn = { .fd = -1 };
	struct cli_tail		 t = { .cli = cli };
	const char		*id;
	char			 rid[80];
	cJSON			*rq, *resp;
	int			 status;

	if (rollback_start_options(cli, argc, argv, &o, &status) < 0)
		return status;
	if ((rq = rollback_start_request(&o)) == NULL)
		return CLI_EXIT_TEMPFAIL;
	if (cli_connect(cli, &conn, false) < 0) {
		cJSON_Delete(rq);
		return CLI_EXIT_TEMPFAIL;
	}
	status = link_request(&conn, rq) < 0 ? CLI_EXIT_TEMPFAIL :
	    cli_expect_ok(&conn, &t, &resp);
	cJSON_Delete(rq);
	if (status != 0) {
		link_close(&conn);
		return status;
	}
	if (o.to_revision > 0) {
		/* a deployment, followed as deploy start's */
		if (o.detach)
			printf("%s\n", cJSON_GetStringValue(cJSON_GetObjectItem(
			    resp, "deployment_id")));
		cJSON_Delete(resp);
		status = o.detach ? CLI_EXIT_OK : cli_tail_follow(&t, &conn);
		link_close(&conn);
		return status;
	}
	id = cJSON_GetStringValue(cJSON_GetObjectItem(resp, "rollback_id"));
	snprintf(rid, sizeof(rid), "%s", id != NULL ? id : "");
	cJSON_Delete(resp);
	if (o.detach || rid[0] == '\0') {
		if (o.strategy != NULL && strcmp(o.strategy, "manual") == 0 &&
		    !cli->json)
			printf("%s waits for approval: mcpvisor rollback "
			    "approve %s\n", rid, rid);
		else
			printf("%s\n", rid);
		link_close(&conn);
		return CLI_EXIT_OK;
	}
	status = cli_tail_follow(&t, &conn);
	link_close(&conn);
	return status == CLI_EXIT_TEMPFAIL ? status : rollback_outcome(cli, rid);
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
