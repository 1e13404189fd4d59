/*
 * Stacks: each deployment spec's metadata.name is a stack, as a compose
 * project is, with a current deployment of its own. Deployments of
 * different stacks run side by side and never touch each other's
 * servers; a server name belongs to one stack at a time. Within a
 * stack, two generations stay in memory: the current deployment and the
 * one it replaced (which a rollback by hand goes back to); a failed
 * upgrade is kept aside until the next deployment of the stack.
 */
#ifndef MCPVISOR_STACK_H
#define MCPVISOR_STACK_H

#include <stdbool.h>
#include <stddef.h>

struct deployment;
struct server_run;
struct supervisor;

struct stack {
	struct stack		*next;		/* the newest installed first */
	char			 name[96];
	struct deployment	*dep;		/* its current deployment */
	/* a failed upgrade, rolled back, kept until the next one is */
	struct deployment	*retired;
};

/* Refuses what would disturb a stack (a deployment, a rollback, a
 * server's action) while its current deployment is in the way:
 * deploying, stopping, rolling back, awaiting approval, or one of its
 * servers being acted on. 0, -ESHUTDOWN or -EBUSY (with *err). */
int	stack_busy(struct supervisor *, const struct stack *, char **err);
/* The same for a deployment of spec_path about to be submitted, whose
 * stack is known only once it is loaded: refused while a deployment of
 * the same file is being prepared, or while the stack a deployment of
 * that file made is busy. */
int	stack_submit_busy(struct supervisor *, const char *spec_path,
	    char **err);
/* Whether one of dep's servers (loaded) is a running server of another
 * stack: 0, or -EEXIST with *err naming both. */
int	stack_clash(const struct deployment *, char **err);
/* Once dep is loaded, and before it becomes its stack's current one:
 * refuses it (-EBUSY, -EEXIST, with *err) when its stack is busy after
 * all (another file of the same name), or when one of its servers is a
 * running server of another stack. */
int	stack_claim(struct deployment *, char **err);
/* Makes dep its stack's current deployment (the stack is made on its
 * first one): an upgrade of the one that runs successfully (which stays
 * until dep succeeds, and comes back if it fails), or the successor of
 * one that is over. */
void	stack_install(struct deployment *);
/* The stack of that name, or NULL. */
struct stack *stack_named(const struct supervisor *, const char *name);
/* The stack, and current deployment, whose deployment id is id, or the
 * one id superseded while it still runs; NULL if none. */
struct deployment *stack_deployment(const struct supervisor *,
	    const char *id);
/* The run of server name in any stack's current deployment (its
 * deployment in *dep when dep is not NULL), or NULL. */
struct server_run *stack_server(const struct supervisor *, const char *name,
	    struct deployment **dep);
/* "no server 'NAME'; did you mean 'NEAREST'?", of every stack's servers,
 * in why. */
void	stack_say_unknown(const struct supervisor *, const char *name,
	    char *why, size_t size);
/* Whether any stack's deployments (current, or superseded) still run. */
bool	stack_any_running(const struct supervisor *);
/* Frees every stack and its deployments. */
void	stack_free_all(struct supervisor *);

#endif
