/* Tests of shared/mcp.c: canned transcripts for each awkward case, then
 * the official reference servers from npm, spoken to over real pipes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "mcp.h"

/* What the session wants to send, as one string; then marked sent. */
static char *
take_output(struct mcp_session *s)
{
	size_t		 len;
	const char	*p = mcp_session_output(s, &len);
	char		*copy = strndup(p != NULL ? p : "", len);

	mcp_session_consumed(s, len);
	return copy;
}

static void
feed(struct mcp_session *s, const char *text)
{
	mcp_session_feed(s, text, strlen(text));
}

static const char init_reply[] =
    "{\"result\":{\"serverInfo\":{\"version\":\"1.2\",\"name\":\"fake\"},"
    "\"capabilities\":{\"tools\":{\"listChanged\":true}},"
    "\"protocolVersion\":\"2025-11-25\"},\"jsonrpc\":\"2.0\",\"id\":1}\n";

static void
test_handshake_with_everything_awkward(void **state)
{
	struct mcp_session	*s = mcp_session_new(NULL, MCP_PROBE_BOTH);
	char			*out;
	char			*big;
	size_t			 bign = 1 << 20;

	(void)state;
	out = take_output(s);
	assert_non_null(strstr(out, "\"method\":\"initialize\""));
	assert_non_null(strstr(out, "\"protocolVersion\":\"2025-11-25\""));
	assert_non_null(strstr(out, "\"capabilities\":{}"));
	free(out);
	/* a notification and a log line's worth of noise come first */
	feed(s, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
	    "\"params\":{\"level\":\"info\"}}\r\n\n");
	feed(s, init_reply);
	assert_int_equal(mcp_session_state(s), MCP_PROBING);
	out = take_output(s);
	assert_non_null(strstr(out, "notifications/initialized"));
	assert_non_null(strstr(out, "\"method\":\"ping\""));
	free(out);
	/* the server asks us something before it answers */
	feed(s, "{\"method\":\"ping\",\"id\":\"srv-7\",\"jsonrpc\":\"2.0\"}\n");
	feed(s, "{\"method\":\"roots/list\",\"id\":8,\"jsonrpc\":\"2.0\"}\n");
	out = take_output(s);
	assert_non_null(strstr(out, "{\"jsonrpc\":\"2.0\",\"id\":\"srv-7\","
	    "\"result\":{}}"));
	assert_non_null(strstr(out, "\"id\":8,\"error\":{\"code\":-32601"));
	free(out);
	feed(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n");
	out = take_output(s);
	assert_non_null(strstr(out, "\"method\":\"tools/list\""));
	free(out);
	/* two pages, the first a megabyte long, fed in pieces */
	big = malloc(bign + 200);
	snprintf(big, 200, "{\"id\":3,\"jsonrpc\":\"2.0\",\"result\":{"
	    "\"nextCursor\":\"p2\",\"tools\":[{\"name\":\"echo\","
	    "\"description\":\"");
	memset(big + strlen(big), 'x', bign);
	big[strlen("{\"id\":3,\"jsonrpc\":\"2.0\",\"result\":{\"nextCursor\":"
	    "\"p2\",\"tools\":[{\"name\":\"echo\",\"description\":\"") + bign] =
	    '\0';
	strcat(big, "\"}]}}\n");
	for (size_t off = 0, len = strlen(big); off < len; off += 4093)
		mcp_session_feed(s, big + off, len - off < 4093 ? len - off :
		    4093);
	free(big);
	out = take_output(s);
	assert_non_null(strstr(out, "\"cursor\":\"p2\""));
	free(out);
	feed(s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"tools\":["
	    "{\"name\":\"get-sum\"}]}}\n");
	assert_int_equal(mcp_session_state(s), MCP_IDLE);
	assert_string_equal(mcp_session_result(s)->protocol_version,
	    "2025-11-25");
	assert_string_equal(mcp_session_result(s)->server_name, "fake");
	assert_true(mcp_session_has_tool(s, "echo"));
	assert_true(mcp_session_has_tool(s, "get-sum"));
	assert_int_equal(mcp_session_result(s)->ntools, 2);
	/* liveness: the probe again on the same session */
	assert_int_equal(mcp_session_probe(s), 0);
	assert_int_equal(mcp_session_probe(s), -EBUSY);
	mcp_session_free(s);
}

static void
test_byte_at_a_time(void **state)
{
	struct mcp_session	*s = mcp_session_new("2025-06-18",
				    MCP_PROBE_PING);

	(void)state;
	free(take_output(s));
	for (const char *p = init_reply; *p != '\0'; p++)
		mcp_session_feed(s, p, 1);
	feed(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n");
	assert_int_equal(mcp_session_state(s), MCP_IDLE);
	mcp_session_free(s);
}

static void
expect_failure(const char *reply, const char *fragment)
{
	struct mcp_session	*s = mcp_session_new(NULL, MCP_PROBE_PING);

	free(take_output(s));
	feed(s, reply);
	assert_int_equal(mcp_session_state(s), MCP_FAILED);
	if (strstr(mcp_session_result(s)->error, fragment) == NULL)
		fail_msg("error '%s' lacks '%s'", mcp_session_result(s)->error,
		    fragment);
	mcp_session_free(s);
}

static void
test_failures_say_why(void **state)
{
	(void)state;
	expect_failure("Starting server on port 3001...\n", "not JSON-RPC");
	expect_failure("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":"
	    "-32602,\"message\":\"bad params\"}}\n",
	    "initialize answered error -32602: bad params");
	expect_failure("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{"
	    "\"protocolVersion\":\"1999-01-01\",\"capabilities\":{}}}\n",
	    "protocol version '1999-01-01'");
	expect_failure("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":42}\n",
	    "without a result object");
}

static void
test_eof_and_flood(void **state)
{
	struct mcp_session	*s = mcp_session_new(NULL, MCP_PROBE_PING);
	char			*chunk = malloc(1 << 20);

	(void)state;
	assert_int_equal(mcp_session_eof(s), MCP_FAILED);
	assert_non_null(strstr(mcp_session_result(s)->error,
	    "closed its output during the handshake"));
	mcp_session_free(s);
	/* a line that never ends is cut off at MCP_LINE_MAX */
	s = mcp_session_new(NULL, MCP_PROBE_PING);
	memset(chunk, '{', 1 << 20);
	for (int i = 0; i < 17 && mcp_session_state(s) != MCP_FAILED; i++)
		mcp_session_feed(s, chunk, 1 << 20);
	assert_int_equal(mcp_session_state(s), MCP_FAILED);
	assert_non_null(strstr(mcp_session_result(s)->error, "longer than"));
	mcp_session_free(s);
	free(chunk);
}

/* --- the real servers --- */

struct child {
	pid_t	pid;
	int	in;	/* its stdin */
	int	out;	/* its stdout */
};

static int
spawn(struct child *c, const char *bin, const char *arg, const char *key)
{
	int	in[2], out[2];

	if (access(bin, X_OK) != 0)
		return -1;
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	if ((c->pid = fork()) == 0) {
		int	null = open("/dev/null", O_WRONLY);

		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(null, 2);
		if (key != NULL)
			setenv("BRAVE_API_KEY", key, 1);
		else
			unsetenv("BRAVE_API_KEY");
		execl(bin, bin, arg, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	c->in = in[1];
	c->out = out[0];
	return 0;
}

/* Drives s with c until it is idle or failed, or 30 s pass. */
static enum mcp_state
drive(struct mcp_session *s, struct child *c)
{
	time_t	end = time(NULL) + 30;
	char	buf[65536];

	while (time(NULL) < end) {
		struct pollfd	pfd = { .fd = c->out, .events = POLLIN };
		size_t		len;
		const char	*p = mcp_session_output(s, &len);
		ssize_t		n;

		if (len > 0) {
			n = write(c->in, p, len);
			if (n > 0)
				mcp_session_consumed(s, (size_t)n);
		}
		if (mcp_session_state(s) == MCP_IDLE ||
		    mcp_session_state(s) == MCP_FAILED)
			break;
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		if ((n = read(c->out, buf, sizeof(buf))) <= 0) {
			mcp_session_eof(s);
			break;
		}
		mcp_session_feed(s, buf, (size_t)n);
	}
	return mcp_session_state(s);
}

static void
reap(struct child *c)
{
	int	status;

	close(c->in);
	close(c->out);
	kill(c->pid, SIGTERM);
	waitpid(c->pid, &status, 0);
}

static char *
npm_bin(const char *name)
{
	const char	*src = getenv("MCPVISOR_SOURCE_DIR");
	char		*path;

	if (asprintf(&path, "%s/deploy/mcp-servers/node_modules/.bin/%s",
	    src != NULL ? src : "..", name) == -1)
		abort();
	return path;
}

static void
test_reference_servers(void **state)
{
	struct {
		const char	*bin;
		const char	*arg;
		const char	*key;
		const char	*version;
		const char	*tool;
	} cases[] = {
		{ "mcp-server-everything", "stdio", NULL, "2025-11-25",
		    "get-sum" },
		{ "mcp-server-memory", NULL, NULL, "2025-11-25",
		    "create_entities" },
		{ "mcp-server-filesystem", "/tmp", NULL, "2025-11-25",
		    "read_text_file" },
		/* it negotiates down to its own version */
		{ "mcp-server-brave-search", NULL, "test-key", "2024-11-05",
		    "brave_web_search" },
	};

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mcp_session	*s = mcp_session_new(NULL,
					    MCP_PROBE_BOTH);
		struct child		 c;
		char			*bin = npm_bin(cases[i].bin);

		if (spawn(&c, bin, cases[i].arg, cases[i].key) < 0)
			fail_msg("%s is not installed: bash "
			    "deploy/install-deps.sh", bin);
		if (drive(s, &c) != MCP_IDLE)
			fail_msg("%s: %s", cases[i].bin,
			    mcp_session_result(s)->error);
		assert_string_equal(mcp_session_result(s)->protocol_version,
		    cases[i].version);
		if (!mcp_session_has_tool(s, cases[i].tool))
			fail_msg("%s lists no %s", cases[i].bin,
			    cases[i].tool);
		/* the same session probes again, as liveness will */
		assert_int_equal(mcp_session_probe(s), 0);
		assert_int_equal(drive(s, &c), MCP_IDLE);
		reap(&c);
		mcp_session_free(s);
		free(bin);
	}
}

static void
test_brave_search_without_key_says_so(void **state)
{
	struct mcp_session	*s = mcp_session_new(NULL, MCP_PROBE_BOTH);
	struct child		 c;
	char			*bin = npm_bin("mcp-server-brave-search");

	(void)state;
	if (spawn(&c, bin, NULL, NULL) < 0)
		fail_msg("%s is not installed", bin);
	assert_int_equal(drive(s, &c), MCP_FAILED);
	assert_non_null(strstr(mcp_session_result(s)->error,
	    "closed its output during the handshake"));
	reap(&c);
	mcp_session_free(s);
	free(bin);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_with_everything_awkward),
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_failures_say_why),
		cmocka_unit_test(test_eof_and_flood),
		cmocka_unit_test(test_reference_servers),
		cmocka_unit_test(test_brave_search_without_key_says_so),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
