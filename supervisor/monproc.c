#include "monproc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"
#include "state.h"
#include "supervisor.h"
#include "util.h"


#define BACKOFF_MIN_MS	250
#define BACKOFF_MAX_MS	30000
#define STEADY_MS	60000	/* up this long: the back-off starts over */

struct monproc {
	struct supervisor	*sv;
	char			 program[PATH_MAX];
	char			 bind[64];
	unsigned		 port_override;	/* --monitor-port */
	/* mcpvisor monitor start's port: where deployments that name no
	 * port of their own find it (0: none given) */
	unsigned		 hand_port;
	char			 running_bind[64];	/* the running one's */
	bool			 disabled;
	bool			 wanted;
	unsigned		 port;		/* of the one running */
	unsigned		 want_port;
	pid_t			 pid;
	bool			 stopping;	/* told to go, on purpose */
	uint64_t		 started_ms;
	unsigned		 backoff_ms;
	struct loop_timer	 restart;
	struct watcher		 out;		/* its stdout and stderr */
	char			 line[1024];
	size_t			 nline;
	int			 logfd;
	char			 logday[16];
	char			 token[65];
	char			 role[16];
	char			 log_name[16];
	char			 token_env[40];
	monproc_serve_fn	*serve;
	void			*serve_arg;
};

/* Appends a line to logs/NAME_DATE.log, opened anew each day. */
static void
log_line(struct monproc *mp, const char *text, size_t len)
{
	char		 day[16], stamp[40], path[PATH_MAX + 64], head[48];
	struct iovec	 iov[3];
	int		 n;

	state_iso_now(stamp, sizeof(stamp));
	snprintf(day, sizeof(day), "%.10s", stamp);
	if (mp->logfd == -1 || strcmp(day, mp->logday) != 0) {
		if (mp->logfd != -1)
			close(mp->logfd);
		snprintf(path, sizeof(path), "%s/logs/%s_%s.log",
		    mp->sv->state_dir, mp->log_name, day);
		mp->logfd = open(path, O_WRONLY | O_APPEND | O_CREAT |
		    O_CLOEXEC, 0600);
		snprintf(mp->logday, sizeof(mp->logday), "%s", day);
		if (mp->logfd == -1)
			return;
	}
	n = snprintf(head, sizeof(head), "%s ", stamp);
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)n;
	iov[1].iov_base = (void *)(uintptr_t)text;
	iov[1].iov_len = len;
	iov[2].iov_base = (void *)(uintptr_t)"\n";
	iov[2].iov_len = 1;
	if (writev(mp->logfd, iov, 3) == -1)
		log_warn("%s log", mp->log_name);
}

static void
on_output(struct watcher *w, uint32_t events)
{
	struct monproc	*mp = container_of(w, struct monproc, out);
	char		 buf[4096];
	ssize_t		 n;

	(void)events;
	/* a bounded amount per turn: the monitor cannot hold the loop */
	for (int i = 0; i < 16; i++) {
		if ((n = read(w->fd, buf, sizeof(buf))) <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
				if (mp->nline > 0)
					log_line(mp, mp->line, mp->nline);
				mp->nline = 0;
				loop_del(&mp->sv->loop, w);
				close(w->fd);
				w->fd = -1;
			}
			return;
		}
		for (ssize_t k = 0; k < n; k++) {
			if (buf[k] != '\n' && mp->nline < sizeof(mp->line)) {
				mp->line[mp->nline++] = buf[k];
				continue;
			}
			log_line(mp, mp->line, mp->nline);
			mp->nline = 0;
			if (buf[k] != '\n')
				mp->line[mp->nline++] = buf[k];
		}
	}
}

