/*
 * Planning by Kahn's algorithm: a server's level is one more than the
 * deepest of its dependencies; levels become batches. Whatever Kahn
 * cannot place lies on or behind a cycle, and one walk along unplaced
 * dependencies finds each cycle in linear time.
 */
#include "plan.h"

#include <errno.h>
#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "diag.h"
#include "ynode.h"

struct planner {
	const struct spec_server	*servers;
	size_t				 n;
	struct diag_list		*dl;
	struct hsearch_data		 names;
	bool				 names_made;
	size_t				*dep_start;	/* n + 1 */
	size_t				*deps;		/* resolved */
	size_t				*dependents_start;/* n + 1 */
	size_t				*dependents;
	size_t				*level;
	unsigned char			*placed;
};

static const struct ynode *
name_node(const struct spec_server *s)
{
	return ynode_map_get(s->node, "name");
}

static const struct ymark *
server_mark(const struct spec_server *s)
{
	const struct ynode	*n = s->node != NULL ? name_node(s) : NULL;

	return n != NULL ? &n->mark : NULL;
}

/* Returns the index of name, or SIZE_MAX. */
static size_t
planner_find(struct planner *pl, const char *name)
{
	ENTRY	 e = { .key = (char *)(uintptr_t)name }, *found;

	if (hsearch_r(e, FIND, &found, &pl->names) == 0)
		return SIZE_MAX;
	return (size_t)(uintptr_t)found->data - 1;
}

static int
planner_index_names(struct planner *pl)
{
	if (hcreate_r(pl->n * 2 + 16, &pl->names) == 0)
		return -ENOMEM;
	pl->names_made = true;
	for (size_t i = 0; i < pl->n; i++) {
		ENTRY	 e, *found;
		size_t	 first;

		e.key = (char *)(uintptr_t)pl->servers[i].name;
		e.data = (void *)(uintptr_t)(i + 1);
		if (hsearch_r(e, ENTER, &found, &pl->names) == 0)
			return -ENOMEM;
		first = (size_t)(uintptr_t)found->data - 1;
		if (first != i) {
			const struct ymark *m = server_mark(&pl->servers[first]);

			diag_add(pl->dl, DIAG_ERROR,
			    server_mark(&pl->servers[i]), "server '%s' is "
			    "listed twice (first at line %u)",
			    pl->servers[i].name, m != NULL ? m->line : 0);
		}
	}
	return 0;
}

static int
planner_resolve_deps(struct planner *pl)
{
	size_t	edges = 0, k = 0;

	for (size_t i = 0; i < pl->n; i++)
		if (pl->servers[i].dependencies != NULL)
			edges += pl->servers[i].dependencies->count;
	if ((pl->dep_start = calloc(pl->n + 1, sizeof(size_t))) == NULL ||
	    (pl->deps = calloc(edges + 1, sizeof(size_t))) == NULL ||
	    (pl->dependents_start = calloc(pl->n + 1, sizeof(size_t))) ==
	    NULL || (pl->dependents = calloc(edges + 1, sizeof(size_t))) ==
	    NULL)
		return -ENOMEM;
	for (size_t i = 0; i < pl->n; i++) {
		const struct ynode	*d = pl->servers[i].dependencies;

		pl->dep_start[i] = k;
		for (size_t j = 0; d != NULL && j < d->count; j++) {
			size_t	to = planner_find(pl, d->items[j]->text);

			if (to == SIZE_MAX) {
				diag_add(pl->dl, DIAG_ERROR, &d->items[j]->mark,
				    "server '%s' depends on '%s', which this "
				    "deployment does not list",
				    pl->servers[i].name, d->items[j]->text);
				continue;
			}
			pl->deps[k++] = to;
			pl->dependents_start[to]++;
		}
	}
	pl->dep_start[pl->n] = k;
	/* counts to offsets, then fill from the back so order is stable */
	for (size_t i = 0, sum = 0; i <= pl->n; i++) {
		size_t	c = pl->dependents_start[i];

		pl->dependents_start[i] = sum;
		sum += c;
	}
	{
		size_t	*fill;

		if ((fill = malloc((pl->n + 1) * sizeof(size_t))) == NULL)
			return -ENOMEM;
		memcpy(fill, pl->dependents_start, (pl->n + 1) * sizeof(size_t));
		for (size_t i = 0; i < pl->n; i++)
			for (size_t e = pl->dep_start[i];
			    e < pl->dep_start[i + 1]; e++)
				pl->dependents[fill[pl->deps[e]]++] = i;
		free(fill);
	}
	return 0;
}

