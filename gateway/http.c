/*
 * The gateway's HTTP side: Streamable HTTP at /servers/NAME/mcp, and
 * GET /servers. A POST's answer is held back until the first message for
 * it comes: the answer alone goes as application/json (the connection
 * kept alive); anything before it (progress, a request of the server)
 * turns the answer into an SSE stream that closes after the answer.
 * Everything, headers included, is queued and written in the writeable
 * callback, a piece at a time, as the socket takes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gateway.h"
#include "log.h"
#include "lwskit.h"

#define RPC_PARSE_ERROR		(-32700)
#define RPC_INVALID_REQUEST	(-32600)
#define RPC_UNAVAILABLE		(-32000)
#define RPC_TIMEOUT		(-32001)

struct gw_out {
	struct gw_out	*next;
	size_t		 len;
	bool		 headers;
	unsigned char	 data[];	/* LWS_PRE, then len bytes */
};

/* Optional headers of an answer. */
struct extra {
	const char	*session;
	unsigned	 retry_after;
	const char	*allow;
	bool		 challenge;	/* WWW-Authenticate */
};

static struct gw_out *
out_new(size_t len)
{
	struct gw_out	*o = malloc(sizeof(*o) + LWS_PRE + len);

	if (o != NULL) {
		o->next = NULL;
		o->len = len;
		o->headers = false;
	}
	return o;
}

static void
out_push(struct gw_http *h, struct gw_out *o)
{
	if (h->out_tail != NULL)
		h->out_tail->next = o;
	else
		h->out = o;
	h->out_tail = o;
	lws_callback_on_writable(h->wsi);
}

static int
queue_bytes(struct gw_http *h, const char *p, size_t len)
{
	struct gw_out	*o = out_new(len);

	if (o == NULL)
		return -1;
	memcpy(o->data + LWS_PRE, p, len);
	out_push(h, o);
	return 0;
}

/* One SSE event: "event: message", the message as its data. */
static int
queue_event(struct gw_http *h, const char *json, size_t len)
{
	static const char	 head[] = "event: message\ndata: ";
	struct gw_out		*o = out_new(sizeof(head) - 1 + len + 2);

	if (o == NULL)
		return -1;
	memcpy(o->data + LWS_PRE, head, sizeof(head) - 1);
	memcpy(o->data + LWS_PRE + sizeof(head) - 1, json, len);
	memcpy(o->data + LWS_PRE + sizeof(head) - 1 + len, "\n\n", 2);
	out_push(h, o);
	return 0;
}

static int
add_header(struct lws *wsi, const char *name, const char *value,
    unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	    (const unsigned char *)value, (int)strlen(value), p, end);
}

/* The status line and headers, queued; len -1: a stream (no length, the
 * connection closes after it). */
static int
queue_headers(struct gw_http *h, unsigned status, const char *mime,
    long long len, const struct extra *x)
{
	struct gw_out	*o = out_new(1024);
	unsigned char	*start, *p, *end;
	char		 num[16];

	if (o == NULL)
		return -1;
	start = p = o->data + LWS_PRE;
	end = start + 1024 - 1;
	if (lws_add_http_common_headers(h->wsi, status, mime, len < 0 ?
	    LWS_ILLEGAL_HTTP_CONTENT_LEN : (lws_filepos_t)len, &p, end) ||
	    add_header(h->wsi, "cache-control:", "no-store", &p, end) ||
	    add_header(h->wsi, "x-content-type-options:", "nosniff", &p, end))
		goto fail;
	if (x != NULL && x->session != NULL && add_header(h->wsi,
	    "mcp-session-id:", x->session, &p, end))
		goto fail;
	if (x != NULL && x->retry_after > 0) {
		snprintf(num, sizeof(num), "%u", x->retry_after);
		if (add_header(h->wsi, "retry-after:", num, &p, end))
			goto fail;
	}
	if (x != NULL && x->allow != NULL && add_header(h->wsi, "allow:",
	    x->allow, &p, end))
		goto fail;
	if (x != NULL && x->challenge && add_header(h->wsi,
	    "www-authenticate:", "Bearer realm=\"mcpvisor-gateway\"", &p, end))
		goto fail;
	if (lws_finalize_http_header(h->wsi, &p, end))
		goto fail;
	o->len = (size_t)(p - start);
	o->headers = true;
	h->headers_sent = true;
	/* inside the connection's own HTTP callback the headers go now:
	 * lws serves a GET's writeable callback only once they went */
	if (h->in_callback && h->out == NULL) {
		int	r = lws_write(h->wsi, start, o->len,
			    LWS_WRITE_HTTP_HEADERS) != (int)o->len ? -1 : 0;

		free(o);
		lws_callback_on_writable(h->wsi);
		return r;
	}
	out_push(h, o);
	return 0;
fail:
	free(o);
	return -1;
}

