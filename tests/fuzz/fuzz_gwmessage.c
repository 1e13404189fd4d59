/*
 * libFuzzer target for what the gateway judges of a client before any
 * session sees it (gateway/message.c): the body of a POST, the id of a
 * server's message, an Origin header and a protocol version. The first
 * byte splits the input between them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gw_message	 m;
	char			*text, *id;
	bool			 answer;
	size_t			 cut;

	if (size < 1)
		return 0;
	cut = 1 + (size - 1) * data[0] / 256;
	gw_message_judge((const char *)data + 1, size - 1, &m);
	gw_message_clear(&m);
	if ((id = gw_message_answer_id((const char *)data + 1, size - 1,
	    &answer)) != NULL)
		free(id);
	if ((text = strndup((const char *)data + cut, size - cut)) == NULL)
		return 0;
	(void)gw_origin_allowed(text, "127.0.0.1", 8780);
	(void)gw_origin_allowed(text, "10.1.2.3", 80);
	(void)gw_origin_allowed(text, "fe80::1", 443);
	(void)gw_version_known(text);
	free(text);
	return 0;
}
