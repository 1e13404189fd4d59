/*
 * Many MCP client sessions over the one MCP session of one server
 * process (a stdio server behind mcpvisor-gateway: see its page, "Sessions
 * on a stdio server"). The worker's health engine holds the process's own
 * session (initialize, then its probes); this multiplexer sits beside it
 * on the same stream and owns every message of the clients':
 *
 *  - a client's initialize is answered from the process's handshake (its
 *    capabilities, serverInfo and instructions, at the version it
 *    negotiated); notifications/initialized is the process's business
 *    and goes no further;
 *  - a client's request gets the id "mvg-N" on its way in (N counts
 *    every request), and its own id back on the answer; its progress
 *    token becomes "mvp-N", and back again on each notifications/progress;
 *    notifications/cancelled is mapped the same way;
 *  - notifications of the server that belong to no request (list_changed,
 *    logging, resource updates) go to every session;
 *  - a request of the server (sampling, elicitation, roots/list) goes to
 *    the session whose requests are in flight when exactly one session
 *    has some, and is otherwise refused with an error that says why; the
 *    client's answer goes back only from that session;
 *  - ping from the server, and answers to ids that are not "mvg-N", are
 *    the health engine's (MUX_NOT_MINE);
 *  - with a tool filter, clients list and call only the tools it lets
 *    through.
 *
 * It does no I/O: lines for the server and messages for sessions leave
 * through the callbacks, so it is tested and fuzzed alone.
 */
#ifndef MCPVISOR_MCPMUX_H
#define MCPVISOR_MCPMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* requests a session may have in flight at once */
#define MUX_SESSION_IN_FLIGHT_MAX	64
/* sessions of one process */
#define MUX_SESSIONS_MAX		4096

struct mcpmux;

struct mux_ops {
	/* One JSON-RPC message (no newline) for the server's input: 0, or
	 * negative when the input cannot take it now. */
	int	(*to_server)(void *arg, const char *json, size_t len);
	/* One for client session sid (0: for every session). */
	void	(*to_session)(void *arg, uint32_t sid, const char *json,
		    size_t len);
};

enum mux_verdict {
	MUX_NOT_MINE,	/* the health engine's: feed it there */
	MUX_TAKEN,
};

struct mcpmux	*mcpmux_new(const struct mux_ops *, void *arg);
void		 mcpmux_free(struct mcpmux *);	/* accepts NULL */

/* The process finished its handshake: its initialize result (JSON
 * text). 0, or -EINVAL (not an object with protocolVersion), -ENOMEM. */
int		 mcpmux_server_ready(struct mcpmux *, const char *result,
		    size_t len);
/* The process is gone (why): every request in flight is answered with
 * an error, and every session ends. */
void		 mcpmux_server_gone(struct mcpmux *, const char *why);
bool		 mcpmux_has_server(const struct mcpmux *);
/* The protocol version of the process's session, or "". */
const char	*mcpmux_protocol_version(const struct mcpmux *);

/* A client session begins, or ends (its requests' answers are dropped
 * when they come; a request of the server it holds is refused). 0, or
 * -EEXIST, -ENOSPC (MUX_SESSIONS_MAX), -ENOMEM. */
int		 mcpmux_open(struct mcpmux *, uint32_t sid);
void		 mcpmux_close(struct mcpmux *, uint32_t sid);
bool		 mcpmux_is_open(const struct mcpmux *, uint32_t sid);
/* Every session ends (the gateway went): as mcpmux_close of each. */
void		 mcpmux_close_all(struct mcpmux *);

/* One JSON-RPC message of session sid. What cannot go on is answered
 * to the session as a JSON-RPC error (for a request), or dropped. */
void		 mcpmux_from_client(struct mcpmux *, uint32_t sid,
		    const char *json, size_t len);
/* One line the server wrote (without its newline). */
enum mux_verdict mcpmux_from_server(struct mcpmux *, const char *line,
		    size_t len);

/* The tools clients may see and call (gateway.tools of the server):
 * tools/list answers lose the others, and tools/call of another is
 * refused without reaching the server. allow NULL: every tool but those
 * denied. 0, or -ENOMEM. */
int		 mcpmux_filter_tools(struct mcpmux *, const char *const *allow,
		    size_t nallow, const char *const *deny, size_t ndeny);

size_t		 mcpmux_sessions(const struct mcpmux *);
size_t		 mcpmux_in_flight(const struct mcpmux *);

#endif