/* A whole answer: headers, then body; the transaction completes after
 * it (keep-alive). */
static int
respond(struct gw_http *h, unsigned status, const char *mime,
    const char *body, size_t len, const struct extra *x)
{
	if (queue_headers(h, status, mime, (long long)len, x) < 0 ||
	    (len > 0 && queue_bytes(h, body, len) < 0))
		return -1;
	h->close_after = false;
	return 0;
}

static char *
rpc_error(const char *id, int code, const char *message)
{
	cJSON	*o = cJSON_CreateObject(), *e, *idv = NULL;
	char	*text;

	cJSON_AddStringToObject(o, "jsonrpc", "2.0");
	if (id != NULL)
		idv = cJSON_Parse(id);
	cJSON_AddItemToObject(o, "id", idv != NULL ? idv : cJSON_CreateNull());
	e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddNumberToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", message);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return text;
}

/* A JSON-RPC error as an HTTP answer of its own. */
static int
respond_rpc_error(struct gw_http *h, unsigned status, const char *id,
    int code, const char *message, const struct extra *x)
{
	char	*text = rpc_error(id, code, message);
	int	 r;

	if (text == NULL)
		return -1;
	r = respond(h, status, "application/json", text, strlen(text), x);
	free(text);
	return r;
}

static int
respond_text(struct gw_http *h, unsigned status, const char *text,
    const struct extra *x)
{
	return respond(h, status, "text/plain; charset=utf-8", text,
	    strlen(text), x);
}

/* --- a client that leaves while its answer is pending ---
 *
 * libwebsockets 4.1 reads nothing of an HTTP/1.1 connection whose
 * transaction is not complete, yet polls it for input: a client's end of
 * file there wakes the loop at once, again and again (and rx flow
 * control, which would stop the polling, stops the writing as well). So
 * while a call or a stream waits, a duplicate of its socket is watched
 * beside it; its end of file closes the connection (peeked, never read:
 * the bytes are the connection's). */

