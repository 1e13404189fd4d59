/*
 * mcpvisord's side of a helper that serves the network (mcpvisor-monitor,
 * and mcpvisor-gateway in the same manner, with its own names): started (through the spawn
 * routine) while the current deployment wants monitoring, fed through
 * one end of a socket pair that whoever wires the daemon serves (the
 * control module, as a client that watches everything), restarted with
 * back-off when it dies, its output kept in
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

/* Takes the root's end of a new monitor's channel (0, or a negative
 * errno: the monitor is then told to go). */
typedef int monproc_serve_fn(void *arg, int fd, pid_t pid);

struct monproc_opts {
	/* what it is called in messages ("monitor"), its log's name
	 * (logs/NAME_DATE.log: "monitoring"), its token's file in the
	 * state directory and the variable that hands it over; NULL: the
	 * monitor's */
	const char		*role;
	const char		*log_name;
	const char		*token_file;
	const char		*token_env;
	const char		*program;	/* mcpvisor-monitor */
	bool			 disabled;	/* --no-monitoring */
	unsigned		 port;		/* 0: the spec's */
	const char		*bind;		/* NULL: 127.0.0.1 */
	monproc_serve_fn	*serve;
	void			*serve_arg;
};

/* 0 and *out, or -ENOMEM. */
int	monproc_new(struct supervisor *, const struct monproc_opts *,
	    struct monproc **out);
/* What the current deployment asks for: a monitor on port, or none. */
void	monproc_want(struct monproc *, bool on, unsigned port);
/* mcpvisor monitor start: a monitor now, on port (0: as it is) and bind
 * (NULL: as it is); the port stays where later deployments that name
 * none of their own find it, the address for all (a deployment may
 * still turn monitoring off). 0, or -EPERM under --no-monitoring. */
int	monproc_move(struct monproc *, unsigned port, const char *bind);
/* Where it listens (or is about to): its port and address. */
unsigned	 monproc_port(const struct monproc *);
const char	*monproc_bind(const struct monproc *);
/* SIGCHLD: true when pid was the monitor's. */
bool	monproc_reaped(struct monproc *, pid_t pid, int status);
/* Asks it to go (SIGTERM) and starts no other. */
void	monproc_stop(struct monproc *);
void	monproc_free(struct monproc *);	/* accepts NULL */
/* Its pid, or 0. */
pid_t	monproc_pid(const struct monproc *);

#endif
