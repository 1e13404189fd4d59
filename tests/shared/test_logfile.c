/* Tests of shared/logfile.c: appending and rotation by size. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "logfile.h"
#include "testutil.h"

static off_t
size_of(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

static void
test_rotation_keeps_n(void **state)
{
	struct logfile	lf;
	char		*dir = tu_tmpdir(), path[512], old[520];
	char		line[100];

	(void)state;
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	snprintf(path, sizeof(path), "%s/output.log", dir);
	assert_int_equal(logfile_open(&lf, path, 1000, 2, 0600), 0);
	for (int i = 0; i < 35; i++)
		assert_int_equal(logfile_write(&lf, line, sizeof(line)), 0);
	logfile_close(&lf);
	/* never past the limit, whole lines kept, two old files */
	assert_true(size_of(path) <= 1000);
	assert_int_equal(size_of(path) % 100, 0);
	snprintf(old, sizeof(old), "%s.1", path);
	assert_int_equal(size_of(old), 1000);
	snprintf(old, sizeof(old), "%s.2", path);
	assert_int_equal(size_of(old), 1000);
	snprintf(old, sizeof(old), "%s.3", path);
	assert_int_equal(size_of(old), -1);
	tu_rmtree(dir);
	free(dir);
}

static void
test_reopen_appends(void **state)
{
	struct logfile	lf;
	char		*dir = tu_tmpdir(), path[512];

	(void)state;
	snprintf(path, sizeof(path), "%s/a.log", dir);
	assert_int_equal(logfile_open(&lf, path, 0, 0, 0600), 0);
	assert_int_equal(logfile_write(&lf, "one\n", 4), 0);
	logfile_close(&lf);
	assert_int_equal(logfile_open(&lf, path, 0, 0, 0600), 0);
	assert_int_equal(lf.size, 4);
	assert_int_equal(logfile_write(&lf, "two\n", 4), 0);
	logfile_close(&lf);
	assert_int_equal(size_of(path), 8);
	tu_rmtree(dir);
	free(dir);
}

static void
test_symlink_refused(void **state)
{
	struct logfile	lf;
	char		*dir = tu_tmpdir(), path[512];

	(void)state;
	/* a log is never written through a link someone planted */
	snprintf(path, sizeof(path), "%s/evil.log", dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_true(logfile_open(&lf, path, 0, 0, 0600) < 0);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotation_keeps_n),
		cmocka_unit_test(test_reopen_appends),
		cmocka_unit_test(test_symlink_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
