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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct cJSON;
struct errbuf;

/* /var/lib/mcpvisor for root, else $XDG_STATE_HOME/mcpvisor (or
 * ~/.local/state/mcpvisor). Returns 0 or -ENAMETOOLONG. */
int	state_dir_default(char *buf, size_t size);
/* Creates dir and its subdirectories, private to the owner; a directory
 * another user made is taken over by root while it is empty and refused
 * otherwise, as is one under a parent others can write. 0 or a
 * negative errno with err filled. */
int	state_prepare(const char *dir, struct errbuf *err);
/* Writes dir/rel atomically (see above). 0 or a negative errno. */
int	state_write_file(const char *dir, const char *rel, const void *,
	    size_t);
int	state_write_json(const char *dir, const char *rel,
	    const struct cJSON *);
/* As state_write_json(), keeping the version it replaces as REL.prev:
 * a record damaged later (a disk, a hand) falls back to it. */
int	state_write_record(const char *dir, const char *rel,
	    const struct cJSON *);
/* Removes what writers killed mid-write left (NAME.tmp.PID of another
 * pid than ours) in dir, its deployments/ and rollbacks/. How many. */
unsigned	state_remove_stale_temporaries(const char *dir);
/* Opens a file of the state directory that must be a regular file (not
 * a symbolic link, a FIFO or a device: -EINVAL, at once). The
 * descriptor, blocking and close-on-exec, or a negative errno. */
int	state_open_regular(const char *path, int flags, mode_t mode);
/* An id of ours: prefix ("deploy_", "rollback_") then up to 60 of
 * [a-z0-9_]; ids read from disk are checked as those from the command
 * line, since they become paths. */
bool	state_valid_id(const char *id, const char *prefix);
/* Reads the record at path, which must be an object whose "id" is id.
 * 0 and *out, or a negative errno with *damage saying what is wrong
 * (NULL when the file is simply not there or unreadable). */
int	state_read_record(const char *path, const char *id,
	    const char *prefix, struct cJSON **out, const char **damage);
#define STATE_FILE_MAX	(16u << 20)	/* the largest record read */

/* Reads a JSON file (a regular file of at most STATE_FILE_MAX bytes).
 * 0 and *out (the caller frees), or a negative errno: -EBADMSG when it is
 * not JSON, -EINVAL when it is not a regular file, -EFBIG. */
int	state_read_json(const char *path, struct cJSON **out);
/* Removes the records (and logs) of finished deployments beyond the
 * newest keep. Returns how many went, or a negative errno. */
int	state_prune_records(const char *dir, unsigned keep);
/* The record dir/sub/ID.json (sub: "deployments", "rollbacks"), as
 * found: whole; or, when it is damaged, its previous version marked
 * "recovered_from": "previous" with its "damage"; or, without one, a
 * stand-in {"id", "damaged": why}. NULL: there is none (or id is not
 * an id of prefix). */
struct cJSON	*state_load_record(const char *dir, const char *sub,
		    const char *id, const char *prefix);
/* Keeps of a deployment record's "servers" only those named in names
 * (an array of strings), in its order: 0, or -ENOENT for a name it has
 * not, said in why (with the nearest it has). */
int	state_record_only(struct cJSON *rec, const struct cJSON *names,
	    char *why, size_t size);
/* Whether a deployment record says its deployment serves: it succeeded
 * and each of its servers is ready (or has ended as its restart policy
 * lets it: a one-shot job). If not, why says what is not, first. */
bool	state_record_ready(const struct cJSON *rec, char *why, size_t size);
/* Every deployment record, newest first. Returns the count and a
 * malloc'd array in *out (free each with cJSON_Delete, then the array),
 * or a negative errno. A damaged record comes as its previous version,
 * marked "recovered_from": "previous" with its "damage", or, without
 * one, as {"id", "damaged": why}; files that are not records are left
 * out. */
int	state_list_records(const char *dir, struct cJSON ***out);
/* Makes a new deployment id: deploy_YYYYMMDD_HHMMSSmmm_XXXXXX. */
void	state_new_id(char *buf, size_t size);
/* Now as UTC ISO 8601 with milliseconds: 2026-11-24T08:07:32.123Z. */
void	state_iso_now(char *buf, size_t size);
/* Connects to mcpvisord's control socket in dir, once the directory
 * passes state_check_dir(), the socket is ours or root's and its peer
 * (SO_PEERCRED) is mcpvisord as us or root. A descriptor, or a negative
 * errno (-ENOENT, -ECONNREFUSED: no daemon; -EPERM: not trusted, err
 * says why; err may be NULL). */
int	state_control_connect(const char *dir, struct errbuf *err);
/* sshd's StrictModes for a state directory: it and each parent are
 * ours or root's and no one else can write them (a parent may be a
 * sticky directory of root's, as /tmp is). 0, or -EPERM with err. */
int	state_check_dir(const char *dir, struct errbuf *err);
/* The monitor's token (64 hex characters, from getrandom), kept in
 * dir/monitor.token with mode 0600: read, or made on first use. 0 or a
 * negative errno. */
int	state_monitor_token(const char *dir, char out[65]);
/* The same for any token file of dir (gateway.token). */
int	state_token(const char *dir, const char *name, char out[65]);

/* The journal is rotated past JOURNAL_MAX bytes: events.journal.1 ...
 * events.journal.JOURNAL_KEEP. */
#define JOURNAL_MAX	(64u << 20)
#define JOURNAL_KEEP	3
/* Events waiting for the disk past this are dropped, and counted: once
 * it takes writes again, a "journal_gap" line says how many went where
 * they would have been. */
#define JOURNAL_PENDING_MAX	(4u << 20)

struct journal {
	int	 fd;
	char	*dir;
	off_t	 size;
	char	*buf;
	size_t	 len;
	size_t	 cap;
	uint64_t dropped;	/* since the last gap line */
	bool	 failing;	/* the last commit failed (said once) */
};

int	journal_open(struct journal *, const char *dir);
/* Buffers one event; journal_commit() makes it durable. -ENOSPC when
 * JOURNAL_PENDING_MAX is reached (the event is counted as dropped). */
int	journal_append(struct journal *, const struct cJSON *);
/* Writes what is buffered and fdatasyncs once. 0 or a negative errno. */
int	journal_commit(struct journal *);
void	journal_close(struct journal *);

#endif
