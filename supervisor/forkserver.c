/*
 * The fork server: mcpvisor-worker --fork-server (worker/forkserver.c),
 * the template workers are cloned from as our own children instead of
 * being exec'd one by one. A clone skips the exec and the dynamic
 * loading, and the pages the loader wrote stay shared by every worker:
 * a worker costs less time to start and less memory to keep.
 *
 * Started with the first worker. Whenever it is not there to answer (its
 * start failed, it died, it answered late or wrongly, or --no-fork-server
 * said so) a worker is exec'd as before, and the server is started again
 * no sooner than a second later. Requests are synchronous: the clone is
 * our child, known as one we started, before the loop can hear of its
 * exit.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "procstat.h"
#include "spawn.h"
#include "supervisor.h"
#include "util.h"
#include "workerproc.h"

#define FORKSERVER_ANSWER_MS	1000	/* a clone takes well under 1 ms */
#define FORKSERVER_HELLO	0x5346564d	/* "MVFS", its first word */
#define FORKSERVER_RETRY_MS	1000

static void
forkserver_drop(struct supervisor *sv, const char *why)
{
	struct forkserver	*fs = &sv->forkserver;

	if (why != NULL)
		log_warnx("fork server %d: %s: workers are exec'd meanwhile",
		    (int)fs->pid, why);
	/* ours, so killed safely; reaped like any child */
	if (fs->pid > 0) {
		close(fs->fd);
		kill(fs->pid, SIGKILL);
	}
	fs->fd = -1;
	fs->pid = 0;
	fs->retry_ms = mono_ms() + FORKSERVER_RETRY_MS;
}

static int
forkserver_start(struct supervisor *sv)
{
	static char		*argv[] = { "mcpvisor-forkserver",
				    "--fork-server", NULL };
	struct forkserver	*fs = &sv->forkserver;
	struct spawn_request	 rq = { .path = sv->worker_path, .argv = argv,
				    .pdeathsig = SIGKILL };
	struct timeval		 tv = { FORKSERVER_ANSWER_MS / 1000,
				    FORKSERVER_ANSWER_MS % 1000 * 1000 };
	char			*envp[WORKER_ENV_MAX];
	int			 pair[2], r;
	uint32_t		 hello = 0;
	ssize_t			 n;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == -1)
		return -errno;
	worker_environment(envp, WORKER_ENV_MAX);
	rq.envp = envp;
	worker_fd_map(&rq, 2, pair[1]);
	r = spawn_start(&rq, &fs->pid, NULL);
	for (char **e = envp; *e != NULL; e++)
		free(*e);
	close(pair[1]);
	if (r < 0) {
		close(pair[0]);
		fs->pid = 0;
		fs->retry_ms = mono_ms() + FORKSERVER_RETRY_MS;
		return r;
	}
	fs->fd = pair[0];
	setsockopt(fs->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fs->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* a worker program that is not one (--worker) says something else,
	 * or nothing: its workers are exec'd, all of them */
	while ((n = recv(fs->fd, &hello, sizeof(hello), 0)) == -1 &&
	    errno == EINTR)
		;
	if (n != (ssize_t)sizeof(hello) || hello != FORKSERVER_HELLO) {
		log_warnx("%s does not serve as a fork server: every worker is "
		    "exec'd", sv->worker_path);
		forkserver_drop(sv, NULL);
		fs->off = true;
		return -ENOSYS;
	}
	return 0;
}

int
forkserver_spawn(struct supervisor *sv, int out_fd, int channel_fd,
    bool new_pid_ns, pid_t *pid)
{
	struct forkserver	*fs = &sv->forkserver;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 2)];
	} ctl;
	int			 fds[2] = { out_fd, channel_fd };
	char			 byte = new_pid_ns ? FORKSERVER_WORKER_PIDNS :
				    FORKSERVER_WORKER, why[64];
	struct iovec		 iov = { &byte, 1 };
	struct msghdr		 msg = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr		*c;
	struct proc_lineage	 l;
	int32_t			 answer;
	ssize_t			 n;

	if (fs->off)
		return -ENOSYS;
	if (fs->pid <= 0 && (mono_ms() < fs->retry_ms ||
	    forkserver_start(sv) < 0))
		return -EAGAIN;
	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	while ((n = sendmsg(fs->fd, &msg, MSG_NOSIGNAL)) == -1 &&
	    errno == EINTR)
		;
	if (n != 1) {
		snprintf(why, sizeof(why), "request: %s", strerror(errno));
		forkserver_drop(sv, why);
		return -EAGAIN;
	}
	while ((n = recv(fs->fd, &answer, sizeof(answer), 0)) == -1 &&
	    errno == EINTR)
		;
	if (n != (ssize_t)sizeof(answer) || answer == 0) {
		snprintf(why, sizeof(why), "%s", n == -1 ? strerror(errno) :
		    "no answer");
		forkserver_drop(sv, why);
		return -EAGAIN;
	}
	if (answer < 0)
		return answer;		/* the clone failed: so may an exec */
	/* believed once the kernel says it is our child */
	if (proc_lineage((pid_t)answer, &l) < 0 || l.ppid != getpid()) {
		snprintf(why, sizeof(why), "pid %d is no child of ours",
		    (int)answer);
		forkserver_drop(sv, why);
		fs->off = true;
		return -EAGAIN;
	}
	*pid = (pid_t)answer;
	/* ours, as one we forked: reaped, and never taken for an orphan */
	spawn_note_started(*pid);
	return 0;
}

bool
forkserver_reaped(struct supervisor *sv, pid_t pid, int status)
{
	struct forkserver	*fs = &sv->forkserver;
	char			 why[64];

	if (pid <= 0 || pid != fs->pid)
		return false;
	if (!fs->off) {
		snprintf(why, sizeof(why), "exited (%s %d)",
		    WIFSIGNALED(status) ? "signal" : "status",
		    WIFSIGNALED(status) ? WTERMSIG(status) :
		    WEXITSTATUS(status));
		log_warnx("fork server %d: %s: workers are exec'd meanwhile",
		    (int)pid, why);
		close(fs->fd);
	}
	fs->fd = -1;
	fs->pid = 0;
	fs->retry_ms = mono_ms() + FORKSERVER_RETRY_MS;
	return true;
}

void
forkserver_stop(struct supervisor *sv)
{
	struct forkserver	*fs = &sv->forkserver;

	/* at end of file on its socket it exits (and is reaped as ours) */
	if (fs->pid > 0 && !fs->off)
		close(fs->fd);
	fs->fd = -1;
	fs->off = true;
}
