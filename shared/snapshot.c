/*
 * The snapshot store. Files are read whole (up to SNAPSHOT_FILE_MAX) and
 * written through state_write_file(), so every copy and every record is
 * durable before the snapshot's directory is renamed into place. Only
 * this module writes under the backup directory.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "errbuf.h"
#include "state.h"
#include "util.h"

#define SNAPSHOT_SEALED	"record.sealed"
#define SNAPSHOT_RECORD	"snapshot.json"

static bool
valid_id(const char *id)
{
	size_t	n = strlen(id);

	if (n == 0 || n > 200 || id[0] == '.')
		return false;
	for (const char *p = id; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '.'))
			return false;
	return true;
}

/* Reads a regular file whole, never through a symbolic link. */
static int
read_file(const char *path, char **out, size_t *len, struct stat *st)
{
	return read_file_capped(path, O_NOFOLLOW, SNAPSHOT_FILE_MAX, out, len,
	    st);
}

/* The checksum of a record: SHA-256 of its JSON without "checksum". */
static int
record_checksum(const cJSON *meta, char hex[65], struct errbuf *err)
{
	cJSON	*copy = cJSON_Duplicate(meta, 1);
	char	*text;
	int	 r;

	if (copy == NULL)
		return -ENOMEM;
	cJSON_DeleteItemFromObject(copy, "checksum");
	text = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	if (text == NULL)
		return -ENOMEM;
	r = crypto_sha256_hex(text, strlen(text), hex, err);
	free(text);
	return r;
}

/* Copies one file into dir/files/N and describes it. */
static int
copy_in(const char *dir, size_t n, const char *path, cJSON *files,
    const unsigned char *key, struct errbuf *err)
{
	cJSON		*f = cJSON_CreateObject();
	struct stat	 st;
	char		*data = NULL, rel[32], hex[65];
	unsigned char	*sealed;
	size_t		 len, plain;
	int		 r;

	if (f == NULL)
		return -ENOMEM;
	cJSON_AddItemToArray(files, f);
	cJSON_AddStringToObject(f, "path", path);
	if (path[0] != '/') {
		errbuf_set(err, "files_to_backup: '%s' is not absolute", path);
		return -EINVAL;
	}
	if ((r = read_file(path, &data, &len, &st)) == -ENOENT) {
		cJSON_AddBoolToObject(f, "existed", 0);
		return 0;
	}
	if (r < 0) {
		errbuf_set(err, "files_to_backup: %s: %s", path, r == -EINVAL ?
		    "not a regular file" : strerror(-r));
		return r;
	}
	snprintf(rel, sizeof(rel), "files/%zu", n);
	plain = len;
	if (key != NULL) {
		r = crypto_seal(key, data, len, &sealed, &len, err);
		explicit_bzero(data, plain);
		free(data);
		if (r < 0)
			return r;
		data = (char *)sealed;
	}
	if ((r = crypto_sha256_hex(data, len, hex, err)) < 0 ||
	    (r = state_write_file(dir, rel, data, len)) < 0) {
		if (r != -ENOSYS)
			errbuf_set(err, "%s/%s: %s", dir, rel, strerror(-r));
		free(data);
		return r;
	}
	free(data);
	cJSON_AddBoolToObject(f, "existed", 1);
	cJSON_AddStringToObject(f, "sha256", hex);
	cJSON_AddNumberToObject(f, "size", (double)plain);
	cJSON_AddNumberToObject(f, "mode", st.st_mode & 07777);
	cJSON_AddNumberToObject(f, "uid", st.st_uid);
	cJSON_AddNumberToObject(f, "gid", st.st_gid);
	cJSON_AddStringToObject(f, "copy", rel);
	return 0;
}

/* A fresh temporary directory for snapshot id, with its files/. */
static int
make_tmp(const char *backup_dir, const char *id, char *tmp, size_t size,
    struct errbuf *err)
{
	char	sub[PATH_MAX + 8];
	int	r;

	snprintf(tmp, size, "%s/.tmp-%s-%d", backup_dir, id, (int)getpid());
	util_remove_tree(tmp);
	snprintf(sub, sizeof(sub), "%s/files", tmp);
	if (mkdir(tmp, 0700) == -1 || mkdir(sub, 0700) == -1) {
		r = -errno;
		errbuf_set(err, "%s: %s", tmp, strerror(errno));
		util_remove_tree(tmp);
		return r;
	}
	return 0;
}

