/*
 * A server's cgroups: where the kernel limits its CPU, memory and
 * processes, counts them, and finds every process it started, however it
 * detached itself. A leaf per server worker, NAME = mcpvisor/STACK/SERVER/
 * worker-PID, under the cgroups mcpvisord runs in, in every hierarchy
 * there is: cgroup v2 (its controllers, where it has them; on a v1/v2
 * hybrid it still holds the processes and kills them in one write), and
 * v1's memory, cpu and pids where those are mounted apart.
 *
 * The worker makes the leaf, writes the limits and opens what it needs
 * later while it is privileged, before its sandbox closes: the server
 * joins through a descriptor opened then (the kernel checks a move's
 * rights against the opener's credentials), and the unprivileged worker
 * reads the counters and kills through others. mcpvisord, which outlives
 * workers, sweeps and removes the leaf of a worker that is gone.
 */
#ifndef MCPVISOR_CGROUP_H
#define MCPVISOR_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct errbuf;

/* unified, memory, cpu, pids */
#define CGROUP_HIERARCHIES	4

/* What a limit may be; more is taken as this much (no host has more,
 * and a double from a file made an integer must fit). */
#define CGROUP_CPU_CORES_MAX	4096.0
#define CGROUP_MEMORY_GB_MAX	16777216.0	/* 16 PiB */
#define CGROUP_PIDS_MAX		4194304.0

static inline double
cgroup_at_most(double v, double max)
{
	return v < max ? v : max;
}

struct cgroup_limits {
	double		cpu_cores;	/* 0: none */
	uint64_t	memory_bytes;	/* 0: none; swap off with it */
	long		pids_max;	/* 0: none */
};

struct cgroup_leaf {
	char		name[256];
	/* the leaf's directory in each hierarchy it is in ("" if not) */
	char		dir[CGROUP_HIERARCHIES][512];
	/* cgroup.procs of each, open for writing: a child writes "0" */
	int		join_fd[CGROUP_HIERARCHIES];
	size_t		njoin;
	int		kill_fd;	/* v2 cgroup.kill, or -1 */
	bool		v2_limits;	/* the limits are v2's */
	struct cgroup_limits limits;
};

/* Finds the hierarchies now, for this process and the children it
 * clones without exec (the fork server calls it once for every worker). */
void	cgroup_prepare(void);

/* The leaf of a server's worker: mcpvisor/STACK/SERVER/worker-PID, each
 * name made a plain path component. */
void	cgroup_leaf_name(char *buf, size_t size, const char *stack,
	    const char *server, long worker_pid);

/* Whether limits can be set here, and if not why: the controllers they
 * need are mounted and mcpvisord may make a cgroup under its own. 0 or
 * a negative errno with why in err. */
int	cgroup_can_limit(const struct cgroup_limits *, struct errbuf *err);

/* Makes leaf NAME (its parents as needed) in every hierarchy, writes the
 * limits and opens the descriptors. 0, or a negative errno with why in
 * err (-ENOENT: no cgroup hierarchy at all, and no limit asked). */
int	cgroup_create(struct cgroup_leaf *, const char *name,
	    const struct cgroup_limits *, struct errbuf *err);
/* The descriptors a child writes "0" to, to join the leaf. */
const int	*cgroup_join_fds(const struct cgroup_leaf *, size_t *n);
/* How many times the kernel's OOM killer killed in the leaf. */
unsigned	cgroup_oom_kills(const struct cgroup_leaf *);
/* SIGKILL to every process in the leaf (cgroup.kill, else each pid the
 * leaf lists, again until none is left to kill). How many were seen. */
unsigned	cgroup_kill_all(const struct cgroup_leaf *);
/* Closes the descriptors (the directories stay: see cgroup_remove). */
void		cgroup_close(struct cgroup_leaf *);

/* mcpvisord's side, first of all: where cgroup v2 has controllers, its
 * own cgroup (a delegated one: systemd's Delegate=yes) may hand them on
 * to children only once it holds no process (v2's rule), so mcpvisord
 * moves into a leaf of it, "mcpvisord", beside which the servers' go.
 * 0 (nothing to do elsewhere), or a negative errno with err. */
int	cgroup_daemon_leaf(struct errbuf *err);

/* mcpvisord's side: kills what is left in leaf NAME and removes it, and
 * its parents that are empty. 0, -EBUSY while killed processes are not
 * yet reaped (try again), -ENOENT when there is no such leaf. */
int	cgroup_remove(const char *name);

/* CPU time (ns) and memory (bytes) of the leaf now; false when the
 * hierarchies that count them are not there. */
bool	cgroup_usage(const char *name, uint64_t *cpu_ns, uint64_t *memory);

#endif
