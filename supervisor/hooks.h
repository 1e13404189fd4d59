/*
 * Deployment hooks: the executables of CONFIG_DIR/hooks/PHASE.d/, run one
 * after another in name order, each with the deployment described in
 * MCPVISOR_* environment variables and a JSON document on stdin, its
 * output appended to the deployment's log. Custom rollback actions run
 * the same way. They run as children of the
 * loop, never blocking it; a hook that outlives HOOK_TIMEOUT_MS is
 * killed and counts as failed.
 */
#ifndef MCPVISOR_HOOKS_H
#define MCPVISOR_HOOKS_H

#include <stdbool.h>
#include <sys/types.h>

#include "loop.h"

struct cJSON;
struct supervisor;

#define HOOK_TIMEOUT_MS	60000

struct hook_run;

/* Called once, when every hook has run (failed: false) or the first has
 * failed (failed: true, message says which and how). */
typedef void hook_done_fn(void *arg, bool failed, const char *message);

/* Runs the hooks of phase. env is NULL-terminated "NAME=value" strings
 * (copied); doc is the JSON for stdin. Returns 1 when hooks are running
 * (done will be called), 0 when there are none (done will not be), or a
 * negative errno. */
int	hooks_start(struct supervisor *, const char *config_dir,
	    const char *phase, char *const *env, const struct cJSON *doc,
	    int logfd, hook_done_fn *done, void *arg);
/* One custom rollback action: a program, given the JSON document on its
 * stdin, or a plugin function (mcpvisor/plugin.h) called in a child. */
struct hook_action {
	const char	*name;		/* for messages */
	const char	*program;	/* or NULL */
	char *const	*args;		/* the program's, NULL-terminated */
	const char	*plugin;	/* or NULL */
	const char	*function;
	unsigned	 timeout_ms;
};

/* Runs one action like a hook (same return values: 1 when running). Its
 * output goes to logfd. */
int	hooks_run_action(struct supervisor *, const struct hook_action *,
	    char *const *env, const struct cJSON *doc, int logfd,
	    hook_done_fn *done, void *arg);
/* SIGCHLD: true when pid was a hook's (and it has been handled). */
bool	hooks_reaped(struct supervisor *, pid_t pid, int status);
/* Forgets runs whose owner went away: their done will not be called. */
void	hooks_cancel(struct supervisor *, void *arg);
bool	hooks_pending(const struct supervisor *);
void	hooks_free_all(struct supervisor *);

#endif
