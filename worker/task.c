/*
 * A task: instead of supervising a server, the worker runs one program
 * (a deployment hook, a custom rollback action's program) or calls one
 * plugin function (a custom rollback action's, in a child, so that a
 * plugin that hangs or crashes costs only itself) under the sandbox it
 * was given, exactly as a server would run: its user, no capabilities
 * beyond those named, no_new_privs, its limits. The document it is given
 * is on its stdin, its output goes where the worker's does (the
 * deployment's or the rollback's log), its secrets masked, and its first
 * lines to mcpvisord as well (FRAME_OUTPUT, for the live tail); a
 * timeout kills its process
 * group, and how it ended is reported (FRAME_EXITED) before the worker
 * exits. What it leaves behind is swept, as a server's is.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "frame.h"
#include "log.h"
#include "mcpvisor/plugin.h"
#include "runspec.h"
#include "secrets.h"
#include "spawn.h"
#include "util.h"
#include "worker.h"

#define TASK_TIMEOUT_MS		60000
#define TASK_OUTPUT_LINES	200	/* to the live tail; all to the log */
#define TASK_READ_BURST		16

bool
task_wanted(const cJSON *config)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(config, "task")) !=
	    NULL;
}

static void
on_timeout(struct loop_timer *t)
{
	struct worker	*w = container_of(t, struct worker, timer);

	if (w->child.pid > 0) {
		log_warnx("%s: not done within %u ms: killing it", w->name,
		    w->task_timeout_ms);
		kill(-w->child.pid, SIGKILL);
	}
}

/* The document goes into a memfd before the task starts, so that
 * writing it can never block. */
