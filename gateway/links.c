/*
 * The gateway's peers but the HTTP ones: the root's channel, a link per
 * worker, the signals; and the sessions, each on one link. Everything a
 * worker says is routed here: an answer to the POST that awaits its id,
 * anything else of a session to its POST in flight (the SSE stream of
 * that POST) or else its GET stream, a message for every session to
 * each GET stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "gateway.h"
#include "log.h"
#include "lwskit.h"
#include "peer.h"
#include "util.h"

#define SWEEP_US	(60 * LWS_USEC_PER_SEC)

struct gateway *
gateway_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* --- sessions --- */

static struct gw_session *
session_by_sid(struct gateway *gw, const struct gw_link *link, uint32_t sid)
{
	for (struct gw_session *s = gw->sessions; s != NULL; s = s->next)
		if (s->link == link && s->sid == sid)
			return s;
	return NULL;
}

struct gw_session *
gateway_find_session(struct gateway *gw, const char *id)
{
	for (struct gw_session *s = gw->sessions; s != NULL; s = s->next)
		if (lwskit_token_equal(s->id, id))
			return s;
	return NULL;
}

static void
send_sid(struct gw_link *link, uint8_t type, uint32_t sid)
{
	uint8_t	b[4];

	frame_put_u32(b, sid);
	if (link->peer != NULL)
		(void)peer_send(link->peer, type, b, 4);
}

struct gw_session *
gateway_open_session(struct gateway *gw, struct gw_link *link,
    const char *client)
{
	struct gw_session	*s;
	unsigned char		 rnd[GATEWAY_SESSION_ID_LEN / 2];
	size_t			 on_link = 0;

	for (s = gw->sessions; s != NULL; s = s->next)
		on_link += s->link == link;
	if (on_link >= GATEWAY_SESSIONS_MAX)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	/* unguessable: the id is all a client shows to be its session's */
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		free(s);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
	explicit_bzero(rnd, sizeof(rnd));
	if (++gw->next_sid == 0)
		gw->next_sid = 1;
	s->sid = gw->next_sid;
	s->link = link;
	s->used_ms = mono_ms();
	snprintf(s->client, sizeof(s->client), "%s", client);
	s->next = gw->sessions;
	gw->sessions = s;
	gw->nsessions++;
	send_sid(link, FRAME_GW_OPEN, s->sid);
	log_info("session %.8s… of %s opened for %s", s->id, link->server,
	    client);
	return s;
}

void
gateway_end_session(struct gateway *gw, struct gw_session *s,
    const char *why)
{
	struct gw_session	**pp = &gw->sessions;
	struct gw_http		 *h, *next;

	while (*pp != NULL && *pp != s)
		pp = &(*pp)->next;
	if (*pp == NULL)
		return;
	*pp = s->next;
	gw->nsessions--;
	if (s->link != NULL && !s->link->gone)
		send_sid(s->link, FRAME_GW_CLOSE, s->sid);
	log_info("session %.8s… of %s ended: %s", s->id, s->link != NULL ?
	    s->link->server : "?", why);
	for (h = s->calls; h != NULL; h = next) {
		next = h->next;
		gw_http_orphan(h, why);
	}
	if (s->stream != NULL)
		gw_http_orphan(s->stream, why);
	free(s);
}

int
gateway_send(struct gw_session *s, const char *json, size_t len)
{
	uint8_t	*buf;
	int	 r;

	if (s->link == NULL || s->link->gone || s->link->peer == NULL)
		return -EPIPE;
	if (len + 4 > FRAME_MAX)
		return -EMSGSIZE;
	if ((buf = malloc(4 + len)) == NULL)
		return -ENOMEM;
	frame_put_u32(buf, s->sid);
	memcpy(buf + 4, json, len);
	r = peer_send(s->link->peer, FRAME_GW_CLIENT, buf, (uint32_t)(4 + len));
	free(buf);
	s->used_ms = mono_ms();
	return r;
}

/* Every session of a link ends (its server went, or its worker). */
static void
end_sessions_of(struct gw_link *link, const char *why)
{
	struct gateway	*gw = link->gw;

	for (struct gw_session *s = gw->sessions, *next; s != NULL; s = next) {
		next = s->next;
		if (s->link == link)
			gateway_end_session(gw, s, why);
	}
}

