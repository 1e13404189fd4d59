/*
 * libFuzzer target for the MCP session's parser: the input is what a
 * server writes, fed in pieces whose sizes the first byte picks; after
 * each piece whatever the session wants to send is taken.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mcp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mcp_session	*s;
	size_t			 piece, len;

	if (size < 1)
		return 0;
	piece = (size_t)data[0] * 4 + 1;
	if ((s = mcp_session_new(NULL, (enum mcp_probe)(data[0] % 3 + 1))) ==
	    NULL)
		return 0;
	for (size_t off = 1; off < size; off += piece) {
		mcp_session_feed(s, (const char *)data + off,
		    size - off < piece ? size - off : piece);
		(void)mcp_session_output(s, &len);
		mcp_session_consumed(s, len);
		if (mcp_session_state(s) == MCP_IDLE)
			(void)mcp_session_probe(s);
	}
	mcp_session_eof(s);
	mcp_session_free(s);
	return 0;
}
