/*
 * mcpvisor monitor: run mcpvisor-monitor by hand against a running
 * mcpvisord, and look at what it shows: a deployment's progress with each
 * server's state, health and usage, the recent events, the metrics.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include "cli.h"
#include "daemon_link.h"
#include "state.h"
#include "util.h"


static const char usage_start[] =
"usage: mcpvisor monitor start [--port N] [--bind ADDR]\n"
"\n"
"Makes sure mcpvisord's monitor runs, on port N and address ADDR when\n"
"given (moving it there), starting mcpvisord first when none runs, and\n"
"returns once it listens: WebSocket events, /metrics and the dashboard,\n"
"before any deployment (default 127.0.0.1:8765). Later deployments find\n"
"it there, unless one names a port of its own or turns monitoring off.\n";

static const char usage_show[] =
"usage: mcpvisor monitor show DEPLOY_ID [--json]\n"
"       mcpvisor monitor show --events [--limit N] [--json]\n"
"       mcpvisor monitor show --metrics [--port N]\n"
"\n"
"A deployment's progress, each server's state, restarts, CPU, memory and\n"
"health; the most recent events (default 20); or the monitor's metrics in\n"
"Prometheus text, from its /metrics (on the port mcpvisord's monitor\n"
"listens on, or N).\n";

static const char usage_record[] =
"usage: mcpvisor monitor record SERVER NAME=VALUE...\n"
"\n"
"Records metrics for SERVER of the current deployment (the guide's\n"
"record_performance_metrics): each NAME (letters, digits and _) with a\n"
"number, in the metrics messages of the monitor's WebSocket (\"custom\")\n"
"and in its /metrics as mcpvisor_server_custom{name=\"NAME\"}.\n";

static const char *
str(const cJSON *o, const char *key)
{
	const char	*s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s != NULL ? s : "";
}

static double
num(const cJSON *o, const char *key)
{
	return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key));
}

int
cli_helper_where(struct cli *cli, const char *verb, bool start, long port,
    const char *bind_addr, long *port_out, char *bind_out)
{
	struct daemon_link	 conn = { .fd = -1 };
	struct cli_tail		 t = { .cli = cli };
	cJSON			*rq, *resp = NULL;
	int			 status;

	if (cli_connect(cli, &conn, start) < 0)
		return CLI_EXIT_TEMPFAIL;
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", verb);
	if (start)
		cJSON_AddBoolToObject(rq, "start", 1);
	if (port > 0)
		cJSON_AddNumberToObject(rq, "port", (double)port);
	if (bind_addr != NULL)
		cJSON_AddStringToObject(rq, "bind", bind_addr);
	status = link_request(&conn, rq) < 0 ? CLI_EXIT_TEMPFAIL :
	    cli_expect_ok(&conn, &t, &resp);
	cJSON_Delete(rq);
	link_close(&conn);
	if (status != 0)
		return status;
	*port_out = (long)json_int_within(cJSON_GetObjectItem(resp, "port"), 1,
	    65535, 0);
	snprintf(bind_out, 64, "%s", str(resp, "bind")[0] != '\0' ?
	    str(resp, "bind") : "127.0.0.1");
	cJSON_Delete(resp);
	return 0;
}

const char *
cli_reach(const char *bind_addr)
{
	return strcmp(bind_addr, "0.0.0.0") == 0 || strcmp(bind_addr, "::") ==
	    0 ? "127.0.0.1" : bind_addr;
}

static bool
listening(const char *addr, long port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET,
				    .sin_port = htons((uint16_t)port) };
	int			fd, r;

	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	close(fd);
	return r == 0;
}

static int
monitor_start(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "bind", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*bind_addr = NULL;
	char		 where[64], *end;
	long		 port = 0, at;
	int		 c, status;

	optind = 0;
	while ((c = getopt_long(argc, argv, "p:b:h", longopts, NULL)) != -1)
		switch (c) {
		case 'p':
			port = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || port < 1 ||
			    port > 65535) {
				fputs(usage_start, stderr);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'b':
			bind_addr = optarg;
			break;
		case 'h':
			fputs(usage_start, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(usage_start, stderr);
			return CLI_EXIT_USAGE;
		}
	if (optind != argc) {
		fputs(usage_start, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((status = cli_helper_where(cli, "monitor", true, port, bind_addr, &at,
	    where)) != 0)
		return status;
	/* answered at once; listening a moment later: a client connected
	 * right after this returns must find it */
	for (int i = 0; i < 100 && !listening(cli_reach(where), at); i++)
		usleep(100000);
	if (!listening(cli_reach(where), at)) {
		fprintf(stderr, "mcpvisor monitor start: the monitor is not "
		    "listening on %s port %ld after 10 s (see %s/logs/"
		    "monitoring_*.log)\n", where, at, cli->state_dir);
		return CLI_EXIT_FAILED;
	}
	printf("monitor on %s port %ld: ws://%s:%ld/ (events), "
	    "http://%s:%ld/ (dashboard), /metrics%s\n", where, at, cli_reach(where),
	    at, cli_reach(where), at, strncmp(where, "127.", 4) != 0 ?
	    "; beyond loopback, clients need STATE-DIR/monitor.token" : "");
	return CLI_EXIT_OK;
}

