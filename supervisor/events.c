#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "log.h"
#include "state.h"
#include "supervisor.h"

/* What a person following a deployment needs only when asking for more:
 * what each sandbox kept and dropped, each worker as it starts, each
 * hook as it starts. */
static const char *const debug_types[] = { "sandbox_applied",
    "worker_started", "hook_started", NULL };

bool
events_is_debug(const char *type)
{
	for (size_t i = 0; debug_types[i] != NULL; i++)
		if (strcmp(debug_types[i], type) == 0)
			return true;
	return false;
}

void
events_emitv(struct supervisor *sv, const struct event_origin *o,
    const char *server, const char *type, cJSON *details, const char *fmt,
    va_list ap)
{
	cJSON	*ev = cJSON_CreateObject();
	char	 when[40], message[1024], line[1400];
	bool	 debug = events_is_debug(type);
	bool	 verbose = o != NULL && o->verbose;
	int	 n, r;

	vsnprintf(message, sizeof(message), fmt, ap);
	state_iso_now(when, sizeof(when));
	if (ev == NULL) {
		cJSON_Delete(details);
		return;
	}
	cJSON_AddNumberToObject(ev, "seq", (double)++sv->seq);
	cJSON_AddStringToObject(ev, "timestamp", when);
	if (o != NULL && o->deployment_id != NULL)
		cJSON_AddStringToObject(ev, "deployment_id", o->deployment_id);
	cJSON_AddStringToObject(ev, "event_type", type);
	if (debug)
		cJSON_AddStringToObject(ev, "level", "debug");
	if (server != NULL)
		cJSON_AddStringToObject(ev, "server_name", server);
	cJSON_AddStringToObject(ev, "message", message);
	cJSON_AddItemToObject(ev, "details",
	    details != NULL ? details : cJSON_CreateObject());
	/* a full disk is said once, by events_commit(); what is dropped
	 * is counted in the journal's gap line */
	if ((r = journal_append(&sv->journal, ev)) < 0 && r != -ENOSPC)
		log_warnx("journal: %s; event %llu not recorded",
		    strerror(-r), (unsigned long long)sv->seq);
	if (o != NULL && o->logfd != -1 && (!debug || verbose)) {
		n = snprintf(line, sizeof(line), "%s %s%s%s %s\n", when,
		    server != NULL ? server : "", server != NULL ? ": " : "",
		    type, message);
		/* a full disk is said once, and again once it is over */
		if (n > 0 && write(o->logfd, line, (size_t)n < sizeof(line) ?
		    (size_t)n : sizeof(line) - 1) == -1) {
			if (!sv->deployment_log_failing)
				log_warn("deployment log %s", o->deployment_id);
			sv->deployment_log_failing = true;
		} else if (n > 0 && sv->deployment_log_failing) {
			log_info("deployment log %s: writing again",
			    o->deployment_id);
			sv->deployment_log_failing = false;
		}
	}
	if ((sv->init_mode && !debug) || (debug && verbose))
		log_info("%s%s%s%s%s %s", debug ? o->deployment_id : "",
		    debug ? " " : "", server != NULL ? server : "",
		    server != NULL ? ": " : "", type, message);
	if (sv->on_event != NULL)
		sv->on_event(sv, ev);
	cJSON_Delete(ev);
}

void
events_emit(struct supervisor *sv, const struct event_origin *o,
    const char *server, const char *type, cJSON *details, const char *fmt,
    ...)
{
	va_list	ap;

	va_start(ap, fmt);
	events_emitv(sv, o, server, type, details, fmt, ap);
	va_end(ap);
}

void
events_broadcast(struct supervisor *sv, cJSON *ev)
{
	cJSON_DeleteItemFromObject(ev, "seq");
	cJSON_AddNumberToObject(ev, "seq", (double)++sv->seq);
	if (sv->on_event != NULL)
		sv->on_event(sv, ev);
}

void
events_write_record(struct supervisor *sv, const char *dir, const char *id,
    cJSON *o)
{
	char	rel[160];
	int	r;

	snprintf(rel, sizeof(rel), "%s/%s.json", dir, id);
	/* a full disk is said once, and again once it is over; the record
	 * on disk stays the last whole one meanwhile */
	if (o == NULL || (r = state_write_record(sv->state_dir, rel, o)) < 0) {
		if (!sv->records_failing)
			log_warnx("%s: writing its record: %s", id, o == NULL ?
			    "out of memory" : strerror(-r));
		sv->records_failing = true;
	} else if (sv->records_failing) {
		log_info("%s: writing records again", id);
		sv->records_failing = false;
	}
	cJSON_Delete(o);
}

int
events_commit(struct supervisor *sv)
{
	bool	was_failing = sv->journal.failing;
	int	r;

	if ((r = journal_commit(&sv->journal)) < 0 && !was_failing)
		log_warnx("journal: %s: events wait (up to %u MiB) until it "
		    "takes writes again", strerror(-r),
		    JOURNAL_PENDING_MAX >> 20);
	else if (r == 0 && was_failing)
		log_info("journal: writing again");
	return r;
}
