/*
 * The supervisor itself: its start-up (state directory, journal, loop,
 * the listeners every deployment is heard by), one loop turn with its
 * group commit, the ordered shutdown and its grace, what is reaped, and
 * the public face of deployments (deploy, stop, records).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "apply.h"
#include "childjob.h"
#include "deployment.h"
#include "errbuf.h"
#include "events.h"
#include "hooks.h"
#include "log.h"
#include "revision.h"
#include "rollback.h"
#include "server.h"
#include "serverctl.h"
#include "snapjob.h"
#include "stack.h"
#include "supervisor.h"
#include "upgrade.h"
#include "util.h"
#include "workerproc.h"

static void
on_once_timer(struct loop_timer *t)
{
	struct supervisor	*sv = container_of(t, struct supervisor,
				    once_timer);

	runtime_shutdown(sv);
}

/* Once every deployment is over, a daemon asked to stop (or one that
 * runs as init, whose deployment was all it had) is done. With --once,
 * the init deployment's success is the signal to stop: on the next turn,
 * not amid the deployment's own notes. */
static bool
runtime_listener(struct deployment *dep, enum dep_note n,
    struct server_run *sr, const char *why)
{
	struct supervisor	*sv = dep->sv;

	(void)sr;
	(void)why;
	if (n == DN_SUCCEEDED && sv->once && !sv->shutting_down) {
		log_info("%s succeeded: stopping it (--once)", dep->id);
		sv->once_timer.fn = on_once_timer;
		loop_timer_set(&sv->loop, &sv->once_timer, 0);
		return false;
	}
	if (n != DN_STOPPED || !(sv->shutting_down || sv->init_mode) ||
	    runtime_busy(sv))
		return false;
	sv->done = true;
	if (sv->exit_status == SV_EXIT_OK)
		sv->exit_status = dep->outcome == OUT_INVALID ? SV_EXIT_CONFIG :
		    dep->outcome == OUT_FAILED ? SV_EXIT_FAILED :
		    sv->grace_expired ? SV_EXIT_GRACE : SV_EXIT_OK;
	return false;
}

bool
runtime_busy(const struct supervisor *sv)
{
	for (const struct deployment *p = sv->preparing; p != NULL;
	    p = p->next)
		if (dep_running(p))
			return true;
	return stack_any_running(sv);
}

void
runtime_listen(struct supervisor *sv, dep_listener_fn *fn)
{
	if (sv->nlisteners == SV_LISTENERS_MAX)
		fatalx(SV_EXIT_TEMPFAIL, "more listeners than %d",
		    SV_LISTENERS_MAX);
	sv->listeners[sv->nlisteners++] = fn;
}

int
runtime_init(struct supervisor *sv, const char *state_dir,
    const char *worker_path)
{
	struct errbuf	err;
	int		r;

	snprintf(sv->state_dir, sizeof(sv->state_dir), "%s", state_dir);
	if (sv->backup_dir[0] == '\0' && (size_t)snprintf(sv->backup_dir,
	    sizeof(sv->backup_dir), "%s/backups", state_dir) >=
	    sizeof(sv->backup_dir))
		return -ENAMETOOLONG;
	snprintf(sv->worker_path, sizeof(sv->worker_path), "%s", worker_path);
	sv->forkserver.fd = -1;
	if (access(worker_path, X_OK) == -1) {
		log_warn("worker %s", worker_path);
		return -errno;
	}
	if ((r = state_prepare(state_dir, &err)) < 0) {
		log_warnx("state directory: %s", err.msg);
		return r;
	}
	if ((r = loop_init(&sv->loop)) < 0) {
		log_warnx("event loop: %s", strerror(-r));
		return r;
	}
	if ((r = journal_open(&sv->journal, state_dir)) < 0) {
		log_warnx("%s/events.journal: %s", state_dir, r == -EINVAL ?
		    "not a regular file" : strerror(-r));
		return r;
	}
	/* in this order: an upgrade acts on a server's start before a
	 * rollback by hand does; the supervisor is last to hear an end */
	runtime_listen(sv, upgrade_listener);
	runtime_listen(sv, rollback_listener);
	runtime_listen(sv, rollback_hand_listener);
	runtime_listen(sv, serverctl_listener);
	runtime_listen(sv, revision_listener);
	runtime_listen(sv, runtime_listener);
	/* orphans come to us, not to an init that knows nothing of them */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER");
	return 0;
}

/* Frees a list of deployments not installed in a stack. */
static void
free_list(struct deployment **list)
{
	while (*list != NULL) {
		struct deployment	*d = *list;

		*list = d->next;
		dep_free(d);
	}
}

