/*
 * The control socket's built-in verbs, each checked against its shape
 * (its keys, in the table at the end) before it runs; mcpvisor-protocol(7)
 * documents them.
 */
#include "control_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "apply.h"
#include "errbuf.h"
#include "log.h"
#include "revision.h"
#include "runspec.h"
#include "serverctl.h"
#include "state.h"
#include "supervisor.h"
#include "util.h"

#define STATUS_USAGE_AGE_MS	1000	/* a status's usage is this recent */

const char *
req_str(const cJSON *rq, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(rq, key));
}

/* A backup directory a request names: absolute, made private to us if
 * it is not there, and, as the state directory, ours or root's along
 * its whole path and writable by no one else, since root writes there.
 * 0, or a negative errno with err. */
static int
backup_dir_ready(const char *dir, struct errbuf *err)
{
	char	path[PATH_MAX];
	int	r;

	if (dir[0] != '/' || strlen(dir) >= sizeof(path)) {
		errbuf_set(err, "backup_dir '%.200s' is not an absolute path",
		    dir);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(path, 0700) == -1 && errno != EEXIST) {
				r = -errno;
				errbuf_set(err, "backup_dir %s: %s", path,
				    strerror(errno));
				return r;
			}
			*p = '/';
		}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		r = -errno;
		errbuf_set(err, "backup_dir %s: %s", dir, strerror(errno));
		return r;
	}
	return state_check_dir(dir, err);
}

/* A dry run's answer reaches the client that asked, if it is still
 * there. */
static void
on_previewed(void *arg, const char *id, cJSON *diff, const char *why,
    bool invalid)
{
	struct control	*ctl = arg;

	for (struct client *c = ctl->clients; c != NULL; c = c->next) {
		if (c->dead || strcmp(c->preview, id) != 0)
			continue;
		c->preview[0] = '\0';
		if (diff != NULL)
			client_ok(c, diff);
		else
			client_error(c, invalid ? "config" : "failed", why);
		return;
	}
	cJSON_Delete(diff);
}

/* deploy with dry_run: the load compared with what runs, nothing
 * started; answered once the child's load is in. */
static void
deploy_preview(struct client *c, const struct deploy_request *dr,
    const cJSON *rq)
{
	char	id[64], *err = NULL;
	int	r;

	if (cJSON_IsTrue(cJSON_GetObjectItem(rq, "follow"))) {
		client_error(c, "usage", "a dry run starts nothing to follow");
		return;
	}
	if ((r = apply_preview(c->ctl->sv, dr, on_previewed, c->ctl, id,
	    sizeof(id), &err)) < 0) {
		client_error(c, r == -EINVAL ? "config" : "failed", err != NULL ?
		    err : strerror(-r));
		free(err);
		return;
	}
	snprintf(c->preview, sizeof(c->preview), "%s", id);
}

typedef int deployment_start_fn(struct supervisor *,
    const struct deploy_request *, char *id, size_t idsize, char **err);

/* A deployment started for c, which hears once it is prepared, and
 * follows it if it asked to. */
static void
start_deployment(struct client *c, const cJSON *rq, deployment_start_fn *fn,
    const struct deploy_request *dr)
{
	char	id[64], *err = NULL;
	int	r;

	/* follow from the first event on */
	if (cJSON_IsTrue(cJSON_GetObjectItem(rq, "follow")))
		snprintf(c->follow, sizeof(c->follow), "*");
	/* answered once it is prepared (control_prepared): an invalid one
	 * is refused with every diagnostic, as it always was */
	snprintf(c->starting, sizeof(c->starting), "%s", "*");
	r = fn(c->ctl->sv, dr, id, sizeof(id), &err);
	if (r < 0) {
		c->follow[0] = c->starting[0] = '\0';
		client_error(c, r == -EINVAL ? "config" : r == -EBUSY ? "busy" :
		    r == -ESRCH ? "not_running" : r == -EDESTADDRREQ ?
		    "usage" : "failed", err != NULL ? err : strerror(-r));
		free(err);
		return;
	}
	/* it may be prepared already (a child that failed to start) */
	if (c->starting[0] != '\0')
		snprintf(c->starting, sizeof(c->starting), "%s", id);
	if (c->follow[0] != '\0')
		snprintf(c->follow, sizeof(c->follow), "%s", id);
}

