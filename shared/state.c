/*
 * State directory primitives. Records are small JSON files; the journal
 * is NDJSON. Nothing here holds a secret: callers redact before writing.
 */
#include "state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "util.h"

int
state_dir_default(char *buf, size_t size)
{
	const char	*xdg = getenv("XDG_STATE_HOME");
	const char	*home = getenv("HOME");
	int		 n;

	if (geteuid() == 0)
		n = snprintf(buf, size, "/var/lib/mcpvisor");
	else if (xdg != NULL && *xdg == '/')
		n = snprintf(buf, size, "%s/mcpvisor", xdg);
	else
		n = snprintf(buf, size, "%s/.local/state/mcpvisor",
		    home != NULL ? home : "/tmp");
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int
mkdir_p(const char *path, mode_t mode)
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
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

int
state_prepare(const char *dir, struct errbuf *err)
{
	static const char *const subdirs[] = { "deployments", "logs",
	    "servers", "health-checks", "rollbacks" };
	char	path[PATH_MAX];
	int	r;

	if ((r = mkdir_p(dir, 0700)) < 0) {
		errbuf_set(err, "%s: %s", dir, strerror(-r));
		return r;
	}
	/* an existing directory may have been made by someone else */
	if (chmod(dir, 0700) == -1) {
		errbuf_set(err, "chmod %s: %s", dir, strerror(errno));
		return -errno;
	}
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			errbuf_set(err, "%s: %s", path, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t	w = write(fd, p, n);

		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
state_write_file(const char *dir, const char *rel, const void *data,
    size_t len)
{
	char	path[PATH_MAX], tmp[PATH_MAX + 16], parent[PATH_MAX];
	char	*slash;
	int	fd, dfd, r;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
	    -1)
		return -errno;
	if ((r = write_all(fd, data, len)) < 0 ||
	    (fsync(fd) == -1 && (r = -errno) < 0)) {
		close(fd);
		unlink(tmp);
		return r;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		r = -errno;
		unlink(tmp);
		return r;
	}
	/* the rename is durable only once the directory is */
	snprintf(parent, sizeof(parent), "%s", path);
	if ((slash = strrchr(parent, '/')) != NULL)
		*slash = '\0';
	if ((dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int
state_write_json(const char *dir, const char *rel, const cJSON *json)
{
	char	*text, *line;
	int	 r;

	if ((text = cJSON_Print(json)) == NULL)
		return -ENOMEM;
	if (asprintf(&line, "%s\n", text) == -1) {
		free(text);
		return -ENOMEM;
	}
	r = state_write_file(dir, rel, line, strlen(line));
	free(line);
	free(text);
	return r;
}

int
state_read_json(const char *path, cJSON **out)
{
	char	*buf;
	size_t	 len;
	int	 r;

	if ((r = read_file_capped(path, 0, STATE_FILE_MAX, &buf, &len,
	    NULL)) < 0)
		return r;
	*out = cJSON_ParseWithLength(buf, len);
	free(buf);
	return *out != NULL ? 0 : -EBADMSG;
}

static int
record_order(const void *a, const void *b)
{
	const cJSON	*x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
	const char	*tx = cJSON_GetStringValue(cJSON_GetObjectItem(x, "id"));
	const char	*ty = cJSON_GetStringValue(cJSON_GetObjectItem(y, "id"));

	/* ids begin with their time: newest first */
	return strcmp(ty != NULL ? ty : "", tx != NULL ? tx : "");
}

int
state_list_records(const char *dir, cJSON ***out)
{
	char		  path[PATH_MAX];
	DIR		 *d;
	struct dirent	 *de;
	cJSON		**v = NULL, *rec;
	size_t		  n = 0, cap = 0;

	snprintf(path, sizeof(path), "%s/deployments", dir);
	if ((d = opendir(path)) == NULL)
		return -errno;
	while ((de = readdir(d)) != NULL) {
		size_t	len = strlen(de->d_name);

		if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/deployments/%s", dir,
		    de->d_name);
		if (state_read_json(path, &rec) < 0)
			continue;
		if (n == cap) {
			cJSON	**nv;

			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				cJSON_Delete(rec);
				break;
			}
			v = nv;
		}
		v[n++] = rec;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), record_order);
	*out = v;
	return (int)n;
}

int
state_prune_records(const char *dir, unsigned keep)
{
	cJSON	**recs;
	char	  path[PATH_MAX + 96];
	int	  n, gone = 0;

	if ((n = state_list_records(dir, &recs)) < 0)
		return n;
	for (int i = 0; i < n; i++) {
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(
		    recs[i], "id"));
		const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(
		    recs[i], "state"));

		/* newest first: past keep, only what has finished goes */
		if ((unsigned)i >= keep && id != NULL && st != NULL &&
		    strcmp(st, "done") == 0 && strchr(id, '/') == NULL) {
			snprintf(path, sizeof(path), "%s/deployments/%s.json",
			    dir, id);
			if (unlink(path) == 0)
				gone++;
			snprintf(path, sizeof(path),
			    "%s/logs/deployment_%s.log", dir, id);
			unlink(path);
		}
		cJSON_Delete(recs[i]);
	}
	free(recs);
	return gone;
}

