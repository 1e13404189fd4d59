/*
 * The server process: started through launch.c, watched through its
 * descriptors (exec status, output, readiness), restarted per its policy
 * with back-off and a death tally, stopped in MCP's manner (stdin EOF,
 * then the stop signal, then KILL). One timer serves the stop steps,
 * the back-off and the kill of a server restarted for its health.
 *
 * Its health checks: once the server is up by its own readiness, every
 * check runs; the server is ready when all critical ones pass, and its
 * attempt failed when one does not. From then on the checks repeat as
 * liveness checks: failure_threshold failures in a row of a critical one
 * restart the server per its policy. Checks share the worker's loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "frame.h"
#include "health.h"
#include "log.h"
#include "procstat.h"
#include "runspec.h"
#include "spawn.h"
#include "util.h"
#include "worker.h"

#define UPTIME_RESETS_MS	10000	/* uptime that forgives past deaths */
#define STDIN_GRACE_MS		2000	/* stdio: EOF, then this, then signal */
#define SWEEP_MS		2000	/* the longest a worker sweeps its tree */
/* Read buffers are small on purpose: a worker per server is a budget of
 * about 100 KiB, and every page of a large stack frame gets touched (the
 * compiler probes them). */
#define WORKER_READ_BUF		4096
/* reads per wakeup: a server that never stops talking must not keep the
 * worker from its channel, timers and signals */
#define WORKER_READ_BURST	16

static void	on_timer(struct loop_timer *);

static void
unwatch_close(struct worker *w, struct watcher *cw)
{
	if (cw->fd == -1)
		return;
	loop_del(&w->loop, cw);
	close(cw->fd);
	cw->fd = -1;
}

static void
watch(struct worker *w, struct watcher *cw, int fd, watcher_fn *fn)
{
	*cw = (struct watcher){ fd, fn };
	if (loop_add(&w->loop, cw, EPOLLIN) < 0)
		fatal("epoll_ctl add");
}

void
server_init(struct worker *w)
{
	w->child = (struct launch_result){ 0, -1, -1, -1, -1, -1 };
	w->status_w.fd = w->log_w.fd = w->stdout_w.fd = w->ready_w.fd = -1;
	w->notify_w.fd = -1;
	w->log.fd = w->log.dirfd = -1;
	w->task_in = -1;
	w->timer.fn = on_timer;
	/* kept only by the init of a namespace, whose /proc will be its
	 * own */
	w->host_proc = getpid() == 1 ? open("/proc", O_PATH | O_DIRECTORY |
	    O_CLOEXEC) : -1;
}

pid_t
server_host_pid(struct worker *w)
{
	if (w->child.pid <= 0)
		return 0;
	if (w->host_proc == -1)
		return w->child.pid;
	if (w->child_host_pid <= 0)
		w->child_host_pid = proc_child_by_nspid(w->host_proc,
		    proc_self_pid(), w->child.pid);
	return w->child_host_pid;
}

static void
arm_timer(struct worker *w, unsigned ms)
{
	loop_timer_set(&w->loop, &w->timer, ms);
}

/* --- its descriptors --- */

static void
write_log(const char *p, size_t n, void *arg)
{
	struct worker	*w = arg;

	if (logfile_write(&w->log, p, n) < 0)
		log_warn("%s: writing its log", w->name);
}

/* The server's output, to its log with its secrets masked (a secret cut
 * in two by the pipe included: the stream holds back what could begin
 * one until the next read). */
static void
on_log(struct watcher *lw, uint32_t events)
{
	struct worker	*w = container_of(lw, struct worker, log_w);
	char		 buf[WORKER_READ_BUF];
	ssize_t		 n = -1;

	(void)events;
	for (int i = 0; i < WORKER_READ_BURST &&
	    (n = read(lw->fd, buf, sizeof(buf))) > 0; i++)
		secrets_stream(&w->secrets, &w->log_stream, buf, (size_t)n,
		    write_log, w);
	if (n == 0) {
		secrets_stream_flush(&w->secrets, &w->log_stream, write_log, w);
		unwatch_close(w, lw);
	}
}

