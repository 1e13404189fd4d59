/* Tests of shared/mcpmux.c: sessions sharing one server's session, each
 * getting its own answers, progress and requests of the server. What the
 * multiplexer sends is captured; the "server" is the test. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "mcpmux.h"

#define SENT_MAX	64

struct capture {
	char		*to_server[SENT_MAX];
	size_t		 nserver;
	char		*to_session[SENT_MAX];
	uint32_t	 sid[SENT_MAX];
	size_t		 nsession;
	int		 server_refuses;
};

static int
cap_server(void *arg, const char *json, size_t len)
{
	struct capture	*c = arg;

	if (c->server_refuses)
		return -1;
	assert_true(c->nserver < SENT_MAX);
	c->to_server[c->nserver++] = strndup(json, len);
	return 0;
}

static void
cap_session(void *arg, uint32_t sid, const char *json, size_t len)
{
	struct capture	*c = arg;

	assert_true(c->nsession < SENT_MAX);
	c->sid[c->nsession] = sid;
	c->to_session[c->nsession++] = strndup(json, len);
}

static void
cap_clear(struct capture *c)
{
	for (size_t i = 0; i < c->nserver; i++)
		free(c->to_server[i]);
	for (size_t i = 0; i < c->nsession; i++)
		free(c->to_session[i]);
	memset(c, 0, sizeof(*c));
}

static const struct mux_ops ops = { cap_server, cap_session };
static const char init_result[] = "{\"protocolVersion\":\"2025-06-18\","
    "\"capabilities\":{\"tools\":{}},\"serverInfo\":{\"name\":\"fake\","
    "\"version\":\"1\"},\"instructions\":\"be kind\"}";

static struct mcpmux *
ready_mux(struct capture *c)
{
	struct mcpmux	*m = mcpmux_new(&ops, c);

	assert_non_null(m);
	assert_int_equal(mcpmux_server_ready(m, init_result,
	    strlen(init_result)), 0);
	return m;
}

static void
client(struct mcpmux *m, uint32_t sid, const char *json)
{
	mcpmux_from_client(m, sid, json, strlen(json));
}

static enum mux_verdict
server(struct mcpmux *m, const char *json)
{
	return mcpmux_from_server(m, json, strlen(json));
}

/* A string field of a message, or "". */
static const char *
field(const char *json, const char *path1, const char *path2,
    char *buf, size_t size)
{
	cJSON		*o = cJSON_Parse(json);
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, path1);
	char		*text;

	if (path2 != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, path2);
	text = v != NULL ? cJSON_PrintUnformatted(v) : NULL;
	snprintf(buf, size, "%s", text != NULL ? text : "");
	free(text);
	cJSON_Delete(o);
	return buf;
}

static void
test_initialize_is_answered_from_the_handshake(void **state)
{
	struct capture	 c = { 0 };
	struct mcpmux	*m = ready_mux(&c);
	char		 b[256];

	(void)state;
	assert_int_equal(mcpmux_open(m, 7), 0);
	client(m, 7, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":"
	    "\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\"}}");
	client(m, 7, "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/initialized\"}");
	assert_int_equal(c.nserver, 0);		/* the process was, once */
	assert_int_equal(c.nsession, 1);
	assert_int_equal(c.sid[0], 7);
	assert_string_equal(field(c.to_session[0], "id", NULL, b, sizeof(b)),
	    "\"a\"");
	assert_string_equal(field(c.to_session[0], "result", "protocolVersion",
	    b, sizeof(b)), "\"2025-06-18\"");
	assert_string_equal(field(c.to_session[0], "result", "instructions",
	    b, sizeof(b)), "\"be kind\"");
	assert_string_equal(mcpmux_protocol_version(m), "2025-06-18");
	mcpmux_free(m);
	cap_clear(&c);
}

