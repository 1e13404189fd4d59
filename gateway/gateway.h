/*
 * mcpvisor-gateway: one loop (libwebsockets'), three kinds of peer:
 *
 *	the root	mcpvisord, over the frame protocol on a descriptor it
 *			handed us: it hands us, for each stdio server's
 *			worker, our end of a pair to that worker
 *			(FRAME_GW_ATTACH), and says nothing else
 *	workers		one link per worker: sessions opened and closed on
 *			it, clients' messages in, the server's out, and
 *			the server's state (ready, starting, down)
 *	HTTP		MCP clients, over Streamable HTTP at
 *			/servers/NAME/mcp, and GET /servers
 *
 * Rooms: main.c (options, privileges, the loop), links.c (the root, the
 * workers, the sessions), http.c (the HTTP side), message.c (what a
 * client sent, judged alone: fuzzed).
 */
#ifndef MCPVISOR_GATEWAY_H
#define MCPVISOR_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#define GATEWAY_TOKEN_LEN	64
#define GATEWAY_BODY_MAX	(4u << 20)	/* a POST's body, at most */
#define GATEWAY_SESSIONS_MAX	4096		/* per server */
#define GATEWAY_CALL_TIMEOUT_S	300		/* a request's answer */
#define GATEWAY_IDLE_S		1800		/* a session unused */
#define GATEWAY_RETRY_AFTER_S	2		/* 503's Retry-After */
#define GATEWAY_SESSION_ID_LEN	32		/* hex characters */

struct peer;
struct gw_out;
struct gw_session;

/* One HTTP transaction (libwebsockets' per-session data): a POST that
 * awaits its answer (a call, in its session's list), a GET stream, or a
 * plain answer being written. */
struct gw_http {
	struct gw_http		*next;		/* in its session's calls */
	struct lws		*wsi;
	struct gateway		*gw;
	struct gw_session	*session;	/* a call's or a stream's */
	bool			 is_call;
	bool			 is_stream;
	bool			 initialize;	/* answer with the session id */
	char			 session_id[GATEWAY_SESSION_ID_LEN + 1];
	char			*call_id;	/* the request's id, printed */
	char			*body;
	size_t			 body_len;
	size_t			 body_cap;	/* its Content-Length */
	bool			 body_refused;	/* too large: answered */
	char			 server[128];	/* of the path */
	char			 peer[64];
	/* what is to be written, in order */
	struct gw_out		*out;
	struct gw_out		*out_tail;
	bool			 headers_sent;
	bool			 sse;		/* answering as a stream */
	bool			 close_after;	/* the last is queued */
	bool			 released;
	bool			 in_callback;	/* its own HTTP callback runs */
	/* while it waits (a call, a stream): a second watcher of its
	 * socket, for the client's end of file (http.c, watch_peer) */
	struct lws		*watch;
};

/* One worker of a server (an upgrade runs two of the same name, each
 * with its own sessions). */
struct gw_link {
	struct gw_link		*next;
	struct gateway		*gw;
	char			 server[128];
	char			 stack[96];
	char			 deployment[64];
	char			 state[16];	/* ready, starting, down */
	char			 reason[256];
	char			 protocol_version[32];
	long			 pid;
	uint64_t		 serial;	/* the newer, the higher */
	struct peer		*peer;
	struct lws		*wsi;
	bool			 gone;
};

/* A client's session: on one link, until it ends. */
struct gw_session {
	struct gw_session	*next;
	struct gw_link		*link;		/* NULL once it ended */
	char			 id[GATEWAY_SESSION_ID_LEN + 1];
	uint32_t		 sid;
	struct gw_http		*calls;		/* POSTs awaiting answers */
	struct gw_http		*stream;	/* its GET stream */
	uint64_t		 used_ms;
	char			 client[64];	/* who opened it */
};

/* What a client sent in one POST, judged (message.c). */
enum gw_kind {
	GW_REQUEST,
	GW_NOTIFICATION,
	GW_RESPONSE,	/* to a request of the server */
	GW_BATCH,	/* an array: not since 2025-06-18 */
	GW_INVALID,	/* JSON, not JSON-RPC */
	GW_UNPARSABLE,	/* not JSON */
};

struct gw_message {
	enum gw_kind	 kind;
	char		 method[128];
	char		*id;		/* the id, printed (requests, answers) */
	char		 why[160];	/* for the invalid */
};

/* Judges a body; frees nothing of the caller's. gw_message_clear frees
 * what it holds. */
void	gw_message_judge(const char *body, size_t len, struct gw_message *);
void	gw_message_clear(struct gw_message *);
/* The JSON-RPC id of a server's message, printed (NULL: none); and
 * whether it is an answer (no method). The caller frees the id. */
char	*gw_message_answer_id(const char *json, size_t len, bool *answer);
/* Whether an Origin header value is one of ours: loopback names or the
 * bound address, on our port, over http. */
bool	gw_origin_allowed(const char *origin, const char *bind,
	    unsigned port);
/* Whether a protocol version (MCP-Protocol-Version) is one we serve. */
bool	gw_version_known(const char *version);

struct gateway {
	struct lws_context	*ctx;
	struct lws_vhost	*vhost;
	char			 token[GATEWAY_TOKEN_LEN + 1];
	const char		*bind;
	unsigned		 port;
	struct peer		*root;
	struct lws		*root_wsi;
	struct gw_link		*links;
	uint64_t		 link_serial;
	struct gw_session	*sessions;	/* every live one */
	size_t			 nsessions;
	uint32_t		 next_sid;
	int			 sig_fd;
	struct lws		*sig_wsi;
	lws_sorted_usec_list_t	 sweep;
	bool			 done;
	bool			 closing;	/* the context is being destroyed */
};

/* links.c */
const struct lws_protocols	*gateway_protocols(void);
int	gateway_adopt_root(struct gateway *, int fd);
int	gateway_adopt_signals(struct gateway *, int fd);
void	gateway_free(struct gateway *);
struct gateway	*gateway_of(struct lws *);
/* The link new sessions of server go to (the newest ready one), else the
 * newest of any state, else NULL. */
struct gw_link	*gateway_route(struct gateway *, const char *server);
/* A new session on link (NULL: ENOMEM, or too many). */
struct gw_session *gateway_open_session(struct gateway *, struct gw_link *,
		    const char *client);
struct gw_session *gateway_find_session(struct gateway *, const char *id);
/* Ends a session (the worker is told, its calls and stream get why). */
void	gateway_end_session(struct gateway *, struct gw_session *,
	    const char *why);
/* A message of the session's client for its server: 0, or -EPIPE. */
int	gateway_send(struct gw_session *, const char *json, size_t len);
/* GET /servers: a new JSON text. */
char	*gateway_servers_json(struct gateway *);

/* http.c: the HTTP side's hooks for links.c */
int	gw_http_callback(struct lws *, enum lws_callback_reasons, void *user,
	    void *in, size_t len);
/* A message from the server for one POST call (final: its answer) or
 * GET stream. */
void	gw_http_deliver(struct gw_http *, const char *json, size_t len,
	    bool final);
/* The call's or stream's session is over: answered with why, and no
 * longer in the session. */
void	gw_http_orphan(struct gw_http *, const char *why);
/* The watcher's callback ("mcpvisor-watch"). */
int	gw_http_watch_callback(struct lws *, enum lws_callback_reasons,
	    void *user, void *in, size_t len);

#endif
