/*
 * fork + execve with descriptor hygiene. Everything in the child before
 * the exec is async-signal-safe: no allocation, no stdio, only system
 * calls on what the parent prepared.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/sched.h>
#include <linux/seccomp.h>

#include "procstat.h"

static void __attribute__((noreturn))
child_fail(int status_fd, int err)
{
	ssize_t	n;

	if (status_fd >= 0)
		do
			n = write(status_fd, &err, sizeof(err));
		while (n == -1 && errno == EINTR);
	_exit(127);
}

/* Closes every descriptor but those in keep (sorted, at most
 * SPAWN_FDS_MAX + 1 of them). */
static void
close_all_but(const int *keep, size_t n)
{
	unsigned	from = 0;

	for (size_t i = 0; i < n; i++) {
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

/* The descriptors of the map, moved where they belong. Every source is
 * first copied above every target, so that no dup2 overwrites a source
 * still to be used. */
static void
place_fds(const struct spawn_request *rq, int null_fd, int *status_fd)
{
	int	moved[SPAWN_FDS_MAX], keep[SPAWN_FDS_MAX + 1], base = 3;
	size_t	nkeep = 0;

	for (size_t i = 0; i < rq->nfds; i++)
		if (rq->fds[i].child >= base)
			base = rq->fds[i].child + 1;
	if (*status_fd >= 0 &&
	    (*status_fd = fcntl(*status_fd, F_DUPFD_CLOEXEC, base)) == -1)
		_exit(127);
	for (size_t i = 0; i < rq->nfds; i++) {
		int	from = rq->fds[i].parent == SPAWN_DEVNULL ? null_fd :
			    rq->fds[i].parent;

		if ((moved[i] = fcntl(from, F_DUPFD, base)) == -1)
			child_fail(*status_fd, errno);
	}
	for (size_t i = 0; i < rq->nfds; i++)
		if (dup2(moved[i], rq->fds[i].child) == -1)
			child_fail(*status_fd, errno);
	/* the targets, and the status pipe, in ascending order */
	for (size_t i = 0; i < rq->nfds; i++) {
		size_t	k = nkeep++;

		while (k > 0 && keep[k - 1] > rq->fds[i].child) {
			keep[k] = keep[k - 1];
			k--;
		}
		keep[k] = rq->fds[i].child;
	}
	if (*status_fd >= 0)
		keep[nkeep++] = *status_fd;	/* above every target */
	close_all_but(keep, nkeep);
}

static void __attribute__((noreturn))
child(const struct spawn_request *rq, pid_t parent, int null_fd,
    int status_fd)
{
	static char *const	 empty[] = { NULL };
	char *const		*envp = rq->envp != NULL ? rq->envp : empty;
	sigset_t		 none;
	pid_t			 pid;

	for (size_t i = 0; i < rq->njoin_cgroups; i++)
		if (write(rq->join_cgroups[i], "0", 1) != 1)
			child_fail(status_fd, errno);
	if (rq->new_session ? setsid() == -1 : rq->new_pgrp &&
	    setpgid(0, 0) == -1)
		child_fail(status_fd, errno);
	if (rq->detach) {
		if ((pid = fork()) == -1)
			child_fail(status_fd, errno);
		if (pid > 0)
			_exit(0);
	} else if (rq->pdeathsig != 0 &&
	    (prctl(PR_SET_PDEATHSIG, rq->pdeathsig, 0, 0, 0) == -1 ||
	    (!rq->new_pid_ns && getppid() != parent)))
		/* the second test covers a parent that died before the
		 * first was set */
		_exit(127);
	place_fds(rq, null_fd, &status_fd);
	/* both survive exec: what we start must not inherit ours. The
	 * dispositions first: until the mask is emptied no signal can run
	 * a handler of the parent's (on our stack, in its memory, for a
	 * child that shares it) */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (rq->cwd != NULL && chdir(rq->cwd) == -1)
		child_fail(status_fd, errno);
	if (rq->child_fn != NULL) {
		if (status_fd >= 0)
			close(status_fd);
		_exit(rq->child_fn(rq->child_arg));
	}
	if (rq->seccomp_filter != NULL && syscall(SYS_seccomp,
	    SECCOMP_SET_MODE_FILTER, 0, rq->seccomp_filter) == -1)
		child_fail(status_fd, errno);
	if (strchr(rq->path, '/') != NULL)
		execve(rq->path, rq->argv, envp);
	else
		execvpe(rq->path, rq->argv, envp);
	child_fail(status_fd, errno);
}

/* --- children started and children adopted --- */

/* read at once; more are killed at the next call, which every reap of
 * an adopted one brings */
#define CHILDREN_MAX	1024

static struct {
	bool	 on;
	pid_t	*pids;
	size_t	 n, cap;
} started;

void
spawn_track_children(void)
{
	started.on = true;
}

static void
remember(pid_t pid)
{
	pid_t	*p;

	if (!started.on)
		return;
	if (started.n == started.cap) {
		/* a child we cannot remember would be killed as adopted:
		 * better not to sweep at all than that */
		if ((p = reallocarray(started.pids, started.cap ?
		    started.cap * 2 : 64, sizeof(*p))) == NULL) {
			started.on = false;
			return;
		}
		started.pids = p;
		started.cap = started.cap ? started.cap * 2 : 64;
	}
	started.pids[started.n++] = pid;
}

void
spawn_note_started(pid_t pid)
{
	remember(pid);
}

bool
spawn_forget(pid_t pid)
{
	for (size_t i = 0; i < started.n; i++)
		if (started.pids[i] == pid) {
			started.pids[i] = started.pids[--started.n];
			return true;
		}
	return false;
}

static bool
is_started(pid_t pid)
{
	for (size_t i = 0; i < started.n; i++)
		if (started.pids[i] == pid)
			return true;
	return false;
}

/* Our children, from the kernel's list of them (one read, not a scan
 * of every process): each is ours or adopted, and so of our tree. */
static unsigned
kill_children(bool adopted_only)
{
	pid_t		 kids[CHILDREN_MAX];
	size_t		 n;
	unsigned	 killed = 0;

	if (adopted_only && !started.on)
		return 0;
	n = proc_children(getpid(), kids, CHILDREN_MAX);
	for (size_t i = 0; i < n; i++) {
		if (adopted_only && is_started(kids[i]))
			continue;
		if (kill(kids[i], SIGKILL) == 0)
			killed++;
	}
	return killed;
}

unsigned
spawn_kill_adopted(void)
{
	return kill_children(true);
}

unsigned
spawn_kill_children(void)
{
	return kill_children(false);
}

/* A child that shares our memory until its exec (CLONE_VM and
 * CLONE_VFORK, as posix_spawn does): no page table is copied and no
 * page faults in later for a process about to be replaced. It runs
 * child() on a stack of its own, with every signal blocked until it has
 * reset the dispositions, and writes nothing of ours but errno; we
 * resume once it has exec'd or exited. */
#define SHARED_STACK	(64 * 1024)

struct shared_child {
	const struct spawn_request	*rq;
	pid_t				 parent;
	int				 null_fd;
	int				 status_fd;
};

static int
shared_child_main(void *arg)
{
	struct shared_child	*sc = arg;

	child(sc->rq, sc->parent, sc->null_fd, sc->status_fd);
}

static pid_t
fork_shared(struct shared_child *sc)
{
	sigset_t	all, old;
	void		*stack;
	pid_t		 pid;
	int		 saved;

	if ((stack = mmap(NULL, SHARED_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) == MAP_FAILED)
		return -1;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = clone(shared_child_main, (char *)stack + SHARED_STACK,
	    CLONE_VM | CLONE_VFORK | SIGCHLD, sc);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	munmap(stack, SHARED_STACK);
	errno = saved;
	return pid;
}

/* A fork with clone flags: CLONE_PARENT makes the child our parent's,
 * CLONE_NEWPID the init of a namespace of its own. clone3 without a
 * stack goes on, as fork does, on a copy of ours; glibc's fork handlers
 * do not run, which a single-threaded caller without any does not miss.
 * Where clone3 is refused (systemd's RestrictNamespaces= answers ENOSYS,
 * since it cannot read its flags), clone does the same. */
static pid_t
fork_with(uint64_t flags)
{
	/* a sibling's exit signal is its parent's choice, not ours */
	struct clone_args	args = { .flags = flags, .exit_signal =
				    (flags & CLONE_PARENT) ? 0 : SIGCHLD };
	long			pid = syscall(SYS_clone3, &args, sizeof(args));

	if (pid == -1 && errno == ENOSYS)
		pid = syscall(SYS_clone, (unsigned long)flags |
		    (unsigned long)args.exit_signal, NULL, NULL, NULL, 0L);
	return (pid_t)pid;
}

int
spawn_start(const struct spawn_request *rq, pid_t *pid_out, int *status_fd)
{
	int	status[2] = { -1, -1 }, null_fd = -1, status_w, err, st;
	pid_t	pid, self = rq->sibling ? getppid() : getpid();
	/* an exec: sharing our memory until then is safe (but for
	 * AddressSanitizer, which takes the child's own stack for a stack
	 * overflow and says so on its stderr: a sanitized build forks) */
#ifdef __SANITIZE_ADDRESS__
	bool	shared = false;
#else
	bool	shared = rq->child_fn == NULL && !rq->detach && !rq->sibling &&
		    !rq->new_pid_ns;
#endif
	uint64_t flags = (rq->sibling ? CLONE_PARENT : 0) |
		    (rq->new_pid_ns ? CLONE_NEWPID : 0);

	if ((rq->sibling && (rq->child_fn == NULL || rq->detach)) ||
	    (rq->new_pid_ns && rq->detach))
		return -EINVAL;

	if (status_fd != NULL && pipe2(status, O_CLOEXEC) == -1)
		return -errno;
	for (size_t i = 0; i < rq->nfds && null_fd == -1; i++)
		if (rq->fds[i].parent == SPAWN_DEVNULL &&
		    (null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
			goto fail;
	status_w = status[1];
	if (shared) {
		struct shared_child	sc = { rq, self, null_fd, status_w };

		/* the child set its group before its exec, which we await */
		if ((pid = fork_shared(&sc)) == -1)
			goto fail;
	} else if ((pid = flags != 0 ? fork_with(flags) : fork()) == -1)
		goto fail;
	if (pid == 0)
		child(rq, self, null_fd, status_w);
	/* its own group, set from both sides, so that no race leaves a
	 * kill(-pid) without its target (a session leader sets its own) */
	if (rq->new_pgrp && !rq->new_session && !rq->detach && !rq->sibling &&
	    !shared)
		setpgid(pid, pid);
	if (rq->detach) {
		while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
			;
		pid = 0;
	}
	if (null_fd != -1)
		close(null_fd);
	if (status[1] != -1)
		close(status[1]);
	if (status_fd != NULL) {
		fcntl(status[0], F_SETFL, O_NONBLOCK);
		*status_fd = status[0];
	}
	if (pid > 0)
		remember(pid);
	*pid_out = pid;
	return 0;
fail:
	err = errno;
	if (null_fd != -1)
		close(null_fd);
	if (status[0] != -1)
		close(status[0]);
	if (status[1] != -1)
		close(status[1]);
	return -err;
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

int
spawn_wait_exec(int status_fd)
{
	struct pollfd	pfd = { .fd = status_fd, .events = POLLIN };
	int		r;

	while ((r = spawn_exec_status(status_fd)) == -EAGAIN)
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			break;
	close(status_fd);
	return r < 0 ? EIO : r;
}
