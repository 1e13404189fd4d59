/*
 * The health engine: checks and the two kinds simple enough to live
 * here: file_system (a few system calls, done at once) and MCP over the
 * server's stdio channel (one session per server process, shared by
 * every check that speaks on it). Runs and attempts are in
 * health_run.c, libcurl's checks in health_curl.c, programs and plugins
 * in health_proc.c. Everything waits in the caller's loop.
 */
#include "health_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "util.h"

#define STDIO_READ_BURST	16

static const char *const type_names[] = { "http", "tcp", "command",
    "file_system", "mcp", "custom", NULL };

static void	stdio_settle(struct health *);
static void	tell_tap(struct health *);
static void	on_stdio_out(struct watcher *, uint32_t);
static void	on_stdio_in(struct watcher *, uint32_t);

struct health *
health_new(struct loop *loop, health_done_fn *done, void *arg)
{
	struct health	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->loop = loop;
	h->done = done;
	h->arg = arg;
	h->stdio_out_w = (struct watcher){ -1, on_stdio_out };
	h->stdio_in_w = (struct watcher){ -1, on_stdio_in };
	return h;
}

static void
check_free(struct check *c)
{
	check_abort(c);
	loop_timer_cancel(c->h->loop, &c->wake);
	if (c->easy != NULL)
		hcurl_release(c);
	pattern_free(c->pattern);
	for (size_t i = 0; i < c->ntags; i++)
		free(c->tags[i]);
	free(c->tags);
	free(c->name);
	free(c->url);
	free(c->version);
	free(c->statuses);
	free(c->body);
	free(c->out);
	free(c->post);
	sse_reader_clear(&c->sse);
	mcp_session_free(c->mcp);
	cJSON_Delete(c->details);
	cJSON_Delete(c->config);
	free(c);
}

void
health_free(struct health *h)
{
	if (h == NULL)
		return;
	h->tapped = false;
	health_detach_stdio(h, "the engine stopped");
	free(h->stdio_out);
	free(h->stdio_line);
	for (size_t i = 0; i < h->nchecks; i++)
		check_free(h->checks[i]);
	free(h->checks);
	hcurl_free(h);
	free(h);
}

static long long
json_int(const cJSON *o, const char *key, long long def)
{
	const cJSON	*j = cJSON_GetObjectItem(o, key);

	if (cJSON_IsNumber(j))
		return json_int_within(j, LLONG_MIN, LLONG_MAX, def);
	if (cJSON_IsString(j) && j->valuestring[0] != '\0') {
		char		*end;
		long long	 v = strtoll(j->valuestring, &end, 10);

		if (*end == '\0')
			return v;
	}
	return def;
}

static int
parse_check(struct check *c, const cJSON *j, struct errbuf *err)
{
	const char	*name = cJSON_GetStringValue(cJSON_GetObjectItem(j,
			    "name"));
	const char	*type = cJSON_GetStringValue(cJSON_GetObjectItem(j,
			    "type"));
	const cJSON	*tags = cJSON_GetObjectItem(j, "tags"), *t;
	const cJSON	*critical = cJSON_GetObjectItem(j, "critical");
	size_t		 i;

	if (name == NULL || type == NULL) {
		errbuf_set(err, "a health check without a name or a type");
		return -EINVAL;
	}
	for (i = 0; type_names[i] != NULL; i++)
		if (strcmp(type_names[i], type) == 0)
			break;
	if (type_names[i] == NULL) {
		errbuf_set(err, "health check '%s': unknown type '%s'", name,
		    type);
		return -EINVAL;
	}
	c->type = (enum check_type)i;
	c->type_name = type_names[i];
	if ((c->name = strdup(name)) == NULL)
		return -ENOMEM;
	c->timeout_ms = (unsigned)json_int(j, "timeout_seconds", 10) * 1000;
	c->retries = (unsigned)json_int(j, "retry_attempts", 3);
	c->interval_ms = (unsigned)json_int(j, "interval_seconds", 30) * 1000;
	c->threshold = (unsigned)json_int(j, "failure_threshold", 3);
	c->critical = critical == NULL || cJSON_IsTrue(critical);
	c->readiness_only = cJSON_IsTrue(cJSON_GetObjectItem(j,
	    "readiness_only"));
	if (c->timeout_ms == 0)
		c->timeout_ms = 1000;
	if (c->interval_ms == 0)
		c->interval_ms = 1000;
	if ((c->tags = calloc((size_t)cJSON_GetArraySize(tags) + 1,
	    sizeof(char *))) == NULL)
		return -ENOMEM;
	cJSON_ArrayForEach(t, tags)
		if (cJSON_IsString(t) &&
		    (c->tags[c->ntags++] = strdup(t->valuestring)) == NULL)
			return -ENOMEM;
	c->config = cJSON_Duplicate(cJSON_GetObjectItem(j, "config"), 1);
	if (c->config == NULL && (c->config = cJSON_CreateObject()) == NULL)
		return -ENOMEM;
	return 0;
}

