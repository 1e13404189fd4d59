/*
 * Which deployment is current. Two generations stay in memory: the
 * current one and the one it replaced (which a rollback by hand goes
 * back to); a failed upgrade is kept aside until the next deployment.
 */
#ifndef MCPVISOR_CURRENT_H
#define MCPVISOR_CURRENT_H

struct deployment;
struct supervisor;

/* Refuses a new deployment (or rollback) while the current one is in
 * the way: deploying, stopping, rolling back or awaiting approval.
 * 0, -ESHUTDOWN or -EBUSY (with *err). */
int	current_busy(struct supervisor *, char **err);
/* Makes dep the current deployment: an upgrade of the one that runs
 * successfully (which stays until dep succeeds, and comes back if it
 * fails), or the successor of one that is over. */
void	current_install(struct supervisor *, struct deployment *);

#endif