int
runtime_turn(struct supervisor *sv, int timeout_ms)
{
	int	r = loop_once(&sv->loop, timeout_ms);

	/* end of the turn: one journal fdatasync and one record write for
	 * however many events happened (group commit); the events first,
	 * so that no record says more than the journal holds */
	events_commit(sv);
	for (struct deployment *p = sv->preparing; p != NULL; p = p->next)
		if (p->owner.dirty)
			dep_write_record(p);
	free_list(&sv->unprepared);
	for (struct stack *st = sv->stacks; st != NULL; st = st->next)
		for (struct deployment *d = st->dep; d != NULL; d = d->prev)
			if (d->owner.dirty)
				dep_write_record(d);
	workers_bury(sv);
	return r;
}

void
runtime_free(struct supervisor *sv)
{
	/* the deployment first: it lets go of its workers */
	hooks_free_all(sv);
	serverctl_drop(sv->serverctl);
	sv->serverctl = NULL;
	free_list(&sv->preparing);
	free_list(&sv->unprepared);
	stack_free_all(sv);
	apply_previews_free(sv);	/* before their jobs go */
	childjobs_free_all(sv);
	workers_free_all(sv);
	forkserver_stop(sv);
	journal_close(&sv->journal);
	loop_free(&sv->loop);
}

bool
runtime_reaped(struct supervisor *sv, pid_t pid, int status)
{
	return workers_reaped(sv, pid, status) ||
	    childjobs_reaped(sv, pid, status) ||
	    forkserver_reaped(sv, pid, status);
}

void
runtime_forward_signal(struct supervisor *sv, int sig)
{
	workers_forward_signal(sv, sig);
}

static void
on_grace_timer(struct loop_timer *t)
{
	struct supervisor	*sv = container_of(t, struct supervisor,
				    grace_timer);

	log_warnx("grace of %u ms exceeded: killing what is left",
	    sv->grace_ms);
	sv->grace_expired = true;
	workers_kill_all(sv);
	sv->done = true;
	sv->exit_status = SV_EXIT_GRACE;
}

void
runtime_shutdown(struct supervisor *sv)
{
	if (sv->shutting_down) {
		/* a second TERM or INT: the user will not wait, as container
		 * runtimes' users expect */
		if (!sv->done) {
			log_warnx("a second signal during the ordered stop: "
			    "killing what is left");
			on_grace_timer(&sv->grace_timer);
		}
		return;
	}
	sv->shutting_down = true;
	sv->grace_timer.fn = on_grace_timer;
	loop_timer_set(&sv->loop, &sv->grace_timer, sv->grace_ms);
	if (!runtime_busy(sv)) {
		sv->done = true;
		return;
	}
	for (struct deployment *p = sv->preparing, *next; p != NULL;
	    p = next) {
		next = p->next;	/* a stop that ends it takes it off */
		dep_stop(p, STOP_GRACEFUL);
	}
	/* every stack at once, each in its reverse order */
	for (struct stack *st = sv->stacks; st != NULL; st = st->next) {
		struct deployment	*cur = st->dep;

		if (cur != NULL && cur->prev != NULL && dep_running(cur->prev))
			dep_stop(cur->prev, STOP_GRACEFUL);
		if (cur != NULL && dep_running(cur))
			dep_stop(cur, STOP_GRACEFUL);
	}
}

/* --- deployments --- */

int
runtime_deploy(struct supervisor *sv, const struct deploy_request *rq,
    char *id, size_t idsize, char **err)
{
	struct deployment	*dep;
	int			 r;

	*err = NULL;
	if ((r = dep_new(sv, rq, &dep, err)) < 0)
		return r;
	if ((r = stack_submit_busy(sv, dep->src.spec_path, err)) < 0) {
		dep_free(dep);
		return r;
	}
	dep_open_log(dep);
	dep->next = sv->preparing;
	sv->preparing = dep;
	snprintf(id, idsize, "%s", dep->id);
	/* what is loaded, rendered and planned is so in a child, off the
	 * loop; pre-validation hooks, which may write the very files it is
	 * to load, come first */
	dep_emit(dep, NULL, "deployment_preparing", NULL, "loading, rendering "
	    "and planning %s", dep->src.spec_path);
	dep_write_record(dep);
	if (!dep_validate(dep))
		dep_event(dep, DE_HOOKS_DONE, NULL);
	return 0;
}

/* The stack a reload is for: the one named, or the only one whose
 * deployment succeeded. */
