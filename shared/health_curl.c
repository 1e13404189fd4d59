/*
 * The checks that libcurl runs: http, tcp (a connect and nothing more)
 * and MCP over Streamable HTTP. All share one multi handle driven by
 * the socket interface: libcurl tells us which descriptors to watch and
 * when to wake it, the caller's loop does the waiting.
 * Each check keeps its easy handle between runs, so that connections
 * and options are reused.
 *
 * MCP over HTTP drives the same session object as stdio: every line the
 * session wants to send becomes one POST; the answer (a JSON body, or
 * the data of an event stream) is fed back as lines. The session id and
 * negotiated version travel as headers; the session is ended with DELETE.
 */
#include "health_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "runspec.h"
#include "util.h"

#define MAX_REDIRECTS	5

/* A socket libcurl asked us to watch. */
struct hcurl_sock {
	struct watcher		 w;
	struct health		*h;
	struct hcurl_sock	*next;	/* let go of, to be freed */
};

static void	drain_messages(struct health *);

static void
on_curl_socket(struct watcher *w, uint32_t events)
{
	struct hcurl_sock	*cs = container_of(w, struct hcurl_sock, w);
	struct health		*h = cs->h;
	int			 running, flags = 0;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	h->curl.multi_socket_action(h->multi, w->fd, flags, &running);
	drain_messages(h);
}

static void
free_dead_socks(struct loop_deferred *d)
{
	struct health		*h = container_of(d, struct health, reap_socks);
	struct hcurl_sock	*cs;

	while ((cs = h->dead_socks) != NULL) {
		h->dead_socks = cs->next;
		free(cs);
	}
}

/* libcurl's socket callback. A socket it has not seen before carries no
 * assignment: it gets a watcher, so that later changes are one
 * EPOLL_CTL_MOD each. One it lets go of may still be named by an event
 * of the loop's batch: it is freed at the batch's end. */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *arg, void *sockp)
{
	struct health		*h = arg;
	struct hcurl_sock	*cs = sockp;
	uint32_t		 events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (cs != NULL) {
			loop_del(h->loop, &cs->w);
			cs->w.fd = -1;
			cs->next = h->dead_socks;
			h->dead_socks = cs;
			loop_defer(h->loop, &h->reap_socks, free_dead_socks);
		}
		h->curl.multi_assign(h->multi, fd, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;
	if (cs != NULL)
		return loop_mod(h->loop, &cs->w, events) < 0 ? -1 : 0;
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return -1;
	cs->w.fd = fd;
	cs->w.fn = on_curl_socket;
	cs->h = h;
	if (loop_add(h->loop, &cs->w, events) < 0) {
		free(cs);
		return -1;
	}
	h->curl.multi_assign(h->multi, fd, cs);
	return 0;
}

static void
on_curl_timeout(struct loop_timer *t)
{
	struct health	*h = container_of(t, struct health, curl_timer);
	int		 running;

	h->curl.multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0,
	    &running);
	drain_messages(h);
}

static int
on_curl_timer(CURLM *multi, long ms, void *arg)
{
	struct health	*h = arg;

	(void)multi;
	if (ms < 0)
		loop_timer_cancel(h->loop, &h->curl_timer);
	else
		loop_timer_set(h->loop, &h->curl_timer, (uint64_t)ms);
	return 0;
}

static int
hcurl_init(struct health *h, struct errbuf *err)
{
	int	r;

	if (h->multi != NULL)
		return 0;
	if ((r = curlfn_load(&h->curl, err)) < 0)
		return r;
	if ((h->multi = h->curl.multi_init()) == NULL) {
		errbuf_set(err, "curl_multi_init failed");
		return -ENOMEM;
	}
	h->curl_timer.fn = on_curl_timeout;
	h->curl.multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	h->curl.multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	h->curl.multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	h->curl.multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return 0;
}

void
hcurl_free(struct health *h)
{
	if (h->multi != NULL) {
		/* sockets still watched are let go of through on_socket */
		h->curl.multi_cleanup(h->multi);
		loop_timer_cancel(h->loop, &h->curl_timer);
	}
	h->multi = NULL;
	loop_undefer(h->loop, &h->reap_socks);
	free_dead_socks(&h->reap_socks);
	curlfn_unload(&h->curl);
}

