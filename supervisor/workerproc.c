/*
 * Worker processes. A worker belongs to at most one server run; when an
 * attempt fails the two are detached and the worker is told to stop (and
 * killed if it does not), so that late frames of a failed attempt change
 * nothing. Workers are freed only at the end of a loop turn, since an
 * epoll batch may still name them.
 */
#include "workerproc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"
#include "peer.h"
#include "spawn.h"
#include "supervisor.h"
#include "util.h"

struct worker_proc {
	struct worker_proc	*next;
	struct supervisor	*sv;
	struct peer		*peer;		/* the channel; NULL once closed */
	worker_frame_fn		*fn;		/* NULL once detached */
	void			*arg;
	struct loop_timer	 kill_timer;
	pid_t			 pid;
	pid_t			 server_pid;
	bool			 lost;		/* channel gone or process dead */
	bool			 reaped;
};

static void
close_channel(struct worker_proc *wp)
{
	peer_free(wp->peer);
	wp->peer = NULL;
}

/* The worker is lost: said once to its owner, if it has one. */
static void
lose(struct worker_proc *wp, const char *why)
{
	worker_frame_fn	*fn = wp->fn;

	if (wp->lost)
		return;
	wp->lost = true;
	close_channel(wp);
	wp->fn = NULL;
	if (fn != NULL)
		fn(wp, NULL, why, wp->arg);
}

static void
on_channel(struct peer *p, const struct frame *f, void *arg)
{
	struct worker_proc	*wp = arg;
	char			 why[128];

	if (f == NULL) {
		if (peer_error(p) == -EPIPE)
			snprintf(why, sizeof(why), "worker %d died",
			    (int)wp->pid);
		else {
			snprintf(why, sizeof(why), "worker %d broke the "
			    "protocol: %s", (int)wp->pid,
			    strerror(-peer_error(p)));
			log_warnx("%s: dropping its link", why);
			worker_kill(wp);
		}
		lose(wp, why);
		return;
	}
	if (f->type == FRAME_HELLO && frame_get_u32(f->data) !=
	    (uint32_t)wp->pid) {
		lose(wp, "protocol violation: hello from a different pid");
		return;
	}
	/* kept even for a detached worker: its server must not outlive it */
	if (f->type == FRAME_STARTED)
		wp->server_pid = (pid_t)frame_get_u32(f->data);
	if (wp->fn != NULL)
		wp->fn(wp, f, NULL, wp->arg);
}

static void
on_kill_timer(struct loop_timer *t)
{
	struct worker_proc	*wp = container_of(t, struct worker_proc,
				    kill_timer);

	log_warnx("worker %d did not stop in time: killing it and its server",
	    (int)wp->pid);
	worker_kill(wp);
}

/* The few variables of ours a worker needs; secrets never travel in a
 * worker's environment. */
static void
worker_environment(char **envp, size_t n)
{
	static const char *const keep[] = { "PATH", "LANG", "TZ",
	    "MCPVISOR_DEBUG" };
	size_t	k = 0;

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]) && k + 1 < n;
	    i++) {
		const char	*v = getenv(keep[i]);

		if (v != NULL && asprintf(&envp[k], "%s=%s", keep[i], v) != -1)
			k++;
	}
	envp[k] = NULL;
}

struct worker_proc *
worker_spawn(struct supervisor *sv, int logfd, worker_frame_fn *fn,
    void *arg)
{
	static char		*argv[] = { "mcpvisor-worker", NULL };
	struct worker_proc	*wp;
	struct spawn_request	 rq = { .path = sv->worker_path, .argv = argv };
	char			*envp[5];
	int			 pair[2], r;

	if ((wp = calloc(1, sizeof(*wp))) == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		free(wp);
		return NULL;
	}
	worker_environment(envp, 5);
	rq.envp = envp;
	rq.fds[rq.nfds++] = (struct spawn_fd){ 0, SPAWN_DEVNULL };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 1, logfd != -1 ? logfd : 2 };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 2, logfd != -1 ? logfd : 2 };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 3, pair[1] };
	r = spawn_start(&rq, &wp->pid, NULL);
	for (char **e = envp; *e != NULL; e++)
		free(*e);
	close(pair[1]);
	if (r < 0) {
		close(pair[0]);
		free(wp);
		errno = -r;
		return NULL;
	}
	wp->sv = sv;
	wp->fn = fn;
	wp->arg = arg;
	wp->kill_timer.fn = on_kill_timer;
	if ((wp->peer = peer_new(&sv->loop, pair[0], FRAME_FROM_WORKER,
	    on_channel, wp)) == NULL) {
		r = errno;
		kill(wp->pid, SIGKILL);
		/* reaped like any worker, with no owner to tell */
		wp->fn = NULL;
		wp->lost = true;
		wp->next = sv->workers;
		sv->workers = wp;
		errno = r;
		return NULL;
	}
	wp->next = sv->workers;
	sv->workers = wp;
	return wp;
}

