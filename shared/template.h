/*
 * Jinja-style templates, the part of Jinja a configuration needs:
 * "{{ expr }}" anywhere in a string, "{# comments #}", and the
 * statements {% if %}/{% elif %}/{% else %}/{% endif %} and
 * {% for x in list %}, {% for k, v in map.items() %} (with loop.index,
 * index0, revindex, first, last, length, and an else for no items)
 * ... {% endfor %}, with '-' trimming whitespace at either side of a tag.
 * An expression is a dotted name (config.api.port, env.api_key), a
 * string, integer, float, true/false or none literal, a call of
 * env('NAME'), random_string(n), base64_encode(x) or now() with its
 * .isoformat(), a filter (default, upper, lower, int, float, string,
 * trim, replace, length, join, tojson), a ~ b, a + b, a - b,
 * comparisons (==, !=, <, <=, >, >=, chained as in Python), "is
 * [not] defined/undefined/none", not, and, or (Python's: the deciding
 * operand), and "x if c else y". Anything else is an error naming what
 * and where. Nothing is evaluated but this grammar; nesting, loop
 * passes, literal sizes, values and output are bounded. Names are
 * resolved by the caller's scope, which is where configuration,
 * variables and secrets live: this module knows none of them.
 */
#ifndef MCPVISOR_TEMPLATE_H
#define MCPVISOR_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

struct errbuf;
struct ynode;

#define TEMPLATE_OUTPUT_MAX	(64u << 10)
#define TEMPLATE_NEST_MAX	32
#define TEMPLATE_RANDOM_MAX	4096
#define TEMPLATE_LOOP_MAX	10000u	/* passes of every loop together */

struct template_scope {
	/* Resolves the dotted name parts[0..nparts-1]. Returns 0 and a
	 * borrowed node in *out (valid until template_render returns),
	 * -ENOENT when the name is undefined (with the message to show in
	 * err, e.g. "undefined variable 'api_key'"), or another negative
	 * errno with err filled. */
	int		(*lookup)(void *arg, const char *const *parts,
			    size_t nparts, const struct ynode **out,
			    struct errbuf *err);
	/* Reads the process environment for env('NAME'); NULL: getenv. */
	const char	*(*getenv)(void *arg, const char *name);
	void		*arg;
};

struct template_output {
	char	*text;		/* NUL-terminated; the caller frees it */
	size_t	 len;
	bool	 secret;	/* a secret or random value went into it */
	bool	 placeholder;	/* an unset secret went into it */
};

/* Whether s holds a "{{", "{%" or "{#" and so needs rendering. */
bool	template_needed(const char *s);

/* Renders src. Returns 0 and fills *out, or a negative errno with err
 * describing the problem: -EINVAL (syntax, undefined name, bad argument),
 * -E2BIG (output over TEMPLATE_OUTPUT_MAX), -ENOMEM, or what the scope's
 * lookup returned. */
int	template_render(const char *src, const struct template_scope *,
	    struct template_output *out, struct errbuf *err);

#endif