/* The MCP channel of a stdio server that no check speaks on: whatever
 * the server says is counted and dropped, so that it never blocks
 * writing. */
static void
on_stdout(struct watcher *ow, uint32_t events)
{
	struct worker	*w = container_of(ow, struct worker, stdout_w);
	char		 buf[WORKER_READ_BUF];
	ssize_t		 n = -1;

	(void)events;
	for (int i = 0; i < WORKER_READ_BURST &&
	    (n = read(ow->fd, buf, sizeof(buf))) > 0; i++)
		w->mcp_bytes += (unsigned long long)n;
	if (n == 0) {
		/* the descriptor is the child's: closed with the rest */
		loop_del(&w->loop, ow);
		ow->fd = -1;
	}
}

static void
on_readiness_fd(struct watcher *rw, uint32_t events)
{
	struct worker	*w = container_of(rw, struct worker, ready_w);
	char		 buf[256];
	ssize_t		 n;

	(void)events;
	while ((n = read(rw->fd, buf, sizeof(buf))) > 0)
		if (memchr(buf, '\n', (size_t)n) != NULL)
			server_up(w);
	if (n == 0)
		unwatch_close(w, rw);
}

static void
on_exec_status(struct watcher *sw, uint32_t events)
{
	struct worker	*w = container_of(sw, struct worker, status_w);
	int		 err = spawn_exec_status(sw->fd);
	char		 reason[512];

	(void)events;
	if (err == -EAGAIN)
		return;
	unwatch_close(w, sw);
	w->child.status_fd = -1;
	if (err > 0) {
		snprintf(reason, sizeof(reason), "cannot execute %s",
		    w->run->command);
		worker_send_failed(w, "exec", reason, err);
		/* the child exits 127; its reaping ends the worker */
		w->state = S_STARTED;
		w->ever_ready = false;
		w->exit_status = EXIT_TEMPFAIL;
		w->run->restart = RUN_RESTART_NEVER;
		return;
	}
	w->state = S_STARTED;
	w->child_host_pid = 0;
	worker_send_u32(w, FRAME_STARTED, (uint32_t)server_host_pid(w));
	/* a process that is ready by running is started once it has run
	 * for start_seconds (supervisord's startsecs): one that exits at
	 * once has failed its start, not become ready */
	if (w->run->readiness == RUN_READY_PROCESS && w->run->start_ms > 0) {
		w->start_wait = true;
		arm_timer(w, w->run->start_ms);
	} else if (w->run->readiness == RUN_READY_PROCESS ||
	    w->run->readiness == RUN_READY_MCP)
		server_up(w);	/* mcp: its handshake is a readiness check */
}

static void
close_child_fds(struct worker *w)
{
	unwatch_close(w, &w->status_w);
	if (w->stdout_w.fd != -1)
		loop_del(&w->loop, &w->stdout_w);
	w->stdout_w.fd = -1;
	unwatch_close(w, &w->ready_w);
	if (w->log_w.fd != -1)
		on_log(&w->log_w, EPOLLIN);
	secrets_stream_flush(&w->secrets, &w->log_stream, write_log, w);
	unwatch_close(w, &w->log_w);
	if (w->child.stdin_fd != -1)
		close(w->child.stdin_fd);
	if (w->child.stdout_fd != -1)
		close(w->child.stdout_fd);
	w->child = (struct launch_result){ w->child.pid, -1, -1, -1, -1, -1 };
}

/* --- the life of the server --- */

