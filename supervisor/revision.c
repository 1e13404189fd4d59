#include "revision.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "apply.h"
#include "config.h"
#include "deploy_load.h"
#include "deployment.h"
#include "log.h"
#include "prepare.h"
#include "rollback_state.h"
#include "stack.h"
#include "state.h"
#include "util.h"

bool
revision_stack_ok(const char *stack)
{
	size_t	n = strlen(stack);

	if (n == 0 || n > 64 || stack[0] == '.')
		return false;
	return strspn(stack, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == n;
}

/* --- staged in the preparation's child --- */

/* Copies file to dir/name, counting what was copied against the bound. */
static int
copy_file(const char *file, const char *dir, const char *name,
    size_t *copied, char *why, size_t size)
{
	char	path[PATH_MAX + 64], *data;
	size_t	len;
	int	fd, r;

	if ((r = read_file_capped(file, 0, REVISION_FILES_MAX -
	    *copied, &data, &len, NULL)) < 0) {
		snprintf(why, size, "%s: %s", file, r == -EFBIG ? "its files "
		    "are larger than 16 MiB in all" : strerror(-r));
		return r;
	}
	*copied += len;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		r = -errno;
	else {
		r = write_all(fd, data, len);
		close(fd);
	}
	if (r < 0)
		snprintf(why, size, "%s: %s", path, strerror(-r));
	free(data);
	return r;
}

/* Copies the YAML files of src (what the configuration's loader reads)
 * into dir, made for them. */
static int
copy_dir(const char *src, const char *dir, size_t *copied, char *why,
    size_t size)
{
	char	**files;
	int	  n, r = 0;

	if (mkdir(dir, 0700) == -1) {
		r = -errno;
		snprintf(why, size, "%s: %s", dir, strerror(-r));
		return r;
	}
	if ((n = config_list_dir(src, &files)) == -ENOENT)
		return 0;	/* none: none kept */
	if (n < 0) {
		snprintf(why, size, "%s: %s", src, strerror(-n));
		return n;
	}
	for (int i = 0; i < n && r == 0; i++)
		r = copy_file(files[i], dir, strrchr(files[i], '/') + 1, copied,
		    why, size);
	config_free_list(files, n);
	return r;
}

int
revision_stage(const char *state_dir, const struct dep_sources *src,
    const char *stack, const char *id, char *why, size_t size)
{
	char		 dir[PATH_MAX], from[3][PATH_MAX + 16];
	char		 into[PATH_MAX + 16];
	char		 spec[PATH_MAX], config[PATH_MAX], checks[PATH_MAX];
	const char	*names[3] = { "environments", "servers",
			    REVISION_CHECKS };
	size_t		 copied = 0;
	int		 n, r = 0;

	if (!revision_stack_ok(stack)) {
		snprintf(why, size, "stack '%.64s': a name of 1 to 64 letters, "
		    "digits, '.', '_' and '-' is needed to keep revisions",
		    stack);
		return -EINVAL;
	}
	n = snprintf(dir, sizeof(dir), "%s/stacks/%s/staging/%s", state_dir,
	    stack, id);
	if (n < 0 || (size_t)n + 16 >= sizeof(dir)) {
		snprintf(why, size, "%s: too long a path", state_dir);
		return -ENAMETOOLONG;
	}
	/* where the loader read them: a project's, or a revision's copy */
	dep_sources_files(src, spec, config, checks);
	snprintf(from[0], sizeof(from[0]), "%s/environments", config);
	snprintf(from[1], sizeof(from[1]), "%s/servers", config);
	snprintf(from[2], sizeof(from[2]), "%s", checks);
	util_remove_tree(dir);		/* a previous life's, half made */
	if ((r = util_make_dirs(dir, 0700, 0700)) < 0) {
		snprintf(why, size, "%s: %s", dir, strerror(-r));
		return r;
	}
	r = copy_file(spec, dir, REVISION_SPEC, &copied, why, size);
	for (int k = 0; k < 3 && r == 0; k++) {
		snprintf(into, sizeof(into), "%s/%s", dir, names[k]);
		r = copy_dir(from[k], into, &copied, why, size);
	}
	if (r < 0)
		util_remove_tree(dir);
	return r;
}

/* --- kept in the root, once it succeeded --- */

/* The stack's directory of kind ("staging", "revisions"), with name;
 * false when it does not fit. */
static bool
stack_path(const struct deployment *dep, const char *kind, const char *name,
    char *buf, size_t size)
{
	int	n = snprintf(buf, size, "%s/stacks/%s/%s%s%s",
		    dep->sv->state_dir, dep->stack != NULL ? dep->stack->name :
		    dep->ld.pd->spec->name, kind, name != NULL ? "/" : "",
		    name != NULL ? name : "");

	return n >= 0 && (size_t)n < size;
}

/* What changed, from the running deployment it replaced: each server's
 * change and keys, and the servers it no longer names. */
static void
add_changes(cJSON *o, const struct deployment *dep)
{
	cJSON	*list = cJSON_AddArrayToObject(o, "servers");
	cJSON	*removed = cJSON_AddArrayToObject(o, "removed");

	for (size_t i = 0; i < dep->ld.nservers; i++) {
		const struct server_run	*sr = &dep->ld.servers[i];
		cJSON			*s = cJSON_CreateObject();
		const char		*change;

		/* not an apply (a rollback by hand's): replaced whole */
		if (sr->change != SC_NONE)
			change = apply_change_name(sr->change);
		else if (dep->prev != NULL && dep_server(dep->prev, sr->name))
			change = apply_change_name(SC_RECREATED);
		else
			change = apply_change_name(SC_ADDED);
		cJSON_AddStringToObject(s, "name", sr->name);
		cJSON_AddStringToObject(s, "change", change);
		if (sr->changed_keys != NULL)
			cJSON_AddItemToObject(s, "changed_keys",
			    cJSON_Duplicate(sr->changed_keys, 1));
		if (sr->rendered != NULL)
			cJSON_AddStringToObject(s, "rendered", sr->rendered);
		cJSON_AddItemToArray(list, s);
	}
	for (size_t i = 0; dep->prev != NULL && i < dep->prev->ld.nservers;
	    i++)
		if (dep_server(dep, dep->prev->ld.servers[i].name) == NULL)
			cJSON_AddItemToArray(removed, cJSON_CreateString(
			    dep->prev->ld.servers[i].name));
}

/* The sources and options it was deployed with, for a rollback to it. */
static void
add_sources(cJSON *o, const struct dep_sources *src)
{
	cJSON_AddStringToObject(o, "spec", src->spec_path);
	cJSON_AddStringToObject(o, "config_dir", src->config_dir);
	cJSON_AddStringToObject(o, "checks_dir", src->checks_dir);
	if (src->environment != NULL)
		cJSON_AddStringToObject(o, "requested_environment",
		    src->environment);
	cJSON_AddBoolToObject(o, "sequential", src->sequential);
	cJSON_AddNumberToObject(o, "max_parallel", src->max_parallel);
	cJSON_AddBoolToObject(o, "no_rollback", src->no_rollback);
	if (src->strategy >= 0)
		cJSON_AddStringToObject(o, "strategy", rollback_strategy_name(
		    (enum rollback_strategy)src->strategy));
	cJSON_AddBoolToObject(o, "no_monitoring", src->no_monitoring);
	cJSON_AddNumberToObject(o, "monitor_port", src->monitor_port);
	if (src->backup_dir != NULL)
		cJSON_AddStringToObject(o, "backup_dir", src->backup_dir);
	cJSON_AddBoolToObject(o, "verbose", src->verbose);
}

/* Removes the kept revisions past the newest keep. */
static void
prune(const char *dir, unsigned keep)
{
	unsigned	*v;
	size_t		 n = util_numbered_entries(dir, &v);
	char		 path[PATH_MAX + 16];

	for (size_t i = 0; i + keep < n; i++) {
		snprintf(path, sizeof(path), "%s/%u", dir, v[i]);
		util_remove_tree(path);
	}
	free(v);
}

static void
keep(struct deployment *dep)
{
	char		 staged[PATH_MAX], dir[PATH_MAX], rel[PATH_MAX];
	char		 num[16], *own;
	unsigned	*v, next, history;
	size_t		 n;
	bool		 files;
	cJSON		*o;

	history = dep->ld.pd->spec->settings.revision_history;
	if (!stack_path(dep, "staging", dep->id, staged, sizeof(staged)))
		return;
	if (history == 0) {
		util_remove_tree(staged);
		return;
	}
	/* brought back after a crash, from its revision's files: that
	 * revision still, not a new one */
	if (dep->src.restores != NULL && dep->src.from_revision > 0) {
		dep->revision = dep->src.from_revision;
		util_remove_tree(staged);
		return;
	}
	if (!stack_path(dep, "revisions", NULL, dir, sizeof(dir)) ||
	    util_make_dirs(dir, 0700, 0700) < 0) {
		log_warn("%s", dir);
		util_remove_tree(staged);
		return;
	}
	n = util_numbered_entries(dir, &v);
	next = n > 0 ? v[n - 1] + 1 : 1;
	free(v);
	snprintf(num, sizeof(num), "%u", next);
	if (!stack_path(dep, "revisions", num, dir, sizeof(dir)))
		return;
	/* its files, as they were read; a revision whose files could not
	 * be kept is listed, and cannot be gone back to */
	files = rename(staged, dir) == 0;
	if (!files && mkdir(dir, 0700) == -1) {
		log_warn("%s", dir);
		return;
	}
	dep->revision = next;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "revision", next);
	cJSON_AddStringToObject(o, "stack", dep->stack->name);
	cJSON_AddStringToObject(o, "deployment_id", dep->id);
	cJSON_AddStringToObject(o, "started_at", dep->started_at);
	state_iso_now(rel, sizeof(rel));
	cJSON_AddStringToObject(o, "succeeded_at", rel);
	cJSON_AddNumberToObject(o, "requester_uid", dep->src.requester_uid);
	cJSON_AddStringToObject(o, "environment", dep->ld.environment);
	if (dep->prev != NULL)
		cJSON_AddStringToObject(o, "replaced", dep->prev->id);
	if (dep->src.from_revision > 0)
		cJSON_AddNumberToObject(o, "from_revision",
		    dep->src.from_revision);
	cJSON_AddBoolToObject(o, "files_kept", files);
	add_sources(o, &dep->src);
	add_changes(o, dep);
	snprintf(rel, sizeof(rel), "stacks/%s/revisions/%u/revision.json",
	    dep->stack->name, next);
	if (state_write_json(dep->sv->state_dir, rel, o) < 0)
		log_warnx("%s/%s: not written", dep->sv->state_dir, rel);
	cJSON_Delete(o);
	dep_emit(dep, NULL, "revision_recorded", NULL, "stack %s revision %u%s",
	    dep->stack->name, next, files ? "" : " (its files could not be "
	    "kept: it cannot be gone back to)");
	/* what a restart after a crash brings back: this revision, from its
	 * own files (a reload still reads the project's) */
	if (files && (own = strdup(dir)) != NULL) {
		free(dep->src.revision_dir);
		dep->src.revision_dir = own;
	}
	*strrchr(dir, '/') = '\0';
	prune(dir, history);
}

