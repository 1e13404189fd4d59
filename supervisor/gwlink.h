/*
 * mcpvisord's side of mcpvisor-gateway's channel. The gateway process is
 * started, logged and restarted as the monitor is (monproc.h, with its
 * own names); this is what is said on its channel. The root carries no
 * traffic: for every worker of a stdio server, and for all of them again
 * whenever a gateway starts, it makes a socket pair and passes one end
 * to the worker and the other to the gateway (FRAME_GW_ATTACH, with what
 * the gateway is to know of the server); the two then speak directly.
 * The gateway says nothing to the root: a frame from it ends its channel.
 */
#ifndef MCPVISOR_GWLINK_H
#define MCPVISOR_GWLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define GATEWAY_PORT_DEFAULT	8780

struct server_run;
struct supervisor;
struct worker_proc;

/* A gateway's end of its channel (a monproc_serve_fn; arg: the
 * supervisor). 0, or a negative errno. */
int	gwlink_serve(void *arg, int fd, pid_t pid);
/* A worker the gateway serves (worker_serves_gateway) gets a pair now,
 * if a gateway runs. */
void	gwlink_worker(struct supervisor *, struct worker_proc *);
/* What the gateway is told of a server run, as JSON text into buf, when
 * its server speaks MCP over stdio: true; false for the others. */
bool	gwlink_about(const struct server_run *, char *buf, size_t size);
void	gwlink_free(struct supervisor *);

#endif
