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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cgroup.h"
#include "frame.h"
#include "gwlink.h"
#include "log.h"
#include "peer.h"
#include "procstat.h"
#include "spawn.h"
#include "supervisor.h"
#include "util.h"

#ifndef PIDFD_SIGNAL_PROCESS_GROUP
#define PIDFD_SIGNAL_PROCESS_GROUP	(1u << 2)	/* Linux 6.9 */
#endif

struct worker_proc {
	struct worker_proc	*next;
	struct supervisor	*sv;
	struct peer		*peer;		/* the channel; NULL once closed */
	worker_frame_fn		*fn;		/* NULL once detached */
	void			*arg;
	struct loop_timer	 kill_timer;
	struct loop_timer	 stopped_timer;	/* SIGSTOP'd: lost after a grace */
	pid_t			 pid;
	/* the server, as the worker named it and we checked it: a child
	 * of the worker leading its own process group; the pidfd pins
	 * the process, so that no kill reaches another that took its
	 * pid */
	pid_t			 server_pid;
	int			 server_pidfd;
	bool			 lost;		/* channel gone or process dead */
	bool			 reaped;
	char			 cgroup[256];	/* its server's leaf, or "" */
	/* a stdio server's: what the gateway is told of it, or "" */
	char			 gateway[512];
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

/* A worker is sandboxed code running as its server's user: the pid in
 * its "started" frame is believed only when the kernel agrees that it
 * is the worker's child and leads its own process group (the worker
 * starts its server so), and the process is then held by a pidfd. */
static int
adopt_server_pid(struct worker_proc *wp, pid_t pid)
{
	struct proc_lineage	l;
	int			fd;

	if (wp->server_pidfd != -1)
		close(wp->server_pidfd);
	wp->server_pidfd = -1;
	wp->server_pid = 0;
	if (pid <= 1)
		return -1;
	/* a server that exited at once (and was reaped) before we read
	 * the frame: nothing to hold, and no lie */
	if (proc_lineage(pid, &l) < 0 ||
	    (fd = (int)syscall(SYS_pidfd_open, pid, 0)) == -1)
		return 0;
	/* checked once it is pinned: the process we hold is the child */
	if (proc_lineage(pid, &l) < 0) {
		close(fd);
		return 0;
	}
	if (l.ppid != wp->pid || l.pgid != pid) {
		close(fd);
		return -1;
	}
	wp->server_pidfd = fd;
	wp->server_pid = pid;
	return 0;
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
	if (f->type == FRAME_STARTED && adopt_server_pid(wp,
	    (pid_t)frame_get_u32(f->data)) < 0) {
		snprintf(why, sizeof(why), "worker %d broke the protocol: its "
		    "server pid %u is not a child of it leading its own group",
		    (int)wp->pid, frame_get_u32(f->data));
		log_warnx("%s: dropping its link", why);
		worker_kill(wp);
		lose(wp, why);
		return;
	}
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

static void
on_stopped_timer(struct loop_timer *t)
{
	struct worker_proc	*wp = container_of(t, struct worker_proc,
				    stopped_timer);
	char			 why[128];

	snprintf(why, sizeof(why), "worker %d stopped for more than %u s",
	    (int)wp->pid, WORKER_STOPPED_GRACE_MS / 1000);
	log_warnx("%s: killing it and its server", why);
	worker_kill(wp);
	lose(wp, why);
}

void
workers_paused(struct supervisor *sv, pid_t pid, bool stopped)
{
	struct worker_proc	*wp;
	struct frame		 note = { .type = stopped ?
				    WORKER_NOTE_STOPPED : WORKER_NOTE_CONTINUED };

	for (wp = sv->workers; wp != NULL; wp = wp->next)
		if (wp->pid == pid && !wp->reaped)
			break;
	if (wp == NULL || wp->lost)
		return;
	if (stopped)
		loop_timer_set(&sv->loop, &wp->stopped_timer,
		    WORKER_STOPPED_GRACE_MS);
	else
		loop_timer_cancel(&sv->loop, &wp->stopped_timer);
	if (wp->fn != NULL)
		wp->fn(wp, &note, NULL, wp->arg);
}

void
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

void
worker_fd_map(struct spawn_request *rq, int out_fd, int channel_fd)
{
	rq->fds[rq->nfds++] = (struct spawn_fd){ 0, SPAWN_DEVNULL };
	rq->fds[rq->nfds++] = (struct spawn_fd){ 1, out_fd };
	rq->fds[rq->nfds++] = (struct spawn_fd){ 2, out_fd };
	rq->fds[rq->nfds++] = (struct spawn_fd){ 3, channel_fd };
}

unsigned
worker_flags_of(const cJSON *config)
{
	const char	*fs = cJSON_GetStringValue(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(config, "sandbox"),
			    "filesystem"));

	return fs != NULL && strcmp(fs, "strict") == 0 ?
	    WORKER_PID_NAMESPACE : 0;
}

struct worker_proc *
worker_spawn(struct supervisor *sv, int logfd, unsigned flags,
    worker_frame_fn *fn, void *arg)
{
	static char		*argv[] = { "mcpvisor-worker", NULL };
	struct worker_proc	*wp;
	struct spawn_request	 rq = { .path = sv->worker_path, .argv = argv,
				    .new_pid_ns = flags & WORKER_PID_NAMESPACE };
	char			*envp[WORKER_ENV_MAX];
	int			 pair[2], r;

	if ((wp = calloc(1, sizeof(*wp))) == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		free(wp);
		return NULL;
	}
	/* cloned from the fork server, else exec'd */
	if ((r = forkserver_spawn(sv, logfd != -1 ? logfd : 2, pair[1],
	    rq.new_pid_ns, &wp->pid)) < 0) {
		worker_environment(envp, WORKER_ENV_MAX);
		rq.envp = envp;
		worker_fd_map(&rq, logfd != -1 ? logfd : 2, pair[1]);
		r = spawn_start(&rq, &wp->pid, NULL);
		for (char **e = envp; *e != NULL; e++)
			free(*e);
	}
	close(pair[1]);
	if (r < 0) {
		close(pair[0]);
		free(wp);
		errno = -r;
		return NULL;
	}
	wp->sv = sv;
	wp->server_pidfd = -1;
	wp->fn = fn;
	wp->arg = arg;
	wp->kill_timer.fn = on_kill_timer;
	wp->stopped_timer.fn = on_stopped_timer;
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

void
worker_serves_gateway(struct worker_proc *wp, const char *about)
{
	snprintf(wp->gateway, sizeof(wp->gateway), "%s", about);
}

const char *
worker_gateway(const struct worker_proc *wp)
{
	return !wp->lost && wp->peer != NULL && wp->gateway[0] != '\0' ?
	    wp->gateway : NULL;
}

int
worker_attach_gateway(struct worker_proc *wp, int fd)
{
	if (wp->lost || wp->peer == NULL) {
		close(fd);
		return -EPIPE;
	}
	return peer_send_fd(wp->peer, FRAME_GW_ATTACH, NULL, 0, fd);
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

/* The server's process group, through its pidfd: the kernel signals the
 * group the pinned process is in, and nothing at all once it is gone
 * (what it leaves then is swept as orphans: see spawn_kill_adopted). */
static void
kill_server_group(struct worker_proc *wp)
{
	if (wp->server_pidfd == -1)
		return;
	if (syscall(SYS_pidfd_send_signal, wp->server_pidfd, SIGKILL, NULL,
	    PIDFD_SIGNAL_PROCESS_GROUP) == -1 && errno == EINVAL &&
	    syscall(SYS_pidfd_send_signal, wp->server_pidfd, 0, NULL, 0) == 0)
		/* a kernel before 6.9: the group of a process we still hold */
		kill(-wp->server_pid, SIGKILL);
}

void
worker_kill(struct worker_proc *wp)
{
	kill_server_group(wp);
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
workers_connect_gateway(struct supervisor *sv)
{
	for (struct worker_proc *wp = sv->workers; wp != NULL; wp = wp->next)
		if (worker_gateway(wp) != NULL)
			gwlink_worker(sv, wp);
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
	loop_timer_cancel(&sv->loop, &wp->stopped_timer);
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

const char *
worker_cgroup(const struct worker_proc *wp)
{
	return wp != NULL ? wp->cgroup : "";
}

void
worker_owns_cgroup(struct worker_proc *wp, const char *stack,
    const char *server)
{
	cgroup_leaf_name(wp->cgroup, sizeof(wp->cgroup), stack, server,
	    (long)wp->pid);
}

/* Leaves whose killed processes were not yet reaped: removed on a later
 * try (every CGROUP_RETRY_MS, CGROUP_TRIES times at most). */
#define CGROUP_RETRY_MS	100
#define CGROUP_TRIES	100

static void
on_cgroup_timer(struct loop_timer *t)
{
	struct supervisor	*sv = container_of(t, struct supervisor,
				    cgroup_timer);
	size_t			 k = 0;

	for (size_t i = 0; i < sv->ncgroups_left; i++) {
		struct cgroup_left	*c = &sv->cgroups_left[i];

		if (cgroup_remove(c->name) != -EBUSY)
			continue;
		if (++c->tries >= CGROUP_TRIES) {
			log_warnx("cgroup %s: still holds processes after %u "
			    "ms: left", c->name, CGROUP_TRIES * CGROUP_RETRY_MS);
			continue;
		}
		sv->cgroups_left[k++] = *c;
	}
	sv->ncgroups_left = k;
	if (k > 0)
		loop_timer_set(&sv->loop, &sv->cgroup_timer, CGROUP_RETRY_MS);
}

static void
remove_cgroup(struct supervisor *sv, const char *name)
{
	struct cgroup_left	*c;

	if (name[0] == '\0' || cgroup_remove(name) != -EBUSY)
		return;
	if (sv->ncgroups_left == SV_CGROUPS_LEFT_MAX) {
		log_warnx("cgroup %s: too many leaves wait to be removed: "
		    "left", name);
		return;
	}
	c = &sv->cgroups_left[sv->ncgroups_left++];
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->tries = 0;
	sv->cgroup_timer.fn = on_cgroup_timer;
	if (!loop_timer_pending(&sv->cgroup_timer))
		loop_timer_set(&sv->loop, &sv->cgroup_timer, CGROUP_RETRY_MS);
}

void
workers_remove_cgroups(struct supervisor *sv)
{
	loop_timer_cancel(&sv->loop, &sv->cgroup_timer);
	for (size_t i = 0; i < sv->ncgroups_left; i++)
		if (cgroup_remove(sv->cgroups_left[i].name) == -EBUSY)
			log_warnx("cgroup %s: still holds processes: left",
			    sv->cgroups_left[i].name);
	sv->ncgroups_left = 0;
}

void
workers_bury(struct supervisor *sv)
{
	struct worker_proc	**pp = &sv->workers, *wp;

	while ((wp = *pp) != NULL) {
		if (wp->reaped && wp->lost) {
			*pp = wp->next;
			remove_cgroup(sv, wp->cgroup);
			loop_timer_cancel(&sv->loop, &wp->kill_timer);
			loop_timer_cancel(&sv->loop, &wp->stopped_timer);
			close_channel(wp);
			if (wp->server_pidfd != -1)
				close(wp->server_pidfd);
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
