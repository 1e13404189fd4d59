/*
 * Health checks: http, tcp, command, file_system, mcp (stdio or
 * Streamable HTTP) and custom (a program or a plugin), run concurrently
 * in the caller's event loop (loop.h): libcurl's sockets, child pipes
 * and the MCP channel are watchers of that loop, every timeout one of
 * its timers. Nothing here blocks, and no check can delay another.
 *
 * A check is described by the JSON the root sends its worker (see
 * health_check_json() in prepare.h): {"name", "type", "timeout_seconds",
 * "retry_attempts", "critical", "tags", "interval_seconds",
 * "failure_threshold", "config": {rendered}}.
 *
 * A run is one check's attempts: up to 1 + retry_attempts, apart by an
 * exponential back-off with jitter, each bounded by timeout_seconds; it
 * ends with one result. Liveness repeats single attempts every
 * interval_seconds and counts consecutive failures.
 *
 * Programs (command checks, custom programs, plugins, which run in a
 * child so that a hung or crashing plugin costs only its check) are the
 * caller's children: the caller reaps them and hands each exit to
 * health_child_exited().
 */
#ifndef MCPVISOR_HEALTH_H
#define MCPVISOR_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cJSON;
struct errbuf;
struct loop;

enum health_phase {
	HEALTH_READINESS,
	HEALTH_LIVENESS,
	HEALTH_ONCE,		/* a run asked for by hand */
};

struct health_result {
	const char		*check;		/* borrowed from the engine */
	const char		*type;
	enum health_phase	 phase;
	bool			 healthy;
	bool			 critical;
	unsigned		 attempts;	/* of this run */
	unsigned		 consecutive_failures;	/* liveness */
	unsigned		 failure_threshold;
	double			 response_ms;	/* of the last attempt */
	const char		*message;
	struct cJSON		*details;	/* borrowed; may be NULL */
};

/* A result as JSON: {"check", "type", "phase", "healthy", "critical",
 * "attempts", "consecutive_failures", "failure_threshold", "response_ms",
 * "message", "details"?}. NULL on ENOMEM. */
struct cJSON	*health_result_json(const struct health_result *);

/* Called once per finished run (and per liveness attempt). */
typedef void health_done_fn(void *arg, size_t index,
    const struct health_result *);

struct health;

/* An engine whose checks wait in loop. NULL on ENOMEM. */
struct health	*health_new(struct loop *, health_done_fn *, void *arg);
void		 health_free(struct health *);

/* Adds a check; returns its index, or a negative errno with the reason
 * in err: -EINVAL (a malformed check), -ENOSYS (libcurl cannot be
 * loaded for a type that needs it), -ENOMEM. */
int		 health_add(struct health *, const struct cJSON *check,
		    struct errbuf *err);
size_t		 health_count(const struct health *);
const char	*health_name(const struct health *, size_t index);
bool		 health_critical(const struct health *, size_t index);
/* Whether the check carries tag. */
bool		 health_has_tag(const struct health *, size_t index,
		    const char *tag);
/* Whether any check speaks MCP over the server's stdio channel. */
bool		 health_wants_stdio(const struct health *);
/* Whether a critical one does: the server's readiness is its handshake. */
bool		 health_stdio_critical(const struct health *);
/* Whether check index reaches a port of this host (tcp, http, mcp over
 * http to 127.0.0.0/8, ::1, localhost or 0.0.0.0), and which. */
bool		 health_local_port(const struct health *, size_t index,
		    unsigned *port);
/* url with its port made port (a check's port: over its url's), malloc'd;
 * NULL with errno (EINVAL: url names no host). */
char		*health_url_with_port(const char *url, unsigned port);

/* Starts a run of check index (retries included unless phase is
 * liveness). -EBUSY if one is running. */
int		 health_run(struct health *, size_t index, enum health_phase);
/* Whether any run is in progress. */
bool		 health_busy(const struct health *);
/* Repeats every check at its interval from now on, or stops doing so. */
void		 health_liveness(struct health *, bool on);
/* Ends every run without a result (the server went away). */
void		 health_cancel(struct health *);

/* The server's MCP channel: the engine writes requests to in_fd and
 * reads out_fd (both non-blocking; the caller owns and closes them,
 * after health_detach_stdio). Whatever the server writes is read even
 * while no check runs, so that it never blocks on a full pipe. */
void		 health_attach_stdio(struct health *, int in_fd, int out_fd);
void		 health_detach_stdio(struct health *, const char *why);

/* Someone else speaks on the MCP channel too (the gateway's
 * multiplexer): each line the server writes is offered to line() first,
 * and only what it does not take reaches the engine's session; session()
 * hears when that session finished its handshake (result: its
 * initialize result, JSON text) and when the channel went (result NULL,
 * why). NULL: no tap. */
struct health_stdio_tap {
	bool	(*line)(void *arg, const char *line, size_t len);
	void	(*session)(void *arg, const char *result, const char *why);
	void	 *arg;
};
void		 health_stdio_tap(struct health *,
		    const struct health_stdio_tap *);
/* A line (one JSON-RPC message, no newline) for the server's input,
 * after whatever the engine queued. 0, or -EPIPE (no channel), -ENOBUFS
 * (HEALTH_STDIO_QUEUE_MAX bytes wait: the server does not read). */
#define HEALTH_STDIO_QUEUE_MAX	(16u << 20)
int		 health_stdio_send(struct health *, const char *, size_t);

/* A child of the caller exited; true if it was one of the engine's. */
bool		 health_child_exited(struct health *, pid_t, int status);

#endif
