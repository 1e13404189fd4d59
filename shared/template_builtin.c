/*
 * The template functions (env, random_string, base64_encode, now) and
 * filters (default, upper, lower, int, float, string, trim, replace,
 * length, join, tojson), each given values already evaluated. Every
 * value they make is bounded as the output is.
 */
#include "template_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "crypto.h"
#include "errbuf.h"
#include "ynode.h"

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

int
tpl_call_function(struct tparser *tp, const char *name, struct tval *args,
    size_t nargs, struct tval *out)
{
	int	r;

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
			return r;
		}
	errbuf_set(tp->err, "unknown function '%s' (functions: env, "
	    "random_string, base64_encode, now)", name);
	return -EINVAL;
}

/* --- filters --- */

static int
filter_args(struct tparser *tp, const char *name, size_t got, size_t min,
    size_t max)
{
	if (got >= min && got <= max)
		return 0;
	if (min == max)
		errbuf_set(tp->err, "filter '%s' takes %zu argument%s, got %zu",
		    name, min, min == 1 ? "" : "s", got);
	else
		errbuf_set(tp->err, "filter '%s' takes %zu to %zu arguments, "
		    "got %zu", name, min, max, got);
	return -EINVAL;
}

/* Text as a number for int and float: the whole of it, spaces aside. */
static bool
text_number(const char *s, bool integer, long long *i, double *d)
{
	char	*end;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return false;
	errno = 0;
	if (integer)
		*i = strtoll(s, &end, 10);
	else
		*d = strtod(s, &end);
	while (isspace((unsigned char)*end))
		end++;
	return *end == '\0' && errno == 0;
}

/* int and float. Unlike Jinja's, which give 0 for what is no number,
 * these say so: a port of 0 from a typo is no value to start with. */
static int
filter_number(struct tparser *tp, const char *name, struct tval *v)
{
	bool		integer = name[0] == 'i';
	long long	i = 0;
	double		d = 0;

	if (tval_need_defined(tp, v) < 0)
		return -EINVAL;
	if (v->kind == TV_STR && integer && text_number(v->s, true, &i, &d))
		d = (double)i;
	else if (v->kind == TV_STR && !text_number(v->s, false, &i, &d)) {
		errbuf_set(tp->err, "%s: '%.80s' is not a number", name,
		    v->secret ? "***" : v->s);
		return -EINVAL;
	} else if (v->kind == TV_INT || v->kind == TV_BOOL)
		d = (double)(i = v->kind == TV_INT ? v->i : v->b);
	else if (v->kind == TV_FLOAT)
		d = v->d;
	else if (v->kind != TV_STR) {
		errbuf_set(tp->err, "%s: %s is not a number", name,
		    tval_kind_name(v));
		return -EINVAL;
	}
	if (integer && (v->kind == TV_FLOAT || (v->kind == TV_STR &&
	    (double)i != d))) {
		/* in range first: the cast of a larger double is undefined */
		if (!(d > -9.2e18 && d < 9.2e18)) {
			errbuf_set(tp->err, "int: %g is out of range", d);
			return -EINVAL;
		}
		i = (long long)d;
	}
	free(v->s);
	v->s = NULL;
	v->kind = integer ? TV_INT : TV_FLOAT;
	v->i = i;
	v->d = d;
	return 0;
}

static int
filter_trim(struct tparser *tp, struct tval *v)
{
	size_t	a = 0, b;
	int	r;

	if ((r = tval_stringify(tp, v)) < 0)
		return r;
	b = v->len;
	while (a < b && isspace((unsigned char)v->s[a]))
		a++;
	while (b > a && isspace((unsigned char)v->s[b - 1]))
		b--;
	memmove(v->s, v->s + a, b - a);
	v->s[b - a] = '\0';
	v->len = b - a;
	return 0;
}

