/*
 * YAML to ynode tree, with libyaml's event parser. The tree keeps every
 * node's position; typing of plain scalars follows the YAML core schema,
 * restricted: only true/false are booleans (so "yes" and "no" stay the
 * strings they look like), only ~/null/empty are null.
 */
#include "ynode.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "diag.h"
#include "util.h"

struct ynode *
ynode_new(enum ynode_kind kind, const struct ymark *m)
{
	struct ynode	*n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->kind = kind;
	ymark_copy(&n->mark, m);
	return n;
}

struct ynode *
ynode_new_string(const char *s, size_t len, const struct ymark *m)
{
	struct ynode	*n;

	if ((n = ynode_new(YNODE_STRING, m)) == NULL)
		return NULL;
	if ((n->text = strndup(s, len)) == NULL) {
		ynode_free(n);
		return NULL;
	}
	n->len = strlen(n->text);
	return n;
}

void
ynode_free(struct ynode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->count; i++) {
		if (n->keys != NULL)
			ynode_free(n->keys[i]);
		ynode_free(n->items[i]);
	}
	free(n->keys);
	free(n->items);
	free(n->text);
	ymark_release(&n->mark);
	free(n);
}

/* Arrays grow only by one at a time, so their capacity is implied by the
 * count: 4, then every power of two. */
static int
ynode_grow(struct ynode *n)
{
	size_t	cap;
	void	*p;

	if (n->count == 0)
		cap = 4;
	else if (n->count >= 4 && (n->count & (n->count - 1)) == 0)
		cap = n->count * 2;
	else
		return 0;
	if (cap > SIZE_MAX / sizeof(struct ynode *))
		return -ENOMEM;
	if ((p = realloc(n->items, cap * sizeof(struct ynode *))) == NULL)
		return -ENOMEM;
	n->items = p;
	if (n->kind == YNODE_MAP) {
		if ((p = realloc(n->keys, cap * sizeof(struct ynode *))) ==
		    NULL)
			return -ENOMEM;
		n->keys = p;
	}
	return 0;
}

int
ynode_seq_push(struct ynode *seq, struct ynode *item)
{
	if (ynode_grow(seq) < 0) {
		ynode_free(item);
		return -ENOMEM;
	}
	seq->items[seq->count++] = item;
	return 0;
}

static int
ynode_map_push(struct ynode *map, struct ynode *key, struct ynode *value)
{
	if (ynode_grow(map) < 0) {
		ynode_free(key);
		ynode_free(value);
		return -ENOMEM;
	}
	map->keys[map->count] = key;
	map->items[map->count] = value;
	map->count++;
	return 0;
}

struct ynode *
ynode_map_get(const struct ynode *map, const char *key)
{
	if (map == NULL || map->kind != YNODE_MAP)
		return NULL;
	for (size_t i = 0; i < map->count; i++)
		if (strcmp(map->keys[i]->text, key) == 0)
			return map->items[i];
	return NULL;
}

int
ynode_map_set(struct ynode *map, const char *key, const struct ymark *keymark,
    struct ynode *value)
{
	struct ynode	*k;

	for (size_t i = 0; i < map->count; i++) {
		if (strcmp(map->keys[i]->text, key) == 0) {
			ynode_free(map->items[i]);
			map->items[i] = value;
			return 0;
		}
	}
	if ((k = ynode_new_string(key, strlen(key), keymark)) == NULL) {
		ynode_free(value);
		return -ENOMEM;
	}
	return ynode_map_push(map, k, value);
}

struct ynode *
ynode_path(const struct ynode *root, const char *path)
{
	const struct ynode	*n = root;
	char			 part[256];

	while (n != NULL && *path != '\0') {
		size_t	len = strcspn(path, ".");

		if (len >= sizeof(part))
			return NULL;
		memcpy(part, path, len);
		part[len] = '\0';
		n = ynode_map_get(n, part);
		path += len;
		if (*path == '.')
			path++;
	}
	return (struct ynode *)(uintptr_t)n;
}