static void
show_deployment(const struct cli *cli, const cJSON *rec)
{
	const cJSON	*s, *c;
	unsigned	 total = (unsigned)json_int_within(cJSON_GetObjectItem(
			    rec, "total"), 0, UINT_MAX, 0);
	unsigned	 ready = (unsigned)json_int_within(cJSON_GetObjectItem(
			    rec, "ready"), 0, UINT_MAX, 0);
	unsigned	 pct = strcmp(str(rec, "state"), "succeeded") == 0 ? 100 :
			    total > 0 ? ready * 100 / total : 0;
	const char	*green = cli->color ? "\033[32m" : "";
	const char	*red = cli->color ? "\033[31m" : "";
	const char	*plain = cli->color ? "\033[0m" : "";

	printf("%s  %s (%s): %s, %s\n", str(rec, "id"), str(rec, "deployment"),
	    str(rec, "environment"), str(rec, "state"), str(rec, "outcome"));
	printf("  [");
	for (unsigned i = 0; i < 30; i++)
		putchar(i < pct * 30 / 100 ? '#' : '.');
	printf("] %u%%, %u/%u ready\n", pct, ready, total);
	printf("  %-22s %-10s %8s %7s %10s  %s\n", "SERVER", "STATE",
	    "RESTARTS", "CPU%", "RSS", "HEALTH");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(rec, "servers")) {
		const cJSON	*u = cJSON_GetObjectItem(s, "usage");
		const char	*st = str(s, "state");
		char		 cpu[16] = "-", rss[16] = "-";

		if (u != NULL) {
			snprintf(cpu, sizeof(cpu), "%.1f", num(u,
			    "cpu_percent"));
			snprintf(rss, sizeof(rss), "%.1f MiB", num(u,
			    "rss_bytes") / 1048576);
		}
		printf("  %-22s %s%-10s%s %8.0f %7s %10s  ", str(s, "name"),
		    strcmp(st, "ready") == 0 ? green : strcmp(st, "failed") ==
		    0 ? red : "", st, plain, num(s, "restarts"), cpu, rss);
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(s, "health"))
			printf("%s%s%s %s  ", cJSON_IsTrue(cJSON_GetObjectItem(c,
			    "healthy")) ? green : red, cJSON_IsTrue(
			    cJSON_GetObjectItem(c, "healthy")) ? "ok" : "FAIL",
			    plain, c->string);
		putchar('\n');
	}
}

