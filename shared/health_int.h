/*
 * The health engine's insides, shared by its three files: health.c (the
 * engine, timers, file_system and MCP over stdio), health_curl.c (http,
 * tcp and MCP over Streamable HTTP, through libcurl) and health_proc.c
 * (command checks, custom programs and plugins, in child processes).
 * Not for other modules.
 */
#ifndef MCPVISOR_HEALTH_INT_H
#define MCPVISOR_HEALTH_INT_H

#include <regex.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "curlfn.h"
#include "health.h"
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

/* what an epoll event of the engine's set stands for: the high half of
 * its u64 is one of these, the low half a descriptor or a check index */
enum hwatch {
	HW_TIMER = 1,
	HW_CURL,
	HW_PIPE,
	HW_STDIO_OUT,
	HW_STDIO_IN,
};
#define HW_TAG(kind, v)	(((uint64_t)(kind) << 32) | (uint32_t)(v))

#define HEALTH_OUTPUT_MAX	(64u << 10)	/* kept of a program's output */
#define HEALTH_BODY_MAX		(1u << 20)	/* kept of an HTTP body */

struct check {
	struct health		*h;
	size_t			 index;
	char			*name;
	enum check_type		 type;
	const char		*type_name;
	unsigned		 timeout_ms;
	unsigned		 retries;
	unsigned		 interval_ms;
	unsigned		 threshold;
	bool			 critical;
	char			**tags;
	size_t			 ntags;
	cJSON			*config;	/* owned */

	/* the run */
	bool			 running;
	enum health_phase	 phase;
	unsigned		 attempt;
	uint64_t		 deadline_ms;	/* of the attempt; 0: none */
	uint64_t		 wake_ms;	/* next attempt; 0: none */
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
	regex_t			 regex;		/* expected_*_regex */
	bool			 has_regex;
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
	int			 out_fd;
	char			*out;
	size_t			 out_len;
};

struct health {
	health_done_fn		*done;
	void			*arg;
	int			 epfd;
	int			 timerfd;
	struct check		**checks;
	size_t			 nchecks;
	size_t			 cap;
	bool			 liveness;
	uint64_t		 rng;
	/* libcurl, loaded by the first check that needs it */
	struct curlfn		 curl;
	CURLM			*multi;
	uint64_t		 curl_deadline_ms;
	uint64_t		 armed_ms;	/* the timerfd's; 0: not armed */
	/* the server's stdio channel */
	int			 stdio_in;
	int			 stdio_out;
	bool			 stdio_want_out;
	bool			 wants_stdio;
	enum mcp_probe		 stdio_probe;
	const char		*stdio_version;	/* the first such check's */
	struct mcp_session	*stdio;
};

uint64_t	health_now_ms(void);
uint64_t	health_now_us(void);
/* Ends the current attempt with a verdict and a message. */
void		check_finish(struct check *, bool healthy, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* The check's details object, made on first use. */
cJSON		*check_details(struct check *);
void		 health_epoll(struct health *, int op, int fd, uint32_t events,
		    uint64_t tag);

/* health_curl.c */
int	hcurl_init(struct health *, struct errbuf *);
void	hcurl_free(struct health *);
int	hcurl_prepare(struct check *, struct errbuf *);
void	hcurl_start(struct check *);
void	hcurl_abort(struct check *);
void	hcurl_release(struct check *);
void	hcurl_socket(struct health *, int fd, uint32_t events);
void	hcurl_timeout(struct health *);

/* health_proc.c */
int	hproc_prepare(struct check *, struct errbuf *);
void	hproc_start(struct check *);
void	hproc_abort(struct check *);
void	hproc_readable(struct check *);
bool	hproc_exited(struct check *, int status);

/* Checks a listing against expected_tools; fills the check's message on
 * failure. Used for both transports. */
bool	check_mcp_result(struct check *, const struct mcp_session *);

#endif
