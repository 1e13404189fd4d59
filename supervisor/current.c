#include "current.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "deployment.h"
#include "log.h"
#include "rollback_state.h"
#include "serverctl.h"

int
current_busy(struct supervisor *sv, char **err)
{
	const struct deployment	*cur = sv->dep;
	const struct rollback	*waiting = cur == NULL ? NULL :
				    cur->rb != NULL ? cur->rb : cur->hand;

	if (sv->shutting_down)
		return -ESHUTDOWN;
	if (sv->serverctl != NULL) {
		if (asprintf(err, "%s (mcpvisor stop, start or restart) is "
		    "under way", serverctl_id(sv->serverctl)) == -1)
			*err = NULL;
		return -EBUSY;
	}
	if (sv->preparing != NULL) {
		if (asprintf(err, "deployment %s is being prepared; stop it "
		    "first", sv->preparing->id) == -1)
			*err = NULL;
		return -EBUSY;
	}
	if (rb_waiting(waiting)) {
		if (asprintf(err, "rollback %s awaits approval (mcpvisor "
		    "rollback approve %s)", waiting->id, waiting->id) == -1)
			*err = NULL;
		return -EBUSY;
	}
	if (cur != NULL && cur->state == DEP_SUCCEEDED && cur->prev != NULL &&
	    dep_running(cur->prev)) {
		if (asprintf(err, "deployment %s is still stopping what it "
		    "replaced (%s); try again once that is done", cur->id,
		    cur->prev->id) == -1)
			*err = NULL;
		return -EBUSY;
	}
	if (cur != NULL && dep_running(cur) && cur->state != DEP_SUCCEEDED) {
		if (asprintf(err, "deployment %s is %s; stop it first",
		    cur->id, cur->state == DEP_STOPPING ? "stopping" :
		    "active") == -1)
			*err = NULL;
		return -EBUSY;
	}
	return 0;
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
current_install(struct supervisor *sv, struct deployment *dep)
{
	int	r;

	if (sv->dep != NULL && sv->dep->state == DEP_SUCCEEDED) {
		forget_prev(sv->dep->prev);
		dep->prev = sv->dep;
	} else
		dep_free(sv->dep);
	dep_free(sv->retired);
	sv->retired = NULL;
	sv->dep = dep;
	sampler_deployment_changed(sv);
	/* the state directory keeps a bounded history */
	if ((r = state_prune_records(sv->state_dir, RECORDS_KEPT)) < 0)
		log_warnx("pruning old records: %s", strerror(-r));
}
