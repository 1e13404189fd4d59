#include "secrets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ynode.h"

int
secrets_add(struct secret_set *s, const char *text)
{
	char	**v;

	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], text) == 0)
			return 0;
	if ((v = realloc(s->v, (s->n + 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	s->v = v;
	if ((v[s->n] = strdup(text)) == NULL)
		return -ENOMEM;
	s->n++;
	return 0;
}

int
secrets_collect(struct secret_set *s, const struct ynode *n)
{
	if (n == NULL)
		return 0;
	if (n->kind == YNODE_MAP || n->kind == YNODE_SEQ) {
		for (size_t i = 0; i < n->count; i++)
			if (secrets_collect(s, n->items[i]) < 0)
				return -ENOMEM;
		return 0;
	}
	if (!(n->flags & YNODE_SECRET) || n->text == NULL || n->len < 3)
		return 0;
	return secrets_add(s, n->text);
}

int
secrets_merge(struct secret_set *dst, const struct secret_set *src)
{
	for (size_t i = 0; i < src->n; i++)
		if (secrets_add(dst, src->v[i]) < 0)
			return -ENOMEM;
	return 0;
}

void
secrets_scrub(const struct secret_set *s, char *text, size_t len)
{
	for (size_t i = 0; i < s->n; i++) {
		size_t	 n = strlen(s->v[i]);
		char	*p = text, *end = text + len;

		while ((p = memmem(p, (size_t)(end - p), s->v[i], n)) != NULL) {
			memset(p, '*', n);
			p += n;
		}
	}
}

void
secrets_scrub_json(const struct secret_set *s, cJSON *j)
{
	for (; j != NULL; j = j->next) {
		if (j->string != NULL)
			secrets_scrub(s, j->string, strlen(j->string));
		if (cJSON_IsString(j) && j->valuestring != NULL)
			secrets_scrub(s, j->valuestring, strlen(j->valuestring));
		if (j->child != NULL)
			secrets_scrub_json(s, j->child);
	}
}

void
secrets_clear(struct secret_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		explicit_bzero(s->v[i], strlen(s->v[i]));
		free(s->v[i]);
	}
	free(s->v);
	s->v = NULL;
	s->n = 0;
}
