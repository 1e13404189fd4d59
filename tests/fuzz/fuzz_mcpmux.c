/*
 * libFuzzer target for the session multiplexer (shared/mcpmux.c): the
 * input is a script of operations, one per line: the first byte picks
 * what (open, close, a client's message, a server's line, the server
 * ready or gone, a tool filter) and the second the session; the rest of the line is
 * the message. Whatever the multiplexer sends to the server is echoed
 * back as its answer now and then, so that ids and tokens it made come
 * back through the mapping.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mcpmux.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	*last_to_server;

static int
to_server(void *arg, const char *json, size_t len)
{
	(void)arg;
	free(last_to_server);
	last_to_server = strndup(json, len);
	return len % 17 == 0 ? -1 : 0;	/* a full input, now and then */
}

static void
to_session(void *arg, uint32_t sid, const char *json, size_t len)
{
	(void)arg;
	(void)sid;
	(void)json;
	(void)len;
}

/* The last request sent, answered as the server would. */
static void
answer_last(struct mcpmux *m)
{
	cJSON	*rq = last_to_server != NULL ? cJSON_Parse(last_to_server) :
		    NULL;
	cJSON	*id = cJSON_DetachItemFromObject(rq, "id"), *a;
	char	*text;

	cJSON_Delete(rq);
	if (id == NULL)
		return;
	a = cJSON_CreateObject();
	cJSON_AddStringToObject(a, "jsonrpc", "2.0");
	cJSON_AddItemToObject(a, "id", id);
	cJSON_AddObjectToObject(a, "result");
	if ((text = cJSON_PrintUnformatted(a)) != NULL)
		mcpmux_from_server(m, text, strlen(text));
	free(text);
	cJSON_Delete(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mux_ops ops = { to_server, to_session };
	static const char init[] = "{\"protocolVersion\":\"2025-11-25\","
	    "\"capabilities\":{}}";
	struct mcpmux	*m = mcpmux_new(&ops, NULL);
	size_t		 off = 0;

	if (m == NULL)
		return 0;
	while (off + 2 <= size) {
		const uint8_t	*line = data + off + 2;
		const uint8_t	*nl = memchr(line, '\n', size - off - 2);
		size_t		 len = nl != NULL ? (size_t)(nl - line) :
				    size - off - 2;
		uint32_t	 sid = data[off + 1] % 8;

		switch (data[off] % 8) {
		case 0:	mcpmux_open(m, sid); break;
		case 1:	mcpmux_close(m, sid); break;
		case 2:
			mcpmux_from_client(m, sid, (const char *)line, len);
			break;
		case 3:
			mcpmux_from_server(m, (const char *)line, len);
			break;
		case 4:	mcpmux_server_ready(m, init, sizeof(init) - 1); break;
		case 5:	mcpmux_server_gone(m, "fuzz"); break;
		case 6:	answer_last(m); break;
		case 7: {
			static const char *const allow[] = { "echo", "x" };
			static const char *const deny[] = { "x" };

			mcpmux_filter_tools(m, sid % 2 ? allow : NULL, 2, deny,
			    sid % 3 ? 1 : 0);
			break;
		}
		}
		off += 2 + len + (nl != NULL);
	}
	mcpmux_close_all(m);
	mcpmux_free(m);
	free(last_to_server);
	last_to_server = NULL;
	return 0;
}
