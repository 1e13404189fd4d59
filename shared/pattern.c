/*
 * PCRE2 behind pattern.h. Every search runs under a match limit and a
 * depth limit, so that a pattern that backtracks without end costs a
 * bounded amount of CPU and stack, not a hung check or preparation.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pattern.h"

#include <stdio.h>
#include <stdlib.h>

#include <pcre2.h>

#define PATTERN_MATCH_LIMIT	10000000	/* backtracking steps */
#define PATTERN_DEPTH_LIMIT	10000		/* nested backtracking */

struct pattern {
	pcre2_code		*code;
	pcre2_match_context	*limits;
};

struct pattern *
pattern_compile(const char *re, bool multiline, char *why, size_t size)
{
	struct pattern	*p = calloc(1, sizeof(*p));
	int		 code;
	PCRE2_SIZE	 at;
	PCRE2_UCHAR	 msg[160];

	if (p == NULL) {
		snprintf(why, size, "out of memory");
		return NULL;
	}
	p->code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF |
	    (multiline ? PCRE2_MULTILINE : 0), &code, &at, NULL);
	if (p->code == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(why, size, "%s at offset %zu", (const char *)msg,
		    (size_t)at);
		free(p);
		return NULL;
	}
	if ((p->limits = pcre2_match_context_create(NULL)) == NULL) {
		snprintf(why, size, "out of memory");
		pattern_free(p);
		return NULL;
	}
	pcre2_set_match_limit(p->limits, PATTERN_MATCH_LIMIT);
	pcre2_set_depth_limit(p->limits, PATTERN_DEPTH_LIMIT);
	return p;
}

int
pattern_search(const struct pattern *p, const char *text, size_t len)
{
	pcre2_match_data	*md;
	int			 rc;

	if ((md = pcre2_match_data_create_from_pattern(p->code, NULL)) ==
	    NULL)
		return -1;
	rc = pcre2_match(p->code, (PCRE2_SPTR)text, len, 0, 0, md, p->limits);
	pcre2_match_data_free(md);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

void
pattern_free(struct pattern *p)
{
	if (p == NULL)
		return;
	pcre2_match_context_free(p->limits);
	pcre2_code_free(p->code);
	free(p);
}
