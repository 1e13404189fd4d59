/*
 * The worker's words to mcpvisord: frames on its channel (a peer), or
 * nothing once mcpvisord is gone.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "log.h"
#include "peer.h"
#include "worker.h"

void
worker_send(struct worker *w, uint8_t type, const void *p, uint32_t len)
{
	int	r;

	if (w->root_gone)
		return;
	if ((r = peer_send(w->root, type, p, len)) < 0 && r != -EPIPE)
		log_warnx("%s: sending %s: %s", w->name != NULL ? w->name :
		    "worker", frame_type_name(type), strerror(-r));
}

void
worker_send_json(struct worker *w, uint8_t type, cJSON *o)
{
	char	*text = cJSON_PrintUnformatted(o);

	if (text != NULL)
		worker_send(w, type, text, (uint32_t)strlen(text));
	free(text);
	cJSON_Delete(o);
}

void
worker_send_u32(struct worker *w, uint8_t type, uint32_t v)
{
	uint8_t	b[4];

	frame_put_u32(b, v);
	worker_send(w, type, b, 4);
}

void
worker_send_failed(struct worker *w, const char *stage, const char *reason,
    int err)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "stage", stage);
	cJSON_AddStringToObject(o, "reason", reason);
	if (err != 0)
		cJSON_AddStringToObject(o, "errno", strerror(err));
	log_warnx("%s: %s: %s", w->name != NULL ? w->name : "worker", stage,
	    reason);
	worker_send_json(w, FRAME_FAILED, o);
}