static int
show_events(struct cli *cli, long limit)
{
	char	 path[PATH_MAX + 32], *line = NULL;
	char	**ring;
	size_t	 cap = 0;
	long	 n = 0;
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/events.journal", cli->state_dir);
	if ((fp = fopen(path, "re")) == NULL) {
		fprintf(stderr, "mcpvisor monitor show: %s: %s\n", path,
		    strerror(errno));
		return errno == ENOENT ? CLI_EXIT_FAILED : CLI_EXIT_TEMPFAIL;
	}
	if ((ring = calloc((size_t)limit, sizeof(char *))) == NULL) {
		fclose(fp);
		return CLI_EXIT_TEMPFAIL;
	}
	/* the last limit lines, kept in a ring while reading */
	while (getline(&line, &cap, fp) > 0) {
		free(ring[n % limit]);
		ring[n % limit] = line;
		line = NULL;
		cap = 0;
		n++;
	}
	free(line);
	fclose(fp);
	for (long i = n > limit ? n - limit : 0; i < n; i++) {
		cJSON	*ev = cJSON_Parse(ring[i % limit]);

		if (cli->json)
			fputs(ring[i % limit], stdout);
		else if (ev != NULL)
			printf("%s  %-34s %-14s %-22s %s\n", str(ev,
			    "timestamp"), str(ev, "deployment_id"),
			    str(ev, "server_name"), str(ev, "event_type"),
			    str(ev, "message"));
		cJSON_Delete(ev);
	}
	for (long i = 0; i < limit; i++)
		free(ring[i]);
	free(ring);
	return CLI_EXIT_OK;
}

/* GET /metrics from the monitor, printed as it comes; beyond loopback
 * with the monitor's token, which is ours to read. */
int
cli_http_get(const char *who, const char *addr, long port, const char *path,
    const char *token, char **body_out)
{
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	char			 buf[16384], rq[512];
	char			*body = NULL;
	size_t			 len = 0;
	bool			 in_body = false;
	ssize_t			 n;
	int			 fd = -1, rlen;

	rlen = snprintf(rq, sizeof(rq), "GET %s HTTP/1.0\r\nHost: %s\r\n"
	    "%s%s%s\r\n", path, addr, token[0] != '\0' ?
	    "Authorization: Bearer " : "", token, token[0] != '\0' ?
	    "\r\n" : "");
	sin.sin_port = htons((uint16_t)port);
	if (rlen < 0 || rlen >= (int)sizeof(rq) ||
	    inet_pton(AF_INET, addr, &sin.sin_addr) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    write(fd, rq, (size_t)rlen) != rlen) {
		fprintf(stderr, "mcpvisor: the %s on %s port %ld: %s\n", who,
		    addr, port, strerror(errno));
		explicit_bzero(rq, sizeof(rq));
		if (fd != -1)
			close(fd);
		return CLI_EXIT_TEMPFAIL;
	}
	explicit_bzero(rq, sizeof(rq));
	/* the headers end at the first blank line; the rest is the body */
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char	*p = buf, *more;

		if (!in_body) {
			char	*end = memmem(buf, (size_t)n, "\r\n\r\n", 4);

			if (strncmp(buf, "HTTP/1.", 7) == 0 && n > 12 &&
			    strncmp(buf + 9, "200", 3) != 0) {
				fprintf(stderr, "mcpvisor: the %s answered "
				    "%.3s\n", who, buf + 9);
				close(fd);
				free(body);
				return CLI_EXIT_FAILED;
			}
			if (end == NULL)
				continue;
			in_body = true;
			p = end + 4;
		}
		if ((more = realloc(body, len + (size_t)(buf + n - p) + 1)) ==
		    NULL) {
			close(fd);
			free(body);
			return CLI_EXIT_TEMPFAIL;
		}
		body = more;
		memcpy(body + len, p, (size_t)(buf + n - p));
		len += (size_t)(buf + n - p);
		body[len] = '\0';
	}
	close(fd);
	if (body == NULL && (body = strdup("")) == NULL)
		return CLI_EXIT_TEMPFAIL;
	*body_out = body;
	return CLI_EXIT_OK;
}

static int
show_metrics(const struct cli *cli, const char *addr, long port)
{
	char	token[65] = "", *body;
	int	r;

	if (strncmp(addr, "127.", 4) != 0)
		state_monitor_token(cli->state_dir, token);
	r = cli_http_get("monitor", addr, port, "/metrics", token, &body);
	explicit_bzero(token, sizeof(token));
	if (r != CLI_EXIT_OK)
		return r;
	fputs(body, stdout);
	free(body);
	return CLI_EXIT_OK;
}

