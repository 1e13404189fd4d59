/*
 * mcpvisor-monitor: one loop (libwebsockets'), three kinds of peer:
 *
 *	the root	mcpvisord's events, records and samples, over the
 *			frame protocol (a descriptor it handed us, or its
 *			control socket), adopted into the loop as a raw fd
 *	WebSocket	clients reading the hub's ring at their own pace
 *	HTTP		/ (the dashboard), /metrics (Prometheus), /healthz
 */
#ifndef MCPVISOR_MONITOR_H
#define MCPVISOR_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "hub.h"

struct lws;
struct lws_context;
struct lws_vhost;
struct client;
struct peer;

#define MONITOR_TOKEN_LEN	64	/* hex characters */

struct monitor {
	struct lws_context	*ctx;
	struct lws_vhost	*vhost;
	struct hub		 hub;
	struct client		*clients;
	char			 token[MONITOR_TOKEN_LEN + 1];
	/* the root's stream, a peer that libwebsockets' loop drives */
	struct peer		*root;
	struct lws		*root_wsi;
	bool			 watching;	/* the watch answer came */
	/* requests to the root after the watch, answered in order: how
	 * many were sent and answered, which one the /metrics scrapes in
	 * scrapes wait for (a usage sample taken for them) and which the
	 * /livez probes there (a ping), and whether
	 * the root was last asked for samples as they come */
	uint64_t		 rq_sent;
	uint64_t		 rq_answered;
	uint64_t		 sample_rq;
	uint64_t		 ping_rq;	/* what /livez waits for */
	struct client		*scrapes;
	bool			 usage_asked;
	/* the signals, through a signalfd in the same loop */
	int			 sig_fd;
	struct lws		*sig_wsi;
	bool			 done;
	const char		*root_name;	/* for messages */
};

/* Serves: returns the lws protocol table (ws + http, then the root's raw
 * channel, then the signals'). */
const struct lws_protocols	*monitor_protocols(void);
/* Takes over fd (the root's stream) into the loop and asks to watch. */
int	monitor_adopt_root(struct monitor *, int fd);
/* Takes over a signalfd into the loop: TERM and INT end it. */
int	monitor_adopt_signals(struct monitor *, int fd);
void	monitor_free_root(struct monitor *);
/* New ring messages: every client that waits is asked to write. */
void	monitor_wake_clients(struct monitor *);

extern const char	dashboard_html[];
extern const size_t	dashboard_html_len;

#endif
