/*
 * mcpvisor stop|start|restart SERVER...: servers of the current
 * deployment, one at a time, once it has succeeded, as systemctl and
 * supervisorctl act on one unit. Dependencies are respected:
 *
 *	stop     reverse dependency order; a server whose dependents run
 *	         is refused unless with_dependents, which stops them first
 *	start    dependency order; a dependency that is not running is
 *	         started first (systemctl starts what a unit Requires=)
 *	restart  stop (reverse order), then start (dependency order); its
 *	         dependents keep running
 *
 * An action is planned whole before anything moves (a refusal changes
 * nothing), then carried out by the notes of its servers: the next
 * server moves when the last one stopped or is ready; a server that
 * fails to start ends the action. One action at a time, and none while
 * a deployment is under way: each would move the other's servers.
 */
#include "serverctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "deployment.h"
#include "plan.h"
#include "prepare.h"
#include "server.h"
#include "stack.h"
#include "supervisor.h"
#include "ynode.h"

enum sc_action { SC_STOP, SC_START, SC_RESTART };

struct serverctl {
	char			 id[40];	/* what its client awaits */
	struct deployment	*dep;
	enum sc_action		 action;
	int			 uid;
	size_t			*stops, nstops;		/* servers' indexes */
	size_t			*starts, nstarts;
	size_t			 at;	/* into stops, then into starts */
	bool			 starting;
	struct server_run	*awaited;	/* whose note moves it on */
};

static const char *const action_names[] = { "stop", "start", "restart" };

/* Whether server i of dep lists server j among its dependencies. */
static bool
depends_on(const struct deployment *dep, size_t i, size_t j)
{
	const struct ynode	*deps = dep->ld.pd->spec->servers[i].dependencies;
	const char		*name = dep->ld.pd->spec->servers[j].name;

	for (size_t k = 0; deps != NULL && k < deps->count; k++)
		if (strcmp(deps->items[k]->text, name) == 0)
			return true;
	return false;
}

static bool
running(const struct server_run *sr)
{
	return sr->state == SR_STARTING || sr->state == SR_READY ||
	    sr->state == SR_RETRY_WAIT;
}

/* The set in plan order (reverse: dependents first), into *out. */
static int
ordered(const struct deployment *dep, const bool *in, bool reverse,
    bool only_running, size_t **out, size_t *n)
{
	const struct plan	*plan = dep->ld.pd->plan;

	*n = 0;
	if ((*out = calloc(plan->nservers + 1, sizeof(**out))) == NULL)
		return -ENOMEM;
	for (size_t k = 0; k < plan->nservers; k++) {
		size_t	i = plan->order[reverse ? plan->nservers - 1 - k : k];

		if (in[i] && (!only_running || running(&dep->ld.servers[i])))
			(*out)[(*n)++] = i;
	}
	return 0;
}

/* Adds to in what the action must take along: the running dependents of
 * a stop (or refuses them), the dependencies of a start that are not
 * running. Repeated until nothing is added: the closure. */
static int
take_along(const struct deployment *dep, enum sc_action action, bool *in,
    bool with_dependents, char *why, size_t size)
{
	size_t	n = dep->ld.nservers;
	bool	added = true;

	while (added) {
		added = false;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < n; j++) {
				if (in[i] || !in[j])
					continue;
				if (action == SC_STOP && depends_on(dep, i, j) &&
				    running(&dep->ld.servers[i])) {
					if (!with_dependents) {
						snprintf(why, size, "server '%s' "
						    "has a running dependent, "
						    "'%s': stop it first, or "
						    "stop with dependents (-d)",
						    dep->ld.servers[j].name,
						    dep->ld.servers[i].name);
						return -EPERM;
					}
					in[i] = added = true;
				} else if (action == SC_START &&
				    depends_on(dep, j, i) &&
				    !running(&dep->ld.servers[i]))
					in[i] = added = true;
			}
	}
	return 0;
}

static void
sc_free(struct serverctl *sc)
{
	if (sc == NULL)
		return;
	free(sc->stops);
	free(sc->starts);
	free(sc);
}

int
serverctl_plan(struct supervisor *sv, const char *action,
    const cJSON *names, bool with_dependents, int uid,
    struct serverctl **out, char *why, size_t size)
{
	struct deployment	*dep = NULL, *of;
	struct serverctl	*sc;
	const cJSON		*nm;
	char			*busy = NULL;
	bool			*in;
	int			 r = 0, k;

