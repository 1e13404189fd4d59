/*
 * mcpvisord's control socket, STATE_DIR/control.sock: mode 0600, and a
 * peer is served only when SO_PEERCRED says it is our user or root.
 * Requests and answers are frames (FRAME_REQUEST, FRAME_RESPONSE,
 * FRAME_EVENT) carrying JSON; see mcpvisor-protocol(7).
 */
#ifndef MCPVISOR_CONTROL_H
#define MCPVISOR_CONTROL_H

#include <sys/types.h>

struct control;
struct supervisor;

/* Listens and hooks into sv's events. 0 or a negative errno (logged). */
int	control_open(struct supervisor *, struct control **);
/* Serves fd, one end of a socket pair to a child (the monitor) whose
 * pid is known: a client like any other, without the credential check.
 * 0 or a negative errno. */
int	control_adopt(struct control *, int fd, pid_t pid, const char *name);
/* Frees clients that went away during the turn. */
void	control_turn_end(struct control *);
void	control_free(struct control *);

#endif