static void
unwatch(struct gw_http *h)
{
	if (h->watch == NULL)
		return;
	lws_set_opaque_user_data(h->watch, NULL);
	lws_set_timeout(h->watch, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
	h->watch = NULL;
}

static void
watch_peer(struct gw_http *h)
{
	lws_sock_file_fd_type	u;
	int			fd = lws_get_socket_fd(h->wsi);

	if (h->watch != NULL || fd < 0 ||
	    (u.filefd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return;
	if ((h->watch = lws_adopt_descriptor_vhost(h->gw->vhost,
	    LWS_ADOPT_RAW_FILE_DESC, u, "mcpvisor-watch", NULL)) == NULL) {
		close(u.filefd);
		return;
	}
	lws_set_opaque_user_data(h->watch, h);
}

int
gw_http_watch_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct gw_http	*h = lws_get_opaque_user_data(wsi);
	char		 c;
	ssize_t		 n;

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	if (h == NULL)
		return -1;
	n = recv(lws_get_socket_fd(wsi), &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	h->watch = NULL;
	lws_set_opaque_user_data(wsi, NULL);
	/* the client went (or, pipelining, sent on: then it waits) */
	if (n <= 0)
		lws_set_timeout(h->wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
	return -1;
}

/* --- calls and streams in their session --- */

static void
unlink_from_session(struct gw_http *h)
{
	struct gw_session	*s = h->session;
	struct gw_http		**pp;

	if (s == NULL)
		return;
	if (s->stream == h)
		s->stream = NULL;
	for (pp = &s->calls; *pp != NULL; pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			break;
		}
	h->next = NULL;
	h->session = NULL;
}

/* The server need not work on for a client that went. */
static void
cancel_call(struct gw_http *h, const char *reason)
{
	cJSON	*o, *params;
	char	*text;

	if (h->session == NULL || h->call_id == NULL)
		return;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "jsonrpc", "2.0");
	cJSON_AddStringToObject(o, "method", "notifications/cancelled");
	params = cJSON_AddObjectToObject(o, "params");
	cJSON_AddItemToObject(params, "requestId", cJSON_Parse(h->call_id));
	cJSON_AddStringToObject(params, "reason", reason);
	if ((text = cJSON_PrintUnformatted(o)) != NULL)
		(void)gateway_send(h->session, text, strlen(text));
	free(text);
	cJSON_Delete(o);
}

void
gw_http_deliver(struct gw_http *h, const char *json, size_t len, bool final)
{
	struct extra	x = { .session = h->initialize ? h->session_id : NULL };

	if (h->released)
		return;
	if (final && !h->sse) {
		unwatch(h);
		lws_set_timer_usecs(h->wsi, LWS_SET_TIMER_USEC_CANCEL);
		if (respond(h, 200, "application/json", json, len, &x) < 0)
			h->close_after = true;
		return;
	}
	if (!h->sse) {
		/* what comes before the answer makes it a stream */
		h->sse = true;
		if (queue_headers(h, 200, "text/event-stream", -1, &x) < 0) {
			h->close_after = true;
			return;
		}
	}
	(void)queue_event(h, json, len);
	if (final) {
		lws_set_timer_usecs(h->wsi, LWS_SET_TIMER_USEC_CANCEL);
		h->close_after = true;
	}
}

void
gw_http_orphan(struct gw_http *h, const char *why)
{
	char	*text, message[320];

	unlink_from_session(h);
	if (h->released || h->gw->closing)
		return;
	if (h->is_stream) {
		h->close_after = true;
		lws_callback_on_writable(h->wsi);
		return;
	}
	snprintf(message, sizeof(message), "the session ended: %s", why);
	if ((text = rpc_error(h->call_id, RPC_UNAVAILABLE, message)) != NULL)
		gw_http_deliver(h, text, strlen(text), true);
	free(text);
}

static void
release(struct gw_http *h)
{
	struct gw_out	*o, *next;

	if (h->released || h->wsi == NULL)
		return;
	if (!h->gw->closing)
		unwatch(h);
	if (h->is_call && h->session != NULL && !h->gw->closing)
		cancel_call(h, "the client went");
	unlink_from_session(h);
	h->released = true;
	for (o = h->out; o != NULL; o = next) {
		next = o->next;
		free(o);
	}
	h->out = h->out_tail = NULL;
	free(h->body);
	h->body = NULL;
	free(h->call_id);
	h->call_id = NULL;
}

/* --- a request comes --- */

static bool
header(struct lws *wsi, enum lws_token_indexes t, char *buf, size_t size)
{
	return lws_hdr_total_length(wsi, t) > 0 &&
	    lws_hdr_copy(wsi, buf, (int)size, t) > 0;
}

static bool
custom_header(struct lws *wsi, const char *name, char *buf, size_t size)
{
	int	n = (int)strlen(name);

	return lws_hdr_custom_length(wsi, name, n) > 0 &&
	    lws_hdr_custom_copy(wsi, buf, (int)size, name, n) > 0;
}

/* The session a request names: NULL with the status and text to answer
 * with. */
static struct gw_session *
named_session(struct gw_http *h, unsigned *status, const char **why)
{
	char			 id[GATEWAY_SESSION_ID_LEN + 8];
	struct gw_session	*s;

	if (!custom_header(h->wsi, "mcp-session-id:", id, sizeof(id))) {
		*status = 400;
		*why = "Mcp-Session-Id is required after initialize";
		return NULL;
	}
	if ((s = gateway_find_session(h->gw, id)) == NULL ||
	    s->link == NULL || strcmp(s->link->server, h->server) != 0) {
		*status = 404;
		*why = "no such session (it ended, or its server restarted): "
		    "initialize again";
		return NULL;
	}
	return s;
}

static bool
accepts(struct lws *wsi, const char *type)
{
	char	accept[512];

	return header(wsi, WSI_TOKEN_HTTP_ACCEPT, accept, sizeof(accept)) &&
	    (strstr(accept, type) != NULL || strstr(accept, "*/*") != NULL);
}

static int
serve_stream(struct gw_http *h)
{
	struct gw_session	*s;
	unsigned		 status;
	const char		*why;

	if (!accepts(h->wsi, "text/event-stream"))
		return respond_text(h, 406, "GET opens an event stream: "
		    "Accept: text/event-stream\n", NULL);
	if ((s = named_session(h, &status, &why)) == NULL)
		return respond_text(h, status, why, NULL);
	if (s->stream != NULL)
		return respond_text(h, 409, "this session has its stream "
		    "open already\n", NULL);
	s->stream = h;
	h->session = s;
	h->is_stream = true;
	h->sse = true;
	lws_set_timeout(h->wsi, NO_PENDING_TIMEOUT, 0);
	watch_peer(h);
	/* HTTP/1.1 only (no h2 here): the stream is kept from lws's
	 * timeouts by having none set */
	return queue_headers(h, 200, "text/event-stream", -1, NULL) < 0 ? -1 :
	    0;
}

static int
serve_delete(struct gw_http *h)
{
	struct gw_session	*s;
	unsigned		 status;
	const char		*why;

	if ((s = named_session(h, &status, &why)) == NULL)
		return respond_text(h, status, why, NULL);
	gateway_end_session(h->gw, s, "the client deleted it");
	return respond(h, 200, "text/plain; charset=utf-8", "", 0, NULL);
}

/* /servers/NAME/mcp: NAME into h->server. */
static bool
mcp_path(struct gw_http *h, const char *uri)
{
	static const char	prefix[] = "/servers/", suffix[] = "/mcp";
	const char		*name = uri + sizeof(prefix) - 1;
	size_t			 n;

	if (strncmp(uri, prefix, sizeof(prefix) - 1) != 0)
		return false;
	n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-");
	if (n == 0 || n >= sizeof(h->server) || strcmp(name + n, suffix) != 0)
		return false;
	memcpy(h->server, name, n);
	h->server[n] = '\0';
	return true;
}

static int
on_request(struct gw_http *h, const char *uri)
{
	struct lws	*wsi = h->wsi;
	char		 origin[256], length[32], *end;
	bool		 post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	bool		 get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	bool		 del = lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) >
			    0;
	struct extra	 x = { 0 };
	unsigned long	 n;

	if (!lwskit_peer_is_loopback(wsi, h->peer, sizeof(h->peer)) &&
	    !lwskit_bearer_is(wsi, h->gw->token)) {
		log_warnx("refused %s from %s: no valid token", uri, h->peer);
		x.challenge = true;
		return respond_text(h, 401, "a token is required from beyond "
		    "loopback (Authorization: Bearer)\n", &x);
	}
	/* against DNS rebinding: a page elsewhere may not drive us */
	if (header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin)) &&
	    !gw_origin_allowed(origin, h->gw->bind, h->gw->port)) {
		log_warnx("refused %s from %s: Origin %.80s is not ours", uri,
		    h->peer, origin);
		return respond_text(h, 403, "this Origin may not use the "
		    "gateway\n", NULL);
	}
	if (strcmp(uri, "/servers") == 0 || strcmp(uri, "/servers/") == 0) {
		char	*list;
		int	 r;

		if (!get) {
			x.allow = "GET";
			return respond_text(h, 405, "GET only\n", &x);
		}
		if ((list = gateway_servers_json(h->gw)) == NULL)
			return -1;
		r = respond(h, 200, "application/json", list, strlen(list),
		    NULL);
		free(list);
		return r;
	}
	if (!mcp_path(h, uri))
		return respond_text(h, 404, "no such endpoint: servers are at "
		    "/servers/NAME/mcp, and listed at /servers\n", NULL);
	if (get)
		return serve_stream(h);
	if (del)
		return serve_delete(h);
	if (!post) {
		x.allow = "GET, POST, DELETE";
		return respond_text(h, 405, "an MCP endpoint takes POST, GET "
		    "and DELETE\n", &x);
	}
	if (!header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, length,
	    sizeof(length)))
		return respond_text(h, 411, "a POST needs a Content-Length\n",
		    NULL);
	n = strtoul(length, &end, 10);
	if (*end != '\0' || n == 0)
		return respond_rpc_error(h, 400, NULL, RPC_INVALID_REQUEST,
		    "a POST carries one JSON-RPC message", NULL);
	if (n > GATEWAY_BODY_MAX) {
		char	why[96];

		snprintf(why, sizeof(why), "the body is %lu bytes, more than "
		    "the gateway takes (%u)", n, GATEWAY_BODY_MAX);
		h->body_refused = true;
		h->close_after = true;
		return respond_rpc_error(h, 413, NULL, RPC_INVALID_REQUEST,
		    why, NULL);
	}
	if ((h->body = malloc(n)) == NULL)
		return -1;
	h->body_cap = n;
	return 0;	/* the body follows */
}

