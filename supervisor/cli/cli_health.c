/*
 * mcpvisor health: register, list and run health checks without a
 * deployment. Checks come from the checks directory and from the files
 * registered into the state directory (which deployments see too). A
 * run happens here, in this process's own loop, with the same engine a
 * worker uses; checks that speak MCP over stdio get the server named by
 * --server, started for the run (unsandboxed, as the invoking user) and
 * stopped after.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "diag.h"
#include "errbuf.h"
#include "health.h"
#include "loop.h"
#include "prepare.h"
#include "render.h"
#include "secrets.h"
#include "runspec.h"
#include "schema.h"
#include "spawn.h"
#include "state.h"
#include "util.h"
#include "ynode.h"

#define STDIO_STOP_GRACE_MS	2000

static const char usage_register[] =
"usage: mcpvisor health register FILE [--json]\n"
"\n"
"Checks FILE (a health-check file: health_checks: [...]) and keeps a copy\n"
"in the state directory, where health list/run and every deployment find\n"
"it. Registering a file of the same name again replaces it. Check names\n"
"must stay unique across all files.\n";

static const char usage_list[] =
"usage: mcpvisor health list [--json]\n"
"\n"
"Every health check: name, type, whether critical, timeout, retries,\n"
"tags and the file that defines it.\n";

static const char usage_run[] =
"usage: mcpvisor health run (NAME... | --all | --tags T[,T...])\n"
"                           [--server S] [--environment E] [--json]\n"
"\n"
"Runs checks now, concurrently, with their retries; prints each result\n"
"as it comes. Templates in a check render against --environment and\n"
"--server; an MCP check over stdio runs against --server, started for\n"
"the run and stopped after; a check of port: auto checks --server's port\n"
"(written, or picked where it runs). Exit status 1 when a critical check\n"
"fails.\n";

/* --- register --- */

/* The name a registered copy gets: the file's, ending in .yaml. */
static void
registered_name(const char *path, char *buf, size_t size)
{
	const char	*base = strrchr(path, '/');
	size_t		 len;

	base = base != NULL ? base + 1 : path;
	len = strlen(base);
	if ((len > 5 && strcmp(base + len - 5, ".yaml") == 0) ||
	    (len > 4 && strcmp(base + len - 4, ".yml") == 0))
		snprintf(buf, size, "%s", base);
	else
		snprintf(buf, size, "%s.yaml", base);
}

static void
print_registered(const struct cli *cli, const struct ynode *list,
    const char *from, const char *mine)
{
	cJSON	*o, *names;
	char	*s;

	if (!cli->json) {
		printf("registered %zu health check%s from %s as %s:",
		    list->count, list->count == 1 ? "" : "s", from, mine);
		for (size_t k = 0; k < list->count; k++)
			printf(" %s", schema_str(list->items[k], "name", ""));
		printf("\n");
		return;
	}
	o = cJSON_CreateObject();
	names = cJSON_AddArrayToObject(o, "registered");
	for (size_t k = 0; k < list->count; k++)
		cJSON_AddItemToArray(names, cJSON_CreateString(
		    schema_str(list->items[k], "name", "")));
	cJSON_AddStringToObject(o, "path", mine);
	if ((s = cJSON_Print(o)) != NULL)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
}

/* Copies the file into the state directory; says why when it cannot. */
static int
keep_copy(const struct cli *cli, const char *from, const char *name)
{
	struct errbuf	 err = { "" };
	char		 rel[NAME_MAX + 32], *text = NULL;
	size_t		 len = 0;
	int		 r;

	snprintf(rel, sizeof(rel), "health-checks/%s", name);
	if ((r = read_file_capped(from, 0, YNODE_FILE_MAX, &text, &len,
	    NULL)) < 0 || (r = state_prepare(cli->state_dir, &err)) < 0 ||
	    (r = state_write_file(cli->state_dir, rel, text, len)) < 0)
		fprintf(stderr, "mcpvisor health register: %s: %s\n", from,
		    err.msg[0] != '\0' ? err.msg : strerror(-r));
	free(text);
	return r;
}

