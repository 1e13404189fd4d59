/*
 * mcpvisord, the root supervisor.
 *
 *	mcpvisord [--state-dir DIR]		serve the control socket
 *	mcpvisord --init SPEC [--environment ENV]
 *						deploy SPEC and supervise it;
 *						fit to be PID 1 in a container
 *	mcpvisord --check SPEC			prepare SPEC, report, exit
 *
 * This file is the wiring: options, signals, and the three parts that
 * do not know one another, joined here: the runtime (supervisor.h), the
 * control socket (control.h) and the monitor process (monproc.h). One
 * loop over epoll, a signalfd and a timerfd. Exit statuses: 0 stopped in
 * order, 1 the deployment failed, 3 the grace ran out and stragglers were
 * killed, 100 bad usage or configuration (do not restart), 111 a
 * temporary failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "control.h"
#include "deployment.h"
#include "diag.h"
#include "dynuser.h"
#include "hooks.h"
#include "log.h"
#include "gwlink.h"
#include "monproc.h"
#include "prepare.h"
#include "snapjob.h"
#include "stack.h"
#include "spawn.h"
#include "supervisor.h"
#include "util.h"
#include "workerproc.h"
#include "cgroup.h"
#include "errbuf.h"
#ifdef MCPVISOR_SYNTHETIC_EVENTS
#include "synthetic.h"
#endif

#ifndef MCPVISOR_LIBEXECDIR
#define MCPVISOR_LIBEXECDIR "/usr/local/libexec/mcpvisor"
#endif
#ifndef MCPVISOR_SBIN_TO_LIBEXEC
#define MCPVISOR_SBIN_TO_LIBEXEC "../libexec/mcpvisor"
#endif

static const char usage[] =
"usage: mcpvisord [--state-dir DIR] [--worker PATH] [--verbose]\n"
"       mcpvisord --init SPEC [--environment ENV] [--config-dir DIR]\n"
"                 [--checks-dir DIR] [--sequential] [--grace SECONDS] ...\n"
"       mcpvisord --check SPEC [--environment ENV] [--config-dir DIR] ...\n"
"\n"
"  --state-dir DIR   records, journal, logs, control socket (default\n"
"                    /var/lib/mcpvisor for root, else $XDG_STATE_HOME/mcpvisor)\n"
"  --init SPEC       deploy SPEC at once and supervise it; SIGTERM or SIGINT\n"
"                    stop it in reverse order within the grace; as PID 1 also\n"
"                    reaps every orphan\n"
"  --once            with --init: once every server is ready and has passed\n"
"                    its health checks, stop in order and exit 0 (1 if the\n"
"                    deployment failed): a smoke test of a spec\n"
"  --limits-optional servers whose cgroup limits cannot be enforced here\n"
"                    (a container's read-only cgroups) run without them,\n"
"                    with a warning (also MCPVISOR_LIMITS=optional)\n"
"  --secrets-dir DIR a file per secret, named as its variable, for those\n"
"                    neither the environment nor NAME_FILE gives (default\n"
"                    $CREDENTIALS_DIRECTORY)\n"
"  --grace SECONDS   time for an ordered stop before what is left is killed\n"
"                    (default 9, inside a container runtime's 10)\n"
"  --check SPEC      prepare SPEC as a start would, report and exit\n"
"  --backup-dir DIR  snapshots of what upgrades replace (default\n"
"                    STATE-DIR/backups)\n"
"  --worker PATH     the mcpvisor-worker program (default: beside mcpvisord)\n"
"  --no-monitoring   start no mcpvisor-monitor\n"
"  --monitor-port N  its port, over the deployment's (default 8765)\n"
"  --monitor-bind A  its address (default 127.0.0.1; beyond loopback,\n"
"                    clients need STATE-DIR/monitor.token)\n"
"  --monitor PATH    the mcpvisor-monitor program (default: beside\n"
"                    mcpvisord)\n"
"  --no-gateway      start no mcpvisor-gateway\n"
"  --gateway-port N  its port (default 8780)\n"
"  --gateway-bind A  its address (default 127.0.0.1; beyond loopback,\n"
"                    clients need STATE-DIR/gateway.token)\n"
"  --gateway PATH    the mcpvisor-gateway program (default: beside\n"
"                    mcpvisord)\n"
"  --no-fork-server  exec every worker (default: clone each from a fork\n"
"                    server, sharing what the dynamic loader wrote)\n"
"  --notify-fd FD    write a newline to FD and close it once the control\n"
"                    socket takes requests (s6's readiness notification)\n"
"  --approvers-group GROUP\n"
"                    its members may reach the control socket to approve a\n"
"                    deployment or rollback held by require_mfa (and to do\n"
"                    nothing else); without it only our user and root may\n";


struct daemon {
	struct supervisor	 sv;
	struct control		*ctl;
	struct monproc		*mon;
	struct monproc		*gw;		/* mcpvisor-gateway */
	struct watcher		 sigw;
	/* the options */
	struct project_paths	 paths;
	struct prepare_opts	 po;
	struct monproc_opts	 mo;
	struct monproc_opts	 go;
	const char		*check;
	const char		*init;
	const char		*state_dir;
	char			 statebuf[PATH_MAX];
	char			 configbuf[PATH_MAX];
	char			 worker[PATH_MAX];
	char			 monitor[PATH_MAX];
	char			 gateway[PATH_MAX];
	char			*checks_dir;
	bool			 verbose;
	long			 grace;
	int			 notify_fd;	/* --notify-fd, or -1 */
