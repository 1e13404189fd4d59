/*
 * Servers' cgroups (cgroup.h): the hierarchies found from
 * /proc/self/mountinfo and /proc/self/cgroup, a leaf made in each, the
 * limits written in v2's words or v1's, counters read, and the leaf
 * swept and removed.
 */
#include "cgroup.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errbuf.h"
#include "procstat.h"

enum { H_UNIFIED, H_MEMORY, H_CPU, H_PIDS };

#define DAEMON_LEAF	"/mcpvisord"	/* under the cgroup it was given */

static const char *const controller_names[CGROUP_HIERARCHIES] = {
	NULL, "memory", "cpu", "pids",
};

/* Where we are in each hierarchy: its directory ("" when it is not
 * mounted), and which controllers v2 has there. */
struct hierarchies {
	char	base[CGROUP_HIERARCHIES][512];
	bool	v2[CGROUP_HIERARCHIES];		/* the controller is v2's */
};

/* snprintf for paths: a path too long to hold is cut, and is then one
 * that no open or mkdir finds (false says so) */
static bool __attribute__((format(printf, 3, 4)))
pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < size;
}

static bool
has_token(const char *list, const char *word)
{
	size_t	n = strlen(word);

	for (const char *p = list; p != NULL && *p != '\0';
	    p = strchr(p, ',') != NULL ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, word, n) == 0 && (p[n] == ',' || p[n] == '\0' ||
		    p[n] == '\n' || p[n] == ' '))
			return true;
	return false;
}

/* Our path in the hierarchy whose /proc/self/cgroup line names
 * controller (NULL: the v2 line, "0::"). */
static bool
own_path(const char *controller, char *out, size_t size)
{
	FILE	*fp = fopen("/proc/self/cgroup", "re");
	char	 line[1024];
	bool	 found = false;

	if (fp == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), fp) != NULL) {
		char	*c1 = strchr(line, ':'), *c2;

		if (c1 == NULL || (c2 = strchr(c1 + 1, ':')) == NULL)
			continue;
		*c2 = '\0';
		if (controller == NULL ? c2 == c1 + 1 && strncmp(line, "0:", 2)
		    == 0 : has_token(c1 + 1, controller)) {
			c2[1 + strcspn(c2 + 1, "\n")] = '\0';
			snprintf(out, size, "%s", c2 + 1);
			found = true;
		}
	}
	fclose(fp);
	return found;
}

static void	discover_now(struct hierarchies *);

/* A process's cgroups and mounts stay as they are (mcpvisord's own move
 * into its leaf included, which discovery looks past): found once, and a
 * worker cloned from the fork server finds them found. */
static void
discover(struct hierarchies *h)
{
	static struct hierarchies	cache;
	static bool			found;

	if (!found) {
		discover_now(&cache);
		found = true;
	}
	*h = cache;
}

void
cgroup_prepare(void)
{
	struct hierarchies	h;

	discover(&h);
}

