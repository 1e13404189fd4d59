/*
 * A place in a source file: the file (a name shared by reference among
 * everything read from it) and a line and column. What a diagnostic
 * points at, and what every node of a YAML tree remembers.
 */
#ifndef MCPVISOR_YMARK_H
#define MCPVISOR_YMARK_H

struct ysource;

struct ymark {
	struct ysource	*src;		/* may be NULL for generated nodes */
	unsigned	 line;		/* 1-based */
	unsigned	 col;		/* 1-based */
};

/* A new source of one reference, named name; NULL on ENOMEM. */
struct ysource	*ysource_new(const char *name);
void		 ysource_unref(struct ysource *);	/* accepts NULL */

const char	*ymark_file(const struct ymark *);	/* "" when none */
/* dst refers to src's file too (src may be NULL: an empty mark). */
void		 ymark_copy(struct ymark *dst, const struct ymark *src);
void		 ymark_release(struct ymark *);

#endif
