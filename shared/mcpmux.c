/*
 * The multiplexer's tables: sessions by id, requests in flight by the
 * number in their "mvg-N" id (hashed, chained), and the few requests of
 * the server that a session holds (a list). Every message is parsed
 * whole; ids and tokens are rewritten in the tree and the tree printed
 * again. Keys are matched case-sensitively: "ID" is not "id".
 */
#include "mcpmux.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define SESSION_BUCKETS	256
#define REQUEST_BUCKETS	1024
#define REQUEST_PREFIX	"mvg-"
#define TOKEN_PREFIX	"mvp-"
#define ERR_INTERNAL	(-32603)
#define ERR_UNAVAILABLE	(-32000)

struct mux_session {
	struct mux_session	*next;
	uint32_t		 sid;
	unsigned		 in_flight;
};

struct mux_request {
	struct mux_request	*next;
	uint64_t		 n;
	uint32_t		 sid;
	cJSON			*client_id;
	cJSON			*client_token;	/* its progress token */
	bool			 lists_tools;	/* tools/list: filtered */
};

/* a request of the server's, handed to one session */
struct mux_held {
	struct mux_held		*next;
	char			*id;		/* the server's id, printed */
	uint32_t		 sid;
};

struct mcpmux {
	struct mux_ops		 ops;
	void			*arg;
	cJSON			*init;		/* the process's handshake */
	char			 version[32];
	struct mux_session	*sessions[SESSION_BUCKETS];
	size_t			 nsessions;
	size_t			 busy;		/* sessions with requests */
	struct mux_request	*requests[REQUEST_BUCKETS];
	size_t			 nrequests;
	uint64_t		 next_n;
	struct mux_held		*held;
	/* the tool filter: allow (NULL: all) minus deny */
	char			**allow;
	size_t			 nallow;
	bool			 allow_set;
	char			**deny;
	size_t			 ndeny;
};

struct mcpmux *
mcpmux_new(const struct mux_ops *ops, void *arg)
{
	struct mcpmux	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->ops = *ops;
	m->arg = arg;
	return m;
}

/* --- sending --- */

static void
to_session(struct mcpmux *m, uint32_t sid, cJSON *msg)
{
	char	*text = msg != NULL ? cJSON_PrintUnformatted(msg) : NULL;

	if (text != NULL)
		m->ops.to_session(m->arg, sid, text, strlen(text));
	free(text);
	cJSON_Delete(msg);
}

/* A tree printed for the server (not freed: see to_server). */
static int
forward(struct mcpmux *m, const cJSON *msg)
{
	char	*text = msg != NULL ? cJSON_PrintUnformatted(msg) : NULL;
	int	 r = -ENOMEM;

	if (text != NULL)
		r = m->ops.to_server(m->arg, text, strlen(text));
	free(text);
	return r;
}

static int
to_server(struct mcpmux *m, cJSON *msg)
{
	int	r = forward(m, msg);

	cJSON_Delete(msg);
	return r;
}

static void
forward_to_session(struct mcpmux *m, uint32_t sid, const cJSON *msg)
{
	char	*text = cJSON_PrintUnformatted(msg);

	if (text != NULL)
		m->ops.to_session(m->arg, sid, text, strlen(text));
	free(text);
}

