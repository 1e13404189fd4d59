/*
 * A deployment over a running one is an upgrade: each server the new
 * one names and the old one runs is snapshotted (off the loop), stopped,
 * then started anew; an apply (apply.c) takes the running process of a
 * server whose definition did not change over unchanged instead, as a
 * rollback by hand may. The old deployment keeps whatever else it runs
 * until the new one succeeds. An upgrade that fails without a rollback
 * hands the old deployment back as the current one. All of it is a
 * listener of the deployments' notes.
 */
#ifndef MCPVISOR_UPGRADE_H
#define MCPVISOR_UPGRADE_H

#include <stdbool.h>

#include "supervisor.h"

struct cJSON;
struct deployment;
struct server_run;

bool		 upgrade_listener(struct deployment *, enum dep_note,
		    struct server_run *, const char *why);
/* Whether sr's new version starts beside the running one, old, which
 * stops once it is ready (start-new-then-stop-old): both stdio servers
 * (no port to share), the spec not asking for upgrade_stop_first, and
 * not a rollback by hand. Otherwise old stops first. */
bool		 upgrade_starts_first(const struct server_run *sr,
		    const struct server_run *old);
/* Whether the version sr replaces, started beside (or, replaced the
 * other way, not yet stopped), still runs: sr's batch is done only once
 * it has gone, so that a deployment that succeeded replaced what it
 * replaces. */
bool		 upgrade_old_remains(const struct server_run *sr);
/* The configuration a server runs with, secrets masked: what its
 * snapshot records, and what a snapshot is checked against before that
 * configuration is used again. A new tree, or NULL. */
struct cJSON	*upgrade_masked_config(const struct server_run *);
/* A failed upgrade is over: the deployment it meant to replace is the
 * current one again, and the upgrade is kept aside. */
void		 upgrade_hand_back(struct deployment *);
/* A partial rollback by hand that fails gives the servers it took over
 * unchanged back to the deployment it took them from. */
void		 upgrade_give_back_adopted(struct deployment *);

#endif
