/*
 * Logging for the three processes and the CLI. main() sets the sink and
 * verbosity once before its loop; modules do not log for their callers
 * (they return errors), so only the place that decides logs.
 * Never pass a configuration value to these functions unredacted: a value
 * flagged YNODE_SECRET is printed as "***" by every formatter we have.
 */
#ifndef MCPVISOR_LOG_H
#define MCPVISOR_LOG_H

#include <stdbool.h>
#include <stddef.h>

/* progname prefixes each line; verbose enables log_debug(). */
void	log_init(const char *progname, bool verbose);
/* Every line passes through fn before it is written (a worker masks its
 * server's secrets so); NULL: none. */
void	log_set_filter(void (*fn)(char *line, size_t len, void *), void *arg);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Logs (with errno's text) and exits with status 111 or 100. */
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(int status, const char *, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

#endif
