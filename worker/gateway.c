/*
 * The gateway's channel of a stdio server's worker: mcpvisord hands us
 * one end of a socket pair (FRAME_GW_ATTACH) whose other end it hands
 * mcpvisor-gateway; client sessions then come and go on it, and their
 * messages pass through the multiplexer (mcpmux.h) onto the server's one
 * MCP session, beside the health engine's. A new pair (the gateway was
 * restarted) ends the sessions of the old one. The gateway hears what
 * state the server is in: "ready" once it is and its handshake is known,
 * "down" when the process or its output went, else "starting".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "health.h"
#include "log.h"
#include "mcpmux.h"
#include "peer.h"
#include "runspec.h"
#include "worker.h"

static void
send_state(struct worker *w, const char *state, const char *reason)
{
	cJSON	*o;

	if (w->gw == NULL)
		return;
	if (strcmp(state, w->gw_state) == 0 && reason == NULL)
		return;
	snprintf(w->gw_state, sizeof(w->gw_state), "%s", state);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "state", state);
	if (w->child.pid > 0)
		cJSON_AddNumberToObject(o, "pid", server_host_pid(w));
	if (w->mux != NULL && mcpmux_has_server(w->mux))
		cJSON_AddStringToObject(o, "protocol_version",
		    mcpmux_protocol_version(w->mux));
	if (reason != NULL)
		cJSON_AddStringToObject(o, "reason", reason);
	(void)peer_send_json(w->gw, FRAME_GW_STATE, o);
	cJSON_Delete(o);
}

void
gateway_server_state(struct worker *w)
{
	if (w->mux != NULL && mcpmux_has_server(w->mux) &&
	    w->state == S_READY)
		send_state(w, "ready", NULL);
	else if (w->child.pid > 0)
		send_state(w, "starting", NULL);
	else
		send_state(w, "down", NULL);
}

static int
mux_to_server(void *arg, const char *json, size_t len)
{
	struct worker	*w = arg;

	return w->health != NULL ? health_stdio_send(w->health, json, len) :
	    -EPIPE;
}

/* An answer too large for a frame becomes an error the client can read:
 * it would otherwise wait for nothing. */
static void
too_large(struct worker *w, uint32_t sid, const char *json, size_t len)
{
	cJSON	*msg = cJSON_ParseWithLength(json, len);
	cJSON	*id = cJSON_DetachItemFromObjectCaseSensitive(msg, "id");
	cJSON	*err, *e;
	char	*text, why[160];
	uint8_t	*buf;

	cJSON_Delete(msg);
	if (id == NULL)
		return;		/* a notification: nobody waits for it */
	snprintf(why, sizeof(why), "the server's answer is %zu bytes, more "
	    "than the gateway carries (%u)", len, FRAME_MAX - 4);
	err = cJSON_CreateObject();
	cJSON_AddStringToObject(err, "jsonrpc", "2.0");
	cJSON_AddItemToObject(err, "id", id);
	e = cJSON_AddObjectToObject(err, "error");
	cJSON_AddNumberToObject(e, "code", -32603);
	cJSON_AddStringToObject(e, "message", why);
	text = cJSON_PrintUnformatted(err);
	cJSON_Delete(err);
	if (text != NULL && (buf = malloc(4 + strlen(text))) != NULL) {
		frame_put_u32(buf, sid);
		memcpy(buf + 4, text, strlen(text));
		(void)peer_send(w->gw, FRAME_GW_SERVER, buf,
		    (uint32_t)(4 + strlen(text)));
		free(buf);
	}
	free(text);
}

static void
mux_to_session(void *arg, uint32_t sid, const char *json, size_t len)
{
	struct worker	*w = arg;
	uint8_t		*buf;

	if (w->gw == NULL)
		return;
	if (len + 4 > FRAME_MAX) {
		too_large(w, sid, json, len);
		return;
	}
	if ((buf = malloc(4 + len)) == NULL)
		return;
	frame_put_u32(buf, sid);
	memcpy(buf + 4, json, len);
	(void)peer_send(w->gw, FRAME_GW_SERVER, buf, (uint32_t)(4 + len));
	free(buf);
}

static bool
tap_line(void *arg, const char *line, size_t len)
{
	struct worker	*w = arg;

	return mcpmux_from_server(w->mux, line, len) == MUX_TAKEN;
}