void
state_iso_now(char *buf, size_t size)
{
	struct timespec	ts;
	struct tm	tm;
	char		base[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%.20s.%03dZ", base, (int)(ts.tv_nsec / 1000000));
}

void
state_new_id(char *buf, size_t size)
{
	struct timespec	ts;
	struct tm	tm;
	uint8_t		rnd[3] = { 0, 0, 0 };

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd[0] = (uint8_t)ts.tv_nsec;
	/* milliseconds too, so that ids sort in the order they were made */
	snprintf(buf, size, "deploy_%04d%02d%02d_%02d%02d%02d%03d_%02x%02x%02x",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000), rnd[0], rnd[1],
	    rnd[2]);
}

static int
journal_open_file(struct journal *j)
{
	char		path[PATH_MAX];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/events.journal", j->dir);
	if ((j->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -errno;
	j->size = fstat(j->fd, &st) == 0 ? st.st_size : 0;
	return 0;
}

int
journal_open(struct journal *j, const char *dir)
{
	memset(j, 0, sizeof(*j));
	j->fd = -1;
	if ((j->dir = strdup(dir)) == NULL)
		return -ENOMEM;
	return journal_open_file(j);
}

/* events.journal becomes .1, .1 becomes .2 ...; the oldest goes. */
static int
journal_rotate(struct journal *j)
{
	char	from[PATH_MAX + 16], to[PATH_MAX + 16];

	for (unsigned i = JOURNAL_KEEP; i > 0; i--) {
		snprintf(to, sizeof(to), "%s/events.journal.%u", j->dir, i);
		if (i > 1)
			snprintf(from, sizeof(from), "%s/events.journal.%u",
			    j->dir, i - 1);
		else
			snprintf(from, sizeof(from), "%s/events.journal",
			    j->dir);
		if (rename(from, to) == -1 && errno != ENOENT)
			return -errno;
	}
	close(j->fd);
	return journal_open_file(j);
}

int
journal_append(struct journal *j, const cJSON *event)
{
	char	*text = cJSON_PrintUnformatted(event);
	size_t	 len;

	if (text == NULL)
		return -ENOMEM;
	len = strlen(text);
	if (j->len + len + 1 > j->cap) {
		size_t	 cap = j->cap ? j->cap : 4096;
		char	*p;

		while (cap < j->len + len + 1)
			cap *= 2;
		if ((p = realloc(j->buf, cap)) == NULL) {
			free(text);
			return -ENOMEM;
		}
		j->buf = p;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, text, len);
	j->buf[j->len + len] = '\n';
	j->len += len + 1;
	free(text);
	return 0;
}

int
journal_commit(struct journal *j)
{
	int	r;

	if (j->len == 0)
		return 0;
	if (j->size > 0 && j->size + (off_t)j->len > (off_t)JOURNAL_MAX &&
	    (r = journal_rotate(j)) < 0)
		return r;
	if ((r = write_all(j->fd, j->buf, j->len)) < 0)
		return r;
	j->size += (off_t)j->len;
	j->len = 0;
	return fdatasync(j->fd) == -1 ? -errno : 0;
}

void
journal_close(struct journal *j)
{
	journal_commit(j);
	if (j->fd != -1)
		close(j->fd);
	free(j->buf);
	free(j->dir);
	memset(j, 0, sizeof(*j));
	j->fd = -1;
}

int
state_control_connect(const char *dir)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	int			fd, r;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/control.sock", dir) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

int
state_monitor_token(const char *dir, char out[65])
{
	char		 path[PATH_MAX], buf[80];
	unsigned char	 rnd[32];
	ssize_t		 n;
	int		 fd, r;

	snprintf(path, sizeof(path), "%s/monitor.token", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) != -1) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n >= 64) {
			memcpy(out, buf, 64);
			out[64] = '\0';
			if (strspn(out, "0123456789abcdef") == 64)
				return 0;
		}
		/* damaged: made anew below */
	} else if (errno != ENOENT)
		return -errno;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	snprintf(buf, sizeof(buf), "%s\n", out);
	if ((r = state_write_file(dir, "monitor.token", buf, 65)) < 0)
		return r;
	return 0;
}
