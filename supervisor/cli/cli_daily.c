/*
 * The daily verbs, as systemctl and supervisorctl have them:
 *
 *	mcpvisor status [SERVER...] [--json]   every server at a glance
 *	mcpvisor logs [-f] [-n N] SERVER...    a server's output
 *	mcpvisor kill [-s SIG] SERVER...       a signal to servers
 *	mcpvisor stop|start|restart SERVER...  servers, in dependency order
 *	mcpvisor shutdown                      stop everything, then the daemon
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_link.h"
#include "frame.h"
#include "procstat.h"
#include "runspec.h"
#include "schema.h"
#include "state.h"

static const char usage_status[] =
"usage: mcpvisor status [SERVER...] [--json]\n"
"\n"
"Every server of every deployment mcpvisord runs (or those named): its\n"
"deployment, state, pid, uptime, restarts, last health check and the URL\n"
"where the gateway serves it to MCP clients; --json for machines. Exit 0;\n"
"3 when a server named is not running (or no mcpvisord is), as systemctl\n"
"status says; 2 for a name no deployment has.\n";

static const char usage_logs[] =
"usage: mcpvisor logs [-f] [-n N] SERVER...\n"
"\n"
"A server's output (what it wrote to stderr, and to stdout when stdout is\n"
"not its MCP channel), from STATE-DIR/servers/SERVER/output.log; several\n"
"servers are told apart by a prefix. -n N: the last N lines only (default:\n"
"all); -f: then follow, across the log's rotations, until interrupted.\n";

static const char usage_kill[] =
"usage: mcpvisor kill [-s SIGNAL] SERVER...\n"
"\n"
"Sends SIGNAL (TERM, INT, HUP, QUIT, KILL, USR1 or USR2; default TERM) to\n"
"each server's process group, through its worker, as systemctl kill does;\n"
"each is an event (server_signalled). A server that dies of it is restarted\n"
"as its restart policy says. Nothing is sent unless every server named\n"
"runs. Exit 0; 3 when one is not running (or no mcpvisord is); 2 for a\n"
"name the current deployment has not.\n";

static const char usage_stop[] =
"usage: mcpvisor stop [-d|--with-dependents] SERVER...\n"
"\n"
"Stops servers of the current deployment, dependents first, and returns\n"
"once they have stopped. A server whose dependents run is refused unless\n"
"-d, which stops them too. Exit 0; 1 when it fails or is refused; 2 for\n"
"a name the deployment has not; 3 when no deployment runs.\n";

static const char usage_start[] =
"usage: mcpvisor start SERVER...\n"
"\n"
"Starts stopped servers of the current deployment, each dependency that\n"
"is not running first, and returns once every one is ready (its\n"
"readiness and timeout_seconds as in a deployment). Exit codes as stop's.\n";

static const char usage_restart[] =
"usage: mcpvisor restart SERVER...\n"
"\n"
"Stops servers of the current deployment (dependents of one another\n"
"first), starts them again in dependency order, and returns once every\n"
"one is ready; their dependents keep running. Exit codes as stop's.\n";

static const char usage_shutdown[] =
"usage: mcpvisor shutdown\n"
"\n"
"Stops every deployment in reverse dependency order, as SIGTERM does, and\n"
"waits until mcpvisord has exited. Exit 0 (also when none runs).\n";

/* --- asking --- */

/* The answer to rq (which is freed), or NULL, said. */
static cJSON *
ask_request(struct cli *cli, cJSON *rq, struct daemon_link *c)
{
	cJSON	*resp = NULL;
	uint8_t	 type;

	if (link_request(c, rq) == 0)
		while (link_next(c, &type, &resp) == 1 &&
		    type != FRAME_RESPONSE) {
			cJSON_Delete(resp);
			resp = NULL;
		}
	cJSON_Delete(rq);
	if (resp == NULL)
		fprintf(stderr, "mcpvisor: mcpvisord at %s closed the "
		    "connection without an answer\n", cli->state_dir);
	return resp;
}

