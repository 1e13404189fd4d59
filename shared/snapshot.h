/*
 * Snapshots: what ran before a server was replaced, kept so that a
 * rollback can put it back. A snapshot is a directory under the backup
 * directory, named by its id:
 *
 *	snapshot.json	{"id", "deployment_id", "server", "created_at",
 *			 "state", "config", "files": [{"path", "existed",
 *			 "sha256", "size", "mode", "uid", "gid", "copy"}],
 *			 "checksum"}
 *	files/N		a copy of the Nth file, as it was
 *
 * "checksum" is the SHA-256 of the unformatted JSON of everything else;
 * each copy carries its own SHA-256. Made with a key (an environment's
 * security_policies.encrypt_at_rest), every copy is sealed with
 * AES-256-GCM (crypto.h) and "state" and "config" are not in the record
 * but sealed in "sealed" (a file beside it, named by the record with its
 * SHA-256), the record saying "encrypted": true; checksums are of what
 * is stored, so that integrity is checked without the key. A snapshot is made in a temporary
 * directory and renamed into place (after fsync), so it exists whole or
 * not at all. The caller keeps secrets out of state and config (they
 * are stored as references and resolved again on restore).
 */
#ifndef MCPVISOR_SNAPSHOT_H
#define MCPVISOR_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct errbuf;

#define SNAPSHOT_FILE_MAX	(64u << 20)	/* largest file copied */

/* The counterpart of the guide's create_deployment_snapshot(): records
 * state and config (copied) and copies files (absolute paths; one that
 * does not exist is recorded as absent, so that a restore removes what
 * a new version added). Returns 0 and, if meta is not NULL, the record
 * (the caller frees), or a negative errno with err filled: -EEXIST,
 * -EINVAL (a relative path or an id that is not a plain name), -EFBIG,
 * or what the file system said. */
int	snapshot_create(const char *backup_dir, const char *id,
	    const char *deployment_id, const char *server,
	    const struct cJSON *state, const struct cJSON *config,
	    const char *const *files, size_t nfiles,
	    const unsigned char *key, struct cJSON **meta,
	    struct errbuf *err);

/* Reads snapshot id and checks its checksum and every copy's. Returns 0
 * and the record in *meta (the caller frees), or -EBADMSG (corrupt: err
 * names what) or another negative errno. An encrypted one's state and
 * config are put back into *meta when key (CRYPTO_KEY_LEN bytes) is
 * given; -EBADMSG when they do not decrypt under it. */
int	snapshot_verify(const char *backup_dir, const char *id,
	    const unsigned char *key, struct cJSON **meta,
	    struct errbuf *err);

/* Puts a verified snapshot's files back: each copy replaces its file
 * atomically, with the recorded mode and owner; with cleanup, a file
 * that did not exist then is removed. Returns 0 or a negative errno. */
int	snapshot_restore_files(const char *backup_dir,
	    const struct cJSON *meta, bool cleanup, const unsigned char *key,
	    struct errbuf *err);

/* The key snapshots are sealed with: $CREDENTIALS_DIRECTORY/
 * mcpvisor-snapshot-key (systemd's LoadCredential=; 32 bytes, or 64 hex
 * digits), else STATE-DIR/keys/snapshot.key, made (32 random bytes, mode
 * 0600 in a 0700 directory) when create is set and there is none. A key
 * file that others can read, or not ours, is refused. 0, -ENOENT (none,
 * and not to be made), or another negative errno with err. */
int	snapshot_key_load(const char *state_dir, bool create,
	    unsigned char key[32], struct errbuf *err);

/* Every snapshot, newest first, each as {"id", "deployment_id",
 * "server", "created_at", "files", "size", "integrity": "ok" or why
 * not}. Returns the count and a cJSON array in *out, or a negative
 * errno (a missing directory is an empty list). */
int	snapshot_list(const char *backup_dir, struct cJSON **out);

/* Removes all but the newest keep snapshots of each server. Returns how
 * many went, or a negative errno. */
int	snapshot_prune(const char *backup_dir, unsigned keep);

#endif
