/*
 * Diagnostics list. Messages are formatted once, when added, so that
 * nothing they refer to needs to outlive the call.
 */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ymark.h"

static void diag_vadd(struct diag_list *, enum diag_level, const char *,
    unsigned, unsigned, const char *, va_list)
    __attribute__((format(printf, 6, 0)));

static void
diag_vadd(struct diag_list *dl, enum diag_level level, const char *file,
    unsigned line, unsigned col, const char *fmt, va_list ap)
{
	struct diag	*d;
	char		*msg = NULL;

	if (level == DIAG_ERROR)
		dl->errors++;
	else
		dl->warnings++;
	if (dl->n == DIAG_MAX)
		goto drop;
	if (dl->n == dl->cap) {
		size_t		 cap = dl->cap ? dl->cap * 2 : 16;
		struct diag	*v;

		if ((v = realloc(dl->v, cap * sizeof(*v))) == NULL)
			goto drop;
		dl->v = v;
		dl->cap = cap;
	}
	if (vasprintf(&msg, fmt, ap) == -1)
		goto drop;
	d = &dl->v[dl->n];
	d->level = level;
	d->line = line;
	d->col = col;
	d->msg = msg;
	d->file = NULL;
	if (file != NULL && (d->file = strdup(file)) == NULL) {
		free(msg);
		goto drop;
	}
	dl->n++;
	return;
drop:
	dl->dropped++;
}

void
diag_add(struct diag_list *dl, enum diag_level level, const struct ymark *m,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (m == NULL)
		diag_vadd(dl, level, NULL, 0, 0, fmt, ap);
	else
		diag_vadd(dl, level, ymark_file(m), m->line, m->col, fmt, ap);
	va_end(ap);
}

void
diag_add_file(struct diag_list *dl, enum diag_level level, const char *file,
    const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	diag_vadd(dl, level, file, 0, 0, fmt, ap);
	va_end(ap);
}

static const char *
diag_level_name(enum diag_level level)
{
	return level == DIAG_ERROR ? "error" : "warning";
}

void
diag_print(const struct diag_list *dl, FILE *fp)
{
	for (size_t i = 0; i < dl->n; i++) {
		const struct diag *d = &dl->v[i];

		if (d->file != NULL && d->line > 0)
			fprintf(fp, "%s:%u:%u: ", d->file, d->line, d->col);
		else if (d->file != NULL)
			fprintf(fp, "%s: ", d->file);
		fprintf(fp, "%s: %s\n", diag_level_name(d->level), d->msg);
	}
	if (dl->dropped > 0)
		fprintf(fp, "error: %zu further diagnostics not shown\n",
		    dl->dropped);
}

struct cJSON *
diag_to_json(const struct diag_list *dl)
{
	cJSON	*arr, *o;

	if ((arr = cJSON_CreateArray()) == NULL)
		return NULL;
	for (size_t i = 0; i < dl->n; i++) {
		const struct diag *d = &dl->v[i];

		if ((o = cJSON_CreateObject()) == NULL)
			goto fail;
		cJSON_AddItemToArray(arr, o);
		if (cJSON_AddStringToObject(o, "level",
		    diag_level_name(d->level)) == NULL ||
		    (d->file != NULL &&
		    cJSON_AddStringToObject(o, "file", d->file) == NULL) ||
		    (d->line > 0 &&
		    (cJSON_AddNumberToObject(o, "line", d->line) == NULL ||
		    cJSON_AddNumberToObject(o, "column", d->col) == NULL)) ||
		    cJSON_AddStringToObject(o, "message", d->msg) == NULL)
			goto fail;
	}
	return arr;
fail:
	cJSON_Delete(arr);
	return NULL;
}

static void diag_add_at(struct diag_list *, enum diag_level, const char *,
    unsigned, unsigned, const char *, ...)
    __attribute__((format(printf, 6, 7)));

static void
diag_add_at(struct diag_list *dl, enum diag_level level, const char *file,
    unsigned line, unsigned col, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	diag_vadd(dl, level, file, line, col, fmt, ap);
	va_end(ap);
}

void
diag_list_move(struct diag_list *dst, struct diag_list *src)
{
	size_t	kept_errors = 0, kept_warnings = 0;

	for (size_t i = 0; i < src->n; i++) {
		const struct diag *d = &src->v[i];

		if (d->level == DIAG_ERROR)
			kept_errors++;
		else
			kept_warnings++;
		diag_add_at(dst, d->level, d->file, d->line, d->col, "%s",
		    d->msg);
	}
	/* entries src had to drop still count */
	dst->errors += src->errors - kept_errors;
	dst->warnings += src->warnings - kept_warnings;
	dst->dropped += src->dropped;
	diag_list_free(src);
}

void
diag_list_free(struct diag_list *dl)
{
	for (size_t i = 0; i < dl->n; i++) {
		free(dl->v[i].file);
		free(dl->v[i].msg);
	}
	free(dl->v);
	memset(dl, 0, sizeof(*dl));
}
