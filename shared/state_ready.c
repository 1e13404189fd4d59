/*
 * Whether a deployment record says its deployment serves: the one rule
 * the monitor's /readyz and `mcpvisor probe ready` answer by.
 */
#include "state.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

bool
state_record_ready(const cJSON *rec, char *why, size_t size)
{
	const char	*state = cJSON_GetStringValue(cJSON_GetObjectItem(rec,
			    "state"));
	const char	*name = cJSON_GetStringValue(cJSON_GetObjectItem(rec,
			    "deployment"));
	const cJSON	*s;

	if (name == NULL)
		name = "?";
	if (state == NULL || strcmp(state, "succeeded") != 0) {
		snprintf(why, size, "deployment %s is %s", name,
		    state != NULL ? state : "of no known state");
		return false;
	}
	cJSON_ArrayForEach(s, cJSON_GetObjectItem(rec, "servers")) {
		const char	*st = cJSON_GetStringValue(cJSON_GetObjectItem(s,
				    "state"));
		const char	*sn = cJSON_GetStringValue(cJSON_GetObjectItem(s,
				    "name"));

		if (st == NULL || (strcmp(st, "ready") != 0 &&
		    strcmp(st, "exited") != 0)) {
			snprintf(why, size, "server %s of %s is %s",
			    sn != NULL ? sn : "?", name, st != NULL ? st : "?");
			return false;
		}
	}
	snprintf(why, size, "deployment %s is ready", name);
	return true;
}