static void
spawn(struct monproc *mp)
{
	struct supervisor	*sv = mp->sv;
	char			 port[16], token[128];
	char			*argv[] = { mp->program, "--channel-fd", "3",
				    "--state-dir", sv->state_dir, "--port",
				    port, "--bind", mp->bind, NULL };
	char			*envp[] = { token, "PATH=/usr/bin:/bin", NULL };
	/* it goes when we do, whatever way we go */
	struct spawn_request	 rq = { .path = mp->program, .argv = argv,
				    .envp = envp, .pdeathsig = SIGTERM };
	int			 pair[2], out[2], r;
	pid_t			 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == -1) {
		log_warn("%s: socketpair", mp->role);
		return;
	}
	if (pipe2(out, O_CLOEXEC) == -1) {
		log_warn("%s: pipe", mp->role);
		close(pair[0]);
		close(pair[1]);
		return;
	}
	snprintf(port, sizeof(port), "%u", mp->want_port);
	snprintf(token, sizeof(token), "%s=%s", mp->token_env, mp->token);
	rq.fds[rq.nfds++] = (struct spawn_fd){ 0, SPAWN_DEVNULL };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 1, out[1] };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 2, out[1] };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 3, pair[1] };
	r = spawn_start(&rq, &pid, NULL);
	explicit_bzero(token, sizeof(token));
	close(pair[1]);
	close(out[1]);
	if (r < 0) {
		log_warnx("%s: fork: %s", mp->role, strerror(-r));
		close(pair[0]);
		close(out[0]);
		return;
	}
	mp->pid = pid;
	mp->port = mp->want_port;
	snprintf(mp->running_bind, sizeof(mp->running_bind), "%s", mp->bind);
	mp->started_ms = mono_ms();
	mp->stopping = false;
	if (mp->out.fd != -1) {
		loop_del(&sv->loop, &mp->out);
		close(mp->out.fd);
	}
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	mp->out.fd = out[0];
	mp->out.fn = on_output;
	mp->nline = 0;
	if (loop_add(&sv->loop, &mp->out, EPOLLIN) < 0) {
		close(out[0]);
		mp->out.fd = -1;
	}
	if (mp->serve == NULL || mp->serve(mp->serve_arg, pair[0], pid) < 0) {
		log_warnx("%s: cannot serve its channel", mp->role);
		kill(pid, SIGTERM);
	}
}

static void
on_restart(struct loop_timer *t)
{
	struct monproc	*mp = container_of(t, struct monproc, restart);

	if (mp->wanted && mp->pid == 0 && !mp->sv->shutting_down)
		spawn(mp);
}

int
monproc_new(struct supervisor *sv, const struct monproc_opts *o,
    struct monproc **out)
{
	struct monproc	*mp;
	int		 r;

	if ((mp = calloc(1, sizeof(*mp))) == NULL)
		return -ENOMEM;
	mp->sv = sv;
	mp->serve = o->serve;
	mp->serve_arg = o->serve_arg;
	mp->out.fd = -1;
	mp->logfd = -1;
	mp->disabled = o->disabled;
	mp->port_override = o->port;
	mp->backoff_ms = BACKOFF_MIN_MS;
	mp->restart.fn = on_restart;
	snprintf(mp->program, sizeof(mp->program), "%s", o->program);
	snprintf(mp->role, sizeof(mp->role), "%s", o->role != NULL ? o->role :
	    "monitor");
	snprintf(mp->log_name, sizeof(mp->log_name), "%s", o->log_name !=
	    NULL ? o->log_name : "monitoring");
	snprintf(mp->token_env, sizeof(mp->token_env), "%s", o->token_env !=
	    NULL ? o->token_env : "MCPVISOR_MONITOR_TOKEN");
	snprintf(mp->bind, sizeof(mp->bind), "%s", o->bind != NULL ? o->bind :
	    "127.0.0.1");
	if (!mp->disabled && (r = state_token(sv->state_dir, o->token_file !=
	    NULL ? o->token_file : "monitor.token", mp->token)) < 0) {
		log_warnx("%s/%s: %s", sv->state_dir, o->token_file != NULL ?
		    o->token_file : "monitor.token", r == -EINVAL ?
		    "not a regular file" : strerror(-r));
		mp->token[0] = '\0';
	}
	*out = mp;
	return 0;
}

