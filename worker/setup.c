/*
 * The worker's configuration, read once: the run spec (runspec.h), the
 * sandbox, the health checks, the server's environment; then what needs
 * privileges before the sandbox takes them: the writable paths, the
 * server's directory (owned by the user it runs as), its log and its
 * NOTIFY_SOCKET. Buffers on this once-only path are on the heap: stack
 * pages, once touched, stay with the worker for its whole life.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "health.h"
#include "log.h"
#include "runspec.h"
#include "util.h"
#include "worker.h"

/* The server's environment (runspec_envp), and NOTIFY_SOCKET. */
static int
build_envp(struct worker *w)
{
	char	*notify = NULL, *mark = NULL, *name = NULL;
	int	 r = 0;

	/* the mark of its tree: a restarted mcpvisord knows by it what a
	 * server of its previous life left behind (see proc_kill_marked) */
	if (asprintf(&mark, "MCPVISOR_STATE_DIR=%s", w->state_dir) == -1 ||
	    asprintf(&name, "MCPVISOR_SERVER=%s", w->name) == -1 ||
	    (w->run->readiness == RUN_READY_NOTIFY && (w->sandbox.fs_strict ?
	    asprintf(&notify, "NOTIFY_SOCKET=%s", SANDBOX_NOTIFY_IN_VIEW) :
	    asprintf(&notify, "NOTIFY_SOCKET=%s/notify.sock",
	    w->server_dir)) == -1))
		r = -ENOMEM;
	else {
		const char *const extra[] = { mark, name, notify, NULL };

		if ((w->envp = runspec_envp(w->run, w->sandbox.home,
		    extra)) == NULL)
			r = -ENOMEM;
	}
	free(notify);
	free(mark);
	free(name);
	return r;
}

/* STATE_DIR of STATE_DIR/servers/NAME. */
static char *
state_dir_of(const char *server_dir)
{
	char	*d = strdup(server_dir), *slash;

	for (int i = 0; d != NULL && i < 2; i++)
		if ((slash = strrchr(d, '/')) != NULL && slash != d)
			*slash = '\0';
	return d;
}

static void
mask_line(char *line, size_t len, void *arg)
{
	secrets_scrub(arg, line, len);
}

/* The server's secrets, as the root lists them: masked in its output
 * and in every line we log from now on. */
int
worker_take_mask(struct worker *w, const cJSON *mask, struct errbuf *err)
{
	const cJSON	*s;

	cJSON_ArrayForEach(s, mask) {
		if (!cJSON_IsString(s)) {
			errbuf_set(err, "'mask' holds something else than "
			    "strings");
			return -EINVAL;
		}
		if (secrets_add(&w->secrets, s->valuestring) < 0)
			return -ENOMEM;
	}
	if (w->secrets.n > 0)
		log_set_filter(mask_line, &w->secrets);
	return 0;
}

