/*
 * Template rendering by recursive descent over the expression text, with
 * evaluation as it parses: there is no tree to build or free. "a or b"
 * parses b in skip mode when a is enough, so names in an unused branch
 * are never looked up (and cannot fail). Depth of nesting, the size of a
 * literal and of the output are bounded; nothing here loops on input.
 */
#include "template.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "crypto.h"
#include "errbuf.h"
#include "ynode.h"

#define TEMPLATE_NAME_PARTS	16
#define TEMPLATE_IDENT_MAX	64
#define TEMPLATE_ARGS_MAX	2

enum tval_kind {
	TV_UNDEF,	/* s: the message to show if the value gets used */
	TV_NULL,
	TV_STR,
	TV_INT,
	TV_BOOL,
	TV_TIME,
	TV_COLLECTION,	/* s: the name, for the message */
};

struct tval {
	enum tval_kind	 kind;
	bool		 secret;
	bool		 placeholder;
	char		*s;
	size_t		 len;
	long long	 i;
	bool		 b;
	struct timespec	 t;
};

struct tparser {
	const char			*src;
	const char			*p;
	const struct template_scope	*scope;
	struct errbuf			*err;
	unsigned			 depth;
};

static int	parse_expr(struct tparser *, bool, struct tval *);

static void
tval_clear(struct tval *v)
{
	free(v->s);
	memset(v, 0, sizeof(*v));
}

