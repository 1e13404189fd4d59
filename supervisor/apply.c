#include "apply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "childjob.h"
#include "deploy_load.h"
#include "deployment.h"
#include "prepare.h"
#include "secrets.h"
#include "stack.h"
#include "upgrade.h"
#include "ynode.h"

#define KEY_DEPTH	3	/* "run.environment.LEVEL", no deeper */
#define KEYS_MAX	16	/* named per server */

static const char *const change_names[SC_N] = {
	[SC_NONE] = "", [SC_ADDED] = "added", [SC_CHANGED] = "changed",
	[SC_FOLLOWS] = "follows_dependency", [SC_RECREATED] = "recreated",
	[SC_UNCHANGED] = "unchanged", [SC_NOT_RUNNING] = "not_running",
};

const char *
apply_change_name(enum srv_change c)
{
	return c < SC_N ? change_names[c] : "";
}

/* What sr runs with: its worker's configuration less its deployment's
 * id (new every time), and its rendered configuration. It holds
 * secrets: wipe it. NULL on ENOMEM. */
static cJSON *
definition(const struct server_run *sr)
{
	cJSON	*d = sr->config_text != NULL ? cJSON_Parse(sr->config_text) :
		    NULL;
	cJSON	*rendered;

	if (d == NULL)
		return NULL;
	cJSON_DeleteItemFromObject(d, "deployment");
	if (sr->rendered != NULL &&
	    (rendered = cJSON_Parse(sr->rendered)) != NULL)
		cJSON_AddItemToObject(d, "configuration", rendered);
	return d;
}

static void
add_key(cJSON *keys, const char *path)
{
	if (cJSON_GetArraySize(keys) < KEYS_MAX)
		cJSON_AddItemToArray(keys, cJSON_CreateString(path));
}

/* path.key, in size: a longer one is cut, and still says where. */
static void
key_path(char *out, size_t size, const char *path, const char *key)
{
	if (snprintf(out, size, "%s%s%s", path, *path ? "." : "", key) >=
	    (int)size)
		out[size - 1] = '\0';
}

/* The paths of the keys that differ between two trees, as deep as
 * KEY_DEPTH (below it a key is one value). */
static void
diff_keys(const cJSON *a, const cJSON *b, const char *path, unsigned depth,
    cJSON *keys)
{
	const cJSON	*x;
	char		 sub[256];

	if (!cJSON_IsObject(a) || !cJSON_IsObject(b) || depth == KEY_DEPTH) {
		if (!cJSON_Compare(a, b, true))
			add_key(keys, path);
		return;
	}
	cJSON_ArrayForEach(x, a) {
		key_path(sub, sizeof(sub), path, x->string);
		diff_keys(x, cJSON_GetObjectItemCaseSensitive(b, x->string),
		    sub, depth + 1, keys);
	}
	cJSON_ArrayForEach(x, b)
		if (cJSON_GetObjectItemCaseSensitive(a, x->string) == NULL) {
			key_path(sub, sizeof(sub), path, x->string);
			add_key(keys, sub);
		}
}

/* Whether sr is defined as old is; when not, which keys differ, named
 * in their secret-masked form (a secret's value that changed where the
 * masks look alike is "secret values"). */
static enum srv_change
compare(const struct server_run *sr, const struct server_run *old,
    cJSON *keys)
{
	cJSON			*a = definition(old), *b = definition(sr);
	enum srv_change		 change = SC_CHANGED;

	if (a == NULL || b == NULL)
		add_key(keys, "(not readable: out of memory)");
	else if (cJSON_Compare(a, b, true))
		change = SC_UNCHANGED;
	else {
		secrets_scrub_json(old->owner->secrets, a);
		secrets_scrub_json(sr->owner->secrets, b);
		/* the secrets themselves, which the masks make alike */
		cJSON_DeleteItemFromObject(a, "mask");
		cJSON_DeleteItemFromObject(b, "mask");
		diff_keys(a, b, "", 0, keys);
		if (cJSON_GetArraySize(keys) == 0)
			add_key(keys, "secret values");
	}
	secrets_wipe_json(a);
	secrets_wipe_json(b);
	cJSON_Delete(a);
	cJSON_Delete(b);
	return change;
}

/* The dependency of sr that is replaced, when sr follows its
 * dependencies (restart_on_dependency_change), or NULL. */
