/*
 * The monitor's hub without sockets: the ring and its sequence numbers,
 * the guide's message shapes, the state a new client is given, and the
 * Prometheus exposition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "frame.h"
#include "hub.h"

#define HEADROOM	16

static cJSON *
msg_json(const struct hub_msg *m)
{
	assert_non_null(m);
	return cJSON_ParseWithLength((const char *)m->buf + HEADROOM, m->len);
}

static void
feed_text(struct hub *h, uint8_t type, const char *text)
{
	cJSON	*j = cJSON_Parse(text);

	assert_non_null(j);
	assert_int_equal(hub_feed(h, type, j), 1);
	cJSON_Delete(j);
}

static void
test_ring_wraps(void **state)
{
	struct hub	h;
	cJSON		*j;

	(void)state;
	assert_int_equal(hub_init(&h, 4, HEADROOM), 0);
	for (int i = 0; i < 6; i++)
		feed_text(&h, FRAME_EVENT, "{\"seq\": 1, \"event_type\": "
		    "\"server_ready\", \"server_name\": \"a\", \"timestamp\": "
		    "\"t\", \"deployment_id\": \"deploy_x\", \"details\": {}}");
	assert_int_equal(h.next_seq, 7);
	assert_int_equal(hub_oldest(&h), 3);
	assert_null(hub_get(&h, 2));
	assert_null(hub_get(&h, 7));
	for (uint64_t s = 3; s <= 6; s++) {
		assert_int_equal(hub_get(&h, s)->seq, s);
		j = msg_json(hub_get(&h, s));
		assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j,
		    "seq")), (int)s);
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
		    "type")), "monitoring_event");
		assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
		    cJSON_GetObjectItem(j, "data"), "server_name")), "a");
		cJSON_Delete(j);
	}
	hub_free(&h);
}

static const char record_deploying[] =
    "{\"id\": \"deploy_1\", \"deployment\": \"demo\", \"state\": \"running\","
    " \"outcome\": \"in_progress\", \"total\": 4, \"servers\": ["
    "{\"name\": \"a\", \"state\": \"ready\", \"restarts\": 2,"
    " \"health\": {\"ping\": {\"healthy\": true, \"response_ms\": 3.5}}},"
    "{\"name\": \"b\", \"state\": \"ready\"},"
    "{\"name\": \"c\", \"state\": \"failed\"},"
    "{\"name\": \"d\", \"state\": \"starting\"}]}";

static void
test_deployment_update(void **state)
{
	struct hub	 h;
	cJSON		*j, *d;

	(void)state;
	assert_int_equal(hub_init(&h, 16, HEADROOM), 0);
	feed_text(&h, FRAME_RECORD, record_deploying);
	j = msg_json(hub_get(&h, 1));
	d = cJSON_GetObjectItem(j, "data");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "type")), "deployment_update");
	assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(d,
	    "progress_percentage")), 50);
	assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(d,
	    "completed")), 2);
	assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(d,
	    "failed")), 1);
	assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(d,
	    "total")), 4);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d,
	    "phase")), "deploying");
	cJSON_Delete(j);
	/* a rollback under way is the phase */
	feed_text(&h, FRAME_RECORD, "{\"id\": \"deploy_1\", \"state\": "
	    "\"stopping\", \"outcome\": \"failed\", \"total\": 1, \"servers\": "
	    "[], \"rollback\": {\"id\": \"rollback_1\", \"state\": "
	    "\"running\"}}");
	j = msg_json(hub_get(&h, 2));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(j, "data"), "phase")), "rolling_back");
	cJSON_Delete(j);
	hub_free(&h);
}

static void
test_snapshot_and_metrics(void **state)
{
	struct hub	 h;
	struct hub_msg	*v;
	size_t		 n;
	cJSON		*j, *hist;

	(void)state;
	assert_int_equal(hub_init(&h, 16, HEADROOM), 0);
	feed_text(&h, FRAME_RECORD, record_deploying);
	feed_text(&h, FRAME_RECORD, "{\"id\": \"deploy_0\", \"state\": "
	    "\"done\", \"outcome\": \"stopped\", \"total\": 0, \"servers\": []}");
	for (int i = 1; i <= 3; i++) {
		char	text[256];

		snprintf(text, sizeof(text), "{\"deployment_id\": \"deploy_1\", "
		    "\"server_name\": \"a\", \"cpu_percent\": %d, "
		    "\"rss_bytes\": %d, \"processes\": 1, \"at\": \"t\"}", i * 10,
		    i * 1000);
		feed_text(&h, FRAME_METRICS, text);
	}
	v = hub_snapshot(&h, &n);
	/* the active deployment (not the finished one), and a's metrics */
	assert_int_equal(n, 2);
	j = msg_json(&v[0]);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(j, "data"), "deployment_id")), "deploy_1");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "data"), "snapshot")));
	assert_int_equal((int)v[0].seq, (int)h.next_seq - 1);
	cJSON_Delete(j);
	j = msg_json(&v[1]);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "type")), "metrics");
	hist = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(j,
	    "data"), "history"), "cpu_usage");
	assert_int_equal(cJSON_GetArraySize(hist), 3);
	assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetArrayItem(hist, 2)),
	    30);
	cJSON_Delete(j);
	hub_msgs_free(v, n);
	hub_free(&h);
}

