/*
 * MCP over stdio, client side. Messages are JSON-RPC 2.0 objects, one per
 * line. Lines are gathered in a buffer that grows to MCP_LINE_MAX; a
 * longer line fails the session (a server that floods us is unhealthy,
 * not a reason to exhaust memory). Answers are matched by id, whatever
 * the order of their keys.
 */
#include "mcp.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* protocol versions a legacy-era client can speak */
static const char *const mcp_versions[] = { "2025-11-25", "2025-06-18",
    "2025-03-26", "2024-11-05", NULL };

struct mcp_session {
	enum mcp_state		 state;
	enum mcp_probe		 probe;
	char			 version[32];
	/* outgoing bytes */
	char			*out;
	size_t			 out_len;
	size_t			 out_cap;
	/* the incoming line being gathered */
	char			*line;
	size_t			 line_len;
	size_t			 line_cap;
	/* the request being awaited */
	long			 next_id;
	long			 await_id;
	const char		*await_method;
	unsigned		 pages;
	bool			 tools_pending;	/* after ping, in BOTH */
	char			**new_tools;	/* the listing being gathered */
	size_t			 new_ntools;
	char			*init_result;	/* initialize's, as text */
	struct mcp_result	 result;
};

static void
fail(struct mcp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail(struct mcp_session *s, const char *fmt, ...)
{
	va_list	ap;

	if (s->state == MCP_FAILED)
		return;
	va_start(ap, fmt);
	vsnprintf(s->result.error, sizeof(s->result.error), fmt, ap);
	va_end(ap);
	s->state = MCP_FAILED;
}

static int
out_append(struct mcp_session *s, const char *p, size_t n)
{
	if (s->out_len + n > s->out_cap) {
		size_t	 cap = s->out_cap ? s->out_cap : 512;
		char	*q;

		while (cap < s->out_len + n)
			cap *= 2;
		if ((q = realloc(s->out, cap)) == NULL)
			return -ENOMEM;
		s->out = q;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, p, n);
	s->out_len += n;
	return 0;
}

/* Queues one message as one line. */
static int
send_json(struct mcp_session *s, cJSON *msg)
{
	char	*text = cJSON_PrintUnformatted(msg);
	int	 r;

	cJSON_Delete(msg);
	if (text == NULL)
		return -ENOMEM;
	r = out_append(s, text, strlen(text));
	free(text);
	return r < 0 ? r : out_append(s, "\n", 1);
}

static cJSON *
message(const char *method, long id)
{
	cJSON	*m = cJSON_CreateObject();

	cJSON_AddStringToObject(m, "jsonrpc", "2.0");
	if (id > 0)
		cJSON_AddNumberToObject(m, "id", (double)id);
	if (method != NULL)
		cJSON_AddStringToObject(m, "method", method);
	return m;
}

static void
request(struct mcp_session *s, const char *method, cJSON *params)
{
	cJSON	*m = message(method, ++s->next_id);

	if (params != NULL)
		cJSON_AddItemToObject(m, "params", params);
	s->await_id = s->next_id;
	s->await_method = method;
	if (send_json(s, m) < 0)
		fail(s, "out of memory");
}

static void
free_tools(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
start_probe(struct mcp_session *s)
{
	s->state = MCP_PROBING;
	s->pages = 0;
	s->tools_pending = (s->probe & MCP_PROBE_TOOLS) != 0;
	free_tools(s->new_tools, s->new_ntools);
	s->new_tools = NULL;
	s->new_ntools = 0;
	if (s->probe & MCP_PROBE_PING)
		request(s, "ping", NULL);
	else
		request(s, "tools/list", NULL);
	if (s->probe == MCP_PROBE_PING)
		s->tools_pending = false;
}

struct mcp_session *
mcp_session_new(const char *version, enum mcp_probe probe)
{
	struct mcp_session	*s;
	cJSON			*params, *info;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->probe = probe;
	snprintf(s->version, sizeof(s->version), "%s",
	    version != NULL ? version : MCP_DEFAULT_VERSION);
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "protocolVersion", s->version);
	/* no capabilities: declaring roots or sampling invites requests */
	cJSON_AddObjectToObject(params, "capabilities");
	info = cJSON_AddObjectToObject(params, "clientInfo");
	cJSON_AddStringToObject(info, "name", "mcpvisor");
	cJSON_AddStringToObject(info, "version", MCPVISOR_VERSION);
	s->state = MCP_HANDSHAKE;
	request(s, "initialize", params);
	if (s->state == MCP_FAILED) {
		mcp_session_free(s);
		return NULL;
	}
	return s;
}

void
mcp_session_free(struct mcp_session *s)
{
	if (s == NULL)
		return;
	free(s->out);
	free(s->line);
	free(s->init_result);
	free_tools(s->new_tools, s->new_ntools);
	free_tools(s->result.tools, s->result.ntools);
	free(s);
}

const char *
mcp_session_output(const struct mcp_session *s, size_t *len)
{
	*len = s->out_len;
	return s->out;
}

void
mcp_session_consumed(struct mcp_session *s, size_t n)
{
	if (n >= s->out_len) {
		s->out_len = 0;
		return;
	}
	memmove(s->out, s->out + n, s->out_len - n);
	s->out_len -= n;
}

static bool
known_version(const char *v)
{
	for (const char *const *p = mcp_versions; *p != NULL; p++)
		if (strcmp(*p, v) == 0)
			return true;
	return false;
}

static void
on_initialize(struct mcp_session *s, const cJSON *res)
{
	const cJSON	*v = cJSON_GetObjectItem(res, "protocolVersion");
	const cJSON	*info = cJSON_GetObjectItem(res, "serverInfo");
	const cJSON	*caps = cJSON_GetObjectItem(res, "capabilities");

	if (!cJSON_IsString(v) || !cJSON_IsObject(caps)) {
		fail(s, "initialize result lacks protocolVersion or "
		    "capabilities");
		return;
	}
	/* the server may answer with another version; we must speak it */
	if (!known_version(v->valuestring)) {
		fail(s, "server speaks protocol version '%.40s', which "
		    "mcpvisor does not", v->valuestring);
		return;
	}
	snprintf(s->result.protocol_version, sizeof(s->result.protocol_version),
	    "%s", v->valuestring);
	snprintf(s->result.server_name, sizeof(s->result.server_name), "%s",
	    cJSON_GetStringValue(cJSON_GetObjectItem(info, "name")) != NULL ?
	    cJSON_GetStringValue(cJSON_GetObjectItem(info, "name")) : "");
	snprintf(s->result.server_version, sizeof(s->result.server_version),
	    "%s", cJSON_GetStringValue(cJSON_GetObjectItem(info,
	    "version")) != NULL ? cJSON_GetStringValue(cJSON_GetObjectItem(
	    info, "version")) : "");
	s->result.has_tools = cJSON_IsObject(cJSON_GetObjectItem(caps,
	    "tools"));
	free(s->init_result);
	if ((s->init_result = cJSON_PrintUnformatted(res)) == NULL) {
		fail(s, "out of memory");
		return;
	}
	if (send_json(s, message("notifications/initialized", 0)) < 0) {
		fail(s, "out of memory");
		return;
	}
	/* tools/list only where the server offers tools */
	if (!s->result.has_tools)
		s->probe &= ~MCP_PROBE_TOOLS;
	if (s->probe == 0)
		s->probe = MCP_PROBE_PING;
	start_probe(s);
}

static void
on_tools_page(struct mcp_session *s, const cJSON *res)
{
	const cJSON	*tools = cJSON_GetObjectItem(res, "tools"), *t;
	const cJSON	*cursor = cJSON_GetObjectItem(res, "nextCursor");
	size_t		 n = (size_t)cJSON_GetArraySize(tools);
	char		**v;

	if (!cJSON_IsArray(tools)) {
		fail(s, "tools/list result has no tools array");
		return;
	}
	if ((v = realloc(s->new_tools, (s->new_ntools + n + 1) *
	    sizeof(*v))) == NULL) {
		fail(s, "out of memory");
		return;
	}
	s->new_tools = v;
	cJSON_ArrayForEach(t, tools) {
		const char	*name = cJSON_GetStringValue(
				    cJSON_GetObjectItem(t, "name"));

		if (name != NULL && (v[s->new_ntools] = strdup(name)) != NULL)
			s->new_ntools++;
	}
	if (cJSON_IsString(cursor) && cursor->valuestring[0] != '\0') {
		cJSON	*params;

		if (++s->pages >= MCP_TOOL_PAGES_MAX) {
			fail(s, "tools/list has more than %d pages",
			    MCP_TOOL_PAGES_MAX);
			return;
		}
		params = cJSON_CreateObject();
		cJSON_AddStringToObject(params, "cursor", cursor->valuestring);
		request(s, "tools/list", params);
		return;
	}
	free_tools(s->result.tools, s->result.ntools);
	s->result.tools = s->new_tools;
	s->result.ntools = s->new_ntools;
	s->new_tools = NULL;
	s->new_ntools = 0;
	s->state = MCP_IDLE;
}

static void
on_answer(struct mcp_session *s, const cJSON *msg)
{
	const cJSON	*err = cJSON_GetObjectItem(msg, "error");
	const cJSON	*res = cJSON_GetObjectItem(msg, "result");

	if (err != NULL) {
		const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(err,
		    "message"));
		const cJSON *code = cJSON_GetObjectItem(err, "code");

		fail(s, "%s answered error %lld: %.120s", s->await_method,
		    json_int_within(code, INT_MIN, INT_MAX, 0),
		    text != NULL ? text : "");
		return;
	}
	if (!cJSON_IsObject(res)) {
		fail(s, "%s answered without a result object", s->await_method);
		return;
	}
	s->await_id = 0;
	if (strcmp(s->await_method, "initialize") == 0)
		on_initialize(s, res);
	else if (strcmp(s->await_method, "tools/list") == 0)
		on_tools_page(s, res);
	else if (s->tools_pending)	/* ping passed; tools next */
		request(s, "tools/list", NULL);
	else
		s->state = MCP_IDLE;
}