static void	check_fs(struct check *);
static void	check_stdio(struct check *);
static void	stdio_abort(struct check *);
static void	stdio_expire(struct check *);

static int
fs_prepare(struct check *c, struct errbuf *err)
{
	if (cJSON_GetStringValue(cJSON_GetObjectItem(c->config, "path")) ==
	    NULL) {
		errbuf_set(err, "health check '%s' names no path", c->name);
		return -EINVAL;
	}
	return 0;
}

static void
nothing_to_abort(struct check *c)
{
	(void)c;
}

static const struct check_ops fs_ops = {
	fs_prepare, check_fs, nothing_to_abort, NULL,
};

static int
stdio_prepare(struct check *c, struct errbuf *err)
{
	struct health	*h = c->h;

	(void)err;
	h->wants_stdio = true;
	h->stdio_probe |= c->probe;
	if (h->stdio_version == NULL)
		h->stdio_version = c->version;
	return 0;
}

static const struct check_ops stdio_ops = {
	stdio_prepare, check_stdio, stdio_abort, stdio_expire,
};

/* An MCP check speaks over the server's stdio or over HTTP. */
static const struct check_ops *
mcp_ops(struct check *c, struct errbuf *err)
{
	const char	*transport = cJSON_GetStringValue(
			    cJSON_GetObjectItem(c->config, "transport"));
	const char	*probe = cJSON_GetStringValue(cJSON_GetObjectItem(
			    c->config, "probe"));
	const char	*version = cJSON_GetStringValue(cJSON_GetObjectItem(
			    c->config, "protocol_version"));

	c->probe = probe == NULL || strcmp(probe, "both") == 0 ?
	    MCP_PROBE_BOTH : strcmp(probe, "ping") == 0 ? MCP_PROBE_PING :
	    MCP_PROBE_TOOLS;
	if (version != NULL && (c->version = strdup(version)) == NULL) {
		errbuf_set(err, "out of memory");
		return NULL;
	}
	if (transport == NULL || strcmp(transport, "stdio") == 0)
		return &stdio_ops;
	if (strcmp(transport, "http") != 0) {
		errbuf_set(err, "health check '%s': transport '%s' is not "
		    "stdio or http", c->name, transport);
		return NULL;
	}
	return &hcurl_ops;
}

static const struct check_ops *
type_ops(struct check *c, struct errbuf *err)
{
	switch (c->type) {
	case CT_HTTP:
	case CT_TCP:
		return &hcurl_ops;
	case CT_MCP:
		return mcp_ops(c, err);
	case CT_COMMAND:
	case CT_CUSTOM:
		return &hproc_ops;
	case CT_FILE_SYSTEM:
		return &fs_ops;
	}
	return NULL;
}

