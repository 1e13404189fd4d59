/*
 * The hub. Messages are serialised once into a ring of fixed capacity;
 * a client is a cursor into it, so fan-out costs no copy and a client
 * that stalls costs nothing but the gap it is told of when the ring
 * overtakes it.
 */
#include "hub.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "frame.h"
#include "state.h"
#include "util.h"

#define RECORDS_KEPT	20	/* deployments remembered */

/* health-check response times: 1 ms to 10 s */
const double hub_latency_bounds[HUB_LATENCY_BUCKETS] = { 0.001, 0.0025,
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10 };
/* deployments and rollbacks: 10 ms to 10 min */
const double hub_duration_bounds[HUB_DURATION_BUCKETS] = { 0.01, 0.05, 0.1,
    0.5, 1, 5, 10, 30, 60, 600 };
const char *const hub_outcomes[6] = { "succeeded", "failed", "invalid",
    "stopped", "superseded", "interrupted" };

static const char *
jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

static double
jnum(const cJSON *o, const char *key)
{
	const cJSON	*n = cJSON_GetObjectItem(o, key);

	return cJSON_IsNumber(n) ? n->valuedouble : 0;
}

/* A count: a whole number that fits, else 0 (never a cast of a double
 * that does not). */
static unsigned
jcount(const cJSON *o, const char *key)
{
	return (unsigned)json_int_within(cJSON_GetObjectItem(o, key), 0,
	    UINT_MAX, 0);
}

