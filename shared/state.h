/*
 * The state directory: what survives mcpvisord.
 *
 *	deployments/ID.json	one record per deployment, replaced atomically
 *	events.journal		every event, one JSON object per line
 *	logs/deployment_ID.log	the deployment's log (workers write here too)
 *	servers/NAME/		each server's output log and notify socket
 *	control.sock		mcpvisord's control socket (mode 0600)
 *
 * A record is written to a temporary file, fsync'd, renamed over the old
 * one and the directory fsync'd: a crash at any moment leaves the old
 * record or the new one, never a mix. Journal lines are gathered and
 * written with one fdatasync per loop turn (group commit).
 */
#ifndef MCPVISOR_STATE_H
#define MCPVISOR_STATE_H

#include <stddef.h>
#include <sys/types.h>

struct cJSON;
struct errbuf;

/* /var/lib/mcpvisor for root, else $XDG_STATE_HOME/mcpvisor (or
 * ~/.local/state/mcpvisor). Returns 0 or -ENAMETOOLONG. */
int	state_dir_default(char *buf, size_t size);
/* Creates dir and its subdirectories, private to the owner. 0 or a
 * negative errno with err filled. */
int	state_prepare(const char *dir, struct errbuf *err);
/* Writes dir/rel atomically (see above). 0 or a negative errno. */
int	state_write_file(const char *dir, const char *rel, const void *,
	    size_t);
int	state_write_json(const char *dir, const char *rel,
	    const struct cJSON *);
#define STATE_FILE_MAX	(16u << 20)	/* the largest record read */

/* Reads a JSON file (a regular file of at most STATE_FILE_MAX bytes).
 * 0 and *out (the caller frees), or a negative errno: -EBADMSG when it is
 * not JSON, -EINVAL when it is not a regular file, -EFBIG. */
int	state_read_json(const char *path, struct cJSON **out);
/* Removes the records (and logs) of finished deployments beyond the
 * newest keep. Returns how many went, or a negative errno. */
int	state_prune_records(const char *dir, unsigned keep);
/* Every deployment record, newest first. Returns the count and a
 * malloc'd array in *out (free each with cJSON_Delete, then the array),
 * or a negative errno. Unreadable records are skipped. */
int	state_list_records(const char *dir, struct cJSON ***out);
/* Makes a new deployment id: deploy_YYYYMMDD_HHMMSSmmm_XXXXXX. */
void	state_new_id(char *buf, size_t size);
/* Now as UTC ISO 8601 with milliseconds: 2026-11-24T08:07:32.123Z. */
void	state_iso_now(char *buf, size_t size);
/* Connects to mcpvisord's control socket in dir. A descriptor, or a
 * negative errno (-ENOENT, -ECONNREFUSED: no daemon). */
int	state_control_connect(const char *dir);
/* The monitor's token (64 hex characters, from getrandom), kept in
 * dir/monitor.token with mode 0600: read, or made on first use. 0 or a
 * negative errno. */
int	state_monitor_token(const char *dir, char out[65]);

/* The journal is rotated past JOURNAL_MAX bytes: events.journal.1 ...
 * events.journal.JOURNAL_KEEP. */
#define JOURNAL_MAX	(64u << 20)
#define JOURNAL_KEEP	3

struct journal {
	int	 fd;
	char	*dir;
	off_t	 size;
	char	*buf;
	size_t	 len;
	size_t	 cap;
};

int	journal_open(struct journal *, const char *dir);
/* Buffers one event; journal_commit() makes it durable. */
int	journal_append(struct journal *, const struct cJSON *);
/* Writes what is buffered and fdatasyncs once. 0 or a negative errno. */
int	journal_commit(struct journal *);
void	journal_close(struct journal *);

#endif