int
health_add(struct health *h, const cJSON *j, struct errbuf *err)
{
	struct check	*c;
	int		 r;

	if (h->nchecks == h->cap) {
		size_t		 cap = h->cap ? h->cap * 2 : 8;
		struct check	**p = realloc(h->checks, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		h->checks = p;
		h->cap = cap;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->h = h;
	c->index = h->nchecks;
	c->out_w.fd = c->status_w.fd = -1;
	c->ops = &fs_ops;	/* nothing to undo, until the type is known */
	check_timers_init(c);
	if ((r = parse_check(c, j, err)) < 0)
		goto fail;
	if ((c->ops = type_ops(c, err)) == NULL) {
		c->ops = &fs_ops;
		r = -EINVAL;
		goto fail;
	}
	if ((r = c->ops->prepare(c, err)) < 0)
		goto fail;
	h->checks[h->nchecks++] = c;
	return (int)c->index;
fail:
	if (r == -ENOMEM)
		errbuf_set(err, "out of memory");
	check_free(c);
	return r;
}

size_t
health_count(const struct health *h)
{
	return h->nchecks;
}

const char *
health_name(const struct health *h, size_t i)
{
	return h->checks[i]->name;
}

bool
health_critical(const struct health *h, size_t i)
{
	return h->checks[i]->critical;
}

bool
health_has_tag(const struct health *h, size_t i, const char *tag)
{
	const struct check	*c = h->checks[i];

	for (size_t k = 0; k < c->ntags; k++)
		if (strcmp(c->tags[k], tag) == 0)
			return true;
	return false;
}

bool
health_wants_stdio(const struct health *h)
{
	return h->wants_stdio;
}

/* Where url's authority is: its host (a bracketed IPv6 address without
 * its brackets) and its port's text, if any. false when it has none. */
static bool
url_authority(const char *url, const char **authority, size_t *len,
    char *name, size_t namesize, const char **colon)
{
	const char	*host, *end;

	if (url == NULL || (host = strstr(url, "://")) == NULL)
		return false;
	host += 3;
	*authority = host;
	*len = strcspn(host, "/?#");
	if (host[0] == '[') {
		if ((end = memchr(host, ']', *len)) == NULL)
			return false;
		snprintf(name, namesize, "%.*s", (int)(end - host - 1),
		    host + 1);
		*colon = end[1] == ':' ? end + 1 : NULL;
	} else {
		*colon = memchr(host, ':', *len);
		snprintf(name, namesize, "%.*s", (int)(*colon != NULL ?
		    (size_t)(*colon - host) : *len), host);
	}
	return true;
}

bool
health_local_port(const struct health *h, size_t i, unsigned *port)
{
	const char	*url = h->checks[i]->url, *authority, *colon;
	char		 name[256];
	size_t		 len;
	long		 p;

	if (!url_authority(url, &authority, &len, name, sizeof(name), &colon))
		return false;
	p = colon != NULL ? strtol(colon + 1, NULL, 10) :
	    strncmp(url, "https:", 6) == 0 ? 443 : 80;
	if (p <= 0 || p > 65535)
		return false;
	*port = (unsigned)p;
	return strncmp(name, "127.", 4) == 0 || strcmp(name, "::1") == 0 ||
	    strcasecmp(name, "localhost") == 0 || strcmp(name, "0.0.0.0") == 0;
}

char *
health_url_with_port(const char *url, unsigned port)
{
	const char	*authority, *colon;
	char		 name[256], *out;
	size_t		 len, keep;

	if (!url_authority(url, &authority, &len, name, sizeof(name), &colon)) {
		errno = EINVAL;
		return NULL;
	}
	keep = (size_t)((colon != NULL ? colon : authority + len) - url);
	if (asprintf(&out, "%.*s:%u%s", (int)keep, url, port,
	    authority + len) == -1)
		return NULL;
	return out;
}

bool
health_stdio_critical(const struct health *h)
{
	for (size_t i = 0; i < h->nchecks; i++)
		if (h->checks[i]->ops == &stdio_ops && h->checks[i]->critical)
			return true;
	return false;
}

/* --- attempts --- */

static void
check_fs(struct check *c)
{
	const char	*path = cJSON_GetStringValue(cJSON_GetObjectItem(
			    c->config, "path"));
	long long	 min_mb = json_int(c->config, "min_free_space_mb", 0);
	struct stat	 st;
	struct statvfs	 vfs;
	double		 free_mb;

	if (stat(path, &st) == -1) {
		check_finish(c, false, "%s: %s", path, strerror(errno));
		return;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItem(c->config, "check_readable")) &&
	    access(path, R_OK) == -1) {
		check_finish(c, false, "%s is not readable: %s", path,
		    strerror(errno));
		return;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItem(c->config, "check_writable")) &&
	    access(path, W_OK) == -1) {
		check_finish(c, false, "%s is not writable: %s", path,
		    strerror(errno));
		return;
	}
	if (statvfs(path, &vfs) == -1) {
		check_finish(c, false, "statvfs %s: %s", path, strerror(errno));
		return;
	}
	free_mb = (double)vfs.f_bavail * (double)vfs.f_frsize / 1048576.0;
	cJSON_AddNumberToObject(check_details(c), "free_space_mb",
	    (double)(long long)free_mb);
	cJSON_AddBoolToObject(check_details(c), "directory",
	    S_ISDIR(st.st_mode));
	if (min_mb > 0 && free_mb < (double)min_mb) {
		check_finish(c, false, "%s has %.0f MB free, below %lld MB",
		    path, free_mb, min_mb);
		return;
	}
	check_finish(c, true, "%s: %.0f MB free", path, free_mb);
}

