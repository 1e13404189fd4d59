#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>

void
errbuf_set(struct errbuf *eb, const char *fmt, ...)
{
	va_list	ap;

	if (eb == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
	va_end(ap);
}
