/*
 * The control socket. A client sends one request at a time; a deploy or
 * follow request subscribes it to the deployment's events until the
 * deployment finishes, when a final response says how. A watch request
 * (the monitor's) subscribes it to everything for good: every event,
 * every record written, every usage sample. A client whose queue fills
 * (it stopped reading) is dropped: the supervisor never waits for a
 * client.
 */
#include "control.h"
#include "control_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
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
#include "frame.h"
#include "log.h"
#include "peer.h"
#include "state.h"
#include "supervisor.h"
#include "util.h"

static void
client_drop(struct client *c, const char *why)
{
	if (c->dead)
		return;
	if (why != NULL)
		log_warnx("control client (pid %d): %s", (int)c->pid, why);
	c->dead = true;
	peer_free(c->peer);
	c->peer = NULL;
	if (c->wants_usage)
		sampler_want(c->ctl->sv, false);
	c->wants_usage = false;
}

static void
client_send(struct client *c, uint8_t type, const cJSON *o)
{
	int	r;

	if (c->dead)
		return;
	if ((r = peer_send_json(c->peer, type, o)) < 0)
		client_drop(c, r == -ENOBUFS ? "not reading: dropped" :
		    strerror(-r));
}

struct supervisor *
control_supervisor(const struct client *c)
{
	return c->ctl->sv;
}

void
control_watch(struct client *c)
{
	c->watch = true;
}

void
client_ok(struct client *c, cJSON *o)
{
	cJSON_AddBoolToObject(o, "ok", 1);
	client_send(c, FRAME_RESPONSE, o);
	cJSON_Delete(o);
}

void
client_error(struct client *c, const char *code, const char *msg)
{
	cJSON	*o = cJSON_CreateObject();
	char	*cut = NULL;

	/* every diagnostic, up to what a response frame holds: the first
	 * lines say what is wrong, and the record keeps the count */
	if (strlen(msg) > ERROR_TEXT_MAX &&
	    asprintf(&cut, "%.*s\n... (%zu more bytes of diagnostics)\n",
	    (int)ERROR_TEXT_MAX, msg, strlen(msg) - ERROR_TEXT_MAX) != -1)
		msg = cut;
	cJSON_AddBoolToObject(o, "ok", 0);
	cJSON_AddStringToObject(o, "code", code);
	cJSON_AddStringToObject(o, "error", msg);
	client_send(c, FRAME_RESPONSE, o);
	cJSON_Delete(o);
	free(cut);
}


static bool
of_type(const cJSON *v, enum request_type t)
{
	switch (t) {
	case RQ_STRING:	return cJSON_IsString(v);
	case RQ_BOOL:	return cJSON_IsBool(v);
	case RQ_NUMBER:	return cJSON_IsNumber(v);
	case RQ_OBJECT:	return cJSON_IsObject(v);
	case RQ_ARRAY:	return cJSON_IsArray(v);
	}
	return false;
}

/* The request against its verb's documented shape (mcpvisor-protocol(7));
 * false after telling the client what is wrong. */
static bool
shape_ok(struct client *c, const struct control_verb *v, const cJSON *rq)
{
	static const char *const type_names[] = { "a string", "true or false",
	    "a number", "an object", "a list" };
	const struct request_key	*k;
	const cJSON			*item;
	char				 why[160];

	cJSON_ArrayForEach(item, rq) {
		if (item->string != NULL && strcmp(item->string, "verb") == 0)
			continue;
		for (k = v->keys; k->name != NULL; k++)
			if (item->string != NULL &&
			    strcmp(item->string, k->name) == 0)
				break;
		if (k->name == NULL) {
			snprintf(why, sizeof(why), "%s takes no key '%.60s'",
			    v->name, item->string != NULL ? item->string : "");
			client_error(c, "usage", why);
			return false;
		}
		if (!of_type(item, k->type)) {
			snprintf(why, sizeof(why), "%s: '%s' must be %s",
			    v->name, k->name, type_names[k->type]);
			client_error(c, "usage", why);
			return false;
		}
	}
	for (k = v->keys; k->name != NULL; k++)
		if (k->required && cJSON_GetObjectItem(rq, k->name) == NULL) {
			snprintf(why, sizeof(why), "%s needs '%s'", v->name,
			    k->name);
			client_error(c, "usage", why);
			return false;
		}
	return true;
}

static void
on_request(struct client *c, const struct frame *f)
{
	cJSON		*rq = cJSON_ParseWithLength((char *)f->data, f->len);
	const char	*verb = req_str(rq, "verb");
	size_t		 i;

	if (!cJSON_IsObject(rq) || verb == NULL) {
		client_error(c, "usage", "a request is a JSON object with a "
		    "'verb'");
		cJSON_Delete(rq);
		return;
	}
	for (i = 0; i < c->ctl->nverbs; i++)
		if (strcmp(verb, c->ctl->verbs[i].name) == 0)
			break;
	if (i == c->ctl->nverbs)
		client_error(c, "usage", "unknown verb");
	else if (c->approver_only && strcmp(verb, "deploy_approve") != 0 &&
	    strcmp(verb, "rollback_approve") != 0 && strcmp(verb, "ping") != 0)
		client_error(c, "permission", "a member of the approvers' "
		    "group may only approve (deploy_approve, rollback_approve)");
	else if (shape_ok(c, &c->ctl->verbs[i], rq))
		c->ctl->verbs[i].fn(c, rq, c->ctl->verbs[i].arg);
	cJSON_Delete(rq);
}

