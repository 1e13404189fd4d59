/*
 * mcpvisord's runtime: one deployment at a time, executed batch by batch
 * through one worker process per server, then supervised; stopped in
 * reverse order. Every transition becomes an event (journal, deployment
 * log, subscribed clients) and the deployment's record is rewritten at
 * most once per loop turn.
 */
#ifndef MCPVISOR_RUNTIME_H
#define MCPVISOR_RUNTIME_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "frame.h"
#include "loop.h"
#include "state.h"

struct cJSON;
struct control;
struct deployment;
struct hook_run;
struct monproc;
struct worker_proc;

/* Exit statuses of mcpvisord (see mcpvisord(8)). */
#define SV_EXIT_OK		0	/* stopped in order */
#define SV_EXIT_FAILED		1	/* the deployment failed */
#define SV_EXIT_GRACE		3	/* stragglers had to be killed */
#define SV_EXIT_CONFIG		100
#define SV_EXIT_TEMPFAIL	111

struct deploy_request {
	const char		*spec_path;
	const char		*environment;	/* NULL: the spec's */
	const char		*config_dir;
	const char		*checks_dir;	/* NULL: beside config_dir */
	bool			 sequential;
	unsigned		 max_parallel;
	bool			 no_rollback;	/* over the spec's setting */
	const char		*strategy;	/* NULL: the spec's */
	bool			 no_monitoring;	/* over the spec's setting */
	unsigned		 monitor_port;	/* 0: the spec's */
	/* the requester's environment (NAME=VALUE), for env() and secrets;
	 * NULL: mcpvisord's own */
	struct cJSON		*environ;
};

/* mcpvisor rollback start */
struct rollback_request {
	const char		*deployment_id;	/* the current deployment */
	const struct cJSON	*servers;	/* names; NULL: all */
	const char		*strategy;	/* NULL: graceful */
	/* the requester's environment, to render the previous version's
	 * configuration again (secrets are never stored) */
	struct cJSON		*environ;
};

struct supervisor {
	struct loop		 loop;
	struct watcher		 sigw;
	char			 state_dir[PATH_MAX];
	char			 worker_path[PATH_MAX];
	struct journal		 journal;
	struct control		*control;
	struct deployment	*dep;		/* the current one, or NULL */
	/* a failed upgrade, rolled back, kept until the next one is */
	struct deployment	*retired;
	char			 backup_dir[PATH_MAX];	/* snapshots */
	struct worker_proc	*workers;	/* every live worker */
	struct hook_run		*hooks;		/* running deployment hooks */
	struct monproc		*monitor;	/* mcpvisor-monitor */
	bool			 init_mode;
	bool			 shutting_down;
	unsigned		 grace_ms;
	struct loop_timer	 grace_timer;
	bool			 grace_expired;
	bool			 done;
	int			 exit_status;
	uint64_t		 seq;		/* events */
	/* synthetic events still to emit, and at what rate */
	uint64_t		 synth_left;
	uint64_t		 synth_next;
	unsigned		 synth_rate;
	uint64_t		 synth_started_ms;
	struct loop_timer	 synth_timer;
	/* called with each event; the control module fans them out */
	void			(*on_event)(struct supervisor *,
				    const struct cJSON *);
	/* called with what only watchers (the monitor) hear: each record
	 * written (FRAME_RECORD) and each usage sample (FRAME_METRICS) */
	void			(*on_watch)(struct supervisor *, uint8_t type,
				    const struct cJSON *);
	/* called when a deployment reaches its end (success, failure or
	 * stop); the control module answers waiting clients */
	void			(*on_finished)(struct supervisor *,
				    const char *id, const char *outcome);
};

/* Sets up the loop, signals, state directory and journal. 0 or a negative
 * errno (logged). */
int	runtime_init(struct supervisor *, const char *state_dir,
	    const char *worker_path);
/* One loop turn, then the end-of-turn work (records, journal, freeing). */
int	runtime_turn(struct supervisor *, int timeout_ms);
void	runtime_free(struct supervisor *);

/* Prepares and starts a deployment. Returns 0 and its id in id, or a
 * negative errno with the reason in err (a config error: -EINVAL, with
 * every diagnostic joined; another deployment running: -EBUSY). */
int	runtime_deploy(struct supervisor *, const struct deploy_request *,
	    char *id, size_t idsize, char **err);
/* Rolls the current deployment back to the one it replaced (see
 * mcpvisor(1), rollback start). Returns 0 and the rollback's id in id, or
 * a negative errno with the reason in err. */
int	runtime_rollback_start(struct supervisor *,
	    const struct rollback_request *, char *id, size_t idsize,
	    char **err);
/* Approves rollback id, which a "manual" strategy planned. -ENOENT:
 * no such rollback waits; -EALREADY: it is not waiting. */
int	runtime_rollback_approve(struct supervisor *, const char *id);
/* Stops the deployment id (NULL: the current one) in reverse order.
 * -ENOENT when it is not the running one. */
int	runtime_stop(struct supervisor *, const char *id);
/* Stops everything and ends the loop when done (SIGTERM). */
void	runtime_shutdown(struct supervisor *);
/* Emits n synthetic events (event_type "synthetic"), rate per second (0:
 * all at once, a loop turn each thousand), to whoever follows or watches;
 * they are not journalled. Each carries its emission time (details:
 * "emitted_ns", CLOCK_REALTIME) and index, for measuring the event path.
 * -EBUSY while a previous batch is still going. */
int	runtime_synthetic_events(struct supervisor *, uint64_t n,
	    unsigned rate);
/* The current deployment's record (a new tree), or NULL. */
struct cJSON	*runtime_record(const struct supervisor *, const char *id);
/* The records of every deployment in memory: the current one, the one it
 * upgrades or replaced, a failed upgrade kept aside (a new array). */
struct cJSON	*runtime_records(const struct supervisor *);
/* Marks records of deployments a dead mcpvisord left running as
 * interrupted; starts again the last one that had succeeded. */
void	runtime_recover(struct supervisor *);

#endif