static cJSON *
error_message(const cJSON *id, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static cJSON *
error_message(const cJSON *id, int code, const char *fmt, va_list ap)
{
	cJSON	*msg = cJSON_CreateObject(), *e;
	char	 text[320];

	vsnprintf(text, sizeof(text), fmt, ap);
	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	cJSON_AddItemToObject(msg, "id", id != NULL ?
	    cJSON_Duplicate(id, 1) : cJSON_CreateNull());
	e = cJSON_AddObjectToObject(msg, "error");
	cJSON_AddNumberToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", text);
	return msg;
}

static void
error_to_session(struct mcpmux *m, uint32_t sid, const cJSON *id, int code,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
error_to_session(struct mcpmux *m, uint32_t sid, const cJSON *id, int code,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	to_session(m, sid, error_message(id, code, fmt, ap));
	va_end(ap);
}

static void
error_to_server(struct mcpmux *m, const cJSON *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
error_to_server(struct mcpmux *m, const cJSON *id, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	(void)to_server(m, error_message(id, ERR_INTERNAL, fmt, ap));
	va_end(ap);
}

/* --- the tables --- */

static struct mux_session *
find_session(const struct mcpmux *m, uint32_t sid)
{
	struct mux_session	*s = m->sessions[sid % SESSION_BUCKETS];

	while (s != NULL && s->sid != sid)
		s = s->next;
	return s;
}

static struct mux_request *
find_request(const struct mcpmux *m, uint64_t n)
{
	struct mux_request	*r = m->requests[n % REQUEST_BUCKETS];

	while (r != NULL && r->n != n)
		r = r->next;
	return r;
}

static void
count_in_flight(struct mcpmux *m, uint32_t sid, int delta)
{
	struct mux_session	*s = find_session(m, sid);

	if (s == NULL)
		return;
	if (delta > 0 && s->in_flight++ == 0)
		m->busy++;
	else if (delta < 0 && s->in_flight > 0 && --s->in_flight == 0)
		m->busy--;
}

/* Unlinks and frees request n (it was answered, or is abandoned). */
static void
drop_request(struct mcpmux *m, struct mux_request *r)
{
	struct mux_request	**pp = &m->requests[r->n % REQUEST_BUCKETS];

	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	m->nrequests--;
	count_in_flight(m, r->sid, -1);
	cJSON_Delete(r->client_id);
	cJSON_Delete(r->client_token);
	free(r);
}

static void
drop_held(struct mcpmux *m, struct mux_held *h)
{
	struct mux_held	**pp = &m->held;

	while (*pp != h)
		pp = &(*pp)->next;
	*pp = h->next;
	free(h->id);
	free(h);
}

static struct mux_held *
find_held(const struct mcpmux *m, const cJSON *id, uint32_t sid)
{
	char		*text = cJSON_PrintUnformatted(id);
	struct mux_held	*h = m->held;

	if (text == NULL)
		return NULL;
	while (h != NULL && (strcmp(h->id, text) != 0 ||
	    (sid != 0 && h->sid != sid)))
		h = h->next;
	free(text);
	return h;
}

/* "mvg-N" or "mvp-N": N, with no sign, space or leading zero. */
static bool
our_number(const cJSON *v, const char *prefix, uint64_t *n)
{
	const char	*s = cJSON_GetStringValue(v), *p;
	size_t		 plen = strlen(prefix);
	uint64_t	 x = 0;

	if (s == NULL || strncmp(s, prefix, plen) != 0)
		return false;
	p = s + plen;
	if (*p < '1' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(*p - '0');
	}
	*n = x;
	return *p == '\0';
}

static cJSON *
numbered(const char *prefix, uint64_t n)
{
	char	text[32];

	snprintf(text, sizeof(text), "%s%" PRIu64, prefix, n);
	return cJSON_CreateString(text);
}

/* params._meta.progressToken of a message, or NULL. */
static cJSON *
progress_token(cJSON *msg)
{
	cJSON	*params = cJSON_GetObjectItemCaseSensitive(msg, "params");
	cJSON	*meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
	cJSON	*token = cJSON_GetObjectItemCaseSensitive(meta,
		    "progressToken");

	return cJSON_IsString(token) || cJSON_IsNumber(token) ? token : NULL;
}

/* --- the process --- */

int
mcpmux_server_ready(struct mcpmux *m, const char *result, size_t len)
{
	cJSON		*init = cJSON_ParseWithLength(result, len);
	const char	*v = cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(init,
			    "protocolVersion"));

	if (init == NULL || !cJSON_IsObject(init) || v == NULL ||
	    strlen(v) >= sizeof(m->version)) {
		cJSON_Delete(init);
		return -EINVAL;
	}
	cJSON_Delete(m->init);
	m->init = init;
	snprintf(m->version, sizeof(m->version), "%s", v);
	return 0;
}

bool
mcpmux_has_server(const struct mcpmux *m)
{
	return m->init != NULL;
}

const char *
mcpmux_protocol_version(const struct mcpmux *m)
{
	return m->version;
}

static void
free_sessions(struct mcpmux *m)
{
	for (size_t i = 0; i < SESSION_BUCKETS; i++)
		while (m->sessions[i] != NULL) {
			struct mux_session	*s = m->sessions[i];

			m->sessions[i] = s->next;
			free(s);
		}
	m->nsessions = 0;
	m->busy = 0;
}

void
mcpmux_server_gone(struct mcpmux *m, const char *why)
{
	for (size_t i = 0; i < REQUEST_BUCKETS; i++)
		while (m->requests[i] != NULL) {
			struct mux_request	*r = m->requests[i];

			error_to_session(m, r->sid, r->client_id,
			    ERR_UNAVAILABLE, "the server process ended: %s",
			    why);
			drop_request(m, r);
		}
	while (m->held != NULL)
		drop_held(m, m->held);
	free_sessions(m);
	cJSON_Delete(m->init);
	m->init = NULL;
	m->version[0] = '\0';
}

static void
free_names(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

static int
copy_names(char ***out, const char *const *names, size_t n)
{
	char	**v = calloc(n + 1, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if ((v[i] = strdup(names[i])) == NULL) {
			free_names(v, i);
			return -ENOMEM;
		}
	*out = v;
	return 0;
}

int
mcpmux_filter_tools(struct mcpmux *m, const char *const *allow,
    size_t nallow, const char *const *deny, size_t ndeny)
{
	char	**a = NULL, **d = NULL;

	if ((allow != NULL && copy_names(&a, allow, nallow) < 0) ||
	    copy_names(&d, deny, ndeny) < 0) {
		free_names(a, nallow);
		return -ENOMEM;
	}
	free_names(m->allow, m->nallow);
	free_names(m->deny, m->ndeny);
	m->allow = a;
	m->nallow = allow != NULL ? nallow : 0;
	m->allow_set = allow != NULL;
	m->deny = d;
	m->ndeny = ndeny;
	return 0;
}

static bool
named(char *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], name) == 0)
			return true;
	return false;
}

static bool
tool_offered(const struct mcpmux *m, const char *name)
{
	return name != NULL && (!m->allow_set || named(m->allow, m->nallow,
	    name)) && !named(m->deny, m->ndeny, name);
}

static bool
filtering(const struct mcpmux *m)
{
	return m->allow_set || m->ndeny > 0;
}

void
mcpmux_free(struct mcpmux *m)
{
	if (m == NULL)
		return;
	free_names(m->allow, m->nallow);
	free_names(m->deny, m->ndeny);
	for (size_t i = 0; i < REQUEST_BUCKETS; i++)
		while (m->requests[i] != NULL)
			drop_request(m, m->requests[i]);
	while (m->held != NULL)
		drop_held(m, m->held);
	free_sessions(m);
	cJSON_Delete(m->init);
	free(m);
}

/* --- sessions --- */

int
mcpmux_open(struct mcpmux *m, uint32_t sid)
{
	struct mux_session	*s;

	if (sid == 0 || find_session(m, sid) != NULL)
		return -EEXIST;
	if (m->nsessions >= MUX_SESSIONS_MAX)
		return -ENOSPC;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->sid = sid;
	s->next = m->sessions[sid % SESSION_BUCKETS];
	m->sessions[sid % SESSION_BUCKETS] = s;
	m->nsessions++;
	return 0;
}

bool
mcpmux_is_open(const struct mcpmux *m, uint32_t sid)
{
	return find_session(m, sid) != NULL;
}

/* The server may stop working on what nobody waits for any more. */
static void
cancel_at_server(struct mcpmux *m, uint64_t n, const char *reason)
{
	cJSON	*msg = cJSON_CreateObject(), *params;

	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	cJSON_AddStringToObject(msg, "method", "notifications/cancelled");
	params = cJSON_AddObjectToObject(msg, "params");
	cJSON_AddItemToObject(params, "requestId", numbered(REQUEST_PREFIX,
	    n));
	cJSON_AddStringToObject(params, "reason", reason);
	(void)to_server(m, msg);
}

void
mcpmux_close(struct mcpmux *m, uint32_t sid)
{
	struct mux_session	**pp = &m->sessions[sid % SESSION_BUCKETS];
	struct mux_held		 *h, *next;

	for (size_t i = 0; i < REQUEST_BUCKETS; i++) {
		struct mux_request	*r = m->requests[i], *rn;

		for (; r != NULL; r = rn) {
			rn = r->next;
			if (r->sid != sid)
				continue;
			if (m->init != NULL)
				cancel_at_server(m, r->n,
				    "the client session ended");
			drop_request(m, r);
		}
	}
	for (h = m->held; h != NULL; h = next) {
		next = h->next;
		if (h->sid != sid)
			continue;
		{
			cJSON	*id = cJSON_Parse(h->id);

			error_to_server(m, id, "the client session that held "
			    "this request ended");
			cJSON_Delete(id);
		}
		drop_held(m, h);
	}
	while (*pp != NULL && (*pp)->sid != sid)
		pp = &(*pp)->next;
	if (*pp != NULL) {
		struct mux_session	*s = *pp;

		*pp = s->next;
		if (s->in_flight > 0)
			m->busy--;
		free(s);
		m->nsessions--;
	}
}

void
mcpmux_close_all(struct mcpmux *m)
{
	for (size_t i = 0; i < SESSION_BUCKETS; i++)
		while (m->sessions[i] != NULL)
			mcpmux_close(m, m->sessions[i]->sid);
}

size_t
mcpmux_sessions(const struct mcpmux *m)
{
	return m->nsessions;
}

size_t
mcpmux_in_flight(const struct mcpmux *m)
{
	return m->nrequests;
}

/* --- from a client --- */

static void
answer_initialize(struct mcpmux *m, uint32_t sid, const cJSON *id)
{
	cJSON	*msg;

	if (m->init == NULL) {
		error_to_session(m, sid, id, ERR_UNAVAILABLE, "the server "
		    "process has not finished its own handshake");
		return;
	}
	msg = cJSON_CreateObject();
	cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
	cJSON_AddItemToObject(msg, "id", cJSON_Duplicate(id, 1));
	cJSON_AddItemToObject(msg, "result", cJSON_Duplicate(m->init, 1));
	to_session(m, sid, msg);
}

static void
client_request(struct mcpmux *m, struct mux_session *s, cJSON *msg,
    const char *method, cJSON *id)
{
	struct mux_request	*r;
	cJSON			*token;
	const char		*tool;
	uint64_t		 n;

	if (strcmp(method, "initialize") == 0) {
		answer_initialize(m, s->sid, id);
		return;
	}
	if (m->init == NULL) {
		error_to_session(m, s->sid, id, ERR_UNAVAILABLE, "the server "
		    "process is not ready");
		return;
	}
	if (strcmp(method, "tools/call") == 0 && filtering(m) &&
	    !tool_offered(m, (tool = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
	    msg, "params"), "name"))))) {
		error_to_session(m, s->sid, id, -32602, "tool '%.80s' is not "
		    "offered through the gateway (the server's gateway.tools)",
		    tool != NULL ? tool : "");
		return;
	}
	if (s->in_flight >= MUX_SESSION_IN_FLIGHT_MAX) {
		error_to_session(m, s->sid, id, ERR_INTERNAL, "this session "
		    "has %u requests in flight already, the most it may",
		    MUX_SESSION_IN_FLIGHT_MAX);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->client_id = cJSON_Duplicate(id, 1)) == NULL) {
		free(r);
		error_to_session(m, s->sid, id, ERR_INTERNAL, "out of memory");
		return;
	}
	n = r->n = ++m->next_n;
	r->sid = s->sid;
	r->lists_tools = strcmp(method, "tools/list") == 0;
	if ((token = progress_token(msg)) != NULL) {
		r->client_token = cJSON_Duplicate(token, 1);
		cJSON_ReplaceItemInObjectCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(
		    msg, "params"), "_meta"), "progressToken",
		    numbered(TOKEN_PREFIX, n));
	}
	cJSON_ReplaceItemInObjectCaseSensitive(msg, "id",
	    numbered(REQUEST_PREFIX, n));
	r->next = m->requests[n % REQUEST_BUCKETS];
	m->requests[n % REQUEST_BUCKETS] = r;
	m->nrequests++;
	count_in_flight(m, s->sid, +1);
	if (forward(m, msg) < 0) {
		error_to_session(m, s->sid, r->client_id, ERR_UNAVAILABLE,
		    "the server process does not take input now");
		drop_request(m, r);
	}
}

