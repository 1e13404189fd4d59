#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* far deeper than any server's tree; a bound against a runaway walk */
#define TREE_MAX	4096

static ssize_t
read_small_at(int dirfd, const char *path, char *buf, size_t size)
{
	ssize_t	n;
	int	fd;

	if ((fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

static ssize_t
read_small(const char *path, char *buf, size_t size)
{
	return read_small_at(AT_FDCWD, path, buf, size);
}

int
proc_lineage(pid_t pid, struct proc_lineage *l)
{
	char	path[64], buf[1024], *p;
	int	ppid, pgid, sid;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	/* "pid (comm) state ppid pgrp session": comm may hold anything */
	if (read_small(path, buf, sizeof(buf)) <= 0 ||
	    (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c %d %d %d", &l->state, &ppid, &pgid, &sid) != 4)
		return -ESRCH;
	l->ppid = (pid_t)ppid;
	l->pgid = (pid_t)pgid;
	l->sid = (pid_t)sid;
	return 0;
}

int
proc_started_ms(pid_t pid, uint64_t *ms)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 ticks;
	long			 hz = sysconf(_SC_CLK_TCK);

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	/* field 22, counted from the state (field 3) after "(comm)" */
	if (read_small(path, buf, sizeof(buf)) <= 0 ||
	    (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
	    "%*u %*d %*d %*d %*d %*d %*d %llu", &ticks) != 1)
		return -ESRCH;
	*ms = ticks * 1000 / (unsigned long long)(hz > 0 ? hz : 100);
	return 0;
}

/* Whether the environment of pid (read whole, as the kernel keeps it:
 * NUL-separated) holds entry. */
static bool
environ_holds(pid_t pid, const char *entry, size_t len)
{
	char	path[64], buf[65536];
	ssize_t	n;
	size_t	off = 0;
	int	fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	while (n > 0 && off < (size_t)n) {
		size_t	l = strnlen(buf + off, (size_t)n - off);

		if (l == len && memcmp(buf + off, entry, len) == 0)
			return true;
		off += l + 1;
	}
	return false;
}

unsigned
proc_kill_marked(const char *entry, bool (*spared)(pid_t, void *), void *arg)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 len = strlen(entry);
	unsigned	 killed = 0;

	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		pid_t	pid = (pid_t)atoi(de->d_name);

		if (pid <= 1 || pid == getpid() || !environ_holds(pid, entry,
		    len) || (spared != NULL && spared(pid, arg)))
			continue;
		if (kill(pid, SIGKILL) == 0)
			killed++;
	}
	closedir(d);
	return killed;
}

/* Adds one process, from stat alone (after "(comm)", which may hold
 * anything): user and system time (fields 14 and 15) and resident pages
 * (24, statm's count); *threads from field 20. */
static int
add_process(pid_t pid, struct proc_usage *u, long *threads)
{
	char			 path[64], buf[1024], *p;
	unsigned long long	 utime, stime, pages;
	long			 page = sysconf(_SC_PAGESIZE);

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0 ||
	    (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
	    "%llu %*d %*d %*d %*d %ld %*d %*u %*u %llu", &utime, &stime,
	    threads, &pages) != 4)
		return -ESRCH;
	u->cpu_ticks += utime + stime;
	u->rss_bytes += pages * (unsigned long long)(page > 0 ? page : 4096);
	u->processes++;
	return 0;
}

/* Appends the pids of a children file (of one thread) to list. */
static void
add_children_file(const char *path, pid_t *list, size_t *n, size_t max)
{
	char	buf[4096], *p, *end;
	ssize_t	len;

	if ((len = read_small(path, buf, sizeof(buf))) <= 0)
		return;
	/* a full buffer may end in half a pid: never taken for one */
	if ((size_t)len == sizeof(buf) - 1 && (p = strrchr(buf, ' ')) != NULL)
		p[1] = '\0';
	for (p = buf; *n < max; p = end) {
		long	child = strtol(p, &end, 10);

		if (end == p || child <= 0)
			break;
		list[(*n)++] = (pid_t)child;
	}
}

/* Appends the children of every thread of pid to list: of the one
 * thread, when it has one, without a listing of its tasks. */
static void
add_children(pid_t pid, long threads, pid_t *list, size_t *n, size_t max)
{
	char		 path[96];
	DIR		*d;
	struct dirent	*de;

	if (threads == 1) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
		    (int)pid, (int)pid);
		add_children_file(path, list, n, max);
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL && *n < max) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/children",
		    (int)pid, de->d_name);
		add_children_file(path, list, n, max);
	}
	closedir(d);
}

