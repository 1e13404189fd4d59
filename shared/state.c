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

#include "schema.h"
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

/* Whether st may hold our state: a directory of ours or root's that no
 * one else can write; a parent may also be a sticky directory of
 * root's, such as /tmp (no one can replace what we make in it). */
static bool
dir_trusted(const struct stat *st, bool parent, uid_t me)
{
	if (!S_ISDIR(st->st_mode) || (st->st_uid != me && st->st_uid != 0))
		return false;
	if ((st->st_mode & 022) == 0)
		return true;
	return parent && (st->st_mode & S_ISVTX) && st->st_uid == 0;
}

int
state_check_dir(const char *dir, struct errbuf *err)
{
	char		path[PATH_MAX], *real;
	struct stat	st;
	uid_t		me = geteuid();

	/* sshd's StrictModes: the directory and each of its parents,
	 * resolved, can be written by no one but us and root */
	if ((real = realpath(dir, NULL)) == NULL) {
		errbuf_set(err, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	for (char *p = real; p != NULL; p = strchr(p + 1, '/')) {
		size_t	n = p == real ? 1 : (size_t)(p - real);

		memcpy(path, real, n);
		path[n] = '\0';
		if (lstat(path, &st) == -1 || !dir_trusted(&st, true, me)) {
			errbuf_set(err, "%s: %s, so the state directory %s "
			    "could be tampered with: refused", path,
			    errno != 0 && lstat(path, &st) == -1 ?
			    strerror(errno) : "another user owns it or can "
			    "write it", dir);
			free(real);
			return -EPERM;
		}
	}
	if (lstat(real, &st) == -1 || !dir_trusted(&st, false, me)) {
		errbuf_set(err, "%s: owned by uid %d (neither us, uid %d, nor "
		    "root) or writable by others: refused", dir,
		    (int)st.st_uid, (int)me);
		free(real);
		return -EPERM;
	}
	free(real);
	return 0;
}

/* A state directory someone else made: root takes it over while it is
 * empty (nothing planted in it yet); anything else is refused. */
static int
claim_dir(const char *dir, struct errbuf *err)
{
	struct stat	 st;
	bool		 empty;
	int		 fd;

	if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		errbuf_set(err, "%s: not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid == geteuid())
		return 0;
	if (geteuid() != 0) {
		errbuf_set(err, "%s: owned by uid %d, not by us (uid %d): "
		    "refused", dir, (int)st.st_uid, (int)geteuid());
		return -EPERM;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -errno;
	empty = util_dir_empty(fd);
	close(fd);
	if (!empty) {
		errbuf_set(err, "%s: owned by uid %d and not empty: refused "
		    "(whatever is in it could have been planted)", dir,
		    (int)st.st_uid);
		return -EPERM;
	}
	if (lchown(dir, 0, 0) == -1) {
		errbuf_set(err, "chown %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

unsigned
state_remove_stale_temporaries(const char *dir)
{
	static const char *const subdirs[] = { "", "/deployments",
	    "/rollbacks" };
	char		 path[PATH_MAX], file[PATH_MAX + 256];
	DIR		*d;
	struct dirent	*de;
	unsigned	 n = 0;

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, subdirs[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			const char	*t = strstr(de->d_name, ".tmp.");

			/* NAME.tmp.PID of a writer that is not us */
			if (t == NULL || atoi(t + 5) == (int)getpid())
				continue;
			snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
			if (unlink(file) == 0)
				n++;
		}
		closedir(d);
	}
	return n;
}

int
state_prepare(const char *dir, struct errbuf *err)
{
	static const char *const subdirs[] = { "deployments", "logs",
	    "servers", "health-checks", "rollbacks" };
	char	path[PATH_MAX];
	int	r;

	if ((r = util_make_dirs(dir, 0755, 0700)) < 0) {
		errbuf_set(err, "%s: %s", dir, strerror(-r));
		return r;
	}
	/* an existing directory may have been made by someone else */
	if ((r = claim_dir(dir, err)) < 0)
		return r;
	if (chmod(dir, 0700) == -1) {
		errbuf_set(err, "chmod %s: %s", dir, strerror(errno));
		return -errno;
	}
	if ((r = state_check_dir(dir, err)) < 0)
		return r;
	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		struct stat	st;

		snprintf(path, sizeof(path), "%s/%s", dir, subdirs[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			errbuf_set(err, "%s: %s", path, strerror(errno));
			return -errno;
		}
		/* not a symbolic link planted before we owned the place */
		if (lstat(path, &st) == -1 || !S_ISDIR(st.st_mode) ||
		    st.st_uid != geteuid()) {
			errbuf_set(err, "%s: not a directory of ours: refused",
			    path);
			return -EPERM;
		}
	}
	return 0;
}

/* With keep_prev, the version replaced stays beside the new one as
 * PATH.prev: the two are exchanged (renameat2), then the old one is
 * renamed, so that at every moment PATH is whole and, once a second
 * version was written, PATH.prev too. */
static int
write_file(const char *dir, const char *rel, const void *data, size_t len,
    bool keep_prev)
{
	char	path[PATH_MAX], tmp[PATH_MAX + 16], parent[PATH_MAX];
	char	prev[PATH_MAX + 8];
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
	snprintf(prev, sizeof(prev), "%s.prev", path);
	if (keep_prev && renameat2(AT_FDCWD, tmp, AT_FDCWD, path,
	    RENAME_EXCHANGE) == 0) {
		if (rename(tmp, prev) == -1)
			unlink(tmp);
	} else if (rename(tmp, path) == -1) {
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
state_write_file(const char *dir, const char *rel, const void *data,
    size_t len)
{
	return write_file(dir, rel, data, len, false);
}

static int
write_json(const char *dir, const char *rel, const cJSON *json,
    bool keep_prev)
{
	char	*text, *line;
	int	 r;

	if ((text = cJSON_Print(json)) == NULL)
		return -ENOMEM;
	if (asprintf(&line, "%s\n", text) == -1) {
		free(text);
		return -ENOMEM;
	}
	r = write_file(dir, rel, line, strlen(line), keep_prev);
	free(line);
	free(text);
	return r;
}

int
state_write_json(const char *dir, const char *rel, const cJSON *json)
{
	return write_json(dir, rel, json, false);
}

int
state_write_record(const char *dir, const char *rel, const cJSON *json)
{
	return write_json(dir, rel, json, true);
}

bool
state_valid_id(const char *id, const char *prefix)
{
	size_t	n = strlen(prefix);

	if (id == NULL || strncmp(id, prefix, n) != 0 || id[n] == '\0' ||
	    strlen(id) > n + 60)
		return false;
	for (const char *p = id + n; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '_'))
			return false;
	return true;
}

int
state_read_record(const char *path, const char *id, const char *prefix,
    cJSON **out, const char **damage)
{
	const char	*got;
	int		 r;

	*out = NULL;
	*damage = NULL;
	if ((r = state_read_json(path, out)) < 0) {
		*damage = r == -EBADMSG ? "truncated or not JSON" :
		    r == -EINVAL ? "not a regular file" : r == -EFBIG ?
		    "too large" : NULL;
		return r;
	}
	got = cJSON_GetStringValue(cJSON_GetObjectItem(*out, "id"));
	if (!cJSON_IsObject(*out) || !state_valid_id(got, prefix) ||
	    strcmp(got, id) != 0) {
		*damage = "its id is not its file's name";
		cJSON_Delete(*out);
		*out = NULL;
		return -EBADMSG;
	}
	return 0;
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

#define RECORD_NAMES_MAX	4096

int
state_record_only(cJSON *rec, const cJSON *names, char *why, size_t size)
{
	cJSON		*servers = cJSON_GetObjectItem(rec, "servers"), *s, *next;
	const char	*known[RECORD_NAMES_MAX + 1];
	const cJSON	*n;
	size_t		 k = 0;

	cJSON_ArrayForEach(s, servers)
		if (k < RECORD_NAMES_MAX && cJSON_IsString(cJSON_GetObjectItem(
		    s, "name")))
			known[k++] = cJSON_GetObjectItem(s, "name")->valuestring;
	known[k] = NULL;
	cJSON_ArrayForEach(n, names) {
		const char	*near;
		size_t		 i;

		for (i = 0; i < k && strcmp(known[i], n->valuestring) != 0; i++)
			;
		if (i < k)
			continue;
		near = schema_nearest(known, n->valuestring);
		snprintf(why, size, "no server '%s' in %s%s%s%s",
		    n->valuestring, cJSON_GetStringValue(cJSON_GetObjectItem(
		    rec, "id")), near != NULL ? "; did you mean '" : "",
		    near != NULL ? near : "", near != NULL ? "'?" : "");
		return -ENOENT;
	}
	for (s = servers != NULL ? servers->child : NULL; s != NULL; s = next) {
		const char	*name = cJSON_GetStringValue(cJSON_GetObjectItem(s,
				    "name"));
		bool		 wanted = false;

		next = s->next;
		cJSON_ArrayForEach(n, names)
			wanted |= name != NULL && strcmp(name,
			    n->valuestring) == 0;
		if (!wanted)
			cJSON_Delete(cJSON_DetachItemViaPointer(servers, s));
	}
	return 0;
}

cJSON *
state_load_record(const char *dir, const char *sub, const char *id,
    const char *prefix)
{
	char		 path[PATH_MAX];
	const char	*why, *why_prev;
	cJSON		*rec;
	int		 r;

	if (!state_valid_id(id, prefix))
		return NULL;
	snprintf(path, sizeof(path), "%s/%s/%s.json", dir, sub, id);
	if ((r = state_read_record(path, id, prefix, &rec, &why)) == 0)
		return rec;
	if (r == -ENOENT)
		return NULL;
	snprintf(path, sizeof(path), "%s/%s/%s.json.prev", dir, sub, id);
	if (state_read_record(path, id, prefix, &rec, &why_prev) == 0) {
		cJSON_AddStringToObject(rec, "recovered_from", "previous");
		cJSON_AddStringToObject(rec, "damage", why != NULL ? why :
		    strerror(-r));
		return rec;
	}
	if ((rec = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(rec, "id", id);
	cJSON_AddStringToObject(rec, "damaged", why != NULL ? why :
	    strerror(-r));
	return rec;
}

/* A file of the deployments directory as a record (see
 * state_load_record); NULL for what is not one of ours. */
static cJSON *
load_record(const char *dir, const char *name)
{
	char	id[96];
	size_t	len = strlen(name);

	if (len < 6 || len - 5 >= sizeof(id) ||
	    strcmp(name + len - 5, ".json") != 0)
		return NULL;
	memcpy(id, name, len - 5);
	id[len - 5] = '\0';
	return state_load_record(dir, "deployments", id, "deploy_");
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
		if ((rec = load_record(dir, de->d_name)) == NULL)
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
		if ((unsigned)i >= keep && st != NULL &&
		    strcmp(st, "done") == 0 && state_valid_id(id, "deploy_")) {
			snprintf(path, sizeof(path), "%s/deployments/%s.json",
			    dir, id);
			if (unlink(path) == 0)
				gone++;
			snprintf(path, sizeof(path),
			    "%s/deployments/%s.json.prev", dir, id);
			unlink(path);
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

int
state_open_regular(const char *path, int flags, mode_t mode)
{
	struct stat	st;
	int		fd;

	/* O_NONBLOCK: a FIFO put in a file's place must not hang us in
	 * open(); it is refused right after */
	if ((fd = open(path, flags | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC,
	    mode)) == -1)
		/* ELOOP: a symbolic link; ENXIO: a FIFO with no reader */
		return errno == ELOOP || errno == ENXIO ? -EINVAL : -errno;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1) {
		close(fd);
		return -errno;
	}
	return fd;
}

static int
journal_open_file(struct journal *j)
{
	char		path[PATH_MAX];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/events.journal", j->dir);
	if ((j->fd = state_open_regular(path, O_WRONLY | O_APPEND | O_CREAT,
	    0600)) < 0) {
		int	r = j->fd;

		j->fd = -1;
		return r;
	}
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

static int
journal_buffer(struct journal *j, const char *text, size_t len)
{
	if (j->len + len + 1 > JOURNAL_PENDING_MAX)
		return -ENOSPC;
	if (j->len + len + 1 > j->cap) {
		size_t	 cap = j->cap ? j->cap : 4096;
		char	*p;

		while (cap < j->len + len + 1)
			cap *= 2;
		if ((p = realloc(j->buf, cap)) == NULL)
			return -ENOMEM;
		j->buf = p;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, text, len);
	j->buf[j->len + len] = '\n';
	j->len += len + 1;
	return 0;
}

/* Where events were dropped, a line that says so, in their place. */
static int
journal_buffer_gap(struct journal *j)
{
	char	line[256], when[40];
	int	n;

	state_iso_now(when, sizeof(when));
	n = snprintf(line, sizeof(line), "{\"timestamp\":\"%s\","
	    "\"event_type\":\"journal_gap\",\"message\":\"%llu events "
	    "were not journaled: the disk took no writes\",\"details\":"
	    "{\"dropped\":%llu}}", when, (unsigned long long)j->dropped,
	    (unsigned long long)j->dropped);
	return journal_buffer(j, line, (size_t)n);
}

int
journal_append(struct journal *j, const cJSON *event)
{
	char	*text = cJSON_PrintUnformatted(event);
	int	 r;

	if (text == NULL) {
		j->dropped++;
		return -ENOMEM;
	}
	if (j->dropped > 0 && (r = journal_buffer_gap(j)) < 0) {
		free(text);
		j->dropped++;
		return r;
	}
	j->dropped = 0;
	if ((r = journal_buffer(j, text, strlen(text))) < 0)
		j->dropped++;
	free(text);
	return r;
}

/* Writes the buffer. Only whole lines stay in the file: after a short
 * write the file is cut back to the last complete line, what went out
 * whole leaves the buffer, and the rest waits, so that nothing is
 * written twice or torn. */
static int
journal_write(struct journal *j)
{
	size_t	done = 0, whole;
	ssize_t	w;
	int	r = 0;

	while (done < j->len) {
		if ((w = write(j->fd, j->buf + done, j->len - done)) == -1) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (w == 0) {
			r = -EIO;
			break;
		}
		done += (size_t)w;
	}
	whole = done;
	while (whole > 0 && j->buf[whole - 1] != '\n')
		whole--;
	if (whole < done && ftruncate(j->fd, j->size + (off_t)whole) == -1 &&
	    r == 0)
		r = -errno;
	j->size += (off_t)whole;
	memmove(j->buf, j->buf + whole, j->len - whole);
	j->len -= whole;
	return r;
}

int
journal_commit(struct journal *j)
{
	bool	wrote = false;
	int	r;

	/* twice at most: what waited, then the gap line of what had to be
	 * dropped after it, once there is room for that line */
	for (int pass = 0; pass < 2; pass++) {
		if (j->len == 0 && j->dropped > 0 && journal_buffer_gap(j) == 0)
			j->dropped = 0;
		if (j->len == 0)
			break;
		if (j->size > 0 && j->size + (off_t)j->len >
		    (off_t)JOURNAL_MAX && (r = journal_rotate(j)) < 0)
			return r;
		if ((r = journal_write(j)) < 0) {
			j->failing = true;
			return r;
		}
		wrote = true;
	}
	if (!wrote)
		return 0;
	if (fdatasync(j->fd) == -1) {
		j->failing = true;
		return -errno;
	}
	j->failing = false;
	return 0;
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

/* Whether the peer is mcpvisord running as us or as root: what the CLI
 * sends may hold the caller's secrets. */
static bool
peer_is_daemon(int fd, struct errbuf *err)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);
	char		path[64], comm[32] = "";
	ssize_t		n;
	int		cfd;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)cred.pid);
	if ((cfd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		if ((n = read(cfd, comm, sizeof(comm) - 1)) > 0)
			comm[n] = '\0';
		close(cfd);
	}
	comm[strcspn(comm, "\n")] = '\0';
	if ((cred.uid == geteuid() || cred.uid == 0) &&
	    strcmp(comm, "mcpvisord") == 0)
		return true;
	errbuf_set(err, "the control socket is served by pid %d (%s, uid %d), "
	    "not by mcpvisord as uid %d or root: nothing sent", (int)cred.pid,
	    comm, (int)cred.uid, (int)geteuid());
	return false;
}

int
state_control_connect(const char *dir, struct errbuf *err)
{
	struct sockaddr_un	sun = { .sun_family = AF_UNIX };
	struct errbuf		scratch;
	struct stat		st;
	int			fd, r;

	if (err == NULL)
		err = &scratch;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/control.sock", dir) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	if (lstat(sun.sun_path, &st) == -1)
		return -errno;
	if ((r = state_check_dir(dir, err)) < 0)
		return r;
	if (!S_ISSOCK(st.st_mode) || (st.st_uid != geteuid() &&
	    st.st_uid != 0)) {
		errbuf_set(err, "%s: not a socket of ours or root's: nothing "
		    "sent", sun.sun_path);
		return -EPERM;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!peer_is_daemon(fd, err)) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

int
state_monitor_token(const char *dir, char out[65])
{
	return state_token(dir, "monitor.token", out);
}

int
state_token(const char *dir, const char *name, char out[65])
{
	char		 path[PATH_MAX], buf[80];
	unsigned char	 rnd[32];
	ssize_t		 n;
	int		 fd, r;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	if ((fd = state_open_regular(path, O_RDONLY, 0)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n >= 64) {
			memcpy(out, buf, 64);
			out[64] = '\0';
			if (strspn(out, "0123456789abcdef") == 64)
				return 0;
		}
		/* damaged: made anew below */
	} else if (fd != -ENOENT)
		return fd;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	snprintf(buf, sizeof(buf), "%s\n", out);
	if ((r = state_write_file(dir, name, buf, 65)) < 0)
		return r;
	return 0;
}