static void
tap_session(void *arg, const char *result, const char *why)
{
	struct worker	*w = arg;

	if (result != NULL) {
		if (mcpmux_server_ready(w->mux, result, strlen(result)) < 0)
			log_warnx("%s: its initialize result is no object "
			    "with a protocolVersion: no client sessions",
			    w->name);
		gateway_server_state(w);
		return;
	}
	mcpmux_server_gone(w->mux, why);
	if (w->gw != NULL)
		send_state(w, "down", why);
}

static void
on_gateway(struct peer *p, const struct frame *f, void *arg)
{
	struct worker	*w = arg;
	uint32_t	 sid;
	int		 r;

	if (f == NULL) {
		if (peer_error(p) != -EPIPE)
			log_warnx("%s: channel to the gateway: %s", w->name,
			    strerror(-peer_error(p)));
		mcpmux_close_all(w->mux);
		peer_free(w->gw);
		w->gw = NULL;
		return;
	}
	sid = frame_get_u32(f->data);
	switch (f->type) {
	case FRAME_GW_OPEN:
		if ((r = mcpmux_open(w->mux, sid)) < 0) {
			uint8_t	b[4];

			frame_put_u32(b, sid);
			(void)peer_send(w->gw, FRAME_GW_CLOSE, b, 4);
		}
		break;
	case FRAME_GW_CLOSE:
		mcpmux_close(w->mux, sid);
		break;
	case FRAME_GW_CLIENT:
		mcpmux_from_client(w->mux, sid, (const char *)f->data + 4,
		    f->len - 4);
		break;
	}
}

/* gateway.tools of the server file: allow (absent: every tool) minus
 * deny. 0, or -ENOMEM. */
static int
filter_tools(struct worker *w)
{
	const cJSON	*tools = cJSON_GetObjectItem(w->gw_config, "tools");
	const cJSON	*lists[2] = { cJSON_GetObjectItem(tools, "allow"),
			    cJSON_GetObjectItem(tools, "deny") };
	const char	**names[2] = { NULL, NULL };
	size_t		 n[2] = { 0, 0 };
	int		 r = -ENOMEM;

	if (tools == NULL)
		return 0;
	for (int k = 0; k < 2; k++) {
		const cJSON	*e;

		if (lists[k] == NULL)
			continue;
		if ((names[k] = calloc((size_t)cJSON_GetArraySize(lists[k]) +
		    1, sizeof(*names[k]))) == NULL)
			goto out;
		cJSON_ArrayForEach(e, lists[k])
			if (cJSON_IsString(e))
				names[k][n[k]++] = e->valuestring;
	}
	r = mcpmux_filter_tools(w->mux, lists[0] != NULL ? names[0] : NULL,
	    n[0], names[1], n[1]);
out:
	free(names[0]);
	free(names[1]);
	return r;
}

void
gateway_attach(struct worker *w, int fd)
{
	static const struct mux_ops ops = { mux_to_server, mux_to_session };
	struct health_stdio_tap	tap = { tap_line, tap_session, w };

	if (w->run == NULL || w->run->transport != RUN_STDIO ||
	    w->health == NULL || !health_wants_stdio(w->health)) {
		/* nothing to serve: the gateway sees the pair close */
		close(fd);
		return;
	}
	if (w->gw != NULL) {
		mcpmux_close_all(w->mux);
		peer_free(w->gw);
		w->gw = NULL;
	}
	if (w->mux == NULL) {
		if ((w->mux = mcpmux_new(&ops, w)) == NULL ||
		    filter_tools(w) < 0) {
			mcpmux_free(w->mux);
			w->mux = NULL;
			close(fd);
			return;
		}
		health_stdio_tap(w->health, &tap);
	}
	if ((w->gw = peer_new(&w->loop, fd, FRAME_FROM_GATEWAY_TO_WORKER,
	    on_gateway, w)) == NULL) {
		log_warn("%s: the gateway's channel", w->name);
		return;
	}
	w->gw_state[0] = '\0';
	gateway_server_state(w);
}

void
gateway_free(struct worker *w)
{
	if (w->health != NULL)
		health_stdio_tap(w->health, NULL);
	peer_free(w->gw);
	w->gw = NULL;
	mcpmux_free(w->mux);
	w->mux = NULL;
	cJSON_Delete(w->gw_config);
	w->gw_config = NULL;
}
