/*
 * The snapshot store on a real file system: copies and checksums, a
 * corrupted copy and an altered record refused, files put back with
 * their modes, files a new version added cleaned up, retention.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "errbuf.h"
#include "snapshot.h"
#include "testutil.h"

static char *
slurp(const char *path)
{
	FILE	*fp = fopen(path, "r");
	char	*buf = calloc(1, 4096);

	if (fp != NULL) {
		(void)!fread(buf, 1, 4095, fp);
		fclose(fp);
	}
	return buf;
}

static void
test_create_verify_restore(void **state)
{
	char		*dir = tu_tmpdir(), *conf, *added, *backups, *text;
	char		*paths[2];
	struct errbuf	 err = { "" };
	cJSON		*meta = NULL, *st = cJSON_Parse("{\"status\":\"ready\"}");
	cJSON		*cfg = cJSON_Parse("{\"port\":3101,\"api_key\":"
			    "{\"secret_ref\":\"BRAVE_API_KEY\"}}");
	struct stat	 sb;

	(void)state;
	conf = tu_write(dir, "app/config.yaml", "port: 3101\n");
	chmod(conf, 0640);
	assert_true(asprintf(&added, "%s/app/added.yaml", dir) != -1);
	assert_true(asprintf(&backups, "%s/backups", dir) != -1);
	paths[0] = conf;
	paths[1] = added;	/* absent now: the new version will add it */
	assert_int_equal(snapshot_create(backups, "snap_1", "deploy_1",
	    "brave-search", st, cfg, (const char *const *)paths, 2, &meta,
	    &err), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(meta, "files"), 0),
	    "sha256")),
	    /* sha256sum of "port: 3101\n" */
	    "321fa4791d96ce49e4bffe143083299a5a2d673948c912f91d4e19503b2ec02b");
	cJSON_Delete(meta);
	meta = NULL;
	assert_int_equal(snapshot_create(backups, "snap_1", "deploy_1", "x",
	    NULL, NULL, NULL, 0, NULL, &err), -EEXIST);
	assert_int_equal(snapshot_verify(backups, "snap_1", &meta, &err), 0);

	/* the new version changes one file and adds another */
	free(tu_write(dir, "app/config.yaml", "port: 9999\n"));
	chmod(conf, 0600);
	free(tu_write(dir, "app/added.yaml", "new: true\n"));
	assert_int_equal(snapshot_restore_files(backups, meta, true, &err), 0);
	text = slurp(conf);
	assert_string_equal(text, "port: 3101\n");
	free(text);
	assert_int_equal(stat(conf, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	assert_int_equal(access(added, F_OK), -1);
	cJSON_Delete(meta);

	cJSON_Delete(st);
	cJSON_Delete(cfg);
	free(conf);
	free(added);
	free(backups);
	tu_rmtree(dir);
	free(dir);
}

static void
test_corruption_is_refused(void **state)
{
	char		*dir = tu_tmpdir(), *conf, *backups, *copy, *rec, *text;
	const char	*paths[1];
	struct errbuf	 err = { "" };
	cJSON		*list = NULL;

	(void)state;
	conf = tu_write(dir, "config.yaml", "a: 1\n");
	assert_true(asprintf(&backups, "%s/backups", dir) != -1);
	paths[0] = conf;
	assert_int_equal(snapshot_create(backups, "snap_a", "deploy_1", "s",
	    NULL, NULL, paths, 1, NULL, &err), 0);
	assert_int_equal(snapshot_create(backups, "snap_b", "deploy_1", "s",
	    NULL, NULL, paths, 1, NULL, &err), 0);
	/* a flipped byte in a copy */
	assert_true(asprintf(&copy, "%s/snap_a/files/0", backups) != -1);
	free(tu_write(backups, "snap_a/files/0", "a: 2\n"));
	assert_int_equal(snapshot_verify(backups, "snap_a", NULL, &err),
	    -EBADMSG);
	assert_non_null(strstr(err.msg, "does not match its SHA-256"));
	/* an edited record */
	assert_true(asprintf(&rec, "%s/snap_b/snapshot.json", backups) != -1);
	text = slurp(rec);
	*strstr(text, "deploy_1") = 'D';
	free(tu_write(backups, "snap_b/snapshot.json", text));
	free(text);
	assert_int_equal(snapshot_verify(backups, "snap_b", NULL, &err),
	    -EBADMSG);
	assert_non_null(strstr(err.msg, "does not match its checksum"));
	/* listed, with what is wrong */
	assert_int_equal(snapshot_list(backups, &list), 2);
	text = cJSON_PrintUnformatted(list);
	assert_non_null(strstr(text, "does not match its SHA-256"));
	assert_non_null(strstr(text, "does not match its checksum"));
	free(text);
	cJSON_Delete(list);
	assert_int_equal(snapshot_verify(backups, "../etc", NULL, &err),
	    -EINVAL);
	free(copy);
	free(rec);
	free(conf);
	free(backups);
	tu_rmtree(dir);
	free(dir);
}

/* A record whose checksum was made to match again (by hand, or by
 * whoever can write the backups) is still refused where a mode or an
 * owner is no number that fits, and nothing is put back. */
static void
test_a_damaged_mode_or_owner_is_refused(void **state)
{
	static const char *const fields[] = { "mode", "uid", "gid" };
	char		*dir = tu_tmpdir(), *conf, *backups, *text;
	const char	*paths[1];
	struct errbuf	 err = { "" };
	cJSON		*meta = NULL, *f;

	(void)state;
	conf = tu_write(dir, "config.yaml", "a: 1\n");
	assert_true(asprintf(&backups, "%s/backups", dir) != -1);
	paths[0] = conf;
	assert_int_equal(snapshot_create(backups, "snap_m", "deploy_1", "s",
	    NULL, NULL, paths, 1, NULL, &err), 0);
	free(tu_write(dir, "config.yaml", "a: 2\n"));
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(snapshot_verify(backups, "snap_m", &meta,
		    &err), 0);
		f = cJSON_GetArrayItem(cJSON_GetObjectItem(meta, "files"), 0);
		cJSON_ReplaceItemInObject(f, fields[i], i == 0 ?
		    cJSON_CreateNumber(1e300) : i == 1 ?
		    cJSON_CreateNumber(-1) : cJSON_CreateString("0"));
		assert_int_equal(snapshot_restore_files(backups, meta, false,
		    &err), -EINVAL);
		assert_non_null(strstr(err.msg, "is damaged"));
		cJSON_Delete(meta);
		meta = NULL;
	}
	text = slurp(conf);
	assert_string_equal(text, "a: 2\n");
	free(text);
	free(conf);
	free(backups);
	tu_rmtree(dir);
	free(dir);
}

