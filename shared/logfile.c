/*
 * Size-rotated logs. Rotation renames, so a reader holding the old file
 * keeps reading it; nothing is copied. Everything after the open is
 * relative to the directory held then: a worker goes on rotating its
 * server's log from inside a filesystem view where the state directory
 * is hidden.
 */
#include "logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
logfile_open(struct logfile *lf, const char *path, off_t max, unsigned keep,
    mode_t mode)
{
	struct stat	st;

	const char	*slash = strrchr(path, '/');
	char		*dir;

	memset(lf, 0, sizeof(*lf));
	lf->fd = lf->dirfd = -1;
	if ((lf->path = strdup(slash != NULL ? slash + 1 : path)) == NULL ||
	    (dir = slash == NULL ? strdup(".") : slash == path ? strdup("/") :
	    strndup(path, (size_t)(slash - path))) == NULL) {
		logfile_close(lf);
		return -ENOMEM;
	}
	lf->dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (lf->dirfd == -1 || lf->path[0] == '\0' ||
	    (lf->fd = openat(lf->dirfd, lf->path, O_WRONLY | O_APPEND |
	    O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode)) == -1 ||
	    fstat(lf->fd, &st) == -1) {
		int	r = lf->dirfd != -1 && lf->path[0] == '\0' ? -EISDIR :
			    -errno;

		logfile_close(lf);
		return r;
	}
	lf->size = st.st_size;
	lf->max = max;
	lf->keep = keep;
	return 0;
}

static int
logfile_rotate(struct logfile *lf)
{
	char	from[4096], to[4096];
	int	fd;

	for (unsigned i = lf->keep; i > 0; i--) {
		snprintf(to, sizeof(to), "%s.%u", lf->path, i);
		if (i > 1)
			snprintf(from, sizeof(from), "%s.%u", lf->path, i - 1);
		else
			snprintf(from, sizeof(from), "%s", lf->path);
		if (renameat(lf->dirfd, from, lf->dirfd, to) == -1 &&
		    errno != ENOENT)
			return -errno;
	}
	if (lf->keep == 0 && unlinkat(lf->dirfd, lf->path, 0) == -1 &&
	    errno != ENOENT)
		return -errno;
	if ((fd = openat(lf->dirfd, lf->path, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC | O_NOFOLLOW, 0640)) == -1)
		return -errno;
	close(lf->fd);
	lf->fd = fd;
	lf->size = 0;
	return 0;
}

int
logfile_write(struct logfile *lf, const void *buf, size_t len)
{
	const char	*p = buf;
	int		 r;

	if (lf->max > 0 && lf->size > 0 && lf->size + (off_t)len > lf->max &&
	    (r = logfile_rotate(lf)) < 0)
		return r;
	while (len > 0) {
		ssize_t	n = write(lf->fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		p += n;
		len -= (size_t)n;
		lf->size += n;
	}
	return 0;
}

void
logfile_close(struct logfile *lf)
{
	if (lf->fd != -1)
		close(lf->fd);
	if (lf->dirfd != -1)
		close(lf->dirfd);
	lf->fd = lf->dirfd = -1;
	free(lf->path);
	lf->path = NULL;
}
