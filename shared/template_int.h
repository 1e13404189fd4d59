/*
 * The template engine's insides, shared by template.c (values, the
 * grammar, statements, rendering) and template_builtin.c (functions and
 * filters). Nothing outside these two files includes it.
 */
#ifndef MCPVISOR_TEMPLATE_INT_H
#define MCPVISOR_TEMPLATE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "template.h"

struct errbuf;
struct ynode;

#define TEMPLATE_NAME_PARTS	16
#define TEMPLATE_IDENT_MAX	64
#define TEMPLATE_ARGS_MAX	2

enum tval_kind {
	TV_UNDEF,	/* s: the message to show if the value gets used */
	TV_NULL,
	TV_STR,
	TV_INT,
	TV_FLOAT,	/* s: the text it was written as, when it was */
	TV_BOOL,
	TV_TIME,
	TV_COLLECTION,	/* s: the name, for messages; node: the collection */
};

/* What a loop over a mapping yields: its keys (Jinja's default and
 * .keys()), its values (.values()) or (key, value) pairs (.items()). */
enum tval_iter {
	ITER_KEYS,
	ITER_VALUES,
	ITER_ITEMS,
};

struct tval {
	enum tval_kind		 kind;
	bool			 secret;
	bool			 placeholder;
	char			*s;
	size_t			 len;
	long long		 i;
	double			 d;
	bool			 b;
	struct timespec		 t;
	const struct ynode	*node;	/* borrowed from the scope */
	enum tval_iter		 iter;
};

/* A loop's names, bound for one item. */
struct tframe {
	char			 names[2][TEMPLATE_IDENT_MAX];
	size_t			 nnames;
	const struct ynode	*values[2];
	size_t			 index;		/* 0-based */
	size_t			 length;
};

struct tparser {
	const char			*src;
	const char			*p;
	const struct template_scope	*scope;
	struct errbuf			*err;
	unsigned			 depth;
	unsigned			 blocks;	/* open if/for */
	unsigned long			 iterations;	/* of every loop */
	struct tframe			 frames[TEMPLATE_NEST_MAX];
	size_t				 nframes;
	bool				 secret;	/* in the output */
	bool				 placeholder;
};

/* template.c: values */
void		 tval_clear(struct tval *);
/* Moves src into dst (whose value is dropped). */
void		 tval_move(struct tval *dst, struct tval *src);
/* 0, -E2BIG past TEMPLATE_OUTPUT_MAX, or -ENOMEM. */
int		 tval_set_str(struct tval *, const char *, size_t);
/* An undefined value that says msg when used. */
int		 tval_undef(struct tval *, const char *msg);
void		 tval_set_bool(struct tval *, bool);
bool		 tval_truthy(const struct tval *);
/* Turns v into its text (TV_STR); fails for values that cannot print. */
int		 tval_stringify(struct tparser *, struct tval *);
/* Whether v is a number (an int, a float or a bool, as in Python), and
 * its value as a double. */
bool		 tval_number(const struct tval *, double *);
/* What v is, with its article, for messages: "an integer". */
const char	*tval_kind_name(const struct tval *);
/* -EINVAL with its message when v is undefined, else 0. */
int		 tval_need_defined(struct tparser *, const struct tval *);

/* template_builtin.c: env(), random_string(), base64_encode(), now()
 * and the filters, applied to values already evaluated. */
int		 tpl_call_function(struct tparser *, const char *name,
		    struct tval *args, size_t nargs, struct tval *out);
int		 tpl_apply_filter(struct tparser *, const char *name,
		    struct tval *args, size_t nargs, struct tval *v);

#endif
