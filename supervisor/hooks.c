/*
 * Hook runs. One task at a time per run, in a worker of its own: the
 * worker is handed the hook (or action) as its configuration, sandboxes
 * itself, runs it and says how it ended; the run then goes on with the
 * next, or ends. Nothing of the hook runs in this process.
 */
#include "hooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "events.h"
#include "frame.h"
#include "log.h"
#include "supervisor.h"
#include "util.h"
#include "workerproc.h"

#define HOOK_SLACK_MS	5000	/* beyond the timeout the worker keeps */

struct hook_run {
	struct hook_run		*next;
	struct supervisor	*sv;
	char			**files;
	int			 nfiles;
	int			 next_file;
	/* a rollback action: its name, and the plugin function to call
	 * instead of executing files[0], or the program's arguments */
	char			 label[PATH_MAX + 32];
	bool			 action;
	char			*plugin;
	char			*function;
	char			**args;
	unsigned		 timeout_ms;
	char			**env;
	char			*doc;
	char			*config_dir;
	cJSON			*identity;
	cJSON			*mask;
	char			 deployment_id[64];	/* "": no events */
	bool			 verbose;
	int			 logfd;
	/* the task under way */
	struct worker_proc	*worker;
	bool			 exited;
	uint32_t		 how, code;
	char			 failure[600];
	struct loop_timer	 backstop;
	hook_done_fn		*done;
	void			*arg;
	bool			 cancelled;
};

static void
free_strv(char **v)
{
	for (char **p = v; p != NULL && *p != NULL; p++)
		free(*p);
	free(v);
}

/* Secrets are wiped, not only freed. */
static void
mask_free(cJSON *mask)
{
	cJSON	*s;

	cJSON_ArrayForEach(s, mask)
		if (cJSON_IsString(s))
			explicit_bzero(s->valuestring, strlen(s->valuestring));
	cJSON_Delete(mask);
}

static void
hook_run_free(struct hook_run *h)
{
	loop_timer_cancel(&h->sv->loop, &h->backstop);
	if (h->worker != NULL)
		worker_reown(h->worker, NULL, NULL);
	config_free_list(h->files, h->nfiles);
	free_strv(h->args);
	free(h->plugin);
	free(h->function);
	free_strv(h->env);
	free(h->doc);
	free(h->config_dir);
	cJSON_Delete(h->identity);
	mask_free(h->mask);
	if (h->logfd != -1)
		close(h->logfd);
	free(h);
}

static void
hook_unlink(struct hook_run *h)
{
	struct hook_run	**pp = &h->sv->hooks;

	while (*pp != NULL && *pp != h)
		pp = &(*pp)->next;
	if (*pp == h)
		*pp = h->next;
}

static void
hook_finish(struct hook_run *h, bool failed, const char *message)
{
	hook_unlink(h);
	if (!h->cancelled)
		h->done(h->arg, failed, message);
	hook_run_free(h);
}

/* Lists the executable files of dir, sorted (they need not end in
 * .yaml: any name but a dot file). */
static int
list_hooks(const char *dir, char ***out)
{
	DIR		 *d;
	struct dirent	 *de;
	char		**v = NULL;
	int		  n = 0;

	*out = NULL;
	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d)) != NULL) {
		struct stat	 st;
		char		*path, **nv;

		if (de->d_name[0] == '.' || asprintf(&path, "%s/%s", dir,
		    de->d_name) == -1)
			continue;
		if (stat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
		    access(path, X_OK) == -1 ||
		    (nv = realloc(v, (size_t)(n + 1) * sizeof(*v))) == NULL) {
			free(path);
			continue;
		}
		v = nv;
		v[n++] = path;
	}
	closedir(d);
	for (int i = 1; i < n; i++)	/* few files: insertion sort */
		for (int j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
			char	*t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*out = v;
	return n;
}

/* --- one task --- */