static void
client_notification(struct mcpmux *m, struct mux_session *s, cJSON *msg,
    const char *method)
{
	cJSON	*params, *rid;

	if (strcmp(method, "notifications/initialized") == 0)
		return;		/* the process was, once */
	if (strcmp(method, "notifications/cancelled") == 0) {
		params = cJSON_GetObjectItemCaseSensitive(msg, "params");
		rid = cJSON_GetObjectItemCaseSensitive(params, "requestId");
		if (rid == NULL)
			return;
		for (size_t i = 0; i < REQUEST_BUCKETS; i++)
			for (struct mux_request *r = m->requests[i]; r != NULL;
			    r = r->next)
				if (r->sid == s->sid &&
				    cJSON_Compare(r->client_id, rid, 1)) {
					cJSON_ReplaceItemInObjectCaseSensitive(
					    params, "requestId",
					    numbered(REQUEST_PREFIX, r->n));
					(void)forward(m, msg);
					return;
				}
		return;		/* answered already, or never ours */
	}
	if (m->init != NULL)
		(void)forward(m, msg);
}

/* A client answers a request of the server that was handed to it. */
static void
client_answer(struct mcpmux *m, struct mux_session *s, cJSON *msg,
    const cJSON *id)
{
	struct mux_held	*h = find_held(m, id, s->sid);

	if (h == NULL)
		return;
	drop_held(m, h);
	(void)forward(m, msg);
}

