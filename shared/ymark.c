#include "ymark.h"

#include <stdlib.h>
#include <string.h>

struct ysource {
	unsigned	refs;
	char		name[];
};

struct ysource *
ysource_new(const char *name)
{
	size_t		 len = strlen(name);
	struct ysource	*s;

	if ((s = malloc(sizeof(*s) + len + 1)) == NULL)
		return NULL;
	s->refs = 1;
	memcpy(s->name, name, len + 1);
	return s;
}

void
ysource_unref(struct ysource *s)
{
	if (s != NULL && --s->refs == 0)
		free(s);
}

const char *
ymark_file(const struct ymark *m)
{
	return m != NULL && m->src != NULL ? m->src->name : "";
}

void
ymark_copy(struct ymark *dst, const struct ymark *src)
{
	if (src == NULL) {
		memset(dst, 0, sizeof(*dst));
		return;
	}
	*dst = *src;
	if (dst->src != NULL)
		dst->src->refs++;
}

void
ymark_release(struct ymark *m)
{
	ysource_unref(m->src);
	m->src = NULL;
}

