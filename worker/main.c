/*
 * mcpvisor-worker: one per server. Started by mcpvisord with its channel
 * on descriptor 3; receives the rendered server as its first frame (never
 * on its command line or in its environment, where other users could
 * read secrets); sandboxes itself; starts the server and watches it.
 *
 * Everything happens in one epoll loop: the channel, a signalfd, one
 * timerfd, and the server's descriptors (exec status, output, readiness).
 * Before the server has been ready, an exit is a failed attempt: the
 * worker reports it and ends, and the root decides about retries. Once
 * ready, the worker restarts it per run.restart with exponential
 * back-off, and gives up (reporting a crash loop) after max_deaths
 * deaths within death_window_seconds.
 *
 * Health checks (health.h) share the loop through one descriptor. Once
 * the server is up by its own readiness, every check runs; the server is
 * ready when all critical ones pass, and failed when one does not. From
 * then on the checks repeat as liveness checks: failure_threshold
 * failures in a row of a critical one restart the server per its policy.
 *
 * Exit status: 0 after an ordered stop, 100 when not started by
 * mcpvisord or given a bad configuration, 111 after a failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "frame.h"
#include "health.h"
#include "log.h"
#include "logfile.h"
#include "procstat.h"
#include "sandbox.h"
#include "spawn.h"

#define WORKER_CHANNEL_FD	3
#define EXIT_CONFIG		100
#define EXIT_TEMPFAIL		111
#define UPTIME_RESETS_MS	10000	/* uptime that forgives past deaths */
#define DEATHS_MAX		64
#define STDIN_GRACE_MS		2000	/* stdio: EOF, then this, then signal */

enum watch {
	W_CHANNEL = 1,
	W_SIGNAL,
	W_TIMER,
	W_STATUS,
	W_STDOUT,
	W_LOG,
	W_READY,
	W_NOTIFY,
	W_HEALTH,
	W_USAGE,
};

enum readiness {
	READY_PROCESS,
	READY_NOTIFY,
	READY_FD,
};

enum restart_policy {
	RESTART_ALWAYS,
	RESTART_ON_FAILURE,
	RESTART_NEVER,
};

enum server_state {
	S_WAIT_CONFIG,
	S_SPAWNING,	/* forked; exec not yet confirmed */
	S_STARTED,	/* running, readiness pending */
	S_READY,
	S_BACKOFF,	/* dead, restart timer armed */
	S_STOPPING,
	S_DONE,
};

struct run_spec {
	char			*name;
	char			*command;
	char			**argv;
	char			**envp;
	char			*cwd;
	bool			 stdio;
	int			 stop_signal;
	unsigned		 stop_timeout_ms;
	enum restart_policy	 restart;
	unsigned		 delay_ms;
	unsigned		 delay_max_ms;
	unsigned		 max_deaths;
	unsigned		 death_window_ms;
	enum readiness		 readiness;
	int			 readiness_fd;
	off_t			 log_max;
	unsigned		 log_keep;
	char			*server_dir;
};

struct worker {
	int			 epfd;
	int			 sigfd;
	int			 timerfd;
	struct frame_reader	 rd;
	struct frame_writer	 wr;
	bool			 want_out;	/* EPOLLOUT on the channel */
	bool			 root_gone;
	cJSON			*config;
	struct run_spec		 run;
	struct sandbox_spec	 sandbox;
	enum server_state	 state;
	bool			 ever_ready;
	bool			 stop_requested;
	bool			 stop_signalled;	/* past stdin EOF */
	struct spawn_result	 child;
	int			 notify_fd;
	struct logfile		 log;
	unsigned		 backoff_ms;
	uint64_t		 started_ms;
	uint64_t		 deaths[DEATHS_MAX];
	unsigned		 ndeaths;
	int			 exit_status;
	unsigned long long	 mcp_bytes;	/* read from a stdio server */
	struct health		*health;	/* NULL: no checks */
	size_t			 checks_pending;/* of the readiness round */
	char			 check_failure[600];
	signed char		*verdicts;	/* per check: -1 unknown, 0, 1 */
	bool			 unhealthy_restart;
	bool			 stop_now;	/* no stdin grace */
	/* the server's CPU and memory, sampled every usage_interval_ms */
	int			 usage_fd;
	unsigned		 usage_interval_ms;
	struct proc_usage	 usage_prev;
	pid_t			 usage_pid;	/* whose sample usage_prev is */
	uint64_t		 usage_prev_ms;
};

static uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
watch_fd(struct worker *w, int fd, enum watch tag, uint32_t events)
{
	struct epoll_event	ev = { .events = events, .data.u32 = tag };

	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		fatal("epoll_ctl add");
}

