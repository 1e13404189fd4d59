/*
 * The event-stream reader. Bytes are split into lines here and each line
 * is interpreted as it completes, so a response arriving one byte at a
 * time parses like one arriving whole.
 */
#include "sse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void
sse_reader_init(struct sse_reader *r, sse_event_fn *fn, void *arg)
{
	memset(r, 0, sizeof(*r));
	r->fn = fn;
	r->arg = arg;
}

void
sse_reader_clear(struct sse_reader *r)
{
	free(r->line);
	free(r->data);
	sse_reader_init(r, r->fn, r->arg);
}

static int
grow(char **buf, size_t *cap, size_t need)
{
	size_t	 c = *cap ? *cap : 256;
	char	*p;

	if (need > SSE_MAX)
		return -EMSGSIZE;
	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if ((p = realloc(*buf, c)) == NULL)
		return -ENOMEM;
	*buf = p;
	*cap = c;
	return 0;
}

static int
dispatch(struct sse_reader *r)
{
	bool	go_on;

	if (!r->have_data || r->data_len == 0) {
		r->have_data = false;
		r->data_len = 0;
		return 0;
	}
	r->data[r->data_len] = '\0';
	go_on = r->fn(r->arg, r->data, r->data_len);
	r->have_data = false;
	r->data_len = 0;
	if (!go_on)
		r->stopped = true;
	return go_on ? 0 : 1;
}

static int
line_done(struct sse_reader *r)
{
	const char	*value;
	size_t		 name_len, value_len;
	int		 e;

	if (r->line_len == 0)
		return dispatch(r);
	if (r->line[0] == ':')
		return 0;
	name_len = r->line_len;
	if ((value = memchr(r->line, ':', r->line_len)) != NULL) {
		name_len = (size_t)(value - r->line);
		value++;
		if (value < r->line + r->line_len && *value == ' ')
			value++;
	} else
		value = r->line + r->line_len;
	value_len = (size_t)(r->line + r->line_len - value);
	if (name_len != 4 || memcmp(r->line, "data", 4) != 0)
		return 0;
	/* data lines join with LF; one spare byte for the final NUL */
	if ((e = grow(&r->data, &r->data_cap, r->data_len + value_len + 2)) < 0)
		return e;
	if (r->have_data)
		r->data[r->data_len++] = '\n';
	memcpy(r->data + r->data_len, value, value_len);
	r->data_len += value_len;
	r->have_data = true;
	return 0;
}

int
sse_feed(struct sse_reader *r, const char *p, size_t n)
{
	int	e;

	if (r->stopped)
		return 1;
	if (!r->bom_checked && n > 0) {
		/* a UTF-8 byte-order mark may open the stream */
		if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
			p += 3;
			n -= 3;
		}
		r->bom_checked = true;
	}
	for (size_t i = 0; i < n; i++) {
		char	c = p[i];

		if (c == '\n' && r->after_cr) {
			r->after_cr = false;
			continue;
		}
		r->after_cr = c == '\r';
		if (c == '\n' || c == '\r') {
			e = line_done(r);
			r->line_len = 0;
			if (e != 0)
				return e;
			continue;
		}
		if ((e = grow(&r->line, &r->line_cap, r->line_len + 1)) < 0)
			return e;
		r->line[r->line_len++] = c;
	}
	return 0;
}
