/*
 * The mcpvisor command line: shared options and the verbs' entry points.
 */
#ifndef MCPVISOR_CLI_H
#define MCPVISOR_CLI_H

#include <stdbool.h>

#include "config.h"

/* Exit statuses, documented in mcpvisor(1). */
#define CLI_EXIT_OK		0
#define CLI_EXIT_FAILED		1	/* the operation ran and failed */
#define CLI_EXIT_USAGE		2	/* bad command line */
#define CLI_EXIT_CONFIG		100	/* invalid configuration */
#define CLI_EXIT_TEMPFAIL	111	/* system trouble; try again */

struct cJSON;
struct prepare_opts;

struct cli {
	struct project_paths	 paths;
	char			*checks_dir_owned;
	char			*deployments_dir_owned;
	char			 state_dir[4096];
	char			 config_dir[4096];	/* the default one */
	char			 registered_dir[4200];	/* of health checks */
	char			 backup_dir[4200];	/* snapshots */
	bool			 backup_dir_given;	/* --backup-dir */
	bool			 no_rollback;		/* deploy start */
	const char		*strategy;		/* deploy start */
	bool			 no_monitoring;		/* deploy start */
	unsigned		 monitor_port;		/* deploy start */
	bool			 verbose;
	bool			 json;
	bool			 color;		/* stdout is a terminal */
};

struct cli_verb {
	const char	*name;
	int		(*run)(struct cli *, int, char **);
	const char	*summary;
};

/* Runs the verb argv[0] of the table, or prints help; returns an exit
 * status. group names the table in messages ("config"). */
int	cli_dispatch(struct cli *, const char *group,
	    const struct cli_verb *, int argc, char **argv);
/* Parses the options common to every verb (--json, --help); returns the
 * index of the first operand, or -1 after printing usage (help: 0 is
 * stored in *status, errors: CLI_EXIT_USAGE). */
int	cli_parse_simple(struct cli *, int argc, char **argv,
	    const char *usage, int *status);
/* Whether id is prefix followed by lower-case letters, digits and '_'
 * (ids become file names: nothing else may pass). */
bool	cli_valid_id(const char *id, const char *prefix);
/* Says that id is not an id of prefix ("deploy_", "rollback_"), as
 * verb; returns CLI_EXIT_USAGE. */
int	cli_bad_id(const char *verb, const char *id, const char *prefix);
/* The record STATE-DIR/sub/ID.json (sub: "deployments" or "rollbacks"),
 * its shape checked: 0 and *out, or an exit status after saying (as
 * verb) that there is none or that it is damaged, and which field. */
int	cli_load_record(const char *verb, const char *state_dir,
	    const char *sub, const char *id, struct cJSON **out);
/* Why a deployment record from state_list_records() cannot be shown
 * (in buf), or NULL. */
const char	*cli_record_damage(const struct cJSON *, char *buf,
		    size_t size);
/* Whether name is a rollback strategy; says so (as verb) when not. */
bool	cli_valid_strategy(const char *verb, const char *name);
/* Prints o indented on stdout, a newline after; nothing for NULL. */
void	cli_print_json(const struct cJSON *o);
/* Prints diagnostics; with --json as one object on stdout. */
void	cli_print_diags(const struct cli *, const struct diag_list *);
/* An integer field of a record or event, 0 when it is none. */
long long	cli_record_int(const struct cJSON *, const char *key);
/* A record's string field, or "-" when it has none. */
const char	*cli_record_text(const struct cJSON *, const char *key);

/* cli_tail.c: following a deployment, and the request that starts it */
struct daemon_link;

struct cli_tail {
	const struct cli	*cli;
	size_t			 total;
	size_t			 ready;
	size_t			 batch;
	size_t			 batches;
	size_t			 batch_servers;	/* of the current batch */
	size_t			 batch_ready;
	bool			 bar;		/* a progress bar is drawn */
};

/* Connects (starting mcpvisord if start and none runs); says why not. */
int	cli_connect(struct cli *, struct daemon_link *, bool start);
/* The live record of deployment id from a running mcpvisord (its
 * servers' pids as of now; with usage, their CPU and memory measured for
 * the asking; of the servers named only, unless servers is NULL), or
 * NULL when none runs or it cannot say: the record on disk says the
 * rest. */
struct cJSON	*cli_live_record(struct cli *, const char *id, bool usage,
		    const struct cJSON *servers);
