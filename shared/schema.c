/*
 * Schema checks. Messages name the key and the context, and for an
 * unknown key suggest the nearest known one (edit distance), which is
 * what a typo usually is.
 */
#include "schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "ynode.h"

size_t
schema_edit_distance(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);
	size_t	row[65];

	if (la > 64 || lb > 64)
		return 64;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t	diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t	up = row[j];
			size_t	best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static const char *
nearest_field(const struct schema_field *fields, const char *key)
{
	const char	*best = NULL;
	size_t		 bestd = 3;	/* farther than 2 edits is no typo */

	for (; fields->key != NULL; fields++) {
		size_t	d = schema_edit_distance(fields->key, key);

		if (d < bestd) {
			bestd = d;
			best = fields->key;
		}
	}
	return best;
}

const char *
schema_nearest(const char *const *words, const char *key)
{
	const char	*best = NULL;
	size_t		 bestd = 3;

	for (; *words != NULL; words++) {
		size_t	d = schema_edit_distance(*words, key);

		if (d < bestd) {
			bestd = d;
			best = *words;
		}
	}
	return best;
}

static void
list_fields(const struct schema_field *fields, char *buf, size_t size)
{
	size_t	used = 0;

	buf[0] = '\0';
	for (; fields->key != NULL && used < size; fields++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s",
		    used ? ", " : "", fields->key);
}

static const char *
schema_type_name(const struct schema *s)
{
	switch (s->type) {
	case SCHEMA_STRING:	return "a string";
	case SCHEMA_INT:	return "an integer";
	case SCHEMA_BOOL:	return "a boolean (true or false)";
	case SCHEMA_NUMBER:	return "a number";
	case SCHEMA_SCALAR:	return "a single value";
	case SCHEMA_ENUM:	return "one of";
	case SCHEMA_MAP:
	case SCHEMA_MAP_OF:	return "a mapping";
	case SCHEMA_LIST_OF:	return "a list";
	case SCHEMA_ANY:	return "anything";
	}
	return "?";
}

static bool
text_parses_int(const char *s, long long *out)
{
	char	*end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return *s != '\0' && *end == '\0' && errno == 0;
}

static bool
text_parses_number(const char *s, double *out)
{
	char	*end;

	*out = strtod(s, &end);
	return *s != '\0' && *end == '\0';
}

static bool
text_parses_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else
		return false;
	return true;
}

static unsigned	check_node(const struct ynode *, const struct schema *,
		    const char *, enum schema_phase, struct diag_list *);

static unsigned
wrong_type(const struct ynode *n, const struct schema *s, const char *what,
    struct diag_list *dl)
{
	const char	*or = s->word != NULL ? " or '" : "";
	const char	*word = s->word != NULL ? s->word : "";
	const char	*close = s->word != NULL ? "'" : "";

	if (ynode_is_scalar(n) && n->text != NULL && !(n->flags & YNODE_SECRET))
		diag_add(dl, DIAG_ERROR, &n->mark,
		    "'%s' must be %s%s%s%s, not %s '%.60s'", what,
		    schema_type_name(s), or, word, close,
		    ynode_kind_name(n->kind), n->text);
	else
		diag_add(dl, DIAG_ERROR, &n->mark,
		    "'%s' must be %s%s%s%s, not %s", what, schema_type_name(s),
		    or, word, close, ynode_kind_name(n->kind));
	return 1;
}

static unsigned
check_scalar(const struct ynode *n, const struct schema *s, const char *what,
    enum schema_phase phase, struct diag_list *dl)
{
	bool		 rendered = phase == SCHEMA_RENDERED &&
			    n->kind == YNODE_STRING;
	long long	 i;
	double		 f;
	bool		 b;

	/* before rendering a template may become any value */
	if (phase == SCHEMA_RAW && ynode_is_template(n) &&
	    s->type != SCHEMA_ENUM)
		return 0;
	switch (s->type) {
	case SCHEMA_STRING:
		if (n->kind == YNODE_STRING || n->kind == YNODE_INT ||
		    n->kind == YNODE_FLOAT)
			return 0;
		break;
	case SCHEMA_SCALAR:
		if (ynode_is_scalar(n))
			return 0;
		break;
	case SCHEMA_INT:
		if (s->word != NULL && n->kind == YNODE_STRING &&
		    strcmp(n->text, s->word) == 0)
			return 0;
		if (n->kind == YNODE_INT ||
		    (rendered && text_parses_int(n->text, &i))) {
			i = n->kind == YNODE_INT ? n->v.i : i;
			if (s->min < s->max && (i < s->min || i > s->max)) {
				diag_add(dl, DIAG_ERROR, &n->mark,
				    "'%s' must be from %lld to %lld, not %lld",
				    what, s->min, s->max, i);
				return 1;
			}
			return 0;
		}
		break;
	case SCHEMA_NUMBER:
		if (n->kind == YNODE_INT || n->kind == YNODE_FLOAT ||
		    (rendered && text_parses_number(n->text, &f)))
			return 0;
		break;
	case SCHEMA_BOOL:
		if (n->kind == YNODE_BOOL ||
		    (rendered && text_parses_bool(n->text, &b)))
			return 0;
		break;
	case SCHEMA_ENUM:
		if (n->kind == YNODE_STRING) {
			char	choices[256];
			size_t	used = 0;

			for (const char *const *c = s->choices; *c != NULL; c++)
				if (strcmp(*c, n->text) == 0)
					return 0;
			if (phase == SCHEMA_RAW && ynode_is_template(n))
				return 0;
			choices[0] = '\0';
			for (const char *const *c = s->choices; *c != NULL &&
			    used < sizeof(choices); c++)
				used += (size_t)snprintf(choices + used,
				    sizeof(choices) - used, "%s%s",
				    used ? ", " : "", *c);
			diag_add(dl, DIAG_ERROR, &n->mark,
			    "'%s' must be one of %s, not '%.60s'", what,
			    choices, n->text);
			return 1;
		}
		break;
	default:
		break;
	}
	return wrong_type(n, s, what, dl);
}