static int
monitor_show(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "events", no_argument, NULL, 'e' },
		{ "metrics", no_argument, NULL, 'm' },
		{ "limit", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool		 events = false, metrics = false;
	long		 limit = 20, port = 0;
	char		 where[64] = "127.0.0.1";
	char		*end;
	cJSON		*rec;
	int		 c, r;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1)
		switch (c) {
		case 'e':
			events = true;
			break;
		case 'm':
			metrics = true;
			break;
		case 'l':
		case 'p':
			r = (int)strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || r < 1 ||
			    r > (c == 'p' ? 65535 : 100000)) {
				fputs(usage_show, stderr);
				return CLI_EXIT_USAGE;
			}
			*(c == 'p' ? &port : &limit) = r;
			break;
		case 'j':
			cli->json = true;
			break;
		case 'h':
			fputs(usage_show, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(usage_show, stderr);
			return CLI_EXIT_USAGE;
		}
	if (events + metrics + (argc - optind) != 1) {
		fputs(usage_show, stderr);
		return CLI_EXIT_USAGE;
	}
	if (argc - optind == 1 && !cli_valid_id(argv[optind], "deploy_"))
		return cli_bad_id("monitor show", argv[optind], "deploy_");
	if (events)
		return show_events(cli, limit);
	if (metrics && port == 0 && (r = cli_helper_where(cli, "monitor", false, 0, NULL,
	    &port, where)) != 0)
		return r;
	if (metrics)
		return show_metrics(cli, cli_reach(where), port);
	if ((rec = cli_live_record(cli, argv[optind], true, NULL)) == NULL &&
	    (r = cli_load_record("monitor show", cli->state_dir,
	    "deployments", argv[optind], &rec)) != CLI_EXIT_OK)
		return r;
	if (cli->json) {
		char	*text = cJSON_Print(rec);

		printf("%s\n", text != NULL ? text : "{}");
		free(text);
	} else
		show_deployment(cli, rec);
	cJSON_Delete(rec);
	return CLI_EXIT_OK;
}

static int
monitor_record(struct cli *cli, int argc, char **argv)
{
	struct daemon_link	 conn = { .fd = -1 };
	struct cli_tail		 t = { .cli = cli };
	cJSON			*rq, *metrics, *resp;
	int			 i, status;

	if ((i = cli_parse_simple(cli, argc, argv, usage_record,
	    &status)) < 0)
		return status;
	if (argc - i < 2) {
		fputs(usage_record, stderr);
		return CLI_EXIT_USAGE;
	}
	rq = cJSON_CreateObject();
	cJSON_AddStringToObject(rq, "verb", "record_metrics");
	cJSON_AddStringToObject(rq, "server", argv[i]);
	metrics = cJSON_AddObjectToObject(rq, "metrics");
	for (int k = i + 1; k < argc; k++) {
		char	*eq = strchr(argv[k], '='), *end;
		double	 v;

		if (eq != NULL) {
			*eq = '\0';
			v = strtod(eq + 1, &end);
		}
		if (eq == NULL || eq[1] == '\0' || *end != '\0' ||
		    !util_metric_name_ok(argv[k])) {
			if (eq != NULL)
				*eq = '=';
			fprintf(stderr, "mcpvisor monitor record: '%s' is not "
			    "NAME=NUMBER (a name of letters, digits and _)\n",
			    argv[k]);
			cJSON_Delete(rq);
			return CLI_EXIT_USAGE;
		}
		cJSON_AddNumberToObject(metrics, argv[k], v);
		*eq = '=';
	}
	if (cli_connect(cli, &conn, false) < 0) {
		cJSON_Delete(rq);
		return CLI_EXIT_TEMPFAIL;
	}
	status = link_request(&conn, rq) < 0 ? CLI_EXIT_TEMPFAIL :
	    cli_expect_ok(&conn, &t, &resp);
	cJSON_Delete(rq);
	if (status == 0)
		cJSON_Delete(resp);
	link_close(&conn);
	return status;
}

int
cli_monitor(struct cli *cli, int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "start", monitor_start, "run the monitor, moved if asked" },
		{ "show", monitor_show, "a deployment, events or metrics" },
		{ "record", monitor_record, "record metrics for a server" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, "monitor", verbs, argc - 1, argv + 1);
}