void
server_start(struct worker *w)
{
	struct launch_request	rq = {
		.command = w->run->command, .argv = w->run->argv,
		.envp = w->envp, .cwd = w->run->cwd,
		.stdio_channel = w->run->transport == RUN_STDIO,
		.readiness_fd = w->run->readiness_fd,
	};
	unsigned long		taken[16];
	char			reason[160];
	int			r;

	/* a port it declares must be free before it starts, or a check of
	 * that port would be answered by whoever holds it */
	if (w->run->port != 0 && proc_port_listeners(w->run->port, taken,
	    16) > 0) {
		snprintf(reason, sizeof(reason), "port %u is already in use "
		    "by another process before the server started",
		    w->run->port);
		worker_send_failed(w, "port", reason, EADDRINUSE);
		w->exit_status = EXIT_TEMPFAIL;
		w->state = S_DONE;
		return;
	}
	if (w->has_cgroup)
		rq.join_cgroups = cgroup_join_fds(&w->cgroup,
		    &rq.njoin_cgroups);
	if (w->sandbox.seccomp_prog.len > 0)
		rq.seccomp_filter = &w->sandbox.seccomp_prog;
	if ((r = launch_server(&rq, &w->child)) < 0) {
		worker_send_failed(w, "spawn", "fork or pipe failed", -r);
		w->exit_status = EXIT_TEMPFAIL;
		w->state = S_DONE;
		return;
	}
	w->state = S_SPAWNING;
	w->started_ms = mono_ms();
	watch(w, &w->status_w, w->child.status_fd, on_exec_status);
	watch(w, &w->log_w, w->child.log_fd, on_log);
	if (w->child.stdout_fd != -1 && w->health != NULL &&
	    health_wants_stdio(w->health))
		health_attach_stdio(w->health, w->child.stdin_fd,
		    w->child.stdout_fd);
	else if (w->child.stdout_fd != -1)
		watch(w, &w->stdout_w, w->child.stdout_fd, on_stdout);
	if (w->child.ready_fd != -1)
		watch(w, &w->ready_w, w->child.ready_fd, on_readiness_fd);
}

void
server_ready(struct worker *w)
{
	w->state = S_READY;
	w->ever_ready = true;
	worker_send(w, FRAME_READY, NULL, 0);
	gateway_server_state(w);
	if (w->health != NULL)
		health_liveness(w->health, true);
}

void
server_up(struct worker *w)
{
	if (w->state != S_STARTED || w->checks_pending > 0)
		return;
	if (w->health == NULL) {
		server_ready(w);
		return;
	}
	checks_readiness(w);
}

void
server_restart_unhealthy(struct worker *w)
{
	if (w->child.pid <= 0 || w->unhealthy_restart)
		return;
	w->unhealthy_restart = true;
	checks_stop(w, "the server is being restarted");
	kill(-w->child.pid, w->run->stop_signal);
	arm_timer(w, w->run->stop_timeout_ms);
}

/* Counts a death; true when the tally says "crash loop". */
static bool
count_death(struct worker *w, uint64_t now)
{
	unsigned	kept = 0;

	for (unsigned i = 0; i < w->ndeaths; i++)
		if (now - w->deaths[i] < w->run->death_window_ms)
			w->deaths[kept++] = w->deaths[i];
	w->ndeaths = kept;
	if (w->ndeaths < DEATHS_MAX)
		w->deaths[w->ndeaths++] = now;
	return w->max_deaths > 0 && w->ndeaths >= w->max_deaths;
}

/* After a death of a server that had been ready: back again after a
 * back-off that doubles per death and is forgiven by sustained uptime,
 * unless its policy or the tally says otherwise. */
static void
after_death(struct worker *w, bool failed, const uint8_t how_code[12],
    uint64_t now)
{
	char	reason[128];

	if (w->run->restart == RUN_RESTART_NEVER ||
	    (w->run->restart == RUN_RESTART_ON_FAILURE && !failed)) {
		/* an orderly end: said before we exit, so that the root
		 * does not take our exit for a crash */
		worker_send(w, FRAME_FINISHED, how_code,
		    frame_get_u32(how_code + 8) > 0 ? 12 : 8);
		w->state = S_DONE;
		w->exit_status = 0;
		return;
	}
	if (count_death(w, now)) {
		snprintf(reason, sizeof(reason), "%u deaths within %u s",
		    w->ndeaths, w->run->death_window_ms / 1000);
		worker_send_failed(w, "crash-loop", reason, 0);
		w->state = S_DONE;
		w->exit_status = EXIT_TEMPFAIL;
		return;
	}
	if (now - w->started_ms >= UPTIME_RESETS_MS || w->backoff_ms == 0)
		w->backoff_ms = w->run->restart_delay_ms;
	else if (w->backoff_ms < w->run->restart_delay_max_ms / 2)
		w->backoff_ms *= 2;
	else
		w->backoff_ms = w->run->restart_delay_max_ms;
	w->state = S_BACKOFF;
	w->ever_ready = true;
	arm_timer(w, w->backoff_ms);
}

