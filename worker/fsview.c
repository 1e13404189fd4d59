/*
 * sandbox.filesystem: strict. The worker gives itself, and so its
 * server, a mount namespace with a view of the host built as systemd's
 * ProtectSystem=strict, PrivateTmp, ProtectHome, PrivateDevices and
 * ProcSubset do, with the kernel's mount API alone:
 *
 *	/			read-only, recursively (mount_setattr)
 *	/tmp, /var/tmp		private tmpfs
 *	/home, /root, /run/user	empty and read-only
 *	/dev			null zero full random urandom tty, shm, the
 *				std* links; nothing else
 *	/proc			the worker's PID namespace only (it is its
 *				init), when it has one
 *	writable_paths		bound read-write: the only writable places
 *	readable_paths		bound read-only (through what is hidden)
 *	hidden_paths		covered (a directory by an empty tmpfs, a
 *				file by /dev/null)
 *	the state directory	covered, last, whatever was bound over it
 *
 * Every path the view keeps is cloned (open_tree OPEN_TREE_CLONE) before
 * anything covers it, and attached (move_mount) once the covers are in
 * place, parents first: a writable path under /tmp or /home appears in
 * the private /tmp or the empty /home. The worker lives in the view it
 * builds; what it still needs of the host outside it (its server's log)
 * it holds by descriptors opened before.
 */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "util.h"

#define VIEW_MAX	(3 * SANDBOX_PATHS_MAX + 8)

static const char *const devices[] = {
	"null", "zero", "full", "random", "urandom", "tty",
};
static const char *const homes[] = { "/home", "/root", "/run/user" };
static const char *const private_tmps[] = { "/tmp", "/var/tmp" };

struct kept {
	const char	*path;		/* where it goes in the view */
	int		 tree;		/* its clone, or -1 */
	bool		 writable;
};

struct view {
	struct kept	 kept[VIEW_MAX];
	size_t		 nkept;
	/* the empty tmpfs mounts that cover, made read-only at the end
	 * (after what is kept under them had its mount point made) */
	const char	*covers[VIEW_MAX];
	size_t		 ncovers;
	cJSON		*report;
};

static int
fail(struct errbuf *err, const char *what, const char *path)
{
	int	r = -errno;

	errbuf_set(err, "%s %s: %s", what, path, strerror(errno));
	return r;
}

static int
keep(struct view *v, const char *path, bool writable, struct errbuf *err)
{
	struct kept	*k = &v->kept[v->nkept];

	if (v->nkept == VIEW_MAX) {
		errbuf_set(err, "too many paths in the filesystem view");
		return -E2BIG;
	}
	k->path = path;
	k->writable = writable;
	k->tree = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | AT_RECURSIVE |
	    OPEN_TREE_CLOEXEC);
	if (k->tree == -1)
		return fail(err, writable ? "writable path" : "readable path",
		    path);
	v->nkept++;
	return 0;
}

static bool
is_dir(const char *path)
{
	struct stat	st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p of a mount point inside a tmpfs of the view (the host's own
 * directories are there already, read-only). */
static int
make_point(const char *path, bool dir, struct errbuf *err)
{
	char	tmp[PATH_MAX];
	int	fd;

	if (access(path, F_OK) == 0)
		return 0;
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp)) {
		errbuf_set(err, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return fail(err, "mkdir", tmp);
		*p = '/';
	}
	if (dir)
		return mkdir(tmp, 0755) == -1 && errno != EEXIST ?
		    fail(err, "mkdir", tmp) : 0;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) == -1)
		return fail(err, "creating", tmp);
	close(fd);
	return 0;
}

static int
cover_with_tmpfs(struct view *v, const char *path, const char *mode,
    bool stays_writable, struct errbuf *err)
{
	if (!is_dir(path))
		return 0;	/* nothing there to hide */
	if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, mode) == -1)
		return fail(err, "mounting a tmpfs on", path);
	if (!stays_writable)
		v->covers[v->ncovers++] = path;
	return 0;
}

static int
set_readonly(const char *path, bool recursive, struct errbuf *err)
{
	struct mount_attr	attr = { .attr_set = MOUNT_ATTR_RDONLY |
				    MOUNT_ATTR_NOSUID };

	if (mount_setattr(AT_FDCWD, path, recursive ? AT_RECURSIVE : 0,
	    &attr, sizeof(attr)) == -1)
		return fail(err, "making read-only", path);
	return 0;
}

static int
attach(struct kept *k, struct errbuf *err)
{
	struct stat	st;
	int		r;

	if (fstat(k->tree, &st) == -1)
		return fail(err, "stat", k->path);
	if ((r = make_point(k->path, S_ISDIR(st.st_mode), err)) < 0)
		return r;
	if (move_mount(k->tree, "", AT_FDCWD, k->path,
	    MOVE_MOUNT_F_EMPTY_PATH) == -1)
		return fail(err, "binding", k->path);
	close(k->tree);
	k->tree = -1;
	return k->writable ? 0 : set_readonly(k->path, true, err);
}