static void
do_deploy(struct client *c, const cJSON *rq, void *arg)
{
	(void)arg;
	struct deploy_request	 dr = {
		.spec_path = req_str(rq, "spec"),
		.environment = req_str(rq, "environment"),
		.config_dir = req_str(rq, "config_dir"),
		.checks_dir = req_str(rq, "checks_dir"),
		.sequential = cJSON_IsTrue(cJSON_GetObjectItem(rq,
		    "sequential")),
		.no_rollback = cJSON_IsTrue(cJSON_GetObjectItem(rq,
		    "no_rollback")),
		.strategy = req_str(rq, "strategy"),
		.no_monitoring = cJSON_IsTrue(cJSON_GetObjectItem(rq,
		    "no_monitoring")),
		.environ = cJSON_GetObjectItem(rq, "environ"),
		.backup_dir = req_str(rq, "backup_dir"),
		.verbose = cJSON_IsTrue(cJSON_GetObjectItem(rq, "verbose")),
		.force_recreate = cJSON_IsTrue(cJSON_GetObjectItem(rq,
		    "force_recreate")),
		.requester_uid = c->uid,
		.requester_pid = c->pid,
	};
	const cJSON		*mp = cJSON_GetObjectItem(rq, "max_parallel");
	const cJSON		*port = cJSON_GetObjectItem(rq, "monitor_port");
	struct errbuf		 ebuf = { "" };
	int			 r;

	if (dr.spec_path == NULL || dr.config_dir == NULL ||
	    dr.spec_path[0] != '/' || dr.config_dir[0] != '/') {
		client_error(c, "usage", "deploy needs absolute 'spec' and "
		    "'config_dir'");
		return;
	}
	dr.max_parallel = (unsigned)json_int_within(mp, 1, UINT_MAX, 0);
	dr.monitor_port = (unsigned)json_int_within(port, 1, 65535, 0);
	if (cJSON_IsTrue(cJSON_GetObjectItem(rq, "dry_run"))) {
		deploy_preview(c, &dr, rq);
		return;
	}
	if (dr.backup_dir != NULL && (r = backup_dir_ready(dr.backup_dir,
	    &ebuf)) < 0) {
		client_error(c, "config", ebuf.msg);
		return;
	}
	start_deployment(c, rq, runtime_deploy, &dr);
}

/* reload: a stack's files read again, and applied */
static void
do_reload(struct client *c, const cJSON *rq, void *arg)
{
	const struct deploy_request	 who = {
		.stack = req_str(rq, "stack"),
		.environ = cJSON_GetObjectItem(rq, "environ"),
		.requester_uid = c->uid,
		.requester_pid = c->pid,
	};

	(void)arg;
	start_deployment(c, rq, runtime_reload, &who);
}

/* rollback_revision: a stack's kept revision deployed again, from its
 * own files */
static void
do_rollback_revision(struct client *c, const cJSON *rq, void *arg)
{
	const struct deploy_request	 who = {
		.stack = req_str(rq, "stack"),
		.to_revision = (unsigned)json_int_within(cJSON_GetObjectItem(rq,
		    "to_revision"), 1, UINT_MAX, 0),
		.environ = cJSON_GetObjectItem(rq, "environ"),
		.requester_uid = c->uid,
		.requester_pid = c->pid,
	};

	(void)arg;
	if (who.to_revision == 0) {
		client_error(c, "usage", "'to_revision' is a revision's number");
		return;
	}
	start_deployment(c, rq, runtime_deploy_revision, &who);
}

