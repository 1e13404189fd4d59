/*
 * What control.c (the socket, its clients, the dispatch) and
 * control_verbs.c (the built-in verbs) share; nothing else includes it.
 */
#ifndef MCPVISOR_CONTROL_INT_H
#define MCPVISOR_CONTROL_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "control.h"
#include "loop.h"

struct cJSON;

#define CONTROL_VERBS_MAX	24
#define RELISTEN_MS		1000	/* out of descriptors, spare gone */
#define ERROR_TEXT_MAX		(256u << 10)	/* of a refusal, JSON-escaped ×2 */

struct client {
	struct client		*next;
	struct control		*ctl;
	struct peer		*peer;		/* NULL once dropped */
	pid_t			 pid;
	int			 uid;		/* SO_PEERCRED; -1: ours */
	bool			 approver_only;	/* of the approvers' group */
	bool			 dead;
	char			 follow[64];	/* deployment id, or "" */
	char			 await[64];	/* answer when it finishes */
	char			 starting[64];	/* answer when it is prepared */
	char			 preview[64];	/* answer when compared */
	bool			 watch;		/* hears everything */
	bool			 wants_usage;	/* samples as they come */
};

struct control {
	struct supervisor	*sv;
	struct watcher		 listen;
	char			 path[PATH_MAX];
	struct stat		 bound;		/* the socket file we made */
	struct client		*clients;
	struct control_verb	 verbs[CONTROL_VERBS_MAX];
	size_t			 nverbs;
	int			 spare_fd;	/* let go at EMFILE */
	bool			 out_of_fds;	/* said so already */
	struct loop_timer	 relisten;	/* when even that failed */
};

/* control_verbs.c: the built-in verbs, and a request's string key (NULL
 * when it is not one) */
extern const struct control_verb	control_builtin[];
extern const size_t			control_nbuiltin;
const char	*req_str(const struct cJSON *rq, const char *key);

#endif
