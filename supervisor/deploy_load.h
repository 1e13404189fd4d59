/*
 * A deployment's sources (what was asked for) and what loading them
 * gives: the prepared spec and plan, a run per server with the worker's
 * configuration (secrets included: memory only), and every secret, so
 * that they can be scrubbed from what workers report.
 */
#ifndef MCPVISOR_DEPLOY_LOAD_H
#define MCPVISOR_DEPLOY_LOAD_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>

#include "config.h"
#include "secrets.h"

struct childjob;
struct cJSON;
struct deploy_request;
struct prepared;
struct server_run;
struct supervisor;

struct dep_sources {
	char			*spec_path;
	char			*environment;	/* as requested, or NULL */
	char			*config_dir;
	char			*checks_dir;
	bool			 sequential;
	unsigned		 max_parallel;
	bool			 no_rollback;	/* --no-rollback */
	bool			 no_monitoring;	/* --no-monitoring */
	unsigned		 monitor_port;	/* --monitor-port; 0: none */
	int			 strategy;	/* --strategy; -1: none */
	struct cJSON		*environ;	/* the requester's, or NULL */
	char			*restores;	/* recovery's, or NULL */
	char			*backup_dir;	/* its snapshots'; NULL: ours */
	bool			 verbose;	/* --verbose */
	bool			 force_recreate;	/* --force-recreate */
	/* rollback start --to-revision: the files are read from a kept
	 * revision's copy of them (revision.h), not from spec_path and
	 * config_dir, which still say whose they are (relative paths,
	 * hooks, a later reload); NULL: from those */
	char			*revision_dir;
	unsigned		 from_revision;
	/* a dry run's: loaded to be compared, never run (the dynamic ids
	 * it would give out are not written) */
	bool			 dry_run;
	int			 requester_uid;	/* -1: mcpvisord */
	pid_t			 requester_pid;
	bool			 approved;	/* require_mfa: by whom, said */
};

struct dep_loaded {
	struct prepared		*pd;
	char			*environment;	/* in effect */
	struct server_run	*servers;	/* parallel to the spec's */
	size_t			 nservers;
	struct secret_set	 secrets;
	bool			 rollback_enabled;
	enum rollback_strategy	 strategy;
	/* its environment's security_policies.encrypt_at_rest: snapshots
	 * are sealed */
	bool			 encrypt_at_rest;
	/* and require_mfa: held for a second person's approval */
	bool			 require_mfa;
	/* and audit_logging: who asked for what, in logs/audit.log */
	bool			 audit_logging;
};

/* Where the spec, the configuration directory (environments/, servers/)
 * and the health checks are read from: the sources' own, or a kept
 * revision's copy. Each into a buffer of PATH_MAX. */
void	dep_sources_files(const struct dep_sources *, char *spec,
	    char *config, char *checks);
/* Copies a request. 0, or -EINVAL (an unknown strategy, said in *err)
 * or -ENOMEM. */
int	dep_sources_init(struct dep_sources *, const struct deploy_request *,
	    char **err);
void	dep_sources_clear(struct dep_sources *);
/* A strategy by name: its value, -1 for NULL, or -EINVAL with *err. */
int	dep_strategy_by_name(const char *, char **err);

/* Loads, checks, renders and plans the sources of deployment id, and
 * makes a run per server (each still to be given its owner). Returns 0,
 * or a negative errno with the diagnostics in *err (malloc'd): -EINVAL
 * for an invalid configuration. */
int	dep_load(struct supervisor *, const struct dep_sources *,
	    const char *id, struct dep_loaded *, char **err);
/* What a load made in a child carries back: the environment, each
 * server's run (the worker's configuration included) and every secret. */
struct cJSON	*dep_loaded_to_json(const struct dep_loaded *);
/* The load from a child's answer: the spec and the plan read again (a
 * small file), the rest from the answer, which must name the spec's
 * servers in order. 0, or a negative errno with *err. */
int	dep_load_from_json(const struct dep_sources *, const struct cJSON *,
	    struct dep_loaded *, char **err);
/* The same load in a child, off the loop (a deployment's preparation,
 * a dry run), bounded in CPU time and in the size of its answer: done
 * hears the answer (childjob.h). NULL with errno when it cannot start. */
struct childjob	*dep_load_start(struct supervisor *,
		    const struct dep_sources *, const char *id,
		    void (*done)(void *arg, char *answer, size_t len),
		    void *arg);
/* Takes that answer (wiped and freed): 0 and ld, or a negative errno
 * with why (malloc'd, or NULL on ENOMEM) and whether the files are at
 * fault. */
int	dep_load_answer(const struct dep_sources *, char *answer, size_t len,
	    struct dep_loaded *, char **why, bool *invalid);
/* Once the workers' configurations are made, what loading parsed is
 * needed no longer (the plan and the spec stay). */
void	dep_loaded_shed(struct dep_loaded *);
void	dep_loaded_clear(struct dep_loaded *);

#endif
