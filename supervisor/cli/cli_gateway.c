/*
 * mcpvisor gateway: where MCP clients reach the servers mcpvisord runs
 * (its gateway's /servers), and the mcpServers configuration that MCP
 * clients read, pointing at the gateway's URLs.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "state.h"

static const char usage_list[] =
"usage: mcpvisor gateway list [--json]\n"
"\n"
"Every server mcpvisord's gateway serves: its name, state, process,\n"
"client sessions and URL (Streamable HTTP), from the gateway's /servers.\n";

static const char usage_config[] =
"usage: mcpvisor gateway client-config [SERVER...]\n"
"\n"
"The mcpServers JSON that MCP clients (the Inspector, desktop clients,\n"
"IDEs) read, each server (default: every one the gateway serves) at its\n"
"gateway URL. Beyond loopback a client needs STATE-DIR/gateway.token as\n"
"a bearer token; it is not printed.\n";

/* The gateway's /servers, parsed: 0 and *list, or an exit status. */
static int
servers(struct cli *cli, cJSON **list)
{
	char	 where[64] = "", token[65] = "", *body;
	long	 port = 0;
	int	 r;

	if ((r = cli_helper_where(cli, "gateway", false, 0, NULL, &port,
	    where)) != 0)
		return r;
	if (port == 0) {
		fprintf(stderr, "mcpvisor gateway: mcpvisord runs no gateway "
		    "(--no-gateway, or mcpvisor-gateway was not found)\n");
		return CLI_EXIT_FAILED;
	}
	if (strncmp(cli_reach(where), "127.", 4) != 0)
		state_token(cli->state_dir, "gateway.token", token);
	r = cli_http_get("gateway", cli_reach(where), port, "/servers", token,
	    &body);
	explicit_bzero(token, sizeof(token));
	if (r != CLI_EXIT_OK)
		return r;
	*list = cJSON_Parse(body);
	free(body);
	if (!cJSON_IsArray(*list)) {
		cJSON_Delete(*list);
		fprintf(stderr, "mcpvisor gateway: its /servers is not a JSON "
		    "list\n");
		return CLI_EXIT_FAILED;
	}
	return CLI_EXIT_OK;
}

static const char *
str(const cJSON *o, const char *key)
{
	const char	*s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s != NULL ? s : "";
}

static int
gateway_list(struct cli *cli, int argc, char **argv)
{
	const cJSON	*s;
	cJSON		*list;
	int		 i, r;

	if ((i = cli_parse_simple(cli, argc, argv, usage_list, &r)) < 0)
		return r;
	if (i != argc) {
		fputs(usage_list, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((r = servers(cli, &list)) != CLI_EXIT_OK)
		return r;
	if (cli->json) {
		cli_print_json(list);
		cJSON_Delete(list);
		return CLI_EXIT_OK;
	}
	printf("%-20s %-9s %7s %8s  %s\n", "SERVER", "STATE", "PID",
	    "SESSIONS", "URL");
	cJSON_ArrayForEach(s, list)
		printf("%-20s %-9s %7.0f %8.0f  %s\n", str(s, "name"),
		    str(s, "state"), cJSON_GetNumberValue(cJSON_GetObjectItem(s,
		    "pid")) > 0 ? cJSON_GetNumberValue(cJSON_GetObjectItem(s,
		    "pid")) : 0, cJSON_GetNumberValue(cJSON_GetObjectItem(s,
		    "sessions")), str(s, "url"));
	cJSON_Delete(list);
	return CLI_EXIT_OK;
}

static bool
named(int argc, char **argv, int from, const char *name)
{
	if (from == argc)
		return true;
	for (int k = from; k < argc; k++)
		if (strcmp(argv[k], name) == 0)
			return true;
	return false;
}

static int
gateway_client_config(struct cli *cli, int argc, char **argv)
{
	const cJSON	*s;
	cJSON		*list, *out, *mcp;
	int		 i, r;

	if ((i = cli_parse_simple(cli, argc, argv, usage_config, &r)) < 0)
		return r;
	if ((r = servers(cli, &list)) != CLI_EXIT_OK)
		return r;
	for (int k = i; k < argc; k++) {
		bool	found = false;

		cJSON_ArrayForEach(s, list)
			found |= strcmp(str(s, "name"), argv[k]) == 0;
		if (!found) {
			fprintf(stderr, "mcpvisor gateway client-config: the "
			    "gateway serves no server '%s' (gateway list shows "
			    "those it does)\n", argv[k]);
			cJSON_Delete(list);
			return CLI_EXIT_FAILED;
		}
	}
	out = cJSON_CreateObject();
	mcp = cJSON_AddObjectToObject(out, "mcpServers");
	cJSON_ArrayForEach(s, list) {
		cJSON	*e;

		if (!named(argc, argv, i, str(s, "name")) ||
		    cJSON_GetObjectItem(mcp, str(s, "name")) != NULL)
			continue;
		e = cJSON_AddObjectToObject(mcp, str(s, "name"));
		cJSON_AddStringToObject(e, "type", "http");
		cJSON_AddStringToObject(e, "url", str(s, "url"));
	}
	cli_print_json(out);
	cJSON_Delete(out);
	cJSON_Delete(list);
	return CLI_EXIT_OK;
}

int
cli_gateway(struct cli *cli, int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "list", gateway_list, "the servers it serves, and their URLs" },
		{ "client-config", gateway_client_config,
		    "the mcpServers JSON for MCP clients" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, "gateway", verbs, argc - 1, argv + 1);
}