static int
stdio_queue(struct health *h, const char *p, size_t len, bool newline)
{
	size_t	need = h->stdio_out_len + len + newline;

	if (need > h->stdio_out_cap) {
		size_t	 cap = h->stdio_out_cap ? h->stdio_out_cap : 4096;
		char	*q;

		while (cap < need)
			cap *= 2;
		if ((q = realloc(h->stdio_out, cap)) == NULL)
			return -ENOMEM;
		h->stdio_out = q;
		h->stdio_out_cap = cap;
	}
	memcpy(h->stdio_out + h->stdio_out_len, p, len);
	h->stdio_out_len += len;
	if (newline)
		h->stdio_out[h->stdio_out_len++] = '\n';
	return 0;
}

/* The session's lines join the queue (they are whole lines), and the
 * queue goes to the server as far as its input takes it. */
static void
stdio_flush(struct health *h)
{
	const char	*p;
	size_t		 len, off = 0;
	ssize_t		 n;
	bool		 want;

	if (h->stdio_in_w.fd == -1)
		return;
	if (h->stdio != NULL && (p = mcp_session_output(h->stdio, &len),
	    len > 0)) {
		if (stdio_queue(h, p, len, false) < 0)
			mcp_session_fail(h->stdio, "out of memory");
		else
			mcp_session_consumed(h->stdio, len);
	}
	while (off < h->stdio_out_len) {
		if ((n = write(h->stdio_in_w.fd, h->stdio_out + off,
		    h->stdio_out_len - off)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && h->stdio != NULL)
				mcp_session_fail(h->stdio, "writing to the "
				    "server's input failed");
			if (errno != EAGAIN)
				off = h->stdio_out_len;	/* nobody reads */
			break;
		}
		off += (size_t)n;
	}
	memmove(h->stdio_out, h->stdio_out + off, h->stdio_out_len - off);
	h->stdio_out_len -= off;
	want = h->stdio_out_len > 0;
	if (want != h->stdio_want_out) {
		h->stdio_want_out = want;
		if (want)
			loop_add(h->loop, &h->stdio_in_w, EPOLLOUT);
		else
			loop_del(h->loop, &h->stdio_in_w);
	}
}

int
health_stdio_send(struct health *h, const char *line, size_t len)
{
	if (h->stdio_in_w.fd == -1)
		return -EPIPE;
	if (h->stdio_out_len + len + 1 > HEALTH_STDIO_QUEUE_MAX)
		return -ENOBUFS;
	if (stdio_queue(h, line, len, true) < 0)
		return -ENOMEM;
	stdio_flush(h);
	return 0;
}

void
health_stdio_tap(struct health *h, const struct health_stdio_tap *tap)
{
	h->tapped = tap != NULL;
	h->tap_told = false;
	if (tap != NULL)
		h->tap = *tap;
	tell_tap(h);	/* a handshake done before the tap came */
}

/* The tap hears of the session's handshake once per session. */
static void
tell_tap(struct health *h)
{
	const char	*result;

	if (!h->tapped || h->tap_told || h->stdio == NULL ||
	    (result = mcp_session_init_result(h->stdio)) == NULL)
		return;
	h->tap_told = true;
	h->tap.session(h->tap.arg, result, NULL);
}

