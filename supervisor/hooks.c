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

#include <dlfcn.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "mcpvisor/plugin.h"
#include "log.h"
#include "util.h"
#include "runtime.h"


struct hook_run {
	struct hook_run		*next;
	struct supervisor	*sv;
	char			 phase[32];
	char			 dir[PATH_MAX];
	char			**files;
	int			 nfiles;
	/* a rollback action: its name, and the plugin function to call
	 * instead of executing files[0], or the program's arguments */
	char			 label[PATH_MAX + 32];
	char			*plugin;
	char			*function;
	char			**args;
	unsigned		 timeout_ms;
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
	for (char **a = h->args; a != NULL && *a != NULL; a++)
		free(*a);
	free(h->args);
	free(h->plugin);
	free(h->function);
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

/* In the child: calls a rollback action's plugin function, says what it
 * said on stdout, and exits with its verdict. */
static void __attribute__((noreturn))
call_plugin_action(const struct hook_run *h)
{
	mcpvisor_rollback_action_fn	*fn;
	mcpvisor_plugin_abi_fn		*abi;
	struct mcpvisor_action_result	 result = { "" };
	void				*lib;
	int				 rc;

	if ((lib = dlopen(h->plugin, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		printf("%s: %s\n", h->label, dlerror());
		fflush(stdout);
		_exit(126);
	}
	*(void **)&abi = dlsym(lib, MCPVISOR_PLUGIN_ABI_SYMBOL);
	if (abi != NULL && (rc = abi()) != MCPVISOR_PLUGIN_ABI) {
		printf("%s: %s was built for plugin ABI %d, mcpvisor speaks "
		    "%d\n", h->label, h->plugin, rc, MCPVISOR_PLUGIN_ABI);
		fflush(stdout);
		_exit(126);
	}
	if ((*(void **)&fn = dlsym(lib, h->function)) == NULL) {
		printf("%s: %s has no function %s\n", h->label, h->plugin,
		    h->function);
		fflush(stdout);
		_exit(126);
	}
	rc = fn(h->doc, &result);
	result.message[sizeof(result.message) - 1] = '\0';
	if (result.message[0] != '\0')
		printf("%s: %s\n", h->label, result.message);
	fflush(stdout);
	_exit(rc == 0 ? 0 : 1);
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
		char		**av = h->args != NULL ? h->args : argv;
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
		if (h->plugin != NULL)
			call_plugin_action(h);
		execve(path, av, h->env);
		_exit(127);
	}
	close(in);
	h->pid = pid;
	h->timeout.fn = on_hook_timeout;
	loop_timer_set(&h->sv->loop, &h->timeout, h->timeout_ms > 0 ?
	    h->timeout_ms : HOOK_TIMEOUT_MS);
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

static char **
strv_dup(char *const *v, size_t extra_front)
{
	size_t	  n = 0;
	char	**out;

	while (v != NULL && v[n] != NULL)
		n++;
	if ((out = calloc(extra_front + n + 1, sizeof(char *))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((out[extra_front + i] = strdup(v[i])) == NULL) {
			for (size_t k = 0; k < extra_front + i; k++)
				free(out[k]);
			free(out);
			return NULL;
		}
	return out;
}

/* Takes h (its files set) and starts its first child: 1, or a negative
 * errno with h freed. */
static int
hook_run_start(struct supervisor *sv, struct hook_run *h, char *const *env,
    const cJSON *doc, int logfd, hook_done_fn *done, void *arg)
{
	int	r;

	if ((h->env = strv_dup(env, 0)) == NULL ||
	    (h->doc = cJSON_Print(doc)) == NULL) {
		hook_run_free(h);
		return -ENOMEM;
	}
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

int
hooks_start(struct supervisor *sv, const char *config_dir, const char *phase,
    char *const *env, const cJSON *doc, int logfd, hook_done_fn *done,
    void *arg)
{
	struct hook_run	*h;
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
	return hook_run_start(sv, h, env, doc, logfd, done, arg);
}

int
hooks_run_action(struct supervisor *sv, const struct hook_action *a,
    char *const *env, const cJSON *doc, int logfd, hook_done_fn *done,
    void *arg)
{
	struct hook_run	*h;
	const char	*path = a->program != NULL ? a->program : a->plugin;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	h->sv = sv;
	h->logfd = -1;
	h->timeout_ms = a->timeout_ms;
	snprintf(h->phase, sizeof(h->phase), "rollback-action");
	snprintf(h->label, sizeof(h->label), "rollback action '%s'", a->name);
	if ((h->files = calloc(1, sizeof(char *))) == NULL ||
	    (h->files[0] = strdup(path)) == NULL) {
		hook_run_free(h);
		return -ENOMEM;
	}
	h->nfiles = 1;
	if (a->plugin != NULL && ((h->plugin = strdup(a->plugin)) == NULL ||
	    (h->function = strdup(a->function)) == NULL)) {
		hook_run_free(h);
		return -ENOMEM;
	}
	if (a->program != NULL && ((h->args = strv_dup(a->args, 1)) == NULL ||
	    (h->args[0] = strdup(a->program)) == NULL)) {
		hook_run_free(h);
		return -ENOMEM;
	}
	return hook_run_start(sv, h, env, doc, logfd, done, arg);
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
	if (h->label[0] == '\0')
		snprintf(h->label, sizeof(h->label), "hook %s",
		    h->files[h->next_file - 1]);
	if (WIFSIGNALED(status))
		snprintf(msg, sizeof(msg), "%s killed by signal %d%s",
		    h->label, WTERMSIG(status),
		    WTERMSIG(status) == SIGKILL ? " (timeout?)" : "");
	else
		snprintf(msg, sizeof(msg), "%s exited with status %d%s",
		    h->label, WEXITSTATUS(status), WEXITSTATUS(status) == 127 ?
		    " (could not be executed?)" : "");
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