#ifdef MCPVISOR_SYNTHETIC_EVENTS
	struct synthetic	 synth;
#endif
};

/* Tells systemd (Type=notify) how we are; a no-op without NOTIFY_SOCKET. */
static void
sd_notify_state(const char *state)
{
	const char		*path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	socklen_t		 len;
	int			 fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_warn("sd_notify");
	close(fd);
}

/* A helper program: beside mcpvisord (a build tree), else installed. */
/* A helper program: beside us (a build tree), in the libexec directory
 * of the install we are part of, or where this build would install it. */
static void
default_helper(char *buf, size_t size, const char *name, bool needed)
{
	static const char *const dirs[] = { MCPVISOR_SBIN_TO_LIBEXEC,
	    MCPVISOR_LIBEXECDIR, NULL };
	char	tried[1024];

	if (util_find_program(name, dirs, buf, size, tried, sizeof(tried)))
		return;
	if (needed)
		fatalx(SV_EXIT_CONFIG, "cannot find %s (looked at %s): give "
		    "its path with --%s", name, tried, name + strlen("mcpvisor-"));
	log_warnx("cannot find %s (looked at %s)", name, tried);
}

static int
check_only(struct prepare_opts *po)
{
	struct diag_list	 dl = { 0 };
	struct prepared		*pd = NULL;
	int			 r;

	r = prepare_deployment(po, &pd, &dl);
	diag_print(&dl, stderr);
	if (r == 0)
		log_info("deployment '%s' for %s would start %zu servers in "
		    "%zu batches", pd->spec->name, pd->environment,
		    pd->spec->nservers, pd->plan->nbatches);
	else
		log_warnx("deployment %s would not start: %zu errors",
		    po->spec_path, dl.errors);
	prepared_free(pd);
	diag_list_free(&dl);
	return r == 0 ? 0 : r == -ENOMEM ? SV_EXIT_TEMPFAIL : SV_EXIT_CONFIG;
}

/* An absolute path for p, which must exist. */
static char *
absolute(const char *p)
{
	char	*r = realpath(p, NULL);

	if (r == NULL)
		fatalx(SV_EXIT_CONFIG, "%s: %s", p, strerror(errno));
	return r;
}

/* --- the wiring --- */

static void
wire_event(struct supervisor *sv, const struct cJSON *ev)
{
	control_event(((struct daemon *)sv->wiring)->ctl, ev);
}

static void
wire_watched(struct supervisor *sv, uint8_t type,
    const struct cJSON *o)
{
	control_watched(((struct daemon *)sv->wiring)->ctl, type, o);
}

static void
wire_finished(struct supervisor *sv, const char *id, const char *outcome)
{
	control_finished(((struct daemon *)sv->wiring)->ctl, id, outcome);
}

static void
wire_prepared(struct supervisor *sv, const char *id, const char *why,
    bool invalid)
{
	control_prepared(((struct daemon *)sv->wiring)->ctl, id, why, invalid);
}

