/*
 * The monitor's HTTP answers: the dashboard's files, /metrics, the probes
 * (/healthz, /livez, /readyz), each sent in chunks as the socket takes
 * them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "client.h"
#include "log.h"
#include "monitor.h"

#define HTTP_CHUNK	16384

struct asset {
	const char	*path;
	const char	*mime;
	const char	*data;
	const size_t	*len;
};

extern const char	dashboard_js[];
extern const size_t	dashboard_js_len;
extern const char	dashboard_css[];
extern const size_t	dashboard_css_len;

static const struct asset assets[] = {
	{ "/", "text/html; charset=utf-8", dashboard_html, &dashboard_html_len },
	{ "/index.html", "text/html; charset=utf-8", dashboard_html,
	    &dashboard_html_len },
	{ "/dashboard.js", "text/javascript; charset=utf-8", dashboard_js,
	    &dashboard_js_len },
	{ "/dashboard.css", "text/css; charset=utf-8", dashboard_css,
	    &dashboard_css_len },
	{ NULL, NULL, NULL, NULL },
};

/* --- HTTP --- */

static int
http_respond(struct lws *wsi, struct client *c, unsigned status,
    const char *mime, const char *body, size_t len, char *owned)
{
	uint8_t		 buf[LWS_PRE + 1024], *start = &buf[LWS_PRE];
	uint8_t		*p = start, *end = &buf[sizeof(buf) - 1];
	static const char csp[] = "default-src 'none'; script-src 'self'; "
	    "style-src 'self'; connect-src 'self' ws: wss:; img-src 'self' "
	    "data:; base-uri 'none'; frame-ancestors 'none'";

	c->body = body;
	c->body_owned = owned;
	c->body_len = len;
	c->body_off = 0;
	if (lws_add_http_common_headers(wsi, status, mime, len, &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)
	    "content-security-policy:", (const unsigned char *)csp,
	    (int)strlen(csp), &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)
	    "x-content-type-options:", (const unsigned char *)"nosniff", 7,
	    &p, end) ||
	    lws_add_http_header_by_name(wsi, (const unsigned char *)
	    "cache-control:", (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	lws_callback_on_writable(wsi);
	return 0;
}

int
metrics_respond(struct monitor *mon, struct lws *wsi, struct client *c)
{
	char	*text;
	size_t	 len;

	if ((text = hub_prometheus(&mon->hub, &len)) == NULL)
		return -1;
	return http_respond(wsi, c, HTTP_STATUS_OK,
	    "text/plain; version=0.0.4; charset=utf-8", text, len, text);
}

/* The daemon's loop turns: it answered a ping within the time limit. */
int
livez_respond(struct monitor *mon, struct lws *wsi, struct client *c)
{
	static const char	 no_root[] = "mcpvisord is not connected\n";
	static const char	 no_watch[] = "mcpvisord has not answered the "
				    "watch\n";
	static const char	 no_answer[] = "mcpvisord did not answer a "
				    "ping within 2 s\n";
	const char		*why = mon->root == NULL ? no_root :
				    !mon->watching ? no_watch : no_answer;

	if (c->answered)
		return http_respond(wsi, c, HTTP_STATUS_OK,
		    "text/plain; charset=utf-8", "ok\n", 3, NULL);
	return http_respond(wsi, c, HTTP_STATUS_SERVICE_UNAVAILABLE,
	    "text/plain; charset=utf-8", why, strlen(why), NULL);
}

/* The newest deployment still active serves: it succeeded and every
 * server of it is ready. */
static int
readyz_respond(struct monitor *mon, struct lws *wsi, struct client *c)
{
	char	 why[256], *text;
	bool	 ready;
	int	 n;

	ready = hub_ready(&mon->hub, why, sizeof(why));
	if ((n = asprintf(&text, "%s\n", why)) < 0)
		return -1;
	return http_respond(wsi, c, ready ? HTTP_STATUS_OK :
	    HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
	    text, (size_t)n, text);
}

int
http_request(struct monitor *mon, struct lws *wsi, struct client *c,
    const char *uri)
{
	static const char	 unauthorized[] = "a token is required from "
				    "beyond loopback (Authorization: Bearer, "
				    "or ?token=)\n";

	/* probes (a kubelet's, a load balancer's) carry no token, and are
	 * told no more than yes or no and why */
	if (strcmp(uri, "/livez") == 0) {
		if (mon->watching && mon->root != NULL) {
			monitor_wait_root(mon, c, true);
			return 0;
		}
		c->answered = false;
		return livez_respond(mon, wsi, c);
	}
	if (strcmp(uri, "/readyz") == 0)
		return readyz_respond(mon, wsi, c);
	if (!monitor_authorized(wsi, mon, c)) {
		log_warnx("refused HTTP %s from %s: no valid token", uri,
		    c->peer);
		return http_respond(wsi, c, HTTP_STATUS_UNAUTHORIZED,
		    "text/plain; charset=utf-8", unauthorized,
		    sizeof(unauthorized) - 1, NULL);
	}
	if (strcmp(uri, "/metrics") == 0) {
		/* the figures of now: answered once the root measured */
		if (mon->watching && mon->root != NULL) {
			monitor_wait_root(mon, c, false);
			return 0;
		}
		return metrics_respond(mon, wsi, c);
	}
	if (strcmp(uri, "/healthz") == 0)
		return http_respond(wsi, c, HTTP_STATUS_OK,
		    "text/plain; charset=utf-8", "ok\n", 3, NULL);
	for (size_t i = 0; assets[i].path != NULL; i++)
		if (strcmp(uri, assets[i].path) == 0)
			return http_respond(wsi, c, HTTP_STATUS_OK,
			    assets[i].mime, assets[i].data, *assets[i].len,
			    NULL);
	return http_respond(wsi, c, HTTP_STATUS_NOT_FOUND,
	    "text/plain; charset=utf-8", "not found\n", 10, NULL);
}

int
http_writeable(struct lws *wsi, struct client *c)
{
	uint8_t	buf[LWS_PRE + HTTP_CHUNK];
	size_t	n = c->body_len - c->body_off;
	bool	last;

	if (c->body == NULL)
		return 0;
	if (n > HTTP_CHUNK)
		n = HTTP_CHUNK;
	last = c->body_off + n == c->body_len;
	memcpy(buf + LWS_PRE, c->body + c->body_off, n);
	if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL :
	    LWS_WRITE_HTTP) != (int)n)
		return -1;
	c->body_off += n;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	free(c->body_owned);
	c->body_owned = NULL;
	c->body = NULL;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