/* Kahn's algorithm; returns how many servers were placed. */
static size_t
planner_levels(struct planner *pl, size_t *queue, size_t *indegree)
{
	size_t	head = 0, tail = 0;

	for (size_t i = 0; i < pl->n; i++) {
		indegree[i] = pl->dep_start[i + 1] - pl->dep_start[i];
		if (indegree[i] == 0)
			queue[tail++] = i;
	}
	while (head < tail) {
		size_t	j = queue[head++];

		pl->placed[j] = 1;
		for (size_t e = pl->dependents_start[j];
		    e < pl->dependents_start[j + 1]; e++) {
			size_t	i = pl->dependents[e];

			if (pl->level[i] < pl->level[j] + 1)
				pl->level[i] = pl->level[j] + 1;
			if (--indegree[i] == 0)
				queue[tail++] = i;
		}
	}
	return tail;
}

static void
report_cycle(struct planner *pl, const size_t *path, size_t from, size_t to)
{
	char	*msg = NULL;
	size_t	 len = 0;
	FILE	*fp;

	if ((fp = open_memstream(&msg, &len)) == NULL)
		return;
	for (size_t k = from; k < to; k++)
		fprintf(fp, "%s -> ", pl->servers[path[k]].name);
	fprintf(fp, "%s", pl->servers[path[from]].name);
	fclose(fp);
	diag_add(pl->dl, DIAG_ERROR, server_mark(&pl->servers[path[from]]),
	    "Circular dependency detected in deployment plan involving '%s': "
	    "%s", pl->servers[path[from]].name, msg);
	free(msg);
}

/* Every unplaced server has an unplaced dependency, so walking those
 * must come back to a server already on the path: a cycle. state: 0
 * unseen, 1 on the current path (pos holds where), 2 done. */
static int
planner_find_cycles(struct planner *pl, size_t *path, size_t *pos)
{
	unsigned char	*state;

	if ((state = calloc(pl->n, 1)) == NULL)
		return -ENOMEM;
	for (size_t s = 0; s < pl->n; s++) {
		size_t	len = 0, cur = s;

		if (pl->placed[s] || state[s] != 0)
			continue;
		while (state[cur] == 0) {
			size_t	next = SIZE_MAX;

			state[cur] = 1;
			pos[cur] = len;
			path[len++] = cur;
			for (size_t e = pl->dep_start[cur];
			    e < pl->dep_start[cur + 1]; e++)
				if (!pl->placed[pl->deps[e]]) {
					next = pl->deps[e];
					break;
				}
			cur = next;
		}
		if (state[cur] == 1)
			report_cycle(pl, path, pos[cur], len);
		for (size_t k = 0; k < len; k++)
			state[path[k]] = 2;
	}
	free(state);
	return 0;
}

struct order_ctx {
	const struct spec_server	*servers;
};

static int
by_priority(const void *a, const void *b, void *arg)
{
	const struct order_ctx	*oc = arg;
	size_t			 i = *(const size_t *)a, j = *(const size_t *)b;
	long long		 pi = oc->servers[i].priority;
	long long		 pj = oc->servers[j].priority;

	if (pi != pj)
		return pi > pj ? -1 : 1;
	return i < j ? -1 : i > j;
}

/* Buckets by level, sorts each level by priority, cuts into batches. */
static int
planner_batches(struct planner *pl, const struct plan_opts *opts,
    struct plan *plan)
{
	size_t		 nlevels = 0, nb = 0;
	size_t		*start;
	struct order_ctx oc = { pl->servers };

