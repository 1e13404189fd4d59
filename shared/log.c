/*
 * Line-buffered logging to stderr. The one module with file-scope state:
 * the program name and verbosity, set once by main.
 */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char	*log_progname = "mcpvisor";
static bool		 log_verbose;
static void		(*log_filter)(char *, size_t, void *);
static void		*log_filter_arg;

void
log_set_filter(void (*fn)(char *, size_t, void *), void *arg)
{
	log_filter = fn;
	log_filter_arg = arg;
}

void
log_init(const char *progname, bool verbose)
{
	log_progname = progname;
	log_verbose = verbose;
}

static void log_vline(const char *, const char *, va_list, const char *)
    __attribute__((format(printf, 2, 0)));

static void
log_vline(const char *level, const char *fmt, va_list ap, const char *tail)
{
	char	line[2048], whole[2200];
	int	n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = snprintf(whole, sizeof(whole), "%s%s%s", line, tail != NULL ?
	    ": " : "", tail != NULL ? tail : "");
	if (log_filter != NULL)
		log_filter(whole, n < 0 ? 0 : (size_t)n < sizeof(whole) ?
		    (size_t)n : sizeof(whole) - 1, log_filter_arg);
	/* one write per line, so that lines of processes sharing a
	 * descriptor do not interleave */
	fprintf(stderr, "%s: %s%s\n", log_progname, level, whole);
	fflush(stderr);
}

void
log_warn(const char *fmt, ...)
{
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	log_vline("", fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vline("", fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vline("", fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vline("debug: ", fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	log_vline("fatal: ", fmt, ap, strerror(saved));
	va_end(ap);
	exit(111);
}

void
fatalx(int status, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vline("fatal: ", fmt, ap, NULL);
	va_end(ap);
	exit(status);
}