static void
do_status(struct client *c, const cJSON *rq, void *arg)
{
	struct supervisor	*sv = c->ctl->sv;
	const char		*id = req_str(rq, "id");
	const cJSON		*names = cJSON_GetObjectItem(rq, "servers"), *n;
	cJSON			*rec, *o;
	char			 why[256];

	(void)arg;
	cJSON_ArrayForEach(n, names)
		if (!cJSON_IsString(n)) {
			client_error(c, "usage", "'servers' is a list of names");
			return;
		}
	/* its servers' usage as of now (a second ago at most: a status
	 * asked in a loop measures once a second), when it is asked for */
	if (cJSON_IsTrue(cJSON_GetObjectItem(rq, "usage")))
		sampler_sample(sv, id, STATUS_USAGE_AGE_MS);
	if ((rec = runtime_record(sv, id)) == NULL) {
		client_error(c, "not_found", "no such active deployment");
		return;
	}
	/* the servers asked for only: what is not sent costs nothing */
	if (cJSON_GetArraySize(names) > 0 &&
	    state_record_only(rec, names, why, sizeof(why)) < 0) {
		cJSON_Delete(rec);
		client_error(c, "not_found", why);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "record", rec);
	client_ok(c, o);
}

static const char *
str_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static void
do_follow_or_stop(struct client *c, const cJSON *rq, bool stop)
{
	const char	*id = req_str(rq, "id");
	cJSON		*rec = runtime_record(c->ctl->sv, id), *o;
	int		 r;

	if (rec == NULL) {
		client_error(c, "not_found", "no such active deployment");
		return;
	}
	/* one answer to a stop that cannot be: the refusal */
	if (stop) {
		const char	*why = NULL;

		if (strcmp(str_or_empty(cJSON_GetStringValue(
		    cJSON_GetObjectItem(rec, "state"))), "done") == 0)
			why = "already stopped";
		else if (!runtime_is_current(c->ctl->sv, cJSON_GetStringValue(
		    cJSON_GetObjectItem(rec, "id"))))
			why = "not the active deployment of its stack (an "
			    "upgrade replaces it: stop that one)";
		if (why != NULL) {
			cJSON_Delete(rec);
			client_error(c, "not_running", why);
			return;
		}
	}
	o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "record", rec);
	snprintf(c->await, sizeof(c->await), "%s",
	    cJSON_GetStringValue(cJSON_GetObjectItem(rec, "id")));
	if (!stop)
		snprintf(c->follow, sizeof(c->follow), "%s", c->await);
	client_ok(c, o);
	if (stop && (r = runtime_stop(c->ctl->sv, c->await, c->uid,
	    c->pid)) < 0) {
		log_warnx("stop %s: %s", c->await, strerror(-r));
		c->await[0] = '\0';
	}
}

static void
do_watch(struct client *c)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "deployments",
	    runtime_records(c->ctl->sv));
	cJSON_AddStringToObject(o, "state_dir", c->ctl->sv->state_dir);
	client_ok(c, o);
	c->watch = true;
}

/* A watcher with someone looking (the monitor, while it has clients)
 * wants usage samples as they come; without, none are taken. */
static void
do_usage_watch(struct client *c, const cJSON *rq, void *arg)
{
	bool	on = cJSON_IsTrue(cJSON_GetObjectItem(rq, "on"));

	(void)arg;
	if (!c->watch) {
		client_error(c, "usage", "usage_watch is for a client that "
		    "watches (verb watch first)");
		return;
	}
	if (on != c->wants_usage) {
		c->wants_usage = on;
		sampler_want(c->ctl->sv, on);
	}
	client_ok(c, cJSON_CreateObject());
}

/* Every running server measured now (a /metrics scrape): the samples go
 * to watchers before this answer does. */
static void
do_usage_sample(struct client *c, const cJSON *rq, void *arg)
{
	(void)rq;
	(void)arg;
	sampler_sample(c->ctl->sv, NULL, 0);
	client_ok(c, cJSON_CreateObject());
}