static void
wire_want_monitor(struct supervisor *sv, bool on, unsigned port)
{
	monproc_want(((struct daemon *)sv->wiring)->mon, on, port);
}

/* mcpvisor monitor start and show: where the monitor is, and moving it
 * (a port, an address) or turning it on. */
static void
do_monitor(struct client *c, const cJSON *rq, void *arg)
{
	struct daemon	*d = arg;
	const cJSON	*port = cJSON_GetObjectItem(rq, "port");
	const char	*bind = cJSON_GetStringValue(cJSON_GetObjectItem(rq,
			    "bind"));
	long long	 p = json_int_within(port, 1, 65535, -1);
	cJSON		*o;

	if (port != NULL && p < 0) {
		client_error(c, "usage", "'port' is 1 to 65535");
		return;
	}
	if (bind != NULL && (strlen(bind) == 0 || strlen(bind) > 63)) {
		client_error(c, "usage", "'bind' is an address");
		return;
	}
	if ((port != NULL || bind != NULL ||
	    cJSON_IsTrue(cJSON_GetObjectItem(rq, "start"))) &&
	    monproc_move(d->mon, port != NULL ? (unsigned)p : 0, bind) < 0) {
		client_error(c, "failed", "mcpvisord runs with --no-monitoring");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "port", monproc_port(d->mon));
	cJSON_AddStringToObject(o, "bind", monproc_bind(d->mon));
	cJSON_AddNumberToObject(o, "pid", monproc_pid(d->mon));
	client_ok(c, o);
}

/* mcpvisor gateway: where the gateway listens (port 0: none runs). */
static void
do_gateway(struct client *c, const cJSON *rq, void *arg)
{
	struct daemon	*d = arg;
	cJSON		*o = cJSON_CreateObject();

	(void)rq;
	cJSON_AddNumberToObject(o, "port", monproc_pid(d->gw) > 0 ||
	    !d->go.disabled ? monproc_port(d->gw) : 0);
	cJSON_AddStringToObject(o, "bind", monproc_bind(d->gw));
	cJSON_AddNumberToObject(o, "pid", monproc_pid(d->gw));
	client_ok(c, o);
}

/* The monitor's channel is a control client that hears everything. */
static int
serve_monitor(void *arg, int fd, pid_t pid)
{
	return control_adopt(((struct daemon *)arg)->ctl, fd, pid, "monitor");
}

/* A child's end as waitpid() would have said it. */
static int
wait_status(const siginfo_t *si)
{
	if (si->si_code == CLD_EXITED)
		return (si->si_status & 0xff) << 8;
	return (si->si_status & 0x7f) | (si->si_code == CLD_DUMPED ? 0x80 : 0);
}

/* One SIGCHLD may stand for many exits, orphans included when we are PID
 * 1 or a subreaper, and for a worker stopped or continued (the kernel
 * tells its parent; no timer asks). An orphan is of our tree: killed,
 * with whatever it left, so that nothing a dead worker's server started
 * survives it. */
static void
reap_children(struct daemon *d)
{
	siginfo_t	si;
	unsigned	adopted = 0, workers = 0;

	for (;;) {
		si.si_pid = 0;
		if (waitid(P_ALL, 0, &si, WEXITED | WSTOPPED | WCONTINUED |
		    WNOHANG) == -1 || si.si_pid == 0)
			break;
		if (si.si_code == CLD_STOPPED || si.si_code == CLD_TRAPPED ||
		    si.si_code == CLD_CONTINUED) {
			workers_paused(&d->sv, si.si_pid,
			    si.si_code != CLD_CONTINUED);
			continue;
		}
		if (!spawn_forget(si.si_pid))
			adopted++;
		else if (runtime_reaped(&d->sv, si.si_pid, wait_status(&si)))
			workers++;
		else if (!monproc_reaped(d->mon, si.si_pid, wait_status(&si)))
			monproc_reaped(d->gw, si.si_pid, wait_status(&si));
	}
	if (adopted > 0 || workers > 0)
		spawn_kill_adopted();
}

/* SIGHUP: every stack's files read again and applied, in our own
 * environment (a reload that needs the requester's is mcpvisor
 * reload's). */
