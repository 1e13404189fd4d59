/*
 * run.port: auto. An http server whose file lets mcpvisord choose its
 * port gets a free loopback port at each start, in its environment as
 * $PORT, so that a new version can start and become ready beside the
 * old one (start-new-then-stop-old) on a port of its own. Health checks
 * that say port: auto check the port of the server they run for,
 * chosen or written. The configuration digested and compared by an
 * apply keeps the word; only the worker's copy holds the number.
 */
#ifndef MCPVISOR_PORT_PICK_H
#define MCPVISOR_PORT_PICK_H

#include <stdbool.h>

struct cJSON;

/* Whether a worker configuration's run.port is "auto". */
bool	port_pick_auto(const struct cJSON *config);
/* The configuration to hand a worker: NULL when config_text has nothing
 * to fill in (*port then the server's written port, or 0); else a copy
 * (malloc'd; it holds secrets: wipe it) with a port chosen now for a
 * run.port: auto, in run.environment as $PORT, and the server's port
 * over each health check's port: auto; *port the server's. NULL with
 * errno set when a port cannot be had (then *port is 0). *picked: whether
 * a port was chosen now. */
char	*port_pick_config(const char *config_text, unsigned *port,
	    bool *picked);

#endif
