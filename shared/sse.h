/*
 * A Server-Sent Events reader (the WHATWG event-stream format), as MCP's
 * Streamable HTTP transport uses it: bytes in, one callback per event
 * with its data lines joined by LF. It does no I/O. Lines end in LF, CRLF
 * or CR; a blank line ends an event; comments and the id, event and
 * retry fields are skipped; an event whose data is empty (a priming
 * event) is not handed on. A line or an event longer than SSE_MAX fails
 * the stream instead of growing without bound.
 */
#ifndef MCPVISOR_SSE_H
#define MCPVISOR_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define SSE_MAX		(16u << 20)

/* Handles one event's data (len bytes and a NUL). Returns false to stop
 * reading the stream. */
typedef bool sse_event_fn(void *arg, const char *data, size_t len);

struct sse_reader {
	sse_event_fn	*fn;
	void		*arg;
	char		*line;		/* the line being gathered */
	size_t		 line_len;
	size_t		 line_cap;
	char		*data;		/* the event's data so far */
	size_t		 data_len;
	size_t		 data_cap;
	bool		 have_data;
	bool		 after_cr;	/* a CR ended the last line */
	bool		 bom_checked;
	bool		 stopped;
};

void	sse_reader_init(struct sse_reader *, sse_event_fn *, void *arg);
/* Returns 0, 1 once fn asked to stop (what follows is not read), or
 * -EMSGSIZE / -ENOMEM. */
int	sse_feed(struct sse_reader *, const char *, size_t);
void	sse_reader_clear(struct sse_reader *);

#endif