static int
parse_config(struct worker *w, const cJSON *config, struct errbuf *err)
{
	const char	*name = cJSON_GetStringValue(cJSON_GetObjectItem(config,
			    "server"));
	const char	*dir = cJSON_GetStringValue(cJSON_GetObjectItem(config,
			    "server_dir"));
	int		 r;

	if ((r = worker_take_mask(w, cJSON_GetObjectItem(config, "mask"),
	    err)) < 0)
		return r;
	if (name == NULL || dir == NULL) {
		errbuf_set(err, "the configuration names no server or no "
		    "server_dir");
		return -EINVAL;
	}
	if ((w->name = strdup(name)) == NULL ||
	    (w->server_dir = strdup(dir)) == NULL ||
	    (w->state_dir = state_dir_of(dir)) == NULL)
		return -ENOMEM;
	if ((r = runspec_unpack(cJSON_GetObjectItem(config, "run"), &w->run,
	    err)) < 0)
		return r;
	if (w->run->port_auto) {
		errbuf_set(err, "run.port is 'auto', and mcpvisord picks the "
		    "port before it hands the configuration on: it did not");
		return -EINVAL;
	}
	w->max_deaths = w->run->max_deaths > DEATHS_MAX ? DEATHS_MAX :
	    w->run->max_deaths;
	if (sandbox_parse(config, &w->sandbox, err) < 0)
		return -EINVAL;
	w->sandbox.state_dir = w->state_dir;
	if ((r = checks_setup(w, cJSON_GetObjectItem(config, "health_checks"),
	    err)) < 0)
		return r;
	if (build_envp(w) < 0) {
		errbuf_set(err, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* a dynamic user's writable directory: its group is every dynamic
 * user's, so that servers that share a path may all write it */
#define DYNAMIC_DIR_MODE	02770

static bool
dynamic_id(uid_t id)
{
	return id >= RUNSPEC_DYNAMIC_ID_FIRST && id <= RUNSPEC_DYNAMIC_ID_LAST;
}

/* A writable path that was there before a server with a dynamic user.
 * Empty, it becomes the server's; a dynamic id's (another server that
 * writes there too), it is shared through their common group; a tree
 * of another user's is not taken from them: it stays as it is, and the
 * log says why the server may not write it. */
static int
adopt_writable_path(struct worker *w, const char *path, struct errbuf *err)
{
	const struct sandbox_spec	*sp = &w->sandbox;
	struct stat			 st;
	int				 fd, r = 0;

	/* not blocked by a FIFO; a link is followed by no one here */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1 && errno == ELOOP) {
		log_warnx("writable path %s is a symbolic link: the server's "
		    "dynamic user (uid %u) is not given what it points to",
		    path, (unsigned)sp->uid);
		return 0;
	}
	if (fd == -1 || fstat(fd, &st) == -1) {
		r = -errno;
		errbuf_set(err, "writable path %s: %s", path, strerror(-r));
		if (fd != -1)
			close(fd);
		return r;
	}
	if (st.st_uid == sp->uid)
		;
	else if (dynamic_id(st.st_uid)) {
		if ((st.st_gid != sp->gid && fchown(fd, (uid_t)-1,
		    sp->gid) == -1) || (S_ISDIR(st.st_mode) &&
		    (st.st_mode & 02070) != 02070 && fchmod(fd, (st.st_mode &
		    07777) | 02070) == -1))
			r = -errno;
	} else if (S_ISDIR(st.st_mode) && util_dir_empty(fd)) {
		if (fchown(fd, sp->uid, sp->gid) == -1 ||
		    fchmod(fd, DYNAMIC_DIR_MODE) == -1)
			r = -errno;
	} else
		log_warnx("writable path %s belongs to uid %u and is not empty%s: "
		    "the server's dynamic user (uid %u) is not given it (chown "
		    "it, or give the server a run.user)", path,
		    (unsigned)st.st_uid, S_ISDIR(st.st_mode) ? "" :
		    " (a file)", (unsigned)sp->uid);
	if (r < 0)
		errbuf_set(err, "taking over %s: %s", path, strerror(-r));
	close(fd);
	return r;
}

/* mkdir -p, each new directory owned by the server's user; the last
 * one, when it was there, adopted by a dynamic user. */
static int
make_writable_path(struct worker *w, const char *path, struct errbuf *err)
{
	char	*tmp;
	bool	 existed;
	int	 r = 0;

	if (path[0] != '/') {
		errbuf_set(err, "writable path '%s' is not absolute", path);
		return -EINVAL;
	}
	if ((tmp = strdup(path)) == NULL)
		return -ENOMEM;
	for (char *p = tmp + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char	saved = *p;

		*p = '\0';
		existed = false;
		if (mkdir(tmp, 0750) == 0) {
			if ((w->sandbox.change_identity && chown(tmp,
			    w->sandbox.uid, w->sandbox.gid) == -1) ||
			    (w->sandbox.dynamic_identity && saved == '\0' &&
			    chmod(tmp, DYNAMIC_DIR_MODE) == -1)) {
				r = -errno;
				errbuf_set(err, "giving %s to the server: %s", tmp,
				    strerror(errno));
				break;
			}
		} else if (errno == EEXIST)
			existed = true;
		else {
			r = -errno;
			errbuf_set(err, "mkdir %s: %s", tmp, strerror(errno));
			break;
		}
		if ((*p = saved) == '\0') {
			if (existed && w->sandbox.dynamic_identity)
				r = adopt_writable_path(w, path, err);
			break;
		}
	}
	free(tmp);
	return r;
}

static int
open_log(struct worker *w, struct errbuf *err)
{
	char	*path = NULL;
	int	 r;

	if (asprintf(&path, "%s/output.log", w->server_dir) == -1)
		return -ENOMEM;
	if ((r = logfile_open(&w->log, path, (off_t)w->run->log_max_bytes,
	    w->run->log_keep, 0640)) < 0 || (w->sandbox.change_identity &&
	    fchown(w->log.fd, w->sandbox.uid, w->sandbox.gid) == -1 &&
	    (r = -errno) < 0))
		errbuf_set(err, "%s: %s", path, strerror(-r));
	free(path);
	return r;
}

static void
on_notify(struct watcher *nw, uint32_t events)
{
	struct worker	*w = container_of(nw, struct worker, notify_w);
	char		 buf[4096];
	ssize_t		 n;

	(void)events;
	while ((n = recv(nw->fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		/* one assignment per line, as sd_notify(3) sends them */
		for (char *line = strtok(buf, "\n"); line != NULL;
		    line = strtok(NULL, "\n"))
			if (strcmp(line, "READY=1") == 0)
				server_up(w);
	}
}

static int
open_notify_socket(struct worker *w, struct errbuf *err)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	int			 fd;

	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/notify.sock", w->server_dir) >= sizeof(sun.sun_path)) {
		errbuf_set(err, "%s: path too long for a socket",
		    w->server_dir);
		return -ENAMETOOLONG;
	}
	unlink(sun.sun_path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    (w->sandbox.change_identity && chown(sun.sun_path,
	    w->sandbox.uid, w->sandbox.gid) == -1)) {
		errbuf_set(err, "NOTIFY_SOCKET %s: %s", sun.sun_path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return -errno;
	}
	snprintf(w->sandbox.notify_socket, sizeof(w->sandbox.notify_socket),
	    "%s", w->sandbox.fs_strict ? sun.sun_path : "");
	w->notify_w = (struct watcher){ fd, on_notify };
	return loop_add(&w->loop, &w->notify_w, EPOLLIN);
}

int
setup_writable_paths(struct worker *w, const cJSON *config,
    struct errbuf *err)
{
	const cJSON	*wp = cJSON_GetObjectItem(cJSON_GetObjectItem(config,
			    "sandbox"), "writable_paths");
	int		 r;

	for (const cJSON *p = wp != NULL ? wp->child : NULL; p != NULL;
	    p = p->next)
		if (cJSON_IsString(p) &&
		    (r = make_writable_path(w, p->valuestring, err)) < 0)
			return r;
	return 0;
}

static int
prepare_server_dir(struct worker *w, const cJSON *config, struct errbuf *err)
{
	int	r;

	if ((r = setup_writable_paths(w, config, err)) < 0)
		return r;
	if (mkdir(w->server_dir, 0750) == -1 && errno != EEXIST) {
		errbuf_set(err, "mkdir %s: %s", w->server_dir, strerror(errno));
		return -errno;
	}
	if (w->sandbox.change_identity &&
	    chown(w->server_dir, w->sandbox.uid, w->sandbox.gid) == -1) {
		errbuf_set(err, "chown %s: %s", w->server_dir, strerror(errno));
		return -errno;
	}
	if ((r = open_log(w, err)) < 0)
		return r;
	if (w->run->readiness == RUN_READY_NOTIFY)
		return open_notify_socket(w, err);
	return 0;
}

int
setup_worker(struct worker *w, const cJSON *config, const char **stage,
    struct errbuf *err)
{
	int	r;

	*stage = "config";
	if ((r = parse_config(w, config, err)) < 0)
		return r;
	/* what the gateway may offer of the server, kept for its pair */
	if (cJSON_GetObjectItem(config, "gateway") != NULL &&
	    (w->gw_config = cJSON_Duplicate(cJSON_GetObjectItem(config,
	    "gateway"), 1)) == NULL) {
		errbuf_set(err, "out of memory");
		return -ENOMEM;
	}
	*stage = "prepare";
	return prepare_server_dir(w, config, err);
}

void
setup_free(struct worker *w)
{
	if (w->has_cgroup)
		cgroup_close(&w->cgroup);
	sandbox_free(&w->sandbox);
	free(w->name);
	free(w->server_dir);
	free(w->state_dir);
	runspec_free_envp(w->envp);
	runspec_free(w->run);
	health_free(w->health);
	free(w->verdicts);
	logfile_close(&w->log);
	if (w->host_proc != -1)
		close(w->host_proc);
	w->host_proc = -1;
	log_set_filter(NULL, NULL);
	secrets_clear(&w->secrets);
	if (w->notify_w.fd != -1) {
		loop_del(&w->loop, &w->notify_w);
		close(w->notify_w.fd);
		w->notify_w.fd = -1;
	}
}