/* --- preparing --- */

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct check	*c = arg;
	size_t		 len = size * n;

	if (c->type == CT_MCP) {
		if (c->answered)
			return 0;	/* stop reading: the answer is in */
		if (c->sse_body) {
			if (sse_feed(&c->sse, p, len) != 0)
				return 0;
			return len;
		}
	} else if (!c->keep_body)
		return len;
	if (c->body_len + len > HEALTH_BODY_MAX) {
		c->body_over = true;
		return 0;
	}
	if (c->body_len + len + 1 > c->body_cap) {
		size_t	 cap = c->body_cap ? c->body_cap : 4096;
		char	*q;

		while (cap < c->body_len + len + 1)
			cap *= 2;
		if ((q = realloc(c->body, cap)) == NULL)
			return 0;
		c->body = q;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, p, len);
	c->body_len += len;
	c->body[c->body_len] = '\0';
	return len;
}

/* Records the MCP session id and whether the answer is an event stream. */
static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct check	*c = arg;
	size_t		 len = size * n, vlen;
	const char	*v;

	if (c->type != CT_MCP || (v = memchr(p, ':', len)) == NULL)
		return len;
	vlen = len - (size_t)(v + 1 - p);
	for (v++; vlen > 0 && (*v == ' ' || *v == '\t'); v++, vlen--)
		;
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
	    v[vlen - 1] == ' '))
		vlen--;
	if (strncasecmp(p, "mcp-session-id:", 15) == 0) {
		bool	visible = vlen > 0 && vlen < sizeof(c->session_id);

		/* visible ASCII only, or it cannot be echoed in a header */
		for (size_t i = 0; visible && i < vlen; i++)
			visible = v[i] > 0x20 && v[i] < 0x7f;
		if (visible) {
			memcpy(c->session_id, v, vlen);
			c->session_id[vlen] = '\0';
		}
	} else if (strncasecmp(p, "content-type:", 13) == 0)
		c->sse_body = vlen >= 17 && strncasecmp(v,
		    "text/event-stream", 17) == 0;
	return len;
}

/* Options every request of a check shares. */
static void
easy_common(struct check *c)
{
	const struct curlfn	*f = &c->h->curl;

	f->easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	f->easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	f->easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->curl_error);
	f->easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	f->easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	f->easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	f->easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	/* a health check goes to the server itself, never via a proxy the
	 * environment may name */
	f->easy_setopt(c->easy, CURLOPT_PROXY, "");
	f->easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	f->easy_setopt(c->easy, CURLOPT_USERAGENT, "mcpvisor/" MCPVISOR_VERSION);
	f->easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
}

