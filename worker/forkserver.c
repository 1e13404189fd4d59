/*
 * mcpvisor-worker --fork-server: the template every worker is cloned
 * from. mcpvisord starts one; it loads and relocates the program and
 * its libraries once, then serves the root on descriptor 3 (a
 * SOCK_SEQPACKET socket pair, mcpvisor-protocol(7)): each request brings
 * a worker's output and channel descriptors, and is answered with the
 * pid of a worker cloned for it (or -errno).
 *
 * A worker is cloned as the root's own child (CLONE_PARENT, through the
 * spawn routine), so the root reaps and signals it as one it forked.
 * What the dynamic loader wrote (relocated GOTs, the libraries' data)
 * stays shared among all workers, copy-on-write and never written
 * again, where an exec makes every worker write its own: that, and the
 * exec and loading it skips, is the point. Workers share the template's
 * address-space layout (as Android's zygote children do); each server
 * is an exec of its own and gets a fresh one.
 *
 * The template holds nothing of any deployment: no configuration, no
 * secret, no descriptor but its socket; it exits when the root closes
 * the socket, and dies with the root (a parent-death signal).
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cgroup.h"
#include "frame.h"
#include "sandbox.h"
#include "spawn.h"
#include "worker.h"

#define REQUEST_FDS	2	/* the worker's output, its channel */
#define HELLO		0x5346564d	/* "MVFS": the root knows us so */

struct clone_job {
	char	**argv;
	int	(*run)(void);
};

/* In the clone: it looks like an exec'd worker (its name and command
 * line), then lives a worker's life. exit(), not _exit(): the worker's
 * atexit work is a worker's, not the template's. */
static int
worker_clone_main(void *arg)
{
	struct clone_job	*job = arg;
	static const char	 name[] = "mcpvisor-worker";
	char			*start = job->argv[0], *end = start;
	size_t			 len;

	prctl(PR_SET_NAME, name, 0, 0, 0);
	for (char **a = job->argv; *a != NULL; a++)
		end = *a + strlen(*a) + 1;
	/* the argument area, rewritten in place: ps and pgrep see a worker */
	len = (size_t)(end - start);
	memset(start, 0, len);
	memcpy(start, name, sizeof(name) <= len ? sizeof(name) - 1 : len - 1);
	exit(job->run());
}

/* One request: its two descriptors (closed here either way), whether
 * the worker is the init of a PID namespace of its own, and the answer,
 * a pid or -errno. */
static int32_t
serve_one(struct clone_job *job, const int *fds, bool new_pid_ns)
{
	struct spawn_request	 rq = { .sibling = true,
				    .new_pid_ns = new_pid_ns,
				    .child_fn = worker_clone_main,
				    .child_arg = job };
	pid_t			 pid;
	int			 r;

	rq.fds[rq.nfds++] = (struct spawn_fd){ 0, SPAWN_DEVNULL };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 1, fds[0] };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 2, fds[0] };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 3, fds[1] };
	r = spawn_start(&rq, &pid, NULL);
	close(fds[0]);
	close(fds[1]);
	return r < 0 ? r : (int32_t)pid;
}

/* The next request: its byte (FORKSERVER_WORKER or
 * FORKSERVER_WORKER_PIDNS) when *fds holds its two descriptors, 0 when
 * the root closed the socket, -EINVAL for one of another shape
 * (whatever it carried is closed). */
static int
next_request(int sock, int *fds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * REQUEST_FDS)];
	} ctl;
	char		 byte;
	struct iovec	 iov = { &byte, 1 };
	struct msghdr	 msg = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	ssize_t		 n;
	size_t		 got;

	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) == -1 &&
	    errno == EINTR)
		;
	if (n <= 0)
		return 0;
	got = frame_take_rights(&msg, fds, REQUEST_FDS);
	if (got == REQUEST_FDS && n == 1 && !(msg.msg_flags & MSG_CTRUNC) &&
	    (byte == FORKSERVER_WORKER || byte == FORKSERVER_WORKER_PIDNS))
		return byte;
	for (size_t i = 0; i < got && i < REQUEST_FDS; i++)
		close(fds[i]);
	return -EINVAL;
}

int
forkserver_run(char **argv, int (*run)(void))
{
	struct clone_job	job = { argv, run };
	int			fds[REQUEST_FDS], r;
	int32_t			answer;
	uint32_t		hello = HELLO;

	prctl(PR_SET_NAME, "mcpvisor-fork", 0, 0, 0);
	/* once, for every worker it clones */
	cgroup_prepare();
	sandbox_seccomp_prepare();
	/* what building it freed goes back: a worker's first allocations
	 * would else land on pages of ours, each then copied */
	malloc_trim(0);
	if (send(WORKER_CHANNEL_FD, &hello, sizeof(hello), MSG_NOSIGNAL) !=
	    (ssize_t)sizeof(hello))
		return 1;
	while ((r = next_request(WORKER_CHANNEL_FD, fds)) != 0) {
		answer = r < 0 ? r : serve_one(&job, fds,
		    r == FORKSERVER_WORKER_PIDNS);
		if (send(WORKER_CHANNEL_FD, &answer, sizeof(answer),
		    MSG_NOSIGNAL) != (ssize_t)sizeof(answer))
			break;
	}
	return 0;
}