static int
tval_set_str(struct tval *v, const char *s, size_t len)
{
	char	*copy;

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

static int
tval_undef(struct tval *v, const char *msg)
{
	int	r = tval_set_str(v, msg, strlen(msg));

	v->kind = TV_UNDEF;
	return r;
}

static bool
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
	case TV_BOOL:
		return v->b;
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

/* Turns v into its text (TV_STR); fails for values that cannot print. */
static int
tval_stringify(struct tparser *tp, struct tval *v)
{
	char	buf[64];

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
	case TV_BOOL:
		snprintf(buf, sizeof(buf), "%s", v->b ? "true" : "false");
		break;
	case TV_TIME:
		format_isoformat(&v->t, buf, sizeof(buf));
		break;
	}
	return tval_set_str(v, buf, strlen(buf));
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

static int
parse_int(struct tparser *tp, struct tval *out)
{
	char	*end;

	errno = 0;
	out->i = strtoll(tp->p, &end, 10);
	if (errno == ERANGE)
		return syntax_error(tp, "integer out of range");
	tp->p = end;
	out->kind = TV_INT;
	return 0;
}

/* --- functions --- */

static int
want_args(struct tparser *tp, const char *fn, size_t got, size_t want)
{
	if (got == want)
		return 0;
	errbuf_set(tp->err, "%s() takes %zu argument%s, got %zu", fn, want,
	    want == 1 ? "" : "s", got);
	return -EINVAL;
}

static int
fn_env(struct tparser *tp, struct tval *args, size_t nargs, struct tval *out)
{
	const char	*value;
	char		 msg[160];
	int		 r;

	if ((r = want_args(tp, "env", nargs, 1)) < 0)
		return r;
	if (args[0].kind != TV_STR || args[0].len == 0 ||
	    strlen(args[0].s) != args[0].len) {
		errbuf_set(tp->err, "env() needs a variable name");
		return -EINVAL;
	}
	value = tp->scope->getenv != NULL ?
	    tp->scope->getenv(tp->scope->arg, args[0].s) : getenv(args[0].s);
	if (value == NULL) {
		snprintf(msg, sizeof(msg),
		    "environment variable '%.100s' is not set", args[0].s);
		return tval_undef(out, msg);
	}
	return tval_set_str(out, value, strlen(value));
}

static int
fn_random_string(struct tparser *tp, struct tval *args, size_t nargs,
    struct tval *out)
{
	static const char	 alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	uint8_t			 pool[256];
	size_t			 n, used = sizeof(pool);
	char			*s;
	int			 r;

	if ((r = want_args(tp, "random_string", nargs, 1)) < 0)
		return r;
	if (args[0].kind != TV_INT || args[0].i < 1 ||
	    args[0].i > TEMPLATE_RANDOM_MAX) {
		errbuf_set(tp->err, "random_string() needs a length from 1 to %d",
		    TEMPLATE_RANDOM_MAX);
		return -EINVAL;
	}
	n = (size_t)args[0].i;
	if ((s = malloc(n + 1)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n;) {
		if (used == sizeof(pool)) {
			if (getrandom(pool, sizeof(pool), 0) !=
			    (ssize_t)sizeof(pool)) {
				free(s);
				errbuf_set(tp->err, "random_string(): %s",
				    strerror(errno));
				return -EIO;
			}
			used = 0;
		}
		/* 248 = 4 * 62: rejecting above it keeps the draw uniform */
		if (pool[used] < 248)
			s[i++] = alphabet[pool[used] % 62];
		used++;
	}
	s[n] = '\0';
	tval_clear(out);
	out->kind = TV_STR;
	out->s = s;
	out->len = n;
	/* a random value is generated to be a secret: never print it */
	out->secret = true;
	return 0;
}

static int
fn_base64_encode(struct tparser *tp, struct tval *args, size_t nargs,
    struct tval *out)
{
	size_t	 outlen;
	char	*s;
	int	 r;

	if ((r = want_args(tp, "base64_encode", nargs, 1)) < 0)
		return r;
	if ((r = tval_stringify(tp, &args[0])) < 0)
		return r;
	outlen = 4 * ((args[0].len + 2) / 3);
	if (outlen > TEMPLATE_OUTPUT_MAX) {
		errbuf_set(tp->err, "base64_encode(): input too large");
		return -E2BIG;
	}
	if ((r = crypto_base64(args[0].s, args[0].len, &s, tp->err)) < 0)
		return r == -ENOSYS ? -EINVAL : r;
	tval_clear(out);
	out->kind = TV_STR;
	out->s = s;
	out->len = outlen;
	out->secret = args[0].secret;
	out->placeholder = args[0].placeholder;
	return 0;
}

static int
fn_now(struct tparser *tp, struct tval *args, size_t nargs, struct tval *out)
{
	int	r;

	(void)args;
	if ((r = want_args(tp, "now", nargs, 0)) < 0)
		return r;
	tval_clear(out);
	out->kind = TV_TIME;
	clock_gettime(CLOCK_REALTIME, &out->t);
	return 0;
}

static const struct function {
	const char	*name;
	int		(*fn)(struct tparser *, struct tval *, size_t,
			    struct tval *);
} functions[] = {
	{ "env", fn_env },
	{ "random_string", fn_random_string },
	{ "base64_encode", fn_base64_encode },
	{ "now", fn_now },
};

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
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
		if (strcmp(functions[i].name, name) == 0) {
			bool	secret = false, placeholder = false;

			for (size_t a = 0; a < nargs; a++) {
				secret |= args[a].secret;
				placeholder |= args[a].placeholder;
			}
			r = functions[i].fn(tp, args, nargs, out);
			out->secret |= secret;
			out->placeholder |= placeholder;
			goto out;
		}
	errbuf_set(tp->err, "unknown function '%s'", name);
	r = -EINVAL;
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
	case YNODE_STRING:
		r = tval_set_str(v, n->text, n->len);
		break;
	case YNODE_MAP:
	case YNODE_SEQ:
		r = tval_set_str(v, name, strlen(name));
		v->kind = TV_COLLECTION;
		v->b = n->kind == YNODE_MAP;
		break;
	}
	v->secret = (n->flags & YNODE_SECRET) != 0;
	v->placeholder = (n->flags & YNODE_PLACEHOLDER) != 0;
	return r;
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

/* --- grammar --- */

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
		return parse_int(tp, out);
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
	if (accept(tp, '('))
		return parse_call(tp, ident, skip, out);
	return parse_name(tp, ident, skip, out);
}

static int
parse_postfix(struct tparser *tp, bool skip, struct tval *out)
{
	char	method[TEMPLATE_IDENT_MAX];
	char	buf[64];
	int	r;

	if ((r = parse_primary(tp, skip, out)) < 0)
		return r;
	while (accept(tp, '.')) {
		if (!read_ident(tp, method, sizeof(method)) || !accept(tp, '(') ||
		    !accept(tp, ')'))
			return syntax_error(tp, "expected a method call");
		if (skip)
			continue;
		if (strcmp(method, "isoformat") != 0 || out->kind != TV_TIME) {
			errbuf_set(tp->err, "no method '%s' here (only "
			    "now().isoformat() exists)", method);
			return -EINVAL;
		}
		format_isoformat(&out->t, buf, sizeof(buf));
		if ((r = tval_set_str(out, buf, strlen(buf))) < 0)
			return r;
	}
	return 0;
}