static void
test_ids_never_collide_and_map_back(void **state)
{
	struct capture	 c = { 0 };
	struct mcpmux	*m = ready_mux(&c);
	char		 id1[64], id2[64], b[64], answer[160];

	(void)state;
	mcpmux_open(m, 1);
	mcpmux_open(m, 2);
	/* both sessions use id 1 */
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	client(m, 2, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
	assert_int_equal(c.nserver, 2);
	field(c.to_server[0], "id", NULL, id1, sizeof(id1));
	field(c.to_server[1], "id", NULL, id2, sizeof(id2));
	assert_string_not_equal(id1, id2);
	assert_int_equal(mcpmux_in_flight(m), 2);
	/* answered in the other order */
	snprintf(answer, sizeof(answer), "{\"jsonrpc\":\"2.0\",\"id\":%s,"
	    "\"result\":{\"n\":2}}", id2);
	assert_int_equal(server(m, answer), MUX_TAKEN);
	snprintf(answer, sizeof(answer), "{\"jsonrpc\":\"2.0\",\"id\":%s,"
	    "\"result\":{\"n\":1}}", id1);
	assert_int_equal(server(m, answer), MUX_TAKEN);
	assert_int_equal(c.nsession, 2);
	assert_int_equal(c.sid[0], 2);
	assert_string_equal(field(c.to_session[0], "id", NULL, b, sizeof(b)),
	    "1");
	assert_string_equal(field(c.to_session[0], "result", "n", b,
	    sizeof(b)), "2");
	assert_int_equal(c.sid[1], 1);
	assert_string_equal(field(c.to_session[1], "result", "n", b,
	    sizeof(b)), "1");
	assert_int_equal(mcpmux_in_flight(m), 0);
	/* the health engine's own answers are not ours */
	assert_int_equal(server(m, "{\"jsonrpc\":\"2.0\",\"id\":3,"
	    "\"result\":{}}"), MUX_NOT_MINE);
	mcpmux_free(m);
	cap_clear(&c);
}

static void
test_progress_and_cancel_per_session(void **state)
{
	struct capture	 c = { 0 };
	struct mcpmux	*m = ready_mux(&c);
	char		 token[64], id[64], b[64], msg[256];

	(void)state;
	mcpmux_open(m, 1);
	mcpmux_open(m, 2);
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"slow\",\"_meta\":{\"progressToken\":5}}}");
	client(m, 2, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"slow\",\"_meta\":{\"progressToken\":5}}}");
	field(c.to_server[1], "params", "_meta", b, sizeof(b));
	assert_non_null(strstr(b, "mvp-"));
	{
		cJSON	*o = cJSON_Parse(c.to_server[1]);
		char	*t = cJSON_PrintUnformatted(cJSON_GetObjectItem(
			    cJSON_GetObjectItem(cJSON_GetObjectItem(o,
			    "params"), "_meta"), "progressToken"));

		snprintf(token, sizeof(token), "%s", t);
		free(t);
		cJSON_Delete(o);
	}
	field(c.to_server[1], "id", NULL, id, sizeof(id));
	snprintf(msg, sizeof(msg), "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/progress\",\"params\":{\"progressToken\":%s,"
	    "\"progress\":1,\"total\":2}}", token);
	assert_int_equal(server(m, msg), MUX_TAKEN);
	assert_int_equal(c.nsession, 1);
	assert_int_equal(c.sid[0], 2);		/* only its caller */
	assert_string_equal(field(c.to_session[0], "params", "progressToken",
	    b, sizeof(b)), "5");
	/* session 2 cancels its request 5: the server hears of its own id */
	client(m, 2, "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/cancelled\",\"params\":{\"requestId\":5}}");
	assert_int_equal(c.nserver, 3);
	assert_string_equal(field(c.to_server[2], "params", "requestId", b,
	    sizeof(b)), id);
	/* an unknown token is the health engine's business */
	assert_int_equal(server(m, "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/progress\",\"params\":{\"progressToken\":"
	    "\"other\"}}"), MUX_NOT_MINE);
	mcpmux_free(m);
	cap_clear(&c);
}