/* Writes the record into tmp, then renames tmp to final, durably. */
static int
seal(const char *backup_dir, const char *tmp, const char *final,
    const cJSON *meta, struct errbuf *err)
{
	char	*text;
	int	 r, dfd;

	if ((text = cJSON_Print(meta)) == NULL)
		return -ENOMEM;
	r = state_write_file(tmp, SNAPSHOT_RECORD, text, strlen(text));
	free(text);
	if (r < 0) {
		errbuf_set(err, "%s/%s: %s", tmp, SNAPSHOT_RECORD,
		    strerror(-r));
		return r;
	}
	if (rename(tmp, final) == -1) {
		r = errno == ENOTEMPTY ? -EEXIST : -errno;
		errbuf_set(err, "%s: %s", final, strerror(errno));
		return r;
	}
	/* the rename is durable once the backup directory is */
	if ((dfd = open(backup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) !=
	    -1) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* What of the record holds configuration values (state, config) leaves
 * it for SNAPSHOT_SEALED, sealed under key. */
static int
seal_record(const char *tmp, cJSON *meta, const unsigned char *key,
    struct errbuf *err)
{
	cJSON		*inner = cJSON_CreateObject();
	char		*text, hex[65];
	unsigned char	*sealed;
	size_t		 len;
	int		 r;

	if (inner == NULL)
		return -ENOMEM;
	cJSON_AddItemToObject(inner, "state", cJSON_DetachItemFromObject(meta,
	    "state"));
	cJSON_AddItemToObject(inner, "config", cJSON_DetachItemFromObject(meta,
	    "config"));
	text = cJSON_PrintUnformatted(inner);
	cJSON_Delete(inner);
	if (text == NULL)
		return -ENOMEM;
	r = crypto_seal(key, text, strlen(text), &sealed, &len, err);
	explicit_bzero(text, strlen(text));
	free(text);
	if (r < 0)
		return r;
	if ((r = crypto_sha256_hex(sealed, len, hex, err)) == 0 &&
	    (r = state_write_file(tmp, SNAPSHOT_SEALED, sealed, len)) < 0)
		errbuf_set(err, "%s/%s: %s", tmp, SNAPSHOT_SEALED,
		    strerror(-r));
	free(sealed);
	if (r < 0)
		return r;
	cJSON_AddBoolToObject(meta, "encrypted", 1);
	cJSON_AddStringToObject(meta, "sealed", SNAPSHOT_SEALED);
	cJSON_AddStringToObject(meta, "sealed_sha256", hex);
	return 0;
}

/* An encrypted record's state and config, checked and opened with key. */
static int
open_record(const char *backup_dir, const char *id, cJSON *meta,
    const unsigned char *key, struct errbuf *err)
{
	const char	*want = cJSON_GetStringValue(cJSON_GetObjectItem(meta,
			    "sealed_sha256"));
	char		 path[PATH_MAX], hex[65], *data;
	unsigned char	*plain;
	size_t		 len, plen;
	cJSON		*inner;
	int		 r;

	snprintf(path, sizeof(path), "%s/%s/%s", backup_dir, id,
	    SNAPSHOT_SEALED);
	if (want == NULL || read_file(path, &data, &len, NULL) < 0) {
		errbuf_set(err, "snapshot %s: its sealed record is missing", id);
		return -EBADMSG;
	}
	if ((r = crypto_sha256_hex(data, len, hex, err)) < 0 ||
	    strcmp(hex, want) != 0) {
		free(data);
		if (r == 0)
			errbuf_set(err, "snapshot %s: its sealed record does not "
			    "match its SHA-256", id);
		return r < 0 ? r : -EBADMSG;
	}
	if (key == NULL) {
		free(data);
		return 0;
	}
	r = crypto_unseal(key, data, len, &plain, &plen, err);
	free(data);
	if (r < 0) {
		if (r == -EBADMSG)
			errbuf_set(err, "snapshot %s is encrypted and does not "
			    "decrypt with this key", id);
		return r;
	}
	inner = cJSON_ParseWithLength((const char *)plain, plen);
	explicit_bzero(plain, plen);
	free(plain);
	if (inner == NULL) {
		errbuf_set(err, "snapshot %s: its sealed record is not JSON", id);
		return -EBADMSG;
	}
	cJSON_AddItemToObject(meta, "state", cJSON_DetachItemFromObject(inner,
	    "state"));
	cJSON_AddItemToObject(meta, "config", cJSON_DetachItemFromObject(inner,
	    "config"));
	cJSON_Delete(inner);
	return 0;
}

int
snapshot_create(const char *backup_dir, const char *id,
    const char *deployment_id, const char *server, const cJSON *state,
    const cJSON *config, const char *const *files, size_t nfiles,
    const unsigned char *key, cJSON **meta_out, struct errbuf *err)
{
	char		 tmp[PATH_MAX], final[PATH_MAX], when[40], hex[65];
	cJSON		*meta, *list;
	int		 r;

	if (!valid_id(id)) {
		errbuf_set(err, "snapshot id '%s' is not a plain name", id);
		return -EINVAL;
	}
	if (mkdir(backup_dir, 0700) == -1 && errno != EEXIST) {
		r = -errno;
		errbuf_set(err, "%s: %s", backup_dir, strerror(errno));
		return r;
	}
	snprintf(final, sizeof(final), "%s/%s", backup_dir, id);
	if (access(final, F_OK) == 0) {
		errbuf_set(err, "snapshot %s exists", id);
		return -EEXIST;
	}
	if ((r = make_tmp(backup_dir, id, tmp, sizeof(tmp), err)) < 0)
		return r;
	state_iso_now(when, sizeof(when));
	if ((meta = cJSON_CreateObject()) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	cJSON_AddStringToObject(meta, "id", id);
	cJSON_AddStringToObject(meta, "deployment_id", deployment_id);
	cJSON_AddStringToObject(meta, "server", server);
	cJSON_AddStringToObject(meta, "created_at", when);
	cJSON_AddItemToObject(meta, "state", state != NULL ?
	    cJSON_Duplicate(state, 1) : cJSON_CreateObject());
	cJSON_AddItemToObject(meta, "config", config != NULL ?
	    cJSON_Duplicate(config, 1) : cJSON_CreateObject());
	if (key != NULL && (r = seal_record(tmp, meta, key, err)) < 0)
		goto fail;
	list = cJSON_AddArrayToObject(meta, "files");
	for (size_t i = 0; i < nfiles; i++)
		if ((r = copy_in(tmp, i, files[i], list, key, err)) < 0)
			goto fail;
	if ((r = record_checksum(meta, hex, err)) < 0)
		goto fail;
	cJSON_AddStringToObject(meta, "checksum", hex);
	if ((r = seal(backup_dir, tmp, final, meta, err)) < 0)
		goto fail;
	if (meta_out != NULL)
		*meta_out = meta;
	else
		cJSON_Delete(meta);
	return 0;
fail:
	cJSON_Delete(meta);
	util_remove_tree(tmp);
	return r;
}

int
snapshot_verify(const char *backup_dir, const char *id,
    const unsigned char *key, cJSON **out, struct errbuf *err)
{
	char		 path[PATH_MAX], hex[65];
	const cJSON	*f;
	cJSON		*meta = NULL;
	const char	*sum;
	int		 r;

	if (!valid_id(id)) {
		errbuf_set(err, "snapshot id '%s' is not a plain name", id);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", backup_dir, id,
	    SNAPSHOT_RECORD);
	if ((r = state_read_json(path, &meta)) < 0) {
		errbuf_set(err, "snapshot %s: %s", id, r == -EBADMSG ?
		    "its record is not JSON" : strerror(-r));
		return r;
	}
	sum = cJSON_GetStringValue(cJSON_GetObjectItem(meta, "checksum"));
	if ((r = record_checksum(meta, hex, err)) < 0)
		goto fail;
	if (sum == NULL || strcmp(sum, hex) != 0) {
		errbuf_set(err, "snapshot %s: its record does not match its "
		    "checksum", id);
		r = -EBADMSG;
		goto fail;
	}
	cJSON_ArrayForEach(f, cJSON_GetObjectItem(meta, "files")) {
		const char	*copy = cJSON_GetStringValue(
				    cJSON_GetObjectItem(f, "copy"));
		const char	*want = cJSON_GetStringValue(
				    cJSON_GetObjectItem(f, "sha256"));
		struct stat	 st;
		char		*data;
		size_t		 len;

		if (!cJSON_IsTrue(cJSON_GetObjectItem(f, "existed")))
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", backup_dir, id,
		    copy != NULL ? copy : "");
		if (copy == NULL || want == NULL ||
		    read_file(path, &data, &len, &st) < 0) {
			errbuf_set(err, "snapshot %s: the copy of %s is missing",
			    id, cJSON_GetStringValue(cJSON_GetObjectItem(f,
			    "path")));
			r = -EBADMSG;
			goto fail;
		}
		r = crypto_sha256_hex(data, len, hex, err);
		free(data);
		if (r < 0)
			goto fail;
		if (strcmp(hex, want) != 0) {
			errbuf_set(err, "snapshot %s: the copy of %s does not "
			    "match its SHA-256", id, cJSON_GetStringValue(
			    cJSON_GetObjectItem(f, "path")));
			r = -EBADMSG;
			goto fail;
		}
	}
	if (cJSON_IsTrue(cJSON_GetObjectItem(meta, "encrypted")) &&
	    (r = open_record(backup_dir, id, meta, key, err)) < 0)
		goto fail;
	if (out != NULL)
		*out = meta;
	else
		cJSON_Delete(meta);
	return 0;
fail:
	cJSON_Delete(meta);
	return r;
}

/* Writes data over path atomically, with mode and owner. */
static int
put_back(const char *path, const char *data, size_t len, mode_t mode,
    uid_t uid, gid_t gid)
{
	char	 tmp[PATH_MAX + 32], dir[PATH_MAX], *slash;
	size_t	 off = 0;
	int	 fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.mcpvisor-restore.%d", path,
	    (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1)
		return -errno;
	while (off < len) {
		ssize_t	n = write(fd, data + off, len - off);

		if (n <= 0) {
			r = n == 0 ? -EIO : -errno;
			break;
		}
		off += (size_t)n;
	}
	if (r == 0 && ((fchown(fd, uid, gid) == -1 && geteuid() == 0) ||
	    fchmod(fd, mode) == -1 || fsync(fd) == -1))
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) == -1)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if ((fd = open(dir[0] != '\0' ? dir : "/", O_RDONLY |
		    O_DIRECTORY | O_CLOEXEC)) != -1) {
			fsync(fd);
			close(fd);
		}
	}
	return 0;
}