void
mcpmux_from_client(struct mcpmux *m, uint32_t sid, const char *json,
    size_t len)
{
	struct mux_session	*s = find_session(m, sid);
	cJSON			*msg, *id;
	const char		*method;

	if (s == NULL)
		return;
	if ((msg = cJSON_ParseWithLength(json, len)) == NULL)
		return;
	if (!cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		return;
	}
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg,
	    "method"));
	if (id != NULL && !cJSON_IsString(id) && !cJSON_IsNumber(id))
		;	/* not JSON-RPC: null and objects are no ids here */
	else if (method != NULL && id != NULL)
		client_request(m, s, msg, method, id);
	else if (method != NULL)
		client_notification(m, s, msg, method);
	else if (id != NULL &&
	    (cJSON_GetObjectItemCaseSensitive(msg, "result") != NULL ||
	    cJSON_GetObjectItemCaseSensitive(msg, "error") != NULL))
		client_answer(m, s, msg, id);
	cJSON_Delete(msg);
}

/* --- from the server --- */

/* The one session with requests in flight, or 0. */
static uint32_t
only_busy_session(const struct mcpmux *m)
{
	if (m->busy != 1)
		return 0;
	for (size_t i = 0; i < SESSION_BUCKETS; i++)
		for (struct mux_session *s = m->sessions[i]; s != NULL;
		    s = s->next)
			if (s->in_flight > 0)
				return s->sid;
	return 0;
}

