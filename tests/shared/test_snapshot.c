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
	    "brave-search", st, cfg, (const char *const *)paths, 2, NULL,
	    &meta, &err), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(meta, "files"), 0),
	    "sha256")),
	    /* sha256sum of "port: 3101\n" */
	    "321fa4791d96ce49e4bffe143083299a5a2d673948c912f91d4e19503b2ec02b");
	cJSON_Delete(meta);
	meta = NULL;
	assert_int_equal(snapshot_create(backups, "snap_1", "deploy_1", "x",
	    NULL, NULL, NULL, 0, NULL, NULL, &err), -EEXIST);
	assert_int_equal(snapshot_verify(backups, "snap_1", NULL, &meta, &err),
	    0);

	/* the new version changes one file and adds another */
	free(tu_write(dir, "app/config.yaml", "port: 9999\n"));
	chmod(conf, 0600);
	free(tu_write(dir, "app/added.yaml", "new: true\n"));
	assert_int_equal(snapshot_restore_files(backups, meta, true, NULL, &err),
	    0);
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

/* encrypt_at_rest: nothing of the configuration or of the files is in
 * clear at rest; with the key it all comes back, without it or with
 * another key nothing does, and integrity is still checked without it. */
static void
test_encrypted_at_rest(void **state)
{
	char		*dir = tu_tmpdir(), *conf, *backups, *text, *rec, *copy;
	const char	*paths[1];
	unsigned char	 key[32], other[32];
	struct errbuf	 err = { "" };
	cJSON		*meta = NULL, *list = NULL;
	cJSON		*cfg = cJSON_Parse("{\"db_host\":\"db.internal.example\"}");
	struct stat	 sb;

	(void)state;
	conf = tu_write(dir, "app/app.conf", "password-hint=blue-elephant\n");
	paths[0] = conf;
	assert_true(asprintf(&backups, "%s/backups", dir) != -1);
	/* the key is made once, private, and read back the same */
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(snapshot_key_load(dir, false, key, &err), -ENOENT);
	assert_int_equal(snapshot_key_load(dir, true, key, &err), 0);
	assert_true(asprintf(&text, "%s/keys/snapshot.key", dir) != -1);
	assert_int_equal(stat(text, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, 32);
	assert_int_equal(snapshot_key_load(dir, true, other, &err), 0);
	assert_memory_equal(key, other, 32);
	chmod(text, 0644);
	assert_int_equal(snapshot_key_load(dir, false, other, &err), -EPERM);
	chmod(text, 0600);
	free(text);

	assert_int_equal(snapshot_create(backups, "snap_e", "deploy_1", "app",
	    NULL, cfg, paths, 1, key, NULL, &err), 0);
	assert_true(asprintf(&rec, "%s/snap_e/snapshot.json", backups) != -1);
	assert_true(asprintf(&copy, "%s/snap_e/files/0", backups) != -1);
	text = slurp(rec);
	assert_null(strstr(text, "db.internal.example"));
	assert_non_null(strstr(text, "\"encrypted\":\ttrue"));
	free(text);
	text = slurp(copy);
	assert_null(strstr(text, "blue-elephant"));
	assert_memory_equal(text, "MVE1", 4);
	free(text);
	/* integrity without the key; the configuration only with it */
	assert_int_equal(snapshot_verify(backups, "snap_e", NULL, &meta, &err),
	    0);
	assert_null(cJSON_GetObjectItem(meta, "config"));
	cJSON_Delete(meta);
	assert_int_equal(snapshot_list(backups, &list), 1);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(list, 0), "integrity")), "ok");
	cJSON_Delete(list);
	memset(other, 0x5a, sizeof(other));
	assert_int_equal(snapshot_verify(backups, "snap_e", other, &meta,
	    &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "does not decrypt with this key"));
	assert_int_equal(snapshot_verify(backups, "snap_e", key, &meta, &err),
	    0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(meta, "config"), "db_host")),
	    "db.internal.example");
	free(tu_write(dir, "app/app.conf", "changed\n"));
	assert_int_equal(snapshot_restore_files(backups, meta, false, other,
	    &err), -EBADMSG);
	assert_int_equal(snapshot_restore_files(backups, meta, false, NULL,
	    &err), -EACCES);
	assert_int_equal(snapshot_restore_files(backups, meta, false, key,
	    &err), 0);
	text = slurp(conf);
	assert_string_equal(text, "password-hint=blue-elephant\n");
	free(text);
	cJSON_Delete(meta);
	cJSON_Delete(cfg);
	free(rec);
	free(copy);
	free(conf);
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
	    NULL, NULL, paths, 1, NULL, NULL, &err), 0);
	assert_int_equal(snapshot_create(backups, "snap_b", "deploy_1", "s",
	    NULL, NULL, paths, 1, NULL, NULL, &err), 0);
	/* a flipped byte in a copy */
	assert_true(asprintf(&copy, "%s/snap_a/files/0", backups) != -1);
	free(tu_write(backups, "snap_a/files/0", "a: 2\n"));
	assert_int_equal(snapshot_verify(backups, "snap_a", NULL, NULL, &err),
	    -EBADMSG);
	assert_non_null(strstr(err.msg, "does not match its SHA-256"));
	/* an edited record */
	assert_true(asprintf(&rec, "%s/snap_b/snapshot.json", backups) != -1);
	text = slurp(rec);
	*strstr(text, "deploy_1") = 'D';
	free(tu_write(backups, "snap_b/snapshot.json", text));
	free(text);
	assert_int_equal(snapshot_verify(backups, "snap_b", NULL, NULL, &err),
	    -EBADMSG);
	assert_non_null(strstr(err.msg, "does not match its checksum"));
	/* listed, with what is wrong */
	assert_int_equal(snapshot_list(backups, &list), 2);
	text = cJSON_PrintUnformatted(list);
	assert_non_null(strstr(text, "does not match its SHA-256"));
	assert_non_null(strstr(text, "does not match its checksum"));
	free(text);
	cJSON_Delete(list);
	assert_int_equal(snapshot_verify(backups, "../etc", NULL, NULL, &err),
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
	    NULL, NULL, paths, 1, NULL, NULL, &err), 0);
	free(tu_write(dir, "config.yaml", "a: 2\n"));
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(snapshot_verify(backups, "snap_m", NULL,
		    &meta, &err), 0);
		f = cJSON_GetArrayItem(cJSON_GetObjectItem(meta, "files"), 0);
		cJSON_ReplaceItemInObject(f, fields[i], i == 0 ?
		    cJSON_CreateNumber(1e300) : i == 1 ?
		    cJSON_CreateNumber(-1) : cJSON_CreateString("0"));
		assert_int_equal(snapshot_restore_files(backups, meta, false,
		    NULL, &err), -EINVAL);
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
		    NULL, &err), 0);
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
	assert_int_equal(snapshot_verify(backups, "snap_0", NULL, NULL, &err),
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
		cmocka_unit_test(test_encrypted_at_rest),
		cmocka_unit_test(test_corruption_is_refused),
		cmocka_unit_test(test_a_damaged_mode_or_owner_is_refused),
		cmocka_unit_test(test_list_and_retention),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