static void
do_rollback_start(struct client *c, const cJSON *rq, void *arg)
{
	(void)arg;
	struct rollback_request	 rr = {
		.deployment_id = req_str(rq, "deployment_id"),
		.servers = cJSON_GetObjectItem(rq, "servers"),
		.strategy = req_str(rq, "strategy"),
		.environ = cJSON_GetObjectItem(rq, "environ"),
		.requester_uid = c->uid,
	};
	const cJSON		*n;
	char			 id[80], *err = NULL;
	cJSON			*o, *rec;
	const char		*follow;
	int			 r;

	if (rr.deployment_id == NULL) {
		client_error(c, "usage", "rollback_start needs a "
		    "'deployment_id'");
		return;
	}
	if (rr.servers != NULL && (!cJSON_IsArray(rr.servers) ||
	    cJSON_GetArraySize(rr.servers) == 0)) {
		client_error(c, "usage", "'servers' is a list of names");
		return;
	}
	cJSON_ArrayForEach(n, rr.servers)
		if (!cJSON_IsString(n)) {
			client_error(c, "usage", "'servers' is a list of names");
			return;
		}
	if (cJSON_IsTrue(cJSON_GetObjectItem(rq, "follow")))
		snprintf(c->follow, sizeof(c->follow), "*");
	if ((r = runtime_rollback_start(c->ctl->sv, &rr, id, sizeof(id),
	    &err)) < 0) {
		c->follow[0] = '\0';
		client_error(c, r == -EINVAL ? "config" : r == -EBUSY ? "busy" :
		    r == -ENOENT ? "not_found" : "failed", err != NULL ? err :
		    strerror(-r));
		free(err);
		return;
	}
	/* what carries the rollback out, to follow: its stack's current
	 * deployment (a new one for a rollback by hand, the failing one
	 * otherwise) */
	rec = runtime_stack_record(c->ctl->sv, rr.deployment_id);
	follow = cJSON_GetStringValue(cJSON_GetObjectItem(rec, "id"));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "rollback_id", id);
	if (follow != NULL)
		cJSON_AddStringToObject(o, "deployment_id", follow);
	client_ok(c, o);
	if (c->follow[0] != '\0' && follow != NULL) {
		snprintf(c->follow, sizeof(c->follow), "%s", follow);
		snprintf(c->await, sizeof(c->await), "%s", follow);
	} else
		c->follow[0] = '\0';
	cJSON_Delete(rec);
}

static void
do_rollback_approve(struct client *c, const cJSON *rq, void *arg)
{
	(void)arg;
	const char	*id = req_str(rq, "id");
	int		 r;

	if (id == NULL) {
		client_error(c, "usage", "rollback_approve needs an 'id'");
		return;
	}
	if ((r = runtime_rollback_approve(c->ctl->sv, id, c->uid)) < 0) {
		client_error(c, r == -ENOENT ? "not_found" : r == -EPERM ?
		    "permission" : "not_running", r == -ENOENT ?
		    "no such rollback waits for approval" : r == -EPERM ?
		    "its environment requires a second person: another user "
		    "than the one who started it must approve" :
		    "the rollback is not waiting for approval");
		return;
	}
	client_ok(c, cJSON_CreateObject());
}

/* The second person of a require_mfa environment: anyone but whoever
 * started the deployment. */
static void
do_deploy_approve(struct client *c, const cJSON *rq, void *arg)
{
	char	why[160];
	int	r;

	(void)arg;
	if ((r = runtime_deploy_approve(c->ctl->sv, req_str(rq, "id"), c->uid,
	    c->pid, why, sizeof(why))) < 0) {
		client_error(c, r == -ENOENT ? "not_found" : r == -EPERM ?
		    "permission" : "not_running", why);
		return;
	}
	client_ok(c, cJSON_CreateObject());
}

static void
do_record_metrics(struct client *c, const cJSON *rq, void *arg)
{
	char	why[200];
	int	r;

	(void)arg;
	if ((r = runtime_record_metrics(c->ctl->sv, req_str(rq, "server"),
	    cJSON_GetObjectItem(rq, "metrics"), why, sizeof(why))) < 0) {
		client_error(c, r == -ENOENT ? "not_found" : "usage", why);
		return;
	}
	client_ok(c, cJSON_CreateObject());
}