pid_t
proc_child_by_nspid(int procfd, pid_t pid, pid_t inner)
{
	char	path[64], buf[4096], kid[2048], *p, *end, *line, *last;

	snprintf(path, sizeof(path), "%d/task/%d/children", (int)pid,
	    (int)pid);
	if (read_small_at(procfd, path, buf, sizeof(buf)) <= 0)
		return 0;
	for (p = buf;; p = end) {
		long	child = strtol(p, &end, 10);

		if (end == p || child <= 0)
			return 0;
		snprintf(path, sizeof(path), "%ld/status", child);
		if (read_small_at(procfd, path, kid, sizeof(kid)) <= 0 ||
		    (line = strstr(kid, "\nNSpid:")) == NULL)
			continue;
		line[strcspn(line + 1, "\n") + 1] = '\0';
		if ((last = strrchr(line, '\t')) == NULL &&
		    (last = strrchr(line, ' ')) == NULL)
			continue;
		if (strtol(last + 1, NULL, 10) == inner)
			return (pid_t)child;
	}
}

pid_t
proc_self_pid(void)
{
	static pid_t	self, read_by;	/* a clone's is not its parent's */
	char		link[32];
	ssize_t		n;

	if (self == 0 || read_by != getpid()) {
		read_by = getpid();
		n = readlink("/proc/self", link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		self = n > 0 ? (pid_t)strtol(link, NULL, 10) : 0;
		if (self <= 0)
			self = getpid();
	}
	return self;
}

size_t
proc_children(pid_t pid, pid_t *list, size_t max)
{
	size_t	n = 0;

	add_children(pid, 0, list, &n, max);
	return n;
}

int
proc_tree_usage(pid_t pid, struct proc_usage *u)
{
	pid_t	*list;
	size_t	 n = 1;

	memset(u, 0, sizeof(*u));
	if ((list = malloc(TREE_MAX * sizeof(*list))) == NULL)
		return -ENOMEM;
	list[0] = pid;
	/* breadth first: the list is the queue */
	for (size_t i = 0; i < n; i++) {
		long	threads = 0;

		if (add_process(list[i], u, &threads) < 0) {
			if (i == 0) {
				free(list);
				return -ESRCH;
			}
			continue;	/* exited meanwhile */
		}
		add_children(list[i], threads, list, &n, TREE_MAX);
	}
	free(list);
	return 0;
}

double
proc_cpu_percent(const struct proc_usage *before,
    const struct proc_usage *after, uint64_t elapsed_ms)
{
	long	hz = sysconf(_SC_CLK_TCK);

	if (elapsed_ms == 0 || after->cpu_ticks < before->cpu_ticks)
		return 0;
	return (double)(after->cpu_ticks - before->cpu_ticks) * 100000.0 /
	    (double)(hz > 0 ? hz : 100) / (double)elapsed_ms;
}

size_t
proc_port_listeners(unsigned port, unsigned long *list, size_t max)
{
	static const char *const tables[] = { "/proc/self/net/tcp",
	    "/proc/self/net/tcp6" };
	char	line[512];
	size_t	n = 0;

	for (size_t t = 0; t < 2; t++) {
		FILE	*fp = fopen(tables[t], "re");

		if (fp == NULL)
			continue;
		/* "sl local_address rem_address st ... inode": the local
		 * address is HEX:PORT in hexadecimal, 0A is LISTEN */
		while (fgets(line, sizeof(line), fp) != NULL) {
			char		 local[80];
			unsigned	 lport, state;
			unsigned long	 inode;
			char		*colon;

			if (sscanf(line, " %*u: %79s %*s %x %*s %*s %*s %*s "
			    "%*s %lu", local, &state, &inode) != 3 ||
			    state != 0x0A || (colon = strrchr(local, ':')) ==
			    NULL || sscanf(colon + 1, "%x", &lport) != 1 ||
			    lport != port)
				continue;
			if (n < max)
				list[n++] = inode;
		}
		fclose(fp);
	}
	return n;
}

static bool
holds_socket(pid_t pid, const unsigned long *inodes, size_t n)
{
	char		 dir[64], path[64 + sizeof(((struct dirent *)0)->d_name)];
	char		 link[64];
	DIR		*d;
	struct dirent	*e;
	bool		 found = false;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		unsigned long	inode;
		ssize_t		len;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((len = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &inode) != 1)
			continue;
		for (size_t i = 0; i < n; i++)
			found |= inodes[i] == inode;
	}
	closedir(d);
	return found;
}

bool
proc_tree_holds_socket(pid_t pid, const unsigned long *inodes, size_t n)
{
	pid_t	*list;
	size_t	 count = 1;
	bool	 found = false;

	if (n == 0 || (list = malloc(TREE_MAX * sizeof(*list))) == NULL)
		return false;
	list[0] = pid;
	for (size_t i = 0; i < count && !found; i++) {
		found = holds_socket(list[i], inodes, n);
		add_children(list[i], 0, list, &count, TREE_MAX);
	}
	free(list);
	return found;
}