static void
on_server_exit(struct worker *w, int status)
{
	uint8_t		b[12];
	unsigned	oom = 0;
	/* killed for failing its checks: a failure, however it exited */
	bool		failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
			    w->unhealthy_restart;

	/* its exit may be reaped before its exec's outcome is read (both
	 * ready in one turn): that outcome comes first, or a failed exec
	 * would go unsaid */
	if (w->status_w.fd != -1)
		on_exec_status(&w->status_w, EPOLLIN);
	/* the kernel's OOM killer struck in its cgroup meanwhile: the
	 * signal is its */
	if (w->has_cgroup && WIFSIGNALED(status) && WTERMSIG(status) ==
	    SIGKILL && (oom = cgroup_oom_kills(&w->cgroup)) > w->oom_kills) {
		w->oom_kills = oom;
		oom = (unsigned)(w->sandbox.limits.memory_bytes >> 20);
		if (oom == 0)
			oom = 1;
	} else
		oom = 0;
	frame_put_u32(b, WIFSIGNALED(status) ? 1 : 0);
	frame_put_u32(b + 4, (uint32_t)(WIFSIGNALED(status) ?
	    WTERMSIG(status) : WEXITSTATUS(status)));
	frame_put_u32(b + 8, oom);
	worker_send(w, FRAME_EXITED, b, oom > 0 ? 12 : 8);
	/* whatever is left of its process group goes with it, and so do
	 * its children that left the group: we adopted them; and what
	 * its cgroup holds, however it detached itself */
	kill(-w->child.pid, SIGKILL);
	spawn_kill_adopted();
	if (w->has_cgroup)
		cgroup_kill_all(&w->cgroup);
	checks_stop(w, "the server exited");
	w->unhealthy_restart = false;
	close_child_fds(w);
	w->child.pid = 0;
	loop_timer_cancel(&w->loop, &w->timer);
	w->start_wait = false;
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
	after_death(w, failed, b, mono_ms());
}

void
server_reaped(struct worker *w, pid_t pid, int status)
{
	if (pid == w->child.pid)
		on_server_exit(w, status);
	else if (w->health != NULL)
		health_child_exited(w->health, pid, status);
}

void
server_stop(struct worker *w)
{
	w->stop_requested = true;
	if (w->state == S_BACKOFF || w->state == S_WAIT_CONFIG ||
	    w->child.pid <= 0) {
		loop_timer_cancel(&w->loop, &w->timer);
		w->state = S_DONE;
		return;
	}
	if (w->state == S_STOPPING)
		return;
	w->start_wait = false;
	w->state = S_STOPPING;
	checks_stop(w, "the server is stopping");
	/* a stdio server ends when its input does (MCP's own shutdown):
	 * give it a moment before the signal */
	if (w->child.stdin_fd != -1 && !w->stop_now) {
		close(w->child.stdin_fd);
		w->child.stdin_fd = -1;
		arm_timer(w, w->run->stop_timeout_ms / 4 < STDIN_GRACE_MS ?
		    w->run->stop_timeout_ms / 4 : STDIN_GRACE_MS);
		return;
	}
	w->stop_signalled = true;
	kill(-w->child.pid, w->run->stop_signal);
	arm_timer(w, w->run->stop_timeout_ms);
}