static void
test_list_and_retention(void **state)
{
	char		*dir = tu_tmpdir(), *backups;
	struct errbuf	 err = { "" };
	cJSON		*list = NULL;
	char		 id[32];

	(void)state;
	assert_true(asprintf(&backups, "%s/backups", dir) != -1);
	assert_int_equal(snapshot_list(backups, &list), 0);
	cJSON_Delete(list);
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "snap_%d", i);
		assert_int_equal(snapshot_create(backups, id, "deploy_x",
		    i < 3 ? "memory" : "filesystem", NULL, NULL, NULL, 0, NULL,
		    &err), 0);
		usleep(2000);
	}
	assert_int_equal(snapshot_list(backups, &list), 4);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(list, 0), "id")), "snap_3");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(list, 1), "integrity")), "ok");
	cJSON_Delete(list);
	/* two per server: the oldest of memory goes */
	assert_int_equal(snapshot_prune(backups, 2), 1);
	assert_int_equal(snapshot_list(backups, &list), 3);
	cJSON_Delete(list);
	assert_int_equal(snapshot_verify(backups, "snap_0", NULL, &err),
	    -ENOENT);
	free(backups);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_verify_restore),
		cmocka_unit_test(test_corruption_is_refused),
		cmocka_unit_test(test_a_damaged_mode_or_owner_is_refused),
		cmocka_unit_test(test_list_and_retention),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
