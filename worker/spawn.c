/*
 * fork + execve with descriptor hygiene. Everything between fork and
 * exec is async-signal-safe: no allocation, no stdio.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void
close_pair(int p[2])
{
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	p[0] = p[1] = -1;
}

static void
child_fail(int status_fd, int err)
{
	ssize_t	n;

	do
		n = write(status_fd, &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	_exit(127);
}

/* Closes every descriptor from 3 up except keep_a and keep_b. */
static void
close_others(int keep_a, int keep_b)
{
	int	lo = keep_a < keep_b ? keep_a : keep_b;
	int	hi = keep_a < keep_b ? keep_b : keep_a;

	if (lo < 0)
		lo = hi;
	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0U, 0);
}

static void
child(const struct spawn_request *rq, pid_t parent, int status, int in,
    int out, int log, int ready)
{
	sigset_t	none;

	if (setpgid(0, 0) == -1)
		child_fail(status, errno);
	/* a worker killed outright (SIGKILL, out of memory) takes its server
	 * along: an orphan would hold the server's port against the worker
	 * that replaces it. The second test covers a worker that died
	 * before the first was set. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(127);
	/* the descriptors above 2 may sit on 0..2: move them out first */
	if ((status = fcntl(status, F_DUPFD_CLOEXEC, 10)) == -1 ||
	    (in = fcntl(in, F_DUPFD, 10)) == -1 ||
	    (log = fcntl(log, F_DUPFD, 10)) == -1 ||
	    (out != -1 && (out = fcntl(out, F_DUPFD, 10)) == -1) ||
	    (ready != -1 && (ready = fcntl(ready, F_DUPFD, 10)) == -1))
		child_fail(status, errno);
	if (dup2(in, 0) == -1 || dup2(out != -1 ? out : log, 1) == -1 ||
	    dup2(log, 2) == -1)
		child_fail(status, errno);
	if (ready != -1 && dup2(ready, rq->readiness_fd) == -1)
		child_fail(status, errno);
	if (ready != -1 && status == rq->readiness_fd &&
	    (status = fcntl(status, F_DUPFD_CLOEXEC, rq->readiness_fd + 1)) ==
	    -1)
		_exit(127);
	close_others(status, ready != -1 ? rq->readiness_fd : -1);
	/* both survive exec: a server must not inherit ours */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	if (chdir(rq->cwd != NULL ? rq->cwd : "/") == -1)
		child_fail(status, errno);
	if (strchr(rq->command, '/') != NULL)
		execve(rq->command, rq->argv, rq->envp);
	else
		execvpe(rq->command, rq->argv, rq->envp);
	child_fail(status, errno);
}

int
spawn_server(const struct spawn_request *rq, struct spawn_result *res)
{
	int	status[2] = { -1, -1 }, in[2] = { -1, -1 };
	int	out[2] = { -1, -1 }, log[2] = { -1, -1 }, ready[2] = { -1, -1 };
	int	r;
	pid_t	pid, self = getpid();

	if (pipe2(status, O_CLOEXEC) == -1 || pipe2(log, O_CLOEXEC) == -1 ||
	    (rq->readiness_fd >= 0 && pipe2(ready, O_CLOEXEC) == -1))
		goto fail;
	if (rq->stdio_channel) {
		if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1)
			goto fail;
	} else if ((in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	if ((pid = fork()) == -1)
		goto fail;
	if (pid == 0)
		child(rq, self, status[1], in[0], out[1], log[1], ready[1]);
	close(status[1]);
	close(in[0]);
	close(log[1]);
	if (out[1] != -1)
		close(out[1]);
	if (ready[1] != -1)
		close(ready[1]);
	res->pid = pid;
	res->status_fd = status[0];
	res->stdin_fd = in[1];
	res->stdout_fd = out[0];
	res->log_fd = log[0];
	res->ready_fd = ready[0];
	for (int *fd = &res->status_fd; fd <= &res->ready_fd; fd++)
		if (*fd != -1)
			fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
	return 0;
fail:
	r = -errno;
	close_pair(status);
	close_pair(in);
	close_pair(out);
	close_pair(log);
	close_pair(ready);
	return r;
}

int
spawn_exec_status(int status_fd)
{
	int	err;
	ssize_t	n;

	do
		n = read(status_fd, &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n == (ssize_t)sizeof(err))
		return err > 0 ? err : EIO;
	return n == -1 && errno == EAGAIN ? -EAGAIN : EIO;
}