static int
prepare_http(struct check *c, struct errbuf *err)
{
	const struct curlfn	*f = &c->h->curl;
	const cJSON		*cfg = c->config, *s, *hd;
	const char		*method = cJSON_GetStringValue(
				    cJSON_GetObjectItem(cfg, "method"));
	const char		*body = cJSON_GetStringValue(
				    cJSON_GetObjectItem(cfg, "body"));
	const char		*re = cJSON_GetStringValue(
				    cJSON_GetObjectItem(cfg,
				    "expected_body_regex"));
	const char		*ca = cJSON_GetStringValue(
				    cJSON_GetObjectItem(cfg, "ca_file"));
	bool			 verify = !cJSON_IsFalse(cJSON_GetObjectItem(
				    cfg, "verify_tls"));
	char			 why[200];

	const cJSON *statuses = cJSON_GetObjectItem(cfg, "expected_status");
	if ((c->statuses = calloc((size_t)cJSON_GetArraySize(statuses) + 1,
	    sizeof(long))) == NULL)
		return -ENOMEM;
	cJSON_ArrayForEach(s, statuses)
		if ((c->statuses[c->nstatuses++] = (long)json_int_within(s, 100,
		    599, -1)) < 0) {
			errbuf_set(err, "health check '%s': an expected_status "
			    "is no HTTP status", c->name);
			return -EINVAL;
		}
	if (c->nstatuses == 0)
		c->statuses[c->nstatuses++] = 200;
	if (re != NULL && (c->pattern = pattern_compile(re, true, why,
	    sizeof(why))) == NULL) {
		errbuf_set(err, "health check '%s': %s: %s", c->name,
		    "expected_body_regex", why);
		return -EINVAL;
	}
	c->keep_body = re != NULL || cJSON_GetObjectItem(cfg,
	    "expected_body") != NULL;
	f->easy_setopt(c->easy, CURLOPT_URL, c->url);
	if (method != NULL && strcmp(method, "HEAD") == 0)
		f->easy_setopt(c->easy, CURLOPT_NOBODY, 1L);
	else if (method != NULL && strcmp(method, "GET") != 0)
		f->easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		f->easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE,
		    (long)strlen(body));
		f->easy_setopt(c->easy, CURLOPT_COPYPOSTFIELDS, body);
		if (method == NULL || strcmp(method, "GET") == 0)
			f->easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, "GET");
	}
	hd = cJSON_GetObjectItem(cfg, "headers");
	for (const cJSON *h = hd != NULL ? hd->child : NULL; h != NULL;
	    h = h->next) {
		char	*line = NULL;
		char	 num[32];
		const char *v = cJSON_IsString(h) ? h->valuestring :
		    (snprintf(num, sizeof(num), "%g", h->valuedouble), num);

		if (asprintf(&line, "%s: %s", h->string, v) == -1)
			return -ENOMEM;
		c->headers = f->slist_append(c->headers, line);
		free(line);
		if (c->headers == NULL)
			return -ENOMEM;
	}
	if (c->headers != NULL)
		f->easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	f->easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	f->easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (ca != NULL)
		f->easy_setopt(c->easy, CURLOPT_CAINFO, ca);
	if (cJSON_IsTrue(cJSON_GetObjectItem(cfg, "follow_redirects"))) {
		f->easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 1L);
		f->easy_setopt(c->easy, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	}
	return 0;
}

/* A check of port: auto run where no server's port is known (mcpvisor
 * health run, or a worker given no port for it). */
static int
no_server_port(const struct check *c, struct errbuf *err)
{
	errbuf_set(err, "health check '%s': port '" RUNSPEC_PORT_AUTO "' is "
	    "the port of the server it checks, and it is run for no server "
	    "with a port", c->name);
	return -EINVAL;
}

static int
prepare_tcp(struct check *c, struct errbuf *err)
{
	const char	*host = cJSON_GetStringValue(cJSON_GetObjectItem(
			    c->config, "host"));
	const cJSON	*port = cJSON_GetObjectItem(c->config, "port");
	long		 p = cJSON_IsNumber(port) ? (long)json_int_within(port,
			    1, 65535, 0) :
			    cJSON_IsString(port) ? strtol(port->valuestring,
			    NULL, 10) : 0;

	if (cJSON_IsString(port) && strcmp(port->valuestring,
	    RUNSPEC_PORT_AUTO) == 0)
		return no_server_port(c, err);
	if (host == NULL || p <= 0 || p > 65535) {
		errbuf_set(err, "health check '%s' needs a host and a port "
		    "(1-65535)", c->name);
		return -EINVAL;
	}
	/* a connect and nothing more: CONNECT_ONLY ends the transfer once
	 * the connection stands (libcurl resolves without blocking) */
	if (asprintf(&c->url, strchr(host, ':') != NULL && host[0] != '[' ?
	    "http://[%s]:%ld/" : "http://%s:%ld/", host, p) == -1) {
		c->url = NULL;
		return -ENOMEM;
	}
	c->h->curl.easy_setopt(c->easy, CURLOPT_URL, c->url);
	c->h->curl.easy_setopt(c->easy, CURLOPT_CONNECT_ONLY, 1L);
	return 0;
}

/* Its url, with the port its 'port' names (a number, or its text: mcpvisord
 * writes the checked server's over 'auto'). */