static void
reload_on_hangup(struct daemon *d)
{
	struct deploy_request	 who = { .requester_uid = -1 };
	char			 id[64], *err = NULL;
	size_t			 n = 0;
	int			 r;

	for (const struct stack *st = d->sv.stacks; st != NULL;
	    st = st->next) {
		if (st->dep == NULL || !dep_running(st->dep))
			continue;
		n++;
		who.stack = st->name;
		if ((r = runtime_reload(&d->sv, &who, id, sizeof(id),
		    &err)) < 0)
			log_warnx("SIGHUP: stack %s not reloaded: %s",
			    st->name, err != NULL ? err : strerror(-r));
		else
			log_info("SIGHUP: reloading stack %s's files as %s",
			    st->name, id);
		free(err);
		err = NULL;
	}
	if (n == 0)
		log_warnx("SIGHUP: nothing reloaded: no deployment runs");
}

static void
on_signal(struct watcher *w, uint32_t events)
{
	struct daemon		*d = container_of(w, struct daemon, sigw);
	struct signalfd_siginfo	 si;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			reap_children(d);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("signal %d: stopping in order",
			    (int)si.ssi_signo);
			runtime_shutdown(&d->sv);
			break;
		case SIGHUP:
			reload_on_hangup(d);
			break;
		default:
			runtime_forward_signal(&d->sv, (int)si.ssi_signo);
			break;
		}
	}
}

static int
wire(struct daemon *d)
{
	struct supervisor	*sv = &d->sv;
	sigset_t		 set;
	const int		 sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP,
				    SIGUSR1, SIGUSR2, SIGQUIT };

	if (runtime_init(sv, d->state_dir, d->worker) < 0)
		return -1;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&set, sigs[i]);
	signal(SIGPIPE, SIG_IGN);
	if (loop_add_signals(&sv->loop, &d->sigw, &set, on_signal) < 0) {
		log_warn("signalfd");
		return -1;
	}
	if (control_open(sv, &d->ctl) < 0)
		return -1;
	d->mo.serve = serve_monitor;
	d->mo.serve_arg = d;
	if (monproc_new(sv, &d->mo, &d->mon) < 0)
		return -1;
	d->go.role = "gateway";
	d->go.log_name = "gateway";
	d->go.token_file = "gateway.token";
	d->go.token_env = "MCPVISOR_GATEWAY_TOKEN";
	d->go.program = d->gateway;
	d->go.serve = gwlink_serve;
	d->go.serve_arg = sv;
	if (d->gateway[0] == '\0')
		d->go.disabled = true;
	if (monproc_new(sv, &d->go, &d->gw) < 0)
		return -1;
	sv->wiring = d;
	sv->monitoring_off = d->mo.disabled;
	sv->on_event = wire_event;
	sv->on_watch = wire_watched;
	sv->on_finished = wire_finished;
	sv->on_prepared = wire_prepared;
	sv->want_monitor = wire_want_monitor;
	{
		static const struct request_key monitor_keys[] = {
			{ "port", RQ_NUMBER, false },
			{ "bind", RQ_STRING, false },
			{ "start", RQ_BOOL, false },
			{ NULL, RQ_STRING, false },
		};

		static const struct request_key gateway_keys[] = {
			{ NULL, RQ_STRING, false },
		};

		if (control_add_verb(d->ctl, "monitor", monitor_keys,
		    do_monitor, d) < 0 ||
		    control_add_verb(d->ctl, "gateway", gateway_keys,
		    do_gateway, d) < 0)
			return -1;
	}
#ifdef MCPVISOR_SYNTHETIC_EVENTS
	synthetic_register(d->ctl, sv, &d->synth);
#endif
	return 0;
}

static void
unwire(struct daemon *d)
{
#ifdef MCPVISOR_SYNTHETIC_EVENTS
	synthetic_stop(&d->synth);
#endif
	control_free(d->ctl);
	d->ctl = NULL;
	monproc_free(d->mon);
	d->mon = NULL;
	monproc_free(d->gw);
	d->gw = NULL;
	gwlink_free(&d->sv);
	d->sv.on_event = NULL;
	d->sv.on_watch = NULL;
	d->sv.on_finished = NULL;
	d->sv.on_prepared = NULL;
	d->sv.want_monitor = NULL;
	if (d->sigw.fd > 0) {
		loop_del(&d->sv.loop, &d->sigw);
		close(d->sigw.fd);
	}
	runtime_free(&d->sv);
	free(d->checks_dir);
}

