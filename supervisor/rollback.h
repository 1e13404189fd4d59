/*
 * Rollbacks of failed upgrades (rollback.c) and rollbacks by hand
 * (rollback_hand.c), each a listener of the deployments' notes.
 */
#ifndef MCPVISOR_ROLLBACK_H
#define MCPVISOR_ROLLBACK_H

#include <stdbool.h>

#include "supervisor.h"

struct deployment;
struct server_run;

bool	rollback_listener(struct deployment *, enum dep_note,
	    struct server_run *, const char *why);
/* Approves the rollback of dep's failure that a "manual" strategy
 * planned. -ENOENT: it has none of that id; -EALREADY: not waiting. */
int	rollback_approve(struct deployment *, const char *id);

bool	rollback_hand_listener(struct deployment *, enum dep_note,
	    struct server_run *, const char *why);

#endif
