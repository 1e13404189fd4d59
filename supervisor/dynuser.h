/*
 * The uid a server without run.user runs as when mcpvisord is root, in
 * the group RUNSPEC_DYNAMIC_GID (dynuser.c).
 */
#ifndef MCPVISOR_DYNUSER_H
#define MCPVISOR_DYNUSER_H

#include <stdbool.h>
#include <sys/types.h>

struct errbuf;

/* Whether this process may become a dynamic uid: root, and not in a
 * user namespace that maps too few ids. Forks once. */
bool	dynuser_possible(void);
/* server's uid, chosen and recorded in STATE_DIR/dynamic-users.json the
 * first time. 0, or a negative errno with err filled. */
int	dynuser_for(const char *state_dir, const char *server, uid_t *out,
	    struct errbuf *err);

#endif
