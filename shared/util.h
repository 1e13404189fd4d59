/*
 * Small helpers every process needs and that were once written in each:
 * the monotonic clock, back-off with jitter, container_of, a JSON number
 * as an integer, and reading a whole file under a size cap.
 */
#ifndef MCPVISOR_UTIL_H
#define MCPVISOR_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define container_of(p, type, member)					\
	((type *)(void *)((char *)(p) - offsetof(type, member)))

/* CLOCK_MONOTONIC in milliseconds and microseconds. */
uint64_t	mono_ms(void);
uint64_t	mono_us(void);

/* The delay before attempt (1-based) of something that keeps failing:
 * base_ms doubled per attempt up to max_ms, then spread by +-25% so that
 * a fleet that failed together does not retry in step. *rng is the
 * caller's generator state; 0 seeds it from getrandom(2). */
unsigned	backoff_jitter_ms(unsigned base_ms, unsigned max_ms,
		    unsigned attempt, uint64_t *rng);

/* A JSON number that is an integer in [min, max], or def: what a peer
 * or a file sent is never converted when it does not fit (a NaN, 1e300
 * or 2^64 made an integer is undefined behaviour), nor truncated (1.5 is
 * no integer). j may be NULL or any other kind. */
struct cJSON;
long long	json_int_within(const struct cJSON *j, long long min,
		    long long max, long long def);

struct stat;

/* Reads the regular file at path (opened with O_RDONLY | O_CLOEXEC |
 * extra_oflags) whole. Returns 0 with *out (NUL-terminated, the caller
 * frees it), *len and, if st is not NULL, its fstat; or a negative errno:
 * -EINVAL (not a regular file), -EFBIG (larger than cap), -EAGAIN (it
 * grew past its size while being read), -ENOMEM, or what open, fstat or
 * read said. */
/* Writes all of len bytes (a pipe may take them in pieces; EINTR is
 * retried). 0 or a negative errno. */
int		write_all(int fd, const void *, size_t len);
int		read_file_capped(const char *path, int extra_oflags, size_t cap,
		    char **out, size_t *len, struct stat *st);

/* Whether the directory open at fd holds nothing but . and .. (false
 * when it cannot be read). fd stays open, its position unchanged for
 * the caller's purposes (a duplicate is read). */
bool		util_dir_empty(int fd);
/* Removes dir and everything under it (symbolic links are removed, never
 * followed); what cannot be removed stays, silently. */
void		util_remove_tree(const char *dir);
/* Makes path and each of its missing parents (those with mode parents,
 * path itself with mode): 0 or a negative errno. */
int		util_make_dirs(const char *path, mode_t parents, mode_t mode);
/* The numbers that name entries of dir (1, 2, ...: a stack's revisions),
 * ascending (malloc'd), and how many; 0 when dir cannot be read. */
size_t		util_numbered_entries(const char *dir, unsigned **out);

/* Whether path is absolute and has no ".." component: a path a
 * sandbox binds or hides is taken as written, never resolved upwards. */
bool		util_path_absolute_clean(const char *path);

/* Whether name may be a metric's, as Prometheus takes it:
 * [a-zA-Z_][a-zA-Z0-9_]*, at most 63 characters. */
bool		util_metric_name_ok(const char *name);
/* Sets *err to the formatted text (NULL when out of memory) and returns
 * code: a refusal said in one statement. */
int		util_say(char **err, int code, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* Where a program of ours is: beside our own executable (a build tree,
 * or one directory of an install), else in each of dirs in turn (NULL-
 * ended; a relative one is taken from our executable's directory, so
 * that an install moved to another prefix still finds its parts). The
 * first that is executable goes to buf; false when none is, with the
 * places looked at in tried. */
bool		util_find_program(const char *name, const char *const *dirs,
		    char *buf, size_t size, char *tried, size_t tried_size);

#endif