/* With a tap: whole lines, each offered to it before the session. */
static void
stdio_lines(struct health *h, const char *buf, size_t n)
{
	while (n > 0) {
		const char	*nl = memchr(buf, '\n', n);
		size_t		 take = nl != NULL ? (size_t)(nl - buf) : n;

		if (h->stdio_line_len + take > MCP_LINE_MAX) {
			/* the session fails on it, as it would alone */
			if (h->stdio != NULL)
				mcp_session_fail(h->stdio, "server wrote a "
				    "line longer than the most allowed");
			h->stdio_line_len = 0;
			if (nl == NULL)
				return;
			buf += take + 1;
			n -= take + 1;
			continue;
		}
		if (h->stdio_line_len + take > h->stdio_line_cap) {
			size_t	 cap = h->stdio_line_cap ? h->stdio_line_cap :
				    4096;
			char	*p;

			while (cap < h->stdio_line_len + take)
				cap *= 2;
			if ((p = realloc(h->stdio_line, cap)) == NULL)
				return;
			h->stdio_line = p;
			h->stdio_line_cap = cap;
		}
		memcpy(h->stdio_line + h->stdio_line_len, buf, take);
		h->stdio_line_len += take;
		if (nl == NULL)
			return;
		buf += take + 1;
		n -= take + 1;
		{
			size_t	len = h->stdio_line_len;

			h->stdio_line_len = 0;
			while (len > 0 && h->stdio_line[len - 1] == '\r')
				len--;
			if (len == 0)
				continue;
			if (h->tap.line(h->tap.arg, h->stdio_line, len))
				continue;
			if (h->stdio != NULL) {
				mcp_session_feed(h->stdio, h->stdio_line, len);
				mcp_session_feed(h->stdio, "\n", 1);
				tell_tap(h);
			}
		}
	}
}

static void
check_stdio(struct check *c)
{
	struct health	*h = c->h;

	if (h->stdio_out_w.fd == -1) {
		check_finish(c, false, "the server has no stdio channel (not "
		    "running, or not a stdio server)");
		return;
	}
	if (h->stdio != NULL && mcp_session_state(h->stdio) == MCP_FAILED) {
		/* a failed session is not reused; the next speaks afresh */
		mcp_session_free(h->stdio);
		h->stdio = NULL;
	}
	if (h->stdio == NULL) {
		h->tap_told = false;
		if ((h->stdio = mcp_session_new(h->stdio_version,
		    h->stdio_probe)) == NULL) {
			check_finish(c, false, "out of memory");
			return;
		}
	} else if (mcp_session_state(h->stdio) == MCP_IDLE)
		mcp_session_probe(h->stdio);
	c->stdio_waiting = true;
	stdio_flush(h);
	stdio_settle(h);
}

static void
stdio_abort(struct check *c)
{
	c->stdio_waiting = false;
}

/* No answer in time: the session failed, for every check waiting on it. */
static void
stdio_expire(struct check *c)
{
	char	why[96];

	if (!c->stdio_waiting || c->h->stdio == NULL) {
		check_finish(c, false, "no answer within %u ms", c->timeout_ms);
		return;
	}
	snprintf(why, sizeof(why), "no answer within %u ms", c->timeout_ms);
	mcp_session_fail(c->h->stdio, why);
	stdio_settle(c->h);
}

int
health_run(struct health *h, size_t i, enum health_phase phase)
{
	struct check	*c = h->checks[i];

	if (c->running)
		return -EBUSY;
	c->running = true;
	c->phase = phase;
	c->attempt = 0;
	attempt_start(c);
	return 0;
}

bool
health_busy(const struct health *h)
{
	for (size_t i = 0; i < h->nchecks; i++)
		if (h->checks[i]->running)
			return true;
	return false;
}

void
health_liveness(struct health *h, bool on)
{
	h->liveness = on;
	for (size_t i = 0; i < h->nchecks; i++) {
		struct check	*c = h->checks[i];

		c->consecutive = 0;
		if (c->running || c->readiness_only)
			continue;
		if (on)
			loop_timer_set(h->loop, &c->wake, c->interval_ms);
		else
			loop_timer_cancel(h->loop, &c->wake);
	}
}

