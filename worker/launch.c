#include "launch.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "spawn.h"

static void
close_pair(int p[2])
{
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	p[0] = p[1] = -1;
}

int
launch_server(const struct launch_request *rq, struct launch_result *res)
{
	struct spawn_request	 sp = {
		.path = rq->command, .argv = rq->argv, .envp = rq->envp,
		.cwd = rq->cwd != NULL ? rq->cwd : "/", .new_pgrp = true,
		/* a worker killed outright (SIGKILL, out of memory) takes
		 * its server along: an orphan would hold the server's port
		 * against the worker that replaces it */
		.pdeathsig = SIGKILL,
		.join_cgroups = rq->join_cgroups,
		.njoin_cgroups = rq->njoin_cgroups,
		.seccomp_filter = rq->seccomp_filter,
	};
	int			 in[2] = { -1, -1 }, out[2] = { -1, -1 };
	int			 log[2] = { -1, -1 }, ready[2] = { -1, -1 };
	int			 r;

	if (pipe2(log, O_CLOEXEC) == -1 ||
	    (rq->readiness_fd >= 0 && pipe2(ready, O_CLOEXEC) == -1) ||
	    (rq->stdio_channel && (pipe2(in, O_CLOEXEC) == -1 ||
	    pipe2(out, O_CLOEXEC) == -1))) {
		r = -errno;
		goto fail;
	}
	sp.fds[sp.nfds++] = (struct spawn_fd){ 0, rq->stdio_channel ? in[0] :
	    SPAWN_DEVNULL };
	sp.fds[sp.nfds++] = (struct spawn_fd){ 1, rq->stdio_channel ? out[1] :
	    log[1] };
	sp.fds[sp.nfds++] = (struct spawn_fd){ 2, log[1] };
	if (rq->readiness_fd >= 0)
		sp.fds[sp.nfds++] = (struct spawn_fd){ rq->readiness_fd,
		    ready[1] };
	if ((r = spawn_start(&sp, &res->pid, &res->status_fd)) < 0)
		goto fail;
	close(log[1]);
	if (in[0] != -1)
		close(in[0]);
	if (out[1] != -1)
		close(out[1]);
	if (ready[1] != -1)
		close(ready[1]);
	res->stdin_fd = in[1];
	res->stdout_fd = out[0];
	res->log_fd = log[0];
	res->ready_fd = ready[0];
	for (int *fd = &res->stdin_fd; fd <= &res->ready_fd; fd++)
		if (*fd != -1)
			fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
	return 0;
fail:
	close_pair(in);
	close_pair(out);
	close_pair(log);
	close_pair(ready);
	return r;
}