/* --- what it runs --- */

/* mcpvisord --init SPEC: deploys at once; what cannot start is a
 * configuration error. */
static int
deploy_init(struct daemon *d)
{
	struct deploy_request	 rq = { .environment = d->po.environment,
				    .sequential = d->po.sequential,
				    .max_parallel = d->po.max_parallel,
				    .requester_uid = -1 };
	char			 id[64], *err = NULL;
	char			*spec = absolute(d->init);
	char			*cfg = absolute(d->paths.config_dir);
	char			*chk = realpath(d->paths.checks_dir, NULL);
	int			 r;

	rq.spec_path = spec;
	rq.config_dir = cfg;
	rq.checks_dir = chk;
	if ((r = runtime_deploy(&d->sv, &rq, id, sizeof(id), &err)) < 0) {
		fprintf(stderr, "%s", err != NULL ? err : "");
		log_warnx("deployment %s cannot start", d->init);
	}
	free(err);
	free(spec);
	free(cfg);
	free(chk);
	return r;
}

static int
serve(struct daemon *d)
{
	struct supervisor	*sv = &d->sv;
	int			 r, status;

	sd_notify_state("READY=1");
	if (d->notify_fd != -1) {
		/* whoever started us connects now, with no wait of its own */
		(void)!write(d->notify_fd, "\n", 1);
		close(d->notify_fd);
		d->notify_fd = -1;
	}
	log_debug("serving %s/control.sock", d->state_dir);
	/* after-the-fact hooks (post-rollback) may outlive the deployment */
	while (!sv->done || (hooks_pending(sv) && !sv->grace_expired)) {
		if ((r = runtime_turn(sv, -1)) < 0) {
			/* epoll_wait itself failed: it would again */
			log_warnx("the loop: %s: giving up", strerror(-r));
			sv->exit_status = SV_EXIT_TEMPFAIL;
			break;
		}
		control_turn_end(d->ctl);
	}
	sd_notify_state("STOPPING=1");
	monproc_stop(d->mon);
	monproc_stop(d->gw);
	forkserver_stop(sv);
	/* workers told to stop exit on their own: reap them (a second at
	 * most) rather than leave them to whoever inherits them */
	for (int i = 0; i < 500 && (waitpid(-1, &status, WNOHANG) != -1 ||
	    errno != ECHILD); i++)
		usleep(2000);
	workers_bury(sv);
	workers_remove_cgroups(sv);
	return sv->exit_status;
}

