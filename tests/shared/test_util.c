/* Tests of shared/util.c: a JSON number as an integer (what does not
 * fit is never converted), back-off with jitter within its bounds, and
 * a whole file read under a cap. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "testutil.h"
#include "util.h"

static long long
parsed(const char *text, long long min, long long max)
{
	cJSON		*j = cJSON_Parse(text);
	long long	 v = json_int_within(j, min, max, -7);

	cJSON_Delete(j);
	return v;
}

static void
test_json_int_within(void **state)
{
	cJSON	*nan = cJSON_CreateNumber(NAN);

	(void)state;
	assert_int_equal(parsed("42", 0, 100), 42);
	assert_int_equal(parsed("0", 0, 100), 0);
	assert_int_equal(parsed("100", 0, 100), 100);
	assert_int_equal(parsed("101", 0, 100), -7);
	assert_int_equal(parsed("-1", 0, 100), -7);
	assert_int_equal(parsed("1.5", 0, 100), -7);	/* no integer */
	assert_int_equal(parsed("1e300", 0, LLONG_MAX), -7);
	assert_int_equal(parsed("-1e300", LLONG_MIN, 0), -7);
	/* 2^63 is one past LLONG_MAX; -2^63 is LLONG_MIN itself */
	assert_int_equal(parsed("9223372036854775808", LLONG_MIN, LLONG_MAX),
	    -7);
	assert_true(parsed("-9223372036854775808", LLONG_MIN, LLONG_MAX) ==
	    LLONG_MIN);
	assert_int_equal(parsed("\"12\"", 0, 100), -7);	/* a string */
	assert_int_equal(parsed("null", 0, 100), -7);
	assert_int_equal(json_int_within(NULL, 0, 100, -7), -7);
	assert_int_equal(json_int_within(nan, 0, 100, -7), -7);
	cJSON_Delete(nan);
}

static void
test_backoff_stays_within_its_bounds(void **state)
{
	uint64_t	rng = 0;

	(void)state;
	for (unsigned attempt = 1; attempt < 40; attempt++)
		for (int i = 0; i < 200; i++) {
			unsigned base = 250u << (attempt < 8 ? attempt - 1 : 7);
			unsigned want = base > 30000 ? 30000 : base;
			unsigned ms = backoff_jitter_ms(250, 30000, attempt,
			    &rng);

			assert_true(ms >= want - want / 4);
			assert_true(ms <= want + want / 4);
		}
}

static void
test_read_file_capped(void **state)
{
	char		*dir = tu_tmpdir(), *path, *fifo, *buf = NULL;
	size_t		 len = 0;
	struct stat	 st;

	(void)state;
	path = tu_write(dir, "f", "hello\n");
	assert_int_equal(read_file_capped(path, 0, 64, &buf, &len, &st), 0);
	assert_string_equal(buf, "hello\n");
	assert_int_equal(len, 6);
	assert_int_equal(st.st_size, 6);
	free(buf);
	assert_int_equal(read_file_capped(path, 0, 5, &buf, &len, NULL),
	    -EFBIG);
	assert_int_equal(read_file_capped(dir, 0, 64, &buf, &len, NULL),
	    -EINVAL);
	assert_true(asprintf(&fifo, "%s/fifo", dir) != -1);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* refused at once, not waited on for a writer */
	assert_int_equal(read_file_capped(fifo, 0, 64, &buf, &len, NULL),
	    -EINVAL);
	free(fifo);
	free(path);
	tu_rmtree(dir);
	free(dir);
}

static void
test_path_absolute_clean(void **state)
{
	(void)state;
	assert_true(util_path_absolute_clean("/"));
	assert_true(util_path_absolute_clean("/var/lib/x"));
	assert_true(util_path_absolute_clean("/a/..b/c.."));
	assert_true(util_path_absolute_clean("/a/.../b"));
	assert_false(util_path_absolute_clean("var/lib"));
	assert_false(util_path_absolute_clean(""));
	assert_false(util_path_absolute_clean("/a/../etc"));
	assert_false(util_path_absolute_clean("/a/.."));
	assert_false(util_path_absolute_clean("/.."));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_int_within),
		cmocka_unit_test(test_backoff_stays_within_its_bounds),
		cmocka_unit_test(test_read_file_capped),
		cmocka_unit_test(test_path_absolute_clean),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