static int
url_of(struct check *c, const char *url, struct errbuf *err)
{
	const cJSON	*port = cJSON_GetObjectItem(c->config, "port");
	char		*end = NULL;
	long		 p;

	if (port == NULL) {
		c->url = strdup(url);
		return c->url != NULL ? 0 : -ENOMEM;
	}
	if (cJSON_IsString(port) && strcmp(port->valuestring,
	    RUNSPEC_PORT_AUTO) == 0)
		return no_server_port(c, err);
	p = cJSON_IsString(port) ? strtol(port->valuestring, &end, 10) :
	    (long)json_int_within(port, 1, 65535, 0);
	if (p < 1 || p > 65535 || (end != NULL && *end != '\0')) {
		errbuf_set(err, "health check '%s': its port must be 1-65535 "
		    "or '" RUNSPEC_PORT_AUTO "'", c->name);
		return -EINVAL;
	}
	if ((c->url = health_url_with_port(url, (unsigned)p)) == NULL &&
	    errno == EINVAL) {
		errbuf_set(err, "health check '%s': its url '%.200s' names no "
		    "host for its port", c->name, url);
		return -EINVAL;
	}
	return c->url != NULL ? 0 : -ENOMEM;
}

static int
hcurl_prepare(struct check *c, struct errbuf *err)
{
	struct health	*h = c->h;
	const char	*url = cJSON_GetStringValue(cJSON_GetObjectItem(
			    c->config, "url"));
	int		 r;

	if ((r = hcurl_init(h, err)) < 0)
		return r;
	if (c->type != CT_TCP) {
		if (url == NULL) {
			errbuf_set(err, "health check '%s' names no url",
			    c->name);
			return -EINVAL;
		}
		if ((r = url_of(c, url, err)) < 0)
			return r;
	}
	if ((c->easy = h->curl.easy_init()) == NULL)
		return -ENOMEM;
	easy_common(c);
	switch (c->type) {
	case CT_HTTP:
		return prepare_http(c, err);
	case CT_TCP:
		return prepare_tcp(c, err);
	default:
		return 0;
	}
}

void
hcurl_release(struct check *c)
{
	c->h->curl.easy_cleanup(c->easy);
	c->easy = NULL;
	c->h->curl.slist_free_all(c->headers);
	c->headers = NULL;
}

/* --- MCP over Streamable HTTP --- */

static bool
on_sse_event(void *arg, const char *data, size_t len)
{
	struct check	*c = arg;
	enum mcp_state	 st;
	size_t		 pending;

	mcp_session_feed(c->mcp, data, len);
	st = mcp_session_feed(c->mcp, "\n", 1);
	mcp_session_output(c->mcp, &pending);
	/* the awaited answer came (the session moved on or wants to send):
	 * the rest of the stream is not ours to wait for */
	c->answered = pending > 0 || st == MCP_IDLE || st == MCP_FAILED;
	return !c->answered;
}

static void
mcp_post(struct check *c, const char *line, size_t len)
{
	const struct curlfn	*f = &c->h->curl;
	const char		*version = mcp_session_result(c->mcp)->
				    protocol_version;
	cJSON			*msg;
	char			*hdr;
	uint64_t		 now = mono_ms();

	free(c->post);
	if ((c->post = strndup(line, len)) == NULL) {
		mcp_session_fail(c->mcp, "out of memory");
		return;
	}
	msg = cJSON_Parse(c->post);
	c->posted_request = cJSON_GetObjectItem(msg, "id") != NULL &&
	    cJSON_GetObjectItem(msg, "method") != NULL;
	cJSON_Delete(msg);
	f->slist_free_all(c->headers);
	c->headers = f->slist_append(NULL, "Content-Type: application/json");
	c->headers = f->slist_append(c->headers,
	    "Accept: application/json, text/event-stream");
	if (c->session_id[0] != '\0' && asprintf(&hdr, "Mcp-Session-Id: %s",
	    c->session_id) != -1) {
		c->headers = f->slist_append(c->headers, hdr);
		free(hdr);
	}
	if (version[0] != '\0' && asprintf(&hdr, "MCP-Protocol-Version: %s",
	    version) != -1) {
		c->headers = f->slist_append(c->headers, hdr);
		free(hdr);
	}
	f->easy_setopt(c->easy, CURLOPT_URL, c->url);
	f->easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	f->easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, c->deleting ? "DELETE" :
	    NULL);
	if (c->deleting)
		f->easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
	else {
		f->easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)len);
		f->easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->post);
	}
	f->easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, c->deadline_ms > now ?
	    (long)(c->deadline_ms - now) : 1L);
	c->body_len = 0;
	c->sse_body = false;
	c->answered = false;
	c->body_over = false;
	sse_reader_clear(&c->sse);
	sse_reader_init(&c->sse, on_sse_event, c);
	if (f->multi_add_handle(c->h->multi, c->easy) != CURLM_OK)
		mcp_session_fail(c->mcp, "curl_multi_add_handle failed");
}