static cJSON *
ask(struct cli *cli, const char *verb, struct daemon_link *c)
{
	cJSON	*rq = cJSON_CreateObject();

	cJSON_AddStringToObject(rq, "verb", verb);
	return ask_request(cli, rq, c);
}

/* --- status --- */

static void
uptime_text(long long pid, char *buf, size_t size)
{
	uint64_t	started, now;
	struct timespec	ts;
	long long	s;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (pid <= 0 || proc_started_ms((pid_t)pid, &started) < 0 ||
	    started > now) {
		snprintf(buf, size, "-");
		return;
	}
	s = (long long)((now - started) / 1000);
	if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

static const char *
str(const cJSON *o, const char *key)
{
	const char	*s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s != NULL ? s : "";
}

static long long
num(const cJSON *o, const char *key)
{
	const cJSON	*v = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

/* Its checks' latest results in a word: "-" (none), "healthy (N)", or
 * the first failing. */
static const char *
health_text(const cJSON *h, char *buf, size_t size)
{
	const cJSON	*c;
	int		 n = 0;

	cJSON_ArrayForEach(c, h) {
		if (!cJSON_IsTrue(cJSON_GetObjectItem(c, "healthy"))) {
			snprintf(buf, size, "failing: %s", c->string);
			return buf;
		}
		n++;
	}
	if (n == 0)
		return "-";
	snprintf(buf, size, "healthy (%d)", n);
	return buf;
}

static bool
running_state(const char *state)
{
	return strcmp(state, "ready") == 0 || strcmp(state, "starting") == 0;
}

/* Whether name is a server of some record; else the nearest, in near. */
static bool
known(const cJSON *recs, const char *name, char *near, size_t size)
{
	const cJSON	*rec, *s;
	const char	*names[512];
	size_t		 n = 0;

	cJSON_ArrayForEach(rec, recs)
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(rec, "servers")) {
			if (strcmp(str(s, "name"), name) == 0)
				return true;
			if (n + 1 < sizeof(names) / sizeof(names[0]))
				names[n++] = str(s, "name");
		}
	names[n] = NULL;
	snprintf(near, size, "%s", n > 0 && schema_nearest(names, name) !=
	    NULL ? schema_nearest(names, name) : "");
	return false;
}

static bool
wanted(char **names, int n, const char *name)
{
	if (n == 0)
		return true;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

/* Where the gateway serves servers, "" when no gateway runs or none of
 * recs' servers is served by it. */
static void
gateway_base(struct cli *cli, const cJSON *recs, char *base, size_t size)
{
	const cJSON	*rec, *s;
	char		 where[64];
	const char	*host;
	long		 port = 0;
	bool		 any = false;

	base[0] = '\0';
	cJSON_ArrayForEach(rec, recs)
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(rec, "servers"))
			any |= cJSON_IsTrue(cJSON_GetObjectItem(s, "gateway"));
	if (!any || cli_helper_where(cli, "gateway", false, 0, NULL, &port,
	    where) != 0 || port == 0)
		return;
	host = cli_reach(where);
	snprintf(base, size, "http://%s%s%s:%ld/servers/",
	    strchr(host, ':') != NULL ? "[" : "", host,
	    strchr(host, ':') != NULL ? "]" : "", port);
}

int
cli_status(struct cli *cli, int argc, char **argv)
{
	struct daemon_link	 c = { .fd = -1 };
	cJSON			*resp, *recs, *rec, *s, *out = NULL;
	char			 near[128], up[32], base[128], url[256];
	int			 first, status, nnames;
	bool			 all_running = true, any = false;

	if ((first = cli_parse_simple(cli, argc, argv, usage_status,
	    &status)) < 0)
		return status;
	nnames = argc - first;
	if (link_connect(&c, cli->state_dir, false, NULL) < 0) {
		printf("mcpvisord is not running (state directory %s)\n",
		    cli->state_dir);
		return 3;
	}
	if ((resp = ask(cli, "records", &c)) == NULL) {
		link_close(&c);
		return CLI_EXIT_TEMPFAIL;
	}
	link_close(&c);
	recs = cJSON_GetObjectItem(resp, "deployments");
	for (int i = first; i < argc; i++)
		if (!known(recs, argv[i], near, sizeof(near))) {
			fprintf(stderr, "mcpvisor status: no server '%s'%s%s%s\n",
			    argv[i], near[0] != '\0' ? "; did you mean '" : "",
			    near, near[0] != '\0' ? "'?" : "");
			cJSON_Delete(resp);
			return CLI_EXIT_USAGE;
		}
	gateway_base(cli, recs, base, sizeof(base));
	if (cli->json)
		out = cJSON_CreateArray();
	else
		printf("%-22s %-20s %-11s %8s %9s %8s  %-16s %s\n",
		    "STACK", "SERVER", "STATE", "PID", "UPTIME",
		    "RESTARTS", "HEALTH", "URL");
	cJSON_ArrayForEach(rec, recs) {
		if (strcmp(str(rec, "state"), "done") == 0)
			continue;
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(rec, "servers")) {
			const cJSON	*h = cJSON_GetObjectItem(s, "health");
			char		 hbuf[96], pbuf[24];
			const char	*hs = health_text(h, hbuf, sizeof(hbuf));
			long long	 pid = num(s, "server_pid");

			if (!wanted(argv + first, nnames, str(s, "name")))
				continue;
			any = true;
			all_running &= running_state(str(s, "state"));
			uptime_text(running_state(str(s, "state")) ? pid : 0,
			    up, sizeof(up));
			url[0] = '\0';
			if (base[0] != '\0' && cJSON_IsTrue(cJSON_GetObjectItem(
			    s, "gateway")))
				snprintf(url, sizeof(url), "%s%s/mcp", base,
				    str(s, "name"));
			if (out != NULL) {
				cJSON	*e = cJSON_CreateObject();

				cJSON_AddStringToObject(e, "deployment",
				    str(rec, "deployment"));
				cJSON_AddStringToObject(e, "deployment_id",
				    str(rec, "id"));
				cJSON_AddStringToObject(e, "server",
				    str(s, "name"));
				cJSON_AddStringToObject(e, "state",
				    str(s, "state"));
				if (pid > 0)
					cJSON_AddNumberToObject(e, "pid",
					    (double)pid);
				cJSON_AddStringToObject(e, "uptime", up);
				cJSON_AddNumberToObject(e, "restarts",
				    (double)num(s, "restarts"));
				if (h != NULL)
					cJSON_AddItemToObject(e, "health",
					    cJSON_Duplicate(h, 1));
				if (url[0] != '\0')
					cJSON_AddStringToObject(e, "url", url);
				/* an http server's own, written or picked */
				if (num(s, "port") > 0)
					cJSON_AddNumberToObject(e, "port",
					    (double)num(s, "port"));
				cJSON_AddItemToArray(out, e);
				continue;
			}
			snprintf(pbuf, sizeof(pbuf), "%lld", pid);
			printf("%-22.22s %-20.20s %-11s %8s %9s %8lld  %-16s %s\n",
			    str(rec, "deployment"), str(s, "name"),
			    str(s, "state"), pid > 0 ? pbuf : "-", up,
			    num(s, "restarts"), hs, url[0] != '\0' ? url : "-");
		}
	}
	if (out != NULL) {
		cli_print_json(out);
		cJSON_Delete(out);
	} else if (!any)
		printf("(no server runs)\n");
	cJSON_Delete(resp);
	return nnames > 0 && !all_running ? 3 : CLI_EXIT_OK;
}

