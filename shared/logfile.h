/*
 * Append-only log files rotated by size: name, name.1 ... name.KEEP.
 */
#ifndef MCPVISOR_LOGFILE_H
#define MCPVISOR_LOGFILE_H

#include <stddef.h>
#include <sys/types.h>

struct logfile {
	int		 fd;
	int		 dirfd;		/* its directory (O_PATH) */
	char		*path;		/* its name there */
	off_t		 size;
	off_t		 max;		/* 0: never rotate */
	unsigned	 keep;
};

/* Opens (creating with mode) path for appending. 0 or a negative errno;
 * the logfile owns its descriptor. */
int	logfile_open(struct logfile *, const char *path, off_t max,
	    unsigned keep, mode_t mode);
/* Appends, rotating first when the file would pass its maximum. Returns
 * 0 or a negative errno (the bytes are then lost, never half-kept). */
int	logfile_write(struct logfile *, const void *, size_t);
void	logfile_close(struct logfile *);

#endif