static int
reload_target(struct supervisor *sv, const char *name,
    const struct deployment **out, char **err)
{
	const struct stack	*st, *found = NULL;
	char			 names[256] = "";
	size_t			 used = 0, n = 0;

	*out = NULL;
	if (name != NULL && (found = stack_named(sv, name)) == NULL)
		return util_say(err, -ESRCH, "no stack '%s' runs", name);
	for (st = sv->stacks; name == NULL && st != NULL; st = st->next)
		if (st->dep != NULL && st->dep->state == DEP_SUCCEEDED) {
			found = st;
			n++;
			if (used < sizeof(names))
				used += (size_t)snprintf(names + used,
				    sizeof(names) - used, "%s%s", used > 0 ?
				    ", " : "", st->name);
		}
	if (n > 1)
		return util_say(err, -EDESTADDRREQ, "%zu stacks run (%s): "
		    "name the one to reload", n, names);
	if (found == NULL || found->dep == NULL)
		return util_say(err, -ESRCH, "no deployment runs to reload");
	if (found->dep->state != DEP_SUCCEEDED)
		return util_say(err, -ESRCH, "stack %s: deployment %s has not "
		    "succeeded: there is nothing to reload yet", found->name,
		    found->dep->id);
	*out = found->dep;
	return 0;
}

int
runtime_reload(struct supervisor *sv, const struct deploy_request *who,
    char *id, size_t idsize, char **err)
{
	const struct deployment		*cur;
	const struct dep_sources	*s;
	struct deploy_request		 rq;
	int				 r;

	*err = NULL;
	if ((r = reload_target(sv, who->stack, &cur, err)) < 0)
		return r;
	s = &cur->src;
	rq = (struct deploy_request){
		.spec_path = s->spec_path, .environment = s->environment,
		.config_dir = s->config_dir, .checks_dir = s->checks_dir,
		.sequential = s->sequential, .max_parallel = s->max_parallel,
		.no_rollback = s->no_rollback,
		.strategy = s->strategy >= 0 ? rollback_strategy_name(
		    (enum rollback_strategy)s->strategy) : NULL,
		.no_monitoring = s->no_monitoring,
		.monitor_port = s->monitor_port, .backup_dir = s->backup_dir,
		.verbose = s->verbose, .environ = who->environ,
		.requester_uid = who->requester_uid,
		.requester_pid = who->requester_pid,
	};
	return runtime_deploy(sv, &rq, id, idsize, err);
}

int
runtime_record_metrics(struct supervisor *sv, const char *server,
    const cJSON *metrics, char *why, size_t size)
{
	struct deployment	*dep = NULL;
	const cJSON		*v;
	cJSON			*d;
	char			 line[512];
	size_t			 used = 0;

	if (server == NULL || stack_server(sv, server, &dep) == NULL) {
		snprintf(why, size, "no server '%s' in a current deployment%s",
		    server != NULL ? server : "", sv->stacks == NULL ?
		    " (none runs)" : "");
		return -ENOENT;
	}
	if (cJSON_GetArraySize(metrics) == 0) {
		snprintf(why, size, "no metrics given (NAME=VALUE)");
		return -EINVAL;
	}
	line[0] = '\0';
	cJSON_ArrayForEach(v, metrics) {
		if (!util_metric_name_ok(v->string) || !cJSON_IsNumber(v) ||
		    !isfinite(v->valuedouble)) {
			snprintf(why, size, "metric '%.80s': a name of letters, "
			    "digits and _ (not first a digit) and a finite "
			    "number are needed", v->string);
			return -EINVAL;
		}
		if (used < sizeof(line))
			used += (size_t)snprintf(line + used, sizeof(line) - used,
			    "%s%s=%g", used > 0 ? " " : "", v->string,
			    v->valuedouble);
	}
	if ((d = cJSON_CreateObject()) != NULL)
		cJSON_AddItemToObject(d, "metrics", cJSON_Duplicate(metrics, 1));
	dep_emit(dep, server, "metrics_recorded", d, "%s", line);
	return 0;
}