/* --- logs --- */

struct tail {
	const char	*name;
	char		 path[4200];
	int		 fd;
	ino_t		 ino;
	off_t		 off;
	char		 partial[4096];
	size_t		 npartial;
};

static void
emit(struct tail *t, bool prefix, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (t->npartial + 1 < sizeof(t->partial))
			t->partial[t->npartial++] = p[i];
		if (p[i] == '\n' || t->npartial + 1 >= sizeof(t->partial)) {
			if (prefix)
				printf("%s | ", t->name);
			fwrite(t->partial, 1, t->npartial, stdout);
			if (t->partial[t->npartial - 1] != '\n')
				putchar('\n');
			t->npartial = 0;
		}
	}
}

/* The offset of the start of the last n lines of fd (0: all of it). */
static off_t
last_lines(int fd, long n)
{
	struct stat	st;
	char		buf[8192];
	off_t		pos;
	long		seen = 0;

	if (n < 0 || fstat(fd, &st) == -1)
		return 0;
	if (n == 0)
		return st.st_size;
	pos = st.st_size;
	while (pos > 0) {
		size_t	len = pos > (off_t)sizeof(buf) ? sizeof(buf) :
			    (size_t)pos;
		ssize_t	got;

		pos -= (off_t)len;
		if ((got = pread(fd, buf, len, pos)) <= 0)
			return 0;
		for (ssize_t i = got - 1; i >= 0; i--)
			/* the file's last newline ends its last line */
			if (buf[i] == '\n' && pos + i + 1 != st.st_size &&
			    ++seen == n)
				return pos + i + 1;
	}
	return 0;
}