struct ynode *
ynode_copy(const struct ynode *n)
{
	struct ynode	*c;

	if ((c = ynode_new(n->kind, &n->mark)) == NULL)
		return NULL;
	c->flags = n->flags & (YNODE_SECRET | YNODE_RENDERED |
	    YNODE_PLACEHOLDER);
	c->v = n->v;
	if (n->text != NULL) {
		if ((c->text = strdup(n->text)) == NULL)
			goto fail;
		c->len = n->len;
	}
	for (size_t i = 0; i < n->count; i++) {
		struct ynode	*item, *key = NULL;

		if ((item = ynode_copy(n->items[i])) == NULL)
			goto fail;
		if (n->kind == YNODE_MAP) {
			if ((key = ynode_copy(n->keys[i])) == NULL) {
				ynode_free(item);
				goto fail;
			}
			if (ynode_map_push(c, key, item) < 0)
				goto fail;
		} else if (ynode_seq_push(c, item) < 0)
			goto fail;
	}
	return c;
fail:
	ynode_free(c);
	return NULL;
}

int
ynode_merge(struct ynode *dst, const struct ynode *over)
{
	for (size_t i = 0; i < over->count; i++) {
		const char	*key = over->keys[i]->text;
		struct ynode	*cur = ynode_map_get(dst, key), *c;

		if (cur != NULL && cur->kind == YNODE_MAP &&
		    over->items[i]->kind == YNODE_MAP) {
			if (ynode_merge(cur, over->items[i]) < 0)
				return -ENOMEM;
			continue;
		}
		if ((c = ynode_copy(over->items[i])) == NULL)
			return -ENOMEM;
		if (ynode_map_set(dst, key, &over->keys[i]->mark, c) < 0)
			return -ENOMEM;
	}
	return 0;
}

bool
ynode_is_scalar(const struct ynode *n)
{
	return n != NULL && n->kind != YNODE_MAP && n->kind != YNODE_SEQ;
}

bool
ynode_is_template(const struct ynode *n)
{
	const char	*s;

	if (n == NULL || n->kind != YNODE_STRING || (n->flags & YNODE_RENDERED))
		return false;
	/* an expression, a statement or a comment: template.h's */
	for (s = n->text; (s = strchr(s, '{')) != NULL; s++)
		if (s[1] == '{' || s[1] == '%' || s[1] == '#')
			return true;
	return false;
}

const char *
ynode_kind_name(enum ynode_kind kind)
{
	switch (kind) {
	case YNODE_NULL:	return "null";
	case YNODE_BOOL:	return "boolean";
	case YNODE_INT:		return "integer";
	case YNODE_FLOAT:	return "number";
	case YNODE_STRING:	return "string";
	case YNODE_MAP:		return "mapping";
	case YNODE_SEQ:		return "list";
	}
	return "?";
}

struct cJSON *
ynode_to_json(const struct ynode *n, bool redact)
{
	cJSON	*j = NULL, *child;

	if (n == NULL)
		return cJSON_CreateNull();
	if (redact && (n->flags & YNODE_SECRET) && ynode_is_scalar(n))
		return cJSON_CreateString("***");
	switch (n->kind) {
	case YNODE_NULL:
		return cJSON_CreateNull();
	case YNODE_BOOL:
		return cJSON_CreateBool(n->v.b);
	case YNODE_INT:
		return cJSON_CreateNumber((double)n->v.i);
	case YNODE_FLOAT:
		return cJSON_CreateNumber(n->v.f);
	case YNODE_STRING:
		return cJSON_CreateString(n->text);
	case YNODE_MAP:
	case YNODE_SEQ:
		j = n->kind == YNODE_MAP ? cJSON_CreateObject() :
		    cJSON_CreateArray();
		if (j == NULL)
			return NULL;
		for (size_t i = 0; i < n->count; i++) {
			if ((child = ynode_to_json(n->items[i], redact)) ==
			    NULL) {
				cJSON_Delete(j);
				return NULL;
			}
			if (n->kind == YNODE_MAP)
				cJSON_AddItemToObject(j, n->keys[i]->text,
				    child);
			else
				cJSON_AddItemToArray(j, child);
		}
		return j;
	}
	return NULL;
}

