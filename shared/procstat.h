/*
 * What a process tree costs: CPU time and resident memory of a process
 * and all its descendants, read from /proc (children through
 * /proc/PID/task/TID/children). Used by the root to sample its servers.
 */
#ifndef MCPVISOR_PROCSTAT_H
#define MCPVISOR_PROCSTAT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct proc_usage {
	uint64_t	cpu_ticks;	/* user + system, in clock ticks */
	uint64_t	rss_bytes;
	unsigned	processes;
};

/* Sums the tree rooted at pid. 0, or -ESRCH when pid is gone. */
int	proc_tree_usage(pid_t pid, struct proc_usage *);

/* When pid started, in ms since boot (CLOCK_BOOTTIME's count). 0, or
 * -ESRCH when pid is gone. */
int	proc_started_ms(pid_t pid, uint64_t *ms);

/* Where pid stands: its state letter, parent, process group and
 * session, from /proc/PID/stat. 0, or -ESRCH when pid is gone. */
struct proc_lineage {
	char	state;
	pid_t	ppid;
	pid_t	pgid;
	pid_t	sid;
};
int	proc_lineage(pid_t pid, struct proc_lineage *);

/* The children of pid (of each of its threads), from the kernel's own
 * list (/proc/PID/task/TID/children): up to max in list; how many. */
size_t	proc_children(pid_t pid, pid_t *list, size_t max);

/* The child of pid (forked by its main thread) whose pid in its own
 * namespace is inner (the last of CHILD/status's NSpid), read from the
 * /proc open at procfd: its pid as that /proc sees it, or 0 when pid has
 * no such child. The init of a PID namespace learns so what the host
 * calls its children. */
pid_t	proc_child_by_nspid(int procfd, pid_t pid, pid_t inner);

/* This process's pid as the /proc mounted at start sees it (the
 * initial namespace's, for the init of a namespace of its own): read
 * at a process's first call, which must come before a /proc of another
 * namespace is mounted over it. */
pid_t	proc_self_pid(void);

/* SIGKILL to every process whose environment holds entry exactly
 * ("NAME=value") and that is not spared(pid, arg) (spared may be NULL).
 * Returns how many. */
unsigned	proc_kill_marked(const char *entry,
		    bool (*spared)(pid_t, void *), void *arg);

/* The sockets listening on TCP port of this network namespace (both
 * families, any address), from /proc/self/net/tcp and tcp6: up to max
 * inodes in list; how many. */
size_t	proc_port_listeners(unsigned port, unsigned long *list, size_t max);
/* Whether a process of the tree rooted at pid holds one of the sockets
 * (a descriptor that is "socket:[INODE]"). */
bool	proc_tree_holds_socket(pid_t pid, const unsigned long *inodes,
	    size_t n);

/* CPU use between two samples taken elapsed_ms apart, in percent of one
 * CPU (two busy threads: 200). */
double	proc_cpu_percent(const struct proc_usage *before,
	    const struct proc_usage *after, uint64_t elapsed_ms);

#endif