static void
unwatch_close(struct worker *w, int *fd)
{
	if (*fd == -1)
		return;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

static void
arm_timer(struct worker *w, unsigned ms)
{
	struct itimerspec	its = { 0 };

	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000 + (ms == 0);
	if (timerfd_settime(w->timerfd, 0, &its, NULL) == -1)
		fatal("timerfd_settime");
}

static void
disarm_timer(struct worker *w)
{
	struct itimerspec	its = { 0 };

	timerfd_settime(w->timerfd, 0, &its, NULL);
}

/* --- the channel --- */

static void
channel_update(struct worker *w)
{
	struct epoll_event	ev;

	if (w->root_gone || !frame_writer_interest_changed(&w->wr,
	    &w->want_out))
		return;
	ev.events = EPOLLIN | (w->want_out ? EPOLLOUT : 0);
	ev.data.u32 = W_CHANNEL;
	epoll_ctl(w->epfd, EPOLL_CTL_MOD, WORKER_CHANNEL_FD, &ev);
}

static void
send_frame(struct worker *w, uint8_t type, const void *p, uint32_t len)
{
	int	r;

	if (w->root_gone)
		return;
	if ((r = frame_write(&w->wr, type, p, len)) < 0 && r != -EPIPE)
		log_warnx("%s: sending %s: %s", w->run.name,
		    frame_type_name(type), strerror(-r));
	channel_update(w);
}

static void
send_json(struct worker *w, uint8_t type, cJSON *o)
{
	char	*text = cJSON_PrintUnformatted(o);

	if (text != NULL)
		send_frame(w, type, text, (uint32_t)strlen(text));
	free(text);
	cJSON_Delete(o);
}

static void
send_failed(struct worker *w, const char *stage, const char *reason, int err)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "stage", stage);
	cJSON_AddStringToObject(o, "reason", reason);
	if (err != 0)
		cJSON_AddStringToObject(o, "errno", strerror(err));
	log_warnx("%s: %s: %s", w->run.name != NULL ? w->run.name : "worker",
	    stage, reason);
	send_json(w, FRAME_FAILED, o);
}

static void
send_u32(struct worker *w, uint8_t type, uint32_t v)
{
	uint8_t	b[4];

	frame_put_u32(b, v);
	send_frame(w, type, b, 4);
}

/* Writes what is queued, waiting at most a second: the last frames (the
 * reason for a failure) must reach the root before we exit. */
static void
flush_before_exit(struct worker *w)
{
	uint64_t	deadline = now_ms() + 1000;

	while (!w->root_gone && frame_writer_pending(&w->wr) &&
	    now_ms() < deadline) {
		struct epoll_event	ev;

		if (frame_flush(&w->wr) != 0)
			break;
		epoll_wait(w->epfd, &ev, 1, 50);
	}
}

/* --- the configuration --- */

static char *
json_dup_string(const cJSON *o, const char *key, const char *def)
{
	const char	*s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	s = s != NULL ? s : def;
	return s != NULL ? strdup(s) : NULL;
}

static long long
json_number(const cJSON *o, const char *key, long long def)
{
	const cJSON	*j = cJSON_GetObjectItem(o, key);
	char		*end;
	long long	 v;

	if (cJSON_IsNumber(j))
		return (long long)j->valuedouble;
	if (cJSON_IsString(j)) {
		v = strtoll(j->valuestring, &end, 10);
		if (*end == '\0' && end != j->valuestring)
			return v;
	}
	return def;
}

static int
signal_number(const char *name)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "HUP", SIGHUP },
		{ "QUIT", SIGQUIT }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 },
		{ "USR2", SIGUSR2 },
	};

	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (strcasecmp(sigs[i].name, name) == 0)
			return sigs[i].sig;
	return -1;
}

/* A scalar of the rendered configuration as text. */
static char *
json_scalar_text(const cJSON *j)
{
	char	*s = NULL;

	if (cJSON_IsString(j))
		return strdup(j->valuestring);
	if (cJSON_IsNumber(j) && asprintf(&s, "%.15g", j->valuedouble) != -1)
		return s;
	if (cJSON_IsBool(j))
		return strdup(cJSON_IsTrue(j) ? "true" : "false");
	return strdup("");
}

static int
build_argv(struct run_spec *rs, const cJSON *run)
{
	const cJSON	*args = cJSON_GetObjectItem(run, "args"), *a;
	size_t		 n = 1;

	if ((rs->argv = calloc((size_t)cJSON_GetArraySize(args) + 2,
	    sizeof(char *))) == NULL ||
	    (rs->argv[0] = strdup(rs->command)) == NULL)
		return -ENOMEM;
	cJSON_ArrayForEach(a, args)
		if ((rs->argv[n++] = json_scalar_text(a)) == NULL)
			return -ENOMEM;
	return 0;
}

/* The server's environment: a few of ours that a program needs, then
 * run.environment, then NOTIFY_SOCKET. Nothing else leaks through. */
static int
build_envp(struct worker *w, const cJSON *run)
{
	static const char *const inherit[] = { "LANG", "TZ", "LC_ALL" };
	const cJSON	*env = cJSON_GetObjectItem(run, "environment"), *e;
	size_t		 cap = (size_t)cJSON_GetArraySize(env) + 8, n = 0;
	char		**envp;
	bool		 have_path = false, have_home = false;

	if ((envp = calloc(cap, sizeof(char *))) == NULL)
		return -ENOMEM;
	w->run.envp = envp;
	cJSON_ArrayForEach(e, env) {
		char	*value = json_scalar_text(e);

		if (value == NULL || asprintf(&envp[n++], "%s=%s", e->string,
		    value) == -1) {
			free(value);
			return -ENOMEM;
		}
		free(value);
		have_path |= strcmp(e->string, "PATH") == 0;
		have_home |= strcmp(e->string, "HOME") == 0;
	}
	if (!have_path && asprintf(&envp[n++], "PATH=%s",
	    getenv("PATH") != NULL ? getenv("PATH") :
	    "/usr/local/bin:/usr/bin:/bin") == -1)
		return -ENOMEM;
	if (!have_home && asprintf(&envp[n++], "HOME=%s",
	    w->sandbox.home[0] != '\0' ? w->sandbox.home : "/") == -1)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(inherit) / sizeof(inherit[0]); i++)
		if (getenv(inherit[i]) != NULL && asprintf(&envp[n++], "%s=%s",
		    inherit[i], getenv(inherit[i])) == -1)
			return -ENOMEM;
	if (w->run.readiness == READY_NOTIFY &&
	    asprintf(&envp[n++], "NOTIFY_SOCKET=%s/notify.sock",
	    w->run.server_dir) == -1)
		return -ENOMEM;
	return 0;
}

