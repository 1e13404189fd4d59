#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <libgen.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

uint64_t
mono_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned
backoff_jitter_ms(unsigned base_ms, unsigned max_ms, unsigned attempt,
    uint64_t *rng)
{
	uint64_t	ms = base_ms;

	for (unsigned i = 1; i < attempt && ms < max_ms; i++)
		ms *= 2;
	if (ms > max_ms)
		ms = max_ms;
	if (*rng == 0 && getrandom(rng, sizeof(*rng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(*rng))
		*rng = mono_us() | 1;
	if (*rng == 0)
		*rng = 1;
	/* xorshift64: quality enough to keep retries apart */
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	return (unsigned)(ms - ms / 4 + *rng % (ms / 4 * 2 + 1));
}

long long
json_int_within(const cJSON *j, long long min, long long max, long long def)
{
	double		d;
	long long	v;

	if (!cJSON_IsNumber(j))
		return def;
	d = j->valuedouble;
	/* both bounds exact in a double: -2^63 <= d < 2^63 */
	if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
		return def;
	v = (long long)d;
	return (double)v != d || v < min || v > max ? def : v;
}

int
read_file_capped(const char *path, int extra_oflags, size_t cap, char **out,
    size_t *len, struct stat *stp)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 have = 0, size;
	int		 fd, r;

	/* not blocking: a FIFO would wait for a writer before fstat could
	 * tell that it is not a file */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    extra_oflags)) == -1)
		return -errno;
	if (fstat(fd, &st) == -1) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((uintmax_t)st.st_size > cap) {
		r = -EFBIG;
		goto out;
	}
	size = (size_t)st.st_size;
	if ((buf = malloc(size + 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* the file may change size under us: read to EOF, within its size
	 * (one byte more tells that it grew) */
	for (;;) {
		ssize_t	n = read(fd, buf + have, size + 1 - have);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		if (have > size) {
			r = -EAGAIN;
			goto out;
		}
	}
	buf[have] = '\0';
	*out = buf;
	*len = have;
	if (stp != NULL)
		*stp = st;
	buf = NULL;
	r = 0;
out:
	free(buf);
	close(fd);
	return r;
}

int
write_all(int fd, const void *data, size_t len)
{
	const char	*p = data;

	while (len > 0) {
		ssize_t	w = write(fd, p, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

bool
util_find_program(const char *name, const char *const *dirs, char *buf,
    size_t size, char *tried, size_t tried_size)
{
	char	self[PATH_MAX], *here = NULL;
	ssize_t	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t	used = 0;

	if (n > 0) {
		self[n] = '\0';
		here = dirname(self);
		snprintf(buf, size, "%s/%s", here, name);
		if (access(buf, X_OK) == 0)
			return true;
		used += (size_t)snprintf(tried, tried_size, "%s", buf);
	}
	for (; dirs != NULL && *dirs != NULL; dirs++) {
		if ((*dirs)[0] != '/' && here == NULL)
			continue;
		if ((*dirs)[0] == '/')
			snprintf(buf, size, "%s/%s", *dirs, name);
		else
			snprintf(buf, size, "%s/%s/%s", here, *dirs, name);
		if (access(buf, X_OK) == 0)
			return true;
		if (used < tried_size)
			used += (size_t)snprintf(tried + used, tried_size - used,
			    "%s%s", used > 0 ? ", " : "", buf);
	}
	return false;
}

bool
util_metric_name_ok(const char *name)
{
	size_t	n = strlen(name);

	if (n == 0 || n > 63 || isdigit((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return false;
	return true;
}

bool
util_path_absolute_clean(const char *path)
{
	if (path[0] != '/')
		return false;
	for (const char *c = path; (c = strstr(c, "/..")) != NULL; c += 3)
		if (c[3] == '/' || c[3] == '\0')
			return false;
	return true;
}

bool
util_dir_empty(int fd)
{
	int		 copy = dup(fd);
	DIR		*d = copy != -1 ? fdopendir(copy) : NULL;
	struct dirent	*e;
	bool		 empty = true;

	if (d == NULL) {
		if (copy != -1)
			close(copy);
		return false;
	}
	while (empty && (e = readdir(d)) != NULL)
		empty = strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0;
	closedir(d);
	return empty;
}

int
util_say(char **err, int code, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (vasprintf(err, fmt, ap) == -1)
		*err = NULL;
	va_end(ap);
	return code;
}

void
util_remove_tree(const char *dir)
{
	char		 path[PATH_MAX];
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (de->d_type == DT_DIR)
				util_remove_tree(path);
			else
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

int
util_make_dirs(const char *path, mode_t parents, mode_t mode)
{
	char	tmp[PATH_MAX];
	size_t	len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, parents) == -1 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

size_t
util_numbered_entries(const char *dir, unsigned **out)
{
	DIR		*d;
	struct dirent	*de;
	unsigned	*v = NULL, *nv;
	size_t		 n = 0;

	*out = NULL;
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char		*end;
		unsigned long	 k = strtoul(de->d_name, &end, 10);

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end != '\0' ||
		    k > UINT_MAX)
			continue;
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL)
			break;
		v = nv;
		v[n++] = (unsigned)k;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)	/* a handful: insertion */
		for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
			unsigned t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*out = v;
	return n;
}
