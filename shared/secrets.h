/*
 * The secrets of a deployment: every secret value, and every string
 * derived from one, held in memory only, so that they can be scrubbed
 * from whatever a worker reports (a check's output may hold what its
 * program printed) before it reaches an event, a log or a record.
 */
#ifndef MCPVISOR_SECRETS_H
#define MCPVISOR_SECRETS_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct errbuf;
struct ynode;

/* shorter ones would scrub ordinary text */
#define SECRET_MIN	3

struct secret_set {
	char	**v;
	size_t	  n;
	size_t	  longest;
};

/* A stream scrubbed on its way (a server's output): held back only as
 * long as its tail could be the start of a secret. */
struct secret_stream {
	char	buf[8192];
	size_t	len;
};
typedef void secrets_out_fn(const char *, size_t, void *arg);

/* Adds one (copied; a duplicate is not), and each line of one that has
 * several. 0 or -ENOMEM. */
int	secrets_add(struct secret_set *, const char *text);
/* Adds the secret strings of a rendered tree (SECRET_MIN characters or
 * more) and the base64 form of each (secrets_collect.c). 0 or
 * -ENOMEM. */
int	secrets_collect(struct secret_set *, const struct ynode *);
/* Adds every secret of src (dst comes to hold configurations of src's).
 * 0 or -ENOMEM. */
int	secrets_merge(struct secret_set *dst, const struct secret_set *src);
/* Overwrites every occurrence of a secret in text with asterisks. */
void	secrets_scrub(const struct secret_set *, char *text, size_t len);
/* The same in every string (and key) of a tree: the text as it is, not
 * as JSON escaped it, so that a secret holding a quote or a backslash is
 * found too. */
void	secrets_scrub_json(const struct secret_set *, struct cJSON *);
/* Passes len bytes of a stream to out, scrubbed, a secret split across
 * two calls included: what could begin one waits for the next bytes. */
void	secrets_stream(const struct secret_set *, struct secret_stream *,
	    const char *, size_t len, secrets_out_fn *out, void *arg);
/* What is held back, scrubbed (the stream ended). */
void	secrets_stream_flush(const struct secret_set *,
	    struct secret_stream *, secrets_out_fn *out, void *arg);
/* Wipes and frees them. */
void	secrets_clear(struct secret_set *);
/* Overwrites every string of a tree (a copy of a configuration holding
 * secrets) before it is freed. Accepts NULL. */
void	secrets_wipe_json(struct cJSON *);

/* Reads an environment (getenv(3), or a request's). */
typedef const char *secret_getenv_fn(void *arg, const char *name);
/* The value of the secret an environment file names by variable name:
 * from name in the environment, else from the file name_FILE names (an
 * absolute path), else from the file name in dir (NULL: none), a
 * trailing newline left out. 1 and a malloc'd *value (wipe it before it
 * is freed), 0 when none of them has it, or a negative errno with why in
 * err (both name and name_FILE set, a file that cannot be read, that is
 * not a regular file or holds more than 64 KiB). (secrets_source.c) */
int	secret_lookup(const char *name, secret_getenv_fn *get, void *arg,
	    const char *dir, char **value, struct errbuf *err);

#endif
