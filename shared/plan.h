/*
 * The deployment planner: servers and their dependencies in, batches
 * out. A batch holds servers whose dependencies all sit in earlier
 * batches, ordered by priority (higher first, then as listed); a server
 * that is not parallel_safe gets a batch of its own; a cap bounds the
 * size of a batch. Linear in servers plus edges, apart from the
 * priority sort within each level.
 */
#ifndef MCPVISOR_PLAN_H
#define MCPVISOR_PLAN_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct diag_list;
struct spec_server;

struct plan_batch {
	const size_t	*servers;	/* indexes into the server array */
	size_t		 count;
};

struct plan {
	struct plan_batch	*batches;
	size_t			 nbatches;
	size_t			*order;		/* every index, batch by batch */
	size_t			 nservers;
};

struct plan_opts {
	unsigned	max_parallel;	/* 0: no cap; 1: one at a time */
};

/* Plans servers[0..n-1]. Returns 0 and *out (free with plan_free), or
 * -EINVAL with every duplicate name, unknown dependency and cycle in dl
 * (a cycle as "Circular dependency detected in deployment plan involving
 * 'a': a -> b -> a"), or -ENOMEM. */
int	plan_build(const struct spec_server *servers, size_t n,
	    const struct plan_opts *, struct plan **out, struct diag_list *);
void	plan_free(struct plan *);

/* {"batches": [{"batch": 1, "parallel": bool, "servers": [names]}]} */
struct cJSON	*plan_to_json(const struct plan *,
		    const struct spec_server *servers);

#endif