static const struct option longopts[] = {
	{ "check", required_argument, NULL, 't' },
	{ "init", required_argument, NULL, 'i' },
	{ "environment", required_argument, NULL, 'e' },
	{ "config-dir", required_argument, NULL, 'c' },
	{ "checks-dir", required_argument, NULL, 'k' },
	{ "state-dir", required_argument, NULL, 'S' },
	{ "backup-dir", required_argument, NULL, 'B' },
	{ "worker", required_argument, NULL, 'W' },
	{ "monitor", required_argument, NULL, 'M' },
	{ "no-monitoring", no_argument, NULL, 'N' },
	{ "monitor-port", required_argument, NULL, 'P' },
	{ "monitor-bind", required_argument, NULL, 'b' },
	{ "grace", required_argument, NULL, 'g' },
	{ "sequential", no_argument, NULL, 's' },
	{ "max-parallel", required_argument, NULL, 'p' },
	{ "approvers-group", required_argument, NULL, 'A' },
	{ "notify-fd", required_argument, NULL, 'F' },
	{ "once", no_argument, NULL, 'O' },
	{ "limits-optional", no_argument, NULL, 'L' },
	{ "secrets-dir", required_argument, NULL, 'C' },
	{ "no-fork-server", no_argument, NULL, 'Z' },
	{ "gateway", required_argument, NULL, 'G' },
	{ "no-gateway", no_argument, NULL, 'X' },
	{ "gateway-port", required_argument, NULL, 'Q' },
	{ "gateway-bind", required_argument, NULL, 'R' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void
parse_options(struct daemon *d, int argc, char **argv)
{
	char	*end;
	int	 c;

	while ((c = getopt_long(argc, argv, "t:i:e:c:k:S:B:W:M:NP:b:g:sp:vh",
	    longopts, NULL)) != -1) {
		switch (c) {
		case 't':	d->check = optarg; break;
		case 'i':	d->init = optarg; break;
		case 'e':	d->po.environment = optarg; break;
		case 'c':	d->paths.config_dir = optarg; break;
		case 'k':	d->paths.checks_dir = optarg; break;
		case 'S':	d->state_dir = optarg; break;
		case 'B':
			if (optarg[0] != '/' || strlen(optarg) >=
			    sizeof(d->sv.backup_dir))
				fatalx(SV_EXIT_CONFIG, "--backup-dir takes an "
				    "absolute path");
			snprintf(d->sv.backup_dir, sizeof(d->sv.backup_dir),
			    "%s", optarg);
			break;
		case 'W':	snprintf(d->worker, sizeof(d->worker), "%s",
				    optarg);
				break;
		case 'M':	snprintf(d->monitor, sizeof(d->monitor), "%s",
				    optarg);
				break;
		case 'N':	d->mo.disabled = true; break;
		case 'G':	snprintf(d->gateway, sizeof(d->gateway), "%s",
				    optarg);
				break;
		case 'X':	d->go.disabled = true; break;
		case 'R':	d->go.bind = optarg; break;
		case 'Q':
			d->go.port = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || d->go.port == 0 ||
			    d->go.port > 65535)
				fatalx(SV_EXIT_CONFIG, "--gateway-port takes "
				    "1 to 65535");
			break;
		case 'b':	d->mo.bind = optarg; break;
		case 'P':
			d->mo.port = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || d->mo.port == 0 ||
			    d->mo.port > 65535)
				fatalx(SV_EXIT_CONFIG, "--monitor-port takes "
				    "1 to 65535");
			break;
		case 's':	d->po.sequential = true; break;
		case 'A': {
			struct group	*g = getgrnam(optarg);

			if (g == NULL)
				fatalx(SV_EXIT_CONFIG, "--approvers-group: no "
				    "group '%s'", optarg);
			d->sv.approvers_gid = (int)g->gr_gid;
			break;
		}
		case 'v':	d->verbose = true; break;
		case 'Z':	d->sv.forkserver.off = true; break;
		case 'O':	d->sv.once = true; break;
		case 'L':	d->sv.limits_optional = true; break;
		case 'C':
			if (optarg[0] != '/' || strlen(optarg) >=
			    sizeof(d->sv.secrets_dir))
				fatalx(SV_EXIT_CONFIG, "--secrets-dir takes an "
				    "absolute path");
			snprintf(d->sv.secrets_dir, sizeof(d->sv.secrets_dir),
			    "%s", optarg);
			break;
		case 'F':
			d->notify_fd = (int)strtol(optarg, &end, 10);
			/* ours only: no worker or server inherits it */
			if (*end != '\0' || d->notify_fd < 3 ||
			    fcntl(d->notify_fd, F_SETFD, FD_CLOEXEC) == -1)
				fatalx(SV_EXIT_CONFIG, "--notify-fd takes an "
				    "open descriptor above 2");
			break;
		case 'g':
			d->grace = strtol(optarg, &end, 10);
			if (*end != '\0' || d->grace < 0 || d->grace > 3600)
				fatalx(SV_EXIT_CONFIG, "--grace takes 0 to "
				    "3600 seconds");
			break;
		case 'p':
			d->po.max_parallel = (unsigned)strtoul(optarg, &end,
			    10);
			if (*end != '\0' || d->po.max_parallel == 0)
				fatalx(SV_EXIT_CONFIG, "--max-parallel takes "
				    "a positive number");
			break;
		case 'V':
			printf("mcpvisord %s\n", MCPVISOR_VERSION);
			exit(0);
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			fputs(usage, stderr);
			exit(SV_EXIT_CONFIG);
		}
	}
	if (optind != argc || (d->check != NULL && d->init != NULL)) {
		fputs(usage, stderr);
		exit(SV_EXIT_CONFIG);
	}
	if (d->sv.once && d->init == NULL)
		fatalx(SV_EXIT_CONFIG, "--once goes with --init SPEC");
	/* the container image says so for every mcpvisord it runs, the
	 * one `deploy start --once` becomes included */
	if (getenv("MCPVISOR_LIMITS") != NULL &&
	    strcmp(getenv("MCPVISOR_LIMITS"), "optional") == 0)
		d->sv.limits_optional = true;
	d->po.limits_optional = d->sv.limits_optional;
	if (!(d->sv.filesystem_views = prepare_probe_unshare(
	    PREPARE_VIEW_NAMESPACES) == 0))
		log_info("no mount or PID namespace can be made here (they "
		    "take CAP_SYS_ADMIN): servers that do not ask for "
		    "sandbox.filesystem: strict get the host's filesystem");
	if (!(d->sv.dynamic_users = dynuser_possible()))
		log_info("servers without run.user run as mcpvisord's user "
		    "(uid %u): only root may give each one a dynamic user",
		    (unsigned)geteuid());
	/* systemd's LoadCredential= puts them there */
	if (d->sv.secrets_dir[0] == '\0' && getenv("CREDENTIALS_DIRECTORY") !=
	    NULL && getenv("CREDENTIALS_DIRECTORY")[0] == '/')
		snprintf(d->sv.secrets_dir, sizeof(d->sv.secrets_dir), "%s",
		    getenv("CREDENTIALS_DIRECTORY"));
	if (d->sv.secrets_dir[0] != '\0')
		d->po.render.secrets_dir = d->sv.secrets_dir;
}

