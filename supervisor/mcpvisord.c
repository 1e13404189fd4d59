/*
 * mcpvisord, the root supervisor.
 *
 *	mcpvisord [--state-dir DIR]		serve the control socket
 *	mcpvisord --init SPEC [--environment ENV]
 *						deploy SPEC and supervise it;
 *						fit to be PID 1 in a container
 *	mcpvisord --check SPEC			prepare SPEC, report, exit
 *
 * One loop (runtime.c) over epoll, a signalfd and a timerfd. Exit
 * statuses: 0 stopped in order, 1 the deployment failed, 3 the grace ran
 * out and stragglers were killed, 100 bad usage or configuration (do not
 * restart), 111 a temporary failure.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "diag.h"
#include "hooks.h"
#include "log.h"
#include "monproc.h"
#include "prepare.h"
#include "runtime.h"

#ifndef MCPVISOR_LIBEXECDIR
#define MCPVISOR_LIBEXECDIR "/usr/local/libexec"
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
"                    mcpvisord)\n";

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
static void
default_helper(char *buf, size_t size, const char *name)
{
	char	self[PATH_MAX];
	ssize_t	n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		snprintf(buf, size, "%s/%s", dirname(self), name);
		if (access(buf, X_OK) == 0)
			return;
	}
	snprintf(buf, size, "%s/mcpvisor/%s", MCPVISOR_LIBEXECDIR, name);
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

int
main(int argc, char **argv)
{
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
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct project_paths	 paths = { .config_dir = "deploy/config" };
	struct prepare_opts	 po = { .paths = &paths };
	struct supervisor	 sv;
	struct control		*ctl = NULL;
	const char		*check = NULL, *init = NULL, *state_dir = NULL;
	char			 statebuf[PATH_MAX], worker[PATH_MAX] = "";
	char			 monitor[PATH_MAX] = "";
	struct monproc_opts	 mo = { .program = monitor };
	char			*checks_dir = NULL, *end;
	bool			 verbose = false;
	long			 grace = 9;
	int			 c;

	memset(&sv, 0, sizeof(sv));
	while ((c = getopt_long(argc, argv, "t:i:e:c:k:S:B:W:M:NP:b:g:sp:vh", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 't':	check = optarg; break;
		case 'i':	init = optarg; break;
		case 'e':	po.environment = optarg; break;
		case 'c':	paths.config_dir = optarg; break;
		case 'k':	paths.checks_dir = optarg; break;
		case 'S':	state_dir = optarg; break;
		case 'B':
			if (optarg[0] != '/' || strlen(optarg) >=
			    sizeof(sv.backup_dir))
				fatalx(SV_EXIT_CONFIG, "--backup-dir takes an "
				    "absolute path");
			snprintf(sv.backup_dir, sizeof(sv.backup_dir), "%s",
			    optarg);
			break;
		case 'W':	snprintf(worker, sizeof(worker), "%s", optarg);
				break;
		case 'M':	snprintf(monitor, sizeof(monitor), "%s", optarg);
				break;
		case 'N':	mo.disabled = true; break;
		case 'b':	mo.bind = optarg; break;
		case 'P':
			mo.port = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || mo.port == 0 || mo.port > 65535)
				fatalx(SV_EXIT_CONFIG, "--monitor-port takes "
				    "1 to 65535");
			break;
		case 's':	po.sequential = true; break;
		case 'v':	verbose = true; break;
		case 'g':
			grace = strtol(optarg, &end, 10);
			if (*end != '\0' || grace < 0 || grace > 3600)
				fatalx(SV_EXIT_CONFIG, "--grace takes 0 to "
				    "3600 seconds");
			break;
		case 'p':
			po.max_parallel = (unsigned)strtoul(optarg, &end, 10);
			if (*end != '\0' || po.max_parallel == 0)
				fatalx(SV_EXIT_CONFIG, "--max-parallel takes "
				    "a positive number");
			break;
		case 'V':
			printf("mcpvisord %s\n", MCPVISOR_VERSION);
			return 0;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return SV_EXIT_CONFIG;
		}
	}
	log_init("mcpvisord", verbose);
	if (optind != argc || (check != NULL && init != NULL)) {
		fputs(usage, stderr);
		return SV_EXIT_CONFIG;
	}
	if (paths.checks_dir == NULL &&
	    (paths.checks_dir = checks_dir = config_sibling_dir(
	    paths.config_dir, "health-checks")) == NULL)
		fatalx(SV_EXIT_TEMPFAIL, "out of memory");
	if (check != NULL) {
		int	status;

		po.spec_path = check;
		status = check_only(&po);
		free(checks_dir);
		return status;
	}
	if (state_dir == NULL) {
		if (state_dir_default(statebuf, sizeof(statebuf)) < 0)
			fatalx(SV_EXIT_CONFIG, "no state directory: give "
			    "--state-dir");
		state_dir = statebuf;
	}
	if (worker[0] == '\0')
		default_helper(worker, sizeof(worker), "mcpvisor-worker");
	if (monitor[0] == '\0')
		default_helper(monitor, sizeof(monitor), "mcpvisor-monitor");
	sv.grace_ms = (unsigned)grace * 1000;
	sv.init_mode = init != NULL;
	if (runtime_init(&sv, state_dir, worker) < 0)
		return SV_EXIT_TEMPFAIL;
	if (control_open(&sv, &ctl) < 0)
		return SV_EXIT_TEMPFAIL;
	/* up before any deployment, so that a client sees it from its
	 * first event; a deployment may then move it or turn it off */
	if (monproc_init(&sv, &mo) < 0)
		return SV_EXIT_TEMPFAIL;
	monproc_want(&sv, true, MONITOR_PORT_DEFAULT);
	if (init != NULL) {
		struct deploy_request	 rq = { .environment = po.environment,
					    .sequential = po.sequential,
					    .max_parallel = po.max_parallel };
		char			 id[64], *err = NULL;
		char			*spec = absolute(init);
		char			*cfg = absolute(paths.config_dir);
		char			*chk = realpath(paths.checks_dir, NULL);

		rq.spec_path = spec;
		rq.config_dir = cfg;
		rq.checks_dir = chk;
		if (runtime_deploy(&sv, &rq, id, sizeof(id), &err) < 0) {
			fprintf(stderr, "%s", err != NULL ? err : "");
			log_warnx("deployment %s cannot start", init);
			free(err);
			free(spec);
			free(cfg);
			free(chk);
			control_free(ctl);
			runtime_free(&sv);
			free(checks_dir);
			return SV_EXIT_CONFIG;
		}
		free(spec);
		free(cfg);
		free(chk);
	} else
		runtime_recover(&sv);
	sd_notify_state("READY=1");
	log_debug("serving %s/control.sock", state_dir);
	/* after-the-fact hooks (post-rollback) may outlive the deployment */
	while (!sv.done || (hooks_pending(&sv) && !sv.grace_expired)) {
		runtime_turn(&sv, -1);
		control_turn_end(ctl);
	}
	sd_notify_state("STOPPING=1");
	monproc_stop(&sv);
	/* workers told to stop exit on their own: reap them (a second at
	 * most) rather than leave them to whoever inherits them */
	for (int i = 0; i < 500 && (waitpid(-1, NULL, WNOHANG) != -1 ||
	    errno != ECHILD); i++)
		usleep(2000);
	control_free(ctl);
	monproc_free(&sv);
	runtime_free(&sv);
	free(checks_dir);
	return sv.exit_status;
}
