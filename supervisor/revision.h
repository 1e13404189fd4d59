/*
 * Revisions: every successful deployment of a stack is numbered and
 * kept, as kubectl keeps a rollout's, with a copy of the files it was
 * read from and what it rendered (secrets masked), so that rollback
 * start STACK --to-revision N puts back that revision from its own
 * files, whatever the files on disk say since:
 *
 *	STATE/stacks/STACK/staging/DEPLOY_ID/	copied while it is prepared
 *	STATE/stacks/STACK/revisions/N/		once it succeeded:
 *	    spec.yaml, environments/, servers/, checks/	its files
 *	    revision.json				what, when, who, changes
 *
 * The newest deployment_settings.revision_history are kept. Files only
 * hold references to secrets (env(), secret files), never their values.
 */
#ifndef MCPVISOR_REVISION_H
#define MCPVISOR_REVISION_H

#include <stdbool.h>
#include <stddef.h>

#include "supervisor.h"

struct dep_sources;

#define REVISION_SPEC		"spec.yaml"
#define REVISION_CHECKS		"checks"
#define REVISION_FILES_MAX	(16u << 20)	/* copied, in all */

/* Whether a stack's name may name its directory: 1 to 64 of
 * [A-Za-z0-9._-], not first a dot. */
bool	revision_stack_ok(const char *stack);
/* In the preparation's child, once the sources are loaded: copies them
 * into the stack's staging directory for deployment id. 0, or a
 * negative errno with why (the deployment goes on, without a revision:
 * the caller says so). */
int	revision_stage(const char *state_dir, const struct dep_sources *,
	    const char *stack, const char *id, char *why, size_t size);
/* Whether s names a revision whose files are still kept (a revision
 * pruned since is not). */
bool	revision_files_kept(const struct dep_sources *s);
/* Hears every deployment: a success becomes its stack's next revision,
 * and what was staged for one that never succeeded is removed. */
bool	revision_listener(struct deployment *, enum dep_note,
	    struct server_run *, const char *why);
/* mcpvisor rollback start STACK --to-revision N: a deployment of the
 * kept revision who->to_revision of stack who->stack, from its own
 * files and with its options (of who, only the requester and its
 * environment count), over what runs of the stack: as runtime_deploy,
 * and -ENOENT with *err when no such revision is kept with its files. */
int	runtime_deploy_revision(struct supervisor *,
	    const struct deploy_request *who, char *id, size_t idsize,
	    char **err);

#endif