int
snapshot_restore_files(const char *backup_dir, const cJSON *meta,
    bool cleanup, const unsigned char *key, struct errbuf *err)
{
	bool		 sealed = cJSON_IsTrue(cJSON_GetObjectItem(meta,
			    "encrypted"));
	const char	*id = cJSON_GetStringValue(cJSON_GetObjectItem(meta,
			    "id"));
	const cJSON	*f;
	int		 r;

	cJSON_ArrayForEach(f, cJSON_GetObjectItem(meta, "files")) {
		const char	*path = cJSON_GetStringValue(
				    cJSON_GetObjectItem(f, "path"));
		const char	*copy = cJSON_GetStringValue(
				    cJSON_GetObjectItem(f, "copy"));
		char		 src[PATH_MAX], *data;
		struct stat	 st;
		size_t		 len;
		long long	 mode, uid, gid;

		if (path == NULL || path[0] != '/')
			continue;
		if (!cJSON_IsTrue(cJSON_GetObjectItem(f, "existed"))) {
			/* the new version made it: cleaning up removes it */
			if (cleanup && unlink(path) == -1 && errno != ENOENT) {
				r = -errno;
				errbuf_set(err, "removing %s: %s", path,
				    strerror(errno));
				return r;
			}
			continue;
		}
		snprintf(src, sizeof(src), "%s/%s/%s", backup_dir,
		    id != NULL ? id : "", copy != NULL ? copy : "");
		if ((r = read_file(src, &data, &len, &st)) < 0) {
			errbuf_set(err, "%s: %s", src, strerror(-r));
			return r;
		}
		if (sealed) {
			unsigned char	*plain;
			size_t		 plen;

			r = key == NULL ? -EACCES : crypto_unseal(key, data,
			    len, &plain, &plen, err);
			free(data);
			if (r < 0) {
				errbuf_set(err, "snapshot %s: the copy of %s "
				    "does not decrypt%s", id != NULL ? id : "?",
				    path, key == NULL ? ": no key" :
				    " with this key");
				return r;
			}
			data = (char *)plain;
			len = plen;
		}
		mode = json_int_within(cJSON_GetObjectItem(f, "mode"), 0, 07777,
		    -1);
		uid = json_int_within(cJSON_GetObjectItem(f, "uid"), 0,
		    UINT32_MAX - 1, -1);
		gid = json_int_within(cJSON_GetObjectItem(f, "gid"), 0,
		    UINT32_MAX - 1, -1);
		if (mode < 0 || uid < 0 || gid < 0) {
			free(data);
			errbuf_set(err, "snapshot %s: the mode or owner of %s "
			    "is damaged", id != NULL ? id : "?", path);
			return -EINVAL;
		}
		r = put_back(path, data, len, (mode_t)mode, (uid_t)uid,
		    (gid_t)gid);
		explicit_bzero(data, len);
		free(data);
		if (r < 0) {
			errbuf_set(err, "restoring %s: %s", path, strerror(-r));
			return r;
		}
	}
	return 0;
}

