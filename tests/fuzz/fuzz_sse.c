/*
 * libFuzzer target for the Streamable HTTP answer path: the input is an
 * event stream (as a server sends it to a POST), fed in pieces whose
 * sizes the first byte picks into the SSE reader, whose events go to an
 * MCP session as JSON-RPC messages, exactly as health_curl.c does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mcp.h"
#include "sse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static bool
on_event(void *arg, const char *data, size_t len)
{
	struct mcp_session	*s = arg;
	size_t			 pending;

	mcp_session_feed(s, data, len);
	mcp_session_feed(s, "\n", 1);
	(void)mcp_session_output(s, &pending);
	mcp_session_consumed(s, pending);
	if (mcp_session_state(s) == MCP_IDLE)
		(void)mcp_session_probe(s);
	return mcp_session_state(s) != MCP_FAILED;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mcp_session	*s;
	struct sse_reader	 r;
	size_t			 piece;

	if (size < 1)
		return 0;
	piece = (size_t)data[0] * 3 + 1;
	if ((s = mcp_session_new(NULL, (enum mcp_probe)(data[0] % 3 + 1))) ==
	    NULL)
		return 0;
	sse_reader_init(&r, on_event, s);
	for (size_t off = 1; off < size; off += piece)
		if (sse_feed(&r, (const char *)data + off, size - off < piece ?
		    size - off : piece) != 0)
			break;
	sse_reader_clear(&r);
	mcp_session_free(s);
	return 0;
}