static void
test_server_requests_go_to_the_one_busy_session(void **state)
{
	struct capture	 c = { 0 };
	struct mcpmux	*m = ready_mux(&c);
	char		 b[256];

	(void)state;
	mcpmux_open(m, 1);
	mcpmux_open(m, 2);
	/* nobody busy: refused with a reason */
	assert_int_equal(server(m, "{\"jsonrpc\":\"2.0\",\"id\":70,\"method\":"
	    "\"sampling/createMessage\"}"), MUX_TAKEN);
	assert_int_equal(c.nserver, 1);
	assert_non_null(strstr(field(c.to_server[0], "error", "message", b,
	    sizeof(b)), "no client request is in flight"));
	/* session 2 busy: it gets the request, and its answer goes back */
	client(m, 2, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\"}");
	assert_int_equal(server(m, "{\"jsonrpc\":\"2.0\",\"id\":71,\"method\":"
	    "\"sampling/createMessage\"}"), MUX_TAKEN);
	assert_int_equal(c.nsession, 1);
	assert_int_equal(c.sid[0], 2);
	/* session 1 cannot answer what it was not asked */
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":71,\"result\":{}}");
	assert_int_equal(c.nserver, 2);
	client(m, 2, "{\"jsonrpc\":\"2.0\",\"id\":71,\"result\":{\"ok\":1}}");
	assert_int_equal(c.nserver, 3);
	assert_string_equal(field(c.to_server[2], "id", NULL, b, sizeof(b)),
	    "71");
	/* two busy: refused, saying why */
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\"}");
	server(m, "{\"jsonrpc\":\"2.0\",\"id\":72,\"method\":\"roots/list\"}");
	assert_non_null(strstr(c.to_server[c.nserver - 1], "cannot be told"));
	/* ping stays the health engine's */
	assert_int_equal(server(m, "{\"jsonrpc\":\"2.0\",\"id\":73,\"method\":"
	    "\"ping\"}"), MUX_NOT_MINE);
	mcpmux_free(m);
	cap_clear(&c);
}

static void
test_broadcast_close_and_gone(void **state)
{
	struct capture	 c = { 0 };
	struct mcpmux	*m = ready_mux(&c);
	char		 b[256];

	(void)state;
	/* no sessions: a notification is the engine's */
	assert_int_equal(server(m, "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/tools/list_changed\"}"), MUX_NOT_MINE);
	mcpmux_open(m, 1);
	mcpmux_open(m, 2);
	assert_int_equal(mcpmux_open(m, 2), -EEXIST);
	assert_int_equal(mcpmux_open(m, 0), -EEXIST);
	assert_int_equal(server(m, "{\"jsonrpc\":\"2.0\",\"method\":"
	    "\"notifications/tools/list_changed\"}"), MUX_TAKEN);
	assert_int_equal(c.nsession, 1);
	assert_int_equal(c.sid[0], 0);		/* for every session */
	/* a session that ends has its requests cancelled at the server */
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}");
	mcpmux_close(m, 1);
	assert_false(mcpmux_is_open(m, 1));
	assert_string_equal(field(c.to_server[c.nserver - 1], "method", NULL,
	    b, sizeof(b)), "\"notifications/cancelled\"");
	assert_int_equal(mcpmux_in_flight(m), 0);
	/* the process goes: what is in flight fails at once, sessions end */
	client(m, 2, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":"
	    "\"tools/call\"}");
	c.nsession = 0;
	free(c.to_session[0]);
	mcpmux_server_gone(m, "killed");
	assert_int_equal(c.nsession, 1);
	assert_int_equal(c.sid[0], 2);
	assert_non_null(strstr(c.to_session[0], "the server process ended: "
	    "killed"));
	assert_string_equal(field(c.to_session[0], "id", NULL, b, sizeof(b)),
	    "\"x\"");
	assert_int_equal(mcpmux_sessions(m), 0);
	assert_false(mcpmux_has_server(m));
	mcpmux_free(m);
	cap_clear(&c);
}