static void
on_timer(struct loop_timer *t)
{
	struct worker	*w = container_of(t, struct worker, timer);

	if (w->start_wait) {
		w->start_wait = false;
		if (w->state == S_STARTED)
			server_up(w);
	} else if (w->state == S_STOPPING && w->child.pid > 0 &&
	    !w->stop_signalled) {
		w->stop_signalled = true;
		kill(-w->child.pid, w->run->stop_signal);
		arm_timer(w, w->run->stop_timeout_ms);
	} else if (w->state == S_STOPPING && w->child.pid > 0) {
		log_warnx("%s: did not stop within %u ms: killing",
		    w->name, w->run->stop_timeout_ms);
		kill(-w->child.pid, SIGKILL);
	} else if (w->state == S_BACKOFF)
		server_start(w);
	else if (w->unhealthy_restart && w->child.pid > 0) {
		log_warnx("%s: did not stop within %u ms: killing",
		    w->name, w->run->stop_timeout_ms);
		kill(-w->child.pid, SIGKILL);
	}
}

/* Nothing of the worker's tree is left when it exits: every child is
 * killed and reaped, again and again, since a child killed may leave
 * orphans of its own that only then become ours. */
void
server_sweep(void)
{
	uint64_t	deadline = mono_ms() + SWEEP_MS;
	int		status;
	pid_t		r;

	for (;;) {
		while ((r = waitpid(-1, &status, WNOHANG)) > 0)
			spawn_forget(r);
		/* usually the server was the only child, and is reaped:
		 * then there is nothing to look for (and 200 workers
		 * stopping at once must not all scan /proc) */
		if (r == -1 && errno == ECHILD)
			return;
		if (mono_ms() > deadline) {
			log_warnx("children left after %u ms of sweeping",
			    SWEEP_MS);
			return;
		}
		spawn_kill_children();
		usleep(2000);
	}
}

/* --- its health checks --- */

static void	on_check_done(void *, size_t, const struct health_result *);

/* The readiness of a stdio server by default: its answer to initialize,
 * through the same session as any other MCP check over stdio, once. */
#define HANDSHAKE_CHECK		"mcp-handshake"
static const char handshake_check[] = "{\"name\":\"" HANDSHAKE_CHECK "\","
    "\"type\":\"mcp\",\"critical\":true,\"readiness_only\":true,"
    "\"timeout_seconds\":30,\"retry_attempts\":0,"
    "\"config\":{\"transport\":\"stdio\",\"probe\":\"ping\"}}";

/* Loaded before the sandbox closes: libcurl is read from disk here,
 * while every path is still reachable. */
int
checks_setup(struct worker *w, const cJSON *list, struct errbuf *err)
{
	bool		 handshake = w->run->readiness == RUN_READY_MCP;
	size_t		 n = (size_t)cJSON_GetArraySize(list) + handshake;
	const cJSON	*c;
	cJSON		*hs;
	int		 r;

	if (n == 0)
		return 0;
	if ((w->health = health_new(&w->loop, on_check_done, w)) == NULL ||
	    (w->verdicts = malloc(n)) == NULL) {
		errbuf_set(err, "health checks: %s", strerror(errno));
		return -ENOMEM;
	}
	memset(w->verdicts, -1, n);
	cJSON_ArrayForEach(c, list)
		if ((r = health_add(w->health, c, err)) < 0)
			return r;
	if (health_wants_stdio(w->health) && w->run->transport != RUN_STDIO) {
		errbuf_set(err, "an MCP check over stdio, but the server's "
		    "transport is not stdio");
		return -EINVAL;
	}
	if (!handshake || health_stdio_critical(w->health))
		return 0;
	if ((hs = cJSON_Parse(handshake_check)) == NULL) {
		errbuf_set(err, "out of memory");
		return -ENOMEM;
	}
	r = health_add(w->health, hs, err);
	cJSON_Delete(hs);
	return r < 0 ? r : 0;
}