static int
stdin_of(const char *doc, struct errbuf *err)
{
	size_t	len = strlen(doc);
	int	fd;

	if ((fd = memfd_create("mcpvisor-task", MFD_CLOEXEC)) == -1 ||
	    write(fd, doc, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET) ==
	    -1) {
		errbuf_set(err, "its stdin: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

int
task_setup(struct worker *w, const cJSON *config, struct errbuf *err)
{
	const cJSON	*timeout = cJSON_GetObjectItem(config, "timeout_ms");
	const char	*doc = cJSON_GetStringValue(cJSON_GetObjectItem(config,
			    "stdin"));
	const char	*plugin = cJSON_GetStringValue(cJSON_GetObjectItem(
			    config, "plugin"));
	const char	*function = cJSON_GetStringValue(cJSON_GetObjectItem(
			    config, "function"));
	int		 r;

	w->task = true;
	if ((r = worker_take_mask(w, cJSON_GetObjectItem(config, "mask"),
	    err)) < 0)
		return r;
	w->task_timeout_ms = (unsigned)json_int_within(timeout, 1, UINT_MAX,
	    TASK_TIMEOUT_MS);
	if ((w->name = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(config,
	    "task")))) == NULL)
		return -ENOMEM;
	if ((r = runspec_unpack(cJSON_GetObjectItem(config, "run"), &w->run,
	    err)) < 0)
		return r;
	if ((plugin == NULL) != (function == NULL)) {
		errbuf_set(err, "a plugin names its function");
		return -EINVAL;
	}
	if (plugin != NULL && ((w->task_plugin = strdup(plugin)) == NULL ||
	    (w->task_function = strdup(function)) == NULL))
		return -ENOMEM;
	if (sandbox_parse(config, &w->sandbox, err) < 0)
		return -EINVAL;
	if ((r = setup_writable_paths(w, config, err)) < 0)
		return r;
	if ((w->envp = runspec_envp(w->run, w->sandbox.home, NULL)) == NULL)
		return -ENOMEM;
	if ((w->task_in = stdin_of(doc != NULL ? doc : "", err)) < 0)
		return -EIO;
	w->timer.fn = on_timeout;
	return 0;
}

/* In the child: calls the plugin function, says what it said on stdout;
 * its verdict is the exit status. */
static int
call_plugin(void *arg)
{
	const struct worker		*w = arg;
	mcpvisor_rollback_action_fn	*fn;
	mcpvisor_plugin_abi_fn		*abi;
	struct mcpvisor_action_result	 result = { "" };
	char				*doc = NULL;
	size_t				 len = 0;
	ssize_t				 n;
	char				 chunk[4096];
	void				*lib;
	int				 rc;

	/* the document, back from stdin */
	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) > 0) {
		char	*p = realloc(doc, len + (size_t)n + 1);

		if (p == NULL)
			return 111;
		doc = p;
		memcpy(doc + len, chunk, (size_t)n);
		len += (size_t)n;
		doc[len] = '\0';
	}
	if ((lib = dlopen(w->task_plugin, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		printf("%s: %s\n", w->name, dlerror());
		return 126;
	}
	*(void **)&abi = dlsym(lib, MCPVISOR_PLUGIN_ABI_SYMBOL);
	if (abi != NULL && (rc = abi()) != MCPVISOR_PLUGIN_ABI) {
		printf("%s: %s was built for plugin ABI %d, mcpvisor speaks "
		    "%d\n", w->name, w->task_plugin, rc, MCPVISOR_PLUGIN_ABI);
		return 126;
	}
	if ((*(void **)&fn = dlsym(lib, w->task_function)) == NULL) {
		printf("%s: %s has no function %s\n", w->name, w->task_plugin,
		    w->task_function);
		return 126;
	}
	rc = fn(doc != NULL ? doc : "", &result);
	result.message[sizeof(result.message) - 1] = '\0';
	if (result.message[0] != '\0')
		printf("%s: %s\n", w->name, result.message);
	fflush(stdout);
	free(doc);
	return rc == 0 ? 0 : 1;
}

/* A line of the task's output to the root, as long as it listens to
 * lines; the rest is counted (and is in the log). */
static void
send_line(struct worker *w)
{
	if (w->task_lines_sent < TASK_OUTPUT_LINES) {
		worker_send(w, FRAME_OUTPUT, w->task_line,
		    (uint32_t)w->task_line_len);
		w->task_lines_sent++;
	} else
		w->task_lines_dropped++;
	w->task_line_len = 0;
	w->task_line_cut = false;
}

/* Scrubbed output: to the log whole, and line by line to the root (a
 * line past the buffer is cut, marked so). */
static void
task_output(const char *p, size_t n, void *arg)
{
	struct worker	*w = arg;
	const size_t	 room = sizeof(w->task_line) - 4;

	if (write_all(STDERR_FILENO, p, n) < 0)
		log_warn("%s: writing its output to the log", w->name);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			send_line(w);
			continue;
		}
		if (w->task_line_len < room)
			w->task_line[w->task_line_len++] = p[i];
		else if (!w->task_line_cut) {
			memcpy(w->task_line + w->task_line_len, "...", 3);
			w->task_line_len += 3;
			w->task_line_cut = true;
		}
	}
}

static void
on_task_output(struct watcher *ow, uint32_t events)
{
	struct worker	*w = container_of(ow, struct worker, log_w);
	char		 buf[4096];
	ssize_t		 n = -1;

	(void)events;
	for (int i = 0; i < TASK_READ_BURST &&
	    (n = read(ow->fd, buf, sizeof(buf))) > 0; i++)
		secrets_stream(&w->secrets, &w->log_stream, buf, (size_t)n,
		    task_output, w);
	if (n == 0) {
		secrets_stream_flush(&w->secrets, &w->log_stream, task_output,
		    w);
		if (w->task_line_len > 0)
			send_line(w);
		loop_del(&w->loop, ow);
		close(ow->fd);
		ow->fd = -1;
	}
}

/* The exec worked (EOF), or says why it did not: said before the exit
 * (127) is. */
