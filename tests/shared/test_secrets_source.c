/* Tests of shared/secrets_source.c: where a secret's value comes from. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <cmocka.h>

#include <fcntl.h>

#include "errbuf.h"
#include "secrets.h"
#include "testutil.h"

/* An environment of NAME=VALUE strings, NULL-terminated. */
static const char *
env_of(void *arg, const char *name)
{
	const char *const	*e = arg;
	size_t			 n = strlen(name);

	for (; *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static int
lookup(const char *const *env, const char *dir, char **value,
    struct errbuf *err)
{
	return secret_lookup("TOKEN", env_of, (void *)(uintptr_t)env, dir,
	    value, err);
}

static void
test_the_variable_itself(void **state)
{
	const char *const	 env[] = { "TOKEN=plain", NULL };
	struct errbuf		 err;
	char			*v;

	(void)state;
	assert_int_equal(lookup(env, NULL, &v, &err), 1);
	assert_string_equal(v, "plain");
	free(v);
}

static void
test_a_file_named_by_name_file(void **state)
{
	char		*dir = tu_tmpdir();
	char		*path = tu_write(dir, "token", "from-file\r\n");
	char		*var, *v;
	struct errbuf	 err;

	(void)state;
	assert_true(asprintf(&var, "TOKEN_FILE=%s", path) > 0);
	{
		const char *const	env[] = { var, NULL };

		assert_int_equal(lookup(env, NULL, &v, &err), 1);
		/* one line ending left out, not more */
		assert_string_equal(v, "from-file");
		free(v);
	}
	free(tu_write(dir, "token", "a\n\n"));
	{
		const char *const	env[] = { var, NULL };

		assert_int_equal(lookup(env, NULL, &v, &err), 1);
		assert_string_equal(v, "a\n");
		free(v);
	}
	free(var);
	free(path);
	tu_rmtree(dir);
	free(dir);
}

static void
test_a_directory_of_files(void **state)
{
	char		*dir = tu_tmpdir();
	char		*path = tu_write(dir, "TOKEN", "in-dir");
	const char *const env[] = { "OTHER=1", NULL };
	const char *const given[] = { "TOKEN=wins", NULL };
	struct errbuf	 err;
	char		*v;

	(void)state;
	assert_int_equal(lookup(env, dir, &v, &err), 1);
	assert_string_equal(v, "in-dir");
	free(v);
	/* the variable comes first */
	assert_int_equal(lookup(given, dir, &v, &err), 1);
	assert_string_equal(v, "wins");
	free(v);
	/* none of them has it */
	assert_int_equal(secret_lookup("ABSENT", env_of, (void *)(uintptr_t)env,
	    dir, &v, &err), 0);
	assert_null(v);
	/* a name is a file of the directory, never a path out of it */
	assert_int_equal(secret_lookup("..", env_of, (void *)(uintptr_t)env,
	    dir, &v, &err), 0);
	assert_int_equal(secret_lookup("a/b", env_of, (void *)(uintptr_t)env,
	    dir, &v, &err), 0);
	/* a directory that is not there holds nothing */
	assert_int_equal(lookup(env, "/nonexistent/secrets", &v, &err), 0);
	free(path);
	tu_rmtree(dir);
	free(dir);
}

static void
test_what_is_refused(void **state)
{
	char		*dir = tu_tmpdir();
	char		*big = calloc(1, (64u << 10) + 2), *var, *v;
	struct errbuf	 err;
	int		 fd;

	(void)state;
	memset(big, 'x', (64u << 10) + 1);
	free(tu_write(dir, "big", big));
	free(big);
	{
		const char *const	env[] = { "TOKEN=x", "TOKEN_FILE=/x",
					    NULL };

		assert_int_equal(lookup(env, NULL, &v, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "both TOKEN and TOKEN_FILE"));
	}
	{
		const char *const	env[] = { "TOKEN_FILE=rel/path", NULL };

		assert_int_equal(lookup(env, NULL, &v, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "not an absolute path"));
	}
	{
		const char *const	env[] = { "TOKEN_FILE=/nonexistent/t",
					    NULL };

		assert_int_equal(lookup(env, NULL, &v, &err), -ENOENT);
		assert_string_equal(err.msg, "TOKEN_FILE=/nonexistent/t: No "
		    "such file or directory");
	}
	assert_true(asprintf(&var, "TOKEN_FILE=%s/big", dir) > 0);
	{
		const char *const	env[] = { var, NULL };

		assert_int_equal(lookup(env, NULL, &v, &err), -EFBIG);
		assert_non_null(strstr(err.msg, "larger than 64 KiB"));
	}
	free(var);
	assert_true(asprintf(&var, "TOKEN_FILE=%s", dir) > 0);
	{
		const char *const	env[] = { var, NULL };

		assert_int_equal(lookup(env, NULL, &v, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "not a regular file"));
	}
	free(var);
	assert_true(asprintf(&var, "%s/nul", dir) > 0);
	fd = open(var, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, "a\0b", 3), 3);
	close(fd);
	free(var);
	assert_true(asprintf(&var, "TOKEN_FILE=%s/nul", dir) > 0);
	{
		const char *const	env[] = { var, NULL };

		assert_int_equal(lookup(env, NULL, &v, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "holds a NUL byte"));
	}
	free(var);
	tu_rmtree(dir);
	free(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_variable_itself),
		cmocka_unit_test(test_a_file_named_by_name_file),
		cmocka_unit_test(test_a_directory_of_files),
		cmocka_unit_test(test_what_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