static int
on_body(struct gw_http *h, const void *in, size_t len)
{
	if (h->body_refused || h->body == NULL)
		return 0;
	if (h->body_len + len > h->body_cap) {
		h->body_refused = true;
		h->close_after = true;
		return respond_rpc_error(h, 400, NULL, RPC_INVALID_REQUEST,
		    "the body is longer than its Content-Length", NULL);
	}
	memcpy(h->body + h->body_len, in, len);
	h->body_len += len;
	return 0;
}

/* 503, and why: the server is not ready (or there is none). */
static int
unavailable(struct gw_http *h, const struct gw_link *link, const char *id)
{
	struct extra	x = { .retry_after = GATEWAY_RETRY_AFTER_S };
	char		why[480];

	snprintf(why, sizeof(why), "server '%.127s' is %.15s%s%.255s",
	    h->server, link->state, link->reason[0] != '\0' ? ": " : "",
	    link->reason);
	return respond_rpc_error(h, 503, id, RPC_UNAVAILABLE, why, &x);
}

static int
start_call(struct gw_http *h, struct gw_session *s, struct gw_message *m)
{
	h->is_call = true;
	h->session = s;
	h->call_id = m->id;
	m->id = NULL;
	h->next = s->calls;
	s->calls = h;
	lws_set_timeout(h->wsi, NO_PENDING_TIMEOUT, 0);
	lws_set_timer_usecs(h->wsi, (lws_usec_t)GATEWAY_CALL_TIMEOUT_S *
	    LWS_USEC_PER_SEC);
	watch_peer(h);
	if (gateway_send(s, h->body, h->body_len) < 0) {
		unwatch(h);
		unlink_from_session(h);
		h->is_call = false;
		lws_set_timer_usecs(h->wsi, LWS_SET_TIMER_USEC_CANCEL);
		return respond_rpc_error(h, 503, h->call_id, RPC_UNAVAILABLE,
		    "the server's worker does not take the request", NULL);
	}
	return 0;
}