bool
revision_files_kept(const struct dep_sources *s)
{
	char	spec[PATH_MAX], config[PATH_MAX], checks[PATH_MAX];

	if (s->revision_dir == NULL)
		return false;
	dep_sources_files(s, spec, config, checks);
	return access(spec, F_OK) == 0;
}

bool
revision_listener(struct deployment *dep, enum dep_note n,
    struct server_run *sr, const char *why)
{
	char	staged[PATH_MAX];

	(void)sr;
	(void)why;
	/* a stack's name becomes a path only once it is known to be one */
	if (dep->ld.pd == NULL || dep->src.dry_run ||
	    !revision_stack_ok(dep->ld.pd->spec->name))
		return false;
	if (n == DN_SUCCEEDED && dep->stack != NULL)
		keep(dep);
	else if (n == DN_STOPPED) {
		/* staged for a deployment that never succeeded (one that did
		 * has its files kept as its revision already) */
		if (stack_path(dep, "staging", dep->id, staged, sizeof(staged)))
			util_remove_tree(staged);
	}
	return false;
}

static const char *
json_str(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
}

/* Fills rq from the kept revision rq->to_revision of stack rq->stack:
 * its sources, options and the directory of its files (dir, of
 * PATH_MAX), borrowed from *held, which the caller deletes once the
 * request is made. 0, or -ENOENT with *err. */
