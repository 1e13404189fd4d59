/*
 * What a deployment shows: its record (STATE_DIR/deployments/ID.json,
 * and FRAME_RECORD to watchers), the environment its hooks get, and the
 * questions others ask of it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "apply.h"
#include "deployment.h"
#include "diag.h"
#include "events.h"
#include "frame.h"
#include "prepare.h"
#include "schema.h"
#include "rollback_state.h"
#include "workerproc.h"
#include "ynode.h"

static const char *const outcome_names[] = {
	"in_progress", "succeeded", "failed", "invalid", "stopped",
	"superseded",
};

const char *
dep_outcome_name(enum dep_outcome o)
{
	return outcome_names[o];
}

const char *
dep_state_name(enum dep_state s)
{
	switch (s) {
	case DEP_VALIDATING:
	case DEP_PREPARING:	return "preparing";
	case DEP_AWAITING_APPROVAL: return "awaiting_approval";
	case DEP_SUCCEEDED:	return "succeeded";
	case DEP_STOPPING:	return "stopping";
	case DEP_DONE:		return "done";
	default:		return "running";
	}
}

bool
dep_deploying(const struct deployment *dep)
{
	return dep->state <= DEP_FAILED;
}

bool
dep_running(const struct deployment *dep)
{
	return dep->state != DEP_DONE;
}

struct server_run *
dep_server(const struct deployment *dep, const char *name)
{
	for (size_t i = 0; i < dep->ld.nservers; i++)
		if (strcmp(dep->ld.servers[i].name, name) == 0)
			return &dep->ld.servers[i];
	return NULL;
}

size_t
dep_batch_of(const struct deployment *dep, const struct server_run *sr)
{
	const struct plan	*plan = dep->ld.pd->plan;

	for (size_t b = 0; sr != NULL && b < plan->nbatches; b++)
		for (size_t k = 0; k < plan->batches[b].count; k++)
			if (plan->batches[b].servers[k] == sr->index)
				return b;
	return dep->batch < plan->nbatches ? dep->batch : plan->nbatches - 1;
}

/* An integer as JSON text: cJSON prints every number through "%1.15g"
 * and reads it back with sscanf, microseconds each, and the record of
 * 200 servers, rewritten on every change of one, holds a thousand. */
static void
add_int(cJSON *o, const char *key, long long v)
{
	char	text[24];

	snprintf(text, sizeof(text), "%lld", v);
	cJSON_AddRawToObject(o, key, text);
}

static cJSON *
server_record(const struct server_run *sr)
{
	cJSON	*s = cJSON_CreateObject();

	cJSON_AddStringToObject(s, "name", sr->name);
	cJSON_AddStringToObject(s, "state", server_state_name(sr->state));
	add_int(s, "attempts", sr->attempts);
	add_int(s, "restarts", sr->restarts);
	if (sr->worker != NULL)
		add_int(s, "worker_pid", worker_pid(sr->worker));
	if (sr->server_pid > 0)
		add_int(s, "server_pid", sr->server_pid);
	if (sr->port != 0)
		add_int(s, "port", (long long)sr->port);
	if (sr->via_gateway)
		cJSON_AddBoolToObject(s, "gateway", 1);
	if (sr->ready_after_ms > 0)
		add_int(s, "ready_after_ms", (long long)sr->ready_after_ms);
	if (sr->last_error[0] != '\0')
		cJSON_AddStringToObject(s, "last_error", sr->last_error);
	if (sr->snapshot[0] != '\0')
		cJSON_AddStringToObject(s, "snapshot", sr->snapshot);
	if (sr->config_of[0] != '\0')
		cJSON_AddStringToObject(s, "configuration_of", sr->config_of);
	if (sr->kept)
		cJSON_AddBoolToObject(s, "handed_over", 1);
	if (sr->change != SC_NONE) {
		cJSON_AddStringToObject(s, "change",
		    apply_change_name(sr->change));
		if (cJSON_GetArraySize(sr->changed_keys) > 0)
			cJSON_AddItemToObject(s, "changed_keys",
			    cJSON_Duplicate(sr->changed_keys, 1));
	}
	if (sr->health != NULL)
		cJSON_AddItemToObject(s, "health",
		    cJSON_Duplicate(sr->health, 1));
	if (sr->usage != NULL && sr->worker != NULL)
		cJSON_AddItemToObject(s, "usage",
		    cJSON_Duplicate(sr->usage, 1));
	return s;
}

