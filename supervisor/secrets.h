/*
 * The secrets of a deployment: every secret value, and every string
 * derived from one, held in memory only, so that they can be scrubbed
 * from whatever a worker reports (a check's output may hold what its
 * program printed) before it reaches an event, a log or a record.
 */
#ifndef MCPVISOR_SECRETS_H
#define MCPVISOR_SECRETS_H

#include <stddef.h>

struct cJSON;
struct ynode;

struct secret_set {
	char	**v;
	size_t	  n;
};

/* Adds one (copied; a duplicate is not). 0 or -ENOMEM. */
int	secrets_add(struct secret_set *, const char *text);
/* Adds the secret strings of a rendered tree: three characters or more,
 * since shorter ones would scrub ordinary text. 0 or -ENOMEM. */
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
/* Wipes and frees them. */
void	secrets_clear(struct secret_set *);

#endif