static int
tail_open(struct tail *t, long lines)
{
	struct stat	st;

	if ((t->fd = open(t->path, O_RDONLY | O_CLOEXEC)) == -1)
		return -errno;
	if (fstat(t->fd, &st) == 0)
		t->ino = st.st_ino;
	t->off = last_lines(t->fd, lines);
	return 0;
}

/* What was added since; with follow, a rotation (a new file at the path)
 * is read to its end first and the new file taken from its start. */
static void
tail_read(struct tail *t, bool prefix, bool follow)
{
	char		buf[8192];
	ssize_t		n;
	struct stat	st;

	while ((n = pread(t->fd, buf, sizeof(buf), t->off)) > 0) {
		emit(t, prefix, buf, (size_t)n);
		t->off += n;
	}
	if (!follow || stat(t->path, &st) == -1 || st.st_ino == t->ino)
		return;
	close(t->fd);
	t->npartial = 0;
	if (tail_open(t, -1) == 0) {
		t->off = 0;
		tail_read(t, prefix, false);
	}
}

static volatile sig_atomic_t	interrupted;

static void
on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

int
cli_logs(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tail	*tails;
	long		 lines = -1;
	bool		 follow = false;
	char		*end;
	int		 ch, n;

	(void)cli;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "fn:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':	follow = true; break;
		case 'n':
			lines = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || lines < 0) {
				fprintf(stderr, "mcpvisor logs: -n takes a "
				    "number of lines\n");
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h':	fputs(usage_logs, stdout); return CLI_EXIT_OK;
		default:	fputs(usage_logs, stderr); return CLI_EXIT_USAGE;
		}
	}
	if ((n = argc - optind) < 1) {
		fputs(usage_logs, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((tails = calloc((size_t)n, sizeof(*tails))) == NULL)
		return CLI_EXIT_TEMPFAIL;
	for (int i = 0; i < n; i++) {
		struct tail	*t = &tails[i];

		t->name = argv[optind + i];
		t->fd = -1;
		if (t->name[0] == '\0' || t->name[0] == '.' ||
		    strchr(t->name, '/') != NULL) {
			fprintf(stderr, "mcpvisor logs: '%s' is no server "
			    "name\n", t->name);
			goto usage;
		}
		snprintf(t->path, sizeof(t->path), "%s/servers/%s/output.log",
		    cli->state_dir, t->name);
		if (tail_open(t, lines) < 0) {
			fprintf(stderr, "mcpvisor logs: no server '%s' has run "
			    "here (%s: %s)\n", t->name, t->path,
			    strerror(errno));
			goto usage;
		}
	}
	signal(SIGINT, on_interrupt);
	signal(SIGTERM, on_interrupt);
	do {
		for (int i = 0; i < n; i++)
			tail_read(&tails[i], n > 1, follow);
		fflush(stdout);
		if (follow)
			(void)poll(NULL, 0, 200);
	} while (follow && !interrupted);
	for (int i = 0; i < n; i++)
		close(tails[i].fd);
	free(tails);
	return CLI_EXIT_OK;
usage:
	for (int i = 0; i < n; i++)
		if (tails[i].fd != -1)
			close(tails[i].fd);
	free(tails);
	return CLI_EXIT_USAGE;
}

/* --- kill --- */

int
cli_kill(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "signal", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_link	 c = { .fd = -1 };
	const char		*signal_name = "TERM", *error;
	cJSON			*rq, *names, *resp, *e;
	int			 ch, code;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			if (runspec_signal(optarg) == -1) {
				fprintf(stderr, "mcpvisor kill: no signal '%s' "
				    "(TERM, INT, HUP, QUIT, KILL, USR1 or "
				    "USR2)\n", optarg);
				return CLI_EXIT_USAGE;
			}
			signal_name = optarg;
			break;
		case 'h':	fputs(usage_kill, stdout); return CLI_EXIT_OK;
		default:	fputs(usage_kill, stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind == argc) {
		fputs(usage_kill, stderr);
		return CLI_EXIT_USAGE;
	}
	if (link_connect(&c, cli->state_dir, false, NULL) < 0) {
		fprintf(stderr, "mcpvisor kill: mcpvisord is not running (state "
		    "directory %s)\n", cli->state_dir);
		return 3;
	}
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", "kill");
	cJSON_AddStringToObject(rq, "signal", signal_name);
	names = cJSON_AddArrayToObject(rq, "servers");
	for (int i = optind; i < argc; i++)
		cJSON_AddItemToArray(names, cJSON_CreateString(argv[i]));
	resp = ask_request(cli, rq, &c);
	link_close(&c);
	if (resp == NULL)
		return CLI_EXIT_TEMPFAIL;
	if (!cJSON_IsTrue(cJSON_GetObjectItem(resp, "ok"))) {
		error = str(resp, "code");
		code = strcmp(error, "not_found") == 0 ? CLI_EXIT_USAGE :
		    strcmp(error, "not_running") == 0 ? 3 : CLI_EXIT_FAILED;
		fprintf(stderr, "mcpvisor kill: %s\n", str(resp, "error"));
		cJSON_Delete(resp);
		return code;
	}
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(resp, "signalled"))
		printf("SIG%s sent to %s (pid %lld)\n", str(resp, "signal"),
		    str(e, "server"), num(e, "pid"));
	cJSON_Delete(resp);
	return CLI_EXIT_OK;
}

