/*
 * mcpvisord's control socket, STATE_DIR/control.sock: mode 0600, and a
 * peer is served only when SO_PEERCRED says it is our user or root.
 * Requests and answers are frames (FRAME_REQUEST, FRAME_RESPONSE,
 * FRAME_EVENT) carrying JSON; see mcpvisor-protocol(7). Each request's
 * verb has a handler; a client that follows a deployment hears its
 * events, one that watches (the monitor) hears everything.
 */
#ifndef MCPVISOR_CONTROL_H
#define MCPVISOR_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cJSON;
struct client;
struct control;
struct supervisor;

typedef void control_verb_fn(struct client *, const struct cJSON *rq,
    void *arg);

/* One key a verb takes: its JSON type and whether it must be there. A
 * request is checked against its verb's keys before the verb runs: an
 * unknown key, a missing one or one of the wrong type is refused. */
enum request_type { RQ_STRING, RQ_BOOL, RQ_NUMBER, RQ_OBJECT, RQ_ARRAY };
struct request_key {
	const char		*name;
	enum request_type	 type;
	bool			 required;
};

struct control_verb {
	const char			*name;
	control_verb_fn			*fn;
	void				*arg;
	const struct request_key	*keys;	/* ends with a NULL name */
};

/* Listens on sv's state directory. 0 or a negative errno (logged). */
int	control_open(struct supervisor *, struct control **);
/* Serves fd (taken, closed on failure), one end of a socket pair to a
 * child (the monitor) whose pid is known: a client like any other,
 * without the credential check, that hears everything from the start.
 * 0 or a negative errno. */
int	control_adopt(struct control *, int fd, pid_t pid, const char *name);
/* Adds a verb beside the built-in ones; fn is given arg. 0 or -ENOSPC. */
int	control_add_verb(struct control *, const char *name,
	    const struct request_key *, control_verb_fn *, void *arg);
/* What the supervisor says, fanned out: an event (to its followers and
 * to watchers), what only watchers hear (records, samples), and the end
 * of a deployment (to whoever awaits it). */
void	control_event(struct control *, const struct cJSON *ev);
/* A deployment is prepared (why NULL) or refused: its requester hears. */
void	control_prepared(struct control *, const char *id, const char *why,
	    bool invalid);
void	control_watched(struct control *, uint8_t type,
	    const struct cJSON *);
void	control_finished(struct control *, const char *id,
	    const char *outcome);
/* Frees clients that went away during the turn. */
void	control_turn_end(struct control *);
void	control_free(struct control *);

/* For a verb's handler: answer o (taken, with "ok": true added), or
 * {"ok": false, "code", "error"}; the supervisor; and making the client
 * one that hears everything. */
void			 client_ok(struct client *, struct cJSON *o);
void			 client_error(struct client *, const char *code,
			    const char *msg);
struct supervisor	*control_supervisor(const struct client *);
void			 control_watch(struct client *);

#endif
