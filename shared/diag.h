/*
 * Diagnostics: a list of errors and warnings, each tied to a place in a
 * file. Loaders add to the list and carry on, so that a person sees every
 * mistake in a file at once; the caller decides how to print them.
 */
#ifndef MCPVISOR_DIAG_H
#define MCPVISOR_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct ymark;
struct cJSON;

enum diag_level {
	DIAG_ERROR,
	DIAG_WARNING,
};

struct diag {
	enum diag_level	 level;
	char		*file;		/* NULL when the problem has no file */
	unsigned	 line;		/* 1-based; 0 when only the file is known */
	unsigned	 col;		/* 1-based; 0 when unknown */
	char		*msg;
};

/* Zero-initialise before use; release with diag_list_free(). */
struct diag_list {
	struct diag	*v;
	size_t		 n;
	size_t		 cap;
	size_t		 errors;
	size_t		 warnings;
	size_t		 dropped;	/* past DIAG_MAX, counted but not kept */
};

#define DIAG_MAX 10000

/* Appends one diagnostic. mark may be NULL. An allocation failure is
 * counted as a dropped entry, never lost silently: errors still rises. */
void	diag_add(struct diag_list *, enum diag_level, const struct ymark *,
	    const char *, ...) __attribute__((format(printf, 4, 5)));
/* As diag_add() for a whole file (file may be NULL). */
void	diag_add_file(struct diag_list *, enum diag_level, const char *,
	    const char *, ...) __attribute__((format(printf, 4, 5)));
/* Prints "file:line:col: error: message" lines, in the order added. */
void	diag_print(const struct diag_list *, FILE *);
/* Returns a new cJSON array the caller owns, or NULL on ENOMEM. */
struct cJSON *diag_to_json(const struct diag_list *);
/* Moves every entry of src to the end of dst; src is left empty. */
void	diag_list_move(struct diag_list *dst, struct diag_list *src);
void	diag_list_free(struct diag_list *);

#endif