static int
on_initialize(struct gw_http *h, struct gw_message *m)
{
	struct gw_link		*link = gateway_route(h->gw, h->server);
	struct gw_session	*s;
	char			 why[200];

	if (link == NULL) {
		snprintf(why, sizeof(why), "no server '%s' (GET /servers "
		    "lists them)", h->server);
		return respond_rpc_error(h, 404, m->id, RPC_UNAVAILABLE, why,
		    NULL);
	}
	if (strcmp(link->state, "ready") != 0)
		return unavailable(h, link, m->id);
	if ((s = gateway_open_session(h->gw, link, h->peer)) == NULL)
		return respond_rpc_error(h, 503, m->id, RPC_UNAVAILABLE,
		    "no room for another session of this server", NULL);
	h->initialize = true;
	memcpy(h->session_id, s->id, sizeof(h->session_id));
	return start_call(h, s, m);
}

static int
on_post(struct gw_http *h)
{
	struct gw_message	 m;
	struct gw_session	*s;
	unsigned		 status;
	const char		*why;
	char			 version[40];
	int			 r;

	if (h->body_refused)
		return 0;
	gw_message_judge(h->body, h->body_len, &m);
	if (m.kind == GW_UNPARSABLE || m.kind == GW_BATCH ||
	    m.kind == GW_INVALID) {
		r = respond_rpc_error(h, 400, NULL, m.kind == GW_UNPARSABLE ?
		    RPC_PARSE_ERROR : RPC_INVALID_REQUEST, m.why, NULL);
		gw_message_clear(&m);
		return r;
	}
	if (!accepts(h->wsi, "application/json") &&
	    !accepts(h->wsi, "text/event-stream")) {
		gw_message_clear(&m);
		return respond_text(h, 406, "Accept application/json and "
		    "text/event-stream\n", NULL);
	}
	if (m.kind == GW_REQUEST && strcmp(m.method, "initialize") == 0) {
		r = on_initialize(h, &m);
		gw_message_clear(&m);
		return r;
	}
	if ((s = named_session(h, &status, &why)) == NULL) {
		r = respond_rpc_error(h, status, m.id, RPC_INVALID_REQUEST,
		    why, NULL);
		gw_message_clear(&m);
		return r;
	}
	if (custom_header(h->wsi, "mcp-protocol-version:", version,
	    sizeof(version)) && !gw_version_known(version)) {
		char	text[160];

		snprintf(text, sizeof(text), "MCP-Protocol-Version %.40s is "
		    "not one the gateway serves", version);
		r = respond_rpc_error(h, 400, m.id, RPC_INVALID_REQUEST, text,
		    NULL);
		gw_message_clear(&m);
		return r;
	}
	if (strcmp(s->link->state, "ready") != 0) {
		r = unavailable(h, s->link, m.id);
		gw_message_clear(&m);
		return r;
	}
	if (m.kind != GW_REQUEST) {
		r = gateway_send(s, h->body, h->body_len) < 0 ?
		    respond_text(h, 503, "the server's worker does not take "
		    "messages\n", NULL) :
		    respond(h, 202, "text/plain; charset=utf-8", "", 0, NULL);
		gw_message_clear(&m);
		return r;
	}
	r = start_call(h, s, &m);
	gw_message_clear(&m);
	return r;
}