static void
on_exec_status(struct watcher *sw, uint32_t events)
{
	struct worker	*w = container_of(sw, struct worker, status_w);
	char		 reason[PATH_MAX + 32];
	int		 err = spawn_exec_status(sw->fd);

	(void)events;
	if (err == -EAGAIN)
		return;
	loop_del(&w->loop, sw);
	close(sw->fd);
	sw->fd = -1;
	if (err > 0) {
		snprintf(reason, sizeof(reason), "cannot execute %s",
		    w->run->command);
		worker_send_failed(w, "exec", reason, err);
	}
}

void
task_start(struct worker *w)
{
	struct spawn_request	rq = { .path = w->run->command,
				    .argv = w->run->argv, .envp = w->envp,
				    .cwd = w->run->cwd, .new_pgrp = true,
				    .pdeathsig = SIGKILL };
	int			out[2], r;

	if (pipe2(out, O_CLOEXEC) == -1) {
		worker_send_failed(w, "spawn", "pipe failed", errno);
		w->exit_status = EXIT_TEMPFAIL;
		w->state = S_DONE;
		return;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	rq.fds[rq.nfds++] = (struct spawn_fd){ 0, w->task_in };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 1, out[1] };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 2, out[1] };
	if (w->task_plugin != NULL) {
		rq.child_fn = call_plugin;
		rq.child_arg = w;
	}
	r = spawn_start(&rq, &w->child.pid, w->task_plugin == NULL ?
	    &w->status_w.fd : NULL);
	close(w->task_in);
	w->task_in = -1;
	close(out[1]);
	w->log_w = (struct watcher){ out[0], on_task_output };
	if (loop_add(&w->loop, &w->log_w, EPOLLIN) < 0)
		fatal("epoll_ctl add");
	if (r < 0) {
		worker_send_failed(w, "spawn", "fork failed", -r);
		w->exit_status = EXIT_TEMPFAIL;
		w->state = S_DONE;
		return;
	}
	if (w->status_w.fd != -1) {
		w->status_w.fn = on_exec_status;
		loop_add(&w->loop, &w->status_w, EPOLLIN);
	}
	w->state = S_STARTED;
	worker_send_u32(w, FRAME_STARTED, (uint32_t)w->child.pid);
	loop_timer_set(&w->loop, &w->timer, w->task_timeout_ms);
}

void
task_reaped(struct worker *w, pid_t pid, int status)
{
	uint8_t	b[8];

	if (pid != w->child.pid)
		return;
	/* what it said of its exec comes first, then what it wrote (its
	 * descendants may hold the pipe: what is there now is read) */
	if (w->status_w.fd != -1)
		on_exec_status(&w->status_w, EPOLLIN);
	if (w->log_w.fd != -1)
		on_task_output(&w->log_w, EPOLLIN);
	if (w->task_line_len > 0)
		send_line(w);
	if (w->task_lines_dropped > 0) {
		char	note[96];
		int	len = snprintf(note, sizeof(note), "(%u more lines in "
			    "the log)", w->task_lines_dropped);

		worker_send(w, FRAME_OUTPUT, note, (uint32_t)len);
		w->task_lines_dropped = 0;
	}
	frame_put_u32(b, WIFSIGNALED(status) ? 1 : 0);
	frame_put_u32(b + 4, (uint32_t)(WIFSIGNALED(status) ?
	    WTERMSIG(status) : WEXITSTATUS(status)));
	worker_send(w, FRAME_EXITED, b, 8);
	/* whatever is left of its process group goes with it */
	kill(-w->child.pid, SIGKILL);
	w->child.pid = 0;
	loop_timer_cancel(&w->loop, &w->timer);
	w->state = S_DONE;
	w->exit_status = 0;
}

void
task_stop(struct worker *w)
{
	if (w->child.pid > 0)
		kill(-w->child.pid, SIGKILL);
	else
		w->state = S_DONE;
}

void
task_free(struct worker *w)
{
	if (w->task_in != -1)
		close(w->task_in);
	free(w->task_plugin);
	free(w->task_function);
}
