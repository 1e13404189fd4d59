/*
 * The CLI's link to mcpvisord: its side of the control socket, and the
 * daemon started in the background when none runs.
 */
#ifndef MCPVISOR_DAEMON_LINK_H
#define MCPVISOR_DAEMON_LINK_H

#include <stdbool.h>

#include "frame.h"

struct cJSON;

struct errbuf;

struct daemon_link {
	int			fd;
	struct frame_reader	rd;
	struct frame_writer	wr;
};

/* Connects to STATE_DIR/control.sock. With start, when nothing listens,
 * starts mcpvisord in the background on that state directory first and
 * waits until it says it is ready (--notify-fd), 10 s at most. 0 or a
 * negative errno (-ECONNREFUSED, -ENOENT: no daemon; -ECHILD: the one
 * started exited first, -ETIMEDOUT: it took too long, both said in
 * err). */
int	link_connect(struct daemon_link *, const char *state_dir, bool start,
	    struct errbuf *err);
/* Sends one request; 0 or a negative errno. */
int	link_request(struct daemon_link *, const struct cJSON *);
/* Waits for the next frame (blocking). 1 with *type and *json (the
 * caller deletes it), or a negative errno (-EPIPE: the daemon closed). */
int	link_next(struct daemon_link *, uint8_t *type, struct cJSON **);
void	link_close(struct daemon_link *);
/* Where mcpvisord is: beside us (bin -> sbin of our prefix), else on
 * PATH. 0, or -ENOENT after saying where it looked. */
int	daemon_path(char *buf, size_t size);

#endif
