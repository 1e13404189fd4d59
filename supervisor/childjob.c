#include "childjob.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "spawn.h"
#include "supervisor.h"
#include "util.h"

struct childjob {
	struct childjob		*next;
	struct supervisor	*sv;
	pid_t			 pid;
	struct watcher		 out;
	char			*buf;
	size_t			 len;
	size_t			 max;
	bool			 too_much;
	childjob_work_fn	*work;
	const void		*work_arg;	/* read only in the child */
	childjob_done_fn	*done;		/* NULL: cancelled, or told */
	void			*done_arg;
	bool			 reaped;
	bool			 read;
};

static int
job_child(void *arg)
{
	const struct childjob	*job = arg;

	return job->work(job->work_arg, STDOUT_FILENO);
}

static void
job_release(struct childjob *job)
{
	struct childjob	**pp = &job->sv->jobs;

	while (*pp != NULL && *pp != job)
		pp = &(*pp)->next;
	if (*pp == job)
		*pp = job->next;
	free(job->buf);
	free(job);
}

static void
deliver(struct childjob *job)
{
	childjob_done_fn	*done = job->done;
	char			*answer = job->too_much ? NULL : job->buf;

	job->done = NULL;
	if (answer != NULL)
		job->buf = NULL;
	if (done != NULL)
		done(job->done_arg, answer, answer != NULL ? job->len : 0);
	else
		free(answer);
}

static void
on_output(struct watcher *w, uint32_t events)
{
	struct childjob	*job = container_of(w, struct childjob, out);
	char		 chunk[65536];
	ssize_t		 n;

	(void)events;
	while ((n = read(w->fd, chunk, sizeof(chunk))) > 0) {
		char	*p;

		if (job->len + (size_t)n > job->max ||
		    (p = realloc(job->buf, job->len + (size_t)n + 1)) == NULL) {
			/* too much to be an answer: done with it */
			job->too_much = true;
			if (!job->reaped)
				kill(job->pid, SIGKILL);
			n = 0;
			break;
		}
		job->buf = p;
		memcpy(job->buf + job->len, chunk, (size_t)n);
		job->len += (size_t)n;
		job->buf[job->len] = '\0';
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	loop_del(&job->sv->loop, w);
	close(w->fd);
	w->fd = -1;
	job->read = true;
	deliver(job);
	if (job->reaped)
		job_release(job);
}

struct childjob *
childjob_start(struct supervisor *sv, childjob_work_fn *work,
    const void *work_arg, size_t max, childjob_done_fn *done, void *done_arg)
{
	struct childjob		*job;
	/* it dies with us: its answer would have no one to read it */
	struct spawn_request	 rq = { .child_fn = job_child,
				    .pdeathsig = SIGKILL };
	int			 out[2], r;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return NULL;
	*job = (struct childjob){ .sv = sv, .max = max, .work = work,
	    .work_arg = work_arg, .done = done, .done_arg = done_arg };
	rq.child_arg = job;
	if (pipe2(out, O_CLOEXEC) == -1) {
		free(job);
		return NULL;
	}
	rq.fds[rq.nfds++] = (struct spawn_fd){ 0, SPAWN_DEVNULL };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 1, out[1] };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 2, 2 };
	r = spawn_start(&rq, &job->pid, NULL);
	close(out[1]);
	if (r < 0) {
		close(out[0]);
		free(job);
		errno = -r;
		return NULL;
	}
	job->next = sv->jobs;
	sv->jobs = job;
	job->out = (struct watcher){ out[0], on_output };
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	if ((r = loop_add(&sv->loop, &job->out, EPOLLIN)) < 0) {
		/* reaped like any job, with no one to tell */
		kill(job->pid, SIGKILL);
		close(out[0]);
		job->out.fd = -1;
		job->done = NULL;
		job->read = true;
		errno = -r;
		return NULL;
	}
	return job;
}

void
childjob_cancel(struct childjob *job)
{
	if (job == NULL)
		return;
	job->done = NULL;
	job->done_arg = NULL;
	if (!job->reaped)
		kill(job->pid, SIGKILL);
}

bool
childjobs_reaped(struct supervisor *sv, pid_t pid, int status)
{
	struct childjob	*job;

	(void)status;
	for (job = sv->jobs; job != NULL; job = job->next)
		if (job->pid == pid && !job->reaped)
			break;
	if (job == NULL)
		return false;
	job->reaped = true;
	if (job->read)
		job_release(job);
	return true;
}

bool
childjobs_pending(const struct supervisor *sv)
{
	return sv->jobs != NULL;
}

void
childjobs_free_all(struct supervisor *sv)
{
	while (sv->jobs != NULL) {
		struct childjob	*job = sv->jobs;

		if (!job->reaped)
			kill(job->pid, SIGKILL);
		if (job->out.fd != -1) {
			loop_del(&sv->loop, &job->out);
			close(job->out.fd);
		}
		sv->jobs = job->next;
		free(job->buf);
		free(job);
	}
}