static int
apply_filter(struct tparser *tp, const char *name, struct tval *arg,
    bool has_arg, struct tval *v)
{
	int	r;

	if (strcmp(name, "default") == 0) {
		if (!has_arg)
			return want_args(tp, "default", 0, 1);
		if (v->kind == TV_UNDEF || v->kind == TV_NULL) {
			tval_clear(v);
			*v = *arg;
			memset(arg, 0, sizeof(*arg));
		}
		return 0;
	}
	if (strcmp(name, "upper") == 0 || strcmp(name, "lower") == 0) {
		if (has_arg)
			return want_args(tp, name, 1, 0);
		if ((r = tval_stringify(tp, v)) < 0)
			return r;
		for (size_t i = 0; i < v->len; i++)
			v->s[i] = (char)(name[0] == 'u' ?
			    toupper((unsigned char)v->s[i]) :
			    tolower((unsigned char)v->s[i]));
		return 0;
	}
	errbuf_set(tp->err, "unknown filter '%s'", name);
	return -EINVAL;
}

static int
parse_filtered(struct tparser *tp, bool skip, struct tval *out)
{
	char		name[TEMPLATE_IDENT_MAX];
	struct tval	arg;
	bool		has_arg;
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
		memset(&arg, 0, sizeof(arg));
		has_arg = false;
		if (accept(tp, '(')) {
			has_arg = true;
			if ((r = parse_expr(tp, skip, &arg)) < 0 ||
			    (!accept(tp, ')') &&
			    (r = syntax_error(tp, "expected ')'")) < 0)) {
				tval_clear(&arg);
				return r;
			}
		}
		r = skip ? 0 : apply_filter(tp, name, &arg, has_arg, out);
		tval_clear(&arg);
		if (r < 0)
			return r;
	}
}

static int
parse_expr(struct tparser *tp, bool skip, struct tval *out)
{
	int	r;

	if (++tp->depth > TEMPLATE_NEST_MAX)
		return syntax_error(tp, "expression nested too deeply");
	if ((r = parse_filtered(tp, skip, out)) < 0)
		return r;
	while (peek_keyword(tp, "or")) {
		bool		have = skip || tval_truthy(out);
		struct tval	alt;

		tp->p += 2;
		memset(&alt, 0, sizeof(alt));
		if ((r = parse_filtered(tp, have, &alt)) < 0) {
			tval_clear(&alt);
			return r;
		}
		if (!have) {
			tval_clear(out);
			*out = alt;
		} else
			tval_clear(&alt);
	}
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

bool
template_needed(const char *s)
{
	return strstr(s, "{{") != NULL;
}

int
template_render(const char *src, const struct template_scope *scope,
    struct template_output *out, struct errbuf *err)
{
	struct tparser	 tp = { .src = src, .p = src, .scope = scope,
			    .err = err };
	struct outbuf	 ob = { NULL, 0, 0 };
	struct tval	 v;
	bool		 secret = false, placeholder = false;
	int		 r;

	memset(&v, 0, sizeof(v));
	if ((r = outbuf_append(&ob, "", 0, err)) < 0)
		goto fail;
	for (;;) {
		const char	*open = strstr(tp.p, "{{");

		if (open == NULL) {
			r = outbuf_append(&ob, tp.p, strlen(tp.p), err);
			break;
		}
		if ((r = outbuf_append(&ob, tp.p, (size_t)(open - tp.p),
		    err)) < 0)
			goto fail;
		tp.p = open + 2;
		if (*tp.p == '-')	/* whitespace control, accepted */
			tp.p++;
		tp.depth = 0;
		if ((r = parse_expr(&tp, false, &v)) < 0)
			goto fail;
		skip_space(&tp);
		if (*tp.p == '-')
			tp.p++;
		if (tp.p[0] != '}' || tp.p[1] != '}') {
			r = syntax_error(&tp, "expected '}}'");
			goto fail;
		}
		tp.p += 2;
		if ((r = tval_stringify(&tp, &v)) < 0)
			goto fail;
		secret |= v.secret;
		placeholder |= v.placeholder;
		if ((r = outbuf_append(&ob, v.s, v.len, err)) < 0)
			goto fail;
		tval_clear(&v);
	}
	if (r < 0)
		goto fail;
	out->text = ob.s;
	out->len = ob.len;
	out->secret = secret;
	out->placeholder = placeholder;
	return 0;
fail:
	tval_clear(&v);
	free(ob.s);
	return r;
}