static void
observe(struct hub_histogram *h, const double *bounds, size_t nbounds,
    double v)
{
	size_t	i = 0;

	while (i < nbounds && v > bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

/* MemTotal, for memory_usage in percent as the guide reports it. */
static double
mem_total(void)
{
	FILE		*fp = fopen("/proc/meminfo", "re");
	unsigned long	 kb = 0;

	if (fp == NULL)
		return 0;
	if (fscanf(fp, "MemTotal: %lu kB", &kb) != 1)
		kb = 0;
	fclose(fp);
	return (double)kb * 1024;
}

int
hub_init(struct hub *h, size_t capacity, size_t headroom)
{
	memset(h, 0, sizeof(*h));
	h->headroom = headroom;
	h->cap = capacity;
	h->next_seq = 1;
	h->mem_total = mem_total();
	if ((h->ring = calloc(capacity, sizeof(*h->ring))) == NULL ||
	    (h->records = cJSON_CreateObject()) == NULL ||
	    (h->order = cJSON_CreateArray()) == NULL) {
		hub_free(h);
		return -ENOMEM;
	}
	return 0;
}

static void
server_free(struct hub_server *s)
{
	for (size_t i = 0; i < s->nchecks; i++)
		free(s->checks[i].name);
	free(s->checks);
	free(s->deployment_id);
	free(s->name);
}

void
hub_free(struct hub *h)
{
	for (size_t i = 0; h->ring != NULL && i < h->cap; i++)
		free(h->ring[i].buf);
	free(h->ring);
	for (size_t i = 0; i < h->nservers; i++)
		server_free(&h->servers[i]);
	free(h->servers);
	cJSON_Delete(h->records);
	cJSON_Delete(h->order);
	memset(h, 0, sizeof(*h));
}

const struct hub_msg *
hub_get(const struct hub *h, uint64_t seq)
{
	const struct hub_msg	*m;

	if (seq == 0 || seq >= h->next_seq)
		return NULL;
	m = &h->ring[seq % h->cap];
	return m->seq == seq ? m : NULL;
}

uint64_t
hub_oldest(const struct hub *h)
{
	return h->next_seq > h->cap ? h->next_seq - h->cap : 1;
}

/* Replaces each byte of text that is not part of well-formed UTF-8 with
 * '?': a server's output can hold anything, and a WebSocket text frame
 * must be UTF-8 (a browser closes the connection otherwise). */
static void
utf8_sanitise(unsigned char *p, size_t len)
{
	size_t	i = 0;

	while (i < len) {
		unsigned char	c = p[i];
		size_t		n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 :
				    (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ?
				    4 : 0;
		uint32_t	cp = n == 2 ? c & 0x1f : n == 3 ? c & 0x0f :
				    c & 0x07;
		bool		good = n > 0 && i + n <= len;

		for (size_t k = 1; good && k < n; k++) {
			good = (p[i + k] & 0xc0) == 0x80;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		/* no overlong forms, surrogates or code points past U+10FFFF */
		if (good && n > 1)
			good = !((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
			    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff));
		if (!good) {
			p[i++] = '?';
			continue;
		}
		i += n;
	}
}

/* Serialises {"type", "seq", "data"} (data taken) into out. */
int
hub_one(struct hub *h, const char *type, cJSON *data, uint64_t seq,
    struct hub_msg *out)
{
	cJSON	*o = cJSON_CreateObject();
	char	*text;
	size_t	 len;

	if (o == NULL) {
		cJSON_Delete(data);
		return -ENOMEM;
	}
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddNumberToObject(o, "seq", (double)seq);
	cJSON_AddItemToObject(o, "data", data);
	text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	if ((out->buf = malloc(h->headroom + len + 1)) == NULL) {
		free(text);
		return -ENOMEM;
	}
	memcpy(out->buf + h->headroom, text, len + 1);
	free(text);
	utf8_sanitise(out->buf + h->headroom, len);
	out->len = len;
	out->seq = seq;
	return 0;
}

static int
append(struct hub *h, const char *type, cJSON *data)
{
	struct hub_msg	 m;
	struct hub_msg	*slot;
	int		 r;

	if ((r = hub_one(h, type, data, h->next_seq, &m)) < 0)
		return r;
	slot = &h->ring[h->next_seq % h->cap];
	free(slot->buf);
	*slot = m;
	h->next_seq++;
	return 1;
}

void
hub_msgs_free(struct hub_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].buf);
	free(v);
}

/* --- servers and their metrics --- */

static struct hub_server *
server_get(struct hub *h, const char *deployment_id, const char *name)
{
	struct hub_server	*s;

	for (size_t i = 0; i < h->nservers; i++)
		if (strcmp(h->servers[i].deployment_id, deployment_id) == 0 &&
		    strcmp(h->servers[i].name, name) == 0)
			return &h->servers[i];
	if ((s = realloc(h->servers, (h->nservers + 1) * sizeof(*s))) == NULL)
		return NULL;
	h->servers = s;
	s = &h->servers[h->nservers];
	memset(s, 0, sizeof(*s));
	s->response_ms = -1;
	if ((s->deployment_id = strdup(deployment_id)) == NULL ||
	    (s->name = strdup(name)) == NULL) {
		server_free(s);
		return NULL;
	}
	h->nservers++;
	return s;
}

static struct hub_check *
check_get(struct hub_server *s, const char *name)
{
	struct hub_check	*c;

	for (size_t i = 0; i < s->nchecks; i++)
		if (strcmp(s->checks[i].name, name) == 0)
			return &s->checks[i];
	if ((c = realloc(s->checks, (s->nchecks + 1) * sizeof(*c))) == NULL)
		return NULL;
	s->checks = c;
	c = &s->checks[s->nchecks];
	memset(c, 0, sizeof(*c));
	if ((c->name = strdup(name)) == NULL)
		return NULL;
	s->nchecks++;
	return c;
}

void
hub_record_performance(struct hub *h, const char *deployment_id,
    const char *server, double cpu_percent, double rss_bytes,
    unsigned processes)
{
	struct hub_server	*s = server_get(h, deployment_id, server);
	size_t			 n;

	if (s == NULL)
		return;
	s->cpu_percent = cpu_percent;
	s->rss_bytes = rss_bytes;
	s->processes = processes;
	s->sampled = true;
	n = sizeof(s->cpu_hist) / sizeof(s->cpu_hist[0]);
	if (s->nhist == n) {
		memmove(s->cpu_hist, s->cpu_hist + 1, (n - 1) *
		    sizeof(s->cpu_hist[0]));
		memmove(s->rss_hist, s->rss_hist + 1, (n - 1) *
		    sizeof(s->rss_hist[0]));
		s->nhist--;
	}
	s->cpu_hist[s->nhist] = (float)cpu_percent;
	s->rss_hist[s->nhist] = (float)rss_bytes;
	s->nhist++;
}

/* Forgets the oldest deployments beyond RECORDS_KEPT, and their
 * servers' metrics. */
static void
evict(struct hub *h)
{
	while (cJSON_GetArraySize(h->order) > RECORDS_KEPT) {
		cJSON		*old = cJSON_DetachItemFromArray(h->order, 0);
		const char	*id = cJSON_GetStringValue(old);
		size_t		 kept = 0;

		for (size_t i = 0; i < h->nservers; i++) {
			if (strcmp(h->servers[i].deployment_id, id) == 0)
				server_free(&h->servers[i]);
			else
				h->servers[kept++] = h->servers[i];
		}
		h->nservers = kept;
		cJSON_DeleteItemFromObjectCaseSensitive(h->records, id);
		cJSON_Delete(old);
	}
}

/* --- messages --- */

static const char *
phase_of(const cJSON *rec)
{
	const char	*state = jstr(rec, "state");
	const char	*rb = jstr(cJSON_GetObjectItem(rec, "rollback"),
			    "state");

	if (rb != NULL && (strcmp(rb, "running") == 0 ||
	    strcmp(rb, "planned") == 0))
		return "rolling_back";
	if (rb != NULL && strcmp(rb, "awaiting_approval") == 0)
		return "awaiting_rollback_approval";
	if (state == NULL)
		return "unknown";
	if (strcmp(state, "running") == 0)
		return "deploying";
	if (strcmp(state, "succeeded") == 0)
		return "running";
	if (strcmp(state, "stopping") == 0)
		return "stopping";
	return jstr(rec, "outcome") != NULL ? jstr(rec, "outcome") : state;
}

/* The guide's deployment_update, from a deployment's record. */
static cJSON *
deployment_update(const cJSON *rec)
{
	cJSON		*d = cJSON_CreateObject(), *list;
	const cJSON	*s;
	const char	*state = jstr(rec, "state");
	const char	*keys[] = { "deployment", "environment", "state",
			    "outcome", "started_at", "finished_at", "failure",
			    "previous_deployment_id", NULL };
	unsigned	 total = jcount(rec, "total");
	unsigned	 completed = 0, failed = 0;

	cJSON_AddStringToObject(d, "deployment_id", jstr(rec, "id") != NULL ?
	    jstr(rec, "id") : "");
	for (size_t i = 0; keys[i] != NULL; i++)
		if (jstr(rec, keys[i]) != NULL)
			cJSON_AddStringToObject(d, keys[i], jstr(rec, keys[i]));
	cJSON_AddStringToObject(d, "phase", phase_of(rec));
	list = cJSON_AddArrayToObject(d, "servers");
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(rec, "servers")) {
		cJSON		*o = cJSON_CreateObject(), *hc;
		const cJSON	*c;
		const char	*st = jstr(s, "state");

		completed += st != NULL && strcmp(st, "ready") == 0;
		failed += st != NULL && strcmp(st, "failed") == 0;
		cJSON_AddStringToObject(o, "name", jstr(s, "name") != NULL ?
		    jstr(s, "name") : "");
		cJSON_AddStringToObject(o, "state", st != NULL ? st : "");
		cJSON_AddNumberToObject(o, "restarts", jnum(s, "restarts"));
		if (cJSON_GetObjectItem(s, "server_pid") != NULL)
			cJSON_AddNumberToObject(o, "server_pid",
			    jnum(s, "server_pid"));
		if (jstr(s, "last_error") != NULL)
			cJSON_AddStringToObject(o, "last_error",
			    jstr(s, "last_error"));
		hc = cJSON_AddObjectToObject(o, "health");
		cJSON_ArrayForEach(c, cJSON_GetObjectItem(s, "health")) {
			cJSON	*r = cJSON_AddObjectToObject(hc, c->string);

			cJSON_AddBoolToObject(r, "healthy", cJSON_IsTrue(
			    cJSON_GetObjectItem(c, "healthy")));
			cJSON_AddBoolToObject(r, "critical", cJSON_IsTrue(
			    cJSON_GetObjectItem(c, "critical")));
			cJSON_AddNumberToObject(r, "response_ms",
			    jnum(c, "response_ms"));
			if (jstr(c, "message") != NULL)
				cJSON_AddStringToObject(r, "message",
				    jstr(c, "message"));
			if (jstr(c, "at") != NULL)
				cJSON_AddStringToObject(r, "at", jstr(c, "at"));
		}
		cJSON_AddItemToArray(list, o);
	}
	cJSON_AddNumberToObject(d, "total", total);
	cJSON_AddNumberToObject(d, "completed", completed);
	cJSON_AddNumberToObject(d, "failed", failed);
	cJSON_AddNumberToObject(d, "progress_percentage", state != NULL &&
	    strcmp(state, "succeeded") == 0 ? 100 : total > 0 ?
	    floor(100.0 * completed / total + 0.5) : 0);
	if (cJSON_GetObjectItem(rec, "rollback") != NULL)
		cJSON_AddItemToObject(d, "rollback", cJSON_Duplicate(
		    cJSON_GetObjectItem(rec, "rollback"), 1));
	return d;
}

static cJSON *
metrics_data(const struct hub *h, const struct hub_server *s, bool history)
{
	cJSON	*d = cJSON_CreateObject();

	cJSON_AddStringToObject(d, "deployment_id", s->deployment_id);
	cJSON_AddStringToObject(d, "server_name", s->name);
	cJSON_AddNumberToObject(d, "cpu_usage", s->cpu_percent);
	cJSON_AddNumberToObject(d, "memory_usage", h->mem_total > 0 ?
	    floor(s->rss_bytes * 10000 / h->mem_total) / 100 : 0);
	cJSON_AddNumberToObject(d, "memory_rss_bytes", s->rss_bytes);
	cJSON_AddNumberToObject(d, "processes", s->processes);
	/* the guide's third figure: how fast the server answers its checks */
	if (s->response_ms >= 0)
		cJSON_AddNumberToObject(d, "response_time_ms", s->response_ms);
	else
		cJSON_AddNullToObject(d, "response_time_ms");
	if (s->ncustom > 0) {
		cJSON	*c = cJSON_AddObjectToObject(d, "custom");

		for (size_t i = 0; i < s->ncustom; i++)
			cJSON_AddNumberToObject(c, s->custom[i].name,
			    s->custom[i].value);
	}
	if (history) {
		cJSON	*hist = cJSON_AddObjectToObject(d, "history");
		cJSON	*cpu = cJSON_AddArrayToObject(hist, "cpu_usage");
		cJSON	*rss = cJSON_AddArrayToObject(hist, "memory_rss_bytes");

		for (unsigned i = 0; i < s->nhist; i++) {
			cJSON_AddItemToArray(cpu, cJSON_CreateNumber(
			    s->cpu_hist[i]));
			cJSON_AddItemToArray(rss, cJSON_CreateNumber(
			    s->rss_hist[i]));
		}
	}
	return d;
}

static void
count_outcome(struct hub *h, const char *was, const char *now)
{
	if (now == NULL || strcmp(now, "in_progress") == 0 ||
	    (was != NULL && strcmp(was, now) == 0))
		return;
	for (size_t i = 0; i < 6; i++)
		if (strcmp(now, hub_outcomes[i]) == 0)
			h->deployments_by_outcome[i]++;
}

static int
feed_record(struct hub *h, const cJSON *rec)
{
	const char	*id = jstr(rec, "id");
	const cJSON	*s, *old;
	cJSON		*copy;

	if (id == NULL)
		return -EINVAL;
	old = cJSON_GetObjectItemCaseSensitive(h->records, id);
	count_outcome(h, old != NULL ? jstr(old, "outcome") : NULL,
	    jstr(rec, "outcome"));
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(rec, "servers")) {
		struct hub_server	*hs;

		if (jstr(s, "name") == NULL || (hs = server_get(h, id,
		    jstr(s, "name"))) == NULL)
			continue;
		snprintf(hs->state, sizeof(hs->state), "%s",
		    jstr(s, "state") != NULL ? jstr(s, "state") : "");
		hs->restarts = jcount(s, "restarts");
	}
	if ((copy = cJSON_Duplicate(rec, 1)) == NULL)
		return -ENOMEM;
	if (old != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(h->records, id, copy);
	else {
		cJSON_AddItemToObject(h->records, id, copy);
		cJSON_AddItemToArray(h->order, cJSON_CreateString(id));
		evict(h);
	}
	return append(h, "deployment_update", deployment_update(rec));
}

/* What an event tells the metrics: check latencies and verdicts,
 * durations of deployments and rollbacks, failures. */
static void
count_event(struct hub *h, const cJSON *ev)
{
	const char	*type = jstr(ev, "event_type");
	const char	*id = jstr(ev, "deployment_id");
	const char	*server = jstr(ev, "server_name");
	const cJSON	*d = cJSON_GetObjectItem(ev, "details");

	h->events++;
	if (type == NULL)
		return;
	if (strncmp(type, "health_check_", 13) == 0 && id != NULL &&
	    server != NULL && jstr(d, "check") != NULL) {
		struct hub_server	*s = server_get(h, id, server);
		struct hub_check	*c = s != NULL ? check_get(s,
					    jstr(d, "check")) : NULL;

		if (c == NULL)
			return;
		observe(&c->seconds, hub_latency_bounds, HUB_LATENCY_BUCKETS,
		    jnum(d, "response_ms") / 1000);
		s->response_ms = jnum(d, "response_ms");
		if (strcmp(type, "health_check_passed") == 0)
			c->passed++;
		else if (strcmp(type, "health_check_failed") == 0)
			c->failed++;
		else
			c->warned++;
	} else if (strcmp(type, "deployment_completed") == 0)
		observe(&h->deploy_seconds, hub_duration_bounds,
		    HUB_DURATION_BUCKETS, jnum(d, "duration_ms") / 1000);
	else if (strcmp(type, "rollback_completed") == 0 ||
	    strcmp(type, "rollback_failed") == 0) {
		observe(&h->rollback_seconds, hub_duration_bounds,
		    HUB_DURATION_BUCKETS, jnum(d, "duration_ms") / 1000);
		if (type[9] == 'c')
			h->rollbacks_succeeded++;
		else
			h->rollbacks_failed++;
	} else if (strcmp(type, "server_failed") == 0 ||
	    strcmp(type, "worker_crashed") == 0)
		h->server_failures++;
}

/* Metrics an event carries for its server (details "metrics": a
 * recording by hand, or a custom check's): kept, newest value of each
 * name; true when there were any. */
static bool
take_custom(struct hub *h, const cJSON *ev)
{
	const char		*id = jstr(ev, "deployment_id");
	const char		*server = jstr(ev, "server_name");
	const cJSON		*d = cJSON_GetObjectItem(ev, "details");
	/* by hand, in the event's details; from a check, in the details
	 * of its result */
	const cJSON		*m = cJSON_GetObjectItem(d, "metrics") != NULL ?
				    cJSON_GetObjectItem(d, "metrics") :
				    cJSON_GetObjectItem(cJSON_GetObjectItem(d,
				    "details"), "metrics"), *v;
	struct hub_server	*s;
	bool			 any = false;

	if (id == NULL || server == NULL || !cJSON_IsObject(m) ||
	    (s = server_get(h, id, server)) == NULL)
		return false;
	cJSON_ArrayForEach(v, m) {
		size_t	i;

		if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
		    !util_metric_name_ok(v->string))
			continue;
		for (i = 0; i < s->ncustom; i++)
			if (strcmp(s->custom[i].name, v->string) == 0)
				break;
		if (i == s->ncustom && s->ncustom == HUB_CUSTOM_MAX)
			continue;
		if (i == s->ncustom)
			snprintf(s->custom[s->ncustom++].name,
			    sizeof(s->custom[0].name), "%s", v->string);
		s->custom[i].value = v->valuedouble;
		any = true;
	}
	return any;
}

