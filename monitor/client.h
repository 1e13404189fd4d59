/*
 * A client of the monitor, WebSocket or HTTP, as the libwebsockets loop
 * (ws.c) and the HTTP answers (http.c) both see it.
 */
#ifndef MCPVISOR_MONITOR_CLIENT_H
#define MCPVISOR_MONITOR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"

struct lws;
struct monitor;

struct client {
	struct client	*next;
	struct client	*prev;
	struct lws	*wsi;
	bool		 ws;		/* a WebSocket (else an HTTP transaction) */
	bool		 linked;
	bool		 wants_write;
	int64_t		 from_seq;	/* asked for in the URL; 0: none */
	uint64_t	 cursor;	/* the next ring message to send */
	struct hub_msg	*pre;		/* the snapshot, sent first */
	size_t		 npre;
	size_t		 ipre;
	struct hub_msg	 gap;		/* a gap marker to send first */
	char		 peer[64];
	/* a message from the client arriving in fragments (rare: ours are
	 * small), gathered up to CLIENT_MESSAGE_MAX */
	char		*rx;
	size_t		 rx_len;
	unsigned	 rx_frags;
	/* HTTP: a /metrics scrape waiting for the root's fresh sample, or a
	 * /livez waiting for its answer to a ping (or either's time limit),
	 * in the monitor's list, and then due to be answered */
	bool		 awaiting;
	bool		 liveness;	/* a /livez, not a scrape */
	bool		 answered;	/* the root answered it in time */
	bool		 metrics_due;
	bool		 livez_due;
	struct client	*scrape_next;
	/* HTTP: the body being sent */
	const char	*body;
	char		*body_owned;
	size_t		 body_len;
	size_t		 body_off;
};

/* Loopback peers are trusted; any other needs the token. (ws.c) */
bool	monitor_authorized(struct lws *, struct monitor *, struct client *);
/* A /metrics scrape (liveness false) waits for a sample the root takes
 * for it, a /livez for the root's answer to a ping; either is answered
 * when it comes, or at its time limit. (ws.c) */
void	monitor_wait_root(struct monitor *, struct client *, bool liveness);

/* The HTTP side (http.c): a request, the next piece of a body, and the
 * answers that waited on the root. */
int	http_request(struct monitor *, struct lws *, struct client *,
	    const char *uri);
int	http_writeable(struct lws *, struct client *);
int	metrics_respond(struct monitor *, struct lws *, struct client *);
int	livez_respond(struct monitor *, struct lws *, struct client *);

#endif