static int
newest_first(const void *a, const void *b)
{
	const cJSON	*x = *(const cJSON *const *)a;
	const cJSON	*y = *(const cJSON *const *)b;
	const char	*tx = cJSON_GetStringValue(cJSON_GetObjectItem(x,
			    "created_at"));
	const char	*ty = cJSON_GetStringValue(cJSON_GetObjectItem(y,
			    "created_at"));
	int		 c = strcmp(ty != NULL ? ty : "", tx != NULL ? tx : "");

	return c != 0 ? c : strcmp(
	    cJSON_GetStringValue(cJSON_GetObjectItem(y, "id")),
	    cJSON_GetStringValue(cJSON_GetObjectItem(x, "id")));
}

int
snapshot_list(const char *backup_dir, cJSON **out)
{
	DIR		*d;
	struct dirent	*de;
	cJSON		**v = NULL, *arr;
	size_t		 n = 0;

	if ((arr = cJSON_CreateArray()) == NULL)
		return -ENOMEM;
	if ((d = opendir(backup_dir)) == NULL) {
		if (errno == ENOENT) {
			*out = arr;
			return 0;
		}
		cJSON_Delete(arr);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		struct errbuf	 err = { "" };
		cJSON		*meta = NULL, *s, **nv;
		char		 path[PATH_MAX];
		double		 size = 0;
		const cJSON	*f;
		int		 r;

		if (de->d_name[0] == '.' || !valid_id(de->d_name))
			continue;
		r = snapshot_verify(backup_dir, de->d_name, NULL, &meta, &err);
		if (meta == NULL) {
			/* unreadable or corrupt: listed, without its details */
			snprintf(path, sizeof(path), "%s/%s/%s", backup_dir,
			    de->d_name, SNAPSHOT_RECORD);
			state_read_json(path, &meta);
		}
		if ((s = cJSON_CreateObject()) == NULL ||
		    (nv = realloc(v, (n + 1) * sizeof(*v))) == NULL) {
			cJSON_Delete(s);
			cJSON_Delete(meta);
			break;
		}
		v = nv;
		cJSON_AddStringToObject(s, "id", de->d_name);
		cJSON_AddStringToObject(s, "deployment_id", meta != NULL &&
		    cJSON_GetStringValue(cJSON_GetObjectItem(meta,
		    "deployment_id")) != NULL ? cJSON_GetStringValue(
		    cJSON_GetObjectItem(meta, "deployment_id")) : "?");
		cJSON_AddStringToObject(s, "server", meta != NULL &&
		    cJSON_GetStringValue(cJSON_GetObjectItem(meta, "server")) !=
		    NULL ? cJSON_GetStringValue(cJSON_GetObjectItem(meta,
		    "server")) : "?");
		cJSON_AddStringToObject(s, "created_at", meta != NULL &&
		    cJSON_GetStringValue(cJSON_GetObjectItem(meta,
		    "created_at")) != NULL ? cJSON_GetStringValue(
		    cJSON_GetObjectItem(meta, "created_at")) : "");
		cJSON_ArrayForEach(f, cJSON_GetObjectItem(meta, "files"))
			size += cJSON_GetNumberValue(cJSON_GetObjectItem(f,
			    "size")) > 0 ? cJSON_GetNumberValue(
			    cJSON_GetObjectItem(f, "size")) : 0;
		cJSON_AddNumberToObject(s, "files", cJSON_GetArraySize(
		    cJSON_GetObjectItem(meta, "files")));
		cJSON_AddNumberToObject(s, "size", size);
		cJSON_AddStringToObject(s, "integrity", r == 0 ? "ok" :
		    err.msg);
		cJSON_Delete(meta);
		v[n++] = s;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), newest_first);
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, v[i]);
	free(v);
	*out = arr;
	return (int)n;
}