static const char *
replaced_dependency(const struct deployment *dep, const struct server_run *sr)
{
	const struct spec_server	*s = dep->ld.pd->servers[sr->index].spec;
	const struct server_run		*d;

	if (!s->restart_on_dependency_change || s->dependencies == NULL)
		return NULL;
	for (size_t i = 0; i < s->dependencies->count; i++)
		if ((d = dep_server(dep, s->dependencies->items[i]->text)) !=
		    NULL && d->change != SC_UNCHANGED)
			return d->name;
	return NULL;
}

/* What becomes of each server of dep over prev (NULL: nothing runs),
 * dependencies first, so that a follower sees its dependency's fate. */
static void
decide(struct deployment *dep, const struct deployment *prev)
{
	const struct plan	*plan = dep->ld.pd->plan;
	const char		*followed;
	char			 why[160];

	for (size_t k = 0; k < plan->nservers; k++) {
		struct server_run	*sr = &dep->ld.servers[plan->order[k]];
		const struct server_run	*old = prev != NULL ?
					    dep_server(prev, sr->name) : NULL;

		cJSON_Delete(sr->changed_keys);
		sr->changed_keys = cJSON_CreateArray();
		if (old == NULL)
			sr->change = SC_ADDED;
		else if (old->state != SR_READY) {
			sr->change = SC_NOT_RUNNING;
			add_key(sr->changed_keys, server_state_name(old->state));
		} else if (dep->src.force_recreate)
			sr->change = SC_RECREATED;
		else
			sr->change = compare(sr, old, sr->changed_keys);
		if (sr->change == SC_UNCHANGED &&
		    (followed = replaced_dependency(dep, sr)) != NULL) {
			sr->change = SC_FOLLOWS;
			snprintf(why, sizeof(why), "dependency %s", followed);
			add_key(sr->changed_keys, why);
		}
	}
}

/* Whether sr is to replace old, which runs (an order applies). */
static bool
replaces_running(const struct server_run *sr, const struct server_run *old)
{
	return old != NULL && sr->change != SC_UNCHANGED &&
	    sr->change != SC_NOT_RUNNING;
}

static cJSON *
diff_json(const struct deployment *dep, const struct deployment *prev)
{
	const struct plan	*plan = dep->ld.pd->plan;
	cJSON			*o = cJSON_CreateObject(), *list, *s;

	cJSON_AddStringToObject(o, "deployment", dep->ld.pd->spec->name);
	if (prev != NULL)
		cJSON_AddStringToObject(o, "replaces", prev->id);
	list = cJSON_AddArrayToObject(o, "servers");
	for (size_t k = 0; k < plan->nservers; k++) {
		const struct server_run	*sr = &dep->ld.servers[plan->order[k]];
		const struct server_run	*old = prev != NULL ?
					    dep_server(prev, sr->name) : NULL;

		s = cJSON_CreateObject();
		cJSON_AddStringToObject(s, "server", sr->name);
		cJSON_AddStringToObject(s, "change",
		    apply_change_name(sr->change));
		cJSON_AddItemToObject(s, "keys", sr->changed_keys != NULL ?
		    cJSON_Duplicate(sr->changed_keys, 1) : cJSON_CreateArray());
		/* how a running one is replaced (upgrade.c) */
		if (replaces_running(sr, old))
			cJSON_AddStringToObject(s, "order",
			    upgrade_starts_first(sr, old) ? "start_first" :
			    "stop_first");
		cJSON_AddItemToArray(list, s);
	}
	list = cJSON_AddArrayToObject(o, "removed");
	for (size_t i = 0; prev != NULL && i < prev->ld.nservers; i++)
		if (dep_server(dep, prev->ld.servers[i].name) == NULL)
			cJSON_AddItemToArray(list, cJSON_CreateString(
			    prev->ld.servers[i].name));
	return o;
}

/* "run.environment.LEVEL, sandbox.limits" within size. */
static void
join_keys(const cJSON *keys, char *out, size_t size)
{
	const cJSON	*k;
	size_t		 used = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(k, keys)
		if (used < size)
			used += (size_t)snprintf(out + used, size - used,
			    "%s%s", used > 0 ? ", " : "", k->valuestring);
}