/* --- loading --- */

struct load_level {
	struct ynode	*node;
	struct ynode	*key;	/* map: key waiting for its value */
};

struct loader {
	yaml_parser_t		 parser;
	struct ysource		*src;
	struct diag_list	*dl;
	struct load_level	 stack[YNODE_DEPTH_MAX];
	size_t			 depth;
	struct ynode		*root;
	unsigned		 documents;
	bool			 failed;
};

static void
loader_mark(const struct loader *ld, const yaml_mark_t *ym, struct ymark *m)
{
	m->src = ld->src;
	m->line = (unsigned)(ym->line + 1);
	m->col = (unsigned)(ym->column + 1);
}

static void
loader_error(struct loader *ld, const yaml_mark_t *ym, const char *msg)
{
	struct ymark	m;

	loader_mark(ld, ym, &m);
	diag_add(ld->dl, DIAG_ERROR, &m, "%s", msg);
	ld->failed = true;
}

static bool
text_is(const char *s, const char *const *words)
{
	for (; *words != NULL; words++)
		if (strcmp(s, *words) == 0)
			return true;
	return false;
}

static bool
text_is_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static bool
text_is_float(const char *s)
{
	bool	digits = false, dot = false;

	if (*s == '-' || *s == '+')
		s++;
	for (; *s != '\0' && *s != 'e' && *s != 'E'; s++) {
		if (*s == '.' && !dot)
			dot = true;
		else if (*s >= '0' && *s <= '9')
			digits = true;
		else
			return false;
	}
	if (!digits || !dot)
		return false;
	if (*s == '\0')
		return true;
	s++;
	if (*s == '-' || *s == '+')
		s++;
	return text_is_int(s);
}

/* Types a plain scalar. Returns false (with *why) when it looks like a
 * number but cannot be one. */
static bool
resolve_plain(struct ynode *n, const char **why)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL",
	    NULL };
	static const char *const trues[] = { "true", "True", "TRUE", NULL };
	static const char *const falses[] = { "false", "False", "FALSE",
	    NULL };

	if (text_is(n->text, nulls))
		n->kind = YNODE_NULL;
	else if (text_is(n->text, trues)) {
		n->kind = YNODE_BOOL;
		n->v.b = true;
	} else if (text_is(n->text, falses)) {
		n->kind = YNODE_BOOL;
		n->v.b = false;
	} else if (text_is_int(n->text)) {
		errno = 0;
		n->v.i = strtoll(n->text, NULL, 10);
		if (errno == ERANGE) {
			*why = "integer out of range";
			return false;
		}
		n->kind = YNODE_INT;
	} else if (text_is_float(n->text)) {
		n->v.f = strtod(n->text, NULL);
		if (!isfinite(n->v.f)) {
			*why = "number out of range";
			return false;
		}
		n->kind = YNODE_FLOAT;
	}
	return true;
}

static struct ynode *
loader_scalar(struct loader *ld, const yaml_event_t *ev)
{
	const char	*value = (const char *)ev->data.scalar.value;
	size_t		 len = ev->data.scalar.length;
	const char	*tag = (const char *)ev->data.scalar.tag;
	const char	*why = NULL;
	struct ymark	 m;
	struct ynode	*n;

	loader_mark(ld, &ev->start_mark, &m);
	if (memchr(value, '\0', len) != NULL) {
		loader_error(ld, &ev->start_mark, "string holds a NUL byte");
		return ynode_new(YNODE_NULL, &m);
	}
	if ((n = ynode_new_string(value, len, &m)) == NULL)
		return NULL;
	if (tag != NULL && strcmp(tag, YAML_STR_TAG) != 0 &&
	    strcmp(tag, "!") != 0) {
		diag_add(ld->dl, DIAG_ERROR, &m,
		    "tag '%s' is not supported (quote the value instead)", tag);
		ld->failed = true;
		return n;
	}
	if (tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    !resolve_plain(n, &why)) {
		diag_add(ld->dl, DIAG_ERROR, &m, "%s: '%s'", why, n->text);
		ld->failed = true;
	}
	return n;
}

