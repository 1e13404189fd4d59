/*
 * PCRE2 behind pattern.h, loaded with dlopen(3) when a pattern is first
 * compiled and let go with the last one: a worker whose checks have no
 * regular expression never maps it (its relocations cost each process
 * about 8 KiB of private memory, and a worker per server is a budget of
 * about 100 KiB). Every search runs under a match limit and a depth
 * limit, so that a pattern that backtracks without end costs a bounded
 * amount of CPU and stack, not a hung check or preparation.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pattern.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <pcre2.h>

#ifndef MCPVISOR_PCRE2_SONAME
#define MCPVISOR_PCRE2_SONAME	"libpcre2-8.so.0"
#endif
#define PATTERN_MATCH_LIMIT	10000000	/* backtracking steps */
#define PATTERN_DEPTH_LIMIT	10000		/* nested backtracking */

typedef pcre2_code *compile_fn(PCRE2_SPTR, PCRE2_SIZE, uint32_t, int *,
    PCRE2_SIZE *, pcre2_compile_context *);
typedef int error_message_fn(int, PCRE2_UCHAR *, PCRE2_SIZE);
typedef pcre2_match_context *context_create_fn(pcre2_general_context *);
typedef int set_limit_fn(pcre2_match_context *, uint32_t);
typedef pcre2_match_data *data_create_fn(const pcre2_code *,
    pcre2_general_context *);
typedef int match_fn(const pcre2_code *, PCRE2_SPTR, PCRE2_SIZE, PCRE2_SIZE,
    uint32_t, pcre2_match_data *, pcre2_match_context *);
typedef void data_free_fn(pcre2_match_data *);
typedef void context_free_fn(pcre2_match_context *);
typedef void code_free_fn(pcre2_code *);

struct pattern {
	void			*lib;
	pcre2_code		*code;
	pcre2_match_context	*limits;
	data_create_fn		*data_create;
	match_fn		*match;
	data_free_fn		*data_free;
	context_free_fn		*context_free;
	code_free_fn		*code_free;
};

struct pattern *
pattern_compile(const char *re, bool multiline, char *why, size_t size)
{
	struct pattern		*p = calloc(1, sizeof(*p));
	compile_fn		*compile;
	error_message_fn	*error_message;
	context_create_fn	*context_create;
	set_limit_fn		*match_limit, *depth_limit;
	int			 code;
	PCRE2_SIZE		 at;
	PCRE2_UCHAR		 msg[160];

	if (p == NULL) {
		snprintf(why, size, "out of memory");
		return NULL;
	}
	if ((p->lib = dlopen(MCPVISOR_PCRE2_SONAME, RTLD_NOW | RTLD_LOCAL)) ==
	    NULL) {
		snprintf(why, size, "cannot load %s: %s", MCPVISOR_PCRE2_SONAME,
		    dlerror());
		free(p);
		return NULL;
	}
	*(void **)&compile = dlsym(p->lib, "pcre2_compile_8");
	*(void **)&error_message = dlsym(p->lib, "pcre2_get_error_message_8");
	*(void **)&context_create = dlsym(p->lib,
	    "pcre2_match_context_create_8");
	*(void **)&match_limit = dlsym(p->lib, "pcre2_set_match_limit_8");
	*(void **)&depth_limit = dlsym(p->lib, "pcre2_set_depth_limit_8");
	*(void **)&p->data_create = dlsym(p->lib,
	    "pcre2_match_data_create_from_pattern_8");
	*(void **)&p->match = dlsym(p->lib, "pcre2_match_8");
	*(void **)&p->data_free = dlsym(p->lib, "pcre2_match_data_free_8");
	*(void **)&p->context_free = dlsym(p->lib,
	    "pcre2_match_context_free_8");
	*(void **)&p->code_free = dlsym(p->lib, "pcre2_code_free_8");
	if (compile == NULL || error_message == NULL || context_create == NULL ||
	    match_limit == NULL || depth_limit == NULL ||
	    p->data_create == NULL || p->match == NULL ||
	    p->data_free == NULL || p->context_free == NULL ||
	    p->code_free == NULL) {
		snprintf(why, size, "%s lacks what it should have",
		    MCPVISOR_PCRE2_SONAME);
		pattern_free(p);
		return NULL;
	}
	p->code = compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
	    PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF |
	    (multiline ? PCRE2_MULTILINE : 0), &code, &at, NULL);
	if (p->code == NULL) {
		error_message(code, msg, sizeof(msg));
		snprintf(why, size, "%s at offset %zu", (const char *)msg,
		    (size_t)at);
		pattern_free(p);
		return NULL;
	}
	if ((p->limits = context_create(NULL)) == NULL) {
		snprintf(why, size, "out of memory");
		pattern_free(p);
		return NULL;
	}
	match_limit(p->limits, PATTERN_MATCH_LIMIT);
	depth_limit(p->limits, PATTERN_DEPTH_LIMIT);
	return p;
}

int
pattern_search(const struct pattern *p, const char *text, size_t len)
{
	pcre2_match_data	*md;
	int			 rc;

	if ((md = p->data_create(p->code, NULL)) == NULL)
		return -1;
	rc = p->match(p->code, (PCRE2_SPTR)text, len, 0, 0, md, p->limits);
	p->data_free(md);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

void
pattern_free(struct pattern *p)
{
	if (p == NULL)
		return;
	if (p->limits != NULL)
		p->context_free(p->limits);
	if (p->code != NULL)
		p->code_free(p->code);
	if (p->lib != NULL)
		dlclose(p->lib);
	free(p);
}