pid_t
worker_pid(const struct worker_proc *wp)
{
	return wp->pid;
}

pid_t
worker_server_pid(const struct worker_proc *wp)
{
	return wp->server_pid;
}

bool
worker_lost(const struct worker_proc *wp)
{
	return wp->lost;
}

void
worker_send(struct worker_proc *wp, uint8_t type, const void *p, uint32_t len)
{
	int	r;

	if (wp->lost || wp->peer == NULL)
		return;
	if ((r = peer_send(wp->peer, type, p, len)) < 0 && r != -EPIPE)
		log_warnx("worker %d: sending %s: %s", (int)wp->pid,
		    frame_type_name(type), strerror(-r));
}

void
worker_stop(struct worker_proc *wp, uint32_t flags)
{
	uint8_t	b[4];

	if (flags == 0) {
		worker_send(wp, FRAME_STOP, NULL, 0);
		return;
	}
	frame_put_u32(b, flags);
	worker_send(wp, FRAME_STOP, b, 4);
}

void
worker_detach(struct worker_proc *wp, unsigned ms)
{
	wp->fn = NULL;
	wp->arg = NULL;
	if (wp->reaped)
		return;
	worker_stop(wp, 0);
	loop_timer_set(&wp->sv->loop, &wp->kill_timer, ms);
}

void
worker_kill_after(struct worker_proc *wp, unsigned ms)
{
	if (!wp->reaped)
		loop_timer_set(&wp->sv->loop, &wp->kill_timer, ms);
}

void
worker_abandon(struct worker_proc *wp)
{
	wp->fn = NULL;
	wp->arg = NULL;
	wp->lost = true;
	close_channel(wp);
	worker_kill(wp);
}

void
worker_reown(struct worker_proc *wp, worker_frame_fn *fn, void *arg)
{
	wp->fn = fn;
	wp->arg = arg;
}

void
worker_kill(struct worker_proc *wp)
{
	if (wp->server_pid > 0)
		kill(-wp->server_pid, SIGKILL);
	if (!wp->reaped)
		kill(wp->pid, SIGKILL);
}

void
workers_forward_signal(struct supervisor *sv, int sig)
{
	uint8_t	b[4];

	frame_put_u32(b, (uint32_t)sig);
	for (struct worker_proc *wp = sv->workers; wp != NULL; wp = wp->next)
		if (wp->fn != NULL)
			worker_send(wp, FRAME_SIGNAL, b, 4);
}

void
workers_kill_all(struct supervisor *sv)
{
	for (struct worker_proc *wp = sv->workers; wp != NULL; wp = wp->next)
		worker_kill(wp);
}

bool
workers_reaped(struct supervisor *sv, pid_t pid, int status)
{
	struct worker_proc	*wp;
	char			 why[128];

	for (wp = sv->workers; wp != NULL; wp = wp->next)
		if (wp->pid == pid && !wp->reaped)
			break;
	if (wp == NULL)
		return false;
	wp->reaped = true;
	loop_timer_cancel(&sv->loop, &wp->kill_timer);
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "worker %d killed by signal %d",
		    (int)wp->pid, WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "worker %d exited with status %d",
		    (int)wp->pid, WEXITSTATUS(status));
	/* what is left in the channel came before the death: read it */
	if (!wp->lost && wp->peer != NULL)
		peer_service(wp->peer, EPOLLIN);
	lose(wp, why);
	return true;
}

void
workers_bury(struct supervisor *sv)
{
	struct worker_proc	**pp = &sv->workers, *wp;

	while ((wp = *pp) != NULL) {
		if (wp->reaped && wp->lost) {
			*pp = wp->next;
			loop_timer_cancel(&sv->loop, &wp->kill_timer);
			close_channel(wp);
			free(wp);
		} else
			pp = &wp->next;
	}
}

void
workers_free_all(struct supervisor *sv)
{
	for (struct worker_proc *wp = sv->workers; wp != NULL; wp = wp->next) {
		wp->reaped = wp->lost = true;
		wp->fn = NULL;
	}
	workers_bury(sv);
}