static int
filter_replace(struct tparser *tp, struct tval *args, struct tval *v)
{
	char	*out, *q;
	size_t	 n = 0, len;
	int	 r;

	if ((r = tval_stringify(tp, v)) < 0 ||
	    (r = tval_stringify(tp, &args[0])) < 0 ||
	    (r = tval_stringify(tp, &args[1])) < 0)
		return r;
	if (args[0].len == 0) {
		errbuf_set(tp->err, "replace: nothing to replace");
		return -EINVAL;
	}
	for (q = v->s; (q = strstr(q, args[0].s)) != NULL; q += args[0].len)
		n++;
	if (args[1].len > args[0].len && n > (TEMPLATE_OUTPUT_MAX - v->len) /
	    (args[1].len - args[0].len)) {
		errbuf_set(tp->err, "replace: output exceeds %u bytes",
		    TEMPLATE_OUTPUT_MAX);
		return -E2BIG;
	}
	len = v->len + n * args[1].len - n * args[0].len;
	if ((out = malloc(len + 1)) == NULL)
		return -ENOMEM;
	n = 0;
	for (const char *p = v->s; *p != '\0';) {
		if (strncmp(p, args[0].s, args[0].len) == 0) {
			memcpy(out + n, args[1].s, args[1].len);
			n += args[1].len;
			p += args[0].len;
		} else
			out[n++] = *p++;
	}
	out[n] = '\0';
	free(v->s);
	v->s = out;
	v->len = n;
	v->secret |= args[0].secret || args[1].secret;
	return 0;
}

/* Characters, not bytes, as Python counts a str. */
static size_t
utf8_length(const char *s, size_t len)
{
	size_t	n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xC0) != 0x80;
	return n;
}

static int
filter_length(struct tparser *tp, struct tval *v)
{
	long long	n;

	if (v->kind == TV_COLLECTION)
		n = (long long)v->node->count;
	else if (v->kind == TV_STR)
		n = (long long)utf8_length(v->s, v->len);
	else {
		if (tval_need_defined(tp, v) < 0)
			return -EINVAL;
		errbuf_set(tp->err, "length: %s has none", tval_kind_name(v));
		return -EINVAL;
	}
	free(v->s);
	v->s = NULL;
	v->kind = TV_INT;
	v->i = n;
	return 0;
}

static int
filter_join(struct tparser *tp, struct tval *args, size_t nargs,
    struct tval *v)
{
	const struct ynode	*list = v->node;
	char			*out = NULL;
	size_t			 len = 0;
	int			 r;

	if (v->kind != TV_COLLECTION) {
		if (tval_need_defined(tp, v) < 0)
			return -EINVAL;
		errbuf_set(tp->err, "join: %s is not a list",
		    tval_kind_name(v));
		return -EINVAL;
	}
	if (nargs == 1 && (r = tval_stringify(tp, &args[0])) < 0)
		return r;
	for (size_t i = 0; i < list->count; i++) {
		const struct ynode	*item = list->kind == YNODE_MAP ?
					    list->keys[i] : list->items[i];
		const char		*sep = nargs == 1 && i > 0 ?
					    args[0].s : "";
		size_t			 add;
		char			*grown;

		if (!ynode_is_scalar(item)) {
			free(out);
			errbuf_set(tp->err, "join: item %zu of '%s' is a %s", i,
			    v->s, ynode_kind_name(item->kind));
			return -EINVAL;
		}
		add = strlen(sep) + (item->text != NULL ? item->len : 0);
		if (add > TEMPLATE_OUTPUT_MAX - len) {
			free(out);
			errbuf_set(tp->err, "join: output exceeds %u bytes",
			    TEMPLATE_OUTPUT_MAX);
			return -E2BIG;
		}
		if ((grown = realloc(out, len + add + 1)) == NULL) {
			free(out);
			return -ENOMEM;
		}
		out = grown;
		len += (size_t)sprintf(out + len, "%s%s", sep,
		    item->text != NULL ? item->text : "");
		v->secret |= (item->flags & YNODE_SECRET) != 0;
		v->placeholder |= (item->flags & YNODE_PLACEHOLDER) != 0;
	}
	free(v->s);
	v->s = out != NULL ? out : strdup("");
	v->len = len;
	v->kind = TV_STR;
	v->node = NULL;
	return v->s == NULL ? -ENOMEM : 0;
}

/* A YAML tree as JSON, every scalar by its kind. */
static cJSON *
node_json(const struct ynode *n, bool *secret, unsigned depth)
{
	cJSON	*j;

	*secret |= (n->flags & (YNODE_SECRET | YNODE_PLACEHOLDER)) != 0;
	if (depth > 64)
		return NULL;
	switch (n->kind) {
	case YNODE_NULL:	return cJSON_CreateNull();
	case YNODE_BOOL:	return cJSON_CreateBool(n->v.b);
	case YNODE_INT:		return cJSON_CreateNumber((double)n->v.i);
	case YNODE_FLOAT:	return cJSON_CreateNumber(n->v.f);
	case YNODE_STRING:	return cJSON_CreateString(n->text);
	default:
		break;
	}
	if ((j = n->kind == YNODE_MAP ? cJSON_CreateObject() :
	    cJSON_CreateArray()) == NULL)
		return NULL;
	for (size_t i = 0; i < n->count; i++) {
		cJSON	*c = node_json(n->items[i], secret, depth + 1);

		if (c == NULL) {
			cJSON_Delete(j);
			return NULL;
		}
		if (n->kind == YNODE_MAP)
			cJSON_AddItemToObject(j, n->keys[i]->text, c);
		else
			cJSON_AddItemToArray(j, c);
	}
	return j;
}