static int
health_register(struct cli *cli, int argc, char **argv)
{
	struct diag_list	 dl = { 0 };
	struct check_file	*cf = NULL;
	struct project		*p = NULL;
	const struct ynode	*list;
	char			 name[NAME_MAX + 1];
	char			 mine[sizeof(cli->registered_dir) + NAME_MAX + 2];
	int			 i, status = CLI_EXIT_CONFIG;

	if ((i = cli_parse_simple(cli, argc, argv, usage_register,
	    &status)) < 0)
		return status;
	if (argc - i != 1) {
		fputs(usage_register, stderr);
		return CLI_EXIT_USAGE;
	}
	if (check_file_load(argv[i], &cf, &dl) < 0)
		goto out;
	registered_name(argv[i], name, sizeof(name));
	snprintf(mine, sizeof(mine), "%s/%s", cli->registered_dir, name);
	/* names must stay unique; the copy this one replaces does not count */
	if (project_load(&cli->paths, &p, &dl) < 0) {
		status = CLI_EXIT_TEMPFAIL;
		goto out;
	}
	list = ynode_map_get(cf->doc, "health_checks");
	for (size_t k = 0; k < list->count; k++) {
		const char		*n = schema_str(list->items[k], "name",
					    "");
		const struct check_def	*d = project_check(p, n);

		if (d != NULL && strcmp(d->path, mine) != 0)
			diag_add(&dl, DIAG_ERROR, &list->items[k]->mark,
			    "health check '%s' is already defined in %s", n,
			    d->path);
	}
	if (dl.errors > 0)
		goto out;
	if (keep_copy(cli, argv[i], name) < 0)
		status = CLI_EXIT_TEMPFAIL;
	else {
		print_registered(cli, list, argv[i], mine);
		status = CLI_EXIT_OK;
	}
	goto done;
out:
	cli_print_diags(cli, &dl);
done:
	project_free(p);
	check_file_free(cf);
	diag_list_free(&dl);
	return status;
}

/* --- list --- */

static void
tags_text(const struct ynode *tags, char *buf, size_t size)
{
	size_t	off = 0;

	buf[0] = '\0';
	for (size_t i = 0; tags != NULL && i < tags->count && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s",
		    i > 0 ? "," : "", tags->items[i]->text);
}

static int
health_list(struct cli *cli, int argc, char **argv)
{
	struct diag_list	 dl = { 0 };
	struct project		*p = NULL;
	cJSON			*arr = NULL;
	int			 i, status = CLI_EXIT_CONFIG;

	if ((i = cli_parse_simple(cli, argc, argv, usage_list, &status)) < 0)
		return status;
	if (argc != i) {
		fputs(usage_list, stderr);
		return CLI_EXIT_USAGE;
	}
	if (project_load(&cli->paths, &p, &dl) < 0) {
		diag_list_free(&dl);
		return CLI_EXIT_TEMPFAIL;
	}
	if (dl.n > 0)
		diag_print(&dl, stderr);
	if (cli->json)
		arr = cJSON_CreateArray();
	else if (p->nchecks > 0)
		printf("%-24s %-12s %-8s %7s %7s  %-20s %s\n", "NAME", "TYPE",
		    "CRITICAL", "TIMEOUT", "RETRIES", "TAGS", "FILE");
	for (size_t k = 0; k < p->nchecks; k++) {
		const struct check_def	*d = &p->checks[k];
		char			 tags[256];

		if (arr != NULL) {
			cJSON	*o = check_json(d, NULL, true);

			cJSON_AddStringToObject(o, "file", d->path);
			cJSON_AddBoolToObject(o, "registered",
			    strncmp(d->path, cli->registered_dir,
			    strlen(cli->registered_dir)) == 0);
			cJSON_AddItemToArray(arr, o);
			continue;
		}
		tags_text(ynode_map_get(d->node, "tags"), tags, sizeof(tags));
		printf("%-24s %-12s %-8s %6llds %7lld  %-20s %s\n", d->name,
		    d->type, schema_bool(d->node, "critical", true) ? "yes" :
		    "no", schema_int(d->node, "timeout_seconds", 10),
		    schema_int(d->node, "retry_attempts", 3), tags[0] != '\0' ?
		    tags : "-", d->path);
	}
	if (arr != NULL) {
		char	*s = cJSON_Print(arr);

		if (s != NULL)
			printf("%s\n", s);
		free(s);
		cJSON_Delete(arr);
	} else if (p->nchecks == 0)
		printf("no health checks in %s or %s\n", cli->paths.checks_dir,
		    cli->registered_dir);
	status = dl.errors > 0 ? CLI_EXIT_CONFIG : CLI_EXIT_OK;
	project_free(p);
	diag_list_free(&dl);
	return status;
}