	*out = NULL;
	for (k = 0; k < 3 && strcmp(action, action_names[k]) != 0; k++)
		;
	if (k == 3 || cJSON_GetArraySize(names) == 0) {
		snprintf(why, size, k == 3 ? "action: stop, start or restart" :
		    "no server named");
		return -EINVAL;
	}
	if (sv->serverctl != NULL) {
		snprintf(why, size, "%s is under way: one action at a time",
		    sv->serverctl->id);
		return -EBUSY;
	}
	/* the stack the servers named are of: one at a time */
	cJSON_ArrayForEach(nm, names) {
		if (!cJSON_IsString(nm)) {
			snprintf(why, size, "'servers' is a list of names");
			return -EINVAL;
		}
		if (stack_server(sv, nm->valuestring, &of) == NULL) {
			stack_say_unknown(sv, nm->valuestring, why, size);
			return -ENOENT;
		}
		if (dep != NULL && of != dep) {
			snprintf(why, size, "'%.80s' is of stack %s, the "
			    "others of %s: act on one stack's servers at a "
			    "time", nm->valuestring, of->stack->name,
			    dep->stack->name);
			return -EINVAL;
		}
		dep = of;
	}
	if (!dep_running(dep)) {
		snprintf(why, size, "no deployment of stack %s runs",
		    dep->stack->name);
		return -ESRCH;
	}
	if ((r = stack_busy(sv, dep->stack, &busy)) < 0 || dep->state !=
	    DEP_SUCCEEDED) {
		if (busy != NULL)
			snprintf(why, size, "%s", busy);
		else
			snprintf(why, size, "deployment %s is %s: a server is "
			    "acted on once its deployment has succeeded",
			    dep->id, dep_state_name(dep->state));
		free(busy);
		return -EBUSY;
	}
	if ((in = calloc(dep->ld.nservers, sizeof(*in))) == NULL)
		return -ENOMEM;
	cJSON_ArrayForEach(nm, names)
		in[dep_server(dep, nm->valuestring) - dep->ld.servers] = true;
	if (r == 0 && k != SC_RESTART)
		r = take_along(dep, (enum sc_action)k, in, with_dependents, why,
		    size);
	if (r == 0 && (sc = calloc(1, sizeof(*sc))) == NULL)
		r = -ENOMEM;
	if (r == 0) {
		sc->dep = dep;
		sc->action = (enum sc_action)k;
		sc->uid = uid;
		snprintf(sc->id, sizeof(sc->id), "server_action_%u",
		    ++sv->serverctl_seq);
		if ((k != SC_START && (r = ordered(dep, in, true, true,
		    &sc->stops, &sc->nstops)) < 0) || (k != SC_STOP &&
		    (r = ordered(dep, in, false, false, &sc->starts,
		    &sc->nstarts)) < 0)) {
			sc_free(sc);
			sc = NULL;
		}
	}
	free(in);
	if (r == 0)
		*out = sc;
	return r;
}

const char *
serverctl_id(const struct serverctl *sc)
{
	return sc->id;
}

const struct deployment *
serverctl_deployment(const struct serverctl *sc)
{
	return sc->dep;
}

void
serverctl_describe(const struct serverctl *sc, cJSON *o)
{
	cJSON	*stops = cJSON_AddArrayToObject(o, "stops");
	cJSON	*starts = cJSON_AddArrayToObject(o, "starts");

	cJSON_AddStringToObject(o, "action_id", sc->id);
	cJSON_AddStringToObject(o, "action", action_names[sc->action]);
	for (size_t i = 0; i < sc->nstops; i++)
		cJSON_AddItemToArray(stops, cJSON_CreateString(
		    sc->dep->ld.servers[sc->stops[i]].name));
	for (size_t i = 0; i < sc->nstarts; i++)
		cJSON_AddItemToArray(starts, cJSON_CreateString(
		    sc->dep->ld.servers[sc->starts[i]].name));
}