int
snapshot_prune(const char *backup_dir, unsigned keep)
{
	cJSON		*list, *a;
	const cJSON	*s;
	char		 path[PATH_MAX];
	int		 n, removed = 0;

	if ((n = snapshot_list(backup_dir, &list)) < 0)
		return n;
	cJSON_ArrayForEach(s, list) {
		const char	*server = cJSON_GetStringValue(
				    cJSON_GetObjectItem(s, "server"));
		unsigned	 newer = 0;

		/* the list is newest first: count this server's before s */
		cJSON_ArrayForEach(a, list) {
			if (a == s)
				break;
			newer += strcmp(cJSON_GetStringValue(
			    cJSON_GetObjectItem(a, "server")), server) == 0;
		}
		if (newer < keep)
			continue;
		snprintf(path, sizeof(path), "%s/%s", backup_dir,
		    cJSON_GetStringValue(cJSON_GetObjectItem(s, "id")));
		util_remove_tree(path);
		removed++;
	}
	cJSON_Delete(list);
	return removed;
}

/* 32 bytes, or 64 hex digits (and a newline), into key. */
static bool
key_from(const char *data, size_t len, unsigned char key[32])
{
	if (len == 32) {
		memcpy(key, data, 32);
		return true;
	}
	if (len == 65 && data[64] == '\n')
		len = 64;
	if (len != 64)
		return false;
	for (size_t i = 0; i < 32; i++) {
		unsigned	b;

		if (sscanf(data + 2 * i, "%2x", &b) != 1)
			return false;
		key[i] = (unsigned char)b;
	}
	return true;
}

