/*
 * The uid a server without run.user runs as when mcpvisord is root, in
 * the group RUNSPEC_DYNAMIC_GID (dynuser.c).
 */
#ifndef MCPVISOR_DYNUSER_H
#define MCPVISOR_DYNUSER_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct cJSON;
struct errbuf;

/* Whether this process may become a dynamic uid: root, and not in a
 * user namespace that maps too few ids. Forks once. */
bool	dynuser_possible(void);
/* STATE_DIR/dynamic-users.json, in memory while a deployment is
 * loaded. */
struct dynuser_map {
	const char	*state_dir;
	char		 path[PATH_MAX];
	struct cJSON	*ids;		/* server name -> uid */
	bool		 changed;
};

/* Reads it (none yet: empty). 0, or a negative errno with err. */
int	dynuser_load(struct dynuser_map *, const char *state_dir,
	    struct errbuf *err);
/* server's uid: the one recorded, or a new one. 0, or a negative errno
 * with err filled. */
int	dynuser_for(struct dynuser_map *, const char *server, uid_t *out,
	    struct errbuf *err);
/* Writes it back if it gained ids, then lets it go. 0, or a negative
 * errno with err. */
int	dynuser_save(struct dynuser_map *, struct errbuf *err);
/* Lets it go unwritten. */
void	dynuser_drop(struct dynuser_map *);

#endif
