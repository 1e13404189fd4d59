/*
 * The health engine's insides, shared by its files: health.c (the
 * engine, file_system and MCP over stdio), health_run.c (runs, attempts
 * and their timers, beneath every type), health_curl.c (http, tcp and
 * MCP over Streamable HTTP, through libcurl) and health_proc.c (command
 * checks, custom programs and plugins, in child processes). A type is a
 * table of operations; only health.c picks one. Not for other modules.
 */
#ifndef MCPVISOR_HEALTH_INT_H
#define MCPVISOR_HEALTH_INT_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "pattern.h"
#include "curlfn.h"
#include "health.h"
#include "loop.h"
#include "mcp.h"
#include "sse.h"

enum check_type {
	CT_HTTP,
	CT_TCP,
	CT_COMMAND,
	CT_FILE_SYSTEM,
	CT_MCP,
	CT_CUSTOM,
};

struct check;
struct errbuf;

/* What a type of check does: get ready once (when the check is added),
 * start an attempt, end one early (its outcome no longer matters), and,
 * where the default (a failure) is not right, meet an attempt's
 * timeout. An attempt ends by check_finish(). */
struct check_ops {
	int	(*prepare)(struct check *, struct errbuf *);
	void	(*start)(struct check *);
	void	(*abort)(struct check *);
	void	(*expire)(struct check *);	/* NULL: the default */
};

#define HEALTH_OUTPUT_MAX	(64u << 10)	/* kept of a program's output */
#define HEALTH_BODY_MAX		(1u << 20)	/* kept of an HTTP body */

struct check {
	struct health		*h;
	size_t			 index;
	char			*name;
	enum check_type		 type;
	const char		*type_name;
	const struct check_ops	*ops;
	unsigned		 timeout_ms;
	unsigned		 retries;
	unsigned		 interval_ms;
	unsigned		 threshold;
	bool			 critical;
	bool			 readiness_only;	/* never repeated */
	char			**tags;
	size_t			 ntags;
	cJSON			*config;	/* owned */

	/* the run */
	bool			 running;
	enum health_phase	 phase;
	unsigned		 attempt;
	uint64_t		 deadline_ms;	/* of the attempt; 0: none */
	struct loop_timer	 deadline;	/* the attempt's timeout */
	struct loop_timer	 wake;		/* the next attempt */
	uint64_t		 started_us;
	unsigned		 consecutive;
	double			 response_ms;	/* set by a type, or measured */
	char			 message[512];
	cJSON			*details;

	/* http, tcp, mcp over http */
	CURL			*easy;
	struct curl_slist	*headers;
	char			*url;
	char			 curl_error[CURL_ERROR_SIZE];
	char			*body;
	size_t			 body_len;
	size_t			 body_cap;
	bool			 keep_body;
	bool			 body_over;
	long			*statuses;
	size_t			 nstatuses;
	struct pattern		*pattern;	/* expected_*_regex, or NULL */
	/* mcp */
	enum mcp_probe		 probe;
	char			*version;
	struct mcp_session	*mcp;		/* over http: this check's */
	struct sse_reader	 sse;
	bool			 sse_body;	/* the response is a stream */
	bool			 answered;	/* stop reading the stream */
	bool			 posted_request;
	bool			 deleting;
	bool			 verdict;	/* kept while DELETE runs */
	char			 session_id[256];
	char			*post;		/* the message being POSTed */
	bool			 stdio_waiting;
	/* command, custom */
	pid_t			 pid;
	struct watcher		 out_w;		/* its output */
	struct watcher		 status_w;	/* its exec status */
	int			 exec_error;	/* errno of a failed exec */
	char			*out;
	size_t			 out_len;
};

struct hcurl_sock;

struct health {
	health_done_fn		*done;
	void			*arg;
	struct loop		*loop;
	struct check		**checks;
	size_t			 nchecks;
	size_t			 cap;
	bool			 liveness;
	uint64_t		 rng;
	/* libcurl, loaded by the first check that needs it: its timer, and
	 * the watchers of sockets it let go of, freed at the end of the
	 * loop's batch */
	struct curlfn		 curl;
	CURLM			*multi;
	struct loop_timer	 curl_timer;
	struct hcurl_sock	*dead_socks;
	struct loop_deferred	 reap_socks;
	/* the server's stdio channel */
	struct watcher		 stdio_out_w;
	struct watcher		 stdio_in_w;
	bool			 stdio_want_out;
	bool			 wants_stdio;
	enum mcp_probe		 stdio_probe;
	const char		*stdio_version;	/* the first such check's */
	struct mcp_session	*stdio;
	/* what goes to the server's input: the session's lines and the
	 * tap's, whole lines in order */
	char			*stdio_out;
	size_t			 stdio_out_len;
	size_t			 stdio_out_cap;
	/* with a tap, lines are split here and offered to it first */
	struct health_stdio_tap	 tap;
	bool			 tapped;
	bool			 tap_told;	/* of this session's handshake */
	char			*stdio_line;
	size_t			 stdio_line_len;
	size_t			 stdio_line_cap;
};

/* health_run.c */
/* Starts the next attempt of the check's run. */
void		 attempt_start(struct check *);
/* Ends the current attempt with a verdict and a message: another attempt
 * follows after a back-off, or the run ends with a result. */
void		 check_finish(struct check *, bool healthy, const char *fmt,
		    ...) __attribute__((format(printf, 3, 4)));
/* Ends the current attempt without a verdict. */
void		 check_abort(struct check *);
/* The check's details object, made on first use. */
cJSON		*check_details(struct check *);
/* Sets up a new check's timers. */
void		 check_timers_init(struct check *);

/* health_curl.c: http, tcp, and MCP over HTTP */
extern const struct check_ops	hcurl_ops;
void	hcurl_free(struct health *);
void	hcurl_release(struct check *);

/* health_proc.c: command and custom */
extern const struct check_ops	hproc_ops;
bool	hproc_exited(struct check *, int status);

/* health_run.c: checks a listing against expected_tools; fills the
 * check's message on failure. Used for both transports. */
bool	check_mcp_result(struct check *, const struct mcp_session *);

#endif
