/*
 * Events, records and the journal. An event is journalled (made durable
 * by the group commit at the end of the loop turn), written to its
 * deployment's log, logged when mcpvisord runs as init, and handed to
 * whoever listens (the control socket's followers and watchers). A
 * record is one JSON file of the state directory, replaced atomically.
 */
#ifndef MCPVISOR_EVENTS_H
#define MCPVISOR_EVENTS_H

#include <stdarg.h>
#include <stdbool.h>

struct cJSON;
struct supervisor;

/* Where an event comes from: a deployment (its id and its log), or
 * nothing (deployment_id NULL, logfd -1); verbose: its debug events go
 * to its log and ours as well (deploy start --verbose). */
struct event_origin {
	const char	*deployment_id;
	int		 logfd;
	bool		 verbose;
};

/* Whether events of type are debug events ("level": "debug"): in the
 * journal and to every listener always, in a log only when verbose. */
bool	events_is_debug(const char *type);

/* Records and announces one event; takes ownership of details (NULL: an
 * empty object). */
void	events_emit(struct supervisor *, const struct event_origin *,
	    const char *server, const char *type, struct cJSON *details,
	    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void	events_emitv(struct supervisor *, const struct event_origin *,
	    const char *server, const char *type, struct cJSON *details,
	    const char *fmt, va_list) __attribute__((format(printf, 6, 0)));
/* Hands ev (given its sequence number) to whoever follows or watches,
 * without journalling it; the caller keeps ev. */
void	events_broadcast(struct supervisor *, struct cJSON *ev);
/* Writes dir/ID.json of the state directory (takes ownership of o), and
 * says so when it cannot: a record is evidence, its loss is worth a
 * line. */
void	events_write_record(struct supervisor *, const char *dir,
	    const char *id, struct cJSON *o);
/* Makes every event so far durable. 0 or a negative errno (logged). */
int	events_commit(struct supervisor *);

#endif