/* --- run --- */

struct run {
	struct cli	*cli;
	struct health	*h;
	size_t		 done;
	size_t		 passed;
	size_t		 failed_critical;
	size_t		 failed_other;
	cJSON		*results;	/* --json */
	/* the server an MCP stdio check talks to */
	pid_t		 server_pid;
	int		 server_in;
	int		 server_out;
	struct loop	 loop;
	struct watcher	 sigw;
	/* what the checks were rendered with: masked in what they say */
	struct secret_set secrets;
};

static void
on_result(void *arg, size_t i, const struct health_result *r)
{
	struct run	*run = arg;
	const char	*mark;
	char		 message[2048];

	(void)i;
	run->done++;
	if (r->healthy)
		run->passed++;
	else if (r->critical)
		run->failed_critical++;
	else
		run->failed_other++;
	if (run->results != NULL) {
		cJSON	*o = health_result_json(r);

		secrets_scrub_json(&run->secrets, o);
		/* the guide's word for it, beside the flag */
		cJSON_AddStringToObject(o, "status", r->healthy ? "healthy" :
		    "unhealthy");
		cJSON_AddItemToArray(run->results, o);
		return;
	}
	mark = r->healthy ? "ok" : r->critical ? "FAIL" : "warn";
	if (run->cli->color)
		printf("%s%-4s\033[0m", r->healthy ? "\033[32m" : r->critical ?
		    "\033[31m" : "\033[33m", mark);
	else
		printf("%-4s", mark);
	snprintf(message, sizeof(message), "%s", r->message);
	secrets_scrub(&run->secrets, message, strlen(message));
	printf(" %-24s %-11s %8.1f ms  %s%s\n", r->check, r->type,
	    r->response_ms, message, r->attempts > 1 ? " (after retries)" :
	    "");
	fflush(stdout);
}

/* Starts the server as a worker would (the same run spec: command,
 * arguments, environment, working directory), with its stdio as the MCP
 * channel, unsandboxed and as the invoking user. */
static int
start_stdio_server(struct run *run, const struct resolved_server *rs,
    const char *config_dir, struct errbuf *err)
{
	struct spawn_request	 sp = { .new_pgrp = true,
				    .pdeathsig = SIGKILL };
	struct runspec		*spec = NULL;
	char			**envp = NULL;
	int			 in[2] = { -1, -1 }, out[2] = { -1, -1 }, r;

	if ((r = runspec_from_yaml(rs->run, config_dir, &spec, err)) < 0)
		return r;
	if ((envp = runspec_envp(spec, getenv("HOME"), NULL)) == NULL ||
	    pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1) {
		r = -errno;
		errbuf_set(err, "%s", strerror(errno));
		goto out;
	}
	sp.path = spec->command;
	sp.argv = spec->argv;
	sp.envp = envp;
	sp.cwd = spec->cwd;
	sp.fds[sp.nfds++] = (struct spawn_fd){ 0, in[0] };
	sp.fds[sp.nfds++] = (struct spawn_fd){ 1, out[1] };
	sp.fds[sp.nfds++] = (struct spawn_fd){ 2, SPAWN_DEVNULL };
	if ((r = spawn_start(&sp, &run->server_pid, NULL)) < 0) {
		errbuf_set(err, "fork: %s", strerror(-r));
		goto out;
	}
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	run->server_in = in[1];
	run->server_out = out[0];
	in[1] = out[0] = -1;
	health_attach_stdio(run->h, run->server_in, run->server_out);
out:
	for (int k = 0; k < 2; k++) {
		if (in[k] != -1)
			close(in[k]);
		if (out[k] != -1)
			close(out[k]);
	}
	runspec_free_envp(envp);
	runspec_free(spec);
	return r;
}

/* MCP's own shutdown for stdio: close its input, wait, then signal. */
static void
stop_stdio_server(struct run *run)
{
	int	status;

	if (run->server_pid <= 0)
		return;
	health_detach_stdio(run->h, "the run is over");
	close(run->server_in);
	close(run->server_out);
	for (int i = 0; i < STDIO_STOP_GRACE_MS / 20; i++) {
		if (waitpid(run->server_pid, &status, WNOHANG) ==
		    run->server_pid)
			return;
		usleep(20000);
	}
	kill(-run->server_pid, SIGTERM);
	usleep(200000);
	kill(-run->server_pid, SIGKILL);
	waitpid(run->server_pid, &status, 0);
}