/* The requester's environment, for env() and secrets. */
void	cli_add_environ(struct cJSON *rq);
/* Reads the first response; prints an error and returns an exit status
 * when it says no, else 0 with *resp (the caller deletes it). Events that
 * come before it go to t. */
int	cli_expect_ok(struct daemon_link *, struct cli_tail *,
	    struct cJSON **resp);
/* The same, but a refusal whose code is quiet is not said: -1 and the
 * refusal in *resp. */
int	cli_expect_ok_unless(struct daemon_link *, struct cli_tail *,
	    struct cJSON **resp, const char *quiet);
void	cli_tail_event(struct cli_tail *, const struct cJSON *ev);
/* Prints events until the final response; returns the outcome's exit
 * status. */
int	cli_tail_follow(struct cli_tail *, struct daemon_link *);

int	cli_config(struct cli *, int, char **);
int	cli_deploy(struct cli *, int, char **);
/* The deploy request of po (the requester's environment in it), or NULL
 * with *status once a path that cannot be opened is said. */
struct cJSON	*cli_deploy_request(struct cli *, const struct prepare_opts *po,
		    bool force_recreate, int *status);
/* cli_apply.c: what the deployment of po would do to what runs, as
 * mcpvisord compares it (an apply): its answer, or NULL when none runs
 * (*status 0) or it refused (said; *status the exit status); and that
 * answer printed (NULL: no mcpvisord runs). */
struct cJSON	*cli_apply_diff(struct cli *, const struct prepare_opts *po,
		    bool force_recreate, int *status);
void	cli_print_diff(const struct cli *, const struct cJSON *diff);
int	cli_reload(struct cli *, int, char **);
int	cli_health(struct cli *, int, char **);
int	cli_rollback(struct cli *, int, char **);
int	cli_rollback_start(struct cli *, int, char **);
int	cli_history(struct cli *, int, char **);
/* cli_list.c: mcpvisor deploy list */
int	cli_deploy_list(struct cli *, int, char **);
int	cli_monitor(struct cli *, int, char **);
int	cli_gateway(struct cli *, int, char **);
/* Asks mcpvisord where its helper verb (monitor, gateway) listens,
 * moving or starting it when start (starting mcpvisord itself when none
 * runs). 0 and *port_out, bind_out (64 bytes), or an exit status, said. */
int	cli_helper_where(struct cli *, const char *verb, bool start,
	    long port, const char *bind_addr, long *port_out, char *bind_out);
/* The address to reach a helper bound to bind_addr: loopback when it
 * listens everywhere. */
const char *cli_reach(const char *bind_addr);
/* GET path of a helper (who, for messages) on addr:port, with token
 * ("" for none): 0 and the body (the caller frees), or an exit status,
 * said. */
int	cli_http_get(const char *who, const char *addr, long port,
	    const char *path, const char *token, char **body);
int	cli_probe(struct cli *, int, char **);
int	cli_security(struct cli *, int, char **);
int	cli_status(struct cli *, int, char **);
int	cli_logs(struct cli *, int, char **);
int	cli_kill(struct cli *, int, char **);
int	cli_stop(struct cli *, int, char **);
int	cli_start(struct cli *, int, char **);
int	cli_restart(struct cli *, int, char **);
int	cli_shutdown(struct cli *, int, char **);

/* One server rendered for one environment (NULL: development, or the
 * only one), secrets as placeholders. 0, or an exit status with why in
 * dl; free with cli_rendered_free either way. (cli_config.c) */
struct cli_rendered {
	struct project			*p;
	struct rendered_env		*re;
	struct resolved_server		*rs;
	const struct server_config	*srv;
	const struct env_config		*env;
};
int	cli_render_one(struct cli *, const char *server, const char *environment,
	    struct cli_rendered *, struct diag_list *);
void	cli_rendered_free(struct cli_rendered *);

/* A server's protections and its exposure score (cli_security.c). */
struct exposure_item {
	const char	*name;
	bool		 on;
	double		 exposure;	/* what its absence adds */
	char		 detail[160];
};
struct exposure {
	struct exposure_item	items[8];
	size_t			n;
	double			score;		/* 0 to 10 */
};
struct resolved_server;
struct env_config;
void		 cli_exposure(const struct resolved_server *,
		    const struct env_config *, struct exposure *);
const char	*cli_exposure_level(double score);

#endif
