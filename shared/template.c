/*
 * Template rendering by recursive descent over the text, with evaluation
 * as it parses: there is no tree to build or free. A branch not taken
 * ("a or b" when a is enough, an if's other arms, the body of an empty
 * loop) is parsed in skip mode, so that its syntax is still checked but
 * its names are never looked up (and cannot fail); a loop's body is
 * parsed again for each item. Nesting depth, loop iterations, the size
 * of a literal and of every value and of the output are bounded.
 */
#include "template_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errbuf.h"
#include "ynode.h"

static int	parse_expr(struct tparser *, bool, struct tval *);

void
tval_clear(struct tval *v)
{
	free(v->s);
	memset(v, 0, sizeof(*v));
}

/* Moves src into dst (whose value is dropped). */
void
tval_move(struct tval *dst, struct tval *src)
{
	tval_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

int
tval_set_str(struct tval *v, const char *s, size_t len)
{
	char	*copy;

	if (len > TEMPLATE_OUTPUT_MAX)
		return -E2BIG;
	if ((copy = malloc(len + 1)) == NULL)
		return -ENOMEM;
	memcpy(copy, s, len);
	copy[len] = '\0';
	free(v->s);
	v->kind = TV_STR;
	v->s = copy;
	v->len = len;
	return 0;
}

int
tval_undef(struct tval *v, const char *msg)
{
	int	r = tval_set_str(v, msg, strlen(msg));

	v->kind = TV_UNDEF;
	return r;
}

void
tval_set_bool(struct tval *v, bool b)
{
	bool	secret = v->secret, placeholder = v->placeholder;

	tval_clear(v);
	v->kind = TV_BOOL;
	v->b = b;
	v->secret = secret;
	v->placeholder = placeholder;
}

bool
tval_truthy(const struct tval *v)
{
	switch (v->kind) {
	case TV_UNDEF:
	case TV_NULL:
		return false;
	case TV_STR:
		return v->len > 0;
	case TV_INT:
		return v->i != 0;
	case TV_FLOAT:
		return v->d != 0;
	case TV_BOOL:
		return v->b;
	case TV_COLLECTION:
		return v->node->count > 0;
	default:
		return true;
	}
}

static void
format_isoformat(const struct timespec *t, char *buf, size_t size)
{
	struct tm	tm;
	char		date[32];

	gmtime_r(&t->tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%06ld+00:00", date, t->tv_nsec / 1000);
}

/* A float as Python's str() prints it: the fewest digits that read
 * back as the same number, in fixed notation from 1e-4 to 1e16, with a
 * ".0" when it would look whole. */
static void
format_float(double d, char *buf, size_t size)
{
	int	prec = 1, exp;

	if (isnan(d) || isinf(d)) {
		snprintf(buf, size, "%s", isnan(d) ? "nan" : d > 0 ? "inf" :
		    "-inf");
		return;
	}
	for (; prec < 17; prec++) {
		snprintf(buf, size, "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	snprintf(buf, size, "%.*e", prec - 1, d);
	exp = atoi(strchr(buf, 'e') + 1);
	if (d != 0 && (exp < -4 || exp >= 16))
		return;
	snprintf(buf, size, "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0,
	    d);
	if (strchr(buf, '.') == NULL && strlen(buf) + 2 < size)
		strcat(buf, ".0");
}

/* Turns v into its text (TV_STR); fails for values that cannot print. */
int
tval_stringify(struct tparser *tp, struct tval *v)
{
	char	buf[64] = "";

	switch (v->kind) {
	case TV_STR:
		return 0;
	case TV_UNDEF:
		errbuf_set(tp->err, "%s", v->s);
		return -EINVAL;
	case TV_COLLECTION:
		errbuf_set(tp->err, "'%s' is a %s, not a single value", v->s,
		    v->b ? "mapping" : "list");
		return -EINVAL;
	case TV_NULL:
		buf[0] = '\0';
		break;
	case TV_INT:
		snprintf(buf, sizeof(buf), "%lld", v->i);
		break;
	case TV_FLOAT:
		if (v->s != NULL) {	/* as written: 1.10 stays 1.10 */
			v->kind = TV_STR;
			return 0;
		}
		format_float(v->d, buf, sizeof(buf));
		break;
	case TV_BOOL:
		snprintf(buf, sizeof(buf), "%s", v->b ? "true" : "false");
		break;
	case TV_TIME:
		format_isoformat(&v->t, buf, sizeof(buf));
		break;
	}
	return tval_set_str(v, buf, strlen(buf));
}

/* Whether v is a number (an int, a float or a bool, as in Python), and
 * its value as a double. */
bool
tval_number(const struct tval *v, double *d)
{
	switch (v->kind) {
	case TV_INT:	*d = (double)v->i; return true;
	case TV_FLOAT:	*d = v->d; return true;
	case TV_BOOL:	*d = v->b; return true;
	default:	return false;
	}
}

/* What v is, with its article, for messages: "an integer". */
const char *
tval_kind_name(const struct tval *v)
{
	switch (v->kind) {
	case TV_UNDEF:		return "an undefined value";
	case TV_NULL:		return "none";
	case TV_STR:		return "a string";
	case TV_INT:		return "an integer";
	case TV_FLOAT:		return "a float";
	case TV_BOOL:		return "a boolean";
	case TV_TIME:		return "a time";
	case TV_COLLECTION:	return v->b ? "a mapping" : "a list";
	}
	return "a value";
}

/* An undefined value used where a value is needed: its own message. */
int
tval_need_defined(struct tparser *tp, const struct tval *v)
{
	if (v->kind != TV_UNDEF)
		return 0;
	errbuf_set(tp->err, "%s", v->s);
	return -EINVAL;
}

/* --- lexing --- */

static void
skip_space(struct tparser *tp)
{
	while (*tp->p == ' ' || *tp->p == '\t' || *tp->p == '\n' ||
	    *tp->p == '\r')
		tp->p++;
}

static int
syntax_error(struct tparser *tp, const char *what)
{
	if (*tp->p == '\0')
		errbuf_set(tp->err, "%s at the end of the template", what);
	else
		errbuf_set(tp->err, "%s at '%.12s' (offset %zu)", what, tp->p,
		    (size_t)(tp->p - tp->src));
	return -EINVAL;
}

static bool
accept(struct tparser *tp, char c)
{
	skip_space(tp);
	if (*tp->p != c)
		return false;
	tp->p++;
	return true;
}

static bool
is_ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

/* Reads an identifier into buf; returns false when there is none. */
static bool
read_ident(struct tparser *tp, char *buf, size_t size)
{
	size_t	n = 0;

	skip_space(tp);
	if (!is_ident_start(*tp->p))
		return false;
	while (isalnum((unsigned char)tp->p[n]) || tp->p[n] == '_') {
		if (n + 1 >= size)
			return false;
		buf[n] = tp->p[n];
		n++;
	}
	buf[n] = '\0';
	tp->p += n;
	return true;
}

/* Whether the next thing is the keyword w (and not a longer name). */
static bool
peek_keyword(struct tparser *tp, const char *w)
{
	size_t	n = strlen(w);

	skip_space(tp);
	return strncmp(tp->p, w, n) == 0 &&
	    !isalnum((unsigned char)tp->p[n]) && tp->p[n] != '_';
}

static bool
accept_keyword(struct tparser *tp, const char *w)
{
	if (!peek_keyword(tp, w))
		return false;
	tp->p += strlen(w);
	return true;
}

/* Whether a '-' here is whitespace control ("-}}", "-%}"), not a minus. */
static bool
at_trim_close(const struct tparser *tp)
{
	return tp->p[0] == '-' && (tp->p[1] == '}' || tp->p[1] == '%') &&
	    tp->p[2] == '}';
}
static int
parse_string(struct tparser *tp, bool skip, struct tval *out)
{
	char		 quote = *tp->p++;
	char		*buf;
	size_t		 n = 0;
	const char	*q;
	int		 r;

	/* the literal is no longer than its source text */
	for (q = tp->p; *q != '\0' && *q != quote; q++)
		if (*q == '\\' && q[1] != '\0')
			q++;
	if (*q == '\0')
		return syntax_error(tp, "unterminated string");
	if ((buf = malloc((size_t)(q - tp->p) + 1)) == NULL)
		return -ENOMEM;
	while (*tp->p != quote) {
		char	c = *tp->p++;

		if (c == '\\') {
			c = *tp->p++;
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
		}
		buf[n++] = c;
	}
	tp->p++;
	r = skip ? 0 : tval_set_str(out, buf, n);
	free(buf);
	return r;
}

/* An integer, or a float when a fraction or an exponent follows. */
static int
parse_number(struct tparser *tp, struct tval *out)
{
	const char	*q = tp->p + (*tp->p == '-');
	char		*end;

	while (isdigit((unsigned char)*q))
		q++;
	errno = 0;
	if ((q[0] == '.' && isdigit((unsigned char)q[1])) || q[0] == 'e' ||
	    q[0] == 'E') {
		out->d = strtod(tp->p, &end);
		if (errno == ERANGE)
			return syntax_error(tp, "number out of range");
		tp->p = end;
		out->kind = TV_FLOAT;
		return 0;
	}
	out->i = strtoll(tp->p, &end, 10);
	if (errno == ERANGE)
		return syntax_error(tp, "integer out of range");
	tp->p = end;
	out->kind = TV_INT;
	return 0;
}

static int
parse_call(struct tparser *tp, const char *name, bool skip, struct tval *out)
{
	struct tval	 args[TEMPLATE_ARGS_MAX];
	size_t		 nargs = 0;
	int		 r = 0;

	memset(args, 0, sizeof(args));
	if (!accept(tp, ')')) {
		do {
			if (nargs == TEMPLATE_ARGS_MAX) {
				r = syntax_error(tp, "too many arguments");
				goto out;
			}
			if ((r = parse_expr(tp, skip, &args[nargs++])) < 0)
				goto out;
		} while (accept(tp, ','));
		if (!accept(tp, ')')) {
			r = syntax_error(tp, "expected ')'");
			goto out;
		}
	}
	if (skip)
		goto out;
	r = tpl_call_function(tp, name, args, nargs, out);
out:
	for (size_t i = 0; i < nargs; i++)
		tval_clear(&args[i]);
	return r;
}

/* --- names --- */

static int
tval_from_node(struct tval *v, const struct ynode *n, const char *name)
{
	int	r = 0;

	tval_clear(v);
	switch (n->kind) {
	case YNODE_NULL:
		v->kind = TV_NULL;
		break;
	case YNODE_BOOL:
		v->kind = TV_BOOL;
		v->b = n->v.b;
		break;
	case YNODE_INT:
		v->kind = TV_INT;
		v->i = n->v.i;
		break;
	case YNODE_FLOAT:
		if ((r = tval_set_str(v, n->text, n->len)) == 0) {
			v->kind = TV_FLOAT;
			v->d = n->v.f;
		}
		break;
	case YNODE_STRING:
		r = tval_set_str(v, n->text, n->len);
		break;
	case YNODE_MAP:
	case YNODE_SEQ:
		r = tval_set_str(v, name, strlen(name));
		v->kind = TV_COLLECTION;
		v->b = n->kind == YNODE_MAP;
		v->node = n;
		break;
	}
	v->secret = (n->flags & YNODE_SECRET) != 0;
	v->placeholder = (n->flags & YNODE_PLACEHOLDER) != 0;
	return r;
}

/* loop.index and its kin, in the innermost loop. */
static int
loop_attribute(struct tparser *tp, const char *const *parts, size_t n,
    struct tval *out)
{
	const struct tframe	*f = &tp->frames[tp->nframes - 1];
	const char		*a = n == 2 ? parts[1] : "";

	tval_clear(out);
	out->kind = TV_INT;
	if (strcmp(a, "index") == 0)
		out->i = (long long)f->index + 1;
	else if (strcmp(a, "index0") == 0)
		out->i = (long long)f->index;
	else if (strcmp(a, "revindex") == 0)
		out->i = (long long)(f->length - f->index);
	else if (strcmp(a, "length") == 0)
		out->i = (long long)f->length;
	else if (strcmp(a, "first") == 0 || strcmp(a, "last") == 0) {
		out->kind = TV_BOOL;
		out->b = a[0] == 'f' ? f->index == 0 :
		    f->index + 1 == f->length;
	} else {
		errbuf_set(tp->err, "loop has index, index0, revindex, length, "
		    "first and last, not '%s'", a);
		return -EINVAL;
	}
	return 0;
}

/* A name bound by an enclosing loop, innermost first: 1 and *node when
 * parts[0] is one, 0 when it is not. */
static int
frame_lookup(const struct tparser *tp, const char *const *parts, size_t n,
    const struct ynode **node)
{
	for (size_t f = tp->nframes; f-- > 0;)
		for (size_t k = 0; k < tp->frames[f].nnames; k++) {
			const struct ynode	*v;

			if (strcmp(tp->frames[f].names[k], parts[0]) != 0)
				continue;
			v = tp->frames[f].values[k];
			for (size_t i = 1; i < n && v != NULL; i++)
				v = v->kind == YNODE_MAP ? ynode_map_get(v,
				    parts[i]) : NULL;
			*node = v;
			return 1;
		}
	return 0;
}

static int
parse_name(struct tparser *tp, const char *first, bool skip, struct tval *out)
{
	char			 parts[TEMPLATE_NAME_PARTS][TEMPLATE_IDENT_MAX];
	const char		*ptrs[TEMPLATE_NAME_PARTS];
	char			 dotted[TEMPLATE_NAME_PARTS * TEMPLATE_IDENT_MAX];
	size_t			 n = 1, used;
	const struct ynode	*node = NULL;
	struct errbuf		 lerr;
	int			 r;

	snprintf(parts[0], sizeof(parts[0]), "%s", first);
	for (;;) {
		const char	*save = tp->p;
		char		 ident[TEMPLATE_IDENT_MAX];

		if (!accept(tp, '.'))
			break;
		if (!read_ident(tp, ident, sizeof(ident)))
			return syntax_error(tp, "expected a name after '.'");
		if (accept(tp, '(')) {
			/* a method call: leave it to the postfix parser */
			tp->p = save;
			break;
		}
		if (n == TEMPLATE_NAME_PARTS)
			return syntax_error(tp, "name has too many parts");
		memcpy(parts[n++], ident, sizeof(ident));
	}
	if (skip)
		return 0;
	used = 0;
	for (size_t i = 0; i < n; i++) {
		ptrs[i] = parts[i];
		used += (size_t)snprintf(dotted + used, sizeof(dotted) - used,
		    "%s%s", i ? "." : "", parts[i]);
		if (used >= sizeof(dotted))
			used = sizeof(dotted) - 1;
	}
	if (strcmp(parts[0], "loop") == 0 && tp->nframes > 0)
		return loop_attribute(tp, ptrs, n, out);
	if (frame_lookup(tp, ptrs, n, &node)) {
		char	msg[sizeof(dotted) + 64];

		if (node != NULL)
			return tval_from_node(out, node, dotted);
		snprintf(msg, sizeof(msg), "undefined variable '%.400s'",
		    dotted);
		return tval_undef(out, msg);
	}
	lerr.msg[0] = '\0';
	r = tp->scope->lookup(tp->scope->arg, ptrs, n, &node, &lerr);
	if (r == -ENOENT) {
		char	msg[sizeof(lerr.msg)];

		if (lerr.msg[0] == '\0')
			snprintf(msg, sizeof(msg), "undefined variable '%.400s'",
			    dotted);
		else
			memcpy(msg, lerr.msg, sizeof(msg));
		return tval_undef(out, msg);
	}
	if (r < 0) {
		errbuf_set(tp->err, "%s", lerr.msg);
		return r;
	}
	return tval_from_node(out, node, dotted);
}

/* --- expressions, loosest last: filters, ~, + and -, comparisons,
 * not, and, or, then "x if c else y" --- */

static int
parse_primary(struct tparser *tp, bool skip, struct tval *out)
{
	char	ident[TEMPLATE_IDENT_MAX];
	int	r;

	skip_space(tp);
	if (*tp->p == '\'' || *tp->p == '"')
		return parse_string(tp, skip, out);
	if (isdigit((unsigned char)*tp->p) ||
	    (*tp->p == '-' && isdigit((unsigned char)tp->p[1])))
		return parse_number(tp, out);
	if (accept(tp, '(')) {
		if (++tp->depth > TEMPLATE_NEST_MAX)
			return syntax_error(tp, "expression nested too deeply");
		if ((r = parse_expr(tp, skip, out)) < 0)
			return r;
		tp->depth--;
		if (!accept(tp, ')'))
			return syntax_error(tp, "expected ')'");
		return 0;
	}
	if (!read_ident(tp, ident, sizeof(ident)))
		return syntax_error(tp, "expected a value");
	if (strcmp(ident, "true") == 0 || strcmp(ident, "True") == 0 ||
	    strcmp(ident, "false") == 0 || strcmp(ident, "False") == 0) {
		tval_clear(out);
		out->kind = TV_BOOL;
		out->b = ident[0] == 't' || ident[0] == 'T';
		return 0;
	}
	if (strcmp(ident, "none") == 0 || strcmp(ident, "None") == 0) {
		tval_clear(out);
		out->kind = TV_NULL;
		return 0;
	}
	if (accept(tp, '('))
		return parse_call(tp, ident, skip, out);
	return parse_name(tp, ident, skip, out);
}

static int
apply_method(struct tparser *tp, const char *method, struct tval *out)
{
	char	buf[64];

	if (strcmp(method, "isoformat") == 0 && out->kind == TV_TIME) {
		format_isoformat(&out->t, buf, sizeof(buf));
		return tval_set_str(out, buf, strlen(buf));
	}
	if ((strcmp(method, "items") == 0 || strcmp(method, "keys") == 0 ||
	    strcmp(method, "values") == 0) && out->kind == TV_COLLECTION &&
	    out->b) {
		out->iter = method[0] == 'i' ? ITER_ITEMS : method[0] == 'k' ?
		    ITER_KEYS : ITER_VALUES;
		return 0;
	}
	if (tval_need_defined(tp, out) < 0)
		return -EINVAL;
	errbuf_set(tp->err, "no method '%s' of %s (methods: now()."
	    "isoformat(), and a mapping's items(), keys() and values())",
	    method, tval_kind_name(out));
	return -EINVAL;
}

static int
parse_postfix(struct tparser *tp, bool skip, struct tval *out)
{
	char	method[TEMPLATE_IDENT_MAX];
	int	r;

	if ((r = parse_primary(tp, skip, out)) < 0)
		return r;
	while (accept(tp, '.')) {
		if (!read_ident(tp, method, sizeof(method)) || !accept(tp, '(') ||
		    !accept(tp, ')'))
			return syntax_error(tp, "expected a method call");
		if (!skip && (r = apply_method(tp, method, out)) < 0)
			return r;
	}
	return 0;
}

static int
parse_filtered(struct tparser *tp, bool skip, struct tval *out)
{
	char		name[TEMPLATE_IDENT_MAX];
	struct tval	args[TEMPLATE_ARGS_MAX];
	size_t		nargs;
	int		r;

	if ((r = parse_postfix(tp, skip, out)) < 0)
		return r;
	for (;;) {
		skip_space(tp);
		/* "||" is not ours; only a lone '|' starts a filter */
		if (tp->p[0] != '|' || tp->p[1] == '|')
			return 0;
		tp->p++;
		if (!read_ident(tp, name, sizeof(name)))
			return syntax_error(tp, "expected a filter name");
		memset(args, 0, sizeof(args));
		nargs = 0;
		r = 0;
		if (accept(tp, '(') && !accept(tp, ')')) {
			do {
				if (nargs == TEMPLATE_ARGS_MAX) {
					r = syntax_error(tp, "too many "
					    "arguments");
					break;
				}
				r = parse_expr(tp, skip, &args[nargs++]);
			} while (r == 0 && accept(tp, ','));
			if (r == 0 && !accept(tp, ')'))
				r = syntax_error(tp, "expected ')'");
		}
		if (r == 0 && !skip)
			r = tpl_apply_filter(tp, name, args, nargs, out);
		for (size_t i = 0; i < nargs; i++)
			tval_clear(&args[i]);
		if (r < 0)
			return r;
	}
}

/* a ~ b: both as text, one after the other. */
static int
parse_concat(struct tparser *tp, bool skip, struct tval *out)
{
	struct tval	rhs;
	char		*joined;
	int		r;

	if ((r = parse_filtered(tp, skip, out)) < 0)
		return r;
	while (accept(tp, '~')) {
		memset(&rhs, 0, sizeof(rhs));
		if ((r = parse_filtered(tp, skip, &rhs)) < 0 || skip ||
		    (r = tval_stringify(tp, out)) < 0 ||
		    (r = tval_stringify(tp, &rhs)) < 0) {
			tval_clear(&rhs);
			if (r < 0)
				return r;
			continue;
		}
		if (rhs.len > TEMPLATE_OUTPUT_MAX - out->len) {
			tval_clear(&rhs);
			errbuf_set(tp->err, "a value exceeds %u bytes",
			    TEMPLATE_OUTPUT_MAX);
			return -E2BIG;
		}
		if ((joined = realloc(out->s, out->len + rhs.len + 1)) ==
		    NULL) {
			tval_clear(&rhs);
			return -ENOMEM;
		}
		memcpy(joined + out->len, rhs.s, rhs.len + 1);
		out->s = joined;
		out->len += rhs.len;
		out->secret |= rhs.secret;
		out->placeholder |= rhs.placeholder;
		tval_clear(&rhs);
	}
	return 0;
}

/* An int or a bool as the integer it is. */
static long long
tval_integer(const struct tval *v)
{
	return v->kind == TV_INT ? v->i : v->b;
}

/* a + b, a - b: numbers as Python's (an int unless a float is in it or
 * the sum overflows); text joins with +. */
static int
arith(struct tparser *tp, char op, struct tval *a, struct tval *b)
{
	double		x, y;
	long long	sum;
	char		*joined;

	if (tval_need_defined(tp, a) < 0 || tval_need_defined(tp, b) < 0)
		return -EINVAL;
	a->secret |= b->secret;
	a->placeholder |= b->placeholder;
	if (op == '+' && a->kind == TV_STR && b->kind == TV_STR) {
		if (b->len > TEMPLATE_OUTPUT_MAX - a->len) {
			errbuf_set(tp->err, "a value exceeds %u bytes",
			    TEMPLATE_OUTPUT_MAX);
			return -E2BIG;
		}
		if ((joined = realloc(a->s, a->len + b->len + 1)) == NULL)
			return -ENOMEM;
		memcpy(joined + a->len, b->s, b->len + 1);
		a->s = joined;
		a->len += b->len;
		return 0;
	}
	if (!tval_number(a, &x) || !tval_number(b, &y)) {
		errbuf_set(tp->err, "cannot %s %s and %s", op == '+' ?
		    "add" : "subtract", tval_kind_name(a), tval_kind_name(b));
		return -EINVAL;
	}
	free(a->s);
	a->s = NULL;
	if (a->kind != TV_FLOAT && b->kind != TV_FLOAT && !(op == '+' ?
	    __builtin_add_overflow(tval_integer(a), tval_integer(b), &sum) :
	    __builtin_sub_overflow(tval_integer(a), tval_integer(b), &sum))) {
		a->kind = TV_INT;
		a->i = sum;
		return 0;
	}
	a->kind = TV_FLOAT;
	a->d = op == '+' ? x + y : x - y;
	return 0;
}

static int
parse_math(struct tparser *tp, bool skip, struct tval *out)
{
	struct tval	rhs;
	char		op;
	int		r;

	if ((r = parse_concat(tp, skip, out)) < 0)
		return r;
	for (;;) {
		skip_space(tp);
		if ((*tp->p != '+' && *tp->p != '-') || at_trim_close(tp))
			return 0;
		op = *tp->p++;
		memset(&rhs, 0, sizeof(rhs));
		if ((r = parse_concat(tp, skip, &rhs)) == 0 && !skip)
			r = arith(tp, op, out, &rhs);
		tval_clear(&rhs);
		if (r < 0)
			return r;
	}
}

/* -1, 0 or 1 as a compares to b; -2 when they do not compare (only
 * == and != apply then: unequal). */
static int
compare(const struct tval *a, const struct tval *b)
{
	double	x, y;

	if (tval_number(a, &x) && tval_number(b, &y))
		return x < y ? -1 : x > y;
	if (a->kind == TV_STR && b->kind == TV_STR) {
		int	c = strcmp(a->s, b->s);

		return c < 0 ? -1 : c > 0;
	}
	if (a->kind == TV_NULL && b->kind == TV_NULL)
		return 0;
	return -2;
}

static const char *const comparisons[] = { "==", "!=", "<=", ">=", "<",
    ">", NULL };

static int
parse_comparison_op(struct tparser *tp)
{
	for (int i = 0; comparisons[i] != NULL; i++) {
		skip_space(tp);
		if (strncmp(tp->p, comparisons[i], strlen(comparisons[i])) ==
		    0) {
			tp->p += strlen(comparisons[i]);
			return i;
		}
	}
	return -1;
}

/* x is [not] defined|undefined|none */
static int
parse_test(struct tparser *tp, bool skip, struct tval *out)
{
	char	test[TEMPLATE_IDENT_MAX];
	bool	negate = accept_keyword(tp, "not"), result;

	if (!read_ident(tp, test, sizeof(test)))
		return syntax_error(tp, "expected a test after 'is'");
	if (strcmp(test, "defined") == 0)
		result = out->kind != TV_UNDEF;
	else if (strcmp(test, "undefined") == 0)
		result = out->kind == TV_UNDEF;
	else if (strcmp(test, "none") == 0)
		result = out->kind == TV_NULL;
	else {
		errbuf_set(tp->err, "unknown test '%s' (tests: defined, "
		    "undefined, none)", test);
		return -EINVAL;
	}
	if (!skip)
		tval_set_bool(out, result != negate);
	return 0;
}

static int
parse_compare(struct tparser *tp, bool skip, struct tval *out)
{
	struct tval	left, right;
	bool		result = true, any = false;
	int		op, r;

	if ((r = parse_math(tp, skip, out)) < 0)
		return r;
	if (accept_keyword(tp, "is"))
		return parse_test(tp, skip, out);
	memset(&left, 0, sizeof(left));
	/* a < b < c is a < b and b < c, as in Python */
	while ((op = parse_comparison_op(tp)) >= 0) {
		int	c;

		memset(&right, 0, sizeof(right));
		if ((r = parse_math(tp, skip, &right)) < 0) {
			tval_clear(&right);
			tval_clear(&left);
			return r;
		}
		if (!any) {
			tval_move(&left, out);
			any = true;
		}
		if (!skip && (tval_need_defined(tp, &left) < 0 ||
		    tval_need_defined(tp, &right) < 0)) {
			tval_clear(&right);
			tval_clear(&left);
			return -EINVAL;
		}
		c = skip ? 0 : compare(&left, &right);
		if (c == -2 && op >= 2) {
			errbuf_set(tp->err, "cannot order %s and %s",
			    tval_kind_name(&left), tval_kind_name(&right));
			tval_clear(&right);
			tval_clear(&left);
			return -EINVAL;
		}
		switch (op) {
		case 0:	result &= c == 0; break;
		case 1:	result &= c != 0; break;
		case 2:	result &= c <= 0; break;
		case 3:	result &= c >= 0; break;
		case 4:	result &= c < 0; break;
		default: result &= c > 0; break;
		}
		out->secret |= left.secret || right.secret;
		tval_move(&left, &right);
	}
	tval_clear(&left);
	if (any)
		tval_set_bool(out, result);
	return 0;
}

static int
parse_not(struct tparser *tp, bool skip, struct tval *out)
{
	int	r;

	if (!accept_keyword(tp, "not"))
		return parse_compare(tp, skip, out);
	if (++tp->depth > TEMPLATE_NEST_MAX)
		return syntax_error(tp, "expression nested too deeply");
	if ((r = parse_not(tp, skip, out)) < 0)
		return r;
	tp->depth--;
	if (!skip)
		tval_set_bool(out, !tval_truthy(out));
	return 0;
}

/* a and b, a or b: Python's, the deciding operand itself; the other
 * side is parsed in skip mode, so that it is never looked up. */
static int
parse_logic(struct tparser *tp, bool skip, struct tval *out, bool is_or)
{
	const char	*word = is_or ? "or" : "and";
	int		 r;

	if ((r = is_or ? parse_logic(tp, skip, out, false) :
	    parse_not(tp, skip, out)) < 0)
		return r;
	while (accept_keyword(tp, word)) {
		bool		decided = skip ||
				    tval_truthy(out) == is_or;
		struct tval	alt;

		memset(&alt, 0, sizeof(alt));
		if ((r = is_or ? parse_logic(tp, decided, &alt, false) :
		    parse_not(tp, decided, &alt)) < 0) {
			tval_clear(&alt);
			return r;
		}
		if (!decided)
			tval_move(out, &alt);
		else
			tval_clear(&alt);
	}
	return 0;
}

/* x if c else y. x comes first but counts only if c holds: an error in
 * x is kept until c is known, and x is parsed again in skip mode to find
 * where the if begins. */
static int
parse_expr(struct tparser *tp, bool skip, struct tval *out)
{
	const char	*start = tp->p;
	struct errbuf	 x_err = { "" };
	struct tval	 cond, alt;
	bool		 holds;
	int		 r, x_r;

	if (++tp->depth > TEMPLATE_NEST_MAX)
		return syntax_error(tp, "expression nested too deeply");
	x_r = parse_logic(tp, skip, out, true);
	if (x_r < 0 && x_r != -ENOMEM) {
		memcpy(&x_err, tp->err, sizeof(x_err));
		tp->p = start;
		tval_clear(out);
		if (parse_logic(tp, true, out, true) < 0 ||
		    !peek_keyword(tp, "if")) {
			memcpy(tp->err, &x_err, sizeof(x_err));
			return x_r;
		}
	} else if (x_r < 0)
		return x_r;
	if (!accept_keyword(tp, "if")) {
		tp->depth--;
		return 0;
	}
	memset(&cond, 0, sizeof(cond));
	r = parse_logic(tp, skip, &cond, true);
	holds = r == 0 && !skip && tval_truthy(&cond);
	tval_clear(&cond);
	if (r < 0)
		return r;
	memset(&alt, 0, sizeof(alt));
	alt.kind = TV_NULL;	/* no else: nothing, as in Jinja */
	if (accept_keyword(tp, "else") &&
	    (r = parse_expr(tp, skip || holds, &alt)) < 0) {
		tval_clear(&alt);
		return r;
	}
	if (holds && x_r < 0) {
		tval_clear(&alt);
		memcpy(tp->err, &x_err, sizeof(x_err));
		return x_r;
	}
	if (!holds && !skip)
		tval_move(out, &alt);
	else
		tval_clear(&alt);
	tp->depth--;
	return 0;
}
/* --- output --- */

struct outbuf {
	char	*s;
	size_t	 len;
	size_t	 cap;
};

static int
outbuf_append(struct outbuf *ob, const char *s, size_t n, struct errbuf *err)
{
	if (n > TEMPLATE_OUTPUT_MAX - ob->len) {
		errbuf_set(err, "output exceeds %u bytes", TEMPLATE_OUTPUT_MAX);
		return -E2BIG;
	}
	if (ob->len + n + 1 > ob->cap) {
		size_t	 cap = ob->cap ? ob->cap : 64;
		char	*p;

		while (cap < ob->len + n + 1)
			cap *= 2;
		if ((p = realloc(ob->s, cap)) == NULL)
			return -ENOMEM;
		ob->s = p;
		ob->cap = cap;
	}
	memcpy(ob->s + ob->len, s, n);
	ob->len += n;
	ob->s[ob->len] = '\0';
	return 0;
}


/* --- statements --- */

enum tag {
	TAG_END,	/* of the template */
	TAG_ELIF,
	TAG_ELSE,
	TAG_ENDIF,
	TAG_ENDFOR,
};

static int	render_block(struct tparser *, struct outbuf *, bool,
		    enum tag *);

/* The end of a tag: "%}" or "}}", after an optional '-' that trims the
 * whitespace following it. */
static int
close_tag(struct tparser *tp, char kind)
{
	bool	trim;

	skip_space(tp);
	if ((trim = *tp->p == '-'))
		tp->p++;
	if (tp->p[0] != kind || tp->p[1] != '}')
		return syntax_error(tp, kind == '%' ? "expected '%}'" :
		    "expected '}}'");
	tp->p += 2;
	if (trim)
		skip_space(tp);
	return 0;
}

/* A condition of an if or an elif, up to its "%}": whether it holds. */
static int
condition(struct tparser *tp, bool skip, bool *holds)
{
	struct tval	cond;
	int		r;

	memset(&cond, 0, sizeof(cond));
	tp->depth = 0;
	if ((r = parse_expr(tp, skip, &cond)) == 0)
		r = close_tag(tp, '%');
	*holds = r == 0 && !skip && tval_truthy(&cond);
	/* which branch ran says something of what decided it */
	tp->secret |= !skip && cond.secret;
	tval_clear(&cond);
	return r;
}

static int
statement_if(struct tparser *tp, struct outbuf *ob, bool skip)
{
	size_t		opened = (size_t)(tp->p - tp->src);
	bool		taken, holds, else_seen = false, branch_skip;
	enum tag	tag;
	int		r;

	if ((r = condition(tp, skip, &holds)) < 0)
		return r;
	taken = holds;
	branch_skip = skip || !holds;
	for (;;) {
		if ((r = render_block(tp, ob, branch_skip, &tag)) < 0)
			return r;
		if (tag == TAG_ENDIF)
			return close_tag(tp, '%');
		if (tag == TAG_ELIF && !else_seen) {
			if ((r = condition(tp, skip || taken, &holds)) < 0)
				return r;
			branch_skip = skip || taken || !holds;
			taken |= holds;
		} else if (tag == TAG_ELSE && !else_seen) {
			if ((r = close_tag(tp, '%')) < 0)
				return r;
			else_seen = true;
			branch_skip = skip || taken;
		} else {
			errbuf_set(tp->err, "the if at offset %zu %s", opened,
			    tag == TAG_END ? "has no endif" : tag == TAG_ENDFOR ?
			    "ends with endfor, not endif" :
			    "has an elif or else after its else");
			return -EINVAL;
		}
	}
}

/* Binds the names of a loop to item i of coll. */
static int
bind_item(struct tparser *tp, const struct tval *coll, size_t i,
    struct tframe *f)
{
	const struct ynode	*c = coll->node;
	bool			 pairs = c->kind == YNODE_MAP &&
				    (coll->iter == ITER_ITEMS ||
				    (coll->iter == ITER_KEYS && f->nnames == 2));

	f->index = i;
	f->length = c->count;
	if (pairs && f->nnames == 2) {
		f->values[0] = c->keys[i];
		f->values[1] = c->items[i];
		return 0;
	}
	if (f->nnames == 1 && !pairs) {
		f->values[0] = c->kind == YNODE_MAP && coll->iter == ITER_KEYS ?
		    c->keys[i] : c->items[i];
		return 0;
	}
	if (f->nnames == 2 && c->kind == YNODE_SEQ &&
	    c->items[i]->kind == YNODE_SEQ && c->items[i]->count == 2) {
		f->values[0] = c->items[i]->items[0];
		f->values[1] = c->items[i]->items[1];
		return 0;
	}
	errbuf_set(tp->err, "for: item %zu of '%s' is not %s", i, coll->s,
	    f->nnames == 2 ? "a pair for two names" : "one value (items() "
	    "gives pairs: for KEY, VALUE in ...)");
	return -EINVAL;
}

static int
loop_header(struct tparser *tp, bool skip, struct tframe *f,
    struct tval *coll)
{
	int	r;

	memset(f, 0, sizeof(*f));
	if (!read_ident(tp, f->names[0], sizeof(f->names[0])))
		return syntax_error(tp, "expected a name after 'for'");
	f->nnames = 1;
	if (accept(tp, ',')) {
		if (!read_ident(tp, f->names[1], sizeof(f->names[1])))
			return syntax_error(tp, "expected a second name");
		f->nnames = 2;
	}
	if (!accept_keyword(tp, "in"))
		return syntax_error(tp, "expected 'in'");
	tp->depth = 0;
	if ((r = parse_expr(tp, skip, coll)) < 0 ||
	    (r = close_tag(tp, '%')) < 0 || skip)
		return r;
	if (tval_need_defined(tp, coll) < 0)
		return -EINVAL;
	if (coll->kind != TV_COLLECTION) {
		errbuf_set(tp->err, "for: %s is not a list or a mapping",
		    tval_kind_name(coll));
		return -EINVAL;
	}
	tp->secret |= coll->secret;
	return 0;
}

/* The rest of a loop after its last pass (or none): an else that runs
 * when there was none, then endfor. */
static int
loop_end(struct tparser *tp, struct outbuf *ob, bool run_else,
    enum tag tag, size_t opened)
{
	int	r;

	if (tag == TAG_ELSE) {
		if ((r = close_tag(tp, '%')) < 0 ||
		    (r = render_block(tp, ob, !run_else, &tag)) < 0)
			return r;
	}
	if (tag == TAG_ENDFOR)
		return close_tag(tp, '%');
	errbuf_set(tp->err, "the for at offset %zu %s", opened,
	    tag == TAG_END ? "has no endfor" : "ends with something other "
	    "than endfor");
	return -EINVAL;
}

static int
statement_for(struct tparser *tp, struct outbuf *ob, bool skip)
{
	size_t		 opened = (size_t)(tp->p - tp->src);
	struct tval	 coll;
	struct tframe	*f;
	const char	*body;
	enum tag	 tag = TAG_END;
	size_t		 n;
	int		 r;

	memset(&coll, 0, sizeof(coll));
	f = &tp->frames[tp->nframes];
	if ((r = loop_header(tp, skip, f, &coll)) < 0)
		goto out;
	body = tp->p;
	n = skip ? 0 : coll.node->count;
	if (n == 0) {
		if ((r = render_block(tp, ob, true, &tag)) == 0)
			r = loop_end(tp, ob, !skip, tag, opened);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (++tp->iterations > TEMPLATE_LOOP_MAX) {
			errbuf_set(tp->err, "the loops ran more than %u times",
			    TEMPLATE_LOOP_MAX);
			r = -E2BIG;
			goto out;
		}
		if ((r = bind_item(tp, &coll, i, f)) < 0)
			goto out;
		tp->p = body;
		tp->nframes++;
		r = render_block(tp, ob, false, &tag);
		tp->nframes--;
		if (r < 0)
			goto out;
		if (tag != TAG_ELSE && tag != TAG_ENDFOR)
			break;
	}
	r = loop_end(tp, ob, false, tag, opened);
out:
	tval_clear(&coll);
	return r;
}

static int
statement(struct tparser *tp, struct outbuf *ob, bool skip, enum tag *tag,
    bool *ended)
{
	static const struct {
		const char	*word;
		enum tag	 tag;
	} closers[] = {
		{ "elif", TAG_ELIF }, { "else", TAG_ELSE },
		{ "endif", TAG_ENDIF }, { "endfor", TAG_ENDFOR },
	};
	char	word[TEMPLATE_IDENT_MAX];
	int	r;

	*ended = false;
	if (!read_ident(tp, word, sizeof(word)))
		return syntax_error(tp, "expected a statement");
	for (size_t i = 0; i < sizeof(closers) / sizeof(closers[0]); i++)
		if (strcmp(word, closers[i].word) == 0) {
			*tag = closers[i].tag;
			*ended = true;
			return 0;
		}
	if (strcmp(word, "if") != 0 && strcmp(word, "for") != 0) {
		errbuf_set(tp->err, "unknown statement '%s' (statements: if, "
		    "elif, else, endif, for, endfor)", word);
		return -EINVAL;
	}
	if (++tp->blocks > TEMPLATE_NEST_MAX)
		return syntax_error(tp, "statements nested too deeply");
	r = word[0] == 'i' ? statement_if(tp, ob, skip) :
	    statement_for(tp, ob, skip);
	tp->blocks--;
	return r;
}

/* The next "{{", "{%" or "{#" in s, or NULL. */
static const char *
next_open(const char *s)
{
	for (; (s = strchr(s, '{')) != NULL; s++)
		if (s[1] == '{' || s[1] == '%' || s[1] == '#')
			return s;
	return NULL;
}

static int
output_expression(struct tparser *tp, struct outbuf *ob, bool skip)
{
	struct tval	v;
	int		r;

	memset(&v, 0, sizeof(v));
	tp->depth = 0;
	if ((r = parse_expr(tp, skip, &v)) == 0 &&
	    (r = close_tag(tp, '}')) == 0 && !skip &&
	    (r = tval_stringify(tp, &v)) == 0) {
		tp->secret |= v.secret;
		tp->placeholder |= v.placeholder;
		r = outbuf_append(ob, v.s, v.len, tp->err);
	}
	tval_clear(&v);
	return r;
}

/* Renders text, expressions and statements until the end of the
 * template or a tag that closes a block (left for the caller, past its
 * keyword, in *tag). Nothing is written in skip mode. */
static int
render_block(struct tparser *tp, struct outbuf *ob, bool skip,
    enum tag *tag)
{
	const char	*open, *end;
	size_t		 n;
	bool		 ended;
	int		 r;

	for (;;) {
		open = next_open(tp->p);
		n = open != NULL ? (size_t)(open - tp->p) : strlen(tp->p);
		/* "{%-", "{{-", "{#-": the whitespace before goes */
		if (open != NULL && open[2] == '-')
			while (n > 0 && isspace((unsigned char)tp->p[n - 1]))
				n--;
		if (!skip && (r = outbuf_append(ob, tp->p, n, tp->err)) < 0)
			return r;
		if (open == NULL) {
			tp->p += strlen(tp->p);
			*tag = TAG_END;
			return 0;
		}
		tp->p = open + 2 + (open[2] == '-');
		if (open[1] == '{')
			r = output_expression(tp, ob, skip);
		else if (open[1] == '#') {
			if ((end = strstr(tp->p, "#}")) == NULL)
				return syntax_error(tp, "unterminated comment");
			tp->p = end + 2;
			if (end > open + 2 && end[-1] == '-')
				skip_space(tp);
			r = 0;
		} else {
			if ((r = statement(tp, ob, skip, tag, &ended)) == 0 &&
			    ended)
				return 0;
		}
		if (r < 0)
			return r;
	}
}

bool
template_needed(const char *s)
{
	return next_open(s) != NULL;
}

int
template_render(const char *src, const struct template_scope *scope,
    struct template_output *out, struct errbuf *err)
{
	struct tparser	*tp;
	struct outbuf	 ob = { NULL, 0, 0 };
	enum tag	 tag;
	int		 r;

	/* the loop frames make it large for a stack */
	if ((tp = calloc(1, sizeof(*tp))) == NULL)
		return -ENOMEM;
	*tp = (struct tparser){ .src = src, .p = src, .scope = scope,
	    .err = err };
	if ((r = outbuf_append(&ob, "", 0, err)) == 0 &&
	    (r = render_block(tp, &ob, false, &tag)) == 0 && tag != TAG_END) {
		static const char *const names[] = { "", "elif", "else",
		    "endif", "endfor" };

		errbuf_set(err, "'%s' at offset %zu closes no if or for",
		    names[tag], (size_t)(tp->p - src));
		r = -EINVAL;
	}
	if (r < 0) {
		free(ob.s);
		free(tp);
		return r;
	}
	out->text = ob.s;
	out->len = ob.len;
	out->secret = tp->secret;
	out->placeholder = tp->placeholder;
	free(tp);
	return 0;
}
