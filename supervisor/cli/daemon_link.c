/*
 * Connecting to mcpvisord, starting it if need be. The daemon is started
 * detached (its own session, output to STATE_DIR/logs/mcpvisord.log), so
 * that it outlives the CLI that started it.
 */
#include "daemon_link.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "spawn.h"
#include "state.h"
#include "util.h"

#ifndef MCPVISOR_SBINDIR
#define MCPVISOR_SBINDIR "/usr/local/sbin"
#endif
#ifndef MCPVISOR_BIN_TO_SBIN
#define MCPVISOR_BIN_TO_SBIN "../sbin"
#endif

/* mcpvisord: beside us (a build tree), in the sbin directory of the
 * install we are part of, where this build installs it, else on PATH.
 * -ENOENT, said, when it is nowhere. */
int
daemon_path(char *buf, size_t size)
{
	static const char *const dirs[] = { MCPVISOR_BIN_TO_SBIN,
	    MCPVISOR_SBINDIR, NULL };
	char		 tried[1024];
	const char	*path = getenv("PATH");
	char		*copy, *dir, *save = NULL;

	if (util_find_program("mcpvisord", dirs, buf, size, tried,
	    sizeof(tried)))
		return 0;
	if (path != NULL && (copy = strdup(path)) != NULL) {
		for (dir = strtok_r(copy, ":", &save); dir != NULL;
		    dir = strtok_r(NULL, ":", &save)) {
			snprintf(buf, size, "%s/mcpvisord", dir);
			if (dir[0] == '/' && access(buf, X_OK) == 0) {
				free(copy);
				return 0;
			}
		}
		free(copy);
	}
	fprintf(stderr, "mcpvisor: cannot find mcpvisord to start (looked "
	    "at %s and on PATH)\n", tried);
	return -ENOENT;
}

/* What of the caller's environment a daemon it starts keeps: where
 * programs and the locale are, who it is, and the sanitizers' settings.
 * Nothing else: the first caller's secrets must not live on in a
 * long-lived process's /proc/PID/environ (each request carries its own). */
static const char *const daemon_keeps[] = { "PATH", "HOME", "USER",
    "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ",
    "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR", "MCPVISOR_DEBUG",
    "MCPVISOR_LIMITS",
    "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS" };
#define DAEMON_KEEPS	(sizeof(daemon_keeps) / sizeof(daemon_keeps[0]))

static void
daemon_environment(char *envp[DAEMON_KEEPS + 1])
{
	size_t	k = 0;

	for (size_t i = 0; i < DAEMON_KEEPS; i++) {
		const char	*v = getenv(daemon_keeps[i]);

		if (v != NULL && asprintf(&envp[k], "%s=%s", daemon_keeps[i],
		    v) != -1)
			k++;
	}
	envp[k] = NULL;
}

/* Started detached (its own session, nobody's child but init's, output
 * to STATE_DIR/logs/mcpvisord.log), so that it outlives the CLI. It
 * says on a pipe (--notify-fd) when its control socket takes requests:
 * *ready is our end, which reads a newline then, or end of file if it
 * died first. */
static int
start_daemon(const char *state_dir, int *ready)
{
	char			 exe[PATH_MAX], log[PATH_MAX + 32];
	char			*argv[] = { "mcpvisord", "--state-dir",
				    (char *)(uintptr_t)state_dir,
				    "--notify-fd", "3", NULL };
	char			*envp[DAEMON_KEEPS + 1];
	struct spawn_request	 rq = { .path = exe, .argv = argv,
				    .envp = envp, .new_session = true,
				    .detach = true };
	struct errbuf		 err;
	pid_t			 pid;
	int			 out, pipefd[2], r;

	if ((r = state_prepare(state_dir, &err)) < 0) {
		fprintf(stderr, "mcpvisor: %s\n", err.msg);
		return r;
	}
	if ((r = daemon_path(exe, sizeof(exe))) < 0)
		return r;
	snprintf(log, sizeof(log), "%s/logs/mcpvisord.log", state_dir);
	if ((out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		return -errno;
	if (pipe2(pipefd, O_CLOEXEC) == -1) {
		r = -errno;
		close(out);
		return r;
	}
	rq.fds[rq.nfds++] = (struct spawn_fd){ 0, SPAWN_DEVNULL };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 1, out };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 2, out };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 3, pipefd[1] };
	daemon_environment(envp);
	r = spawn_start(&rq, &pid, NULL);
	for (char **e = envp; *e != NULL; e++)
		free(*e);
	close(out);
	close(pipefd[1]);
	if (r < 0)
		close(pipefd[0]);
	else
		*ready = pipefd[0];
	return r;
}

/* Until the daemon we started says it is ready (a newline) or is gone
 * (end of file: -ECHILD), 10 s at most (-ETIMEDOUT). */
static int
await_daemon(int ready)
{
	struct pollfd	pfd = { ready, POLLIN, 0 };
	char		c;
	ssize_t		n = -1;
	int		r;

	while ((r = poll(&pfd, 1, 10000)) == -1 && errno == EINTR)
		;
	if (r == 1)
		n = read(ready, &c, 1);
	close(ready);
	if (n == 1)
		return 0;
	return r == 0 ? -ETIMEDOUT : -ECHILD;
}

int
link_connect(struct daemon_link *c, const char *state_dir, bool start,
    struct errbuf *err)
{
	int	fd = state_control_connect(state_dir, err), r, ready;

	if (fd < 0 && start && (fd == -ENOENT || fd == -ECONNREFUSED)) {
		if ((r = start_daemon(state_dir, &ready)) < 0)
			return r;
		r = await_daemon(ready);
		/* one that died may have lost a race to another CLI's */
		if ((fd = state_control_connect(state_dir, err)) < 0 &&
		    r < 0) {
			if (err != NULL)
				errbuf_set(err, "mcpvisord %s before it was "
				    "ready: see %s/logs/mcpvisord.log", r ==
				    -ETIMEDOUT ? "took over 10 s" : "exited",
				    state_dir);
			return r;
		}
	}
	if (fd < 0)
		return fd;
	c->fd = fd;
	frame_reader_init(&c->rd, fd, FRAME_FROM_ROOT_TO_CLI);
	frame_writer_init(&c->wr, fd);
	return 0;
}

int
link_request(struct daemon_link *c, const cJSON *rq)
{
	int	r;

	/* a blocking socket: the write completes or fails */
	if ((r = frame_write_json(&c->wr, FRAME_REQUEST, rq)) < 0)
		return r;
	while (frame_writer_pending(&c->wr))
		if ((r = frame_flush(&c->wr)) < 0)
			return r;
	return 0;
}

int
link_next(struct daemon_link *c, uint8_t *type, cJSON **json)
{
	struct frame	f;
	int		r;

	while ((r = frame_read(&c->rd, &f)) == 0)
		;
	if (r < 0)
		return r;
	*type = f.type;
	*json = cJSON_ParseWithLength((char *)f.data, f.len);
	free(f.data);
	return *json != NULL ? 1 : -EBADMSG;
}

void
link_close(struct daemon_link *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	frame_reader_clear(&c->rd);
	frame_writer_clear(&c->wr);
}
