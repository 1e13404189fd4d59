/*
 * A caller-supplied buffer for one human-readable error: modules fill it,
 * the caller that decides what to do prints it.
 */
#ifndef MCPVISOR_ERRBUF_H
#define MCPVISOR_ERRBUF_H

struct errbuf {
	char	msg[512];
};

/* Formats into eb (truncating); eb may be NULL. */
void	errbuf_set(struct errbuf *eb, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
