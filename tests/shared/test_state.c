/* Tests of shared/state.c: records, their listing and pruning, and the
 * journal with its rotation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "state.h"
#include "testutil.h"

static void
write_record(const char *dir, const char *id, const char *state)
{
	cJSON	*o = cJSON_CreateObject();
	char	 rel[128];

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "state", state);
	snprintf(rel, sizeof(rel), "deployments/%s.json", id);
	assert_int_equal(state_write_json(dir, rel, o), 0);
	cJSON_Delete(o);
}

static void
test_records_atomic_and_listed_newest_first(void **state)
{
	struct errbuf	  err;
	char		 *dir = tu_tmpdir(), cmd[512];
	cJSON		**recs;
	struct stat	  st;
	int		  n;

	(void)state;
	assert_int_equal(state_prepare(dir, &err), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	write_record(dir, "deploy_20260101_000000000_aaaaaa", "done");
	write_record(dir, "deploy_20260102_000000000_aaaaaa", "done");
	write_record(dir, "deploy_20260101_120000000_aaaaaa", "running");
	/* a rewrite replaces, never duplicates, and leaves no temp file */
	write_record(dir, "deploy_20260101_120000000_aaaaaa", "succeeded");
	snprintf(cmd, sizeof(cmd), "test -z \"$(find %s -name '*.tmp.*')\"",
	    dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(n = state_list_records(dir, &recs), 3);
	assert_string_equal(cJSON_GetObjectItem(recs[0], "id")->valuestring,
	    "deploy_20260102_000000000_aaaaaa");
	assert_string_equal(cJSON_GetObjectItem(recs[1], "state")->valuestring,
	    "succeeded");
	for (int i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
	free(recs);
	tu_rmtree(dir);
	free(dir);
}

static void
test_prune_keeps_newest_and_unfinished(void **state)
{
	struct errbuf	  err;
	char		 *dir = tu_tmpdir(), id[64];
	cJSON		**recs;
	int		  n;

	(void)state;
	assert_int_equal(state_prepare(dir, &err), 0);
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "deploy_2026010%d_000000000_aaaaaa",
		    i + 1);
		/* the oldest is still running: it must stay */
		write_record(dir, id, i == 0 ? "succeeded" : "done");
	}
	assert_int_equal(state_prune_records(dir, 2), 3);
	assert_int_equal(n = state_list_records(dir, &recs), 3);
	assert_string_equal(cJSON_GetObjectItem(recs[2], "id")->valuestring,
	    "deploy_20260101_000000000_aaaaaa");
	for (int i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
	free(recs);
	tu_rmtree(dir);
	free(dir);
}

static void
test_journal_appends_and_rotates(void **state)
{
	struct errbuf	 err;
	struct journal	 j;
	char		*dir = tu_tmpdir(), path[512];
	cJSON		*ev = cJSON_CreateObject();
	struct stat	 st;

	(void)state;
	assert_int_equal(state_prepare(dir, &err), 0);
	cJSON_AddStringToObject(ev, "event_type", "x");
	assert_int_equal(journal_open(&j, dir), 0);
	assert_int_equal(journal_append(&j, ev), 0);
	assert_int_equal(journal_append(&j, ev), 0);
	/* nothing on disk until the commit, all of it after */
	snprintf(path, sizeof(path), "%s/events.journal", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(journal_commit(&j), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 2 * (off_t)strlen("{\"event_type\":\"x\"}\n"));
	/* past the limit the journal moves aside */
	j.size = JOURNAL_MAX;
	assert_int_equal(journal_append(&j, ev), 0);
	assert_int_equal(journal_commit(&j), 0);
	snprintf(path, sizeof(path), "%s/events.journal.1", dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/events.journal", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)strlen("{\"event_type\":\"x\"}\n"));
	journal_close(&j);
	cJSON_Delete(ev);
	tu_rmtree(dir);
	free(dir);
}

/* A record that is not a regular file is refused as such, at once: a
 * FIFO does not wait for a writer, a directory is not read (both were
 * read by a size fstat had not given). */
static void
test_read_json_refuses_what_is_not_a_file(void **state)
{
	char	*dir = tu_tmpdir(), *fifo, *sub;
	cJSON	*out = NULL;

	(void)state;
	assert_true(asprintf(&fifo, "%s/fifo.json", dir) != -1);
	assert_true(asprintf(&sub, "%s/dir.json", dir) != -1);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(state_read_json(fifo, &out), -EINVAL);
	assert_int_equal(state_read_json(sub, &out), -EINVAL);
	assert_null(out);
	free(tu_write(dir, "ok.json", "{\"id\":\"x\"}"));
	free(fifo);
	assert_true(asprintf(&fifo, "%s/ok.json", dir) != -1);
	assert_int_equal(state_read_json(fifo, &out), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(out,
	    "id")), "x");
	cJSON_Delete(out);
	free(fifo);
	free(sub);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_json_refuses_what_is_not_a_file),
		cmocka_unit_test(test_records_atomic_and_listed_newest_first),
		cmocka_unit_test(test_prune_keeps_newest_and_unfinished),
		cmocka_unit_test(test_journal_appends_and_rotates),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
