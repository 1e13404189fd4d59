/*
 * What a client sent, judged before anything is done with it: one
 * JSON-RPC 2.0 message (a request, a notification, or an answer to a
 * request of the server), with keys matched as written. And the two
 * header checks that need no connection: Origin and the protocol
 * version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "gateway.h"

static const char *const versions[] = { "2025-11-25", "2025-06-18",
    "2025-03-26", "2024-11-05", NULL };

bool
gw_version_known(const char *v)
{
	for (const char *const *p = versions; *p != NULL; p++)
		if (strcmp(*p, v) == 0)
			return true;
	return false;
}

static void
invalid(struct gw_message *m, const char *why)
{
	m->kind = GW_INVALID;
	snprintf(m->why, sizeof(m->why), "%s", why);
}

void
gw_message_judge(const char *body, size_t len, struct gw_message *m)
{
	cJSON		*msg = cJSON_ParseWithLength(body, len);
	const cJSON	*id, *method, *version;

	memset(m, 0, sizeof(*m));
	if (msg == NULL) {
		m->kind = GW_UNPARSABLE;
		snprintf(m->why, sizeof(m->why), "the body is not JSON");
		return;
	}
	if (cJSON_IsArray(msg)) {
		m->kind = GW_BATCH;
		snprintf(m->why, sizeof(m->why), "batches are not served "
		    "(MCP removed them in 2025-06-18): one message per POST");
		cJSON_Delete(msg);
		return;
	}
	version = cJSON_GetObjectItemCaseSensitive(msg, "jsonrpc");
	id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	method = cJSON_GetObjectItemCaseSensitive(msg, "method");
	if (!cJSON_IsObject(msg))
		invalid(m, "the body is not a JSON-RPC message (an object)");
	else if (!cJSON_IsString(version) ||
	    strcmp(version->valuestring, "2.0") != 0)
		invalid(m, "\"jsonrpc\" is not \"2.0\"");
	else if (id != NULL && !cJSON_IsString(id) && !cJSON_IsNumber(id))
		invalid(m, "\"id\" is neither a string nor a number");
	else if (method != NULL && (!cJSON_IsString(method) ||
	    method->valuestring[0] == '\0' ||
	    strlen(method->valuestring) >= sizeof(m->method)))
		invalid(m, "\"method\" is not a name");
	else if (method != NULL) {
		m->kind = id != NULL ? GW_REQUEST : GW_NOTIFICATION;
		snprintf(m->method, sizeof(m->method), "%s",
		    method->valuestring);
	} else if (id != NULL &&
	    (cJSON_GetObjectItemCaseSensitive(msg, "result") != NULL) !=
	    (cJSON_GetObjectItemCaseSensitive(msg, "error") != NULL))
		m->kind = GW_RESPONSE;
	else
		invalid(m, "neither a request, a notification nor an answer");
	if ((m->kind == GW_REQUEST || m->kind == GW_RESPONSE) &&
	    (m->id = cJSON_PrintUnformatted(id)) == NULL)
		invalid(m, "out of memory");
	cJSON_Delete(msg);
}

void
gw_message_clear(struct gw_message *m)
{
	free(m->id);
	m->id = NULL;
}

char *
gw_message_answer_id(const char *json, size_t len, bool *answer)
{
	cJSON	*msg = cJSON_ParseWithLength(json, len);
	cJSON	*id = cJSON_GetObjectItemCaseSensitive(msg, "id");
	char	*text = NULL;

	*answer = cJSON_IsObject(msg) &&
	    cJSON_GetObjectItemCaseSensitive(msg, "method") == NULL;
	if (id != NULL && (cJSON_IsString(id) || cJSON_IsNumber(id)))
		text = cJSON_PrintUnformatted(id);
	cJSON_Delete(msg);
	return text;
}

/* scheme://host[:port] with nothing after but an optional "/". */
bool
gw_origin_allowed(const char *origin, const char *bind, unsigned port)
{
	static const char *const loopback[] = { "127.0.0.1", "localhost",
	    "[::1]", NULL };
	const char	*host, *end;
	char		 want[80], name[80];
	size_t		 hlen;

	if (strncasecmp(origin, "http://", 7) != 0)
		return false;
	host = origin + 7;
	end = host + strcspn(host, "/");
	if (*end != '\0' && strcmp(end, "/") != 0)
		return false;
	hlen = (size_t)(end - host);
	snprintf(want, sizeof(want), ":%u", port);
	if (hlen <= strlen(want) || strncmp(end - strlen(want), want,
	    strlen(want)) != 0)
		return false;
	hlen -= strlen(want);
	if (hlen >= sizeof(name))
		return false;
	memcpy(name, host, hlen);
	name[hlen] = '\0';
	for (const char *const *p = loopback; *p != NULL; p++)
		if (strcasecmp(name, *p) == 0)
			return true;
	/* the address we are bound to, when it is a particular one */
	if (strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0)
		return false;
	if (strchr(bind, ':') != NULL)
		return hlen == strlen(bind) + 2 && name[0] == '[' &&
		    strncasecmp(name + 1, bind, strlen(bind)) == 0 &&
		    name[hlen - 1] == ']';
	return strcasecmp(name, bind) == 0;
}