static int
feed_event(struct hub *h, const cJSON *ev)
{
	cJSON		*d = cJSON_CreateObject();
	const char	*keys[] = { "event_type", "server_name", "timestamp",
			    "deployment_id", "message", NULL };
	struct hub_server *s;
	int		 r;

	count_event(h, ev);
	for (size_t i = 0; keys[i] != NULL; i++)
		if (jstr(ev, keys[i]) != NULL)
			cJSON_AddStringToObject(d, keys[i], jstr(ev, keys[i]));
		else if (i == 1)
			cJSON_AddNullToObject(d, keys[i]);
	cJSON_AddItemToObject(d, "details", cJSON_GetObjectItem(ev,
	    "details") != NULL ? cJSON_Duplicate(cJSON_GetObjectItem(ev,
	    "details"), 1) : cJSON_CreateObject());
	cJSON_AddNumberToObject(d, "event_seq", jnum(ev, "seq"));
	if ((r = append(h, "monitoring_event", d)) < 0)
		return r;
	/* recorded metrics are metrics messages too, at once */
	if (take_custom(h, ev) && (s = server_get(h, jstr(ev,
	    "deployment_id"), jstr(ev, "server_name"))) != NULL) {
		cJSON	*md = metrics_data(h, s, false);

		cJSON_AddStringToObject(md, "timestamp", jstr(ev, "timestamp") !=
		    NULL ? jstr(ev, "timestamp") : "");
		if (append(h, "metrics", md) > 0)
			r++;
	}
	return r;
}

