/*
 * mcpvisor-gateway. Started by mcpvisord with its end of a socket pair
 * on a descriptor (--channel-fd); it drops every privilege it can before
 * it listens: its own user where started as root, no capabilities,
 * no_new_privs, no core dumps. Everything from the network is parsed
 * here and nowhere privileged.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "gateway.h"
#include "log.h"
#include "lwskit.h"
#include "state.h"

#ifndef MCPVISOR_VERSION
#define MCPVISOR_VERSION "dev"
#endif

static const char usage[] =
"usage: mcpvisor-gateway --channel-fd FD [--state-dir DIR] [--port N]\n"
"                        [--bind ADDR] [--user NAME] [--verbose]\n"
"\n"
"Serves every stdio MCP server mcpvisord runs to MCP clients over\n"
"Streamable HTTP, at http://ADDR:N/servers/NAME/mcp (default\n"
"127.0.0.1:8780), and lists them at /servers. Beyond loopback a client\n"
"needs the token of DIR/gateway.token (Authorization: Bearer).\n"
"mcpvisord starts it, with --channel-fd.\n";

static void
parse_options(struct lwskit_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		LWSKIT_LONGOPTS,
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int	c;

	while ((c = getopt_long(argc, argv, LWSKIT_SHORTOPTS "h", longopts,
	    NULL)) != -1) {
		if (lwskit_option(o, c, optarg))
			continue;
		lwskit_other_option(c, "mcpvisor-gateway", usage);
	}
	if (optind != argc || o->channel < 0) {
		fputs(usage, stderr);
		exit(LWSKIT_EXIT_USAGE);
	}
}

int
main(int argc, char **argv)
{
	struct lwskit_opts o = { .bind_addr = "127.0.0.1", .port = 8780,
			    .channel = -1 };
	static struct gateway	 gw;
	const char	*env_token = getenv("MCPVISOR_GATEWAY_TOKEN");
	int		 r;

	parse_options(&o, argc, argv);
	log_init("mcpvisor-gateway", o.verbose);
	if (o.state_dir[0] == '\0' && state_dir_default(o.state_dir,
	    sizeof(o.state_dir)) < 0)
		fatalx(LWSKIT_EXIT_USAGE, "no state directory (--state-dir)");
	gw.sig_fd = -1;
	gw.bind = o.bind_addr;
	gw.port = (unsigned)o.port;
	/* the token: given by mcpvisord (which keeps the file), or read */
	if (env_token != NULL && strlen(env_token) == GATEWAY_TOKEN_LEN)
		snprintf(gw.token, sizeof(gw.token), "%s", env_token);
	else if ((r = state_token(o.state_dir, "gateway.token", gw.token)) <
	    0)
		log_warnx("%s/gateway.token: %s: beyond loopback nobody will "
		    "be let in", o.state_dir, strerror(-r));
	unsetenv("MCPVISOR_GATEWAY_TOKEN");
	lwskit_raise_nofile();
	lwskit_drop_privileges(o.user);
	lws_set_log_level(LLL_ERR | LLL_WARN, lwskit_log);
	/* an SSE stream or a long call may be quiet for a minute */
	lwskit_listen(&gw.ctx, &gw.vhost, &gw, &o, gateway_protocols(),
	    "mcpvisor-gateway", 0, 60);
	if ((r = gateway_adopt_root(&gw, (int)o.channel)) < 0)
		fatalx(LWSKIT_EXIT_TEMPFAIL, "mcpvisord's channel: %s",
		    strerror(-r));
	if ((r = gateway_adopt_signals(&gw, lwskit_signalfd())) < 0)
		fatalx(LWSKIT_EXIT_TEMPFAIL, "signals: %s", strerror(-r));
	log_info("listening on %s port %ld%s", o.bind_addr, o.port,
	    strncmp(o.bind_addr, "127.", 4) == 0 || strcmp(o.bind_addr,
	    "::1") == 0 ? "" : " (clients beyond loopback need the token)");
	while (!gw.done)
		if (lws_service(gw.ctx, 0) < 0)
			break;
	gw.closing = true;
	lws_sul_cancel(&gw.sweep);
	lws_context_destroy(gw.ctx);
	gateway_free(&gw);
	explicit_bzero(gw.token, sizeof(gw.token));
	return 0;
}