static void
on_sweep(lws_sorted_usec_list_t *sul)
{
	struct gateway	*gw = lws_container_of(sul, struct gateway, sweep);
	uint64_t	 now = mono_ms();

	for (struct gw_session *s = gw->sessions, *next; s != NULL; s = next) {
		next = s->next;
		if (s->calls == NULL && s->stream == NULL &&
		    now - s->used_ms > (uint64_t)GATEWAY_IDLE_S * 1000)
			gateway_end_session(gw, s, "idle too long");
	}
	lws_sul_schedule(gw->ctx, 0, &gw->sweep, on_sweep, SWEEP_US);
}

/* --- what a worker says --- */

static void
deliver(struct gw_session *s, const char *json, size_t len)
{
	struct gw_http	*h, **pp;
	bool		 answer;
	char		*id = gw_message_answer_id(json, len, &answer);

	s->used_ms = mono_ms();
	if (answer && id != NULL) {
		for (pp = &s->calls; (h = *pp) != NULL; pp = &h->next)
			if (strcmp(h->call_id, id) == 0) {
				*pp = h->next;
				h->next = NULL;
				h->session = NULL;
				gw_http_deliver(h, json, len, true);
				break;
			}
		free(id);
		return;	/* an answer nobody waits for any more */
	}
	free(id);
	/* a notification or request of the server for this session: with
	 * the POST in flight (its stream), else on the GET stream */
	if (s->calls != NULL)
		gw_http_deliver(s->calls, json, len, false);
	else if (s->stream != NULL)
		gw_http_deliver(s->stream, json, len, false);
}

static void
link_state(struct gw_link *link, const struct frame *f)
{
	cJSON		*o = cJSON_ParseWithLength((const char *)f->data, f->len);
	const char	*state = cJSON_GetStringValue(cJSON_GetObjectItem(o,
			    "state"));
	const char	*reason = cJSON_GetStringValue(cJSON_GetObjectItem(o,
			    "reason"));
	const char	*version = cJSON_GetStringValue(cJSON_GetObjectItem(o,
			    "protocol_version"));

	if (state == NULL || (strcmp(state, "ready") != 0 &&
	    strcmp(state, "starting") != 0 && strcmp(state, "down") != 0)) {
		log_warnx("%s (worker): a state frame without a known state",
		    link->server);
		cJSON_Delete(o);
		return;
	}
	snprintf(link->state, sizeof(link->state), "%s", state);
	snprintf(link->reason, sizeof(link->reason), "%s", reason != NULL ?
	    reason : "");
	snprintf(link->protocol_version, sizeof(link->protocol_version), "%s",
	    version != NULL ? version : "");
	link->pid = (long)json_int_within(cJSON_GetObjectItem(o, "pid"), 0,
	    INT32_MAX, 0);
	cJSON_Delete(o);
	/* a new process knows nothing of the old one's sessions: clients
	 * get 404 and initialize again, as the specification has it */
	if (strcmp(link->state, "down") == 0)
		end_sessions_of(link, link->reason[0] != '\0' ? link->reason :
		    "the server process ended");
}

static void
link_gone(struct gw_link *link, const char *why)
{
	if (link->gone)
		return;
	link->gone = true;
	snprintf(link->state, sizeof(link->state), "down");
	end_sessions_of(link, why);
	peer_free(link->peer);
	link->peer = NULL;
}

static void
on_link_frame(struct peer *p, const struct frame *f, void *arg)
{
	struct gw_link		*link = arg;
	struct gw_session	*s;
	uint32_t		 sid;

	if (f == NULL) {
		if (peer_error(p) != -EPIPE)
			log_warnx("%s (worker): %s", link->server,
			    strerror(-peer_error(p)));
		link_gone(link, "the server's worker went");
		return;
	}
	if (f->type == FRAME_GW_STATE) {
		link_state(link, f);
		return;
	}
	sid = frame_get_u32(f->data);
	if (f->type == FRAME_GW_CLOSE) {
		if ((s = session_by_sid(link->gw, link, sid)) != NULL)
			gateway_end_session(link->gw, s, "the server's worker "
			    "ended it");
		return;
	}
	/* FRAME_GW_SERVER */
	if (sid == 0) {
		for (s = link->gw->sessions; s != NULL; s = s->next)
			if (s->link == link && s->stream != NULL)
				gw_http_deliver(s->stream,
				    (const char *)f->data + 4, f->len - 4,
				    false);
		return;
	}
	if ((s = session_by_sid(link->gw, link, sid)) != NULL)
		deliver(s, (const char *)f->data + 4, f->len - 4);
}

static void
link_want_write(void *arg, bool on)
{
	struct gw_link	*link = arg;

	if (on && link->wsi != NULL)
		lws_callback_on_writable(link->wsi);
}