cJSON *
dep_record(const struct deployment *dep)
{
	const struct prepared	*pd = dep->ld.pd;
	const char		*base = strrchr(dep->src.spec_path, '/');
	cJSON			*o = cJSON_CreateObject(), *list;
	size_t			 ready = 0;

	cJSON_AddStringToObject(o, "id", dep->id);
	cJSON_AddStringToObject(o, "deployment", pd != NULL ? pd->spec->name :
	    base != NULL ? base + 1 : dep->src.spec_path);
	cJSON_AddStringToObject(o, "spec", dep->src.spec_path);
	cJSON_AddStringToObject(o, "environment", dep->ld.environment != NULL ?
	    dep->ld.environment : dep->src.environment != NULL ?
	    dep->src.environment : "");
	cJSON_AddStringToObject(o, "config_dir", dep->src.config_dir);
	if (dep->src.checks_dir != NULL)
		cJSON_AddStringToObject(o, "checks_dir", dep->src.checks_dir);
	if (dep->src.restores != NULL)
		cJSON_AddStringToObject(o, "restores", dep->src.restores);
	if (dep->src.backup_dir != NULL)
		cJSON_AddStringToObject(o, "backup_dir", dep->src.backup_dir);
	if (dep->src.verbose)
		cJSON_AddBoolToObject(o, "verbose", true);
	/* the kept revision's files it was read from (or, once it
	 * succeeded, its own: recovery reads them again), the revision it
	 * put back, and the revision it is */
	if (dep->src.revision_dir != NULL)
		cJSON_AddStringToObject(o, "revision_dir", dep->src.revision_dir);
	if (dep->src.from_revision > 0)
		add_int(o, "from_revision", dep->src.from_revision);
	if (dep->revision > 0)
		add_int(o, "revision", dep->revision);
	cJSON_AddStringToObject(o, "state", dep_state_name(dep->state));
	cJSON_AddStringToObject(o, "outcome", outcome_names[dep->outcome]);
	if (dep->failure[0] != '\0')
		cJSON_AddStringToObject(o, "failure", dep->failure);
	add_int(o, "mcpvisord_pid", getpid());
	cJSON_AddStringToObject(o, "started_at", dep->started_at);
	if (dep->finished_at[0] != '\0')
		cJSON_AddStringToObject(o, "finished_at", dep->finished_at);
	add_int(o, "batches", pd != NULL ? (long long)pd->plan->nbatches : 0);
	list = cJSON_AddArrayToObject(o, "servers");
	for (size_t i = 0; i < dep->ld.nservers; i++) {
		ready += dep->ld.servers[i].state == SR_READY;
		cJSON_AddItemToArray(list, server_record(&dep->ld.servers[i]));
	}
	add_int(o, "total", (long long)dep->ld.nservers);
	add_int(o, "ready", (long long)ready);
	if (dep->prev != NULL)
		cJSON_AddStringToObject(o, "previous_deployment_id",
		    dep->prev->id);
	if (dep->rb != NULL)
		cJSON_AddItemToObject(o, "rollback", rb_summary(dep->rb));
	return o;
}

void
dep_write_record(struct deployment *dep)
{
	struct supervisor	*sv = dep->sv;
	cJSON			*rec = dep_record(dep);

	if (sv->on_watch != NULL && rec != NULL)
		sv->on_watch(sv, FRAME_RECORD, rec);
	events_write_record(sv, "deployments", dep->id, rec);
	dep->owner.dirty = false;
}

void
dep_hook_env(const struct deployment *dep, const char *phase, char **env,
    size_t n)
{
	const char	*path = getenv("PATH");
	const char	*environment = dep->ld.environment != NULL ?
			    dep->ld.environment : dep->src.environment;
	size_t		 i = 0;

	if (asprintf(&env[i], "MCPVISOR_PHASE=%s", phase) != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_DEPLOYMENT_ID=%s", dep->id) != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_DEPLOYMENT=%s", dep->ld.pd != NULL ?
	    dep->ld.pd->spec->name : "") != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_ENVIRONMENT=%s", environment != NULL ?
	    environment : "") != -1) i++;
	if (asprintf(&env[i], "MCPVISOR_SPEC=%s", dep->src.spec_path) != -1)
		i++;
	if (asprintf(&env[i], "MCPVISOR_CONFIG_DIR=%s", dep->src.config_dir) !=
	    -1) i++;
	if (asprintf(&env[i], "MCPVISOR_STATE_DIR=%s", dep->sv->state_dir) !=
	    -1) i++;
	if (asprintf(&env[i], "MCPVISOR_OUTCOME=%s",
	    outcome_names[dep->outcome]) != -1) i++;
	if (dep->failure[0] != '\0' &&
	    asprintf(&env[i], "MCPVISOR_FAILURE=%s", dep->failure) != -1) i++;
	if (asprintf(&env[i], "PATH=%s", path != NULL ? path :
	    "/usr/local/bin:/usr/bin:/bin") != -1) i++;
	while (i < n)
		env[i++] = NULL;
}

cJSON *
dep_hook_identity(const struct deployment *dep)
{
	struct diag_list	 dl = { 0 };
	struct ynode		*doc = NULL;
	cJSON			*j = NULL;

	if (dep->ld.pd != NULL)
		return ynode_map_get(dep->ld.pd->spec->doc, "hooks") != NULL ?
		    ynode_to_json(ynode_map_get(dep->ld.pd->spec->doc, "hooks"),
		    false) : NULL;
	/* before the pre-validation hooks, the spec is not read yet: what
	 * it says of its hooks is taken as it stands (loading it whole
	 * later checks it) */
	if (ynode_load_file(dep->src.spec_path, &doc, &dl) == 0 &&
	    ynode_map_get(doc, "hooks") != NULL)
		j = ynode_to_json(ynode_map_get(doc, "hooks"), false);
	ynode_free(doc);
	diag_list_free(&dl);
	return j;
}