void
health_cancel(struct health *h)
{
	for (size_t i = 0; i < h->nchecks; i++) {
		struct check	*c = h->checks[i];

		check_abort(c);
		c->running = false;
		loop_timer_cancel(h->loop, &c->wake);
	}
}

/* --- MCP over stdio --- */

/* Completes every check waiting on the stdio session once it is idle
 * (its probe passed) or failed. */
static void
stdio_settle(struct health *h)
{
	enum mcp_state	st;

	if (h->stdio == NULL)
		return;
	st = mcp_session_state(h->stdio);
	if (st != MCP_IDLE && st != MCP_FAILED)
		return;
	for (size_t i = 0; i < h->nchecks; i++) {
		struct check	*c = h->checks[i];

		if (!c->stdio_waiting)
			continue;
		c->stdio_waiting = false;
		if (st == MCP_FAILED)
			check_finish(c, false, "%s",
			    mcp_session_result(h->stdio)->error);
		else if (!check_mcp_result(c, h->stdio)) {
			char	why[sizeof(c->message)];

			memcpy(why, c->message, sizeof(why));
			check_finish(c, false, "%s", why);
		} else
			check_finish(c, true, "MCP %s, %s %s",
			    mcp_session_result(h->stdio)->protocol_version,
			    mcp_session_result(h->stdio)->server_name,
			    mcp_session_result(h->stdio)->server_version);
	}
}

static void
on_stdio_out(struct watcher *w, uint32_t events)
{
	struct health	*h = container_of(w, struct health, stdio_out_w);
	char		 buf[4096];
	ssize_t		 n = -1;

	(void)events;
	for (int i = 0; i < STDIO_READ_BURST &&
	    (n = read(w->fd, buf, sizeof(buf))) > 0; i++)
		if (h->tapped)
			stdio_lines(h, buf, (size_t)n);
		else if (h->stdio != NULL)
			mcp_session_feed(h->stdio, buf, (size_t)n);
	if (n == 0) {
		/* EOF: the descriptor stays the caller's, unwatched */
		loop_del(h->loop, w);
		w->fd = -1;
		if (h->stdio != NULL)
			mcp_session_eof(h->stdio);
		if (h->tapped)
			h->tap.session(h->tap.arg, NULL, "the server closed "
			    "its output");
	}
	stdio_flush(h);
	stdio_settle(h);
}

static void
on_stdio_in(struct watcher *w, uint32_t events)
{
	struct health	*h = container_of(w, struct health, stdio_in_w);

	(void)events;
	stdio_flush(h);
	stdio_settle(h);
}

void
health_attach_stdio(struct health *h, int in_fd, int out_fd)
{
	health_detach_stdio(h, "the server was replaced");
	h->stdio_in_w.fd = in_fd;
	h->stdio_out_w.fd = out_fd;
	loop_add(h->loop, &h->stdio_out_w, EPOLLIN);
}

void
health_detach_stdio(struct health *h, const char *why)
{
	bool	had = h->stdio_in_w.fd != -1 || h->stdio_out_w.fd != -1;

	if (h->stdio_out_w.fd != -1)
		loop_del(h->loop, &h->stdio_out_w);
	if (h->stdio_want_out)
		loop_del(h->loop, &h->stdio_in_w);
	h->stdio_out_w.fd = h->stdio_in_w.fd = -1;
	h->stdio_want_out = false;
	h->stdio_out_len = h->stdio_line_len = 0;
	if (h->stdio != NULL) {
		mcp_session_fail(h->stdio, why);
		stdio_settle(h);
		mcp_session_free(h->stdio);
		h->stdio = NULL;
	}
	if (h->tapped && had) {
		h->tap_told = false;
		h->tap.session(h->tap.arg, NULL, why);
	}
}

bool
health_child_exited(struct health *h, pid_t pid, int status)
{
	for (size_t i = 0; i < h->nchecks; i++) {
		struct check	*c = h->checks[i];

		if (c->pid == pid && pid > 0) {
			hproc_exited(c, status);
			return true;
		}
	}
	return false;
}
