/*
 * mcpvisord's side of mcpvisor-monitor: started (fork, exec) while the
 * current deployment wants monitoring, fed through one end of a socket
 * pair that the control module serves as a client that watches
 * everything, restarted with back-off when it dies, its output kept in
 * STATE_DIR/logs/monitoring_DATE.log. The root never waits for it: a
 * monitor that stops reading is dropped like any client, and restarted.
 */
#ifndef MCPVISOR_MONPROC_H
#define MCPVISOR_MONPROC_H

#include <stdbool.h>
#include <sys/types.h>

#define MONITOR_PORT_DEFAULT	8765

struct monproc;
struct supervisor;

struct monproc_opts {
	const char	*program;	/* mcpvisor-monitor */
	bool		 disabled;	/* --no-monitoring */
	unsigned	 port;		/* 0: the spec's */
	const char	*bind;		/* NULL: 127.0.0.1 */
};

int	monproc_init(struct supervisor *, const struct monproc_opts *);
/* What the current deployment asks for: a monitor on port, or none. */
void	monproc_want(struct supervisor *, bool on, unsigned port);
/* SIGCHLD: true when pid was the monitor's. */
bool	monproc_reaped(struct supervisor *, pid_t pid, int status);
/* Asks it to go (SIGTERM) and starts no other. */
void	monproc_stop(struct supervisor *);
void	monproc_free(struct supervisor *);
/* Whether mcpvisord runs without a monitor (--no-monitoring). */
bool	monproc_disabled(const struct supervisor *);
/* Its pid, or 0. */
pid_t	monproc_pid(const struct supervisor *);

#endif