static int
key_order(const void *a, const void *b)
{
	const struct ynode *const *ka = a, *const *kb = b;
	int	c = strcmp((*ka)->text, (*kb)->text);

	if (c != 0)
		return c;
	/* stable: the earlier key first, so the later one is reported */
	if ((*ka)->mark.line != (*kb)->mark.line)
		return (*ka)->mark.line < (*kb)->mark.line ? -1 : 1;
	return (*ka)->mark.col < (*kb)->mark.col ? -1 :
	    (*ka)->mark.col > (*kb)->mark.col;
}

/* Sorting finds duplicates in n log n: a map of many keys must not cost
 * quadratic time. */
static int
loader_check_duplicates(struct loader *ld, const struct ynode *map)
{
	struct ynode	**sorted;

	if (map->count < 2)
		return 0;
	if ((sorted = malloc(map->count * sizeof(*sorted))) == NULL)
		return -ENOMEM;
	memcpy(sorted, map->keys, map->count * sizeof(*sorted));
	qsort(sorted, map->count, sizeof(*sorted), key_order);
	for (size_t i = 1; i < map->count; i++) {
		if (strcmp(sorted[i - 1]->text, sorted[i]->text) == 0) {
			diag_add(ld->dl, DIAG_ERROR, &sorted[i]->mark,
			    "duplicate key '%s' (first at line %u)",
			    sorted[i]->text, sorted[i - 1]->mark.line);
			ld->failed = true;
		}
	}
	free(sorted);
	return 0;
}

/* Hands a finished node to its parent, or makes it the root. */
static int
loader_attach(struct loader *ld, struct ynode *n)
{
	struct load_level	*top;

	if (ld->depth == 0) {
		ynode_free(ld->root);
		ld->root = n;
		return 0;
	}
	top = &ld->stack[ld->depth - 1];
	if (top->node->kind == YNODE_SEQ)
		return ynode_seq_push(top->node, n);
	if (top->key == NULL) {
		if (!ynode_is_scalar(n) || n->text == NULL) {
			diag_add(ld->dl, DIAG_ERROR, &n->mark,
			    "a mapping key must be a plain value, not a %s",
			    ynode_kind_name(n->kind));
			ld->failed = true;
			ynode_free(n);
			n = ynode_new_string("?", 1, NULL);
			if (n == NULL)
				return -ENOMEM;
		}
		/* keys are names, whatever they look like */
		n->kind = YNODE_STRING;
		top->key = n;
		return 0;
	}
	if (ynode_map_push(top->node, top->key, n) < 0) {
		top->key = NULL;
		return -ENOMEM;
	}
	top->key = NULL;
	return 0;
}

/* Returns 1 to go on, 0 at the end of the stream, negative on a fatal
 * problem (already reported). */
static int
loader_event(struct loader *ld, const yaml_event_t *ev)
{
	struct ymark	 m;
	struct ynode	*n;

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++ld->documents > 1) {
			loader_error(ld, &ev->start_mark,
			    "a file holds one YAML document; found a second");
			return -EINVAL;
		}
		return 1;
	case YAML_ALIAS_EVENT:
		loader_error(ld, &ev->start_mark,
		    "aliases (*name) are not supported");
		loader_mark(ld, &ev->start_mark, &m);
		if ((n = ynode_new(YNODE_NULL, &m)) == NULL)
			return -ENOMEM;
		return loader_attach(ld, n) < 0 ? -ENOMEM : 1;
	case YAML_SCALAR_EVENT:
		if ((n = loader_scalar(ld, ev)) == NULL)
			return -ENOMEM;
		return loader_attach(ld, n) < 0 ? -ENOMEM : 1;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (ld->depth == YNODE_DEPTH_MAX) {
			loader_error(ld, &ev->start_mark,
			    "nesting deeper than 64 levels");
			return -EINVAL;
		}
		loader_mark(ld, &ev->start_mark, &m);
		n = ynode_new(ev->type == YAML_MAPPING_START_EVENT ?
		    YNODE_MAP : YNODE_SEQ, &m);
		if (n == NULL)
			return -ENOMEM;
		ld->stack[ld->depth].node = n;
		ld->stack[ld->depth].key = NULL;
		ld->depth++;
		return 1;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		n = ld->stack[--ld->depth].node;
		if (n->kind == YNODE_MAP && loader_check_duplicates(ld, n) < 0) {
			ynode_free(n);
			return -ENOMEM;
		}
		return loader_attach(ld, n) < 0 ? -ENOMEM : 1;
	default:
		return 1;
	}
}