static void
test_limits_and_refusals(void **state)
{
	struct capture	 c = { 0 };
	struct mcpmux	*m = mcpmux_new(&ops, &c);
	char		 rq[96];

	(void)state;
	assert_int_equal(mcpmux_server_ready(m, "[]", 2), -EINVAL);
	assert_int_equal(mcpmux_server_ready(m, "{\"capabilities\":{}}", 19),
	    -EINVAL);
	mcpmux_open(m, 1);
	/* before the process's handshake, nothing goes */
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}");
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
	assert_int_equal(c.nserver, 0);
	assert_int_equal(c.nsession, 2);
	assert_non_null(strstr(c.to_session[1], "not ready"));
	cap_clear(&c);
	assert_int_equal(mcpmux_server_ready(m, init_result,
	    strlen(init_result)), 0);
	/* ids that are no ids, and messages of no session, go nowhere */
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}");
	client(m, 9, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	client(m, 1, "not json");
	assert_int_equal(c.nserver + c.nsession, 0);
	/* the most in flight, then a clear refusal */
	for (int i = 0; i < MUX_SESSION_IN_FLIGHT_MAX; i++) {
		snprintf(rq, sizeof(rq), "{\"jsonrpc\":\"2.0\",\"id\":%d,"
		    "\"method\":\"ping\"}", i);
		client(m, 1, rq);
		free(c.to_server[0]);
		c.nserver = 0;
	}
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":999,\"method\":\"ping\"}");
	assert_int_equal(c.nsession, 1);
	assert_non_null(strstr(c.to_session[0], "in flight already"));
	/* a server input that takes nothing: the request fails at once */
	mcpmux_close(m, 1);
	cap_clear(&c);
	mcpmux_open(m, 3);
	c.server_refuses = 1;
	client(m, 3, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
	assert_int_equal(c.nsession, 1);
	assert_non_null(strstr(c.to_session[0], "does not take input"));
	assert_int_equal(mcpmux_in_flight(m), 0);
	mcpmux_free(m);
	cap_clear(&c);
}

static void
test_tool_filter(void **state)
{
	struct capture		 c = { 0 };
	struct mcpmux		*m = ready_mux(&c);
	const char *const	 allow[] = { "echo", "sum", "secret" };
	const char *const	 deny[] = { "secret" };
	char			 id[64], answer[320];

	(void)state;
	assert_int_equal(mcpmux_filter_tools(m, allow, 3, deny, 1), 0);
	mcpmux_open(m, 1);
	/* a tool not let through is refused before the server sees it */
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"secret\"}}");
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"rm\"}}");
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\"}");
	assert_int_equal(c.nserver, 0);
	assert_int_equal(c.nsession, 3);
	assert_non_null(strstr(c.to_session[0], "tool 'secret' is not offered"));
	assert_non_null(strstr(c.to_session[1], "-32602"));
	/* one that is goes */
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"echo\"}}");
	assert_int_equal(c.nserver, 1);
	/* tools/list: the others are not shown */
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\"}");
	field(c.to_server[1], "id", NULL, id, sizeof(id));
	snprintf(answer, sizeof(answer), "{\"jsonrpc\":\"2.0\",\"id\":%s,"
	    "\"result\":{\"tools\":[{\"name\":\"echo\"},{\"name\":\"rm\"},"
	    "{\"name\":\"secret\"},{\"name\":\"sum\"},{}]}}", id);
	assert_int_equal(server(m, answer), MUX_TAKEN);
	{
		cJSON		*o = cJSON_Parse(c.to_session[3]);
		const cJSON	*tools = cJSON_GetObjectItem(
				    cJSON_GetObjectItem(o, "result"), "tools");

		assert_int_equal(cJSON_GetArraySize(tools), 2);
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetArrayItem(tools, 0), "name")), "echo");
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetArrayItem(tools, 1), "name")), "sum");
		cJSON_Delete(o);
	}
	/* deny alone: every tool but those */
	assert_int_equal(mcpmux_filter_tools(m, NULL, 0, deny, 1), 0);
	client(m, 1, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\","
	    "\"params\":{\"name\":\"rm\"}}");
	assert_int_equal(c.nserver, 3);
	mcpmux_free(m);
	cap_clear(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_initialize_is_answered_from_the_handshake),
		cmocka_unit_test(test_ids_never_collide_and_map_back),
		cmocka_unit_test(test_progress_and_cancel_per_session),
		cmocka_unit_test(test_server_requests_go_to_the_one_busy_session),
		cmocka_unit_test(test_broadcast_close_and_gone),
		cmocka_unit_test(test_limits_and_refusals),
		cmocka_unit_test(test_tool_filter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