static int
feed_metrics(struct hub *h, const cJSON *m)
{
	const char		*id = jstr(m, "deployment_id");
	const char		*server = jstr(m, "server_name");
	struct hub_server	*s;
	cJSON			*d;

	if (id == NULL || server == NULL)
		return -EINVAL;
	hub_record_performance(h, id, server, jnum(m, "cpu_percent"),
	    jnum(m, "rss_bytes"), jcount(m, "processes"));
	if ((s = server_get(h, id, server)) == NULL)
		return -ENOMEM;
	d = metrics_data(h, s, false);
	cJSON_AddStringToObject(d, "timestamp", jstr(m, "at") != NULL ?
	    jstr(m, "at") : "");
	return append(h, "metrics", d);
}

int
hub_feed(struct hub *h, uint8_t type, const cJSON *body)
{
	if (!cJSON_IsObject(body))
		return -EINVAL;
	switch (type) {
	case FRAME_EVENT:
		return feed_event(h, body);
	case FRAME_RECORD:
		return feed_record(h, body);
	case FRAME_METRICS:
		return feed_metrics(h, body);
	default:
		return -EINVAL;
	}
}

void
hub_load(struct hub *h, const cJSON *records)
{
	const cJSON	*r;

	/* oldest first, as they would have come */
	for (r = records != NULL ? records->child : NULL; r != NULL &&
	    r->next != NULL; r = r->next)
		;
	for (; r != NULL; r = r != records->child ? r->prev : NULL)
		feed_record(h, r);
}