static void
on_signal(struct watcher *w, uint32_t events)
{
	struct run		*run = container_of(w, struct run, sigw);
	struct signalfd_siginfo	 si;
	int			 status;
	pid_t			 pid;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) > 0)
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == run->server_pid) {
			run->server_pid = 0;
			health_detach_stdio(run->h, "the server exited");
		} else
			health_child_exited(run->h, pid, status);
	}
}

static bool
selected(const struct check_def *d, char **names, int nnames,
    const char *tags)
{
	const struct ynode	*t = ynode_map_get(d->node, "tags");
	char			*copy, *save = NULL;
	bool			 hit = false;

	if (nnames > 0) {
		for (int i = 0; i < nnames; i++)
			if (strcmp(names[i], d->name) == 0)
				return true;
		return false;
	}
	if (tags == NULL)
		return true;
	if ((copy = strdup(tags)) == NULL)
		return false;
	for (char *tag = strtok_r(copy, ",", &save); tag != NULL && !hit;
	    tag = strtok_r(NULL, ",", &save))
		for (size_t i = 0; t != NULL && i < t->count; i++)
			hit |= strcmp(t->items[i]->text, tag) == 0;
	free(copy);
	return hit;
}

struct run_opts {
	bool		 all;
	const char	*tags;
	const char	*server;
	const char	*environment;
	char		 env_buf[256];	/* the running deployment's */
	char		 id_buf[128];
	unsigned	 port;		/* its server's, or 0 */
};

static int
parse_run(struct cli *cli, int argc, char **argv, struct run_opts *o,
    int *status)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "tags", required_argument, NULL, 't' },
		{ "server", required_argument, NULL, 's' },
		{ "environment", required_argument, NULL, 'e' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int	c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': o->all = true; break;
		case 't': o->tags = optarg; break;
		case 's': o->server = optarg; break;
		case 'e': o->environment = optarg; break;
		case 'j': cli->json = true; break;
		case 'h':
			fputs(usage_run, stdout);
			*status = CLI_EXIT_OK;
			return -1;
		default:
			fputs(usage_run, stderr);
			*status = CLI_EXIT_USAGE;
			return -1;
		}
	}
	if ((optind < argc) + o->all + (o->tags != NULL) != 1) {
		fputs(usage_run, stderr);
		*status = CLI_EXIT_USAGE;
		return -1;
	}
	return optind;
}

/* Renders and adds every selected check. Returns how many, or -1 with
 * the problems in dl. */
/* A check of port: auto checks --server's port: the one its file
 * writes, or the one mcpvisord picked for it where it runs (its record's);
 * with neither, the check says it has none. */
static void
fill_port_auto(cJSON *check, const struct resolved_server *rs,
    unsigned running)
{
	cJSON			*config = cJSON_GetObjectItem(check, "config");
	const cJSON		*port = cJSON_GetObjectItem(config, "port");
	const struct ynode	*written = rs != NULL ? ynode_map_get(rs->run,
				    "port") : NULL;
	unsigned		 p = running;

	if (!cJSON_IsString(port) || strcmp(port->valuestring,
	    RUNSPEC_PORT_AUTO) != 0)
		return;
	if (written != NULL && written->kind == YNODE_INT)
		p = (unsigned)written->v.i;
	else if (written != NULL && written->kind == YNODE_STRING &&
	    strcmp(written->text, RUNSPEC_PORT_AUTO) != 0)
		p = (unsigned)strtoul(written->text, NULL, 10);
	if (p > 0 && p <= 65535)
		cJSON_ReplaceItemInObject(config, "port", cJSON_CreateNumber(p));
}

