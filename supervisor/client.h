/*
 * The CLI's side of the control socket.
 */
#ifndef MCPVISOR_CLIENT_H
#define MCPVISOR_CLIENT_H

#include <stdbool.h>

#include "frame.h"

struct cJSON;

struct client_conn {
	int			fd;
	struct frame_reader	rd;
	struct frame_writer	wr;
};

/* Connects to STATE_DIR/control.sock. With start, when nothing listens,
 * starts mcpvisord in the background on that state directory first and
 * waits up to 5 s for it. 0 or a negative errno (-ECONNREFUSED, -ENOENT:
 * no daemon). */
int	client_connect(struct client_conn *, const char *state_dir, bool start);
/* Sends one request; 0 or a negative errno. */
int	client_request(struct client_conn *, const struct cJSON *);
/* Waits for the next frame (blocking). 1 with *type and *json (the
 * caller deletes it), or a negative errno (-EPIPE: the daemon closed). */
int	client_next(struct client_conn *, uint8_t *type, struct cJSON **);
void	client_close(struct client_conn *);

#endif