/* mcpvisor kill: a signal to servers of the current deployment. */
static void
do_kill(struct client *c, const cJSON *rq, void *arg)
{
	const char	*name = req_str(rq, "signal");
	int		 sig = name != NULL ? runspec_signal(name) : SIGTERM, r;
	cJSON		*o, *done;
	char		 why[256];

	(void)arg;
	if (sig == -1) {
		client_error(c, "usage", "signal: TERM, INT, HUP, QUIT, KILL, "
		    "USR1 or USR2");
		return;
	}
	o = cJSON_CreateObject();
	done = cJSON_AddArrayToObject(o, "signalled");
	if ((r = runtime_signal_servers(c->ctl->sv, cJSON_GetObjectItem(rq,
	    "servers"), sig, c->uid, done, why, sizeof(why))) < 0) {
		cJSON_Delete(o);
		client_error(c, r == -ENOENT ? "not_found" : r == -ESRCH ?
		    "not_running" : "usage", why);
		return;
	}
	cJSON_AddStringToObject(o, "signal", runspec_signal_name(sig));
	client_ok(c, o);
}

/* mcpvisor stop|start|restart SERVER...: answered with the plan at
 * once, and again when it is carried out (control_finished). */
static void
do_server_action(struct client *c, const cJSON *rq, void *arg)
{
	struct supervisor	*sv = c->ctl->sv;
	struct serverctl	*sc;
	cJSON			*o;
	char			 why[320];
	int			 r;

	(void)arg;
	if ((r = serverctl_plan(sv, req_str(rq, "action"),
	    cJSON_GetObjectItem(rq, "servers"), cJSON_IsTrue(
	    cJSON_GetObjectItem(rq, "with_dependents")), c->uid, &sc, why,
	    sizeof(why))) < 0) {
		client_error(c, r == -ENOENT ? "not_found" : r == -ESRCH ?
		    "not_running" : r == -EPERM ? "dependents" : r == -EBUSY ?
		    "busy" : r == -ENOMEM ? "failed" : "usage", r == -ENOMEM ?
		    strerror(ENOMEM) : why);
		return;
	}
	o = cJSON_CreateObject();
	serverctl_describe(sc, o);
	snprintf(c->await, sizeof(c->await), "%s", serverctl_id(sc));
	client_ok(c, o);
	serverctl_run(sv, sc);
}

static void
do_ping(struct client *c, const cJSON *rq, void *arg)
{
	cJSON	*o = cJSON_CreateObject();

	(void)rq;
	(void)arg;
	cJSON_AddNumberToObject(o, "pid", getpid());
	cJSON_AddStringToObject(o, "state_dir", c->ctl->sv->state_dir);
	client_ok(c, o);
}

/* Every deployment still active, for a status of them all. */
static void
do_records(struct client *c, const cJSON *rq, void *arg)
{
	cJSON	*o = cJSON_CreateObject();

	(void)rq;
	(void)arg;
	cJSON_AddItemToObject(o, "deployments", runtime_records(c->ctl->sv));
	client_ok(c, o);
}

/* Every deployment stopped in reverse order, then mcpvisord exits (as
 * SIGTERM does): the answer says so at once, and the client sees the
 * connection close when it has. */
static void
do_shutdown(struct client *c, const cJSON *rq, void *arg)
{
	cJSON	*o = cJSON_CreateObject();

	(void)rq;
	(void)arg;
	log_info("shutdown asked by uid %d pid %d", c->uid, (int)c->pid);
	cJSON_AddNumberToObject(o, "pid", getpid());
	client_ok(c, o);
	runtime_shutdown(c->ctl->sv);
}

static void
do_follow(struct client *c, const cJSON *rq, void *arg)
{
	(void)arg;
	do_follow_or_stop(c, rq, false);
}

static void
do_stop(struct client *c, const cJSON *rq, void *arg)
{
	(void)arg;
	do_follow_or_stop(c, rq, true);
}

static void
do_watch_verb(struct client *c, const cJSON *rq, void *arg)
{
	(void)rq;
	(void)arg;
	do_watch(c);
}