static int
add_checks(struct run *run, const struct project *p, char **names,
    int nnames, const struct run_opts *o, const struct rendered_env *re,
    const struct resolved_server *rs, struct diag_list *dl)
{
	struct render_opts	 ro = { 0 };
	struct errbuf		 err = { "" };
	int			 n = 0;

	for (int i = 0; i < nnames; i++)
		if (project_check(p, names[i]) == NULL)
			diag_add_file(dl, DIAG_ERROR, NULL, "no health check "
			    "named '%s' (see mcpvisor health list)", names[i]);
	for (size_t k = 0; k < p->nchecks && dl->errors == 0; k++) {
		const struct check_def	*d = &p->checks[k];
		struct ynode		*cfg = NULL;
		cJSON			*j;
		int			 r;

		if (!selected(d, names, nnames, o->tags) ||
		    render_check(d, rs, re, &ro, &cfg, dl) < 0)
			continue;
		if (secrets_collect(&run->secrets, cfg) < 0)
			diag_add_file(dl, DIAG_ERROR, d->path, "out of memory");
		j = check_json(d, cfg, false);
		ynode_free(cfg);
		fill_port_auto(j, rs, o->port);
		if ((r = health_add(run->h, j, &err)) < 0)
			diag_add_file(dl, DIAG_ERROR, d->path, "%s", err.msg);
		cJSON_Delete(j);
		n += r >= 0;
	}
	if (dl->errors == 0 && n == 0)
		diag_add_file(dl, DIAG_ERROR, NULL, "no health check has the "
		    "tags '%s'", o->tags != NULL ? o->tags : "");
	if (dl->errors == 0 && health_wants_stdio(run->h) && rs == NULL)
		diag_add_file(dl, DIAG_ERROR, NULL, "a selected check speaks "
		    "MCP over the server's stdio: name the server with "
		    "--server");
	return dl->errors > 0 ? -1 : n;
}

/* Of the newest deployment not yet done that runs o->server, from the
 * records: its environment (into o->env_buf, what a check of a running
 * server renders against) and id, and the server's port (o->port, for a
 * check of port: auto). Whether one runs it. */