static void
discover_now(struct hierarchies *h)
{
	FILE	*fp = fopen("/proc/self/mountinfo", "re");
	char	 line[2048], path[512], ctl[256] = "";
	int	 fd;

	memset(h, 0, sizeof(*h));
	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char	root[512], point[512], type[64], opts[512];
		char	*dash = strstr(line, " - ");
		int	 which = -1;

		if (dash == NULL || sscanf(line, "%*s %*s %*s %511s %511s",
		    root, point) != 2 || sscanf(dash + 3, "%63s %*s %511s",
		    type, opts) != 2)
			continue;
		if (strcmp(type, "cgroup2") == 0)
			which = H_UNIFIED;
		else if (strcmp(type, "cgroup") == 0)
			for (int k = H_MEMORY; k <= H_PIDS; k++)
				if (has_token(opts, controller_names[k]))
					which = k;
		if (which == -1 || h->base[which][0] != '\0' ||
		    !own_path(which == H_UNIFIED ? NULL :
		    controller_names[which], path, sizeof(path)))
			continue;
		/* a mount of part of the hierarchy (a container's) shows
		 * what is under its root */
		if (strcmp(root, "/") != 0 && strncmp(path, root,
		    strlen(root)) == 0)
			memmove(path, path + strlen(root),
			    strlen(path + strlen(root)) + 1);
		/* mcpvisord's own leaf (cgroup_daemon_leaf) is not where its
		 * servers go: beside it */
		if (which == H_UNIFIED && strlen(path) > strlen(DAEMON_LEAF) &&
		    strcmp(path + strlen(path) - strlen(DAEMON_LEAF),
		    DAEMON_LEAF) == 0)
			path[strlen(path) - strlen(DAEMON_LEAF)] = '\0';
		if (snprintf(h->base[which], sizeof(h->base[which]), "%s%s",
		    point, strcmp(path, "/") == 0 ? "" : path) >=
		    (int)sizeof(h->base[which]))
			h->base[which][0] = '\0';	/* too deep to use */
	}
	fclose(fp);
	if (h->base[H_UNIFIED][0] == '\0')
		return;
	if (snprintf(path, sizeof(path), "%s/cgroup.controllers",
	    h->base[H_UNIFIED]) < (int)sizeof(path) &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) != -1) {
		ssize_t	n = read(fd, ctl, sizeof(ctl) - 1);

		ctl[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	for (int k = H_MEMORY; k <= H_PIDS; k++)
		for (char *p = ctl; *p != '\0'; p += strcspn(p, " \n"),
		    p += strspn(p, " \n"))
			if (strncmp(p, controller_names[k],
			    strlen(controller_names[k])) == 0 &&
			    strchr(" \n", p[strlen(controller_names[k])]) !=
			    NULL) {
				h->v2[k] = true;
				h->base[k][0] = '\0';	/* not v1's */
			}
}

static int
write_file(const char *dir, const char *file, const char *text)
{
	char	path[640];
	int	fd, r = 0;

	(void)pathf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -errno;
	errno = 0;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		r = errno != 0 ? -errno : -EIO;
	close(fd);
	return r;
}

static bool
file_exists(const char *dir, const char *file)
{
	char	path[640];

	(void)pathf(path, sizeof(path), "%s/%s", dir, file);
	return access(path, F_OK) == 0;
}

/* The value of "key N" in a flat keyed file, or 0. */
static uint64_t
keyed_value(const char *dir, const char *file, const char *key)
{
	char		 path[640], line[256];
	FILE		*fp;
	uint64_t	 v = 0;
	size_t		 n = strlen(key);

	(void)pathf(path, sizeof(path), "%s/%s", dir, file);
	if ((fp = fopen(path, "re")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ' ')
			v = strtoull(line + n + 1, NULL, 10);
	fclose(fp);
	return v;
}

/* mkdir -p of rel under base; in v2 each new parent hands the
 * controllers on to its children (subtree_control). */
static int
make_dirs(const char *base, const char *rel, const char *enable,
    struct errbuf *err)
{
	char	path[512];
	size_t	len = strlen(base);

	if (!pathf(path, sizeof(path), "%s/%s", base, rel)) {
		errbuf_set(err, "%s/%s: %s", base, rel, strerror(ENAMETOOLONG));
		return -ENAMETOOLONG;
	}
	for (char *p = path + len + 1; ; p++) {
		bool	last = *p == '\0';

		if (*p != '/' && !last)
			continue;
		*p = '\0';
		if (enable != NULL && enable[0] != '\0') {
			/* the parent of what comes next */
			char	parent[512];
			char	*slash;

			(void)pathf(parent, sizeof(parent), "%s", path);
			if ((slash = strrchr(parent, '/')) != NULL)
				*slash = '\0';
			(void)write_file(parent, "cgroup.subtree_control",
			    enable);
		}
		if (mkdir(path, 0755) == -1 && errno != EEXIST) {
			errbuf_set(err, "mkdir %s: %s", path, strerror(errno));
			return -errno;
		}
		if (last)
			break;
		*p = '/';
	}
	return 0;
}

static int
write_limits(struct cgroup_leaf *cg, const struct hierarchies *h,
    struct errbuf *err)
{
	const struct cgroup_limits	*l = &cg->limits;
	char				 v[64];
	const char			*dir, *file;
	int				 r = 0;

	if (l->memory_bytes > 0) {
		snprintf(v, sizeof(v), "%llu",
		    (unsigned long long)l->memory_bytes);
		if (h->v2[H_MEMORY]) {
			dir = cg->dir[H_UNIFIED];
			if ((r = write_file(dir, file = "memory.max", v)) == 0 &&
			    file_exists(dir, "memory.swap.max"))
				r = write_file(dir, file = "memory.swap.max",
				    "0");
		} else {
			dir = cg->dir[H_MEMORY];
			/* swap off: memory and swap together at the limit */
			if ((r = write_file(dir, file = "memory.limit_in_bytes",
			    v)) == 0)
				r = file_exists(dir, "memory.memsw.limit_in_bytes") ?
				    write_file(dir, file =
				    "memory.memsw.limit_in_bytes", v) :
				    write_file(dir, file = "memory.swappiness",
				    "0");
		}
		if (r < 0)
			goto fail;
	}
	if (l->cpu_cores > 0) {
		long	quota = (long)(l->cpu_cores * 100000 + 0.5);

		if (quota < 1000)
			quota = 1000;
		if (h->v2[H_CPU]) {
			dir = cg->dir[H_UNIFIED];
			snprintf(v, sizeof(v), "%ld 100000", quota);
			r = write_file(dir, file = "cpu.max", v);
		} else {
			dir = cg->dir[H_CPU];
			snprintf(v, sizeof(v), "%ld", quota);
			if ((r = write_file(dir, file = "cpu.cfs_period_us",
			    "100000")) == 0)
				r = write_file(dir, file = "cpu.cfs_quota_us", v);
		}
		if (r < 0)
			goto fail;
	}
	if (l->pids_max > 0) {
		dir = h->v2[H_PIDS] ? cg->dir[H_UNIFIED] : cg->dir[H_PIDS];
		snprintf(v, sizeof(v), "%ld", l->pids_max);
		if ((r = write_file(dir, file = "pids.max", v)) < 0)
			goto fail;
	}
	return 0;
fail:
	errbuf_set(err, "%s/%s: %s", dir, file, strerror(-r));
	return r;
}

/* Which hierarchy holds each limit: 0, or -ENOENT with why. */
static int
limits_placed(const struct hierarchies *h, const struct cgroup_limits *l,
    struct errbuf *err)
{
	static const char *const what[] = { NULL, "memory_gb", "cpu_cores",
	    "pids_max" };
	bool	asked[CGROUP_HIERARCHIES] = { false, l->memory_bytes > 0,
		    l->cpu_cores > 0, l->pids_max > 0 };

	for (int k = H_MEMORY; k <= H_PIDS; k++)
		if (asked[k] && !h->v2[k] && h->base[k][0] == '\0') {
			errbuf_set(err, "%s needs the %s controller, which is "
			    "mounted neither as cgroup v2's here nor as a v1 "
			    "hierarchy", what[k], controller_names[k]);
			return -ENOENT;
		}
	return 0;
}

static bool
limited(const struct cgroup_limits *l)
{
	return l->memory_bytes > 0 || l->cpu_cores > 0 || l->pids_max > 0;
}

int
cgroup_can_limit(const struct cgroup_limits *l, struct errbuf *err)
{
	struct hierarchies	h;
	char			probe[600];
	int			r;

	discover(&h);
	if ((r = limits_placed(&h, l, err)) < 0)
		return r;
	for (int k = 0; k < CGROUP_HIERARCHIES; k++) {
		const char	*base = h.base[k];

		if (base[0] == '\0' || (k == H_UNIFIED && !h.v2[H_MEMORY] &&
		    !h.v2[H_CPU] && !h.v2[H_PIDS]))
			continue;
		(void)pathf(probe, sizeof(probe), "%s/mcpvisor-probe-%d", base,
		    (int)proc_self_pid());
		if (mkdir(probe, 0755) == -1 && errno != EEXIST) {
			r = -errno;
			errbuf_set(err, "cannot make a cgroup under %s: %s (an "
			    "unprivileged mcpvisord, or a container with no "
			    "cgroup delegated to it)", base, strerror(errno));
			return r;
		}
		(void)rmdir(probe);
	}
	return 0;
}

int
cgroup_create(struct cgroup_leaf *cg, const char *name,
    const struct cgroup_limits *l, struct errbuf *err)
{
	struct hierarchies	h;
	char			enable[64] = "";
	int			r;

	memset(cg, 0, sizeof(*cg));
	cg->kill_fd = -1;
	for (int k = 0; k < CGROUP_HIERARCHIES; k++)
		cg->join_fd[k] = -1;
	snprintf(cg->name, sizeof(cg->name), "%s", name);
	cg->limits = *l;
	discover(&h);
	if ((r = limits_placed(&h, l, err)) < 0)
		return r;
	for (int k = H_MEMORY; k <= H_PIDS; k++)
		if (h.v2[k]) {
			strcat(enable, enable[0] != '\0' ? " +" : "+");
			strcat(enable, controller_names[k]);
		}
	cg->v2_limits = enable[0] != '\0';
	for (int k = 0; k < CGROUP_HIERARCHIES; k++) {
		bool	asked[CGROUP_HIERARCHIES] = { true, l->memory_bytes > 0,
			    l->cpu_cores > 0, l->pids_max > 0 };
		char	path[640];

		/* a v1 hierarchy only for the limit it holds: v2 (or, with
		 * no v2, any one) holds the processes to count and kill */
		if (h.base[k][0] == '\0' || (k != H_UNIFIED &&
		    h.base[H_UNIFIED][0] != '\0' && !asked[k]))
			continue;
		if ((r = make_dirs(h.base[k], name, k == H_UNIFIED ? enable :
		    NULL, err)) < 0) {
			cgroup_close(cg);
			return r;
		}
		(void)pathf(cg->dir[k], sizeof(cg->dir[k]), "%s/%s", h.base[k],
		    name);
		(void)pathf(path, sizeof(path), "%s/cgroup.procs", cg->dir[k]);
		if ((cg->join_fd[cg->njoin] = open(path, O_WRONLY |
		    O_CLOEXEC)) == -1) {
			r = -errno;
			errbuf_set(err, "%s: %s", path, strerror(errno));
			cgroup_close(cg);
			return r;
		}
		cg->njoin++;
		if (k == H_UNIFIED) {
			(void)pathf(path, sizeof(path), "%s/cgroup.kill",
			    cg->dir[k]);
			cg->kill_fd = open(path, O_WRONLY | O_CLOEXEC);
		}
	}
	if (cg->njoin == 0) {
		errbuf_set(err, "no cgroup hierarchy is mounted");
		return -ENOENT;
	}
	if (limited(l) && (r = write_limits(cg, &h, err)) < 0) {
		cgroup_close(cg);
		return r;
	}
	return 0;
}

const int *
cgroup_join_fds(const struct cgroup_leaf *cg, size_t *n)
{
	*n = cg->njoin;
	return cg->join_fd;
}

unsigned
cgroup_oom_kills(const struct cgroup_leaf *cg)
{
	if (cg->v2_limits && cg->dir[H_UNIFIED][0] != '\0')
		return (unsigned)keyed_value(cg->dir[H_UNIFIED],
		    "memory.events", "oom_kill");
	if (cg->dir[H_MEMORY][0] != '\0')
		return (unsigned)keyed_value(cg->dir[H_MEMORY],
		    "memory.oom_control", "oom_kill");
	return 0;
}

/* SIGKILL to each pid dir/cgroup.procs lists; how many. */
static unsigned
kill_listed(const char *dir)
{
	char		 path[640];
	FILE		*fp;
	unsigned	 n = 0;
	long		 pid;

	(void)pathf(path, sizeof(path), "%s/cgroup.procs", dir);
	if ((fp = fopen(path, "re")) == NULL)
		return 0;
	while (fscanf(fp, "%ld", &pid) == 1)
		if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
			n++;
	fclose(fp);
	return n;
}

/* Kills what a leaf holds: in one write where v2 can, else pid by pid
 * until a pass finds none (what forks meanwhile is found by the next). */
static unsigned
sweep(const char *dirs[CGROUP_HIERARCHIES], int kill_fd)
{
	unsigned	total = 0, n;
	const char	*list = NULL;

	for (int k = 0; k < CGROUP_HIERARCHIES && list == NULL; k++)
		if (dirs[k][0] != '\0')
			list = dirs[k];
	if (list == NULL)
		return 0;
	if (kill_fd != -1 && write(kill_fd, "1", 1) == 1)
		return kill_listed(list) + 1;
	for (int pass = 0; pass < 1000 && (n = kill_listed(list)) > 0; pass++)
		total += n;
	return total;
}

unsigned
cgroup_kill_all(const struct cgroup_leaf *cg)
{
	const char	*dirs[CGROUP_HIERARCHIES];

	for (int k = 0; k < CGROUP_HIERARCHIES; k++)
		dirs[k] = cg->dir[k];
	return sweep(dirs, cg->kill_fd);
}

void
cgroup_close(struct cgroup_leaf *cg)
{
	for (size_t i = 0; i < CGROUP_HIERARCHIES; i++)
		if (cg->join_fd[i] != -1) {
			close(cg->join_fd[i]);
			cg->join_fd[i] = -1;
		}
	cg->njoin = 0;
	if (cg->kill_fd != -1)
		close(cg->kill_fd);
	cg->kill_fd = -1;
}

int
cgroup_remove(const char *name)
{
	struct hierarchies	 h;
	char			 dir[CGROUP_HIERARCHIES][600], path[700];
	const char		*dirs[CGROUP_HIERARCHIES];
	bool			 any = false, busy = false;
	int			 kill_fd = -1;

	discover(&h);
	for (int k = 0; k < CGROUP_HIERARCHIES; k++) {
		dir[k][0] = '\0';
		if (h.base[k][0] != '\0')
			(void)pathf(dir[k], sizeof(dir[k]), "%s/%s", h.base[k],
			    name);
		if (dir[k][0] != '\0' && access(dir[k], F_OK) != 0)
			dir[k][0] = '\0';
		any |= dir[k][0] != '\0';
		dirs[k] = dir[k];
	}
	if (!any)
		return -ENOENT;
	if (dir[H_UNIFIED][0] != '\0') {
		(void)pathf(path, sizeof(path), "%s/cgroup.kill", dir[H_UNIFIED]);
		kill_fd = open(path, O_WRONLY | O_CLOEXEC);
	}
	(void)sweep(dirs, kill_fd);
	if (kill_fd != -1)
		close(kill_fd);
	for (int k = 0; k < CGROUP_HIERARCHIES; k++) {
		char	*slash;

		if (dir[k][0] == '\0')
			continue;
		if (rmdir(dir[k]) == -1) {
			busy |= errno == EBUSY;
			continue;
		}
		/* the parents it leaves empty, up to mcpvisor/ */
		for (size_t depth = 0; depth < 3 && (slash = strrchr(dir[k],
		    '/')) != NULL; depth++) {
			*slash = '\0';
			if (strlen(dir[k]) <= strlen(h.base[k]) ||
			    rmdir(dir[k]) == -1)
				break;
		}
	}
	return busy ? -EBUSY : 0;
}

bool
cgroup_usage(const char *name, uint64_t *cpu_ns, uint64_t *memory)
{
	struct hierarchies	h;
	char			dir[600];
	bool			cpu = false, mem = false;

	discover(&h);
	if (h.base[H_UNIFIED][0] != '\0') {
		(void)pathf(dir, sizeof(dir), "%s/%s", h.base[H_UNIFIED], name);
		/* cpu.stat's usage is v2's own, controller or not */
		if (file_exists(dir, "cpu.stat")) {
			*cpu_ns = keyed_value(dir, "cpu.stat", "usage_usec") *
			    1000;
			cpu = true;
		}
		if (h.v2[H_MEMORY]) {
			char	path[640];
			FILE	*fp;

			(void)pathf(path, sizeof(path), "%s/memory.current", dir);
			if ((fp = fopen(path, "re")) != NULL) {
				unsigned long long	v;

				if (fscanf(fp, "%llu", &v) == 1) {
					*memory = v;
					mem = true;
				}
				fclose(fp);
			}
		}
	}
	if (!mem && h.base[H_MEMORY][0] != '\0') {
		FILE	*fp;

		(void)pathf(dir, sizeof(dir), "%s/%s/memory.usage_in_bytes",
		    h.base[H_MEMORY], name);
		if ((fp = fopen(dir, "re")) != NULL) {
			unsigned long long	v;

			if (fscanf(fp, "%llu", &v) == 1) {
				*memory = v;
				mem = true;
			}
			fclose(fp);
		}
	}
	return cpu && mem;
}

void
cgroup_leaf_name(char *buf, size_t size, const char *stack,
    const char *server, long worker_pid)
{
	char	a[96], b[96];
	const char *const src[2] = { stack, server };
	char	*dst[2] = { a, b };

	/* a path component each, whatever the names hold */
	for (int i = 0; i < 2; i++) {
		size_t	j = 0;

		for (const char *p = src[i]; *p != '\0' && j + 1 < sizeof(a);
		    p++, j++)
			dst[i][j] = isalnum((unsigned char)*p) || *p == '-' ||
			    *p == '_' || (*p == '.' && j > 0) ? *p : '_';
		dst[i][j] = '\0';
		if (j == 0)
			snprintf(dst[i], sizeof(a), "_");
	}
	snprintf(buf, size, "mcpvisor/%s/%s/worker-%ld", a, b, worker_pid);
}

int
cgroup_daemon_leaf(struct errbuf *err)
{
	struct hierarchies	h;
	char			leaf[600], pid[32];
	int			r;

	discover(&h);
	if (!h.v2[H_MEMORY] && !h.v2[H_CPU] && !h.v2[H_PIDS])
		return 0;
	(void)pathf(leaf, sizeof(leaf), "%s%s", h.base[H_UNIFIED],
	    DAEMON_LEAF);
	if (mkdir(leaf, 0755) == -1 && errno != EEXIST) {
		errbuf_set(err, "mkdir %s: %s", leaf, strerror(errno));
		return -errno;
	}
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if ((r = write_file(leaf, "cgroup.procs", pid)) < 0) {
		errbuf_set(err, "%s/cgroup.procs: %s", leaf, strerror(-r));
		return r;
	}
	return 0;
}