int
runtime_signal_servers(struct supervisor *sv, const cJSON *names, int sig,
    int uid, cJSON *done, char *why, size_t size)
{
	struct server_run	*sr;
	const cJSON		*n;

	if (cJSON_GetArraySize(names) == 0) {
		snprintf(why, size, "no server named");
		return -EINVAL;
	}
	cJSON_ArrayForEach(n, names) {
		if (!cJSON_IsString(n)) {
			snprintf(why, size, "'servers' is a list of names");
			return -EINVAL;
		}
		if ((sr = stack_server(sv, n->valuestring, NULL)) == NULL) {
			stack_say_unknown(sv, n->valuestring, why, size);
			return -ENOENT;
		}
		if (!server_has_process(sr)) {
			snprintf(why, size, "server '%.80s' is not running (%s)",
			    n->valuestring, server_state_name(sr->state));
			return -ESRCH;
		}
	}
	cJSON_ArrayForEach(n, names) {
		cJSON	*e = cJSON_CreateObject();

		sr = stack_server(sv, n->valuestring, NULL);
		cJSON_AddStringToObject(e, "server", sr->name);
		cJSON_AddNumberToObject(e, "pid", sr->server_pid);
		cJSON_AddItemToArray(done, e);
		server_signal(sr, sig, uid);
	}
	return 0;
}

int
runtime_deploy_approve(struct supervisor *sv, const char *id, int uid,
    pid_t pid, char *why, size_t size)
{
	struct deployment	*p = sv->preparing;
	struct dep_input	 in = { .why = why };

	while (p != NULL && id != NULL && strcmp(p->id, id) != 0)
		p = p->next;
	if (p == NULL || id == NULL || p->state != DEP_AWAITING_APPROVAL) {
		snprintf(why, size, "no deployment %s waits for approval",
		    id != NULL ? id : "");
		return -ENOENT;
	}
	/* a second person: another user than whoever started it (root
	 * approving what root started is the same person) */
	if (p->src.requester_uid >= 0 && uid == p->src.requester_uid) {
		snprintf(why, size, "%s was started by uid %d: it needs the "
		    "approval of another user", id, uid);
		dep_audit(p, "approval_refused", uid, pid, "the requester "
		    "itself");
		return -EPERM;
	}
	snprintf(why, size, "approved by uid %d (pid %d)", uid, (int)pid);
	dep_audit(p, "approved", uid, pid, NULL);
	dep_event(p, DE_APPROVED, &in);
	return 0;
}

/* The deployment a stop, a status or a follow without an id is about:
 * the newest being prepared, else the current one of the stack
 * installed last. */
static struct deployment *
active(const struct supervisor *sv)
{
	if (sv->preparing != NULL)
		return sv->preparing;
	return sv->stacks != NULL ? sv->stacks->dep : NULL;
}

/* The deployment of that id (NULL: the active one) that is being
 * prepared or is a stack's current one; NULL if none is. */
static struct deployment *
current_of(const struct supervisor *sv, const char *id)
{
	if (id == NULL)
		return active(sv);
	for (struct deployment *p = sv->preparing; p != NULL; p = p->next)
		if (strcmp(p->id, id) == 0)
			return p;
	for (const struct stack *st = sv->stacks; st != NULL; st = st->next)
		if (st->dep != NULL && strcmp(st->dep->id, id) == 0)
			return st->dep;
	return NULL;
}

bool
runtime_is_current(const struct supervisor *sv, const char *id)
{
	return current_of(sv, id) != NULL;
}

int
runtime_stop(struct supervisor *sv, const char *id, int uid, pid_t pid)
{
	struct deployment	*d = current_of(sv, id);

	if (d == NULL)
		return -ENOENT;
	if (!dep_running(d))
		return -EALREADY;
	dep_audit(d, "stop_requested", uid, pid, NULL);
	dep_stop(d, STOP_GRACEFUL);
	return 0;
}

cJSON *
runtime_record(const struct supervisor *sv, const char *id)
{
	const struct deployment	*d = current_of(sv, id);

	/* else the deployment an upgrade supersedes, until it is over */
	if (d == NULL && id != NULL)
		d = stack_deployment(sv, id);
	return d != NULL ? dep_record(d) : NULL;
}

cJSON *
runtime_stack_record(const struct supervisor *sv, const char *id)
{
	const struct deployment	*d = stack_deployment(sv, id);

	return d != NULL && d->stack != NULL && d->stack->dep != NULL ?
	    dep_record(d->stack->dep) : NULL;
}

cJSON *
runtime_records(const struct supervisor *sv)
{
	cJSON	*list = cJSON_CreateArray();

	for (const struct deployment *p = sv->preparing; list != NULL &&
	    p != NULL; p = p->next)
		cJSON_AddItemToArray(list, dep_record(p));
	for (const struct stack *st = sv->stacks; list != NULL && st != NULL;
	    st = st->next) {
		for (const struct deployment *d = st->dep; d != NULL;
		    d = d->prev)
			cJSON_AddItemToArray(list, dep_record(d));
		if (st->retired != NULL)
			cJSON_AddItemToArray(list, dep_record(st->retired));
	}
	return list;
}