static void
finish(struct supervisor *sv, const char *why)
{
	struct serverctl	*sc = sv->serverctl;
	char			 outcome[400];
	cJSON			*d = cJSON_CreateObject();

	sv->serverctl = NULL;
	cJSON_AddStringToObject(d, "action_id", sc->id);
	cJSON_AddStringToObject(d, "action", action_names[sc->action]);
	if (why != NULL)
		cJSON_AddStringToObject(d, "reason", why);
	dep_emit(sc->dep, NULL, why == NULL ? "server_action_completed" :
	    "server_action_failed", d, "%s %s%s%s", action_names[sc->action],
	    why == NULL ? "done" : "failed", why != NULL ? ": " : "",
	    why != NULL ? why : "");
	snprintf(outcome, sizeof(outcome), "%s%s", why == NULL ? "succeeded" :
	    "failed: ", why != NULL ? why : "");
	if (sv->on_finished != NULL)
		sv->on_finished(sv, sc->id, outcome);
	sc_free(sc);
}

/* Moves on until a server has to be waited for, or all is done. */
static void
step(struct supervisor *sv)
{
	struct serverctl	*sc = sv->serverctl;
	struct server_run	*sr;
	char			 why[320];

	sc->awaited = NULL;
	while (!sc->starting && sc->at < sc->nstops) {
		struct srv_input in = { .how = STOP_GRACEFUL };

		sr = &sc->dep->ld.servers[sc->stops[sc->at++]];
		in.kill_after_ms = sr->stop_timeout_ms + STOP_SLACK_MS;
		server_event(sr, SE_STOP, &in);
		if (sr->state == SR_STOPPING) {
			sc->awaited = sr;
			return;
		}
	}
	if (!sc->starting) {
		sc->starting = true;
		sc->at = 0;
	}
	while (sc->at < sc->nstarts) {
		sr = &sc->dep->ld.servers[sc->starts[sc->at++]];
		if (running(sr) && sc->action == SC_START)
			continue;	/* it was already */
		sr->attempts = 0;
		server_event(sr, SE_START, NULL);
		if (sr->state == SR_STARTING) {
			sc->awaited = sr;
			return;
		}
		if (sr->state != SR_READY) {
			snprintf(why, sizeof(why), "%s: %s", sr->name,
			    sr->last_error[0] != '\0' ? sr->last_error :
			    server_state_name(sr->state));
			finish(sv, why);
			return;
		}
	}
	finish(sv, NULL);
}

void
serverctl_run(struct supervisor *sv, struct serverctl *sc)
{
	cJSON	*d;

	sv->serverctl = sc;
	for (size_t i = 0; i < sc->nstops + sc->nstarts; i++) {
		size_t	idx = i < sc->nstops ? sc->stops[i] :
			    sc->starts[i - sc->nstops];

		if ((d = cJSON_CreateObject()) != NULL) {
			cJSON_AddStringToObject(d, "action",
			    action_names[sc->action]);
			cJSON_AddStringToObject(d, "action_id", sc->id);
			cJSON_AddNumberToObject(d, "requester_uid", sc->uid);
		}
		dep_emit(sc->dep, sc->dep->ld.servers[idx].name,
		    i < sc->nstops ? "server_stop_requested" :
		    "server_start_requested", d, "%s (%s, asked by uid %d)",
		    i < sc->nstops ? "to stop" : "to start",
		    action_names[sc->action], sc->uid);
	}
	step(sv);
}

void
serverctl_drop(struct serverctl *sc)
{
	sc_free(sc);
}

bool
serverctl_listener(struct deployment *dep, enum dep_note n,
    struct server_run *sr, const char *why)
{
	struct supervisor	*sv = dep->sv;
	struct serverctl	*sc = sv->serverctl;
	char			 reason[320];

	if (sc == NULL || sc->dep != dep)
		return false;
	switch (n) {
	case DN_STOPPING:
	case DN_STOPPED:
	case DN_FAILED:
		finish(sv, "its deployment is stopping");
		break;
	case DN_SERVER_STOPPED:
		if (sr == sc->awaited && !sc->starting)
			step(sv);
		break;
	case DN_SERVER_READY:
		if (sr == sc->awaited && sc->starting)
			step(sv);
		break;
	case DN_SERVER_FAILED:
		if (sr == sc->awaited) {
			snprintf(reason, sizeof(reason), "%s: %s", sr->name,
			    why != NULL ? why : "failed");
			finish(sv, reason);
		}
		break;
	default:
		break;
	}
	return false;
}