void
checks_readiness(struct worker *w)
{
	w->check_failure[0] = '\0';
	w->checks_pending = health_count(w->health);
	/* a check may finish inside health_run (file_system does), and a
	 * failed one may end the attempt: then the rest are not started */
	for (size_t i = 0; i < health_count(w->health) &&
	    w->checks_pending > 0 && w->state == S_STARTED; i++)
		health_run(w->health, i, HEALTH_READINESS);
}

void
checks_stop(struct worker *w, const char *why)
{
	if (w->health == NULL)
		return;
	health_liveness(w->health, false);
	health_cancel(w->health);
	health_detach_stdio(w->health, why);
	w->checks_pending = 0;
}

static void
send_health(struct worker *w, const struct health_result *r, bool restart)
{
	cJSON	*o = health_result_json(r);

	if (o == NULL)
		return;
	if (restart)
		cJSON_AddStringToObject(o, "action", "restart");
	worker_send_json(w, FRAME_HEALTH, o);
}

static void
on_liveness(struct worker *w, const struct health_result *r, bool changed)
{
	bool	restart = !r->healthy && r->critical &&
		    r->failure_threshold > 0 &&
		    r->consecutive_failures >= r->failure_threshold;
	char	reason[700];

	/* a steady healthy server sends nothing */
	if (changed || !r->healthy)
		send_health(w, r, restart);
	if (!restart || w->state != S_READY)
		return;
	log_warnx("%s: health check '%s' failed %u times in a row: %s",
	    w->name, r->check, r->consecutive_failures, r->message);
	if (w->run->restart == RUN_RESTART_NEVER) {
		snprintf(reason, sizeof(reason), "health check '%s' failed %u "
		    "times in a row: %s", r->check, r->consecutive_failures,
		    r->message);
		worker_send_failed(w, "unhealthy", reason, 0);
		w->exit_status = EXIT_TEMPFAIL;
		server_stop(w);
		return;
	}
	server_restart_unhealthy(w);
}

/* A check of the port the server declares counts only when the socket
 * that answered belongs to the server's own processes. */
static bool
answered_by_server(struct worker *w, size_t i)
{
	unsigned long	listeners[16];
	unsigned	port;
	size_t		n;

	if (w->run->port == 0 || !health_local_port(w->health, i, &port) ||
	    port != w->run->port)
		return true;
	n = proc_port_listeners(port, listeners, 16);
	return w->child.pid > 0 && proc_tree_holds_socket(w->child.pid,
	    listeners, n);
}

static void
on_check_done(void *arg, size_t i, const struct health_result *in)
{
	struct worker		*w = arg;
	struct health_result	 own = *in;
	const struct health_result *r = in;
	char			 why[200];
	bool			 changed;

	if (in->phase == HEALTH_READINESS && in->healthy &&
	    !answered_by_server(w, i)) {
		snprintf(why, sizeof(why), "port %u answered, but not from "
		    "the server's processes: another process listens there",
		    w->run->port);
		own.healthy = false;
		own.message = why;
		r = &own;
	}
	changed = w->verdicts[i] != (signed char)r->healthy;

	w->verdicts[i] = (signed char)r->healthy;
	if (r->phase == HEALTH_LIVENESS) {
		on_liveness(w, r, changed);
		return;
	}
	send_health(w, r, false);
	if (!r->healthy && r->critical && w->check_failure[0] == '\0')
		snprintf(w->check_failure, sizeof(w->check_failure),
		    "health check '%s' failed after %u attempts: %s%s",
		    r->check, r->attempts, r->message,
		    strcmp(r->check, HANDSHAKE_CHECK) == 0 ? " (a stdio "
		    "server is ready when it answers MCP's initialize; one "
		    "that does not speak MCP says run.readiness: process)" :
		    "");
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
		log_warnx("%s: %s", w->name, w->check_failure);
		server_restart_unhealthy(w);
		return;
	}
	/* not ready: the root counts this attempt as failed */
	worker_send_failed(w, "health", w->check_failure, 0);
	w->exit_status = EXIT_TEMPFAIL;
	w->ever_ready = false;
	w->run->restart = RUN_RESTART_NEVER;
	server_stop(w);
}