static int
filter_tojson(struct tparser *tp, struct tval *v)
{
	cJSON	*j;
	char	*text;
	bool	 secret = false;
	int	 r;

	if (tval_need_defined(tp, v) < 0)
		return -EINVAL;
	switch (v->kind) {
	case TV_COLLECTION:	j = node_json(v->node, &secret, 0); break;
	case TV_NULL:		j = cJSON_CreateNull(); break;
	case TV_BOOL:		j = cJSON_CreateBool(v->b); break;
	case TV_INT:		j = cJSON_CreateNumber((double)v->i); break;
	case TV_FLOAT:		j = cJSON_CreateNumber(v->d); break;
	default:
		if ((r = tval_stringify(tp, v)) < 0)
			return r;
		j = cJSON_CreateString(v->s);
	}
	if (j == NULL || (text = cJSON_PrintUnformatted(j)) == NULL) {
		cJSON_Delete(j);
		return -ENOMEM;
	}
	cJSON_Delete(j);
	r = tval_set_str(v, text, strlen(text));
	explicit_bzero(text, strlen(text));
	free(text);
	v->node = NULL;
	v->secret |= secret;
	return r;
}

int
tpl_apply_filter(struct tparser *tp, const char *name, struct tval *args,
    size_t nargs, struct tval *v)
{
	int	r;

	if (strcmp(name, "default") == 0 || strcmp(name, "d") == 0) {
		/* default(x, true): also when v is empty or false */
		if ((r = filter_args(tp, name, nargs, 1, 2)) < 0)
			return r;
		if (v->kind == TV_UNDEF || v->kind == TV_NULL || (nargs == 2 &&
		    tval_truthy(&args[1]) && !tval_truthy(v)))
			tval_move(v, &args[0]);
		return 0;
	}
	if (strcmp(name, "upper") == 0 || strcmp(name, "lower") == 0) {
		if ((r = filter_args(tp, name, nargs, 0, 0)) < 0 ||
		    (r = tval_stringify(tp, v)) < 0)
			return r;
		for (size_t i = 0; i < v->len; i++)
			v->s[i] = (char)(name[0] == 'u' ?
			    toupper((unsigned char)v->s[i]) :
			    tolower((unsigned char)v->s[i]));
		return 0;
	}
	if (strcmp(name, "int") == 0 || strcmp(name, "float") == 0)
		return (r = filter_args(tp, name, nargs, 0, 0)) < 0 ? r :
		    filter_number(tp, name, v);
	if (strcmp(name, "string") == 0)
		return (r = filter_args(tp, name, nargs, 0, 0)) < 0 ? r :
		    tval_stringify(tp, v);
	if (strcmp(name, "trim") == 0)
		return (r = filter_args(tp, name, nargs, 0, 0)) < 0 ? r :
		    filter_trim(tp, v);
	if (strcmp(name, "replace") == 0)
		return (r = filter_args(tp, name, nargs, 2, 2)) < 0 ? r :
		    filter_replace(tp, args, v);
	if (strcmp(name, "length") == 0 || strcmp(name, "count") == 0)
		return (r = filter_args(tp, name, nargs, 0, 0)) < 0 ? r :
		    filter_length(tp, v);
	if (strcmp(name, "join") == 0)
		return (r = filter_args(tp, name, nargs, 0, 1)) < 0 ? r :
		    filter_join(tp, args, nargs, v);
	if (strcmp(name, "tojson") == 0)
		return (r = filter_args(tp, name, nargs, 0, 0)) < 0 ? r :
		    filter_tojson(tp, v);
	errbuf_set(tp->err, "unknown filter '%s' (filters: default, upper, "
	    "lower, int, float, string, trim, replace, length, join, tojson)",
	    name);
	return -EINVAL;
}