static int
revision_request(const struct supervisor *sv, struct deploy_request *rq,
    char *dir, cJSON **held, char **err)
{
	char	 path[PATH_MAX + 32];
	cJSON	*o = NULL;
	int	 r;

	*err = NULL;
	if (rq->stack == NULL || !revision_stack_ok(rq->stack))
		return util_say(err, -ENOENT, "no stack '%s' keeps revisions",
		    rq->stack != NULL ? rq->stack : "");
	r = snprintf(dir, PATH_MAX, "%s/stacks/%s/revisions/%u",
	    sv->state_dir, rq->stack, rq->to_revision);
	if (r < 0 || r >= PATH_MAX)
		return util_say(err, -ENAMETOOLONG, "stack %s: its revisions' "
		    "directory is too long a path", rq->stack);
	snprintf(path, sizeof(path), "%s/revision.json", dir);
	if ((r = state_read_json(path, &o)) < 0)
		return util_say(err, -ENOENT, "stack %s keeps no revision %u "
		    "(mcpvisor history %s lists those it keeps)", rq->stack,
		    rq->to_revision, rq->stack);
	if (!cJSON_IsTrue(cJSON_GetObjectItem(o, "files_kept")) ||
	    json_str(o, "spec") == NULL || json_str(o, "config_dir") == NULL) {
		cJSON_Delete(o);
		return util_say(err, -ENOENT, "stack %s revision %u: its files "
		    "were not kept; it cannot be gone back to", rq->stack,
		    rq->to_revision);
	}
	rq->spec_path = json_str(o, "spec");
	rq->config_dir = json_str(o, "config_dir");
	rq->checks_dir = json_str(o, "checks_dir");
	rq->environment = json_str(o, "environment");
	rq->sequential = cJSON_IsTrue(cJSON_GetObjectItem(o, "sequential"));
	rq->max_parallel = (unsigned)json_int_within(cJSON_GetObjectItem(o,
	    "max_parallel"), 0, UINT_MAX, 0);
	rq->no_rollback = cJSON_IsTrue(cJSON_GetObjectItem(o, "no_rollback"));
	rq->strategy = json_str(o, "strategy");
	rq->no_monitoring = cJSON_IsTrue(cJSON_GetObjectItem(o,
	    "no_monitoring"));
	rq->monitor_port = (unsigned)json_int_within(cJSON_GetObjectItem(o,
	    "monitor_port"), 0, 65535, 0);
	rq->backup_dir = json_str(o, "backup_dir");
	rq->verbose = cJSON_IsTrue(cJSON_GetObjectItem(o, "verbose"));
	rq->revision_dir = dir;
	*held = o;
	return 0;
}

int
runtime_deploy_revision(struct supervisor *sv, const struct deploy_request *who,
    char *id, size_t idsize, char **err)
{
	struct deploy_request	 rq = {
		.stack = who->stack, .to_revision = who->to_revision,
		.environ = who->environ, .requester_uid = who->requester_uid,
		.requester_pid = who->requester_pid,
	};
	char			 dir[PATH_MAX];
	cJSON			*held = NULL;
	int			 r;

	if ((r = revision_request(sv, &rq, dir, &held, err)) < 0)
		return r;
	r = runtime_deploy(sv, &rq, id, idsize, err);
	cJSON_Delete(held);
	return r;
}