static bool
running_deployment(const struct cli *cli, struct run_opts *o)
{
	cJSON		**recs = NULL, *s;
	bool		  found = false;
	char		  why[160];
	int		  n = state_list_records(cli->state_dir, &recs);

	for (int i = 0; i < n; i++) {
		const char	*state = cJSON_GetStringValue(
				    cJSON_GetObjectItem(recs[i], "state"));
		const char	*env = cJSON_GetStringValue(
				    cJSON_GetObjectItem(recs[i], "environment"));

		if (found || state == NULL || env == NULL ||
		    strcmp(state, "done") == 0 ||
		    cli_record_damage(recs[i], why, sizeof(why)) != NULL)
			continue;
		cJSON_ArrayForEach(s, cJSON_GetObjectItem(recs[i], "servers"))
			if (!found && cJSON_IsString(cJSON_GetObjectItem(
			    s, "name")) && strcmp(cJSON_GetObjectItem(s,
			    "name")->valuestring, o->server) == 0) {
				snprintf(o->env_buf, sizeof(o->env_buf), "%s",
				    env);
				snprintf(o->id_buf, sizeof(o->id_buf), "%s",
				    cli_record_text(recs[i], "id"));
				o->port = (unsigned)json_int_within(
				    cJSON_GetObjectItem(s, "port"), 1, 65535, 0);
				found = true;
			}
	}
	for (int i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
	free(recs);
	return found;
}

/* The environment and server the checks render against (--environment,
 * --server): added to dl when they cannot be had. */
static void
render_context(struct cli *cli, const struct project *p, struct run_opts *o,
    struct rendered_env **re, struct resolved_server **rs,
    struct diag_list *dl)
{
	struct render_opts	 ro = { 0 };
	const struct env_config	*env = NULL;
	const struct server_config *srv;

	/* a server is rendered for an environment: that of the deployment
	 * that runs it, or else the only one there is, when none is named */
	if (o->server != NULL && running_deployment(cli, o) &&
	    o->environment == NULL) {
		o->environment = o->env_buf;
		if (!cli->json)
			fprintf(stderr, "mcpvisor health run: '%s' runs in %s: "
			    "environment %s\n", o->server, o->id_buf,
			    o->environment);
	}
	if (o->environment == NULL && o->server != NULL && p->nenvs == 1)
		o->environment = p->envs[0]->name;
	if (o->environment != NULL && (env = project_env(p,
	    o->environment)) == NULL)
		diag_add_file(dl, DIAG_ERROR, NULL, "no environment '%s' in "
		    "%s/environments", o->environment, cli->paths.config_dir);
	else if (o->server != NULL && env == NULL)
		diag_add_file(dl, DIAG_ERROR, NULL, "--server needs "
		    "--environment");
	else if (env != NULL && render_env(env, &ro, re, dl) == 0 &&
	    o->server != NULL) {
		if ((srv = project_server(p, o->server)) == NULL)
			diag_add_file(dl, DIAG_ERROR, NULL, "no server '%s' in "
			    "%s/servers", o->server, cli->paths.config_dir);
		else
			render_server(srv, *re, &ro, rs, dl);
	}
}

static void
print_summary(struct run *run)
{
	cJSON	*top;
	char	*s;

	if (run->results == NULL) {
		printf("%zu passed, %zu failed (%zu critical)\n", run->passed,
		    run->failed_critical + run->failed_other,
		    run->failed_critical);
		return;
	}
	top = cJSON_CreateObject();
	cJSON_AddItemToObject(top, "results", run->results);
	run->results = NULL;
	cJSON_AddNumberToObject(top, "passed", (double)run->passed);
	cJSON_AddNumberToObject(top, "failed_critical",
	    (double)run->failed_critical);
	cJSON_AddNumberToObject(top, "failed_noncritical",
	    (double)run->failed_other);
	if ((s = cJSON_Print(top)) != NULL)
		printf("%s\n", s);
	free(s);
	cJSON_Delete(top);
}

/* Runs the n checks added, concurrently, in this process's loop. */
static int
run_checks(struct run *run, size_t n, const struct resolved_server *rs)
{
	struct errbuf	err = { "" };
	sigset_t	set;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	signal(SIGPIPE, SIG_IGN);
	if (loop_add_signals(&run->loop, &run->sigw, &set, on_signal) < 0)
		return CLI_EXIT_TEMPFAIL;
	if (health_wants_stdio(run->h) && start_stdio_server(run, rs,
	    run->cli->paths.config_dir, &err) < 0) {
		fprintf(stderr, "mcpvisor health run: %s\n", err.msg);
		return CLI_EXIT_TEMPFAIL;
	}
	if (run->cli->json)
		run->results = cJSON_CreateArray();
	for (size_t k = 0; k < health_count(run->h); k++)
		health_run(run->h, k, HEALTH_ONCE);
	while (run->done < n)
		if (loop_once(&run->loop, -1) < 0)
			break;
	stop_stdio_server(run);
	print_summary(run);
	return run->failed_critical > 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

static int
health_run_verb(struct cli *cli, int argc, char **argv)
{
	struct run_opts		 o = { 0 };
	struct diag_list	 dl = { 0 };
	struct project		*p = NULL;
	struct rendered_env	*re = NULL;
	struct resolved_server	*rs = NULL;
	struct run		 run = { .cli = cli };
	int			 i, n, status = CLI_EXIT_CONFIG;

	if ((i = parse_run(cli, argc, argv, &o, &status)) < 0)
		return status;
	if (loop_init(&run.loop) < 0 || project_load(&cli->paths, &p,
	    &dl) < 0) {
		diag_list_free(&dl);
		loop_free(&run.loop);
		return CLI_EXIT_TEMPFAIL;
	}
	render_context(cli, p, &o, &re, &rs, &dl);
	if ((re != NULL && secrets_collect(&run.secrets, re->values) < 0) ||
	    (rs != NULL && (secrets_collect(&run.secrets, rs->config) < 0 ||
	    secrets_collect(&run.secrets, rs->run) < 0 ||
	    secrets_collect(&run.secrets, rs->sandbox) < 0)))
		diag_add_file(&dl, DIAG_ERROR, NULL, "out of memory");
	if (dl.errors == 0 && (run.h = health_new(&run.loop, on_result,
	    &run)) != NULL && (n = add_checks(&run, p, argv + i, argc - i, &o,
	    re, rs, &dl)) >= 0) {
		if (dl.n > 0)
			diag_print(&dl, stderr);
		status = run_checks(&run, (size_t)n, rs);
	} else
		cli_print_diags(cli, &dl);
	health_free(run.h);
	secrets_clear(&run.secrets);
	cJSON_Delete(run.results);
	if (run.sigw.fd > 0)
		close(run.sigw.fd);
	loop_free(&run.loop);
	resolved_server_free(rs);
	rendered_env_free(re);
	project_free(p);
	diag_list_free(&dl);
	return status;
}

int
cli_health(struct cli *cli, int argc, char **argv)
{
	static const struct cli_verb verbs[] = {
		{ "register", health_register, "check a health-check file and "
		    "keep it in the state directory" },
		{ "list", health_list, "every health check and its file" },
		{ "run", health_run_verb, "run checks now (by name, --all or "
		    "--tags)" },
		{ NULL, NULL, NULL },
	};

	return cli_dispatch(cli, "health", verbs, argc - 1, argv + 1);
}