static void
link_free(struct gw_link *link)
{
	struct gw_link	**pp = &link->gw->links;

	while (*pp != NULL && *pp != link)
		pp = &(*pp)->next;
	if (*pp != NULL)
		*pp = link->next;
	free(link);
}

static int
on_link(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct gw_link	*link = lws_get_opaque_user_data(wsi);

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		if (link == NULL)
			return -1;
		if (link->peer != NULL)
			peer_service(link->peer, EPOLLIN);
		if (link->gone)
			return -1;
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if (link != NULL && link->peer != NULL)
			peer_service(link->peer, EPOLLOUT);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (link != NULL) {
			link->wsi = NULL;
			link_gone(link, "the server's worker went");
			link_free(link);
			lws_set_opaque_user_data(wsi, NULL);
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* --- the root --- */

static void
attach(struct gateway *gw, int fd, const struct frame *f)
{
	cJSON			*o;
	struct gw_link		*link;
	lws_sock_file_fd_type	 u;
	int			 own;

	if (fd == -1) {
		log_warnx("mcpvisord attached a server without its descriptor");
		return;
	}
	o = cJSON_ParseWithLength((const char *)f->data, f->len);
	if (cJSON_GetStringValue(cJSON_GetObjectItem(o, "server")) == NULL ||
	    (link = calloc(1, sizeof(*link))) == NULL) {
		log_warnx("mcpvisord attached a server it did not name");
		cJSON_Delete(o);
		close(fd);
		return;
	}
	link->gw = gw;
	snprintf(link->server, sizeof(link->server), "%s",
	    cJSON_GetStringValue(cJSON_GetObjectItem(o, "server")));
	snprintf(link->stack, sizeof(link->stack), "%s", cJSON_GetStringValue(
	    cJSON_GetObjectItem(o, "stack")) != NULL ? cJSON_GetStringValue(
	    cJSON_GetObjectItem(o, "stack")) : "");
	snprintf(link->deployment, sizeof(link->deployment), "%s",
	    cJSON_GetStringValue(cJSON_GetObjectItem(o, "deployment")) != NULL ?
	    cJSON_GetStringValue(cJSON_GetObjectItem(o, "deployment")) : "");
	cJSON_Delete(o);
	snprintf(link->state, sizeof(link->state), "starting");
	link->serial = ++gw->link_serial;
	/* libwebsockets closes the descriptor it adopts; the peer reads
	 * and writes a copy of its own */
	if ((own = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (link->peer = peer_new_driven(own, FRAME_FROM_WORKER_TO_GATEWAY,
	    on_link_frame, link_want_write, link)) == NULL) {
		log_warn("%s: its worker's channel", link->server);
		close(fd);
		free(link);
		return;
	}
	u.filefd = fd;
	if ((link->wsi = lws_adopt_descriptor_vhost(gw->vhost,
	    LWS_ADOPT_RAW_FILE_DESC, u, "mcpvisor-worker", NULL)) == NULL) {
		log_warnx("%s: libwebsockets did not adopt its channel",
		    link->server);
		peer_free(link->peer);
		free(link);
		return;
	}
	lws_set_opaque_user_data(link->wsi, link);
	link->next = gw->links;
	gw->links = link;
	log_info("serving %s (deployment %s)", link->server, link->deployment);
}

static void
on_root_frame(struct peer *p, const struct frame *f, void *arg)
{
	struct gateway	*gw = arg;

	if (f == NULL) {
		if (peer_error(p) != -EPIPE)
			log_warnx("mcpvisord: %s", strerror(-peer_error(p)));
		else
			log_info("mcpvisord closed the stream");
		gw->done = true;
		lws_cancel_service(gw->ctx);
		return;
	}
	attach(gw, peer_take_fd(p), f);
}

static void
root_want_write(void *arg, bool on)
{
	struct gateway	*gw = arg;

	if (on && gw->root_wsi != NULL)
		lws_callback_on_writable(gw->root_wsi);
}

static int
on_root(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct gateway	*gw = gateway_of(wsi);

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		peer_service(gw->root, EPOLLIN);
		if (gw->done)
			return -1;
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		peer_service(gw->root, EPOLLOUT);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		gw->root_wsi = NULL;
		gw->done = true;
		lws_cancel_service(gw->ctx);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int
gateway_adopt_root(struct gateway *gw, int fd)
{
	lws_sock_file_fd_type	u;
	int			own;

	if ((own = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return -errno;
	if ((gw->root = peer_new_driven(own, FRAME_FROM_ROOT_TO_GATEWAY,
	    on_root_frame, root_want_write, gw)) == NULL)
		return -ENOMEM;
	peer_accept_fds(gw->root);
	u.filefd = fd;
	if ((gw->root_wsi = lws_adopt_descriptor_vhost(gw->vhost,
	    LWS_ADOPT_RAW_FILE_DESC, u, "mcpvisor-root", NULL)) == NULL)
		return -EIO;
	lws_sul_schedule(gw->ctx, 0, &gw->sweep, on_sweep, SWEEP_US);
	return 0;
}

/* --- signals --- */

static int
on_signals(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct gateway		*gw = gateway_of(wsi);
	struct signalfd_siginfo	 si;

	if (reason == LWS_CALLBACK_RAW_RX_FILE)
		while (read(gw->sig_fd, &si, sizeof(si)) ==
		    (ssize_t)sizeof(si))
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				gw->done = true;
				lws_cancel_service(gw->ctx);
			}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int
gateway_adopt_signals(struct gateway *gw, int fd)
{
	lws_sock_file_fd_type	u;

	u.filefd = fd;
	gw->sig_fd = fd;
	if ((gw->sig_wsi = lws_adopt_descriptor_vhost(gw->vhost,
	    LWS_ADOPT_RAW_FILE_DESC, u, "mcpvisor-signals", NULL)) == NULL)
		return -EIO;
	return 0;
}

/* --- routing and listing --- */

struct gw_link *
gateway_route(struct gateway *gw, const char *server)
{
	struct gw_link	*best = NULL;

	for (struct gw_link *l = gw->links; l != NULL; l = l->next) {
		bool	ready = strcmp(l->state, "ready") == 0;

		if (l->gone || strcmp(l->server, server) != 0)
			continue;
		if (best == NULL || (ready && strcmp(best->state, "ready") !=
		    0) || (ready == (strcmp(best->state, "ready") == 0) &&
		    l->serial > best->serial))
			best = l;
	}
	return best;
}

char *
gateway_servers_json(struct gateway *gw)
{
	cJSON	*list = cJSON_CreateArray();
	char	*text, url[320];

	for (struct gw_link *l = gw->links; l != NULL; l = l->next) {
		cJSON	*o;
		size_t	 n = 0;

		if (l->gone)
			continue;
		for (struct gw_session *s = gw->sessions; s != NULL;
		    s = s->next)
			n += s->link == l;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", l->server);
		cJSON_AddStringToObject(o, "stack", l->stack);
		cJSON_AddStringToObject(o, "deployment", l->deployment);
		cJSON_AddStringToObject(o, "state", l->state);
		if (l->reason[0] != '\0')
			cJSON_AddStringToObject(o, "reason", l->reason);
		cJSON_AddStringToObject(o, "transport", "stdio");
		snprintf(url, sizeof(url), "http://%s%s%s:%u/servers/%s/mcp",
		    strchr(gw->bind, ':') != NULL ? "[" : "", strcmp(gw->bind,
		    "0.0.0.0") == 0 ? "127.0.0.1" : gw->bind,
		    strchr(gw->bind, ':') != NULL ? "]" : "", gw->port,
		    l->server);
		cJSON_AddStringToObject(o, "url", url);
		if (l->pid > 0)
			cJSON_AddNumberToObject(o, "pid", (double)l->pid);
		if (l->protocol_version[0] != '\0')
			cJSON_AddStringToObject(o, "protocol_version",
			    l->protocol_version);
		cJSON_AddNumberToObject(o, "sessions", (double)n);
		cJSON_AddItemToArray(list, o);
	}
	text = cJSON_PrintUnformatted(list);
	cJSON_Delete(list);
	return text;
}

void
gateway_free(struct gateway *gw)
{
	while (gw->sessions != NULL)
		gateway_end_session(gw, gw->sessions, "the gateway stopped");
	for (struct gw_link *l = gw->links, *next; l != NULL; l = next) {
		next = l->next;
		peer_free(l->peer);
		free(l);
	}
	gw->links = NULL;
	peer_free(gw->root);
	gw->root = NULL;
}

static const struct lws_protocols protocols[] = {
	{ "mcpvisor-gateway", gw_http_callback, sizeof(struct gw_http), 0, 0,
	    NULL, 0 },
	{ "mcpvisor-root", on_root, 0, 0, 0, NULL, 0 },
	{ "mcpvisor-worker", on_link, 0, 0, 0, NULL, 0 },
	{ "mcpvisor-signals", on_signals, 0, 0, 0, NULL, 0 },
	{ "mcpvisor-watch", gw_http_watch_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

const struct lws_protocols *
gateway_protocols(void)
{
	return protocols;
}