#define END_KEYS	{ NULL, RQ_STRING, false }
static const struct request_key no_keys[] = { END_KEYS };
static const struct request_key deploy_keys[] = {
	{ "spec", RQ_STRING, true }, { "config_dir", RQ_STRING, true },
	{ "checks_dir", RQ_STRING, false }, { "environment", RQ_STRING, false },
	{ "sequential", RQ_BOOL, false }, { "max_parallel", RQ_NUMBER, false },
	{ "no_rollback", RQ_BOOL, false }, { "strategy", RQ_STRING, false },
	{ "follow", RQ_BOOL, false }, { "environ", RQ_OBJECT, false },
	{ "no_monitoring", RQ_BOOL, false },
	{ "monitor_port", RQ_NUMBER, false },
	{ "backup_dir", RQ_STRING, false }, { "verbose", RQ_BOOL, false },
	{ "force_recreate", RQ_BOOL, false }, { "dry_run", RQ_BOOL, false },
	END_KEYS,
};
static const struct request_key reload_keys[] = {
	{ "follow", RQ_BOOL, false }, { "environ", RQ_OBJECT, false },
	{ "stack", RQ_STRING, false }, END_KEYS,
};
static const struct request_key optional_id_keys[] = {
	{ "id", RQ_STRING, false }, END_KEYS,
};
static const struct request_key id_keys[] = {
	{ "id", RQ_STRING, true }, END_KEYS,
};
static const struct request_key record_metrics_keys[] = {
	{ "server", RQ_STRING, true }, { "metrics", RQ_OBJECT, true },
	END_KEYS,
};
static const struct request_key status_keys[] = {
	{ "id", RQ_STRING, false }, { "usage", RQ_BOOL, false },
	{ "servers", RQ_ARRAY, false }, END_KEYS,
};
static const struct request_key kill_keys[] = {
	{ "servers", RQ_ARRAY, true }, { "signal", RQ_STRING, false },
	END_KEYS,
};
static const struct request_key server_action_keys[] = {
	{ "action", RQ_STRING, true }, { "servers", RQ_ARRAY, true },
	{ "with_dependents", RQ_BOOL, false }, END_KEYS,
};
static const struct request_key usage_watch_keys[] = {
	{ "on", RQ_BOOL, true }, END_KEYS,
};
static const struct request_key rollback_start_keys[] = {
	{ "deployment_id", RQ_STRING, true }, { "servers", RQ_ARRAY, false },
	{ "strategy", RQ_STRING, false }, { "follow", RQ_BOOL, false },
	{ "environ", RQ_OBJECT, false }, END_KEYS,
};
static const struct request_key rollback_revision_keys[] = {
	{ "stack", RQ_STRING, true }, { "to_revision", RQ_NUMBER, true },
	{ "follow", RQ_BOOL, false }, { "environ", RQ_OBJECT, false },
	END_KEYS,
};

const struct control_verb control_builtin[] = {
	{ "ping", do_ping, NULL, no_keys },
	{ "records", do_records, NULL, no_keys },
	{ "shutdown", do_shutdown, NULL, no_keys },
	{ "kill", do_kill, NULL, kill_keys },
	{ "server", do_server_action, NULL, server_action_keys },
	{ "deploy", do_deploy, NULL, deploy_keys },
	{ "reload", do_reload, NULL, reload_keys },
	{ "status", do_status, NULL, status_keys },
	{ "follow", do_follow, NULL, optional_id_keys },
	{ "stop", do_stop, NULL, id_keys },
	{ "rollback_approve", do_rollback_approve, NULL, id_keys },
	{ "deploy_approve", do_deploy_approve, NULL, id_keys },
	{ "record_metrics", do_record_metrics, NULL, record_metrics_keys },
	{ "rollback_start", do_rollback_start, NULL, rollback_start_keys },
	{ "rollback_revision", do_rollback_revision, NULL,
	    rollback_revision_keys },
	{ "watch", do_watch_verb, NULL, no_keys },
	{ "usage_watch", do_usage_watch, NULL, usage_watch_keys },
	{ "usage_sample", do_usage_sample, NULL, no_keys },
};
const size_t	control_nbuiltin = sizeof(control_builtin) /
		    sizeof(control_builtin[0]);
