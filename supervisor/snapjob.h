/*
 * Snapshot work off the loop. Making a snapshot (file copies, SHA-256,
 * fsync) and putting one back (verify, compare, restore files with their
 * modes and owners) can take long on a slow disk; it runs in a child of
 * mcpvisord, which the loop only waits for: the child's answer comes
 * back through a pipe as the job's result, a callback from the loop.
 */
#ifndef MCPVISOR_SNAPJOB_H
#define MCPVISOR_SNAPJOB_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cJSON;
struct snapjob;
struct supervisor;

/* A snapshot to make (shared/snapshot.h); retention > 0 prunes after. */
struct snap_make {
	const char		*id;
	const char		*deployment_id;
	const char		*server;
	const struct cJSON	*state;
	const struct cJSON	*config;	/* secrets masked */
	const char *const	*files;
	size_t			 nfiles;
	unsigned		 retention;
	const char		*backup_dir;	/* NULL: mcpvisord's */
	bool			 encrypt;	/* encrypt_at_rest */
};

/* A snapshot to put back: checked against the configuration that is to
 * start (secrets masked; its "deployment" is not compared), then its
 * files restored (with cleanup, what did not exist then is removed). */
struct snap_restore {
	const char		*server;
	const char		*snapshot;
	const struct cJSON	*config_now;
	bool			 cleanup;
	const char		*backup_dir;	/* where it was made; NULL:
						 * mcpvisord's */
};

/* The outcome of item i: ok, or the step that failed ("restore_config",
 * "restore_files", "snapshot") and why, in the guide's words. */
struct snapjob_outcome {
	bool	ok;
	char	step[32];
	char	why[1000];
};

/* Called once, from the loop, with an outcome per item. */
typedef void snapjob_fn(void *arg, const struct snapjob_outcome *, size_t n);

/* Each starts a child; NULL with errno set when it cannot be started
 * (the caller says so, as it would of a failed job). */
struct snapjob	*snapjob_make(struct supervisor *, const struct snap_make *,
		    snapjob_fn *, void *arg);
struct snapjob	*snapjob_restore(struct supervisor *,
		    const struct snap_restore *, size_t n, snapjob_fn *,
		    void *arg);
/* The owner went away: its callback will not be called (and the job
 * is no more). */
void		 snapjob_cancel(struct snapjob *);
#endif
