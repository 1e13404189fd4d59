/*
 * stop, start and restart of servers of the current deployment, in
 * dependency order (serverctl.c).
 */
#ifndef MCPVISOR_SERVERCTL_H
#define MCPVISOR_SERVERCTL_H

#include <stdbool.h>
#include <stddef.h>

#include "supervisor.h"

struct cJSON;
struct deployment;
struct serverctl;

/* Plans action ("stop", "start" or "restart") of the servers named (a
 * list of strings), as asked by uid; with_dependents lets a stop take
 * a server's running dependents along. Nothing moves yet. 0 and *out,
 * or -EINVAL, -ENOENT (a name the deployment has not: the nearest in
 * why), -EPERM (a running dependent), -ESRCH (no deployment runs),
 * -EBUSY, -ENOMEM, with why. */
int		 serverctl_plan(struct supervisor *, const char *action,
		    const struct cJSON *names, bool with_dependents, int uid,
		    struct serverctl **out, char *why, size_t size);
/* What its client awaits: sv->on_finished(id, "succeeded" or "failed:
 * why") when it is over. */
const char	*serverctl_id(const struct serverctl *);
/* The deployment whose servers it acts on. */
const struct deployment *serverctl_deployment(const struct serverctl *);
/* {"action_id", "action", "stops": [names], "starts": [names]} added to
 * o: what it will do, in order. */
void		 serverctl_describe(const struct serverctl *, struct cJSON *o);
/* Carries a planned action out (it becomes sv->serverctl, and frees
 * itself when it is over), or drops it. */
void		 serverctl_run(struct supervisor *, struct serverctl *);
void		 serverctl_drop(struct serverctl *);
/* A deployment listener (runtime_listen): what moves it on. */
bool		 serverctl_listener(struct deployment *, enum dep_note,
		    struct server_run *, const char *why);

#endif
