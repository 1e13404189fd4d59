/*
 * mcpvisor-monitor. Started by mcpvisord with its end of a socket pair on
 * a descriptor (--channel-fd), or by hand (mcpvisor monitor start) against
 * a running mcpvisord's control socket. It drops every privilege it can
 * before it listens: its own user where started as root, no
 * capabilities, no_new_privs, no core dumps.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <sys/capability.h>

#include <libwebsockets.h>

#include "errbuf.h"
#include "log.h"
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

static void
lws_log(int level, const char *line)
{
	size_t	n = strlen(line);

	/* lws lines end in a newline and carry their own timestamp */
	while (n > 0 && line[n - 1] == '\n')
		n--;
	if (level & LLL_ERR)
		log_warnx("lws: %.*s", (int)n, line);
	else
		log_info("lws: %.*s", (int)n, line);
}

/* Where started as root: the user named (default "mcpvisor", else
 * "nobody"), no supplementary groups, an empty bounding set. Then, for
 * anyone: no capabilities, no_new_privs, no core dumps. */
static void
drop_privileges(const char *user)
{
	struct rlimit	 none = { 0, 0 };
	struct passwd	*pw = NULL;
	cap_t		 caps;

	if (geteuid() == 0) {
		if (user != NULL)
			pw = getpwnam(user);
		else if ((pw = getpwnam("mcpvisor")) == NULL)
			pw = getpwnam("nobody");
		if (pw == NULL)
			fatalx(EXIT_USAGE, "no user %s to run as",
			    user != NULL ? user : "mcpvisor or nobody");
		for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
		if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
		    setuid(pw->pw_uid) == -1)
			fatal("dropping to user %s", pw->pw_name);
		if (setuid(0) == 0)
			fatalx(EXIT_TEMPFAIL, "root came back after setuid");
	}
	if ((caps = cap_init()) == NULL || cap_set_proc(caps) == -1)
		fatal("clearing capabilities");
	cap_free(caps);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("no_new_privs");
	setrlimit(RLIMIT_CORE, &none);
#ifdef __SANITIZE_ADDRESS__
	/* LeakSanitizer inspects the process from a helper that must be
	 * allowed to attach; changing user made us undumpable */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#else
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

/* Room for many clients: the soft limit on descriptors up to the hard. */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static long
number(const char *s, long min, long max, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		fatalx(EXIT_USAGE, "%s must be a number from %ld to %ld, not "
		    "'%s'", what, min, max, s);
	return v;
}

struct options {
	char		 state_dir[PATH_MAX];
	const char	*bind_addr;
	const char	*user;
	long		 port;
	long		 ring;
	long		 channel;
	bool		 verbose;
};

