/*
 * The monitor's peers under libwebsockets. Writes happen only in a
 * writeable callback and only while the socket takes them; a client is
 * a cursor into the hub's ring, so one that stops reading holds nothing
 * but its place, and is told of a gap when the ring overtakes it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libwebsockets.h>

#include "client.h"
#include "log.h"
#include "lwskit.h"
#include "monitor.h"
#include "peer.h"
#include "util.h"

/* messages one writeable callback sends at most: fairness among
 * clients, and the loop's other work */
#define WRITE_BUDGET	1024
#define BATCH_BYTES	65536	/* written at once, at most */
/* what a client may send: a replay request is some 40 bytes */
#define CLIENT_MESSAGE_MAX	4096
#define CLIENT_FRAGMENTS_MAX	64


static struct monitor *
monitor_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* --- who may connect --- */

/* Loopback peers are trusted (the socket binds to loopback unless told
 * otherwise); any other needs the token, as "Authorization: Bearer T"
 * or "?token=T". */
bool
monitor_authorized(struct lws *wsi, struct monitor *mon, struct client *c)
{
	char		 auth[160], arg[160];
	const char	*v;

	if (lwskit_peer_is_loopback(wsi, c->peer, sizeof(c->peer)))
		return true;
	if (mon->token[0] == '\0')
		return false;
	if (lws_hdr_copy(wsi, auth, sizeof(auth),
	    WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
	    strncasecmp(auth, "Bearer ", 7) == 0 &&
	    lwskit_token_equal(auth + 7, mon->token))
		return true;
	if ((v = lws_get_urlarg_by_name(wsi, "token=", arg, sizeof(arg))) !=
	    NULL && lwskit_token_equal(v, mon->token))
		return true;
	return false;
}

/* --- what the root is asked for --- */

static void
root_request(struct monitor *mon, const char *rq)
{
	int	r;

	if ((r = peer_send(mon->root, FRAME_REQUEST, rq, strlen(rq))) < 0) {
		log_warnx("%s: %s", mon->root_name, strerror(-r));
		return;
	}
	mon->rq_sent++;
}

/* Usage samples as they come only while someone looks: the root takes
 * none for nobody. */
static void
monitor_want_usage(struct monitor *mon)
{
	bool	want = mon->hub.clients > 0;

	if (!mon->watching || mon->root == NULL || want == mon->usage_asked)
		return;
	mon->usage_asked = want;
	root_request(mon, want ? "{\"verb\":\"usage_watch\",\"on\":true}" :
	    "{\"verb\":\"usage_watch\",\"on\":false}");
}

/* A scrape waits for a sample the root takes for it; the scrapes that
 * come meanwhile wait for the same one. The time limit answers with the
 * last figures should the root be slow (stopped, or busy). */
#define SCRAPE_WAIT_US	(2 * LWS_US_PER_SEC)

void
monitor_wait_root(struct monitor *mon, struct client *c, bool liveness)
{
	c->awaiting = true;
	c->liveness = liveness;
	c->answered = false;
	c->scrape_next = mon->scrapes;
	mon->scrapes = c;
	lws_set_timer_usecs(c->wsi, SCRAPE_WAIT_US);
	if (liveness && mon->ping_rq <= mon->rq_answered) {
		root_request(mon, "{\"verb\":\"ping\"}");
		mon->ping_rq = mon->rq_sent;
	} else if (!liveness && mon->sample_rq <= mon->rq_answered) {
		root_request(mon, "{\"verb\":\"usage_sample\"}");
		mon->sample_rq = mon->rq_sent;
	}
}

static void
scrape_unlink(struct monitor *mon, struct client *c)
{
	for (struct client **p = &mon->scrapes; *p != NULL;
	    p = &(*p)->scrape_next)
		if (*p == c) {
			*p = c->scrape_next;
			break;
		}
	c->scrape_next = NULL;
	c->awaiting = false;
}

static void
scrape_due(struct monitor *mon, struct client *c)
{
	scrape_unlink(mon, c);
	lws_set_timer_usecs(c->wsi, LWS_SET_TIMER_USEC_CANCEL);
	if (c->liveness)
		c->livez_due = true;
	else
		c->metrics_due = true;
	lws_callback_on_writable(c->wsi);
}

/* An answer to a request after the watch (answered in order): the
 * sample the scrapes wait for, or the ping the /livez requests wait
 * for, once it is this one. */
static void
root_answered(struct monitor *mon)
{
	struct client	*c, *next;

	mon->rq_answered++;
	for (c = mon->scrapes; c != NULL; c = next) {
		next = c->scrape_next;
		if (mon->rq_answered >= (c->liveness ? mon->ping_rq :
		    mon->sample_rq)) {
			c->answered = true;
			scrape_due(mon, c);
		}
	}
}

/* --- WebSocket clients --- */

static void
client_link(struct monitor *mon, struct client *c)
{
	c->next = mon->clients;
	c->prev = NULL;
	if (mon->clients != NULL)
		mon->clients->prev = c;
	mon->clients = c;
	c->linked = true;
	mon->hub.clients++;
	monitor_want_usage(mon);
}

static void
client_unlink(struct monitor *mon, struct client *c)
{
	if (!c->linked)
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		mon->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->linked = false;
	mon->hub.clients--;
	monitor_want_usage(mon);
	hub_msgs_free(c->pre, c->npre);
	c->pre = NULL;
	c->npre = c->ipre = 0;
	free(c->gap.buf);
	c->gap.buf = NULL;
}

static void
client_gap(struct monitor *mon, struct client *c, uint64_t from, uint64_t to,
    const char *reason)
{
	cJSON	*d = cJSON_CreateObject();

	cJSON_AddNumberToObject(d, "from_seq", (double)from);
	cJSON_AddNumberToObject(d, "to_seq", (double)to);
	cJSON_AddStringToObject(d, "reason", reason);
	free(c->gap.buf);
	c->gap.buf = NULL;
	if (hub_one(&mon->hub, "gap", d, to, &c->gap) < 0)
		c->gap.buf = NULL;
	mon->hub.gaps++;
}

/* Places the cursor: from from_seq while the ring holds it, else the
 * current state first and then what comes (with a gap marker when a
 * replay asked for what is gone). */
static void
client_position(struct monitor *mon, struct client *c, int64_t from_seq)
{
	struct hub	*h = &mon->hub;

	hub_msgs_free(c->pre, c->npre);
	c->pre = NULL;
	c->npre = c->ipre = 0;
	if (from_seq > 0 && (uint64_t)from_seq >= hub_oldest(h) &&
	    (uint64_t)from_seq <= h->next_seq) {
		c->cursor = (uint64_t)from_seq;
		return;
	}
	if (from_seq > 0 && (uint64_t)from_seq < hub_oldest(h))
		client_gap(mon, c, (uint64_t)from_seq, hub_oldest(h) - 1,
		    "no_longer_buffered");
	c->pre = hub_snapshot(h, &c->npre);
	c->cursor = h->next_seq;
}

static void
client_want_write(struct client *c)
{
	if (!c->wants_write) {
		c->wants_write = true;
		lws_callback_on_writable(c->wsi);
	}
}

void
monitor_wake_clients(struct monitor *mon)
{
	for (struct client *c = mon->clients; c != NULL; c = c->next)
		if (c->cursor < mon->hub.next_seq)
			client_want_write(c);
}

/* Messages go out framed by us, many to a write: one send(2) for a run
 * of messages instead of one (and a poll) each. A server's frames are
 * not masked, so a frame is a header and the text as it is. */
struct batch {
	unsigned char	 buf[LWS_PRE + BATCH_BYTES];
	size_t		 len;
};

static int
batch_flush(struct client *c, struct batch *b)
{
	int	n;

	if (b->len == 0 || b->len == SIZE_MAX)
		return 0;
	n = lws_write(c->wsi, b->buf + LWS_PRE, b->len, LWS_WRITE_RAW);
	b->len = 0;
	return n < 0 ? -1 : 0;
}

/* Adds one message as a text frame: 0, or 1 when the batch is full (the
 * message waits for the next write), or -1. A message larger than a
 * batch goes alone through lws, when the batch is empty. One write per
 * writeable callback: nothing is written while the socket is choked. */
static int
send_msg(struct client *c, struct batch *b, const struct hub_msg *m,
    size_t headroom)
{
	unsigned char	*p;

	if (m->len + 10 > BATCH_BYTES) {
		if (b->len > 0)
			return 1;
		b->len = SIZE_MAX;	/* this callback has written */
		return lws_write(c->wsi, m->buf + headroom, m->len,
		    LWS_WRITE_TEXT) < (int)m->len ? -1 : 0;
	}
	if (b->len == SIZE_MAX || b->len + m->len + 10 > BATCH_BYTES)
		return 1;
	p = b->buf + LWS_PRE + b->len;
	*p++ = 0x81;			/* FIN, text */
	if (m->len < 126)
		*p++ = (unsigned char)m->len;
	else if (m->len < 65536) {
		*p++ = 126;
		*p++ = (unsigned char)(m->len >> 8);
		*p++ = (unsigned char)m->len;
	} else {
		*p++ = 127;
		for (int shift = 56; shift >= 0; shift -= 8)
			*p++ = (unsigned char)((uint64_t)m->len >> shift);
	}
	memcpy(p, m->buf + headroom, m->len);
	b->len = (size_t)(p + m->len - (b->buf + LWS_PRE));
	return 0;
}

static int
client_writeable(struct monitor *mon, struct client *c)
{
	static struct batch	 batch;
	struct hub		*h = &mon->hub;
	const struct hub_msg	*m;
	int			 budget = WRITE_BUDGET, r = 0;

	c->wants_write = false;
	if (lws_send_pipe_choked(c->wsi)) {
		client_want_write(c);
		return 0;
	}
	batch.len = 0;
	while (budget-- > 0) {
		if (c->gap.buf != NULL) {
			if ((r = send_msg(c, &batch, &c->gap, h->headroom)) != 0)
				break;
			free(c->gap.buf);
			c->gap.buf = NULL;
			continue;
		}
		if (c->ipre < c->npre) {
			if ((r = send_msg(c, &batch, &c->pre[c->ipre],
			    h->headroom)) != 0)
				break;
			if (++c->ipre == c->npre) {
				/* what the batch holds is a copy */
				hub_msgs_free(c->pre, c->npre);
				c->pre = NULL;
				c->npre = c->ipre = 0;
			}
			continue;
		}
		if (c->cursor >= h->next_seq)
			return batch_flush(c, &batch);	/* caught up */
		if (c->cursor < hub_oldest(h)) {
			/* the ring overtook it: say what it missed */
			client_gap(mon, c, c->cursor, hub_oldest(h) - 1,
			    "slow_client");
			log_info("client %s: too slow, messages %llu-%llu "
			    "skipped", c->peer, (unsigned long long)c->cursor,
			    (unsigned long long)(hub_oldest(h) - 1));
			c->cursor = hub_oldest(h);
			continue;
		}
		if ((m = hub_get(h, c->cursor)) == NULL)
			return batch_flush(c, &batch);
		if ((r = send_msg(c, &batch, m, h->headroom)) != 0)
			break;
		c->cursor++;
	}
	if (r < 0 || batch_flush(c, &batch) < 0)
		return -1;
	client_want_write(c);
	return 0;
}

/* {"type": "replay", "from_seq": N} repositions a client. */
static void
client_receive(struct monitor *mon, struct client *c, const char *in,
    size_t len)
{
	cJSON		*j = cJSON_ParseWithLength(in, len);
	const char	*type = cJSON_GetStringValue(cJSON_GetObjectItem(j,
			    "type"));
	long long	 from = json_int_within(cJSON_GetObjectItem(j,
			    "from_seq"), 1, INT64_MAX, 0);

	if (type != NULL && strcmp(type, "replay") == 0 && from > 0) {
		client_position(mon, c, from);
		client_want_write(c);
	}
	cJSON_Delete(j);
}

/* Refuses the connection with a close code of RFC 6455. */
static int
client_refuse(struct lws *wsi, struct client *c, enum lws_close_status code,
    const char *why)
{
	unsigned char	reason[64];
	size_t		n = strlen(why) < sizeof(reason) ? strlen(why) :
			    sizeof(reason);

	log_warnx("client %s: %s: closing (%d)", c->peer, why, (int)code);
	memcpy(reason, why, n);
	lws_close_reason(wsi, code, reason, n);
	free(c->rx);
	c->rx = NULL;
	return -1;
}

/* A client only ever sends small JSON messages (a replay request): the
 * declared size of a frame is known as its first bytes arrive, so that
 * a message past the bound is refused at once, not after the 4 GiB it
 * announces; so is one in more fragments than such a message needs, or
 * binary. libwebsockets checks UTF-8 (1007) with VALIDATE_UTF8. */
static int
client_rx(struct monitor *mon, struct client *c, struct lws *wsi,
    const char *in, size_t len)
{
	bool	first = lws_is_first_fragment(wsi);
	bool	final = lws_is_final_fragment(wsi) &&
		    lws_remaining_packet_payload(wsi) == 0;
	size_t	total;

	if (lws_frame_is_binary(wsi))
		return client_refuse(wsi, c, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
		    "binary messages are not taken");
	if (first && c->rx_frags == 0)
		c->rx_len = 0;
	total = c->rx_len + len + lws_remaining_packet_payload(wsi);
	if (total > CLIENT_MESSAGE_MAX)
		return client_refuse(wsi, c,
		    LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too large");
	if (++c->rx_frags > CLIENT_FRAGMENTS_MAX)
		return client_refuse(wsi, c,
		    LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "too many fragments");
	if (final && c->rx == NULL) {
		/* whole in one piece: the common case, no copy */
		c->rx_frags = 0;
		client_receive(mon, c, in, len);
		return 0;
	}
	if (c->rx == NULL && (c->rx = malloc(CLIENT_MESSAGE_MAX)) == NULL)
		return client_refuse(wsi, c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
		    "out of memory");
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (final) {
		client_receive(mon, c, c->rx, c->rx_len);
		free(c->rx);
		c->rx = NULL;
		c->rx_frags = 0;
	}
	return 0;
}

static int
on_client(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct monitor	*mon = monitor_of(wsi);
	struct client	*c = user;
	char		 arg[64];
	const char	*v;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		c->wsi = wsi;
		return http_request(mon, wsi, c, in != NULL ? in : "/");
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (c->metrics_due) {
			c->metrics_due = false;
			return metrics_respond(mon, wsi, c);
		}
		if (c->livez_due) {
			c->livez_due = false;
			return livez_respond(mon, wsi, c);
		}
		return http_writeable(wsi, c);
	case LWS_CALLBACK_TIMER:
		if (c != NULL && c->awaiting)
			scrape_due(mon, c);
		break;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c != NULL) {
			if (c->awaiting)
				scrape_unlink(mon, c);
			c->metrics_due = c->livez_due = false;
			free(c->body_owned);
			c->body_owned = NULL;
			c->body = NULL;
		}
		break;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (!monitor_authorized(wsi, mon, c)) {
			log_warnx("refused a WebSocket from %s: no valid token",
			    c->peer);
			return -1;
		}
		v = lws_get_urlarg_by_name(wsi, "from_seq=", arg, sizeof(arg));
		c->from_seq = v != NULL ? strtoll(v, NULL, 10) : 0;
		break;
	case LWS_CALLBACK_ESTABLISHED:
		c->wsi = wsi;
		c->ws = true;
		client_link(mon, c);
		client_position(mon, c, c->from_seq);
		log_info("client %s connected (%u)", c->peer, mon->hub.clients);
		client_want_write(c);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return client_writeable(mon, c);
	case LWS_CALLBACK_RECEIVE:
		return client_rx(mon, c, wsi, in, len);
	case LWS_CALLBACK_CLOSED:
		free(c->rx);
		c->rx = NULL;
		if (c->linked)
			log_info("client %s gone (%u left)", c->peer,
			    mon->hub.clients - 1);
		client_unlink(mon, c);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* --- the root's stream --- */

static void
root_frame(struct monitor *mon, const struct frame *f)
{
	cJSON	*j = cJSON_ParseWithLength((char *)f->data, f->len);

	if (j == NULL) {
		log_warnx("%s: a %s frame that is not JSON: ignored",
		    mon->root_name, frame_type_name(f->type));
		return;
	}
	if (f->type == FRAME_RESPONSE && !mon->watching) {
		if (!cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")))
			log_warnx("%s refused to be watched: %s", mon->root_name,
			    cJSON_GetStringValue(cJSON_GetObjectItem(j,
			    "error")));
		else {
			mon->watching = true;
			hub_load(&mon->hub, cJSON_GetObjectItem(j,
			    "deployments"));
			monitor_want_usage(mon);
		}
	} else if (f->type == FRAME_RESPONSE) {
		if (!cJSON_IsTrue(cJSON_GetObjectItem(j, "ok")))
			log_warnx("%s: %s", mon->root_name,
			    cJSON_GetStringValue(cJSON_GetObjectItem(j,
			    "error")));
		root_answered(mon);
	} else
		hub_feed(&mon->hub, f->type, j);
	cJSON_Delete(j);
}

static void
end_service(struct monitor *mon)
{
	mon->done = true;
	lws_cancel_service(mon->ctx);
}

static void
on_root_frame(struct peer *p, const struct frame *f, void *arg)
{
	struct monitor	*mon = arg;

	if (f != NULL) {
		root_frame(mon, f);
		return;
	}
	if (peer_error(p) != -EPIPE)
		log_warnx("%s: %s", mon->root_name, strerror(-peer_error(p)));
	else
		log_info("%s closed the stream", mon->root_name);
	end_service(mon);
}

static void
root_want_write(void *arg, bool on)
{
	struct monitor	*mon = arg;

	if (on && mon->root_wsi != NULL)
		lws_callback_on_writable(mon->root_wsi);
}

static int
on_root(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct monitor	*mon = monitor_of(wsi);
	uint64_t	 before;

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		before = mon->hub.next_seq;
		peer_service(mon->root, EPOLLIN);
		if (mon->hub.next_seq != before)
			monitor_wake_clients(mon);
		if (mon->done)
			return -1;
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		peer_service(mon->root, EPOLLOUT);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		mon->root_wsi = NULL;
		end_service(mon);
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int
monitor_adopt_root(struct monitor *mon, int fd)
{
	static const char	 watch[] = "{\"verb\":\"watch\"}";
	lws_sock_file_fd_type	 u;
	int			 own, r;

	/* libwebsockets closes the descriptor it adopts; the peer reads and
	 * writes (and closes) a copy of its own */
	if ((own = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1)
		return -errno;
	if ((mon->root = peer_new_driven(own, FRAME_FROM_ROOT_TO_CLI,
	    on_root_frame, root_want_write, mon)) == NULL)
		return -ENOMEM;
	/* a burst at a time: the clients get their turn */
	peer_set_burst(mon->root, 512);
	if ((r = peer_send(mon->root, FRAME_REQUEST, watch,
	    sizeof(watch) - 1)) < 0)
		return r;
	u.filefd = fd;
	if ((mon->root_wsi = lws_adopt_descriptor_vhost(mon->vhost,
	    LWS_ADOPT_RAW_FILE_DESC, u, "mcpvisor-root", NULL)) == NULL)
		return -EIO;
	return 0;
}

void
monitor_free_root(struct monitor *mon)
{
	peer_free(mon->root);
	mon->root = NULL;
}

/* --- signals --- */

static int
on_signals(struct lws *wsi, enum lws_callback_reasons reason, void *user,
    void *in, size_t len)
{
	struct monitor		*mon = monitor_of(wsi);
	struct signalfd_siginfo	 si;

	if (reason == LWS_CALLBACK_RAW_RX_FILE)
		while (read(mon->sig_fd, &si, sizeof(si)) ==
		    (ssize_t)sizeof(si))
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
				end_service(mon);
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int
monitor_adopt_signals(struct monitor *mon, int fd)
{
	lws_sock_file_fd_type	u;

	u.filefd = fd;
	mon->sig_fd = fd;
	if ((mon->sig_wsi = lws_adopt_descriptor_vhost(mon->vhost,
	    LWS_ADOPT_RAW_FILE_DESC, u, "mcpvisor-signals", NULL)) == NULL)
		return -EIO;
	return 0;
}

static const struct lws_protocols protocols[] = {
	/* first: what a client asking for no subprotocol (the guide's
	 * example) is served by, and HTTP */
	{ "mcpvisor-monitor", on_client, sizeof(struct client), 4096, 0, NULL,
	    0 },
	{ "mcpvisor-root", on_root, 0, 0, 0, NULL, 0 },
	{ "mcpvisor-signals", on_signals, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

const struct lws_protocols *
monitor_protocols(void)
{
	return protocols;
}