static int
by_length(const void *a, const void *b)
{
	size_t	la = strlen(((const struct kept *)a)->path);
	size_t	lb = strlen(((const struct kept *)b)->path);

	return la < lb ? -1 : la > lb;
}

/* A private /dev: a tmpfs with the six harmless devices bound from the
 * host's (cloned before it is covered), a shm of its own and the links
 * programs expect. */
static int
private_dev(struct view *v, struct errbuf *err)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};
	struct kept	nodes[sizeof(devices) / sizeof(devices[0])];
	size_t		n = 0;
	char		path[32];
	int		r = 0;

	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		snprintf(path, sizeof(path), "/dev/%s", devices[i]);
		if ((nodes[n].tree = open_tree(AT_FDCWD, path,
		    OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)) == -1)
			continue;	/* a host without it: none here */
		nodes[n].path = devices[i];
		nodes[n++].writable = true;
	}
	if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC,
	    "mode=0755,size=64k") == -1)
		r = fail(err, "mounting a tmpfs on", "/dev");
	for (size_t i = 0; i < n; i++) {
		char	*at = NULL;

		if (r == 0 && asprintf(&at, "/dev/%s", nodes[i].path) == -1)
			r = -ENOMEM;
		if (r == 0) {
			nodes[i].path = at;
			r = attach(&nodes[i], err);
		}
		free(at);
		if (nodes[i].tree != -1)
			close(nodes[i].tree);
	}
	for (size_t i = 0; r == 0 && i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], links[i][1]) == -1)
			r = fail(err, "symlink", links[i][1]);
	if (r == 0 && mkdir("/dev/shm", 01777) == -1)
		r = fail(err, "mkdir", "/dev/shm");
	if (r == 0 && mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
	    "mode=1777") == -1)
		r = fail(err, "mounting a tmpfs on", "/dev/shm");
	if (r == 0)
		v->covers[v->ncovers++] = "/dev";
	return r;
}

static int
keep_list(struct view *v, char *const *paths, bool writable,
    struct errbuf *err)
{
	int	r;

	for (size_t i = 0; paths != NULL && paths[i] != NULL; i++)
		if ((r = keep(v, paths[i], writable, err)) < 0)
			return r;
	return 0;
}

/* hidden_paths and the state directory: a directory gets an empty
 * read-only tmpfs, a file /dev/null (the view's, bound read-only). */
static int
hide(struct view *v, const char *path, struct errbuf *err)
{
	struct stat	st;
	struct kept	null = { path, -1, false };

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : fail(err, "hidden path", path);
	if (S_ISDIR(st.st_mode))
		return cover_with_tmpfs(v, path, "mode=0755,size=4k", false,
		    err);
	if ((null.tree = open_tree(AT_FDCWD, "/dev/null", OPEN_TREE_CLONE |
	    OPEN_TREE_CLOEXEC)) == -1)
		return fail(err, "cloning", "/dev/null");
	if (move_mount(null.tree, "", AT_FDCWD, path,
	    MOVE_MOUNT_F_EMPTY_PATH) == -1) {
		close(null.tree);
		return fail(err, "hiding", path);
	}
	close(null.tree);
	return 0;
}

static void
report_view(const struct sandbox_spec *sp, cJSON *report, bool own_proc)
{
	cJSON	*o = cJSON_AddObjectToObject(report, "filesystem");
	cJSON	*a;

	cJSON_AddStringToObject(o, "mode", "strict");
	cJSON_AddStringToObject(o, "root", "read-only");
	cJSON_AddStringToObject(o, "tmp", "private");
	cJSON_AddStringToObject(o, "home", "hidden");
	cJSON_AddStringToObject(o, "dev", "private");
	cJSON_AddStringToObject(o, "proc", own_proc ? "own PID namespace" :
	    "the host's");
	a = cJSON_AddArrayToObject(o, "writable");
	for (size_t i = 0; sp->writable != NULL && sp->writable[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sp->writable[i]));
	a = cJSON_AddArrayToObject(o, "readable");
	for (size_t i = 0; sp->readable != NULL && sp->readable[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sp->readable[i]));
	a = cJSON_AddArrayToObject(o, "hidden");
	for (size_t i = 0; sp->hidden != NULL && sp->hidden[i]; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sp->hidden[i]));
}

static int
build(struct view *v, const struct sandbox_spec *sp, bool own_proc,
    struct errbuf *err)
{
	int	r;