static void
on_client(struct peer *p, const struct frame *f, void *arg)
{
	struct client	*c = arg;

	if (c->dead)
		return;
	if (f == NULL) {
		client_drop(c, peer_error(p) == -EPIPE ? NULL :
		    strerror(-peer_error(p)));
		return;
	}
	on_request(c, f);
}

/* Takes fd (closed on failure). */
static int
client_add(struct control *ctl, int fd, pid_t pid, int uid)
{
	struct client	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	c->ctl = ctl;
	c->pid = pid;
	c->uid = uid;
	if ((c->peer = peer_new(&ctl->sv->loop, fd, FRAME_FROM_CLI, on_client,
	    c)) == NULL) {
		free(c);
		return -EIO;
	}
	c->next = ctl->clients;
	ctl->clients = c;
	return 0;
}

int
control_adopt(struct control *ctl, int fd, pid_t pid, const char *name)
{
	int	r;

	if (ctl == NULL) {
		close(fd);
		return -ENOTCONN;
	}
	if ((r = client_add(ctl, fd, pid, -1)) < 0)
		log_warnx("%s (pid %d): %s", name, (int)pid, strerror(-r));
	else
		/* it hears everything from now on, before it even asks:
		 * nothing between its start and its watch request is lost */
		ctl->clients->watch = true;
	return r;
}

/* Out of descriptors, the listener stays readable and would be called
 * again and again: the spare descriptor kept for this moment is let go
 * to accept the connection and close it at once (said once), so that
 * the loop sleeps until something changes. */
static void
on_relisten(struct loop_timer *t)
{
	struct control	*ctl = container_of(t, struct control, relisten);

	if (ctl->spare_fd == -1)
		ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	loop_mod(&ctl->sv->loop, &ctl->listen, EPOLLIN);
}

static bool
refuse_one(struct control *ctl)
{
	int	fd;

	if (ctl->spare_fd == -1) {
		/* no spare either: not watched for a moment */
		loop_mod(&ctl->sv->loop, &ctl->listen, 0);
		loop_timer_set(&ctl->sv->loop, &ctl->relisten, RELISTEN_MS);
		return false;
	}
	if (!ctl->out_of_fds)
		log_warnx("control socket: out of descriptors (%s): refusing "
		    "connections until some are free", strerror(errno));
	ctl->out_of_fds = true;
	close(ctl->spare_fd);
	fd = accept4(ctl->listen.fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd != -1)
		close(fd);
	ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd != -1;
}

static void
on_listen(struct watcher *w, uint32_t events)
{
	struct control	*ctl = container_of(w, struct control, listen);
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);
	int		 fd;

	(void)events;
	for (;;) {
		if ((fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) == -1) {
			if ((errno == EMFILE || errno == ENFILE) &&
			    refuse_one(ctl))
				continue;
			break;
		}
		ctl->out_of_fds = false;
		/* others than us and root reach the socket only through the
		 * approvers' group (its mode is 0660 then): they may approve,
		 * and nothing else */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
		    (cred.uid != geteuid() && cred.uid != 0 &&
		    ctl->sv->approvers_gid < 0)) {
			log_warnx("control socket: refused pid %d uid %d (not "
			    "uid %d or root)", (int)cred.pid, (int)cred.uid,
			    (int)geteuid());
			close(fd);
			continue;
		}
		if (client_add(ctl, fd, cred.pid, (int)cred.uid) == 0)
			ctl->clients->approver_only = cred.uid != geteuid() &&
			    cred.uid != 0;
	}
}

int
control_add_verb(struct control *ctl, const char *name,
    const struct request_key *keys, control_verb_fn *fn, void *arg)
{
	if (ctl->nverbs == CONTROL_VERBS_MAX)
		return -ENOSPC;
	ctl->verbs[ctl->nverbs++] = (struct control_verb){ name, fn, arg,
	    keys };
	return 0;
}

void
control_event(struct control *ctl, const cJSON *ev)
{
	const char	*id = cJSON_GetStringValue(cJSON_GetObjectItem(ev,
			    "deployment_id"));

	for (struct client *c = ctl->clients; c != NULL; c = c->next)
		if (!c->dead && (c->watch || (c->follow[0] != '\0' &&
		    id != NULL && (strcmp(c->follow, id) == 0 ||
		    strcmp(c->follow, "*") == 0))))
			client_send(c, FRAME_EVENT, ev);
}