/* A request from the server: ping is answered, the rest refused. */
static void
on_server_request(struct mcp_session *s, const cJSON *msg)
{
	cJSON	*reply = message(NULL, 0), *e;

	cJSON_AddItemToObject(reply, "id", cJSON_Duplicate(
	    cJSON_GetObjectItem(msg, "id"), 1));
	if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(msg, "method")),
	    "ping") == 0)
		cJSON_AddObjectToObject(reply, "result");
	else {
		e = cJSON_AddObjectToObject(reply, "error");
		cJSON_AddNumberToObject(e, "code", -32601);
		cJSON_AddStringToObject(e, "message", "Method not found");
	}
	if (send_json(s, reply) < 0)
		fail(s, "out of memory");
}

static void
on_line(struct mcp_session *s, char *line, size_t len)
{
	cJSON		*msg;
	const cJSON	*id, *method;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	if ((msg = cJSON_ParseWithLength(line, len)) == NULL ||
	    !cJSON_IsObject(msg)) {
		fail(s, "server wrote something that is not JSON-RPC: '%.60s'",
		    line);
		cJSON_Delete(msg);
		return;
	}
	id = cJSON_GetObjectItem(msg, "id");
	method = cJSON_GetObjectItem(msg, "method");
	if (cJSON_IsString(method)) {
		if (id != NULL)
			on_server_request(s, msg);
		/* else a notification: nothing to do */
	} else if (s->await_id > 0 &&
	    json_int_within(id, 1, LONG_MAX, 0) == s->await_id)
		on_answer(s, msg);
	/* an answer to nothing we asked is dropped */
	cJSON_Delete(msg);
}