void
monproc_want(struct monproc *mp, bool on, unsigned port)
{
	struct supervisor	*sv = mp->sv;

	mp->wanted = on && !mp->disabled && !sv->shutting_down;
	if (mp->hand_port != 0 && port == MONITOR_PORT_DEFAULT)
		port = mp->hand_port;
	mp->want_port = mp->port_override != 0 ? mp->port_override : port;
	if (mp->pid > 0 && (!mp->wanted || mp->port != mp->want_port ||
	    strcmp(mp->running_bind, mp->bind) != 0)) {
		/* off, or elsewhere: it goes, and (if wanted) comes back
		 * once reaped */
		mp->stopping = true;
		kill(mp->pid, SIGTERM);
		return;
	}
	if (mp->wanted && mp->pid == 0 && !loop_timer_pending(&mp->restart)) {
		mp->backoff_ms = BACKOFF_MIN_MS;
		spawn(mp);
	}
}

int
monproc_move(struct monproc *mp, unsigned port, const char *bind)
{
	if (mp->disabled)
		return -EPERM;
	/* by hand, later than --monitor-port: it wins over it from now on;
	 * a deployment that names a port of its own still moves it */
	if (port != 0) {
		mp->hand_port = port;
		mp->port_override = 0;
	}
	if (bind != NULL)
		snprintf(mp->bind, sizeof(mp->bind), "%s", bind);
	monproc_want(mp, true, port != 0 ? port : mp->want_port != 0 ?
	    mp->want_port : MONITOR_PORT_DEFAULT);
	return 0;
}

unsigned
monproc_port(const struct monproc *mp)
{
	/* where it is going, when it is being moved */
	return mp->want_port != 0 ? mp->want_port : mp->port;
}

const char *
monproc_bind(const struct monproc *mp)
{
	return mp->bind;
}

bool
monproc_reaped(struct monproc *mp, pid_t pid, int status)
{
	struct supervisor	*sv;
	char			 why[96];
	unsigned		 delay;

	if (mp == NULL || pid != mp->pid || pid <= 0)
		return false;
	sv = mp->sv;
	mp->pid = 0;
	if (WIFSIGNALED(status))
		snprintf(why, sizeof(why), "killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(why, sizeof(why), "exited with status %d",
		    WEXITSTATUS(status));
	if (!mp->wanted || sv->shutting_down)
		return true;
	if (mp->stopping) {
		/* restarted on purpose (another port): at once */
		spawn(mp);
		return true;
	}
	if (mono_ms() - mp->started_ms >= STEADY_MS)
		mp->backoff_ms = BACKOFF_MIN_MS;
	delay = mp->backoff_ms;
	mp->backoff_ms = mp->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    mp->backoff_ms * 2;
	log_warnx("%s %d %s: starting another in %u ms", mp->role, (int)pid,
	    why, delay);
	snprintf(why + strlen(why), sizeof(why) - strlen(why),
	    "; restart in %u ms", delay);
	log_line(mp, why, strlen(why));
	loop_timer_set(&sv->loop, &mp->restart, delay);
	return true;
}

void
monproc_stop(struct monproc *mp)
{
	if (mp == NULL)
		return;
	mp->wanted = false;
	loop_timer_cancel(&mp->sv->loop, &mp->restart);
	if (mp->pid > 0)
		kill(mp->pid, SIGTERM);
}

pid_t
monproc_pid(const struct monproc *mp)
{
	return mp != NULL ? mp->pid : 0;
}

void
monproc_free(struct monproc *mp)
{
	if (mp == NULL)
		return;
	loop_timer_cancel(&mp->sv->loop, &mp->restart);
	if (mp->out.fd != -1) {
		loop_del(&mp->sv->loop, &mp->out);
		close(mp->out.fd);
	}
	if (mp->logfd != -1)
		close(mp->logfd);
	explicit_bzero(mp->token, sizeof(mp->token));
	free(mp);
}