/* --- stop, start, restart --- */

static void
print_names(const char *what, const cJSON *names)
{
	const cJSON	*n;
	bool		 first = true;

	if (cJSON_GetArraySize(names) == 0)
		return;
	printf("%s", what);
	cJSON_ArrayForEach(n, names) {
		printf("%s%s", first ? " " : ", ", cJSON_GetStringValue(n));
		first = false;
	}
	printf("\n");
}

static int
server_action(struct cli *cli, int argc, char **argv, const char *action,
    const char *usage)
{
	static const struct option longopts[] = {
		{ "with-dependents", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_link	 c = { .fd = -1 };
	bool			 with_dependents = false, stop;
	const char		*code, *outcome;
	cJSON			*rq, *names, *resp, *fin = NULL;
	uint8_t			 type;
	int			 ch, r;

	stop = strcmp(action, "stop") == 0;
	optind = 0;
	while ((ch = getopt_long(argc, argv, stop ? "dh" : "h", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (stop) {
				with_dependents = true;
				break;
			}
			/* FALLTHROUGH */
		default:	fputs(usage, stderr); return CLI_EXIT_USAGE;
		case 'h':	fputs(usage, stdout); return CLI_EXIT_OK;
		}
	}
	if (optind == argc) {
		fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (link_connect(&c, cli->state_dir, false, NULL) < 0) {
		fprintf(stderr, "mcpvisor %s: mcpvisord is not running (state "
		    "directory %s)\n", action, cli->state_dir);
		return 3;
	}
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", "server");
	cJSON_AddStringToObject(rq, "action", action);
	if (with_dependents)
		cJSON_AddBoolToObject(rq, "with_dependents", 1);
	names = cJSON_AddArrayToObject(rq, "servers");
	for (int i = optind; i < argc; i++)
		cJSON_AddItemToArray(names, cJSON_CreateString(argv[i]));
	if ((resp = ask_request(cli, rq, &c)) == NULL) {
		link_close(&c);
		return CLI_EXIT_TEMPFAIL;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItem(resp, "ok"))) {
		code = str(resp, "code");
		fprintf(stderr, "mcpvisor %s: %s\n", action, str(resp, "error"));
		r = strcmp(code, "not_found") == 0 ? CLI_EXIT_USAGE :
		    strcmp(code, "not_running") == 0 ? 3 : CLI_EXIT_FAILED;
		cJSON_Delete(resp);
		link_close(&c);
		return r;
	}
	print_names("stopping", cJSON_GetObjectItem(resp, "stops"));
	print_names("starting", cJSON_GetObjectItem(resp, "starts"));
	fflush(stdout);
	cJSON_Delete(resp);
	/* then, when it is over, the second answer */
	while (fin == NULL && link_next(&c, &type, &resp) == 1) {
		if (type == FRAME_RESPONSE && cJSON_IsTrue(cJSON_GetObjectItem(
		    resp, "finished")))
			fin = resp;
		else
			cJSON_Delete(resp);
	}
	link_close(&c);
	if (fin == NULL) {
		fprintf(stderr, "mcpvisor %s: mcpvisord closed the connection "
		    "before it was done\n", action);
		return CLI_EXIT_TEMPFAIL;
	}
	outcome = str(fin, "outcome");
	r = strcmp(outcome, "succeeded") == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
	if (r == CLI_EXIT_OK)
		printf("done\n");
	else
		fprintf(stderr, "mcpvisor %s: %s\n", action, outcome);
	cJSON_Delete(fin);
	return r;
}

int
cli_stop(struct cli *cli, int argc, char **argv)
{
	return server_action(cli, argc, argv, "stop", usage_stop);
}

int
cli_start(struct cli *cli, int argc, char **argv)
{
	return server_action(cli, argc, argv, "start", usage_start);
}

int
cli_restart(struct cli *cli, int argc, char **argv)
{
	return server_action(cli, argc, argv, "restart", usage_restart);
}

/* --- shutdown --- */

int
cli_shutdown(struct cli *cli, int argc, char **argv)
{
	struct daemon_link	 c = { .fd = -1 };
	cJSON			*resp, *j;
	uint8_t			 type;
	long long		 pid;
	int			 first, status;

	if ((first = cli_parse_simple(cli, argc, argv, usage_shutdown,
	    &status)) < 0)
		return status;
	if (first != argc) {
		fputs(usage_shutdown, stderr);
		return CLI_EXIT_USAGE;
	}
	if (link_connect(&c, cli->state_dir, false, NULL) < 0) {
		printf("mcpvisord is not running\n");
		return CLI_EXIT_OK;
	}
	if ((resp = ask(cli, "shutdown", &c)) == NULL) {
		link_close(&c);
		return CLI_EXIT_TEMPFAIL;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItem(resp, "ok"))) {
		fprintf(stderr, "mcpvisor shutdown: %s\n", str(resp, "error"));
		cJSON_Delete(resp);
		link_close(&c);
		return CLI_EXIT_FAILED;
	}
	pid = num(resp, "pid");
	cJSON_Delete(resp);
	/* the daemon closes us when it exits */
	while (link_next(&c, &type, &j) == 1)
		cJSON_Delete(j);
	link_close(&c);
	for (int i = 0; pid > 0 && kill((pid_t)pid, 0) == 0 && i < 3000; i++)
		(void)poll(NULL, 0, 10);
	if (pid > 0 && kill((pid_t)pid, 0) == 0) {
		fprintf(stderr, "mcpvisor shutdown: mcpvisord (pid %lld) is "
		    "still there after 30 s\n", pid);
		return CLI_EXIT_FAILED;
	}
	printf("mcpvisord (pid %lld) stopped every deployment and exited\n",
	    pid);
	return CLI_EXIT_OK;
}
