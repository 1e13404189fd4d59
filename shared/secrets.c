#include "secrets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

static int
add_one(struct secret_set *s, const char *text, size_t len)
{
	char	**v;

	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->v[i]) == len && memcmp(s->v[i], text, len) == 0)
			return 0;
	if ((v = realloc(s->v, (s->n + 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	s->v = v;
	if ((v[s->n] = strndup(text, len)) == NULL)
		return -ENOMEM;
	s->n++;
	if (len > s->longest)
		s->longest = len;
	return 0;
}

int
secrets_add(struct secret_set *s, const char *text)
{
	const char	*line, *nl;

	if (add_one(s, text, strlen(text)) < 0)
		return -ENOMEM;
	/* a secret of several lines (a key in PEM) is masked line by line
	 * too: output is often cut at line ends */
	for (line = text; (nl = strchr(line, '\n')) != NULL; line = nl + 1)
		if (nl - line >= SECRET_MIN && add_one(s, line,
		    (size_t)(nl - line)) < 0)
			return -ENOMEM;
	if (line != text && strlen(line) >= SECRET_MIN &&
	    add_one(s, line, strlen(line)) < 0)
		return -ENOMEM;
	return 0;
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

/* What may be written now: every complete line, and of a partial line
 * all but what could still begin a secret that the next bytes end. */
static size_t
stream_safe(const struct secret_stream *st, size_t longest)
{
	size_t	keep = longest > 0 ? longest - 1 : 0;
	size_t	n = st->len;

	while (n > 0 && st->buf[n - 1] != '\n')
		n--;
	if (st->len - n > keep)
		n = st->len - keep;
	return n;
}

void
secrets_stream(const struct secret_set *s, struct secret_stream *st,
    const char *data, size_t len, secrets_out_fn *out, void *arg)
{
	while (len > 0) {
		size_t	room = sizeof(st->buf) - st->len;
		size_t	take = len < room ? len : room;
		size_t	safe;

		memcpy(st->buf + st->len, data, take);
		st->len += take;
		data += take;
		len -= take;
		secrets_scrub(s, st->buf, st->len);
		safe = stream_safe(st, s->longest);
		if (safe > 0)
			out(st->buf, safe, arg);
		memmove(st->buf, st->buf + safe, st->len - safe);
		st->len -= safe;
	}
}

void
secrets_stream_flush(const struct secret_set *s, struct secret_stream *st,
    secrets_out_fn *out, void *arg)
{
	secrets_scrub(s, st->buf, st->len);
	if (st->len > 0)
		out(st->buf, st->len, arg);
	st->len = 0;
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
	s->longest = 0;
}

void
secrets_wipe_json(cJSON *j)
{
	cJSON	*c;

	if (j == NULL)
		return;
	if (cJSON_IsString(j) && j->valuestring != NULL)
		explicit_bzero(j->valuestring, strlen(j->valuestring));
	cJSON_ArrayForEach(c, j)
		secrets_wipe_json(c);
}