static unsigned
check_map(const struct ynode *n, const struct schema *s, const char *what,
    enum schema_phase phase, struct diag_list *dl)
{
	unsigned	errors = 0;
	char		known[512];

	for (size_t i = 0; i < n->count; i++) {
		const char			*key = n->keys[i]->text;
		const struct schema_field	*f;

		for (f = s->fields; f->key != NULL; f++)
			if (strcmp(f->key, key) == 0)
				break;
		if (f->key == NULL) {
			const char	*near = nearest_field(s->fields, key);

			if (near != NULL)
				diag_add(dl, DIAG_ERROR, &n->keys[i]->mark,
				    "unknown key '%s' in %s (did you mean "
				    "'%s'?)", key, what, near);
			else {
				list_fields(s->fields, known, sizeof(known));
				diag_add(dl, DIAG_ERROR, &n->keys[i]->mark,
				    "unknown key '%s' in %s (known keys: %s)",
				    key, what, known);
			}
			errors++;
			continue;
		}
		/* an explicit null reads as "not set" */
		if (n->items[i]->kind == YNODE_NULL && !f->required)
			continue;
		errors += check_node(n->items[i], f->schema, key, phase, dl);
	}
	for (const struct schema_field *f = s->fields; f->key != NULL; f++) {
		const struct ynode	*v;

		if (!f->required)
			continue;
		v = ynode_map_get(n, f->key);
		if (v == NULL || v->kind == YNODE_NULL) {
			diag_add(dl, DIAG_ERROR, &n->mark,
			    "missing required key '%s' in %s%s%s", f->key, what,
			    f->hint != NULL ? ": " : "",
			    f->hint != NULL ? f->hint : "");
			errors++;
		}
	}
	return errors;
}

static unsigned
check_node(const struct ynode *n, const struct schema *s, const char *what,
    enum schema_phase phase, struct diag_list *dl)
{
	unsigned	errors = 0;
	char		sub[128];

	switch (s->type) {
	case SCHEMA_ANY:
		return 0;
	case SCHEMA_MAP:
	case SCHEMA_MAP_OF:
		if (n == NULL || n->kind != YNODE_MAP)
			return n == NULL ? 0 : wrong_type(n, s, what, dl);
		if (s->type == SCHEMA_MAP)
			return check_map(n, s, what, phase, dl);
		for (size_t i = 0; i < n->count; i++) {
			snprintf(sub, sizeof(sub), "%s.%s", what,
			    n->keys[i]->text);
			errors += check_node(n->items[i], s->of, sub, phase,
			    dl);
		}
		return errors;
	case SCHEMA_LIST_OF:
		if (n->kind != YNODE_SEQ)
			return wrong_type(n, s, what, dl);
		for (size_t i = 0; i < n->count; i++) {
			snprintf(sub, sizeof(sub), "%s[%zu]", what, i);
			errors += check_node(n->items[i], s->of, sub, phase,
			    dl);
		}
		return errors;
	default:
		if (!ynode_is_scalar(n))
			return wrong_type(n, s, what, dl);
		return check_scalar(n, s, what, phase, dl);
	}
}

unsigned
schema_check(const struct ynode *n, const struct schema *s, const char *what,
    enum schema_phase phase, struct diag_list *dl)
{
	if (n == NULL) {
		diag_add(dl, DIAG_ERROR, NULL, "%s is empty", what);
		return 1;
	}
	return check_node(n, s, what, phase, dl);
}

static const struct ynode *
present(const struct ynode *map, const char *key)
{
	const struct ynode	*v = ynode_map_get(map, key);

	return v == NULL || v->kind == YNODE_NULL ? NULL : v;
}

const char *
schema_str(const struct ynode *map, const char *key, const char *def)
{
	const struct ynode	*v = present(map, key);

	return v != NULL && v->text != NULL ? v->text : def;
}

long long
schema_int(const struct ynode *map, const char *key, long long def)
{
	const struct ynode	*v = present(map, key);
	long long		 i;

	if (v == NULL)
		return def;
	if (v->kind == YNODE_INT)
		return v->v.i;
	return v->text != NULL && text_parses_int(v->text, &i) ? i : def;
}

double
schema_number(const struct ynode *map, const char *key, double def)
{
	const struct ynode	*v = present(map, key);
	double			 f;

	if (v == NULL)
		return def;
	if (v->kind == YNODE_INT)
		return (double)v->v.i;
	if (v->kind == YNODE_FLOAT)
		return v->v.f;
	return v->text != NULL && text_parses_number(v->text, &f) ? f : def;
}

bool
schema_bool(const struct ynode *map, const char *key, bool def)
{
	const struct ynode	*v = present(map, key);
	bool			 b;

	if (v == NULL)
		return def;
	if (v->kind == YNODE_BOOL)
		return v->v.b;
	return v->text != NULL && text_parses_bool(v->text, &b) ? b : def;
}
