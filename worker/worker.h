/*
 * mcpvisor-worker's state, shared by its files: main.c (the loop, the
 * frames from mcpvisord, signals), setup.c (the configuration and what
 * is prepared before the sandbox closes), server.c (the server process:
 * start, readiness and health checks, exit, restart, stop), task.c (a
 * worker that runs one hook or rollback action instead) and report.c
 * (frames to mcpvisord), each using only those after it. A worker keeps
 * no timer of its own for its server's usage: the root measures every
 * server at once when someone asks (supervisor/sampler.c).
 */
#ifndef MCPVISOR_WORKER_H
#define MCPVISOR_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "launch.h"
#include "logfile.h"
#include "loop.h"
#include "procstat.h"
#include "sandbox.h"
#include "secrets.h"

struct cJSON;
struct errbuf;
struct health;
struct health_result;
struct mcpmux;
struct peer;
struct runspec;

#define WORKER_CHANNEL_FD	3
#define EXIT_CONFIG		100
#define EXIT_TEMPFAIL		111
#define DEATHS_MAX		64

enum server_state {
	S_WAIT_CONFIG,
	S_SPAWNING,	/* forked; exec not yet confirmed */
	S_STARTED,	/* running, readiness pending */
	S_READY,
	S_BACKOFF,	/* dead, restart timer armed */
	S_STOPPING,
	S_DONE,
};

struct worker {
	struct loop		 loop;
	struct watcher		 sigw;
	struct peer		*root;		/* the channel to mcpvisord */
	bool			 root_gone;
	char			*name;
	char			*server_dir;
	char			*state_dir;	/* of the mcpvisord that runs us */
	struct runspec		*run;
	char			**envp;		/* the server's */
	struct sandbox_spec	 sandbox;
	/* the server's cgroup leaf (has_cgroup: made), and the OOM kills
	 * counted there before the server's current run */
	struct cgroup_leaf	 cgroup;
	bool			 has_cgroup;
	unsigned		 oom_kills;
	enum server_state	 state;
	bool			 ever_ready;
	bool			 stop_requested;
	bool			 stop_signalled;	/* past stdin EOF */
	bool			 stop_now;	/* no stdin grace */
	bool			 unhealthy_restart;
	bool			 start_wait;	/* the timer: start_seconds */
	struct launch_result	 child;
	/* the server's pid as mcpvisord sees it, which is child.pid but
	 * for the init of a PID namespace: read from the host's /proc,
	 * held open from before the view mounted our own over it */
	pid_t			 child_host_pid;
	int			 host_proc;
	struct watcher		 status_w;	/* the exec status */
	struct watcher		 log_w;		/* stderr (and http stdout) */
	struct watcher		 stdout_w;	/* a stdio server's output */
	struct watcher		 ready_w;	/* the readiness descriptor */
	struct watcher		 notify_w;	/* NOTIFY_SOCKET */
	struct loop_timer	 timer;		/* stop steps, back-off */
	struct logfile		 log;
	/* the server's secrets, masked in its output and in our own
	 * messages (the root masks what we report) */
	struct secret_set	 secrets;
	struct secret_stream	 log_stream;
	unsigned		 backoff_ms;
	unsigned		 max_deaths;
	uint64_t		 started_ms;
	uint64_t		 deaths[DEATHS_MAX];
	unsigned		 ndeaths;
	int			 exit_status;
	unsigned long long	 mcp_bytes;	/* read from a stdio server */
	/* the gateway's channel (gateway.c) and the sessions on it */
	struct peer		*gw;
	struct mcpmux		*mux;
	char			 gw_state[16];	/* as last told */
	struct cJSON		*gw_config;	/* its "gateway", or NULL */
	/* health checks: NULL when there are none */
	struct health		*health;
	size_t			 checks_pending;/* of the readiness round */
	char			 check_failure[600];
	signed char		*verdicts;	/* per check: -1 unknown, 0, 1 */
	/* a task (task.c): its stdin, deadline and plugin function */
	bool			 task;
	int			 task_in;
	unsigned		 task_timeout_ms;
	char			*task_plugin;
	char			*task_function;
	/* the task's output, line by line, for the live tail: at most
	 * TASK_OUTPUT_LINES lines of TASK_LINE_MAX bytes */
	char			 task_line[1024];
	size_t			 task_line_len;
	bool			 task_line_cut;
	unsigned		 task_lines_sent;
	unsigned		 task_lines_dropped;
};

/* report.c: frames to mcpvisord (dropped once it is gone) */
void	worker_send(struct worker *, uint8_t type, const void *, uint32_t);
/* Sends o and deletes it. */
void	worker_send_json(struct worker *, uint8_t type, struct cJSON *o);
void	worker_send_u32(struct worker *, uint8_t type, uint32_t);
/* A failure in the worker's words: {"stage", "reason", "errno"}. */
void	worker_send_failed(struct worker *, const char *stage,
	    const char *reason, int err);

/* setup.c: parses the configuration (it is the caller's still), then
 * prepares what needs privileges before the sandbox takes them. 0, or a
 * negative errno with *stage and err saying what failed. */
int	setup_worker(struct worker *, const struct cJSON *config,
	    const char **stage, struct errbuf *err);
void	setup_free(struct worker *);
/* The sandbox's writable_paths made, owned by the identity it runs as
 * (a task's too). 0, or a negative errno with the reason in err. */
int	setup_writable_paths(struct worker *, const struct cJSON *config,
	    struct errbuf *err);

/* server.c */
void	server_init(struct worker *);
/* The server's pid as mcpvisord sees it (0: none running). */
pid_t	server_host_pid(struct worker *);
void	server_start(struct worker *);
void	server_stop(struct worker *);
/* Its readiness (process, notify or fd) says it is up: the checks, if
 * any, have the last word. */
void	server_up(struct worker *);
void	server_ready(struct worker *);
/* Kills the server for failing its checks; its restart (or not) then
 * follows its policy. */
void	server_restart_unhealthy(struct worker *);
/* SIGCHLD: a child exited. */
void	server_reaped(struct worker *, pid_t, int status);
/* Kills and reaps whatever the server left behind (we are a
 * subreaper), so that nothing outlives the worker. */
void	server_sweep(void);

/* server.c: its health checks */
int	checks_setup(struct worker *, const struct cJSON *list,
	    struct errbuf *err);
/* Runs every check once, as the readiness round. */
void	checks_readiness(struct worker *);
/* The server went (or is going) away: no check runs on. */
void	checks_stop(struct worker *, const char *why);

/* gateway.c: the pair mcpvisord handed us (fd is ours); the server's
 * state changed; the end */
void	gateway_attach(struct worker *, int fd);
void	gateway_server_state(struct worker *);
void	gateway_free(struct worker *);

/* forkserver.c: mcpvisor-worker --fork-server, serving the root on
 * descriptor 3 until it closes; run is one worker's life. */
int	forkserver_run(char **argv, int (*run)(void));

/* task.c: whether the configuration is a task's; its setup (before the
 * sandbox), start (after it), end and stop */
bool	task_wanted(const struct cJSON *config);
/* setup.c: the secrets to mask in what we and what we run say */
int	worker_take_mask(struct worker *, const struct cJSON *mask,
	    struct errbuf *);
int	task_setup(struct worker *, const struct cJSON *config,
	    struct errbuf *err);
void	task_start(struct worker *);
void	task_reaped(struct worker *, pid_t, int status);
void	task_stop(struct worker *);
void	task_free(struct worker *);

#endif