int
snapshot_key_load(const char *state_dir, bool create, unsigned char key[32],
    struct errbuf *err)
{
	const char	*creds = getenv("CREDENTIALS_DIRECTORY");
	char		 path[PATH_MAX], *data;
	unsigned char	 fresh[32];
	struct stat	 st;
	size_t		 len;
	int		 fd, r;

	if (creds != NULL && creds[0] == '/') {
		snprintf(path, sizeof(path), "%s/mcpvisor-snapshot-key", creds);
		if (read_file_capped(path, 0, 128, &data, &len, NULL) == 0) {
			bool	ok = key_from(data, len, key);

			explicit_bzero(data, len);
			free(data);
			if (ok)
				return 0;
			errbuf_set(err, "%s: not 32 bytes or 64 hex digits", path);
			return -EINVAL;
		}
	}
	snprintf(path, sizeof(path), "%s/keys", state_dir);
	if (create && mkdir(path, 0700) == -1 && errno != EEXIST) {
		r = -errno;
		errbuf_set(err, "%s: %s", path, strerror(errno));
		return r;
	}
	snprintf(path, sizeof(path), "%s/keys/snapshot.key", state_dir);
	if (create && (fd = open(path, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) != -1) {
		r = getrandom(fresh, sizeof(fresh), 0) == sizeof(fresh) &&
		    write_all(fd, fresh, sizeof(fresh)) == 0 && fsync(fd) == 0 ?
		    0 : -EIO;
		explicit_bzero(fresh, sizeof(fresh));
		close(fd);
		if (r < 0) {
			unlink(path);
			errbuf_set(err, "%s: cannot write a key", path);
			return r;
		}
	}
	if ((r = read_file_capped(path, O_NOFOLLOW, 128, &data, &len, &st)) <
	    0) {
		if (r != -ENOENT)
			errbuf_set(err, "%s: %s", path, strerror(-r));
		return r;
	}
	r = 0;
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		errbuf_set(err, "%s: others can read it, or it is not ours: "
		    "refused", path);
		r = -EPERM;
	} else if (!key_from(data, len, key)) {
		errbuf_set(err, "%s: not 32 bytes or 64 hex digits", path);
		r = -EINVAL;
	}
	explicit_bzero(data, len);
	free(data);
	return r;
}