static void	on_check_done(void *, size_t, const struct health_result *);
static void	server_stop(struct worker *);

/* The health checks, loaded before the sandbox closes: libcurl is read
 * from disk here, while every path is still reachable. */
static int
parse_checks(struct worker *w, struct errbuf *err)
{
	const cJSON	*list = cJSON_GetObjectItem(w->config, "health_checks");
	const cJSON	*c;
	int		 r;

	if (cJSON_GetArraySize(list) == 0)
		return 0;
	if ((w->health = health_new(on_check_done, w)) == NULL ||
	    (w->verdicts = malloc((size_t)cJSON_GetArraySize(list))) ==
	    NULL) {
		errbuf_set(err, "health checks: %s", strerror(errno));
		return -ENOMEM;
	}
	memset(w->verdicts, -1, (size_t)cJSON_GetArraySize(list));
	cJSON_ArrayForEach(c, list)
		if ((r = health_add(w->health, c, err)) < 0)
			return r;
	if (health_wants_stdio(w->health) && !w->run.stdio) {
		errbuf_set(err, "an MCP check over stdio, but the server's "
		    "transport is not stdio");
		return -EINVAL;
	}
	watch_fd(w, health_fd(w->health), W_HEALTH, EPOLLIN);
	return 0;
}

static int
parse_config(struct worker *w, struct errbuf *err)
{
	const cJSON	*run = cJSON_GetObjectItem(w->config, "run");
	struct run_spec	*rs = &w->run;
	const char	*s;

	w->usage_interval_ms = (unsigned)json_number(w->config,
	    "metrics_interval_ms", 0);
	if (cJSON_GetStringValue(cJSON_GetObjectItem(w->config, "server")) ==
	    NULL || !cJSON_IsObject(run) ||
	    (rs->name = json_dup_string(w->config, "server", NULL)) == NULL) {
		errbuf_set(err, "the configuration names no server or no run");
		return -EINVAL;
	}
	if ((rs->command = json_dup_string(run, "command", NULL)) == NULL ||
	    (rs->server_dir = json_dup_string(w->config, "server_dir",
	    NULL)) == NULL) {
		errbuf_set(err, "run.command or server_dir missing");
		return -EINVAL;
	}
	rs->cwd = json_dup_string(run, "working_directory", "/");
	s = cJSON_GetStringValue(cJSON_GetObjectItem(run, "transport"));
	rs->stdio = s == NULL || strcmp(s, "stdio") == 0;
	s = cJSON_GetStringValue(cJSON_GetObjectItem(run, "stop_signal"));
	if ((rs->stop_signal = signal_number(s != NULL ? s : "TERM")) == -1) {
		errbuf_set(err, "unknown stop signal '%s'", s);
		return -EINVAL;
	}
	rs->stop_timeout_ms = (unsigned)json_number(run,
	    "stop_timeout_seconds", 10) * 1000;
	s = cJSON_GetStringValue(cJSON_GetObjectItem(run, "restart"));
	rs->restart = s == NULL || strcmp(s, "on-failure") == 0 ?
	    RESTART_ON_FAILURE : strcmp(s, "always") == 0 ? RESTART_ALWAYS :
	    RESTART_NEVER;
	rs->delay_ms = (unsigned)json_number(run, "restart_delay_ms", 100);
	rs->delay_max_ms = (unsigned)json_number(run, "restart_delay_max_ms",
	    30000);
	rs->max_deaths = (unsigned)json_number(run, "max_deaths", 5);
	if (rs->max_deaths > DEATHS_MAX)
		rs->max_deaths = DEATHS_MAX;
	rs->death_window_ms = (unsigned)json_number(run,
	    "death_window_seconds", 60) * 1000;
	s = cJSON_GetStringValue(cJSON_GetObjectItem(run, "readiness"));
	rs->readiness = s == NULL || strcmp(s, "process") == 0 ?
	    READY_PROCESS : strcmp(s, "notify") == 0 ? READY_NOTIFY : READY_FD;
	rs->readiness_fd = rs->readiness == READY_FD ?
	    (int)json_number(run, "readiness_fd", -1) : -1;
	rs->log_max = (off_t)json_number(run, "log_max_bytes", 10 << 20);
	rs->log_keep = (unsigned)json_number(run, "log_keep", 3);
	if (sandbox_parse(w->config, &w->sandbox, err) < 0)
		return -EINVAL;
	if (parse_checks(w, err) < 0)
		return -EINVAL;
	if (build_argv(rs, run) < 0 || build_envp(w, run) < 0) {
		errbuf_set(err, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* mkdir -p, each new directory owned by the server's user. Buffers on
 * this once-only path are on the heap: stack pages, once touched, stay
 * with the worker for its whole life. */
static int
make_writable_path(struct worker *w, const char *path, struct errbuf *err)
{
	char	*tmp;
	int	 r = 0;

	if (path[0] != '/') {
		errbuf_set(err, "writable path '%s' is not absolute", path);
		return -EINVAL;
	}
	if ((tmp = strdup(path)) == NULL)
		return -ENOMEM;
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char	saved = *p;

		*p = '\0';
		if (mkdir(tmp, 0750) == 0) {
			if (w->sandbox.change_identity && chown(tmp,
			    w->sandbox.uid, w->sandbox.gid) == -1) {
				r = -errno;
				errbuf_set(err, "chown %s: %s", tmp,
				    strerror(errno));
				break;
			}
		} else if (errno != EEXIST) {
			r = -errno;
			errbuf_set(err, "mkdir %s: %s", tmp, strerror(errno));
			break;
		}
		if ((*p = saved) == '\0')
			break;
	}
	free(tmp);
	return r;
}

/* Prepares what needs privileges before the sandbox takes them: the
 * writable paths, the server's directory (owned by the user it runs as),
 * its log, and the NOTIFY_SOCKET. */
static int
prepare_server_dir(struct worker *w, struct errbuf *err)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	char			*path = NULL;
	const cJSON		*wp;
	int			 r;

	wp = cJSON_GetObjectItem(cJSON_GetObjectItem(w->config, "sandbox"),
	    "writable_paths");
	for (const cJSON *p = wp != NULL ? wp->child : NULL; p != NULL;
	    p = p->next)
		if (cJSON_IsString(p) &&
		    (r = make_writable_path(w, p->valuestring, err)) < 0)
			return r;

	if (mkdir(w->run.server_dir, 0750) == -1 && errno != EEXIST) {
		errbuf_set(err, "mkdir %s: %s", w->run.server_dir,
		    strerror(errno));
		return -errno;
	}
	if (w->sandbox.change_identity &&
	    chown(w->run.server_dir, w->sandbox.uid, w->sandbox.gid) == -1) {
		errbuf_set(err, "chown %s: %s", w->run.server_dir,
		    strerror(errno));
		return -errno;
	}
	if (asprintf(&path, "%s/output.log", w->run.server_dir) == -1)
		return -ENOMEM;
	if ((r = logfile_open(&w->log, path, w->run.log_max, w->run.log_keep,
	    0640)) < 0 || (w->sandbox.change_identity &&
	    fchown(w->log.fd, w->sandbox.uid, w->sandbox.gid) == -1 &&
	    (r = -errno) < 0)) {
		errbuf_set(err, "%s: %s", path, strerror(-r));
		free(path);
		return r;
	}
	free(path);
	if (w->run.readiness != READY_NOTIFY)
		return 0;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/notify.sock", w->run.server_dir) >= sizeof(sun.sun_path)) {
		errbuf_set(err, "%s: path too long for a socket",
		    w->run.server_dir);
		return -ENAMETOOLONG;
	}
	unlink(sun.sun_path);
	if ((w->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    bind(w->notify_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    (w->sandbox.change_identity && chown(sun.sun_path,
	    w->sandbox.uid, w->sandbox.gid) == -1)) {
		errbuf_set(err, "NOTIFY_SOCKET %s: %s", sun.sun_path,
		    strerror(errno));
		return -errno;
	}
	watch_fd(w, w->notify_fd, W_NOTIFY, EPOLLIN);
	return 0;
}

/* --- the server --- */

static void
server_start(struct worker *w)
{
	struct spawn_request	rq = {
		.command = w->run.command, .argv = w->run.argv,
		.envp = w->run.envp, .cwd = w->run.cwd,
		.stdio_channel = w->run.stdio,
		.readiness_fd = w->run.readiness_fd,
	};
	int			r;

	if ((r = spawn_server(&rq, &w->child)) < 0) {
		send_failed(w, "spawn", "fork or pipe failed", -r);
		w->exit_status = EXIT_TEMPFAIL;
		w->state = S_DONE;
		return;
	}
	w->state = S_SPAWNING;
	w->started_ms = now_ms();
	watch_fd(w, w->child.status_fd, W_STATUS, EPOLLIN);
	watch_fd(w, w->child.log_fd, W_LOG, EPOLLIN);
	if (w->child.stdout_fd != -1 && w->health != NULL &&
	    health_wants_stdio(w->health))
		health_attach_stdio(w->health, w->child.stdin_fd,
		    w->child.stdout_fd);
	else if (w->child.stdout_fd != -1)
		watch_fd(w, w->child.stdout_fd, W_STDOUT, EPOLLIN);
	if (w->child.ready_fd != -1)
		watch_fd(w, w->child.ready_fd, W_READY, EPOLLIN);
}

static void
server_ready(struct worker *w)
{
	w->state = S_READY;
	w->ever_ready = true;
	send_frame(w, FRAME_READY, NULL, 0);
	if (w->health != NULL)
		health_liveness(w->health, true);
}

/* The server is up by its own readiness: its checks have the last word. */
static void
server_up(struct worker *w)
{
	if (w->state != S_STARTED || w->checks_pending > 0)
		return;
	if (w->health == NULL) {
		server_ready(w);
		return;
	}
	w->check_failure[0] = '\0';
	w->checks_pending = health_count(w->health);
	/* a check may finish inside health_run (file_system does), and a
	 * failed one may end the attempt: then the rest are not started */
	for (size_t i = 0; i < health_count(w->health) &&
	    w->checks_pending > 0 && w->state == S_STARTED; i++)
		health_run(w->health, i, HEALTH_READINESS);
}

/* Kills the server, whose restart (or not) then follows its policy. */
static void
restart_unhealthy(struct worker *w)
{
	if (w->child.pid <= 0 || w->unhealthy_restart)
		return;
	w->unhealthy_restart = true;
	health_liveness(w->health, false);
	health_cancel(w->health);
	if (w->child.stdin_fd != -1)
		health_detach_stdio(w->health, "the server is being restarted");
	kill(-w->child.pid, w->run.stop_signal);
	arm_timer(w, w->run.stop_timeout_ms);
}

static void
send_health(struct worker *w, const struct health_result *r, bool restart)
{
	cJSON	*o = health_result_json(r);

	if (o == NULL)
		return;
	if (restart)
		cJSON_AddStringToObject(o, "action", "restart");
	send_json(w, FRAME_HEALTH, o);
}

static void
on_check_done(void *arg, size_t i, const struct health_result *r)
{
	struct worker	*w = arg;
	bool		 changed = w->verdicts[i] != (signed char)r->healthy;
	bool		 restart;

	w->verdicts[i] = (signed char)r->healthy;
	if (r->phase == HEALTH_LIVENESS) {
		restart = !r->healthy && r->critical &&
		    r->failure_threshold > 0 &&
		    r->consecutive_failures >= r->failure_threshold;
		/* a steady healthy server sends nothing */
		if (changed || !r->healthy)
			send_health(w, r, restart);
		if (!restart || w->state != S_READY)
			return;
		log_warnx("%s: health check '%s' failed %u times in a row: %s",
		    w->run.name, r->check, r->consecutive_failures, r->message);
		if (w->run.restart == RESTART_NEVER) {
			char	reason[700];

			snprintf(reason, sizeof(reason), "health check '%s' "
			    "failed %u times in a row: %s", r->check,
			    r->consecutive_failures, r->message);
			send_failed(w, "unhealthy", reason, 0);
			w->exit_status = EXIT_TEMPFAIL;
			server_stop(w);
			return;
		}
		restart_unhealthy(w);
		return;
	}
	send_health(w, r, false);
	if (!r->healthy && r->critical && w->check_failure[0] == '\0')
		snprintf(w->check_failure, sizeof(w->check_failure),
		    "health check '%s' failed after %u attempts: %s",
		    r->check, r->attempts, r->message);
	if (w->checks_pending == 0 || --w->checks_pending > 0 ||
	    w->state != S_STARTED)
		return;
	if (w->check_failure[0] == '\0') {
		server_ready(w);
		return;
	}
	if (w->ever_ready) {
		/* a supervised server back from a restart: failing its checks
		 * is one more death, counted toward the crash loop */
		log_warnx("%s: %s", w->run.name, w->check_failure);
		restart_unhealthy(w);
		return;
	}
	/* not ready: the root counts this attempt as failed */
	send_failed(w, "health", w->check_failure, 0);
	w->exit_status = EXIT_TEMPFAIL;
	w->ever_ready = false;
	w->run.restart = RESTART_NEVER;
	server_stop(w);
}

static void
on_exec_status(struct worker *w)
{
	int	err = spawn_exec_status(w->child.status_fd);

	if (err == -EAGAIN)
		return;
	unwatch_close(w, &w->child.status_fd);
	if (err > 0) {
		char	reason[512];

		snprintf(reason, sizeof(reason), "cannot execute %s",
		    w->run.command);
		send_failed(w, "exec", reason, err);
		/* the child exits 127; its reaping ends the worker */
		w->state = S_STARTED;
		w->ever_ready = false;
		w->exit_status = EXIT_TEMPFAIL;
		w->run.restart = RESTART_NEVER;
		return;
	}
	w->state = S_STARTED;
	send_u32(w, FRAME_STARTED, (uint32_t)w->child.pid);
	if (w->run.readiness == READY_PROCESS)
		server_up(w);
}

/* Read buffers are small on purpose: a worker per server is a budget of
 * about 100 KiB, and every page of a large stack frame gets touched (the
 * compiler probes them). */
#define WORKER_READ_BUF	4096
/* reads per wakeup: a server that never stops talking must not keep the
 * worker from its channel, timers and signals */
#define WORKER_READ_BURST	16

static void
on_log(struct worker *w)
{
	char	buf[WORKER_READ_BUF];
	ssize_t	n = -1;

	for (int i = 0; i < WORKER_READ_BURST &&
	    (n = read(w->child.log_fd, buf, sizeof(buf))) > 0; i++)
		if (logfile_write(&w->log, buf, (size_t)n) < 0)
			log_warn("%s: writing its log", w->run.name);
	if (n == 0)
		unwatch_close(w, &w->child.log_fd);
}

/* The MCP channel of a stdio server. Health checks speak on it (a later
 * piece of work); until then whatever the server says is counted and
 * dropped, so that it never blocks writing. */
static void
on_stdout(struct worker *w)
{
	char	buf[WORKER_READ_BUF];
	ssize_t	n = -1;

	for (int i = 0; i < WORKER_READ_BURST &&
	    (n = read(w->child.stdout_fd, buf, sizeof(buf))) > 0; i++)
		w->mcp_bytes += (unsigned long long)n;
	if (n == 0)
		unwatch_close(w, &w->child.stdout_fd);
}

static void
on_readiness_fd(struct worker *w)
{
	char	buf[256];
	ssize_t	n;

	while ((n = read(w->child.ready_fd, buf, sizeof(buf))) > 0)
		if (memchr(buf, '\n', (size_t)n) != NULL)
			server_up(w);
	if (n == 0)
		unwatch_close(w, &w->child.ready_fd);
}

static void
on_notify(struct worker *w)
{
	char	buf[4096];
	ssize_t	n;

	while ((n = recv(w->notify_fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		/* one assignment per line, as sd_notify(3) sends them */
		for (char *line = strtok(buf, "\n"); line != NULL;
		    line = strtok(NULL, "\n"))
			if (strcmp(line, "READY=1") == 0)
				server_up(w);
	}
}

static void
close_child_fds(struct worker *w)
{
	unwatch_close(w, &w->child.status_fd);
	unwatch_close(w, &w->child.stdout_fd);
	unwatch_close(w, &w->child.ready_fd);
	if (w->child.log_fd != -1)
		on_log(w);
	unwatch_close(w, &w->child.log_fd);
	if (w->child.stdin_fd != -1)
		close(w->child.stdin_fd);
	w->child.stdin_fd = -1;
}

/* Counts a death; true when the tally says "crash loop". */
static bool
count_death(struct worker *w, uint64_t now)
{
	unsigned	kept = 0;

	for (unsigned i = 0; i < w->ndeaths; i++)
		if (now - w->deaths[i] < w->run.death_window_ms)
			w->deaths[kept++] = w->deaths[i];
	w->ndeaths = kept;
	if (w->ndeaths < DEATHS_MAX)
		w->deaths[w->ndeaths++] = now;
	return w->run.max_deaths > 0 && w->ndeaths >= w->run.max_deaths;
}

static void
on_server_exit(struct worker *w, int status)
{
	uint8_t		b[8];
	uint64_t	now = now_ms();
	/* killed for failing its checks: a failure, however it exited */
	bool		failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
			    w->unhealthy_restart;

	frame_put_u32(b, WIFSIGNALED(status) ? 1 : 0);
	frame_put_u32(b + 4, (uint32_t)(WIFSIGNALED(status) ?
	    WTERMSIG(status) : WEXITSTATUS(status)));
	send_frame(w, FRAME_EXITED, b, 8);
	/* whatever is left of its process group goes with it */
	kill(-w->child.pid, SIGKILL);
	if (w->health != NULL) {
		health_liveness(w->health, false);
		health_cancel(w->health);
		health_detach_stdio(w->health, "the server exited");
		w->checks_pending = 0;
	}
	w->unhealthy_restart = false;
	close_child_fds(w);
	w->child.pid = 0;
	disarm_timer(w);
	if (w->stop_requested || w->state == S_STOPPING) {
		w->state = S_DONE;
		return;
	}
	if (!w->ever_ready) {
		/* a failed start: the root counts attempts */
		w->state = S_DONE;
		if (w->exit_status == 0)
			w->exit_status = EXIT_TEMPFAIL;
		return;
	}
	if (w->run.restart == RESTART_NEVER ||
	    (w->run.restart == RESTART_ON_FAILURE && !failed)) {
		w->state = S_DONE;
		w->exit_status = failed ? EXIT_TEMPFAIL : 0;
		return;
	}
	if (count_death(w, now)) {
		char	reason[128];

		snprintf(reason, sizeof(reason), "%u deaths within %u s",
		    w->ndeaths, w->run.death_window_ms / 1000);
		send_failed(w, "crash-loop", reason, 0);
		w->state = S_DONE;
		w->exit_status = EXIT_TEMPFAIL;
		return;
	}
	/* back-off doubles per death and is forgiven by sustained uptime */
	if (now - w->started_ms >= UPTIME_RESETS_MS || w->backoff_ms == 0)
		w->backoff_ms = w->run.delay_ms;
	else if (w->backoff_ms < w->run.delay_max_ms / 2)
		w->backoff_ms *= 2;
	else
		w->backoff_ms = w->run.delay_max_ms;
	w->state = S_BACKOFF;
	w->ever_ready = true;
	arm_timer(w, w->backoff_ms);
}

static void
server_stop(struct worker *w)
{
	w->stop_requested = true;
	if (w->state == S_BACKOFF || w->state == S_WAIT_CONFIG ||
	    w->child.pid <= 0) {
		disarm_timer(w);
		w->state = S_DONE;
		return;
	}
	if (w->state == S_STOPPING)
		return;
	w->state = S_STOPPING;
	if (w->health != NULL) {
		health_liveness(w->health, false);
		health_cancel(w->health);
		health_detach_stdio(w->health, "the server is stopping");
		w->checks_pending = 0;
	}
	/* a stdio server ends when its input does (MCP's own shutdown):
	 * give it a moment before the signal */
	if (w->child.stdin_fd != -1 && !w->stop_now) {
		close(w->child.stdin_fd);
		w->child.stdin_fd = -1;
		arm_timer(w, w->run.stop_timeout_ms / 4 < STDIN_GRACE_MS ?
		    w->run.stop_timeout_ms / 4 : STDIN_GRACE_MS);
		return;
	}
	w->stop_signalled = true;
	kill(-w->child.pid, w->run.stop_signal);
	arm_timer(w, w->run.stop_timeout_ms);
}

static void
on_timer(struct worker *w)
{
	uint64_t	expirations;

	if (read(w->timerfd, &expirations, sizeof(expirations)) == -1)
		return;
	if (w->state == S_STOPPING && w->child.pid > 0 && !w->stop_signalled) {
		w->stop_signalled = true;
		kill(-w->child.pid, w->run.stop_signal);
		arm_timer(w, w->run.stop_timeout_ms);
	} else if (w->state == S_STOPPING && w->child.pid > 0) {
		log_warnx("%s: did not stop within %u ms: killing",
		    w->run.name, w->run.stop_timeout_ms);
		kill(-w->child.pid, SIGKILL);
	} else if (w->state == S_BACKOFF)
		server_start(w);
	else if (w->unhealthy_restart && w->child.pid > 0) {
		log_warnx("%s: did not stop within %u ms: killing",
		    w->run.name, w->run.stop_timeout_ms);
		kill(-w->child.pid, SIGKILL);
	}
}

static void
on_signal(struct worker *w)
{
	struct signalfd_siginfo	si;
	int			status;
	pid_t			pid;

	while (read(w->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				if (pid == w->child.pid)
					on_server_exit(w, status);
				else if (w->health != NULL)
					health_child_exited(w->health, pid,
					    status);
			break;
		case SIGTERM:
		case SIGINT:
			/* the root died (parent-death signal) or asks us */
			server_stop(w);
			break;
		default:
			if (w->child.pid > 0)
				kill(-w->child.pid, (int)si.ssi_signo);
			break;
		}
	}
}

/* --- usage samples --- */

static void
usage_start(struct worker *w)
{
	struct itimerspec	its = { 0 };

	if (w->usage_interval_ms == 0)
		return;
	if ((w->usage_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1) {
		log_warn("usage timer");
		return;
	}
	its.it_value.tv_sec = its.it_interval.tv_sec =
	    w->usage_interval_ms / 1000;
	its.it_value.tv_nsec = its.it_interval.tv_nsec =
	    (long)(w->usage_interval_ms % 1000) * 1000000;
	timerfd_settime(w->usage_fd, 0, &its, NULL);
	watch_fd(w, w->usage_fd, W_USAGE, EPOLLIN);
}

/* Samples the server's process tree; the first sample of a server (or
 * of a restarted one) only sets the base its CPU share is measured
 * from. */
static void
on_usage_timer(struct worker *w)
{
	struct proc_usage	 u;
	uint64_t		 expirations, now = now_ms();
	cJSON			*o;

	if (read(w->usage_fd, &expirations, sizeof(expirations)) == -1)
		return;
	if (w->child.pid <= 0 || (w->state != S_STARTED &&
	    w->state != S_READY) || proc_tree_usage(w->child.pid, &u) < 0)
		return;
	if (w->usage_pid == w->child.pid) {
		o = cJSON_CreateObject();
		/* a tenth of a percent is all a sample can tell */
		cJSON_AddNumberToObject(o, "cpu_percent", (double)(long long)(
		    proc_cpu_percent(&w->usage_prev, &u, now -
		    w->usage_prev_ms) * 10 + 0.5) / 10);
		cJSON_AddNumberToObject(o, "rss_bytes", (double)u.rss_bytes);
		cJSON_AddNumberToObject(o, "processes", u.processes);
		cJSON_AddNumberToObject(o, "interval_ms",
		    (double)(now - w->usage_prev_ms));
		send_json(w, FRAME_USAGE, o);
	}
	w->usage_prev = u;
	w->usage_pid = w->child.pid;
	w->usage_prev_ms = now;
}

/* --- frames from the root --- */

static void
on_config(struct worker *w, struct frame *f)
{
	struct errbuf	 err = { "" };
	const char	*stage = "config";
	cJSON		*report;
	int		 r;

	if (w->state != S_WAIT_CONFIG) {
		log_warnx("a second configuration: ignored");
		return;
	}
	if ((w->config = cJSON_ParseWithLength((char *)f->data, f->len)) ==
	    NULL) {
		send_failed(w, "config", "configuration is not JSON", 0);
		goto fail;
	}
	if ((r = parse_config(w, &err)) < 0 ||
	    (stage = "prepare", r = prepare_server_dir(w, &err)) < 0) {
		send_failed(w, stage, err.msg, 0);
		goto fail;
	}
	report = cJSON_CreateObject();
	if ((r = sandbox_apply(&w->sandbox, report, &stage, &err)) < 0) {
		cJSON_Delete(report);
		send_failed(w, stage, err.msg, -r);
		goto fail;
	}
	send_json(w, FRAME_SANDBOX, report);
	usage_start(w);
	server_start(w);
	/* everything needed later was copied out of the configuration; give
	 * its pages back */
	cJSON_Delete(w->config);
	w->config = NULL;
	malloc_trim(0);
	return;
fail:
	w->exit_status = EXIT_CONFIG;
	w->state = S_DONE;
}

static bool
root_frame(void *arg, struct frame *f)
{
	struct worker	*w = arg;

	switch (f->type) {
	case FRAME_CONFIG:
		on_config(w, f);
		break;
	case FRAME_STOP:
		if (f->len == 4 && (frame_get_u32(f->data) & FRAME_STOP_NOW))
			w->stop_now = true;
		server_stop(w);
		break;
	case FRAME_SIGNAL:
		if (w->child.pid > 0)
			kill(-w->child.pid, (int)frame_get_u32(f->data));
		break;
	}
	return true;
}

static void
on_channel(struct worker *w, uint32_t events)
{
	int	r = frame_service(&w->rd, &w->wr, events, root_frame, w);

	if (r >= 0) {
		channel_update(w);
		return;
	}
	/* the root is gone or broke the protocol: a worker without its
	 * root stops its server */
	if (r != -EPIPE)
		log_warnx("%s: channel to mcpvisord: %s",
		    w->run.name != NULL ? w->run.name : "worker",
		    strerror(-r));
	w->root_gone = true;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, WORKER_CHANNEL_FD, NULL);
	server_stop(w);
}

static void
worker_init(struct worker *w)
{
	sigset_t	set;
	struct stat	st;
	uint8_t		b[4];

	memset(w, 0, sizeof(*w));
	w->notify_fd = -1;
	w->usage_fd = -1;
	w->child.status_fd = w->child.stdin_fd = w->child.stdout_fd = -1;
	w->child.log_fd = w->child.ready_fd = -1;
	w->log.fd = -1;
	if (fstat(WORKER_CHANNEL_FD, &st) == -1 || !S_ISSOCK(st.st_mode))
		fatalx(EXIT_CONFIG, "mcpvisor-worker is started by mcpvisord, "
		    "with its channel on descriptor 3");
	/* the parent-death signal arrives through the signalfd; as a
	 * subreaper we inherit what the server leaves behind, so nothing it
	 * started escapes the stop */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1 ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		fatal("prctl");
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGQUIT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1)
		fatal("sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	if ((w->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    (w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1 ||
	    (w->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("signalfd, timerfd or epoll");
	/* a root that died before the parent-death signal was set shows as
	 * EOF on the channel; the parent's pid proves nothing (as PID 1 of
	 * a container, mcpvisord is pid 1) */
	fcntl(WORKER_CHANNEL_FD, F_SETFD, FD_CLOEXEC);
	fcntl(WORKER_CHANNEL_FD, F_SETFL,
	    fcntl(WORKER_CHANNEL_FD, F_GETFL) | O_NONBLOCK);
	frame_reader_init(&w->rd, WORKER_CHANNEL_FD, FRAME_FROM_ROOT_TO_WORKER);
	frame_writer_init(&w->wr, WORKER_CHANNEL_FD);
	watch_fd(w, WORKER_CHANNEL_FD, W_CHANNEL, EPOLLIN);
	watch_fd(w, w->sigfd, W_SIGNAL, EPOLLIN);
	watch_fd(w, w->timerfd, W_TIMER, EPOLLIN);
	frame_put_u32(b, (uint32_t)getpid());
	send_frame(w, FRAME_HELLO, b, 4);
}

/* As a subreaper the worker inherits whatever its server left behind;
 * before it goes, every such child is killed and reaped (within a
 * second), so that none is left to an init that may not reap it. */
static void
reap_leftovers(void)
{
	uint64_t	 deadline = now_ms() + 1000;
	DIR		*d;
	struct dirent	*de;
	int		 status;
	pid_t		 r;

	/* usually the server was the only child, and is reaped: then there
	 * is nothing to look for (and 200 workers stopping at once must not
	 * all scan /proc) */
	while ((r = waitpid(-1, &status, WNOHANG)) > 0)
		;
	if (r == -1 && errno == ECHILD)
		return;
	if ((d = opendir("/proc")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char	 path[64], buf[512], *p;
			pid_t	 pid = (pid_t)atoi(de->d_name);
			ssize_t	 n;
			int	 fd;

			if (pid <= 0)
				continue;
			snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
			if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n <= 0)
				continue;
			buf[n] = '\0';
			/* "pid (comm) state ppid": comm may hold spaces */
			if ((p = strrchr(buf, ')')) != NULL &&
			    atoi(p + 4) == (int)getpid())
				kill(pid, SIGKILL);
		}
		closedir(d);
	}
	while (waitpid(-1, &status, WNOHANG) != -1 || errno != ECHILD) {
		if (now_ms() > deadline)
			break;
		usleep(2000);
	}
}

static void
worker_free(struct worker *w)
{
	free(w->run.name);
	free(w->run.command);
	free(w->run.cwd);
	free(w->run.server_dir);
	for (char **p = w->run.argv; p != NULL && *p != NULL; p++)
		free(*p);
	free(w->run.argv);
	for (char **p = w->run.envp; p != NULL && *p != NULL; p++)
		free(*p);
	free(w->run.envp);
	cJSON_Delete(w->config);
	health_free(w->health);
	free(w->verdicts);
	logfile_close(&w->log);
	frame_reader_clear(&w->rd);
	frame_writer_clear(&w->wr);
}

int
main(int argc, char **argv)
{
	struct worker	w;

	if (argc > 1) {
		if (strcmp(argv[1], "--version") == 0) {
			printf("mcpvisor-worker %s\n", MCPVISOR_VERSION);
			return 0;
		}
		fprintf(stderr, "usage: mcpvisor-worker (started by mcpvisord, "
		    "with its channel on descriptor 3)\n");
		return strcmp(argv[1], "--help") == 0 ? 0 : EXIT_CONFIG;
	}
	log_init("mcpvisor-worker", getenv("MCPVISOR_DEBUG") != NULL);
	worker_init(&w);
	while (w.state != S_DONE) {
		struct epoll_event	evs[16];
		int			n;

		if ((n = epoll_wait(w.epfd, evs, 16, -1)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		for (int i = 0; i < n && w.state != S_DONE; i++) {
			switch (evs[i].data.u32) {
			case W_CHANNEL:	on_channel(&w, evs[i].events); break;
			case W_SIGNAL:	on_signal(&w); break;
			case W_TIMER:	on_timer(&w); break;
			case W_STATUS:	on_exec_status(&w); break;
			case W_STDOUT:	on_stdout(&w); break;
			case W_LOG:	on_log(&w); break;
			case W_READY:	on_readiness_fd(&w); break;
			case W_NOTIFY:	on_notify(&w); break;
			case W_HEALTH:	health_dispatch(w.health); break;
			case W_USAGE:	on_usage_timer(&w); break;
			}
		}
	}
	flush_before_exit(&w);
	reap_leftovers();
	worker_free(&w);
	return w.exit_status;
}
