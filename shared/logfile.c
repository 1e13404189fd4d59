/*
 * Size-rotated logs. Rotation renames, so a reader holding the old file
 * keeps reading it; nothing is copied.
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

	memset(lf, 0, sizeof(*lf));
	lf->fd = -1;
	if ((lf->path = strdup(path)) == NULL)
		return -ENOMEM;
	if ((lf->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, mode)) == -1 || fstat(lf->fd, &st) == -1) {
		int	r = -errno;

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
		if (rename(from, to) == -1 && errno != ENOENT)
			return -errno;
	}
	if (lf->keep == 0 && unlink(lf->path) == -1 && errno != ENOENT)
		return -errno;
	if ((fd = open(lf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0640)) == -1)
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
	lf->fd = -1;
	free(lf->path);
	lf->path = NULL;
}