/* Sends the session's next message, or ends the attempt once the session
 * has nothing more to say. */
static void
mcp_pump(struct check *c)
{
	const char	*out, *nl;
	size_t		 len;
	enum mcp_state	 st = mcp_session_state(c->mcp);

	out = mcp_session_output(c->mcp, &len);
	if (st != MCP_FAILED && len > 0 &&
	    (nl = memchr(out, '\n', len)) != NULL) {
		size_t	n = (size_t)(nl - out);

		mcp_post(c, out, n);
		mcp_session_consumed(c->mcp, n + 1);
		return;
	}
	if (st != MCP_IDLE && st != MCP_FAILED)
		return;		/* an answer is still due */
	/* the verdict is the session's, once: the DELETE that ends it
	 * brings us back here */
	if (!c->deleting) {
		c->verdict = st == MCP_IDLE && check_mcp_result(c, c->mcp);
		if (st == MCP_FAILED)
			snprintf(c->message, sizeof(c->message), "%s",
			    mcp_session_result(c->mcp)->error);
	}
	if (c->session_id[0] != '\0' && !c->deleting) {
		/* end the probe's session; servers keep them otherwise */
		c->deleting = true;
		mcp_post(c, "", 0);
		return;
	}
	char	msg[sizeof(c->message)];

	if (c->verdict)
		snprintf(msg, sizeof(msg), "MCP %s over HTTP, %s %s",
		    mcp_session_result(c->mcp)->protocol_version,
		    mcp_session_result(c->mcp)->server_name,
		    mcp_session_result(c->mcp)->server_version);
	else
		memcpy(msg, c->message, sizeof(msg));
	check_finish(c, c->verdict, "%s", msg);
}

static void
mcp_transfer_done(struct check *c, CURLcode code)
{
	const struct curlfn	*f = &c->h->curl;
	long			 status = 0;

	f->easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (c->deleting) {
		/* whatever the answer (405 is allowed), the probe is over */
		mcp_pump(c);
		return;
	}
	if (code != CURLE_OK && !(code == CURLE_WRITE_ERROR && c->answered)) {
		char	why[400];

		snprintf(why, sizeof(why), "%s: %s", c->body_over ?
		    "answer over 1 MiB" : "HTTP request failed",
		    c->curl_error[0] != '\0' ? c->curl_error :
		    f->easy_strerror(code));
		mcp_session_fail(c->mcp, why);
	} else if (status < 200 || status > 299) {
		char	why[200];

		snprintf(why, sizeof(why), "HTTP %ld answering %s", status,
		    strstr(c->post, "\"initialize\"") != NULL ? "initialize" :
		    "a request");
		mcp_session_fail(c->mcp, why);
	} else if (!c->sse_body && c->body_len > 0) {
		mcp_session_feed(c->mcp, c->body, c->body_len);
		mcp_session_feed(c->mcp, "\n", 1);
	}
	if (c->posted_request && mcp_session_state(c->mcp) != MCP_FAILED) {
		size_t	pending;

		mcp_session_output(c->mcp, &pending);
		if (pending == 0 && mcp_session_state(c->mcp) != MCP_IDLE)
			mcp_session_fail(c->mcp, "the HTTP response carried "
			    "no answer to the request");
	}
	mcp_pump(c);
}

/* --- running --- */