	if ((r = keep_list(v, sp->writable, true, err)) < 0 ||
	    (r = keep_list(v, sp->readable, false, err)) < 0)
		return r;
	if (sp->notify_socket[0] != '\0' &&
	    (r = keep(v, sp->notify_socket, true, err)) < 0)
		return r;
	if ((r = set_readonly("/", true, err)) < 0)
		return r;
	for (size_t i = 0; i < 2; i++)
		if ((r = cover_with_tmpfs(v, private_tmps[i], "mode=1777",
		    true, err)) < 0)
			return r;
	for (size_t i = 0; i < 3; i++)
		if ((r = cover_with_tmpfs(v, homes[i], "mode=0755,size=4k",
		    false, err)) < 0)
			return r;
	if ((r = private_dev(v, err)) < 0)
		return r;
	if (own_proc && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV |
	    MS_NOEXEC, NULL) == -1)
		return fail(err, "mounting", "/proc");
	/* the notify socket's place is the view's, not the host's */
	if (sp->notify_socket[0] != '\0')
		v->kept[v->nkept - 1].path = SANDBOX_NOTIFY_IN_VIEW;
	qsort(v->kept, v->nkept, sizeof(v->kept[0]), by_length);
	for (size_t i = 0; i < v->nkept; i++)
		if ((r = attach(&v->kept[i], err)) < 0)
			return r;
	for (size_t i = 0; sp->hidden != NULL && sp->hidden[i] != NULL; i++)
		if ((r = hide(v, sp->hidden[i], err)) < 0)
			return r;
	if (sp->state_dir != NULL && (r = hide(v, sp->state_dir, err)) < 0)
		return r;
	for (size_t i = 0; i < v->ncovers; i++)
		if ((r = set_readonly(v->covers[i], false, err)) < 0)
			return r;
	return chdir("/") == -1 ? fail(err, "chdir", "/") : 0;
}

int
sandbox_filesystem(const struct sandbox_spec *sp, cJSON *report,
    struct errbuf *err)
{
	struct view	v = { .nkept = 0 };
	bool		own_proc = getpid() == 1;
	int		r;

	if (!sp->fs_strict) {
		cJSON_AddStringToObject(report, "filesystem", "host");
		return 0;
	}
	if (unshare(CLONE_NEWNS) == -1)
		return fail(err, "unshare(CLONE_NEWNS)", "(a filesystem view)");
	/* the host's later mounts still reach us; none of ours reach it */
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) == -1)
		return fail(err, "making mounts private under", "/");
	r = build(&v, sp, own_proc, err);
	for (size_t i = 0; i < v.nkept; i++)
		if (v.kept[i].tree != -1)
			close(v.kept[i].tree);
	if (r == 0)
		report_view(sp, report, own_proc);
	return r;
}

static int
copy_paths(const cJSON *list, const char *key, char ***out,
    struct errbuf *err)
{
	size_t	n = 0;

	*out = NULL;
	if (list == NULL)
		return 0;
	if ((size_t)cJSON_GetArraySize(list) > SANDBOX_PATHS_MAX) {
		errbuf_set(err, "sandbox.%s: more than %d paths", key,
		    SANDBOX_PATHS_MAX);
		return -E2BIG;
	}
	if ((*out = calloc((size_t)cJSON_GetArraySize(list) + 1,
	    sizeof(**out))) == NULL)
		return -ENOMEM;
	for (const cJSON *p = list->child; p != NULL; p = p->next) {
		if (!cJSON_IsString(p) ||
		    !util_path_absolute_clean(p->valuestring) ||
		    strlen(p->valuestring) >= PATH_MAX) {
			errbuf_set(err, "sandbox.%s: '%s' is not an absolute "
			    "path without '..'", key, cJSON_IsString(p) ? p->valuestring :
			    "?");
			return -EINVAL;
		}
		if (((*out)[n++] = strdup(p->valuestring)) == NULL)
			return -ENOMEM;
	}
	return 0;
}

int
sandbox_parse_filesystem(const cJSON *sandbox, struct sandbox_spec *sp,
    struct errbuf *err)
{
	const char	*mode = cJSON_GetStringValue(cJSON_GetObjectItem(sandbox,
			    "filesystem"));
	int		 r;

	/* the worker's default is the host's: mcpvisord writes the mode
	 * it gives into every server's configuration */
	sp->fs_strict = mode != NULL && strcmp(mode, "strict") == 0;
	if (mode != NULL && !sp->fs_strict && strcmp(mode, "host") != 0) {
		errbuf_set(err, "sandbox.filesystem: '%s' is neither strict "
		    "nor host", mode);
		return -EINVAL;
	}
	if ((r = copy_paths(cJSON_GetObjectItem(sandbox, "writable_paths"),
	    "writable_paths", &sp->writable, err)) < 0 ||
	    (r = copy_paths(cJSON_GetObjectItem(sandbox, "readable_paths"),
	    "readable_paths", &sp->readable, err)) < 0 ||
	    (r = copy_paths(cJSON_GetObjectItem(sandbox, "hidden_paths"),
	    "hidden_paths", &sp->hidden, err)) < 0)
		return r;
	return 0;
}

static void
free_paths(char **paths)
{
	for (size_t i = 0; paths != NULL && paths[i] != NULL; i++)
		free(paths[i]);
	free(paths);
}

void
sandbox_free(struct sandbox_spec *sp)
{
	free_paths(sp->writable);
	free_paths(sp->readable);
	free_paths(sp->hidden);
	sp->writable = sp->readable = sp->hidden = NULL;
	if (!sp->seccomp_shared)
		free(sp->seccomp_prog.filter);
	sp->seccomp_prog = (struct sock_fprog){ 0 };
}