void
control_watched(struct control *ctl, uint8_t type, const cJSON *o)
{
	for (struct client *c = ctl->clients; c != NULL; c = c->next)
		if (!c->dead && c->watch)
			client_send(c, type, o);
}

void
control_prepared(struct control *ctl, const char *id, const char *why,
    bool invalid)
{
	for (struct client *c = ctl->clients; c != NULL; c = c->next) {
		cJSON	*o;

		if (c->dead || (strcmp(c->starting, id) != 0 &&
		    strcmp(c->starting, "*") != 0))
			continue;
		c->starting[0] = '\0';
		if (why != NULL) {
			c->follow[0] = '\0';
			client_error(c, invalid ? "config" : "failed", why);
			continue;
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "deployment_id", id);
		client_ok(c, o);
		if (c->follow[0] != '\0')
			snprintf(c->await, sizeof(c->await), "%s", id);
	}
}

void
control_finished(struct control *ctl, const char *id, const char *outcome)
{
	for (struct client *c = ctl->clients; c != NULL; c = c->next) {
		cJSON	*o;

		if (c->dead || strcmp(c->await, id) != 0)
			continue;
		/* a follower of a deployment that succeeded keeps hearing of
		 * it only if it asked to follow it beyond its start */
		o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "ok", 1);
		cJSON_AddBoolToObject(o, "finished", 1);
		cJSON_AddStringToObject(o, "deployment_id", id);
		cJSON_AddStringToObject(o, "outcome", outcome);
		client_send(c, FRAME_RESPONSE, o);
		cJSON_Delete(o);
		c->await[0] = '\0';
		c->follow[0] = '\0';
	}
}

int
control_open(struct supervisor *sv, struct control **out)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct control		*ctl;
	mode_t			 old;
	int			 fd, r;

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return -ENOMEM;
	ctl->sv = sv;
	ctl->relisten.fn = on_relisten;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
	    "%s/control.sock", sv->state_dir) >= sizeof(sun.sun_path)) {
		log_warnx("%s/control.sock: path too long", sv->state_dir);
		free(ctl);
		return -ENAMETOOLONG;
	}
	snprintf(ctl->path, sizeof(ctl->path), "%s", sun.sun_path);
	/* a socket that answers belongs to a live mcpvisord: leave it */
	if ((r = state_control_connect(sv->state_dir, NULL)) >= 0) {
		close(r);
		log_warnx("another mcpvisord already serves %s", sun.sun_path);
		free(ctl);
		return -EADDRINUSE;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		goto fail;
	unlink(sun.sun_path);
	/* created private, not made private after the fact */
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r == -1 || chmod(sun.sun_path, 0600) == -1)
		goto fail;
	/* the approvers' group (require_mfa's second person) may reach the
	 * socket: through the directory (search only) and the socket */
	if (sv->approvers_gid >= 0 && (chown(sv->state_dir, (uid_t)-1,
	    (gid_t)sv->approvers_gid) == -1 || chmod(sv->state_dir, 0710) ==
	    -1 || chown(sun.sun_path, (uid_t)-1, (gid_t)sv->approvers_gid) ==
	    -1 || chmod(sun.sun_path, 0660) == -1))
		goto fail;
	if (stat(sun.sun_path, &ctl->bound) == -1 || listen(fd, 64) == -1)
		goto fail;
	ctl->listen.fd = fd;
	ctl->listen.fn = on_listen;
	if ((r = loop_add(&sv->loop, &ctl->listen, EPOLLIN)) < 0) {
		errno = -r;
		goto fail;
	}
	for (size_t i = 0; i < control_nbuiltin;
	    i++)
		ctl->verbs[ctl->nverbs++] = control_builtin[i];
	ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	*out = ctl;
	return 0;
fail:
	r = -errno;
	log_warn("control socket %s", sun.sun_path);
	if (fd != -1)
		close(fd);
	free(ctl);
	return r;
}

void
control_turn_end(struct control *ctl)
{
	struct client	**pp = &ctl->clients, *c;

	while ((c = *pp) != NULL) {
		if (c->dead) {
			*pp = c->next;
			free(c);
		} else
			pp = &c->next;
	}
}

void
control_free(struct control *ctl)
{
	struct stat	st;

	if (ctl == NULL)
		return;
	for (struct client *c = ctl->clients; c != NULL; c = c->next)
		client_drop(c, NULL);
	control_turn_end(ctl);
	loop_timer_cancel(&ctl->sv->loop, &ctl->relisten);
	loop_del(&ctl->sv->loop, &ctl->listen);
	close(ctl->listen.fd);
	if (ctl->spare_fd != -1)
		close(ctl->spare_fd);
	/* only our own: a successor may have bound the path meanwhile */
	if (stat(ctl->path, &st) == 0 && st.st_ino == ctl->bound.st_ino &&
	    st.st_dev == ctl->bound.st_dev)
		unlink(ctl->path);
	free(ctl);
}
