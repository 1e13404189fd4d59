/*
 * The health engine: checks, their runs and attempts, the timers that
 * bound and space them, and the two kinds of check simple enough to live
 * here: file_system (a few system calls, done at once) and MCP over the
 * server's stdio channel (one session per server process, shared by
 * every check that speaks on it). libcurl's checks are in health_curl.c,
 * programs and plugins in health_proc.c.
 *
 * Timers are deadlines in milliseconds on the monotonic clock, kept in
 * the checks themselves; one timerfd is armed for the earliest. A
 * worker holds a handful of checks, so finding it is a walk.
 */
#include "health_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"

#define BACKOFF_BASE_MS		500
#define BACKOFF_MAX_MS		10000
#define STDIO_READ_BURST	16

static const char *const type_names[] = { "http", "tcp", "command",
    "file_system", "mcp", "custom", NULL };

static void	stdio_settle(struct health *);

uint64_t
health_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
health_now_ms(void)
{
	return health_now_us() / 1000;
}

void
health_epoll(struct health *h, int op, int fd, uint32_t events, uint64_t tag)
{
	struct epoll_event	ev = { .events = events, .data.u64 = tag };

	epoll_ctl(h->epfd, op, fd, op == EPOLL_CTL_DEL ? NULL : &ev);
}