static void
hcurl_start(struct check *c)
{
	const struct curlfn	*f = &c->h->curl;

	c->curl_error[0] = '\0';
	c->body_len = 0;
	c->body_over = false;
	if (c->type == CT_MCP) {
		mcp_session_free(c->mcp);
		c->session_id[0] = '\0';
		c->deleting = false;
		c->keep_body = true;
		if ((c->mcp = mcp_session_new(c->version, c->probe)) == NULL) {
			check_finish(c, false, "out of memory");
			return;
		}
		mcp_pump(c);
		return;
	}
	if (f->multi_add_handle(c->h->multi, c->easy) != CURLM_OK)
		check_finish(c, false, "curl_multi_add_handle failed");
}

static void
hcurl_abort(struct check *c)
{
	if (c->easy != NULL && c->h->multi != NULL)
		c->h->curl.multi_remove_handle(c->h->multi, c->easy);
}

static bool
status_expected(const struct check *c, long status)
{
	for (size_t i = 0; i < c->nstatuses; i++)
		if (c->statuses[i] == status)
			return true;
	return false;
}

static void
http_done(struct check *c, CURLcode code)
{
	const struct curlfn	*f = &c->h->curl;
	const char		*want = cJSON_GetStringValue(
				    cJSON_GetObjectItem(c->config,
				    "expected_body"));
	long			 status = 0, os_errno = 0;
	curl_off_t		 us = 0;

	f->easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	f->easy_getinfo(c->easy, c->type == CT_TCP ? CURLINFO_CONNECT_TIME_T :
	    CURLINFO_TOTAL_TIME_T, &us);
	c->response_ms = (double)us / 1000.0;
	if (code != CURLE_OK) {
		f->easy_getinfo(c->easy, CURLINFO_OS_ERRNO, &os_errno);
		if (c->curl_error[0] != '\0')
			cJSON_AddStringToObject(check_details(c), "error",
			    c->curl_error);
		/* the guide's wording: "failed: Connection refused" */
		if (c->body_over)
			check_finish(c, false, "response body over %u bytes",
			    HEALTH_BODY_MAX);
		else if (code == CURLE_OPERATION_TIMEDOUT)
			check_finish(c, false, "no answer within %u ms",
			    c->timeout_ms);
		else if (os_errno != 0)
			check_finish(c, false, "%s", strerror((int)os_errno));
		else
			check_finish(c, false, "%s", c->curl_error[0] != '\0' ?
			    c->curl_error : f->easy_strerror(code));
		return;
	}
	if (c->type == CT_TCP) {
		check_finish(c, true, "connected in %.1f ms", c->response_ms);
		return;
	}
	cJSON_AddNumberToObject(check_details(c), "status", (double)status);
	if (!status_expected(c, status)) {
		check_finish(c, false, "HTTP %ld (expected %ld%s)", status,
		    c->statuses[0], c->nstatuses > 1 ? " or another listed" :
		    "");
		return;
	}
	if (want != NULL && (c->body == NULL || strstr(c->body, want) ==
	    NULL)) {
		check_finish(c, false, "HTTP %ld, but the body does not contain "
		    "'%.100s'", status, want);
		return;
	}
	if (c->pattern != NULL && pattern_search(c->pattern, c->body != NULL ?
	    c->body : "", c->body != NULL ? c->body_len : 0) != 1) {
		check_finish(c, false, "HTTP %ld, but the body does not match "
		    "expected_body_regex", status);
		return;
	}
	check_finish(c, true, "HTTP %ld in %.1f ms", status, c->response_ms);
}

static void
drain_messages(struct health *h)
{
	CURLMsg	*m;
	int	 left;

	while ((m = h->curl.multi_info_read(h->multi, &left)) != NULL) {
		struct check	*c = NULL;
		CURLcode	 code = m->data.result;

		if (m->msg != CURLMSG_DONE)
			continue;
		h->curl.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &c);
		h->curl.multi_remove_handle(h->multi, m->easy_handle);
		if (c == NULL || !c->running)
			continue;
		if (c->type == CT_MCP)
			mcp_transfer_done(c, code);
		else
			http_done(c, code);
	}
}

const struct check_ops hcurl_ops = {
	hcurl_prepare, hcurl_start, hcurl_abort, NULL,
};
