/*
 * The worker's sandbox, applied to the worker itself before it starts
 * its server (which inherits it). Fail-closed: the first step that fails
 * stops the sequence, and the caller must not start the server.
 *
 * Order: new session; rlimits; network namespace and filesystem view
 * (they need CAP_SYS_ADMIN, so before capabilities go);
 * PR_SET_NO_NEW_PRIVS;
 * capability bounding set; groups and user; the remaining capability
 * sets (permitted, effective, inheritable, ambient) reduced to what
 * sandbox.capabilities keeps.
 */
#ifndef MCPVISOR_SANDBOX_H
#define MCPVISOR_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <sys/capability.h>

#include <linux/filter.h>

#include "cgroup.h"

struct cJSON;
struct errbuf;

#define SANDBOX_CAPS_MAX	64
#define SANDBOX_GROUPS_MAX	32
#define SANDBOX_PATHS_MAX	64	/* of each of writable, readable, hidden */
/* where a server in a filesystem view finds its NOTIFY_SOCKET */
#define SANDBOX_NOTIFY_IN_VIEW	"/tmp/.mcpvisor-notify.sock"

struct sandbox_rlimit {
	int		resource;
	const char	*name;
	rlim_t		value;
	bool		set;
};

struct sandbox_spec {
	bool			network_none;
	struct sandbox_rlimit	rlimits[9];
	cap_value_t		keep[SANDBOX_CAPS_MAX];
	size_t			nkeep;
	bool			change_identity;
	/* the uid is the server's dynamic one (mcpvisord's dynuser.c): its
	 * writable paths, new, empty or a dynamic id's, become its own */
	bool			dynamic_identity;
	uid_t			uid;
	gid_t			gid;
	gid_t			groups[SANDBOX_GROUPS_MAX];
	size_t			ngroups;
	char			home[256];
	/* resource_limits' cpu_cores, memory_gb and pids_max, over which
	 * sandbox.limits has the last word; the cgroup that enforces them
	 * must be there unless sandbox.limits_required is false */
	struct cgroup_limits	limits;
	bool			limits_required;
	/* the server's system call filter (seccomp.c): loaded by its
	 * process last before exec */
	enum sandbox_seccomp {
		SECCOMP_ERRNO,		/* denied calls fail with EPERM */
		SECCOMP_KILL,		/* ... kill the process */
		SECCOMP_NONE,
	}			seccomp;
	struct sock_fprog	seccomp_prog;	/* .filter malloc'd; len 0: none */
	bool			seccomp_shared;	/* the default's, not ours */
	unsigned		seccomp_denied;
	/* sandbox.filesystem: strict (fsview.c): a mount namespace with a
	 * read-only view of the host; the lists are NULL-ended */
	bool			fs_strict;
	char			**writable;
	char			**readable;
	char			**hidden;
	const char		*state_dir;	/* hidden always; not ours */
	char			notify_socket[108];	/* bound into the
							 * view; "": none */
};

/* Reads the sandbox, run (user, group) and resource_limits parts of the
 * worker's configuration. Returns 0, or -EINVAL with err filled. */
int	sandbox_parse(const struct cJSON *config, struct sandbox_spec *,
	    struct errbuf *err);

/* Builds sp's filter from sandbox.syscalls ({"allow": [...], "deny":
 * [...]}, may be NULL) and sp->seccomp. 0, or a negative errno with
 * err. (seccomp.c) */
int	sandbox_seccomp_build(struct sandbox_spec *, const struct cJSON *syscalls,
	    struct errbuf *err);
/* Builds the default filter once, for every worker cloned after (the
 * fork server). */
void	sandbox_seccomp_prepare(void);
/* What the filter is, into a sandbox report. */
void	sandbox_seccomp_report(const struct sandbox_spec *, struct cJSON *report);

/* sandbox.filesystem and its writable, readable and hidden paths.
 * (fsview.c) */
int	sandbox_parse_filesystem(const struct cJSON *sandbox,
	    struct sandbox_spec *, struct errbuf *err);
/* Builds the view for the calling process (CAP_SYS_ADMIN), with its own
 * /proc when it is the init of a PID namespace; with filesystem: host,
 * says so in report. (fsview.c) */
int	sandbox_filesystem(const struct sandbox_spec *, struct cJSON *report,
	    struct errbuf *err);
/* What sandbox_parse allocated. */
void	sandbox_free(struct sandbox_spec *);

/* Applies spec to the calling process. Returns 0 and adds what was done
 * to report (a cJSON object), or a negative errno with *stage naming the
 * step that failed and err the reason. */
int	sandbox_apply(const struct sandbox_spec *, struct cJSON *report,
	    const char **stage, struct errbuf *err);

#endif