struct health *
health_new(health_done_fn *done, void *arg)
{
	struct health	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->done = done;
	h->arg = arg;
	h->stdio_in = h->stdio_out = -1;
	h->rng = health_now_us() ^ ((uint64_t)getpid() << 32) ^
	    (uint64_t)(uintptr_t)h;
	if ((h->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(h);
		return NULL;
	}
	if ((h->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1) {
		close(h->epfd);
		free(h);
		return NULL;
	}
	health_epoll(h, EPOLL_CTL_ADD, h->timerfd, EPOLLIN, HW_TAG(HW_TIMER, 0));
	return h;
}

static void
check_abort(struct check *c)
{
	switch (c->type) {
	case CT_HTTP:
	case CT_TCP:
		hcurl_abort(c);
		break;
	case CT_MCP:
		if (c->easy != NULL)
			hcurl_abort(c);
		c->stdio_waiting = false;
		break;
	case CT_COMMAND:
	case CT_CUSTOM:
		hproc_abort(c);
		break;
	case CT_FILE_SYSTEM:
		break;
	}
	c->deadline_ms = 0;
}

static void
check_free(struct check *c)
{
	check_abort(c);
	if (c->easy != NULL)
		hcurl_release(c);
	if (c->has_regex)
		regfree(&c->regex);
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
	health_detach_stdio(h, "the engine stopped");
	for (size_t i = 0; i < h->nchecks; i++)
		check_free(h->checks[i]);
	free(h->checks);
	hcurl_free(h);
	close(h->timerfd);
	close(h->epfd);
	free(h);
}

static long long
json_int(const cJSON *o, const char *key, long long def)
{
	const cJSON	*j = cJSON_GetObjectItem(o, key);

	if (cJSON_IsNumber(j))
		return (long long)j->valuedouble;
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

static int
prepare_mcp(struct check *c, struct errbuf *err)
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
	if (version != NULL && (c->version = strdup(version)) == NULL)
		return -ENOMEM;
	if (transport == NULL || strcmp(transport, "stdio") == 0) {
		struct health	*h = c->h;

		h->wants_stdio = true;
		h->stdio_probe |= c->probe;
		if (h->stdio_version == NULL)
			h->stdio_version = c->version;
		return 0;
	}
	if (strcmp(transport, "http") != 0) {
		errbuf_set(err, "health check '%s': transport '%s' is not "
		    "stdio or http", c->name, transport);
		return -EINVAL;
	}
	return hcurl_prepare(c, err);
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
	c->pid = 0;
	c->out_fd = -1;
	if ((r = parse_check(c, j, err)) < 0)
		goto fail;
	switch (c->type) {
	case CT_HTTP:
	case CT_TCP:
		r = hcurl_prepare(c, err);
		break;
	case CT_MCP:
		r = prepare_mcp(c, err);
		break;
	case CT_COMMAND:
	case CT_CUSTOM:
		r = hproc_prepare(c, err);
		break;
	case CT_FILE_SYSTEM:
		if (cJSON_GetStringValue(cJSON_GetObjectItem(c->config,
		    "path")) == NULL) {
			errbuf_set(err, "health check '%s' names no path",
			    c->name);
			r = -EINVAL;
		}
		break;
	}
	if (r < 0)
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

int
health_fd(const struct health *h)
{
	return h->epfd;
}

cJSON *
check_details(struct check *c)
{
	if (c->details == NULL)
		c->details = cJSON_CreateObject();
	return c->details;
}

/* --- timers --- */

/* Arms the timer for the earliest deadline. A later deadline than the
 * armed one leaves the timer as it is: it fires early and is armed again
 * then. Reprogramming a timer is a system call and, in a virtual machine,
 * an exit to the hypervisor; with a hundred checks in flight, each start
 * and end would otherwise pay it. */
static void
rearm(struct health *h)
{
	struct itimerspec	its = { 0 };
	uint64_t		next = h->curl_deadline_ms;

	for (size_t i = 0; i < h->nchecks; i++) {
		const struct check	*c = h->checks[i];

		if (c->deadline_ms != 0 && (next == 0 || c->deadline_ms < next))
			next = c->deadline_ms;
		if (c->wake_ms != 0 && (next == 0 || c->wake_ms < next))
			next = c->wake_ms;
	}
	if (next == 0 || (h->armed_ms != 0 && next >= h->armed_ms))
		return;
	h->armed_ms = next;
	/* an absolute time of 0 would disarm the timer */
	its.it_value.tv_sec = (time_t)(next / 1000);
	its.it_value.tv_nsec = (long)(next % 1000) * 1000000 + 1;
	timerfd_settime(h->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static unsigned
backoff_ms(struct health *h, unsigned attempt)
{
	uint64_t	ms = BACKOFF_BASE_MS;

	for (unsigned i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	/* xorshift64: jitter of +-25% keeps restarted fleets from probing
	 * in lockstep */
	h->rng ^= h->rng << 13;
	h->rng ^= h->rng >> 7;
	h->rng ^= h->rng << 17;
	return (unsigned)(ms * 3 / 4 + h->rng % (ms / 2 + 1));
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

static void
stdio_flush(struct health *h)
{
	const char	*p;
	size_t		 len;
	ssize_t		 n;
	bool		 want;

	if (h->stdio == NULL || h->stdio_in == -1)
		return;
	while ((p = mcp_session_output(h->stdio, &len), len > 0)) {
		if ((n = write(h->stdio_in, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				mcp_session_fail(h->stdio, "writing to the "
				    "server's input failed");
			break;
		}
		mcp_session_consumed(h->stdio, (size_t)n);
	}
	mcp_session_output(h->stdio, &len);
	want = len > 0 && mcp_session_state(h->stdio) != MCP_FAILED;
	if (want != h->stdio_want_out) {
		h->stdio_want_out = want;
		health_epoll(h, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
		    h->stdio_in, EPOLLOUT, HW_TAG(HW_STDIO_IN, 0));
	}
}

static void
check_stdio(struct check *c)
{
	struct health	*h = c->h;

	if (h->stdio_out == -1) {
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
attempt_start(struct check *c)
{
	c->attempt++;
	c->wake_ms = 0;
	c->started_us = health_now_us();
	c->deadline_ms = c->started_us / 1000 + c->timeout_ms;
	c->response_ms = -1;
	c->message[0] = '\0';
	cJSON_Delete(c->details);
	c->details = NULL;
	switch (c->type) {
	case CT_FILE_SYSTEM:
		check_fs(c);
		break;
	case CT_HTTP:
	case CT_TCP:
		hcurl_start(c);
		break;
	case CT_MCP:
		if (c->url == NULL)
			check_stdio(c);
		else
			hcurl_start(c);
		break;
	case CT_COMMAND:
	case CT_CUSTOM:
		hproc_start(c);
		break;
	}
}

void
check_finish(struct check *c, bool healthy, const char *fmt, ...)
{
	struct health		*h = c->h;
	struct health_result	 res;
	uint64_t		 now = health_now_us();
	va_list			 ap;

	if (!c->running)
		return;
	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
	check_abort(c);
	if (c->response_ms < 0)
		c->response_ms = (double)(now - c->started_us) / 1000.0;
	if (c->phase == HEALTH_LIVENESS)
		c->consecutive = healthy ? 0 : c->consecutive + 1;
	else if (!healthy && c->attempt <= c->retries) {
		/* another attempt, after a pause */
		c->wake_ms = now / 1000 + backoff_ms(h, c->attempt);
		return;
	}
	c->running = false;
	if (h->liveness)
		c->wake_ms = now / 1000 + c->interval_ms;
	res = (struct health_result){
		.check = c->name, .type = c->type_name, .phase = c->phase,
		.healthy = healthy, .critical = c->critical,
		.attempts = c->attempt,
		.consecutive_failures = c->consecutive,
		.failure_threshold = c->threshold,
		.response_ms = c->response_ms, .message = c->message,
		.details = c->details,
	};
	h->done(h->arg, c->index, &res);
}

cJSON *
health_result_json(const struct health_result *r)
{
	cJSON	*o = cJSON_CreateObject();

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "check", r->check);
	cJSON_AddStringToObject(o, "type", r->type);
	cJSON_AddStringToObject(o, "phase", r->phase == HEALTH_LIVENESS ?
	    "liveness" : r->phase == HEALTH_ONCE ? "once" : "readiness");
	cJSON_AddBoolToObject(o, "healthy", r->healthy);
	cJSON_AddBoolToObject(o, "critical", r->critical);
	cJSON_AddNumberToObject(o, "attempts", r->attempts);
	cJSON_AddNumberToObject(o, "consecutive_failures",
	    r->consecutive_failures);
	cJSON_AddNumberToObject(o, "failure_threshold", r->failure_threshold);
	/* microseconds are noise in a record */
	cJSON_AddNumberToObject(o, "response_ms",
	    (double)(long long)(r->response_ms * 1000) / 1000);
	cJSON_AddStringToObject(o, "message", r->message);
	if (r->details != NULL)
		cJSON_AddItemToObject(o, "details",
		    cJSON_Duplicate(r->details, 1));
	return o;
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
	rearm(h);
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
	uint64_t	now = health_now_ms();

	h->liveness = on;
	for (size_t i = 0; i < h->nchecks; i++) {
		struct check	*c = h->checks[i];

		c->consecutive = 0;
		if (!c->running)
			c->wake_ms = on ? now + c->interval_ms : 0;
	}
	rearm(h);
}

void
health_cancel(struct health *h)
{
	for (size_t i = 0; i < h->nchecks; i++) {
		struct check	*c = h->checks[i];

		check_abort(c);
		c->running = false;
		c->wake_ms = 0;
	}
	rearm(h);
}

static void
on_timer(struct health *h)
{
	uint64_t	expirations, now = health_now_ms();

	if (read(h->timerfd, &expirations, sizeof(expirations)) == -1 &&
	    errno != EAGAIN)
		return;
	h->armed_ms = 0;
	if (h->curl_deadline_ms != 0 && h->curl_deadline_ms <= now)
		hcurl_timeout(h);
	for (size_t i = 0; i < h->nchecks; i++) {
		struct check	*c = h->checks[i];

		if (c->deadline_ms != 0 && c->deadline_ms <= now) {
			if (c->stdio_waiting && h->stdio != NULL) {
				char	why[96];

				snprintf(why, sizeof(why), "no answer within "
				    "%u ms", c->timeout_ms);
				/* every check waiting on the session learns */
				mcp_session_fail(h->stdio, why);
				stdio_settle(h);
			} else
				check_finish(c, false, "no answer within %u ms",
				    c->timeout_ms);
		} else if (c->wake_ms != 0 && c->wake_ms <= now) {
			if (!c->running) {
				c->running = true;
				c->phase = HEALTH_LIVENESS;
				c->attempt = 0;
			}
			attempt_start(c);
		}
	}
}

/* --- MCP over stdio --- */

bool
check_mcp_result(struct check *c, const struct mcp_session *s)
{
	const struct mcp_result	*r = mcp_session_result(s);
	const cJSON		*want = cJSON_GetObjectItem(c->config,
				    "expected_tools"), *t;
	cJSON			*d = check_details(c);

	cJSON_AddStringToObject(d, "protocol_version", r->protocol_version);
	cJSON_AddStringToObject(d, "server_name", r->server_name);
	cJSON_AddStringToObject(d, "server_version", r->server_version);
	if (r->tools != NULL) {
		cJSON	*names = cJSON_AddArrayToObject(d, "tools");

		cJSON_AddNumberToObject(d, "tool_count", (double)r->ntools);
		for (size_t i = 0; i < r->ntools; i++)
			cJSON_AddItemToArray(names,
			    cJSON_CreateString(r->tools[i]));
	}
	cJSON_ArrayForEach(t, want) {
		if (!cJSON_IsString(t) || mcp_session_has_tool(s,
		    t->valuestring))
			continue;
		snprintf(c->message, sizeof(c->message), "%s lists no tool "
		    "'%s'", r->server_name[0] != '\0' ? r->server_name :
		    "the server", t->valuestring);
		return false;
	}
	return true;
}

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
on_stdio_out(struct health *h)
{
	char	buf[4096];
	ssize_t	n = -1;

	for (int i = 0; i < STDIO_READ_BURST &&
	    (n = read(h->stdio_out, buf, sizeof(buf))) > 0; i++)
		if (h->stdio != NULL)
			mcp_session_feed(h->stdio, buf, (size_t)n);
	if (n == 0) {
		health_epoll(h, EPOLL_CTL_DEL, h->stdio_out, 0, 0);
		if (h->stdio != NULL)
			mcp_session_eof(h->stdio);
	}
	stdio_flush(h);
	stdio_settle(h);
}

void
health_attach_stdio(struct health *h, int in_fd, int out_fd)
{
	health_detach_stdio(h, "the server was replaced");
	h->stdio_in = in_fd;
	h->stdio_out = out_fd;
	health_epoll(h, EPOLL_CTL_ADD, out_fd, EPOLLIN,
	    HW_TAG(HW_STDIO_OUT, 0));
}

void
health_detach_stdio(struct health *h, const char *why)
{
	if (h->stdio_out != -1)
		health_epoll(h, EPOLL_CTL_DEL, h->stdio_out, 0, 0);
	if (h->stdio_in != -1 && h->stdio_want_out)
		health_epoll(h, EPOLL_CTL_DEL, h->stdio_in, 0, 0);
	h->stdio_in = h->stdio_out = -1;
	h->stdio_want_out = false;
	if (h->stdio != NULL) {
		mcp_session_fail(h->stdio, why);
		stdio_settle(h);
		mcp_session_free(h->stdio);
		h->stdio = NULL;
	}
	rearm(h);
}

/* --- the loop --- */

bool
health_child_exited(struct health *h, pid_t pid, int status)
{
	for (size_t i = 0; i < h->nchecks; i++) {
		struct check	*c = h->checks[i];

		if (c->pid == pid && pid > 0) {
			hproc_exited(c, status);
			rearm(h);
			return true;
		}
	}
	return false;
}

void
health_dispatch(struct health *h)
{
	struct epoll_event	evs[64];
	int			n;

	if ((n = epoll_wait(h->epfd, evs, 64, 0)) <= 0)
		n = 0;
	for (int i = 0; i < n; i++) {
		uint32_t	v = (uint32_t)evs[i].data.u64;

		switch ((enum hwatch)(evs[i].data.u64 >> 32)) {
		case HW_TIMER:
			on_timer(h);
			break;
		case HW_CURL:
			hcurl_socket(h, (int)v, evs[i].events);
			break;
		case HW_PIPE:
			if (v < h->nchecks)
				hproc_readable(h->checks[v]);
			break;
		case HW_STDIO_OUT:
			if (h->stdio_out != -1)
				on_stdio_out(h);
			break;
		case HW_STDIO_IN:
			stdio_flush(h);
			stdio_settle(h);
			break;
		}
	}
	/* libcurl asks for "now" (a timeout of 0) often: served here, not
	 * through the timer */
	for (int k = 0; k < 8 && h->curl_deadline_ms != 0 &&
	    h->curl_deadline_ms <= health_now_ms(); k++)
		hcurl_timeout(h);
	rearm(h);
}
