/*
 * libFuzzer target for the monitor's hub: the input is a run of frames
 * as mcpvisord sends them to the monitor (type byte, 2-byte length, JSON),
 * fed to the hub, which then serves a new client's snapshot and /metrics.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "hub.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t	 types[] = { FRAME_EVENT, FRAME_RECORD,
				    FRAME_METRICS };
	struct hub		 h;
	struct hub_msg		*v;
	size_t			 n;

	if (hub_init(&h, 8, 16) < 0)
		return 0;
	while (size >= 3) {
		size_t	 len = (size_t)data[1] << 8 | data[2];
		cJSON	*j;

		if (len > size - 3)
			len = size - 3;
		if ((j = cJSON_ParseWithLength((const char *)data + 3, len)) !=
		    NULL) {
			hub_feed(&h, types[data[0] % 3], j);
			cJSON_Delete(j);
		}
		data += 3 + len;
		size -= 3 + len;
	}
	v = hub_snapshot(&h, &n);
	hub_msgs_free(v, n);
	free(hub_prometheus(&h, &n));
	for (uint64_t s = hub_oldest(&h); s < h.next_seq; s++)
		if (hub_get(&h, s) == NULL)
			abort();
	hub_free(&h);
	return 0;
}