struct hub_msg *
hub_snapshot(struct hub *h, size_t *n)
{
	struct hub_msg	*v;
	size_t		 cap = (size_t)cJSON_GetArraySize(h->order) +
			    h->nservers, k = 0;
	uint64_t	 seq = h->next_seq - 1;
	const cJSON	*id;

	*n = 0;
	if ((v = calloc(cap + 1, sizeof(*v))) == NULL)
		return NULL;
	cJSON_ArrayForEach(id, h->order) {
		const cJSON	*rec = cJSON_GetObjectItemCaseSensitive(
				    h->records, id->valuestring);
		cJSON		*d;

		if (rec == NULL || (jstr(rec, "state") != NULL &&
		    strcmp(jstr(rec, "state"), "done") == 0))
			continue;
		d = deployment_update(rec);
		cJSON_AddBoolToObject(d, "snapshot", 1);
		if (hub_one(h, "deployment_update", d, seq, &v[k]) == 0)
			k++;
	}
	for (size_t i = 0; i < h->nservers; i++) {
		cJSON	*d;

		if (!h->servers[i].sampled)
			continue;
		d = metrics_data(h, &h->servers[i], true);
		cJSON_AddBoolToObject(d, "snapshot", 1);
		if (hub_one(h, "metrics", d, seq, &v[k]) == 0)
			k++;
	}
	*n = k;
	return v;
}

bool
hub_ready(const struct hub *h, char *why, size_t size)
{
	const cJSON	*id, *newest = NULL;

	cJSON_ArrayForEach(id, h->order) {
		const cJSON	*rec = cJSON_GetObjectItemCaseSensitive(
				    h->records, id->valuestring);

		if (rec != NULL && (jstr(rec, "state") == NULL ||
		    strcmp(jstr(rec, "state"), "done") != 0))
			newest = rec;
	}
	if (newest == NULL) {
		snprintf(why, size, "no deployment is running");
		return false;
	}
	return state_record_ready(newest, why, size);
}
