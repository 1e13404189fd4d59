/*
 * An MCP client session over a line-delimited stream (the stdio
 * transport): initialize, notifications/initialized, then probes (ping,
 * tools/list with its pages). It does no I/O itself: the caller writes
 * what mcp_session_output() holds and feeds what the server wrote, so the
 * session lives in any event loop. It tolerates what real servers do:
 * keys in any order, notifications and server requests between answers
 * (ping is answered, anything else refused with -32601), long lines up to
 * MCP_LINE_MAX, CRLF. Deadlines are the caller's.
 */
#ifndef MCPVISOR_MCP_H
#define MCPVISOR_MCP_H

#include <stdbool.h>
#include <stddef.h>

#define MCP_LINE_MAX		(16u << 20)
#define MCP_TOOL_PAGES_MAX	16
#define MCP_DEFAULT_VERSION	"2025-11-25"

enum mcp_state {
	MCP_HANDSHAKE,		/* initialize sent, awaiting its result */
	MCP_PROBING,		/* a probe is awaiting its answer */
	MCP_IDLE,		/* initialized; the last probe passed */
	MCP_FAILED,		/* see result->error */
};

enum mcp_probe {
	MCP_PROBE_PING = 1,
	MCP_PROBE_TOOLS = 2,
	MCP_PROBE_BOTH = 3,
};

struct mcp_result {
	char	 protocol_version[32];
	char	 server_name[128];
	char	 server_version[64];
	bool	 has_tools;		/* the server declared the capability */
	char	**tools;		/* names from the last tools/list */
	size_t	 ntools;
	char	 error[256];
};

struct mcp_session;

/* A session asking for version (NULL: MCP_DEFAULT_VERSION) and probing
 * with probe once initialized. Its initialize request is already queued.
 * NULL on ENOMEM. */
struct mcp_session	*mcp_session_new(const char *version, enum mcp_probe);
void			 mcp_session_free(struct mcp_session *);

/* Bytes to write to the server now (len 0: nothing), and how many of
 * them were written. */
const char	*mcp_session_output(const struct mcp_session *, size_t *len);
void		 mcp_session_consumed(struct mcp_session *, size_t n);

/* Feeds what the server wrote; returns the state after. */
enum mcp_state	 mcp_session_feed(struct mcp_session *, const char *, size_t);
/* The server closed its stdout (or exited). */
enum mcp_state	 mcp_session_eof(struct mcp_session *);
/* Starts the configured probe again on an idle session (liveness). 0, or
 * -EBUSY while one is running, -EPIPE when the session failed. */
int		 mcp_session_probe(struct mcp_session *);
/* Fails the session with why (a deadline passed). */
void		 mcp_session_fail(struct mcp_session *, const char *why);

enum mcp_state		 mcp_session_state(const struct mcp_session *);
const struct mcp_result	*mcp_session_result(const struct mcp_session *);
/* The server's initialize result (JSON text) once the handshake is
 * done and while the session has not failed, else NULL. */
const char		*mcp_session_init_result(const struct mcp_session *);
/* Whether tools/list named tool. */
bool			 mcp_session_has_tool(const struct mcp_session *,
			    const char *tool);

#endif