static int
on_timeout(struct gw_http *h)
{
	char	*text, why[96];

	if (!h->is_call || h->session == NULL)
		return 0;
	cancel_call(h, "no answer in time");
	unlink_from_session(h);
	snprintf(why, sizeof(why), "no answer within %u s",
	    GATEWAY_CALL_TIMEOUT_S);
	if ((text = rpc_error(h->call_id, RPC_TIMEOUT, why)) != NULL)
		gw_http_deliver(h, text, strlen(text), true);
	free(text);
	return 0;
}

static int
on_writeable(struct gw_http *h)
{
	struct gw_out	*o = h->out;
	int		 how;

	if (o != NULL) {
		how = o->headers ? LWS_WRITE_HTTP_HEADERS : o->next == NULL &&
		    !h->sse && !h->is_stream ? LWS_WRITE_HTTP_FINAL :
		    LWS_WRITE_HTTP;
		if (lws_write(h->wsi, o->data + LWS_PRE, o->len,
		    (enum lws_write_protocol)how) != (int)o->len)
			return -1;
		h->out = o->next;
		if (h->out == NULL)
			h->out_tail = NULL;
		free(o);
		if (h->out != NULL) {
			lws_callback_on_writable(h->wsi);
			return 0;
		}
	}
	if (h->close_after)
		return -1;
	/* a whole answer went (a stream or a call still waiting has more
	 * to come) */
	if (h->headers_sent && !h->sse && !h->is_stream &&
	    !(h->is_call && h->session != NULL)) {
		return lws_http_transaction_completed(h->wsi) ? -1 : 0;
	}
	return 0;
}

int
gw_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
    void *user, void *in, size_t len)
{
	struct gw_http	*h = user;
	int		 r;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		release(h);
		memset(h, 0, sizeof(*h));
		h->wsi = wsi;
		h->gw = gateway_of(wsi);
		h->in_callback = true;
		r = on_request(h, in);
		h->in_callback = false;
		return r;
	case LWS_CALLBACK_HTTP_BODY:
		h->in_callback = true;
		r = on_body(h, in, len);
		h->in_callback = false;
		return r;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		h->in_callback = true;
		r = on_post(h);
		h->in_callback = false;
		return r;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (h == NULL || h->released)
			return -1;
		return on_writeable(h);
	case LWS_CALLBACK_TIMER:
		if (h != NULL && !h->released)
			return on_timeout(h);
		return 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (h != NULL)
			release(h);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