/* The user and group the spec declares, or the file's owner's. */
static void
add_identity(const struct hook_run *h, const char *path, cJSON *run,
    cJSON *task)
{
	const cJSON	*id = h->identity;
	const cJSON	*user = cJSON_GetObjectItem(id, "user");
	struct stat	 st;
	struct passwd	*pw;
	struct group	*gr;
	char		 num[24];

	if (cJSON_IsObject(cJSON_GetObjectItem(id, "sandbox")))
		cJSON_AddItemToObject(task, "sandbox", cJSON_Duplicate(
		    cJSON_GetObjectItem(id, "sandbox"), 1));
	if (cJSON_IsString(user)) {
		cJSON_AddStringToObject(run, "user", user->valuestring);
		if (cJSON_IsString(cJSON_GetObjectItem(id, "group")))
			cJSON_AddStringToObject(run, "group",
			    cJSON_GetObjectItem(id, "group")->valuestring);
		if (cJSON_IsArray(cJSON_GetObjectItem(id,
		    "supplementary_groups")))
			cJSON_AddItemToObject(run, "supplementary_groups",
			    cJSON_Duplicate(cJSON_GetObjectItem(id,
			    "supplementary_groups"), 1));
		return;
	}
	if (stat(path, &st) == -1)
		return;		/* its start will say why */
	if ((pw = getpwuid(st.st_uid)) != NULL)
		cJSON_AddStringToObject(run, "user", pw->pw_name);
	else {
		snprintf(num, sizeof(num), "%u", (unsigned)st.st_uid);
		cJSON_AddStringToObject(run, "user", num);
	}
	if ((gr = getgrgid(st.st_gid)) != NULL)
		cJSON_AddStringToObject(run, "group", gr->gr_name);
	else {
		snprintf(num, sizeof(num), "%u", (unsigned)st.st_gid);
		cJSON_AddStringToObject(run, "group", num);
	}
}

