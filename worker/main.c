/*
 * mcpvisor-worker: one per server. Started by mcpvisord with its channel
 * on descriptor 3; receives the rendered server as its first frame (never
 * on its command line or in its environment, where other users could
 * read secrets); sandboxes itself; starts the server and watches it.
 *
 * Everything happens in one loop (loop.h): the channel, a signalfd, the
 * timers, the server's descriptors (exec status, output, readiness) and
 * the health checks'. Before the server has been ready, an exit is a
 * failed attempt: the worker reports it and ends, and the root decides
 * about retries. Once ready, the worker restarts it per run.restart with
 * exponential back-off, and gives up (reporting a crash loop) after
 * max_deaths deaths within death_window_seconds.
 *
 * Exit status: 0 after an ordered stop, 100 when not started by
 * mcpvisord or given a bad configuration, 111 after a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "frame.h"
#include "log.h"
#include "peer.h"
#include "procstat.h"
#include "spawn.h"
#include "runspec.h"
#include "util.h"
#include "worker.h"

#define FLUSH_BEFORE_EXIT_MS	1000

/* --- the channel --- */

/* The server's cgroup, made while we may (before the sandbox): its
 * limits enforced, its processes counted and swept. Without limits, a
 * host that has no cgroup for us (an unprivileged mcpvisord) runs the
 * server without one; with them, that is a failure unless the server
 * says sandbox.limits_required: false. */
static int
enter_cgroup(struct worker *w, const char *stack, cJSON *report,
    struct errbuf *err)
{
	const struct cgroup_limits	*l = &w->sandbox.limits;
	bool				 limited = l->memory_bytes > 0 ||
					    l->cpu_cores > 0 || l->pids_max > 0;
	char				 name[256];
	cJSON				*o;
	int				 r;

	cgroup_leaf_name(name, sizeof(name), stack != NULL ? stack : "-",
	    w->name, (long)proc_self_pid());
	if ((r = cgroup_create(&w->cgroup, name, l, err)) < 0) {
		if (limited && w->sandbox.limits_required)
			return r;
		if (limited)
			log_warnx("%s: runs without its limits (they are "
			    "optional here): %s", w->name, err->msg);
		cJSON_AddStringToObject(report, "cgroup", "none");
		return 0;
	}
	w->has_cgroup = true;
	w->oom_kills = cgroup_oom_kills(&w->cgroup);
	o = cJSON_AddObjectToObject(report, "cgroup");
	cJSON_AddStringToObject(o, "name", name);
	if (l->cpu_cores > 0)
		cJSON_AddNumberToObject(o, "cpu_cores", l->cpu_cores);
	if (l->memory_bytes > 0)
		cJSON_AddNumberToObject(o, "memory_bytes",
		    (double)l->memory_bytes);
	if (l->pids_max > 0)
		cJSON_AddNumberToObject(o, "pids_max", (double)l->pids_max);
	return 0;
}

static void
on_config(struct worker *w, const struct frame *f)
{
	struct errbuf	 err = { "" };
	const char	*stage = "config";
	cJSON		*config, *report;
	char		*stack = NULL;
	int		 r;

	if (w->state != S_WAIT_CONFIG) {
		log_warnx("a second configuration: ignored");
		return;
	}
	if ((config = cJSON_ParseWithLength((char *)f->data, f->len)) ==
	    NULL) {
		worker_send_failed(w, "config", "configuration is not JSON", 0);
		goto fail;
	}
	stack = cJSON_GetStringValue(cJSON_GetObjectItem(config, "stack")) !=
	    NULL ? strdup(cJSON_GetStringValue(cJSON_GetObjectItem(config,
	    "stack"))) : NULL;
	r = task_wanted(config) ? task_setup(w, config, &err) :
	    setup_worker(w, config, &stage, &err);
	/* everything needed later was copied out of the configuration;
	 * give its pages back */
	cJSON_Delete(config);
	if (r < 0) {
		worker_send_failed(w, stage, err.msg, 0);
		goto fail;
	}
	report = cJSON_CreateObject();
	if (!w->task && (r = enter_cgroup(w, stack, report, &err)) < 0) {
		free(stack);
		cJSON_Delete(report);
		worker_send_failed(w, "cgroup", err.msg, -r);
		goto fail;
	}
	free(stack);
	if ((r = sandbox_apply(&w->sandbox, report, &stage, &err)) < 0) {
		cJSON_Delete(report);
		worker_send_failed(w, stage, err.msg, -r);
		goto fail;
	}
	worker_send_json(w, FRAME_SANDBOX, report);
	if (w->task) {
		task_start(w);
		return;
	}
	server_start(w);
	malloc_trim(0);
	return;
fail:
	w->exit_status = EXIT_CONFIG;
	w->state = S_DONE;
}

static void
on_root(struct peer *p, const struct frame *f, void *arg)
{
	struct worker	*w = arg;

	if (f == NULL) {
		/* the root is gone or broke the protocol: a worker without
		 * its root stops its server */
		if (peer_error(p) != -EPIPE)
			log_warnx("%s: channel to mcpvisord: %s",
			    w->name != NULL ? w->name : "worker",
			    strerror(-peer_error(p)));
		w->root_gone = true;
		if (w->task)
			task_stop(w);
		else
			server_stop(w);
		return;
	}
	switch (f->type) {
	case FRAME_CONFIG:
		on_config(w, f);
		break;
	case FRAME_STOP:
		if (f->len == 4 && (frame_get_u32(f->data) & FRAME_STOP_NOW))
			w->stop_now = true;
		if (w->task)
			task_stop(w);
		else
			server_stop(w);
		break;
	case FRAME_SIGNAL:
		if (w->child.pid > 0)
			kill(-w->child.pid, (int)frame_get_u32(f->data));
		break;
	case FRAME_GW_ATTACH: {
		int	fd = peer_take_fd(p);

		if (fd == -1)
			log_warnx("%s: mcpvisord attached a gateway without "
			    "its descriptor", w->name != NULL ? w->name :
			    "worker");
		else if (w->task)
			close(fd);
		else
			gateway_attach(w, fd);
		break;
	}
	}
}

