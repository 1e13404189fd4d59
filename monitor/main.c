/*
 * mcpvisor-monitor. Started by mcpvisord with its end of a socket pair on
 * a descriptor (--channel-fd), or by hand (mcpvisor monitor start) against
 * a running mcpvisord's control socket. It drops every privilege it can
 * before it listens: its own user where started as root, no
 * capabilities, no_new_privs, no core dumps.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "errbuf.h"
#include "log.h"
#include "lwskit.h"
#include "monitor.h"
#include "state.h"

#ifndef MCPVISOR_VERSION
#define MCPVISOR_VERSION "dev"
#endif

#define EXIT_USAGE	100	/* bad usage: do not restart */
#define EXIT_TEMPFAIL	111
#define RING_DEFAULT	8192

static const char usage[] =
"usage: mcpvisor-monitor [--state-dir DIR] [--port N] [--bind ADDR]\n"
"                        [--ring N] [--user NAME] [--channel-fd FD]\n"
"\n"
"Serves mcpvisord's events over WebSocket, /metrics for Prometheus and\n"
"a dashboard at /, on ADDR:N (default 127.0.0.1:8765). Beyond loopback a\n"
"client needs the token of DIR/monitor.token (Authorization: Bearer, or\n"
"?token=). mcpvisord starts it with --channel-fd; by hand, it watches\n"
"the mcpvisord of DIR through its control socket.\n";

struct options {
	struct lwskit_opts	 common;
	long			 ring;
};

static void
parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		LWSKIT_LONGOPTS,
		{ "ring", required_argument, NULL, 'r' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int	c;

	while ((c = getopt_long(argc, argv, LWSKIT_SHORTOPTS "h", longopts,
	    NULL)) != -1) {
		if (lwskit_option(&o->common, c, optarg))
			continue;
		if (c == 'r') {
			o->ring = lwskit_number(optarg, 16, 1 << 22, "--ring");
			continue;
		}
		lwskit_other_option(c, "mcpvisor-monitor", usage);
	}
	if (optind != argc) {
		fputs(usage, stderr);
		exit(EXIT_USAGE);
	}
}

/* The root's stream: a descriptor mcpvisord handed us, or its control
 * socket. */
static int
root_stream(struct monitor *mon, const struct options *o)
{
	struct errbuf	err;
	int		fd;

	if (o->common.channel >= 0) {
		mon->root_name = "mcpvisord";
		return (int)o->common.channel;
	}
	if ((fd = state_control_connect(o->common.state_dir, &err)) < 0)
		fatalx(EXIT_TEMPFAIL, "mcpvisord at %s/control.sock: %s",
		    o->common.state_dir, fd == -ENOENT || fd == -ECONNREFUSED ?
		    "not running" : fd == -EPERM ? err.msg : strerror(-fd));
	mon->root_name = "mcpvisord (control socket)";
	return fd;
}



int
main(int argc, char **argv)
{
	struct options	 o = { .common = { .bind_addr = "127.0.0.1",
			    .port = 8765, .channel = -1 },
			    .ring = RING_DEFAULT };
	struct monitor	 mon;
	const char	*env_token = getenv("MCPVISOR_MONITOR_TOKEN");
	int		 r, fd;

	parse_options(&o, argc, argv);
	log_init("mcpvisor-monitor", o.common.verbose);
	if (o.common.state_dir[0] == '\0' &&
	    state_dir_default(o.common.state_dir,
	    sizeof(o.common.state_dir)) < 0)
		fatalx(EXIT_USAGE, "no state directory (--state-dir)");
	memset(&mon, 0, sizeof(mon));
	mon.sig_fd = -1;
	/* the token: given by mcpvisord (which keeps the file), or read */
	if (env_token != NULL && strlen(env_token) == MONITOR_TOKEN_LEN)
		snprintf(mon.token, sizeof(mon.token), "%s", env_token);
	else if ((r = state_monitor_token(o.common.state_dir, mon.token)) < 0)
		log_warnx("%s/monitor.token: %s: beyond loopback nobody will "
		    "be let in", o.common.state_dir, strerror(-r));
	unsetenv("MCPVISOR_MONITOR_TOKEN");
	fd = root_stream(&mon, &o);
	lwskit_raise_nofile();
	lwskit_drop_privileges(o.common.user);
	if (hub_init(&mon.hub, (size_t)o.ring, LWS_PRE) < 0)
		fatalx(EXIT_TEMPFAIL, "out of memory");
	lws_set_log_level(LLL_ERR | LLL_WARN, lwskit_log);
	/* a text message that is not UTF-8 is closed with 1007 (checked
	 * by the context: its vhosts inherit it) */
	lwskit_listen(&mon.ctx, &mon.vhost, &mon, &o.common,
	    monitor_protocols(), "mcpvisor-monitor",
	    LWS_SERVER_OPTION_VALIDATE_UTF8, 0);
	if ((r = monitor_adopt_root(&mon, fd)) < 0)
		fatalx(EXIT_TEMPFAIL, "%s: %s", mon.root_name, strerror(-r));
	if ((r = monitor_adopt_signals(&mon, lwskit_signalfd())) < 0)
		fatalx(EXIT_TEMPFAIL, "signals: %s", strerror(-r));
	log_info("listening on %s port %ld%s", o.common.bind_addr, o.common.port,
	    strncmp(o.common.bind_addr, "127.", 4) == 0 || strcmp(o.common.bind_addr,
	    "::1") == 0 ? "" : " (clients beyond loopback need the token)");
	while (!mon.done)
		if (lws_service(mon.ctx, 0) < 0)
			break;
	lws_context_destroy(mon.ctx);
	monitor_free_root(&mon);
	hub_free(&mon.hub);
	return 0;
}
