/* Helpers for tests that need configuration files on disk. */
#ifndef MCPVISOR_TESTUTIL_H
#define MCPVISOR_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"

/* Makes a fresh directory under $TMPDIR; the caller frees the path. */
static inline char *
tu_tmpdir(void)
{
	const char	*base = getenv("TMPDIR");
	char		*path;

	if (asprintf(&path, "%s/mcpvisor-test.XXXXXX",
	    base != NULL ? base : "/tmp") == -1 || mkdtemp(path) == NULL)
		abort();
	return path;
}

/* Writes text to dir/rel, creating one level of subdirectory. */
static inline char *
tu_write(const char *dir, const char *rel, const char *text)
{
	char	*path, *slash;
	FILE	*fp;

	if (asprintf(&path, "%s/%s", dir, rel) == -1)
		abort();
	if ((slash = strrchr(path, '/')) != NULL && slash > path + strlen(dir)) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fputs(text, fp);
	fclose(fp);
	return path;
}

static inline void
tu_rmtree(const char *dir)
{
	char	*cmd;

	if (asprintf(&cmd, "rm -rf '%s'", dir) == -1)
		abort();
	if (system(cmd) != 0)
		abort();
	free(cmd);
}

/* Whether some diagnostic's "file:line:col: msg" text holds fragment. */
static inline int
tu_has(const struct diag_list *dl, const char *fragment)
{
	for (size_t i = 0; i < dl->n; i++) {
		char	line[1024];

		snprintf(line, sizeof(line), "%s:%u:%u: %s",
		    dl->v[i].file != NULL ? dl->v[i].file : "", dl->v[i].line,
		    dl->v[i].col, dl->v[i].msg);
		if (strstr(line, fragment) != NULL)
			return 1;
	}
	return 0;
}

/* Fails the test with every diagnostic when fragment is missing. */
#define TU_EXPECT(dl, fragment) do {					\
	if (!tu_has((dl), (fragment))) {				\
		diag_print((dl), stderr);				\
		fail_msg("no diagnostic holds '%s'", (fragment));	\
	}								\
} while (0)

#endif