/* What the worker is told: the task, with its run spec. */
static cJSON *
task_config(const struct hook_run *h, const char *path)
{
	cJSON	*o = cJSON_CreateObject(), *run, *args, *env;

	cJSON_AddStringToObject(o, "task", h->label);
	run = cJSON_AddObjectToObject(o, "run");
	cJSON_AddStringToObject(run, "command", path);
	args = cJSON_AddArrayToObject(run, "args");
	for (char **a = h->args != NULL ? h->args + 1 : NULL; a != NULL &&
	    *a != NULL; a++)
		cJSON_AddItemToArray(args, cJSON_CreateString(*a));
	env = cJSON_AddObjectToObject(run, "environment");
	for (char **e = h->env; e != NULL && *e != NULL; e++) {
		char	*eq = strchr(*e, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		cJSON_AddStringToObject(env, *e, eq + 1);
		*eq = '=';
	}
	cJSON_AddStringToObject(run, "working_directory", h->config_dir);
	add_identity(h, path, run, o);
	if (h->mask != NULL)
		cJSON_AddItemToObject(o, "mask", cJSON_Duplicate(h->mask, 1));
	cJSON_AddStringToObject(o, "stdin", h->doc);
	cJSON_AddNumberToObject(o, "timeout_ms", h->timeout_ms);
	if (h->plugin != NULL) {
		cJSON_AddStringToObject(o, "plugin", h->plugin);
		cJSON_AddStringToObject(o, "function", h->function);
	}
	return o;
}

static void	hook_next(struct hook_run *);

/* The task is over (its worker gone): how did it end? */
static void
task_over(struct hook_run *h, const char *why)
{
	char	msg[PATH_MAX + 700];

	if (h->exited && h->how == 0 && h->code == 0) {
		hook_next(h);
		return;
	}
	if (h->failure[0] != '\0')
		snprintf(msg, sizeof(msg), "%s: %s", h->label, h->failure);
	else if (h->exited && h->how != 0)
		snprintf(msg, sizeof(msg), "%s killed by signal %u%s",
		    h->label, h->code, h->code == SIGKILL ? " (timeout?)" : "");
	else if (h->exited)
		snprintf(msg, sizeof(msg), "%s exited with status %u%s",
		    h->label, h->code, h->code == 127 ?
		    " (could not be executed?)" : "");
	else
		snprintf(msg, sizeof(msg), "%s: %s", h->label, why);
	hook_finish(h, true, msg);
}

static void
on_task(struct worker_proc *wp, const struct frame *f, const char *why,
    void *arg)
{
	struct hook_run	*h = arg;
	cJSON		*j;

	(void)wp;
	if (f == NULL) {
		h->worker = NULL;
		loop_timer_cancel(&h->sv->loop, &h->backstop);
		task_over(h, why);
		return;
	}
	if (f->type == FRAME_OUTPUT && h->deployment_id[0] != '\0') {
		/* the log has it already (the worker wrote it there) */
		struct event_origin	origin = { h->deployment_id, -1 };
		cJSON			*details = cJSON_CreateObject();

		cJSON_AddStringToObject(details, "hook", h->label);
		events_emit(h->sv, &origin, NULL, "hook_output", details,
		    "%s: %.*s", h->label, (int)f->len, (const char *)f->data);
	} else if (f->type == FRAME_EXITED) {
		h->exited = true;
		h->how = frame_get_u32(f->data);
		h->code = frame_get_u32(f->data + 4);
	} else if (f->type == FRAME_FAILED &&
	    (j = cJSON_ParseWithLength((char *)f->data, f->len)) != NULL) {
		snprintf(h->failure, sizeof(h->failure), "%s: %s%s%s",
		    cJSON_GetStringValue(cJSON_GetObjectItem(j, "stage")),
		    cJSON_GetStringValue(cJSON_GetObjectItem(j, "reason")),
		    cJSON_GetObjectItem(j, "errno") != NULL ? ": " : "",
		    cJSON_GetObjectItem(j, "errno") != NULL ?
		    cJSON_GetStringValue(cJSON_GetObjectItem(j, "errno")) : "");
		cJSON_Delete(j);
	}
}

/* The worker keeps the timeout; this is for a worker that cannot. */
static void
on_backstop(struct loop_timer *t)
{
	struct hook_run	*h = container_of(t, struct hook_run, backstop);

	if (h->worker != NULL)
		worker_kill(h->worker);
}

static int
hook_spawn(struct hook_run *h)
{
	const char	*path = h->files[h->next_file++];
	cJSON		*cfg;
	char		*text;
	unsigned	 flags;

	h->exited = false;
	h->failure[0] = '\0';
	if (!h->action)
		snprintf(h->label, sizeof(h->label), "hook %s", path);
	if ((cfg = task_config(h, path)) == NULL ||
	    (text = cJSON_PrintUnformatted(cfg)) == NULL) {
		mask_free(cJSON_DetachItemFromObject(cfg, "mask"));
		cJSON_Delete(cfg);
		return -ENOMEM;
	}
	flags = worker_flags_of(cfg);
	mask_free(cJSON_DetachItemFromObject(cfg, "mask"));
	cJSON_Delete(cfg);
	if ((h->worker = worker_spawn(h->sv, h->logfd, flags, on_task,
	    h)) == NULL) {
		explicit_bzero(text, strlen(text));
		free(text);
		return -errno;
	}
	worker_send(h->worker, FRAME_CONFIG, text, (uint32_t)strlen(text));
	explicit_bzero(text, strlen(text));
	free(text);
	if (h->deployment_id[0] != '\0') {
		struct event_origin	origin = { h->deployment_id, h->logfd,
					    h->verbose };

		events_emit(h->sv, &origin, NULL, "hook_started", NULL,
		    "%s in worker %d", h->label, (int)worker_pid(h->worker));
	}
	loop_timer_set(&h->sv->loop, &h->backstop, h->timeout_ms +
	    HOOK_SLACK_MS);
	return 0;
}

static void
hook_next(struct hook_run *h)
{
	char	msg[PATH_MAX + 64];
	int	r;

	if (h->next_file == h->nfiles) {
		hook_finish(h, false, NULL);
		return;
	}
	if ((r = hook_spawn(h)) < 0) {
		snprintf(msg, sizeof(msg), "%s: %s", h->label, strerror(-r));
		hook_finish(h, true, msg);
	}
}

static char **
strv_dup(char *const *v, size_t extra_front)
{
	size_t	  n = 0;
	char	**out;

	while (v != NULL && v[n] != NULL)
		n++;
	if ((out = calloc(extra_front + n + 1, sizeof(char *))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if ((out[extra_front + i] = strdup(v[i])) == NULL) {
			free_strv(out);
			return NULL;
		}
	return out;
}

static struct hook_run *
hook_run_new(struct supervisor *sv, const struct hook_context *ctx)
{
	struct hook_run	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->sv = sv;
	h->logfd = -1;
	h->timeout_ms = HOOK_TIMEOUT_MS;
	h->backstop.fn = on_backstop;
	if ((h->config_dir = strdup(ctx->config_dir)) == NULL ||
	    (ctx->identity != NULL && (h->identity = cJSON_Duplicate(
	    ctx->identity, 1)) == NULL)) {
		hook_run_free(h);
		return NULL;
	}
	if (ctx->mask != NULL && cJSON_GetArraySize(ctx->mask) > 0 &&
	    (h->mask = cJSON_Duplicate(ctx->mask, 1)) == NULL) {
		hook_run_free(h);
		return NULL;
	}
	if (ctx->deployment_id != NULL)
		snprintf(h->deployment_id, sizeof(h->deployment_id), "%s",
		    ctx->deployment_id);
	h->verbose = ctx->verbose;
	if (ctx->logfd != -1)
		h->logfd = fcntl(ctx->logfd, F_DUPFD_CLOEXEC, 3);
	return h;
}

/* Takes h (its files set) and starts its first task: 1, or a negative
 * errno with h freed. */
static int
hook_run_start(struct supervisor *sv, struct hook_run *h, char *const *env,
    const cJSON *doc, hook_done_fn *done, void *arg)
{
	int	r;

	if ((h->env = strv_dup(env, 0)) == NULL ||
	    (h->doc = cJSON_Print(doc)) == NULL) {
		hook_run_free(h);
		return -ENOMEM;
	}
	h->done = done;
	h->arg = arg;
	h->next = sv->hooks;
	sv->hooks = h;
	if ((r = hook_spawn(h)) < 0) {
		hook_unlink(h);
		hook_run_free(h);
		return r;
	}
	return 1;
}

int
hooks_start(struct supervisor *sv, const struct hook_context *ctx,
    const char *phase, char *const *env, const cJSON *doc,
    hook_done_fn *done, void *arg)
{
	struct hook_run	*h;
	char		 dir[PATH_MAX];
	int		 r;

	snprintf(dir, sizeof(dir), "%s/hooks/%s.d", ctx->config_dir, phase);
	if ((h = hook_run_new(sv, ctx)) == NULL)
		return -ENOMEM;
	if ((r = list_hooks(dir, &h->files)) <= 0) {
		hook_run_free(h);
		return r;
	}
	h->nfiles = r;
	return hook_run_start(sv, h, env, doc, done, arg);
}

int
hooks_run_action(struct supervisor *sv, const struct hook_context *ctx,
    const struct hook_action *a, char *const *env, const cJSON *doc,
    hook_done_fn *done, void *arg)
{
	struct hook_run	*h;
	const char	*path = a->program != NULL ? a->program : a->plugin;

	if ((h = hook_run_new(sv, ctx)) == NULL)
		return -ENOMEM;
	h->action = true;
	if (a->timeout_ms > 0)
		h->timeout_ms = a->timeout_ms;
	snprintf(h->label, sizeof(h->label), "rollback action '%s'", a->name);
	if ((h->files = calloc(1, sizeof(char *))) == NULL ||
	    (h->files[0] = strdup(path)) == NULL) {
		hook_run_free(h);
		return -ENOMEM;
	}
	h->nfiles = 1;
	if (a->plugin != NULL && ((h->plugin = strdup(a->plugin)) == NULL ||
	    (h->function = strdup(a->function)) == NULL)) {
		hook_run_free(h);
		return -ENOMEM;
	}
	if (a->program != NULL && ((h->args = strv_dup(a->args, 1)) == NULL ||
	    (h->args[0] = strdup(a->program)) == NULL)) {
		hook_run_free(h);
		return -ENOMEM;
	}
	return hook_run_start(sv, h, env, doc, done, arg);
}

void
hooks_cancel(struct supervisor *sv, void *arg)
{
	for (struct hook_run *h = sv->hooks; h != NULL; h = h->next)
		if (h->arg == arg)
			h->cancelled = true;
}

bool
hooks_pending(const struct supervisor *sv)
{
	return sv->hooks != NULL;
}

void
hooks_free_all(struct supervisor *sv)
{
	struct hook_run	*h, *next;

	for (h = sv->hooks; h != NULL; h = next) {
		next = h->next;
		if (h->worker != NULL)
			worker_kill(h->worker);
		hook_run_free(h);
	}
	sv->hooks = NULL;
}