static void
parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "state-dir", required_argument, NULL, 's' },
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "ring", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'u' },
		{ "channel-fd", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int	c;

	while ((c = getopt_long(argc, argv, "s:p:b:vh", longopts, NULL)) != -1)
		switch (c) {
		case 's':
			snprintf(o->state_dir, sizeof(o->state_dir), "%s",
			    optarg);
			break;
		case 'p':
			o->port = number(optarg, 1, 65535, "--port");
			break;
		case 'b':	o->bind_addr = optarg; break;
		case 'r':
			o->ring = number(optarg, 16, 1 << 22, "--ring");
			break;
		case 'u':	o->user = optarg; break;
		case 'c':
			o->channel = number(optarg, 3, 65535, "--channel-fd");
			break;
		case 'v':	o->verbose = true; break;
		case 'V':
			printf("mcpvisor-monitor %s\n", MCPVISOR_VERSION);
			exit(0);
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			exit(EXIT_USAGE);
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

	if (o->channel >= 0) {
		mon->root_name = "mcpvisord";
		return (int)o->channel;
	}
	if ((fd = state_control_connect(o->state_dir, &err)) < 0)
		fatalx(EXIT_TEMPFAIL, "mcpvisord at %s/control.sock: %s",
		    o->state_dir, fd == -ENOENT || fd == -ECONNREFUSED ?
		    "not running" : fd == -EPERM ? err.msg : strerror(-fd));
	mon->root_name = "mcpvisord (control socket)";
	return fd;
}

static void
listen_on(struct monitor *mon, const struct options *o)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	/* a text message that is not UTF-8 is closed with 1007 (checked
	 * by the context: its vhosts inherit it) */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.user = mon;
	if ((mon->ctx = lws_create_context(&info)) == NULL)
		fatalx(EXIT_TEMPFAIL, "libwebsockets: cannot create a context");
	info.port = (int)o->port;
	info.iface = o->bind_addr;
	/* lws listens on IPv6 (any address) unless told: an IPv4 address
	 * to bind to needs an IPv4 socket */
	if (strchr(o->bind_addr, ':') == NULL)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.protocols = monitor_protocols();
	info.vhost_name = "mcpvisor-monitor";
	/* a client that goes silent is dropped after its ping goes
	 * unanswered; a stalled reader is the ring's business */
	info.ka_time = 0;
	if ((mon->vhost = lws_create_vhost(mon->ctx, &info)) == NULL)
		fatalx(EXIT_TEMPFAIL, "cannot listen on %s port %ld",
		    o->bind_addr, o->port);
}

/* TERM and INT through a signalfd in libwebsockets' loop: no code of
 * ours runs in signal context. */
static void
catch_signals(struct monitor *mon)
{
	sigset_t	set;
	int		fd, r;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	if ((r = monitor_adopt_signals(mon, fd)) < 0)
		fatalx(EXIT_TEMPFAIL, "signals: %s", strerror(-r));
}

int
main(int argc, char **argv)
{
	struct options	 o = { .bind_addr = "127.0.0.1", .port = 8765,
			    .ring = RING_DEFAULT, .channel = -1 };
	struct monitor	 mon;
	const char	*env_token = getenv("MCPVISOR_MONITOR_TOKEN");
	int		 r, fd;

	parse_options(&o, argc, argv);
	log_init("mcpvisor-monitor", o.verbose);
	if (o.state_dir[0] == '\0' && state_dir_default(o.state_dir,
	    sizeof(o.state_dir)) < 0)
		fatalx(EXIT_USAGE, "no state directory (--state-dir)");
	memset(&mon, 0, sizeof(mon));
	mon.sig_fd = -1;
	/* the token: given by mcpvisord (which keeps the file), or read */
	if (env_token != NULL && strlen(env_token) == MONITOR_TOKEN_LEN)
		snprintf(mon.token, sizeof(mon.token), "%s", env_token);
	else if ((r = state_monitor_token(o.state_dir, mon.token)) < 0)
		log_warnx("%s/monitor.token: %s: beyond loopback nobody will "
		    "be let in", o.state_dir, strerror(-r));
	unsetenv("MCPVISOR_MONITOR_TOKEN");
	fd = root_stream(&mon, &o);
	raise_nofile();
	drop_privileges(o.user);
	if (hub_init(&mon.hub, (size_t)o.ring, LWS_PRE) < 0)
		fatalx(EXIT_TEMPFAIL, "out of memory");
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
	listen_on(&mon, &o);
	if ((r = monitor_adopt_root(&mon, fd)) < 0)
		fatalx(EXIT_TEMPFAIL, "%s: %s", mon.root_name, strerror(-r));
	catch_signals(&mon);
	log_info("listening on %s port %ld%s", o.bind_addr, o.port,
	    strncmp(o.bind_addr, "127.", 4) == 0 || strcmp(o.bind_addr,
	    "::1") == 0 ? "" : " (clients beyond loopback need the token)");
	while (!mon.done)
		if (lws_service(mon.ctx, 0) < 0)
			break;
	lws_context_destroy(mon.ctx);
	monitor_free_root(&mon);
	hub_free(&mon.hub);
	return 0;
}