int
main(int argc, char **argv)
{
	static struct daemon	 d;
	int			 status;

	if (config_dir_default(d.configbuf, sizeof(d.configbuf)) < 0)
		fatalx(SV_EXIT_CONFIG, "the default configuration directory's "
		    "name is too long: give --config-dir");
	d.paths.config_dir = d.configbuf;
	d.po.paths = &d.paths;
	d.mo.program = d.monitor;
	d.grace = 9;
	d.notify_fd = -1;
	d.sv.approvers_gid = -1;
	parse_options(&d, argc, argv);
	log_init("mcpvisord", d.verbose);
	/* orphans of our tree are told apart from the children we start */
	spawn_track_children();
	if (d.paths.checks_dir == NULL &&
	    (d.paths.checks_dir = d.checks_dir = config_sibling_dir(
	    d.paths.config_dir, "health-checks")) == NULL)
		fatalx(SV_EXIT_TEMPFAIL, "out of memory");
	if (d.check != NULL) {
		d.po.spec_path = d.check;
		d.po.host_checks = true;
		status = check_only(&d.po);
		free(d.checks_dir);
		return status;
	}
	if (d.state_dir == NULL) {
		if (state_dir_default(d.statebuf, sizeof(d.statebuf)) < 0)
			fatalx(SV_EXIT_CONFIG, "no state directory: give "
			    "--state-dir");
		d.state_dir = d.statebuf;
	}
	if (d.worker[0] == '\0')
		default_helper(d.worker, sizeof(d.worker), "mcpvisor-worker",
		    true);
	if (d.monitor[0] == '\0')
		default_helper(d.monitor, sizeof(d.monitor), "mcpvisor-monitor",
		    false);
	if (d.gateway[0] == '\0' && !d.go.disabled)
		default_helper(d.gateway, sizeof(d.gateway), "mcpvisor-gateway",
		    false);
	d.sv.grace_ms = (unsigned)d.grace * 1000;
	/* before any child: they are born where it is */
	{
		struct errbuf	err;

		if (cgroup_daemon_leaf(&err) < 0)
			log_warnx("cgroup: %s: servers' limits may not be "
			    "enforceable", err.msg);
	}
	d.sv.init_mode = d.init != NULL;
	if (wire(&d) < 0)
		return SV_EXIT_TEMPFAIL;
	/* up before any deployment, so that a client sees it from its
	 * first event; a deployment may then move it or turn it off */
	monproc_want(d.mon, true, MONITOR_PORT_DEFAULT);
	monproc_want(d.gw, true, GATEWAY_PORT_DEFAULT);
	if (d.init != NULL && deploy_init(&d) < 0) {
		unwire(&d);
		return SV_EXIT_CONFIG;
	}
	if (d.init == NULL)
		runtime_recover(&d.sv);
	status = serve(&d);
	unwire(&d);
	return status;
}