/* --- signals --- */

static void
on_blocked_signal(int sig)
{
	(void)sig;
}

static void
on_signal(struct watcher *sw, uint32_t events)
{
	struct worker		*w = container_of(sw, struct worker, sigw);
	struct signalfd_siginfo	 si;
	int			 status;
	unsigned		 adopted;
	pid_t			 pid;

	(void)events;
	while (read(sw->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			adopted = 0;
			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				if (!spawn_forget(pid))
					adopted++;
				else if (w->task)
					task_reaped(w, pid, status);
				else
					server_reaped(w, pid, status);
			/* an orphan that died may have left orphans of its
			 * own: they are ours now */
			if (adopted > 0)
				spawn_kill_adopted();
			break;
		case SIGTERM:
		case SIGINT:
			/* the root died (parent-death signal) or asks us */
			if (w->task)
				task_stop(w);
			else
				server_stop(w);
			break;
		default:
			if (w->child.pid > 0)
				kill(-w->child.pid, (int)si.ssi_signo);
			break;
		}
	}
}

/* w is all zeroes: static storage, untouched until now. */
static void
worker_init(struct worker *w)
{
	sigset_t	set;
	struct stat	st;

	if (fstat(WORKER_CHANNEL_FD, &st) == -1 || !S_ISSOCK(st.st_mode))
		fatalx(EXIT_CONFIG, "mcpvisor-worker is started by mcpvisord, "
		    "with its channel on descriptor 3");
	/* the parent-death signal arrives through the signalfd; as a
	 * subreaper we inherit what the server leaves behind, so nothing it
	 * started escapes the stop */
	(void)proc_self_pid();	/* read while /proc is the host's */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == -1 ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		fatal("prctl");
	/* what the server's tree leaves behind is adopted by us and
	 * killed: a setsid() escapes its process group, not its worker */
	spawn_track_children();
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGQUIT);
	signal(SIGPIPE, SIG_IGN);
	/* the init of a PID namespace gets only the signals it has a
	 * handler for: a handler that never runs (they stay blocked, read
	 * from the signalfd) lets SIGCHLD and the root's SIGTERM in */
	if (getpid() == 1)
		for (int sig = 1; sig < NSIG; sig++)
			if (sigismember(&set, sig) == 1)
				signal(sig, on_blocked_signal);
	if (loop_init(&w->loop) < 0 ||
	    loop_add_signals(&w->loop, &w->sigw, &set, on_signal) < 0)
		fatal("signalfd, timerfd or epoll");
	server_init(w);
	/* a root that died before the parent-death signal was set shows as
	 * EOF on the channel; the parent's pid proves nothing (as PID 1 of
	 * a container, mcpvisord is pid 1) */
	if ((w->root = peer_new(&w->loop, WORKER_CHANNEL_FD,
	    FRAME_FROM_ROOT_TO_WORKER, on_root, w)) == NULL)
		fatal("the channel");
	peer_accept_fds(w->root);
	/* our pid as mcpvisord knows it, also when it is 1 to us */
	worker_send_u32(w, FRAME_HELLO, (uint32_t)proc_self_pid());
}

static void
worker_free(struct worker *w)
{
	task_free(w);
	gateway_free(w);
	setup_free(w);
	peer_free(w->root);
	w->root = NULL;
	loop_free(&w->loop);
}

/* One worker, from its channel on descriptor 3 to its exit status:
 * what an exec of mcpvisor-worker runs, and what a clone of the fork
 * server does. */
static int
worker_run(void)
{
	/* one per process, and static: its pages that are never written
	 * (the 8 KiB carry of the log's secret mask, a task's line buffer)
	 * are never given a page, where a zeroed stack frame takes them
	 * all, in every worker */
	static struct worker	w;
	uint64_t		deadline;

	log_init("mcpvisor-worker", getenv("MCPVISOR_DEBUG") != NULL);
	worker_init(&w);
	while (w.state != S_DONE)
		if (loop_once(&w.loop, -1) < 0)
			fatal("epoll_wait");
	/* the last frames (the reason for a failure) must reach the root
	 * before we exit */
	deadline = mono_ms() + FLUSH_BEFORE_EXIT_MS;
	while (!w.root_gone && peer_pending(w.root) && mono_ms() < deadline)
		loop_once(&w.loop, (int)(deadline - mono_ms()));
	server_sweep();
	worker_free(&w);
	return w.exit_status;
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--fork-server") == 0)
		return forkserver_run(argv, worker_run);
	if (argc > 1) {
		if (strcmp(argv[1], "--version") == 0) {
			printf("mcpvisor-worker %s\n", MCPVISOR_VERSION);
			return 0;
		}
		fprintf(stderr, "usage: mcpvisor-worker (started by mcpvisord, "
		    "with its channel on descriptor 3)\n");
		return strcmp(argv[1], "--help") == 0 ? 0 : EXIT_CONFIG;
	}
	return worker_run();
}
