/*
 * A deployment of a stack over a running one of the same stack is an
 * apply: a server whose definition is the running one's (what its worker
 * is given: run section, sandbox, limits, checks and the values of its
 * secrets; and its rendered configuration) is taken over as it runs,
 * pid and all (upgrade.c adopts it); only the servers that changed, and
 * those that follow a replaced dependency (restart_on_dependency_change),
 * are replaced. --force-recreate replaces them all. A dry run asks the
 * same question of a load made in a child, and starts nothing.
 */
#ifndef MCPVISOR_APPLY_H
#define MCPVISOR_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "server.h"
#include "supervisor.h"

struct cJSON;
struct deployment;

/* Decides, for every server of dep (installed over dep->prev), whether
 * it is taken over or replaced, and says so: an event for the apply and
 * one per server replaced, and each server's record. Nothing when dep
 * replaces nothing or is a rollback by hand, which decides for itself. */
void		 apply_plan(struct deployment *dep);

/* The answer to a dry run: {"ok", "replaces", "servers": [{"server",
 * "change", "keys"}], "removed": [names]}, or why there is none. */
typedef void apply_preview_fn(void *arg, const char *id,
    struct cJSON *diff, const char *why, bool invalid);
/* Loads rq's sources in a child, as a deployment would be, and compares
 * them with the running deployment: fn hears the diff (a new tree, the
 * callee's) under the preview's id, written to id (idsize bytes). No hook
 * runs, nothing is written, nothing starts. 0, or a negative errno with
 * err (malloc'd). */
int		 apply_preview(struct supervisor *,
		    const struct deploy_request *rq, apply_preview_fn *fn,
		    void *arg, char *id, size_t idsize, char **err);
/* Drops the dry runs under way (mcpvisord exits): no one hears. */
void		 apply_previews_free(struct supervisor *);

const char	*apply_change_name(enum srv_change);

#endif
