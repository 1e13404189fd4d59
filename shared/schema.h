/*
 * Declarative shape checks for YAML trees: which keys a mapping may hold,
 * which are required, and what type each value has. One pass reports
 * every unknown key, wrong type and missing key with its position.
 */
#ifndef MCPVISOR_SCHEMA_H
#define MCPVISOR_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

struct diag_list;
struct ynode;

enum schema_type {
	SCHEMA_STRING,
	SCHEMA_INT,
	SCHEMA_BOOL,
	SCHEMA_NUMBER,		/* integer or decimal */
	SCHEMA_SCALAR,		/* any single value */
	SCHEMA_ENUM,		/* one of choices */
	SCHEMA_MAP,		/* fields below, no others */
	SCHEMA_MAP_OF,		/* any keys, each value of 'of' */
	SCHEMA_LIST_OF,		/* each item of 'of' */
	SCHEMA_ANY,		/* anything, e.g. free-form base_config */
};

struct schema_field;

struct schema {
	enum schema_type		 type;
	const struct schema_field	*fields;	/* MAP; ends at key NULL */
	const struct schema		*of;		/* MAP_OF, LIST_OF */
	const char *const		*choices;	/* ENUM; ends at NULL */
	long long			 min, max;	/* INT, when min < max */
	const char			*word;		/* INT: also this word */
};

struct schema_field {
	const char		*key;
	const struct schema	*schema;
	bool			 required;
	/* the value's text when the key is left out, or NULL: the one
	 * place a default is written */
	const char		*def;
	/* for a required key: what its absence means and how to write it,
	 * appended to the error (NULL: nothing more to say) */
	const char		*hint;
};

/* How strings that hold "{{" are treated: before rendering they stand in
 * for any scalar; after rendering (SCHEMA_RENDERED) a rendered string is
 * accepted for a number or boolean when its text is one. */
enum schema_phase {
	SCHEMA_RAW,
	SCHEMA_RENDERED,
};

/* Checks n against s; what names the value in messages ("server file",
 * "run"). Adds a diagnostic for each problem; returns their count. */
unsigned	schema_check(const struct ynode *n, const struct schema *s,
		    const char *what, enum schema_phase, struct diag_list *);

/* The default text of key in a map schema's fields, or NULL. */
const char	*schema_default(const struct schema *, const char *key);
/* Levenshtein's distance, 64 past 64 characters: how far a typo is. */
size_t		 schema_edit_distance(const char *, const char *);
/* The word of words (NULL-ended) within two edits of key, or NULL. */
const char	*schema_nearest(const char *const *words, const char *key);

/* Typed reads for trees that passed schema_check(); a missing key or a
 * null gives def. Rendered strings are read as numbers or booleans. */
const char	*schema_str(const struct ynode *map, const char *key,
		    const char *def);
long long	 schema_int(const struct ynode *map, const char *key,
		    long long def);
double		 schema_number(const struct ynode *map, const char *key,
		    double def);
bool		 schema_bool(const struct ynode *map, const char *key,
		    bool def);

#endif
