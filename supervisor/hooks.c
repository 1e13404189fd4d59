/*
 * Hook runs. One child at a time per run; its stdin is a memfd holding
 * the JSON document (so writing it can never block the loop), its output
 * goes straight to the deployment log.
 */
#include "hooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "log.h"
#include "runtime.h"

#define container_of(p, type, member)					\
	((type *)(void *)((char *)(p) - offsetof(type, member)))

struct hook_run {
	struct hook_run		*next;
	struct supervisor	*sv;
	char			 phase[32];
	char			 dir[PATH_MAX];
	char			**files;
	int			 nfiles;
	int			 next_file;
	char			**env;
	char			*doc;
	int			 logfd;
	pid_t			 pid;
	struct loop_timer	 timeout;
	hook_done_fn		*done;
	void			*arg;
	bool			 cancelled;
};

static void
hook_run_free(struct hook_run *h)
{
	loop_timer_cancel(&h->sv->loop, &h->timeout);
	config_free_list(h->files, h->nfiles);
	for (char **e = h->env; e != NULL && *e != NULL; e++)
		free(*e);
	free(h->env);
	free(h->doc);
	if (h->logfd != -1)
		close(h->logfd);
	free(h);
}

static void
hook_unlink(struct hook_run *h)
{
	struct hook_run	**pp = (struct hook_run **)&h->sv->hooks;

	while (*pp != NULL && *pp != h)
		pp = &(*pp)->next;
	if (*pp == h)
		*pp = h->next;
}

static void
hook_finish(struct hook_run *h, bool failed, const char *message)
{
	hook_unlink(h);
	if (!h->cancelled)
		h->done(h->arg, failed, message);
	hook_run_free(h);
}

static void
on_hook_timeout(struct loop_timer *t)
{
	struct hook_run	*h = container_of(t, struct hook_run, timeout);

	if (h->pid > 0)
		kill(-h->pid, SIGKILL);
}

/* Lists the executable files of dir, sorted (they need not end in
 * .yaml: any name but a dot file). */
static int
list_hooks(const char *dir, char ***out)
{
	DIR		 *d;
	struct dirent	 *de;
	char		**v = NULL;
	int		  n = 0;

	*out = NULL;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) != NULL) {
		struct stat	 st;
		char		*path, **nv;

		if (de->d_name[0] == '.' || asprintf(&path, "%s/%s", dir,
		    de->d_name) == -1)
			continue;
		if (stat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
		    access(path, X_OK) == -1 ||
		    (nv = realloc(v, (size_t)(n + 1) * sizeof(*v))) == NULL) {
			free(path);
			continue;
		}
		v = nv;
		v[n++] = path;
	}
	closedir(d);
	for (int i = 1; i < n; i++)	/* few files: insertion sort */
		for (int j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			char	*t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*out = v;
	return n;
}

static int
hook_spawn(struct hook_run *h)
{
	const char	*path = h->files[h->next_file++];
	int		 in;
	pid_t		 pid;

	if ((in = memfd_create("mcpvisor-hook", MFD_CLOEXEC)) == -1)
		return -errno;
	if (write(in, h->doc, strlen(h->doc)) != (ssize_t)strlen(h->doc) ||
	    lseek(in, 0, SEEK_SET) == -1) {
		close(in);
		return -EIO;
	}
	if ((pid = fork()) == -1) {
		close(in);
		return -errno;
	}
	if (pid == 0) {
		sigset_t	none;
		char		*argv[] = { (char *)(uintptr_t)path, NULL };
		int		out = h->logfd != -1 ? h->logfd : 2;

		setpgid(0, 0);
		if (dup2(in, 0) == -1 || dup2(out, 1) == -1 ||
		    dup2(out, 2) == -1)
			_exit(127);
		close_range(3, ~0U, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		execve(path, argv, h->env);
		_exit(127);
	}
	close(in);
	h->pid = pid;
	h->timeout.fn = on_hook_timeout;
	loop_timer_set(&h->sv->loop, &h->timeout, HOOK_TIMEOUT_MS);
	return 0;
}

static void
hook_next(struct hook_run *h)
{
	char	msg[PATH_MAX + 64];
	int	r;

	if (h->next_file == h->nfiles) {
		hook_finish(h, false, NULL);
		return;
	}
	if ((r = hook_spawn(h)) < 0) {
		snprintf(msg, sizeof(msg), "hook %s: %s",
		    h->files[h->next_file - 1], strerror(-r));
		hook_finish(h, true, msg);
	}
}

int
hooks_start(struct supervisor *sv, const char *config_dir, const char *phase,
    char *const *env, const cJSON *doc, int logfd, hook_done_fn *done,
    void *arg)
{
	struct hook_run	*h;
	size_t		 n = 0;
	int		 r;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	h->sv = sv;
	h->logfd = -1;
	snprintf(h->phase, sizeof(h->phase), "%s", phase);
	snprintf(h->dir, sizeof(h->dir), "%s/hooks/%s.d", config_dir, phase);
	if ((r = list_hooks(h->dir, &h->files)) <= 0) {
		hook_run_free(h);
		return r;
	}
	h->nfiles = r;
	while (env[n] != NULL)
		n++;
	if ((h->env = calloc(n + 1, sizeof(char *))) == NULL ||
	    (h->doc = cJSON_Print(doc)) == NULL) {
		hook_run_free(h);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		h->env[i] = strdup(env[i]);
	if (logfd != -1)
		h->logfd = fcntl(logfd, F_DUPFD_CLOEXEC, 3);
	h->done = done;
	h->arg = arg;
	h->next = sv->hooks;
	sv->hooks = h;
	if ((r = hook_spawn(h)) < 0) {
		hook_unlink(h);
		hook_run_free(h);
		return r;
	}
	return 1;
}

bool
hooks_reaped(struct supervisor *sv, pid_t pid, int status)
{
	struct hook_run	*h;
	char		 msg[PATH_MAX + 128];

	for (h = sv->hooks; h != NULL; h = h->next)
		if (h->pid == pid)
			break;
	if (h == NULL)
		return false;
	h->pid = 0;
	loop_timer_cancel(&sv->loop, &h->timeout);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		hook_next(h);
		return true;
	}
	if (WIFSIGNALED(status))
		snprintf(msg, sizeof(msg), "hook %s killed by signal %d%s",
		    h->files[h->next_file - 1], WTERMSIG(status),
		    WTERMSIG(status) == SIGKILL ? " (timeout?)" : "");
	else
		snprintf(msg, sizeof(msg), "hook %s exited with status %d",
		    h->files[h->next_file - 1], WEXITSTATUS(status));
	hook_finish(h, true, msg);
	return true;
}

void
hooks_cancel(struct supervisor *sv, void *arg)
{
	for (struct hook_run *h = sv->hooks; h != NULL; h = h->next)
		if (h->arg == arg)
			h->cancelled = true;
}

bool
hooks_pending(const struct supervisor *sv)
{
	return sv->hooks != NULL;
}

void
hooks_free_all(struct supervisor *sv)
{
	struct hook_run	*h, *next;

	for (h = sv->hooks; h != NULL; h = next) {
		next = h->next;
		if (h->pid > 0)
			kill(-h->pid, SIGKILL);
		hook_run_free(h);
	}
	sv->hooks = NULL;
}
