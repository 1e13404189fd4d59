/*
 * Regular expressions as the guide's users write them: Python's re
 * syntax (\d, \w, (?i), lazy quantifiers, lookarounds), through PCRE2,
 * Debian's libpcre2. Used for validation rules' format:KEY:REGEX and
 * the health checks' expected_body_regex and expected_output_regex.
 * A search (re.search): a match anywhere, within a bounded effort.
 */
#ifndef MCPVISOR_PATTERN_H
#define MCPVISOR_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

struct pattern;

/* Compiles re (UTF-8, Unicode classes as in Python 3's str patterns;
 * multiline: ^ and $ at each line, as re.M). NULL with the reason, and
 * the offset it was found at, in why. */
struct pattern	*pattern_compile(const char *re, bool multiline, char *why,
		    size_t size);
/* 1: text[0..len) holds a match; 0: it does not; -1: no answer (the
 * effort bound was reached, or memory ran out), which callers count
 * as no match. Text that is not UTF-8 is searched where it is. */
int		 pattern_search(const struct pattern *, const char *text,
		    size_t len);
void		 pattern_free(struct pattern *);

#endif