enum mcp_state
mcp_session_feed(struct mcp_session *s, const char *buf, size_t n)
{
	while (n > 0 && s->state != MCP_FAILED) {
		const char	*nl = memchr(buf, '\n', n);
		size_t		 take = nl != NULL ? (size_t)(nl - buf) : n;

		if (s->line_len + take > MCP_LINE_MAX) {
			fail(s, "server wrote a line longer than %u bytes",
			    MCP_LINE_MAX);
			break;
		}
		if (s->line_len + take + 1 > s->line_cap) {
			size_t	 cap = s->line_cap ? s->line_cap : 4096;
			char	*p;

			while (cap < s->line_len + take + 1)
				cap *= 2;
			if ((p = realloc(s->line, cap)) == NULL) {
				fail(s, "out of memory");
				break;
			}
			s->line = p;
			s->line_cap = cap;
		}
		memcpy(s->line + s->line_len, buf, take);
		s->line_len += take;
		buf += take;
		n -= take;
		if (nl == NULL)
			break;
		buf++;
		n--;
		s->line[s->line_len] = '\0';
		on_line(s, s->line, s->line_len);
		s->line_len = 0;
	}
	/* a buffer grown for one huge line is not kept for the session */
	if (s->line_len == 0 && s->line_cap > 65536) {
		free(s->line);
		s->line = NULL;
		s->line_cap = 0;
	}
	return s->state;
}

enum mcp_state
mcp_session_eof(struct mcp_session *s)
{
	if (s->state != MCP_FAILED)
		fail(s, "server closed its output%s",
		    s->state == MCP_HANDSHAKE ? " during the handshake" : "");
	return s->state;
}

int
mcp_session_probe(struct mcp_session *s)
{
	if (s->state == MCP_FAILED)
		return -EPIPE;
	if (s->state != MCP_IDLE)
		return -EBUSY;
	start_probe(s);
	return 0;
}

void
mcp_session_fail(struct mcp_session *s, const char *why)
{
	fail(s, "%s", why);
}

enum mcp_state
mcp_session_state(const struct mcp_session *s)
{
	return s->state;
}

const struct mcp_result *
mcp_session_result(const struct mcp_session *s)
{
	return &s->result;
}

const char *
mcp_session_init_result(const struct mcp_session *s)
{
	return s->state != MCP_HANDSHAKE && s->state != MCP_FAILED ?
	    s->init_result : NULL;
}

bool
mcp_session_has_tool(const struct mcp_session *s, const char *tool)
{
	for (size_t i = 0; i < s->result.ntools; i++)
		if (strcmp(s->result.tools[i], tool) == 0)
			return true;
	return false;
}
