/*
 * Deployment hooks: the executables of CONFIG_DIR/hooks/PHASE.d/, run one
 * after another in name order, each with the deployment described in
 * MCPVISOR_* environment variables and a JSON document on stdin, its
 * output appended to the deployment's log (its first lines also events
 * of the deployment, for the live tail), the deployment's secrets
 * masked. Custom rollback actions run
 * the same way (a program, or a plugin function called in a child).
 *
 * None of them runs in mcpvisord: each is a task of a mcpvisor-worker,
 * sandboxed as a server is (worker/task.c), under the user, group and
 * sandbox the deployment spec declares for its hooks (hooks: in
 * mcpvisor.yaml(5)) or, where it names no user, the owner of the file,
 * so that a hook never runs with more than its owner could; never with a
 * capability the spec does not list. A hook that outlives its timeout
 * (HOOK_TIMEOUT_MS, or the action's) is killed and counts as failed.
 */
#ifndef MCPVISOR_HOOKS_H
#define MCPVISOR_HOOKS_H

#include <stdbool.h>
#include <sys/types.h>

struct cJSON;
struct supervisor;

#define HOOK_TIMEOUT_MS	60000

struct hook_run;

/* Called once, when every hook has run (failed: false) or the first has
 * failed (failed: true, message says which and how). */
typedef void hook_done_fn(void *arg, bool failed, const char *message);

/* Who they run as and their sandbox: the spec's hooks: mapping (user,
 * group, supplementary_groups, sandbox), or NULL. */
struct hook_context {
	const char		*config_dir;	/* their working directory */
	const struct cJSON	*identity;
	int			 logfd;		/* their output; -1: ours */
	/* whose events their first lines of output become (hook_output,
	 * for the live tail), or NULL; and the secrets their workers mask
	 * in it (an array of strings, or NULL) */
	const char		*deployment_id;
	const struct cJSON	*mask;
	bool			 verbose;	/* the deployment's */
};

/* Runs the hooks of phase. env is NULL-terminated "NAME=value" strings
 * (copied); doc is the JSON for stdin. Returns 1 when hooks are running
 * (done will be called), 0 when there are none (done will not be), or a
 * negative errno. */
int	hooks_start(struct supervisor *, const struct hook_context *,
	    const char *phase, char *const *env, const struct cJSON *doc,
	    hook_done_fn *done, void *arg);
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

/* Runs one action like a hook (same return values: 1 when running). */
int	hooks_run_action(struct supervisor *, const struct hook_context *,
	    const struct hook_action *, char *const *env,
	    const struct cJSON *doc, hook_done_fn *done, void *arg);
/* Forgets runs whose owner went away: their done will not be called. */
void	hooks_cancel(struct supervisor *, void *arg);
bool	hooks_pending(const struct supervisor *);
void	hooks_free_all(struct supervisor *);

#endif
