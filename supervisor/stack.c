#include "stack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deployment.h"
#include "log.h"
#include "prepare.h"
#include "rollback_state.h"
#include "util.h"
#include "schema.h"
#include "serverctl.h"

int
stack_busy(struct supervisor *sv, const struct stack *st, char **err)
{
	const struct deployment	*cur = st != NULL ? st->dep : NULL;
	const struct rollback	*waiting = cur == NULL ? NULL :
				    cur->rb != NULL ? cur->rb : cur->hand;

	if (sv->shutting_down)
		return -ESHUTDOWN;
	if (cur == NULL)
		return 0;
	if (sv->serverctl != NULL && serverctl_deployment(sv->serverctl) ==
	    cur)
		return util_say(err, -EBUSY, "%s (mcpvisor stop, start or restart) "
		    "is under way", serverctl_id(sv->serverctl));
	if (rb_waiting(waiting))
		return util_say(err, -EBUSY, "rollback %s awaits approval (mcpvisor "
		    "rollback approve %s)", waiting->id, waiting->id);
	if (cur->state == DEP_SUCCEEDED && cur->prev != NULL &&
	    dep_running(cur->prev))
		return util_say(err, -EBUSY, "deployment %s is still stopping what "
		    "it replaced (%s); try again once that is done", cur->id,
		    cur->prev->id);
	if (dep_running(cur) && cur->state != DEP_SUCCEEDED)
		return util_say(err, -EBUSY, "deployment %s of stack %s is %s; stop "
		    "it first", cur->id, st->name, cur->state == DEP_STOPPING ?
		    "stopping" : "active");
	return 0;
}

int
stack_submit_busy(struct supervisor *sv, const char *spec_path, char **err)
{
	int	r;

	if (sv->shutting_down)
		return -ESHUTDOWN;
	for (const struct deployment *p = sv->preparing; p != NULL;
	    p = p->next)
		if (strcmp(p->src.spec_path, spec_path) == 0)
			return util_say(err, -EBUSY, "deployment %s of %s is being "
			    "prepared; stop it first", p->id, spec_path);
	for (const struct stack *st = sv->stacks; st != NULL; st = st->next)
		if (st->dep != NULL && strcmp(st->dep->src.spec_path,
		    spec_path) == 0 && (r = stack_busy(sv, st, err)) < 0)
			return r;
	return 0;
}

/* Whether server name runs in deployment d or in the one it replaces. */
static bool
runs_in(const struct deployment *d, const char *name)
{
	for (; d != NULL; d = d->prev)
		if (dep_running(d) && dep_server(d, name) != NULL)
			return true;
	return false;
}

int
stack_clash(const struct deployment *dep, char **err)
{
	const struct supervisor	*sv = dep->sv;
	const char		*name = dep->ld.pd->spec->name;
	const struct stack	*own = stack_named(sv, name);

	*err = NULL;
	for (const struct stack *st = sv->stacks; st != NULL; st = st->next) {
		if (st == own)
			continue;
		for (size_t i = 0; i < dep->ld.nservers; i++)
			if (runs_in(st->dep, dep->ld.servers[i].name))
				return util_say(err, -EEXIST, "server '%s' of stack "
				    "%s (%s) is a server of stack %s (%s), which "
				    "runs: a server name belongs to one stack; "
				    "rename one, or stop stack %s first",
				    dep->ld.servers[i].name, name,
				    dep->src.spec_path, st->name,
				    st->dep->src.spec_path, st->name);
	}
	/* two deployments prepared side by side may claim the same name:
	 * the first to be installed has it */
	return 0;
}

int
stack_claim(struct deployment *dep, char **err)
{
	int	r;

	*err = NULL;
	if ((r = stack_busy(dep->sv, stack_named(dep->sv,
	    dep->ld.pd->spec->name), err)) < 0)
		return r;
	return stack_clash(dep, err);
}

/* Forgets the deployment dep replaced (and, with it, what that one
 * replaced). */
