/*
 * A YAML document as a tree of nodes, each remembering the file, line
 * and column it came from, so that every later check can say where the
 * offending value was written. Loading rejects what mcpvisor never needs
 * and what makes YAML dangerous: aliases (no billion laughs), several
 * documents in one file, nesting deeper than YNODE_DEPTH_MAX, files over
 * YNODE_FILE_MAX, duplicate keys, non-string keys and NUL bytes.
 */
#ifndef MCPVISOR_YNODE_H
#define MCPVISOR_YNODE_H

#include <stdbool.h>
#include <stddef.h>

struct diag_list;
struct cJSON;

#define YNODE_DEPTH_MAX	64
#define YNODE_FILE_MAX	(4u << 20)

#include "ymark.h"

enum ynode_kind {
	YNODE_NULL,
	YNODE_BOOL,
	YNODE_INT,
	YNODE_FLOAT,
	YNODE_STRING,
	YNODE_MAP,
	YNODE_SEQ,
};

/* flags */
#define YNODE_SECRET	0x01	/* holds or derives from a secret */
#define YNODE_RENDERING	0x02	/* template expansion in progress */
#define YNODE_RENDERED	0x04	/* template already expanded */
#define YNODE_PLACEHOLDER 0x08	/* stands for a secret that is not set */
#define YNODE_BROKEN	0x10	/* its template failed (already reported) */

struct ynode {
	enum ynode_kind	 kind;
	unsigned	 flags;
	struct ymark	 mark;
	char		*text;	/* scalars: the text, NUL-terminated */
	size_t		 len;	/* scalars: strlen(text) */
	union {
		bool		 b;
		long long	 i;
		double		 f;
	} v;
	size_t		 count;	/* map: pairs; seq: items */
	struct ynode	**keys;	/* map: string keys, parallel to items */
	struct ynode	**items;
};

/* Parses the file at path. Returns 0 and sets *root (the caller owns it,
 * NULL for an empty document) when the file is well-formed YAML within
 * the limits above; otherwise adds every problem found to dl and returns
 * -EINVAL (or another negative errno when the file cannot be read). */
int	ynode_load_file(const char *path, struct ynode **root,
	    struct diag_list *dl);
/* As ynode_load_file() for a buffer; name is used in diagnostics. */
int	ynode_load_buffer(const char *name, const char *buf, size_t len,
	    struct ynode **root, struct diag_list *dl);

/* Constructors return NULL on ENOMEM; mark may be NULL. */
struct ynode	*ynode_new(enum ynode_kind, const struct ymark *);
struct ynode	*ynode_new_string(const char *, size_t, const struct ymark *);
struct ynode	*ynode_copy(const struct ynode *);
void		 ynode_free(struct ynode *);	/* accepts NULL */

/* Map access. ynode_map_get returns a borrowed node or NULL. */
struct ynode	*ynode_map_get(const struct ynode *map, const char *key);
/* Sets key to value, replacing (and freeing) any old value. Takes
 * ownership of value, even on failure. Returns 0 or -ENOMEM. */
int		 ynode_map_set(struct ynode *map, const char *key,
		    const struct ymark *keymark, struct ynode *value);
/* Appends to a sequence; takes ownership of item. 0 or -ENOMEM. */
int		 ynode_seq_push(struct ynode *seq, struct ynode *item);
/* Follows a dotted path ("api.rate_limit") through maps. */
struct ynode	*ynode_path(const struct ynode *root, const char *path);

/* Deep-merges over into dst: maps merge key by key, anything else is
 * replaced by a copy of the overriding value. 0 or -ENOMEM. */
int		 ynode_merge(struct ynode *dst, const struct ynode *over);

bool		 ynode_is_scalar(const struct ynode *);
/* Whether the string holds "{{" and so must be rendered. */
bool		 ynode_is_template(const struct ynode *);
const char	*ynode_kind_name(enum ynode_kind);

/* JSON view of a tree. With redact, secret scalars become "***".
 * Returns a new tree the caller owns, or NULL on ENOMEM. */
struct cJSON	*ynode_to_json(const struct ynode *, bool redact);

#endif