	for (size_t i = 0; i < pl->n; i++)
		if (pl->level[i] + 1 > nlevels)
			nlevels = pl->level[i] + 1;
	if ((start = calloc(nlevels + 1, sizeof(size_t))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < pl->n; i++)
		start[pl->level[i] + 1]++;
	for (size_t l = 0; l < nlevels; l++)
		start[l + 1] += start[l];
	for (size_t i = 0; i < pl->n; i++)
		plan->order[start[pl->level[i]]++] = i;
	/* start[l] now ends level l; recompute beginnings as we go */
	for (size_t l = 0, begin = 0; l < nlevels; l++) {
		size_t	end = start[l], open = begin;

		qsort_r(plan->order + begin, end - begin, sizeof(size_t),
		    by_priority, &oc);
		for (size_t k = begin; k < end; k++) {
			const struct spec_server *s = &pl->servers[plan->order[k]];
			bool	full = opts->max_parallel > 0 &&
				    k - open >= opts->max_parallel;

			/* an unsafe server closes the open batch and stands
			 * alone; so does a full batch */
			if (k > open && (!s->parallel_safe || full ||
			    !pl->servers[plan->order[k - 1]].parallel_safe)) {
				plan->batches[nb].servers = plan->order + open;
				plan->batches[nb++].count = k - open;
				open = k;
			}
		}
		if (end > open) {
			plan->batches[nb].servers = plan->order + open;
			plan->batches[nb++].count = end - open;
		}
		begin = end;
	}
	plan->nbatches = nb;
	free(start);
	return 0;
}

static void
planner_release(struct planner *pl)
{
	if (pl->names_made)
		hdestroy_r(&pl->names);
	free(pl->dep_start);
	free(pl->deps);
	free(pl->dependents_start);
	free(pl->dependents);
	free(pl->level);
	free(pl->placed);
}

int
plan_build(const struct spec_server *servers, size_t n,
    const struct plan_opts *opts, struct plan **out, struct diag_list *dl)
{
	struct planner	 pl = { .servers = servers, .n = n, .dl = dl };
	struct plan	*plan = NULL;
	size_t		*queue = NULL, *indegree = NULL;
	size_t		 before = dl->errors, placed;
	int		 r = -ENOMEM;

	if ((pl.level = calloc(n + 1, sizeof(size_t))) == NULL ||
	    (pl.placed = calloc(n + 1, 1)) == NULL ||
	    (queue = malloc((n + 1) * sizeof(size_t))) == NULL ||
	    (indegree = malloc((n + 1) * sizeof(size_t))) == NULL)
		goto out;
	if ((r = planner_index_names(&pl)) < 0 ||
	    (r = planner_resolve_deps(&pl)) < 0)
		goto out;
	placed = planner_levels(&pl, queue, indegree);
	/* queue and indegree are free again: reuse them as path and pos */
	if (placed < n && (r = planner_find_cycles(&pl, queue, indegree)) < 0)
		goto out;
	if (dl->errors > before) {
		r = -EINVAL;
		goto out;
	}
	r = -ENOMEM;
	if ((plan = calloc(1, sizeof(*plan))) == NULL ||
	    (plan->order = calloc(n + 1, sizeof(size_t))) == NULL ||
	    (plan->batches = calloc(n + 1, sizeof(*plan->batches))) == NULL)
		goto out;
	plan->nservers = n;
	if ((r = planner_batches(&pl, opts, plan)) < 0)
		goto out;
	*out = plan;
	plan = NULL;
	r = 0;
out:
	plan_free(plan);
	free(queue);
	free(indegree);
	planner_release(&pl);
	return r;
}

void
plan_free(struct plan *plan)
{
	if (plan == NULL)
		return;
	free(plan->order);
	free(plan->batches);
	free(plan);
}

struct cJSON *
plan_to_json(const struct plan *plan, const struct spec_server *servers)
{
	cJSON	*o = cJSON_CreateObject(), *batches, *b, *names;

	if (o == NULL || (batches = cJSON_AddArrayToObject(o, "batches")) ==
	    NULL)
		goto fail;
	for (size_t i = 0; i < plan->nbatches; i++) {
		const struct plan_batch	*pb = &plan->batches[i];

		if ((b = cJSON_CreateObject()) == NULL)
			goto fail;
		cJSON_AddItemToArray(batches, b);
		if (cJSON_AddNumberToObject(b, "batch", (double)(i + 1)) ==
		    NULL || cJSON_AddBoolToObject(b, "parallel",
		    pb->count > 1) == NULL ||
		    (names = cJSON_AddArrayToObject(b, "servers")) == NULL)
			goto fail;
		for (size_t k = 0; k < pb->count; k++) {
			cJSON	*s = cJSON_CreateString(
				    servers[pb->servers[k]].name);

			if (s == NULL)
				goto fail;
			cJSON_AddItemToArray(names, s);
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}
