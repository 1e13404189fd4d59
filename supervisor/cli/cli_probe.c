/*
 * mcpvisor probe live|ready: what a container runtime's HEALTHCHECK or a
 * kubelet's exec probe asks, answered by exit status. The same questions
 * over HTTP are the monitor's /livez and /readyz.
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_link.h"
#include "frame.h"
#include "state.h"

static const char usage_probe[] =
"usage: mcpvisor probe live|ready\n"
"\n"
"  live    mcpvisord answers on its control socket: its loop turns\n"
"  ready   the current deployment succeeded and every server of it is\n"
"          ready (a one-shot server that ended as its policy lets it\n"
"          counts as ready)\n"
"\n"
"Prints one line saying why; exit status 0 yes, 1 no, 111 no mcpvisord.\n"
"Starts no daemon.\n";

/* The answer to one request, or NULL after saying why there is none. */
static cJSON *
ask(struct cli *cli, const char *verb)
{
	struct daemon_link	 c = { .fd = -1 };
	cJSON			*rq = cJSON_CreateObject(), *resp = NULL;
	uint8_t			 type;

	cJSON_AddStringToObject(rq, "verb", verb);
	if (cli_connect(cli, &c, false) == 0 && link_request(&c, rq) == 0)
		while (link_next(&c, &type, &resp) == 1 &&
		    type != FRAME_RESPONSE) {
			cJSON_Delete(resp);
			resp = NULL;
		}
	if (c.fd != -1 && resp == NULL)
		fprintf(stderr, "mcpvisor probe: mcpvisord closed the "
		    "connection without an answer\n");
	link_close(&c);
	cJSON_Delete(rq);
	return resp;
}

int
cli_probe(struct cli *cli, int argc, char **argv)
{
	cJSON		*resp;
	char		 why[256];
	bool		 ready, live;
	int		 status, first;

	if ((first = cli_parse_simple(cli, argc, argv, usage_probe,
	    &status)) < 0)
		return status;
	live = first + 1 == argc && strcmp(argv[first], "live") == 0;
	ready = first + 1 == argc && strcmp(argv[first], "ready") == 0;
	if (!live && !ready) {
		fputs(usage_probe, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((resp = ask(cli, live ? "ping" : "status")) == NULL)
		return CLI_EXIT_TEMPFAIL;
	if (live) {
		live = cJSON_IsTrue(cJSON_GetObjectItem(resp, "ok"));
		printf("%s\n", live ? "live" : "mcpvisord refused a ping");
		cJSON_Delete(resp);
		return live ? CLI_EXIT_OK : CLI_EXIT_FAILED;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItem(resp, "ok"))) {
		const char	*e = cJSON_GetStringValue(cJSON_GetObjectItem(
				    resp, "error"));

		printf("not ready: %s\n", e != NULL ? e : "no deployment");
		cJSON_Delete(resp);
		return CLI_EXIT_FAILED;
	}
	ready = state_record_ready(cJSON_GetObjectItem(resp, "record"), why,
	    sizeof(why));
	printf("%s%s\n", ready ? "" : "not ready: ", why);
	cJSON_Delete(resp);
	return ready ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}
