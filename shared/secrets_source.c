/*
 * Where a secret's value comes from: the environment variable the
 * environment file names, a file that NAME_FILE names (the convention of
 * Docker's official images), or a file NAME in a directory of them (a
 * Kubernetes Secret volume, systemd's $CREDENTIALS_DIRECTORY), so that a
 * secret never needs to be in any process's environment.
 */
#include "secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errbuf.h"

/* A secret is a key or a password, not a document. */
#define SECRET_FILE_MAX	(64u << 10)

/* 1 and *value, 0 when dir has no such file (absent_ok), else -errno
 * with why in err. */
static int
read_secret_file(int dirfd, const char *path, bool absent_ok, char **value,
    struct errbuf *err)
{
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd, r;

	if ((fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) ==
	    -1) {
		if (errno == ENOENT && absent_ok)
			return 0;
		errbuf_set(err, "%s", strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) == -1) {
		r = -errno;
		errbuf_set(err, "%s", strerror(errno));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)SECRET_FILE_MAX) {
		errbuf_set(err, "%s", !S_ISREG(st.st_mode) ?
		    "not a regular file" : "larger than 64 KiB");
		close(fd);
		return !S_ISREG(st.st_mode) ? -EINVAL : -EFBIG;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (len < (size_t)st.st_size && (n = read(fd, buf + len,
	    (size_t)st.st_size - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = -errno;
			errbuf_set(err, "%s", strerror(errno));
			explicit_bzero(buf, len);
			free(buf);
			close(fd);
			return r;
		}
		len += (size_t)n;
	}
	close(fd);
	/* the newline an editor or `echo` leaves is not part of it */
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (strlen(buf) != len) {
		explicit_bzero(buf, len);
		free(buf);
		errbuf_set(err, "holds a NUL byte");
		return -EINVAL;
	}
	*value = buf;
	return 1;
}

int
secret_lookup(const char *name, secret_getenv_fn *get, void *arg,
    const char *dir, char **value, struct errbuf *err)
{
	char		 var[256];
	const char	*direct = get(arg, name), *file;
	int		 dirfd, r;

	*value = NULL;
	if (snprintf(var, sizeof(var), "%s_FILE", name) >= (int)sizeof(var)) {
		errbuf_set(err, "the variable's name is too long");
		return -ENAMETOOLONG;
	}
	file = get(arg, var);
	if (direct != NULL && file != NULL) {
		errbuf_set(err, "both %s and %s are set: say which", name, var);
		return -EINVAL;
	}
	if (direct != NULL) {
		if ((*value = strdup(direct)) == NULL)
			return -ENOMEM;
		return 1;
	}
	if (file != NULL) {
		if (file[0] != '/') {
			errbuf_set(err, "%s=%s: not an absolute path", var,
			    file);
			return -EINVAL;
		}
		if ((r = read_secret_file(AT_FDCWD, file, false, value,
		    err)) < 0) {
			struct errbuf	why = *err;

			errbuf_set(err, "%s=%s: %s", var, file, why.msg);
		}
		return r;
	}
	/* a file name of its own, not a path into or out of dir */
	if (dir == NULL || *dir == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return 0;
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		errbuf_set(err, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	if ((r = read_secret_file(dirfd, name, true, value, err)) < 0) {
		struct errbuf	why = *err;

		errbuf_set(err, "%s/%s: %s", dir, name, why.msg);
	}
	close(dirfd);
	return r;
}