static enum mux_verdict
server_request(struct mcpmux *m, const char *method, const cJSON *id,
    const char *line, size_t len)
{
	struct mux_held	*h;
	uint32_t	 sid;

	if (strcmp(method, "ping") == 0 || m->nsessions == 0)
		return MUX_NOT_MINE;
	if ((sid = only_busy_session(m)) == 0) {
		if (m->busy == 0)
			error_to_server(m, id, "mcpvisor gateway: no client "
			    "request is in flight to carry %.60s to (%zu "
			    "sessions share this server)", method,
			    m->nsessions);
		else
			error_to_server(m, id, "mcpvisor gateway: %zu client "
			    "sessions have requests in flight; which one %.60s "
			    "is for cannot be told", m->busy, method);
		return MUX_TAKEN;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (h->id = cJSON_PrintUnformatted(id)) == NULL) {
		free(h);
		error_to_server(m, id, "mcpvisor gateway: out of memory");
		return MUX_TAKEN;
	}
	h->sid = sid;
	h->next = m->held;
	m->held = h;
	m->ops.to_session(m->arg, sid, line, len);
	return MUX_TAKEN;
}

static enum mux_verdict
server_notification(struct mcpmux *m, cJSON *msg, const char *method,
    const char *line, size_t len)
{
	cJSON			*params = cJSON_GetObjectItemCaseSensitive(msg,
				    "params");
	struct mux_request	*r;
	struct mux_held		*h;
	uint64_t		 n;

	if (strcmp(method, "notifications/progress") == 0) {
		if (!our_number(cJSON_GetObjectItemCaseSensitive(params,
		    "progressToken"), TOKEN_PREFIX, &n))
			return MUX_NOT_MINE;
		if ((r = find_request(m, n)) != NULL &&
		    r->client_token != NULL) {
			cJSON_ReplaceItemInObjectCaseSensitive(params,
			    "progressToken", cJSON_Duplicate(r->client_token,
			    1));
			forward_to_session(m, r->sid, msg);
		}
		return MUX_TAKEN;
	}
	if (strcmp(method, "notifications/cancelled") == 0) {
		/* the server gives up a request it made of a client */
		if ((h = find_held(m, cJSON_GetObjectItemCaseSensitive(params,
		    "requestId"), 0)) == NULL)
			return MUX_NOT_MINE;
		m->ops.to_session(m->arg, h->sid, line, len);
		drop_held(m, h);
		return MUX_TAKEN;
	}
	if (m->nsessions == 0)
		return MUX_NOT_MINE;
	m->ops.to_session(m->arg, 0, line, len);
	return MUX_TAKEN;
}