static void
forget_prev(struct deployment *dep)
{
	if (dep == NULL || dep->prev == NULL)
		return;
	for (size_t i = 0; i < dep->ld.nservers; i++) {
		dep->ld.servers[i].replaces = NULL;
		dep->ld.servers[i].adopted_from = NULL;
	}
	dep_free(dep->prev);
	dep->prev = NULL;
}

void
stack_install(struct deployment *dep)
{
	struct supervisor	*sv = dep->sv;
	const char		*name = dep->ld.pd->spec->name;
	struct stack		*st, **pp;
	int			 r;

	for (pp = &sv->stacks; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->name, name) == 0)
			break;
	if ((st = *pp) != NULL)
		*pp = st->next;		/* to the front, below */
	else {
		if ((st = calloc(1, sizeof(*st))) == NULL)
			fatalx(SV_EXIT_TEMPFAIL, "out of memory");
		snprintf(st->name, sizeof(st->name), "%s", name);
	}
	st->next = sv->stacks;
	sv->stacks = st;
	if (st->dep != NULL && st->dep->state == DEP_SUCCEEDED) {
		forget_prev(st->dep->prev);
		dep->prev = st->dep;
	} else
		dep_free(st->dep);
	dep_free(st->retired);
	st->retired = NULL;
	st->dep = dep;
	dep->stack = st;
	sampler_deployment_changed(sv);
	/* the state directory keeps a bounded history */
	if ((r = state_prune_records(sv->state_dir, RECORDS_KEPT)) < 0)
		log_warnx("pruning old records: %s", strerror(-r));
}

struct stack *
stack_named(const struct supervisor *sv, const char *name)
{
	for (struct stack *st = sv->stacks; st != NULL; st = st->next)
		if (strcmp(st->name, name) == 0)
			return st;
	return NULL;
}

struct deployment *
stack_deployment(const struct supervisor *sv, const char *id)
{
	for (const struct stack *st = sv->stacks; st != NULL; st = st->next)
		for (struct deployment *d = st->dep; d != NULL; d = d->prev)
			if (strcmp(d->id, id) == 0)
				return d;
	return NULL;
}

struct server_run *
stack_server(const struct supervisor *sv, const char *name,
    struct deployment **dep)
{
	struct server_run	*sr;

	/* a running stack's first: a stopped one may have had the name */
	for (int running = 1; running >= 0; running--)
		for (const struct stack *st = sv->stacks; st != NULL;
		    st = st->next)
			if (st->dep != NULL && dep_running(st->dep) ==
			    running && (sr = dep_server(st->dep, name)) !=
			    NULL) {
				if (dep != NULL)
					*dep = st->dep;
				return sr;
			}
	return NULL;
}

void
stack_say_unknown(const struct supervisor *sv, const char *name, char *why,
    size_t size)
{
	const char	*names[257], *near = NULL;
	size_t		 n = 0;

	for (const struct stack *st = sv->stacks; st != NULL; st = st->next)
		for (size_t i = 0; st->dep != NULL && i < st->dep->ld.nservers &&
		    n < 256; i++)
			names[n++] = st->dep->ld.servers[i].name;
	names[n] = NULL;
	if (n > 0)
		near = schema_nearest(names, name);
	snprintf(why, size, "no server '%.80s'%s%.80s%s", name, near != NULL ?
	    "; did you mean '" : "", near != NULL ? near : "", near != NULL ?
	    "'?" : "");
}

bool
stack_any_running(const struct supervisor *sv)
{
	for (const struct stack *st = sv->stacks; st != NULL; st = st->next)
		for (const struct deployment *d = st->dep; d != NULL;
		    d = d->prev)
			if (dep_running(d))
				return true;
	return false;
}

void
stack_free_all(struct supervisor *sv)
{
	while (sv->stacks != NULL) {
		struct stack	*st = sv->stacks;

		sv->stacks = st->next;
		dep_free(st->dep);
		dep_free(st->retired);
		free(st);
	}
}