void
apply_plan(struct deployment *dep)
{
	size_t	 n[SC_N] = { 0 }, removed;
	cJSON	*diff;
	char	 keys[600];

	if (dep->prev == NULL || dep->hand != NULL)
		return;
	decide(dep, dep->prev);
	for (size_t i = 0; i < dep->ld.nservers; i++) {
		struct server_run	*sr = &dep->ld.servers[i];
		const struct server_run	*old;
		cJSON			*d;

		n[sr->change]++;
		sr->adopt = sr->change == SC_UNCHANGED;
		if (sr->change == SC_UNCHANGED || sr->change == SC_ADDED)
			continue;
		join_keys(sr->changed_keys, keys, sizeof(keys));
		d = cJSON_CreateObject();
		cJSON_AddStringToObject(d, "change",
		    apply_change_name(sr->change));
		old = dep_server(dep->prev, sr->name);
		if (replaces_running(sr, old))
			cJSON_AddStringToObject(d, "order",
			    upgrade_starts_first(sr, old) ? "start_first" :
			    "stop_first");
		cJSON_AddItemToObject(d, "keys",
		    cJSON_Duplicate(sr->changed_keys, 1));
		dep_emit(dep, sr->name, "server_changed", d, "to be replaced "
		    "(%s): %s", apply_change_name(sr->change), keys);
	}
	diff = diff_json(dep, dep->prev);
	removed = (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(diff,
	    "removed"));
	dep_emit(dep, NULL, "apply_planned", diff, "over %s: %zu to replace, "
	    "%zu unchanged, %zu added, %zu removed", dep->prev->id,
	    n[SC_CHANGED] + n[SC_FOLLOWS] + n[SC_RECREATED] +
	    n[SC_NOT_RUNNING], n[SC_UNCHANGED], n[SC_ADDED], removed);
}

/* --- a dry run --- */

struct apply_preview {
	struct apply_preview	*next;
	struct supervisor	*sv;
	struct deployment	*dep;	/* loaded, never installed */
	apply_preview_fn	*fn;
	void			*arg;
	struct childjob		*job;
};

static void
preview_free(struct apply_preview *pv)
{
	struct apply_preview	**pp;

	for (pp = &pv->sv->previews; *pp != NULL; pp = &(*pp)->next)
		if (*pp == pv) {
			*pp = pv->next;
			break;
		}
	childjob_cancel(pv->job);
	dep_free(pv->dep);
	free(pv);
}

static void
on_loaded(void *arg, char *answer, size_t len)
{
	struct apply_preview	*pv = arg;
	struct deployment	*dep = pv->dep;
	struct deployment	*cur;
	const struct stack	*st;
	char			*why = NULL;
	bool			 invalid;

	pv->job = NULL;
	if (dep_load_answer(&dep->src, answer, len, &dep->ld, &why,
	    &invalid) < 0) {
		pv->fn(pv->arg, dep->id, NULL, why != NULL ? why :
		    "out of memory", invalid);
		free(why);
		preview_free(pv);
		return;
	}
	for (size_t i = 0; i < dep->ld.nservers; i++)
		server_init(&dep->ld.servers[i], &dep->owner, dep);
	/* what the deployment itself would be refused for */
	if (stack_clash(dep, &why) < 0) {
		pv->fn(pv->arg, dep->id, NULL, why != NULL ? why :
		    "out of memory", true);
		free(why);
		preview_free(pv);
		return;
	}
	/* compared with what runs of its own stack */
	st = stack_named(pv->sv, dep->ld.pd->spec->name);
	cur = st != NULL ? st->dep : NULL;
	if (cur != NULL && (!dep_running(cur) || cur->state == DEP_STOPPING))
		cur = NULL;
	decide(dep, cur);
	pv->fn(pv->arg, dep->id, diff_json(dep, cur), NULL, false);
	preview_free(pv);
}

int
apply_preview(struct supervisor *sv, const struct deploy_request *rq,
    apply_preview_fn *fn, void *arg, char *id, size_t idsize, char **err)
{
	struct apply_preview	*pv;
	int			 r;

	*err = NULL;
	if ((pv = calloc(1, sizeof(*pv))) == NULL)
		return -ENOMEM;
	if ((r = dep_new(sv, rq, &pv->dep, err)) < 0) {
		free(pv);
		return r;
	}
	pv->sv = sv;
	pv->fn = fn;
	pv->arg = arg;
	pv->dep->src.dry_run = true;
	pv->next = sv->previews;
	sv->previews = pv;
	if ((pv->job = dep_load_start(sv, &pv->dep->src, pv->dep->id,
	    on_loaded, pv)) == NULL) {
		r = -errno;
		preview_free(pv);
		return r;
	}
	snprintf(id, idsize, "%s", pv->dep->id);
	return 0;
}

void
apply_previews_free(struct supervisor *sv)
{
	while (sv->previews != NULL)
		preview_free(sv->previews);
}