/* A page of tools/list, without the tools the filter hides. */
static void
drop_hidden_tools(const struct mcpmux *m, cJSON *tools)
{
	cJSON	*t = cJSON_IsArray(tools) ? tools->child : NULL, *next;

	for (; t != NULL; t = next) {
		next = t->next;
		if (!tool_offered(m, cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(t, "name"))))
			cJSON_Delete(cJSON_DetachItemViaPointer(tools, t));
	}
}

static enum mux_verdict
server_answer(struct mcpmux *m, cJSON *msg, const cJSON *id)
{
	struct mux_request	*r;
	uint64_t		 n;

	if (!our_number(id, REQUEST_PREFIX, &n))
		return MUX_NOT_MINE;
	if ((r = find_request(m, n)) == NULL)
		return MUX_TAKEN;	/* its session ended */
	cJSON_ReplaceItemInObjectCaseSensitive(msg, "id",
	    cJSON_Duplicate(r->client_id, 1));
	if (r->lists_tools && filtering(m))
		drop_hidden_tools(m, cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(msg, "result"), "tools"));
	forward_to_session(m, r->sid, msg);
	drop_request(m, r);
	return MUX_TAKEN;
}

enum mux_verdict
mcpmux_from_server(struct mcpmux *m, const char *line, size_t len)
{
	cJSON			*msg = cJSON_ParseWithLength(line, len), *id;
	const char		*method;
	enum mux_verdict	 v = MUX_NOT_MINE;

	if (msg == NULL || !cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		return MUX_NOT_MINE;	/* the health engine says so */
	}
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg,
	    "method"));
	if (method != NULL && id != NULL)
		v = server_request(m, method, id, line, len);
	else if (method != NULL)
		v = server_notification(m, msg, method, line, len);
	else if (id != NULL)
		v = server_answer(m, msg, id);
	cJSON_Delete(msg);
	return v;
}