static void
test_prometheus(void **state)
{
	struct hub	 h;
	char		*text;
	size_t		 len;

	(void)state;
	assert_int_equal(hub_init(&h, 64, HEADROOM), 0);
	feed_text(&h, FRAME_RECORD, record_deploying);
	feed_text(&h, FRAME_EVENT, "{\"event_type\": \"health_check_passed\","
	    " \"deployment_id\": \"deploy_1\", \"server_name\": \"a\", "
	    "\"details\": {\"check\": \"p\\\"q\", \"response_ms\": 3}}");
	feed_text(&h, FRAME_EVENT, "{\"event_type\": \"health_check_failed\","
	    " \"deployment_id\": \"deploy_1\", \"server_name\": \"a\", "
	    "\"details\": {\"check\": \"p\\\"q\", \"response_ms\": 700}}");
	feed_text(&h, FRAME_EVENT, "{\"event_type\": \"deployment_completed\","
	    " \"deployment_id\": \"deploy_1\", \"details\": "
	    "{\"duration_ms\": 2000}}");
	/* an outcome counts once, when it is reached */
	feed_text(&h, FRAME_RECORD, "{\"id\": \"deploy_1\", \"state\": "
	    "\"succeeded\", \"outcome\": \"succeeded\", \"servers\": []}");
	feed_text(&h, FRAME_RECORD, "{\"id\": \"deploy_1\", \"state\": "
	    "\"succeeded\", \"outcome\": \"succeeded\", \"servers\": []}");
	text = hub_prometheus(&h, &len);
	assert_non_null(text);
	assert_non_null(strstr(text, "mcpvisor_server_restarts_total{"
	    "deployment_id=\"deploy_1\",server=\"a\"} 2\n"));
	/* label values escaped; buckets cumulative */
	assert_non_null(strstr(text, "mcpvisor_health_check_duration_seconds_"
	    "bucket{deployment_id=\"deploy_1\",server=\"a\",check=\"p\\\"q\","
	    "le=\"0.005\"} 1\n"));
	assert_non_null(strstr(text, "check=\"p\\\"q\",le=\"1\"} 2\n"));
	assert_non_null(strstr(text, "mcpvisor_health_check_duration_seconds_"
	    "count{deployment_id=\"deploy_1\",server=\"a\",check=\"p\\\"q\"} "
	    "2\n"));
	assert_non_null(strstr(text, "mcpvisor_health_checks_total{deployment_"
	    "id=\"deploy_1\",server=\"a\",check=\"p\\\"q\",result=\"failed\"} "
	    "1\n"));
	assert_non_null(strstr(text, "mcpvisor_deployments_total{outcome="
	    "\"succeeded\"} 1\n"));
	assert_non_null(strstr(text, "mcpvisor_deployment_duration_seconds_"
	    "bucket{le=\"5\"} 1\n"));
	assert_non_null(strstr(text, "mcpvisor_deployment_duration_seconds_"
	    "bucket{le=\"1\"} 0\n"));
	assert_non_null(strstr(text, "mcpvisor_deployment_duration_seconds_sum "
	    "2.000000\n"));
	free(text);
	hub_free(&h);
}

static void
test_eviction(void **state)
{
	struct hub	h;

	(void)state;
	assert_int_equal(hub_init(&h, 8, HEADROOM), 0);
	for (int i = 0; i < 25; i++) {
		char	text[160];

		snprintf(text, sizeof(text), "{\"id\": \"deploy_%d\", \"state\": "
		    "\"done\", \"servers\": [{\"name\": \"s\", \"state\": "
		    "\"stopped\"}]}", i);
		feed_text(&h, FRAME_RECORD, text);
	}
	/* the oldest deployments and their servers' metrics are forgotten */
	assert_int_equal(cJSON_GetArraySize(h.order), 20);
	assert_int_equal(h.nservers, 20);
	assert_null(cJSON_GetObjectItem(h.records, "deploy_4"));
	assert_non_null(cJSON_GetObjectItem(h.records, "deploy_5"));
	hub_free(&h);
}

static void
test_bad_input(void **state)
{
	struct hub	 h;
	cJSON		*j = cJSON_Parse("[1, 2]");

	(void)state;
	assert_int_equal(hub_init(&h, 8, HEADROOM), 0);
	assert_true(hub_feed(&h, FRAME_EVENT, j) < 0);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"state\": \"running\"}");
	assert_true(hub_feed(&h, FRAME_RECORD, j) < 0);	/* no id */
	assert_true(hub_feed(&h, FRAME_METRICS, j) < 0);	/* no server */
	assert_true(hub_feed(&h, FRAME_STOP, j) < 0);
	cJSON_Delete(j);
	assert_int_equal(h.next_seq, 1);
	hub_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_wraps),
		cmocka_unit_test(test_deployment_update),
		cmocka_unit_test(test_snapshot_and_metrics),
		cmocka_unit_test(test_prometheus),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_bad_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
