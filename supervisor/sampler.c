/*
 * The servers' CPU and memory, measured by the root when someone wants
 * them: a scrape of /metrics or a status request (sampler_sample), or,
 * while a watcher says it has someone looking (the monitor with a
 * dashboard or `monitor show` client), every metrics_interval_seconds
 * of the current deployment. Nobody looking, nothing is measured: no
 * process of ours wakes for it. One pass serves every server, so 200
 * servers cost one wakeup a turn, not 200.
 *
 * A server's pid is the one its worker's "started" frame gave and the
 * root pinned and checked (workerproc.c); its tree is read from /proc.
 * The CPU share of a sample is measured from the previous sample of the
 * same process, or, for the first, from the process's start.
 */
#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "deployment.h"
#include "frame.h"
#include "prepare.h"
#include "procstat.h"
#include "server.h"
#include "stack.h"
#include "supervisor.h"
#include "util.h"
#include "workerproc.h"

static uint64_t
ticks_per_s(void)
{
	static long	hz;

	if (hz <= 0 && (hz = sysconf(_SC_CLK_TCK)) <= 0)
		hz = 100;
	return (uint64_t)hz;
}

/* Since boot (the clock /proc/PID/stat's start times count on), in ms. */
static uint64_t
boot_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
sample_server(struct supervisor *sv, struct server_run *sr, uint64_t now,
    unsigned max_age_ms)
{
	pid_t			 pid = sr->worker != NULL ?
				    worker_server_pid(sr->worker) : 0;
	struct proc_usage	 u, base = { 0 };
	uint64_t		 since, started, cg_cpu_ns, cg_memory;
	bool			 from_cgroup = false;
	char			 when[40];
	cJSON			*o, *m;

	if (pid <= 0 || (sr->state != SR_STARTING && sr->state != SR_READY) ||
	    (sr->usage_pid == pid && now - sr->usage_ms < max_age_ms) ||
	    proc_tree_usage(pid, &u) < 0)
		return;
	/* its cgroup counts every process of it, those that left its tree
	 * included, and its memory as the limit does */
	if (worker_cgroup(sr->worker)[0] != '\0' &&
	    cgroup_usage(worker_cgroup(sr->worker), &cg_cpu_ns, &cg_memory)) {
		u.cpu_ticks = cg_cpu_ns / (1000000000ull / ticks_per_s());
		u.rss_bytes = cg_memory;
		from_cgroup = true;
	}
	if (sr->usage_pid == pid) {
		base.cpu_ticks = sr->usage_ticks;
		since = sr->usage_ms;
	} else if (proc_started_ms(pid, &started) == 0 && started <= now)
		since = started;
	else
		since = now;
	if ((o = cJSON_CreateObject()) == NULL)
		return;
	/* a tenth of a percent is all a sample can tell */
	cJSON_AddNumberToObject(o, "cpu_percent", (double)(long long)(
	    proc_cpu_percent(&base, &u, now - since) * 10 + 0.5) / 10);
	cJSON_AddNumberToObject(o, "rss_bytes", (double)u.rss_bytes);
	cJSON_AddNumberToObject(o, "processes", u.processes);
	cJSON_AddStringToObject(o, "source", from_cgroup ? "cgroup" : "proc");
	cJSON_AddNumberToObject(o, "interval_ms", (double)(now - since));
	state_iso_now(when, sizeof(when));
	cJSON_AddStringToObject(o, "at", when);
	cJSON_Delete(sr->usage);
	sr->usage = o;
	sr->usage_pid = pid;
	sr->usage_ticks = u.cpu_ticks;
	sr->usage_ms = now;
	if (sv->on_watch == NULL || (m = cJSON_Duplicate(o, 1)) == NULL)
		return;
	cJSON_AddStringToObject(m, "deployment_id",
	    sr->owner->origin.deployment_id);
	cJSON_AddStringToObject(m, "server_name", sr->name);
	cJSON_AddNumberToObject(m, "server_pid", pid);
	sv->on_watch(sv, FRAME_METRICS, m);
	cJSON_Delete(m);
}

void
sampler_sample(struct supervisor *sv, const char *id, unsigned max_age_ms)
{
	uint64_t	now = boot_ms();

	/* each stack's current deployment, and those an upgrade supersedes
	 * while their servers still run */
	for (struct stack *st = sv->stacks; st != NULL; st = st->next)
		for (struct deployment *d = st->dep; d != NULL; d = d->prev)
			if (id == NULL || strcmp(id, d->id) == 0)
				for (size_t i = 0; i < d->ld.nservers; i++)
					sample_server(sv, &d->ld.servers[i],
					    now, max_age_ms);
}

/* The shortest interval of the stacks' current deployments; 0: no
 * samples as they come. */
static unsigned
interval_ms(const struct supervisor *sv)
{
	unsigned	ms = 0, each;

	for (const struct stack *st = sv->stacks; st != NULL; st = st->next) {
		if (st->dep == NULL || st->dep->ld.pd == NULL)
			continue;
		each = st->dep->ld.pd->spec->settings.metrics_interval_seconds *
		    1000;
		if (each > 0 && (ms == 0 || each < ms))
			ms = each;
	}
	return ms;
}

static void
on_sampler_timer(struct loop_timer *t)
{
	struct supervisor	*sv = container_of(t, struct supervisor,
				    sampler_timer);
	unsigned		 ms = interval_ms(sv);

	sampler_sample(sv, NULL, 0);
	if (sv->sampler_wanted > 0 && ms > 0)
		loop_timer_set(&sv->loop, &sv->sampler_timer, ms);
}

void
sampler_want(struct supervisor *sv, bool more)
{
	unsigned	ms;

	if (more)
		sv->sampler_wanted++;
	else if (sv->sampler_wanted > 0)
		sv->sampler_wanted--;
	sv->sampler_timer.fn = on_sampler_timer;
	if (sv->sampler_wanted == 0)
		loop_timer_cancel(&sv->loop, &sv->sampler_timer);
	else if (!loop_timer_pending(&sv->sampler_timer) &&
	    (ms = interval_ms(sv)) > 0) {
		/* whoever just came sees figures at once */
		sampler_sample(sv, NULL, 0);
		loop_timer_set(&sv->loop, &sv->sampler_timer, ms);
	}
}

void
sampler_deployment_changed(struct supervisor *sv)
{
	unsigned	ms = interval_ms(sv);

	/* a deployment that starts while someone watches: its interval
	 * from now on */
	if (sv->sampler_wanted > 0 && ms > 0 &&
	    !loop_timer_pending(&sv->sampler_timer)) {
		sv->sampler_timer.fn = on_sampler_timer;
		loop_timer_set(&sv->loop, &sv->sampler_timer, ms);
	}
}
