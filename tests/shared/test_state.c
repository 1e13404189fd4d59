/* Tests of shared/state.c: records, their listing and pruning, and the
 * journal with its rotation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Every line of path parses, and the "n" fields are 0, 1, 2, ... with
 * gaps only where a journal_gap line says how many went. Returns the
 * number of events (gap lines not counted) or -1. */
static int
journal_lines_whole(const char *path, int *gaps)
{
	FILE	*fp = fopen(path, "r");
	char	 line[512];
	int	 next = 0, events = 0;

	*gaps = 0;
	if (fp == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		cJSON	*o = cJSON_Parse(line);
		cJSON	*n = cJSON_GetObjectItem(o, "n");

		if (o == NULL || line[strlen(line) - 1] != '\n') {
			cJSON_Delete(o);
			fclose(fp);
			return -1;
		}
		if (n == NULL) {
			next += (int)cJSON_GetObjectItem(cJSON_GetObjectItem(o,
			    "details"), "dropped")->valuedouble;
			(*gaps)++;
		} else if ((int)n->valuedouble != next++) {
			cJSON_Delete(o);
			fclose(fp);
			return -1;
		} else
			events++;
		cJSON_Delete(o);
	}
	fclose(fp);
	return events;
}

/* A disk that takes part of a write, then nothing (RLIMIT_FSIZE makes
 * the kernel cut writes short, as a full disk does): only whole lines
 * reach the file, none twice, what waits is bounded, and what had to
 * be dropped is one gap line with its count once writes work again. */
static void
journal_on_a_full_disk(const char *dir)
{
	struct rlimit	 small = { 1000, RLIM_INFINITY };
	struct journal	 j;
	cJSON		*ev = cJSON_CreateObject();
	char		 path[512];
	int		 n, gaps, dropped = 0, r;

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	cJSON_AddStringToObject(ev, "event_type", "x");
	cJSON_AddNumberToObject(ev, "n", 0);
	assert_int_equal(journal_open(&j, dir), 0);
	for (int i = 0; i < 100; i++) {
		cJSON_SetNumberValue(cJSON_GetObjectItem(ev, "n"), i);
		assert_int_equal(journal_append(&j, ev), 0);
	}
	assert_true(journal_commit(&j) < 0);
	/* the disk stays full while far more than the bound comes */
	for (int i = 100; i < 200000; i++) {
		cJSON_SetNumberValue(cJSON_GetObjectItem(ev, "n"), i);
		if ((r = journal_append(&j, ev)) == -ENOSPC)
			dropped++;
		else
			assert_int_equal(r, 0);
		if (i % 1000 == 0)
			assert_true(journal_commit(&j) < 0);
	}
	assert_true(dropped > 0);
	assert_true(j.len <= JOURNAL_PENDING_MAX);
	small.rlim_cur = RLIM_INFINITY;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_int_equal(journal_commit(&j), 0);
	cJSON_SetNumberValue(cJSON_GetObjectItem(ev, "n"), 200000);
	assert_int_equal(journal_append(&j, ev), 0);
	assert_int_equal(journal_commit(&j), 0);
	journal_close(&j);
	cJSON_Delete(ev);
	snprintf(path, sizeof(path), "%s/events.journal", dir);
	n = journal_lines_whole(path, &gaps);
	assert_int_equal(gaps, 1);
	assert_int_equal(n, 200001 - dropped);
	_exit(0);
}

static void
test_journal_on_a_full_disk(void **state)
{
	struct errbuf	 err;
	char		*dir = tu_tmpdir();
	int		 status;
	pid_t		 pid;

	(void)state;
	assert_int_equal(state_prepare(dir, &err), 0);
	/* in a child: the limit and SIGXFSZ are the process's */
	if ((pid = fork()) == 0)
		journal_on_a_full_disk(dir);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	tu_rmtree(dir);
	free(dir);
}

/* A FIFO (or anything but a file) at events.journal is refused at once,
 * not waited on forever. */
static void
test_a_journal_that_is_not_a_file_is_refused(void **state)
{
	struct errbuf	 err;
	struct journal	 j;
	char		*dir = tu_tmpdir(), path[512];

	(void)state;
	assert_int_equal(state_prepare(dir, &err), 0);
	snprintf(path, sizeof(path), "%s/events.journal", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(journal_open(&j, dir), -EINVAL);
	journal_close(&j);
	unlink(path);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(journal_open(&j, dir), -EINVAL);
	journal_close(&j);
	tu_rmtree(dir);
	free(dir);
}

/* Ids read from disk become paths: one that is not an id of ours, or
 * not its file's name, is never used; a damaged record falls back to
 * its previous version, or is listed as damaged, never left out. */
static void
test_records_from_disk_are_checked(void **state)
{
	struct errbuf	  err;
	char		 *dir = tu_tmpdir(), path[512];
	cJSON		**recs, *rec;
	int		  n, fd;

	(void)state;
	assert_true(state_valid_id("deploy_20260101_000000000_aaaaaa",
	    "deploy_"));
	assert_false(state_valid_id("deploy_../../x", "deploy_"));
	assert_false(state_valid_id("deploy_", "deploy_"));
	assert_false(state_valid_id("rollback_x", "deploy_"));
	assert_int_equal(state_prepare(dir, &err), 0);
	free(tu_write(dir, "deployments/deploy_20260101_000000000_bbbbbb.json",
	    "{\"id\":\"../../x\",\"state\":\"running\"}"));
	free(tu_write(dir, "deployments/..%2fx.json", "{\"id\":\"x\"}"));
	write_record(dir, "deploy_20260101_000000000_cccccc", "running");
	rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "id", "deploy_20260101_000000000_cccccc");
	cJSON_AddStringToObject(rec, "state", "succeeded");
	assert_int_equal(state_write_record(dir,
	    "deployments/deploy_20260101_000000000_cccccc.json", rec), 0);
	assert_int_equal(state_write_record(dir,
	    "deployments/deploy_20260101_000000000_cccccc.json", rec), 0);
	cJSON_Delete(rec);
	/* torn by a disk or a hand */
	snprintf(path, sizeof(path), "%s/deployments/"
	    "deploy_20260101_000000000_cccccc.json", dir);
	assert_true((fd = open(path, O_WRONLY)) != -1);
	assert_int_equal(ftruncate(fd, 10), 0);
	close(fd);
	assert_int_equal(n = state_list_records(dir, &recs), 2);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(recs[0],
	    "id")), "deploy_20260101_000000000_cccccc");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(recs[0],
	    "state")), "succeeded");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(recs[0],
	    "recovered_from")), "previous");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(recs[1],
	    "id")), "deploy_20260101_000000000_bbbbbb");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(recs[1],
	    "damaged")), "its id is not its file's name");
	for (int i = 0; i < n; i++)
		cJSON_Delete(recs[i]);
	free(recs);
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
		cmocka_unit_test(test_journal_on_a_full_disk),
		cmocka_unit_test(test_a_journal_that_is_not_a_file_is_refused),
		cmocka_unit_test(test_records_from_disk_are_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