static void
loader_syntax_error(struct loader *ld)
{
	const yaml_parser_t	*p = &ld->parser;
	struct ymark		 m;

	loader_mark(ld, &p->problem_mark, &m);
	if (p->error == YAML_MEMORY_ERROR)
		diag_add(ld->dl, DIAG_ERROR, &m, "out of memory");
	else if (p->context != NULL)
		diag_add(ld->dl, DIAG_ERROR, &m, "%s (%s at line %zu)",
		    p->problem != NULL ? p->problem : "syntax error",
		    p->context, p->context_mark.line + 1);
	else
		diag_add(ld->dl, DIAG_ERROR, &m, "%s",
		    p->problem != NULL ? p->problem : "syntax error");
	ld->failed = true;
}

int
ynode_load_buffer(const char *name, const char *buf, size_t len,
    struct ynode **root, struct diag_list *dl)
{
	struct loader	 ld;
	yaml_event_t	 ev;
	int		 r = 0;

	memset(&ld, 0, sizeof(ld));
	ld.dl = dl;
	if (len > YNODE_FILE_MAX) {
		diag_add_file(dl, DIAG_ERROR, name,
		    "file is larger than %u bytes", YNODE_FILE_MAX);
		return -EFBIG;
	}
	if ((ld.src = ysource_new(name)) == NULL)
		return -ENOMEM;
	if (!yaml_parser_initialize(&ld.parser)) {
		ysource_unref(ld.src);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&ld.parser, (const unsigned char *)buf,
	    len);
	for (;;) {
		if (!yaml_parser_parse(&ld.parser, &ev)) {
			loader_syntax_error(&ld);
			r = -EINVAL;
			break;
		}
		r = loader_event(&ld, &ev);
		yaml_event_delete(&ev);
		if (r <= 0)
			break;
	}
	if (r == -ENOMEM)
		diag_add_file(dl, DIAG_ERROR, name, "out of memory");
	while (ld.depth > 0) {
		ld.depth--;
		ynode_free(ld.stack[ld.depth].key);
		ynode_free(ld.stack[ld.depth].node);
	}
	yaml_parser_delete(&ld.parser);
	ysource_unref(ld.src);
	if (r < 0 || ld.failed) {
		ynode_free(ld.root);
		return r < 0 ? r : -EINVAL;
	}
	*root = ld.root;
	return 0;
}

int
ynode_load_file(const char *path, struct ynode **root, struct diag_list *dl)
{
	char	*buf;
	size_t	 len;
	int	 r;

	if ((r = read_file_capped(path, 0, YNODE_FILE_MAX, &buf, &len,
	    NULL)) < 0) {
		switch (r) {
		case -EINVAL:
			diag_add_file(dl, DIAG_ERROR, path,
			    "not a regular file");
			break;
		case -EFBIG:
			diag_add_file(dl, DIAG_ERROR, path,
			    "file is larger than %u bytes", YNODE_FILE_MAX);
			break;
		case -EAGAIN:
			diag_add_file(dl, DIAG_ERROR, path,
			    "file grew while being read");
			break;
		default:
			diag_add_file(dl, DIAG_ERROR, path, "cannot open: %s",
			    strerror(-r));
			break;
		}
		return r;
	}
	r = ynode_load_buffer(path, buf, len, root, dl);
	free(buf);
	return r;
}
