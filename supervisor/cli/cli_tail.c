/*
 * Following a deployment live: its events as a colored line each (NDJSON
 * with --json) and, on a terminal, a progress bar for the batch being
 * deployed, until the final answer says how it ended.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_link.h"
#include "errbuf.h"
#include "frame.h"


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
tail_bar(struct cli_tail *t)
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

void
cli_tail_event(struct cli_tail *t, const cJSON *ev)
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
	/* debug events are for --verbose (--json gives every event) */
	if (type == NULL || (!t->cli->verbose && strcmp(cJSON_GetStringValue(
	    cJSON_GetObjectItem(ev, "level")) != NULL ? cJSON_GetStringValue(
	    cJSON_GetObjectItem(ev, "level")) : "", "debug") == 0))
		return;
	if (strcmp(type, "deployment_started") == 0) {
		t->total = (size_t)cli_record_int(d, "total");
		t->batches = (size_t)cli_record_int(d, "batches");
	} else if (strcmp(type, "batch_started") == 0) {
		t->batch++;
		t->batch_servers = (size_t)cli_record_int(d, "servers");
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
int
cli_tail_follow(struct cli_tail *t, struct daemon_link *c)
{
	uint8_t		 type;
	cJSON		*j;
	int		 r, status = CLI_EXIT_FAILED;

	while ((r = link_next(c, &type, &j)) == 1) {
		if (type == FRAME_EVENT) {
			cli_tail_event(t, j);
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
int
cli_expect_ok(struct daemon_link *c, struct cli_tail *t, cJSON **resp)
{
	return cli_expect_ok_unless(c, t, resp, NULL);
}

int
cli_expect_ok_unless(struct daemon_link *c, struct cli_tail *t, cJSON **resp,
    const char *quiet)
{
	uint8_t		 type;
	cJSON		*j;
	const char	*code, *err;
	int		 r;

	*resp = NULL;
	while ((r = link_next(c, &type, &j)) == 1 && type != FRAME_RESPONSE) {
		cli_tail_event(t, j);
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
	if (quiet != NULL && code != NULL && strcmp(code, quiet) == 0) {
		*resp = j;
		return -1;
	}
	fprintf(stderr, "%s%s", err != NULL ? err : "refused",
	    err != NULL && err[0] != '\0' && err[strlen(err) - 1] == '\n' ?
	    "" : "\n");
	r = code != NULL && strcmp(code, "config") == 0 ? CLI_EXIT_CONFIG :
	    code != NULL && strcmp(code, "usage") == 0 ? CLI_EXIT_USAGE :
	    CLI_EXIT_FAILED;
	cJSON_Delete(j);
	return r;
}

cJSON *
cli_live_record(struct cli *cli, const char *id, bool usage,
    const cJSON *servers)
{
	struct daemon_link	 c = { .fd = -1 };
	cJSON			*rq, *resp = NULL, *rec = NULL;
	uint8_t			 type;

	if (link_connect(&c, cli->state_dir, false, NULL) < 0)
		return NULL;
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", "status");
	cJSON_AddStringToObject(rq, "id", id);
	if (usage)
		cJSON_AddBoolToObject(rq, "usage", 1);
	if (servers != NULL)
		cJSON_AddItemToObject(rq, "servers", cJSON_Duplicate(servers,
		    1));
	if (link_request(&c, rq) == 0)
		while (link_next(&c, &type, &resp) == 1 &&
		    type != FRAME_RESPONSE) {
			cJSON_Delete(resp);
			resp = NULL;
		}
	if (cJSON_IsTrue(cJSON_GetObjectItem(resp, "ok")))
		rec = cJSON_DetachItemFromObject(resp, "record");
	cJSON_Delete(resp);
	cJSON_Delete(rq);
	link_close(&c);
	return rec;
}

int
cli_connect(struct cli *cli, struct daemon_link *c, bool start)
{
	struct errbuf	err = { "" };
	int		r = link_connect(c, cli->state_dir, start, &err);

	if (r == -ECHILD || r == -ETIMEDOUT)
		/* the daemon it started did not come up: said whole */
		fprintf(stderr, "mcpvisor: %s\n", err.msg);
	else if (r < 0)
		fprintf(stderr, "mcpvisor: mcpvisord at %s/control.sock: %s\n",
		    cli->state_dir, r == -ENOENT || r == -ECONNREFUSED ?
		    "not running" : r == -EPERM ? err.msg : strerror(-r));
	return r;
}

/* env() and secrets resolve in the requester's environment; the socket
 * is private and mcpvisord keeps none of it */
void
cli_add_environ(cJSON *rq)
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

