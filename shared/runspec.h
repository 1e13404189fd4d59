/*
 * How a server is run, typed: what the rendered `run:` section says, with
 * the schema's defaults (config_schema.c's run_fields, the only place they are
 * written) for what it leaves out and relative paths resolved. mcpvisord
 * and `mcpvisor health run` make it from the rendered YAML; it crosses to
 * the worker inside FRAME_CONFIG as the "run" object, every scalar the
 * text the user wrote (an unquoted 1.10 stays "1.10", a 20-digit integer
 * keeps its digits), and the worker reads it back with the same code.
 */
#ifndef MCPVISOR_RUNSPEC_H
#define MCPVISOR_RUNSPEC_H

#include <stdbool.h>
#include <stddef.h>

struct cJSON;
struct errbuf;
struct ynode;

#define RUNSPEC_PORT_AUTO	"auto"
/* the port picked for a run.port: auto server, in its environment */
#define RUNSPEC_PORT_ENV	"PORT"

enum run_transport {
	RUN_STDIO,
	RUN_HTTP,
};

enum run_restart {
	RUN_RESTART_ALWAYS,
	RUN_RESTART_ON_FAILURE,
	RUN_RESTART_NEVER,
};

enum run_readiness {
	RUN_READY_PROCESS,
	RUN_READY_NOTIFY,
	RUN_READY_FD,
	RUN_READY_MCP,	/* the MCP handshake over stdio answered */
};

/* The ids of servers without run.user when mcpvisord is root
 * (systemd's DynamicUser range): a uid of its own for each, and one
 * group for all (the last id of the range, never a uid), through which
 * servers that share a writable path may all write it. */
#define RUNSPEC_DYNAMIC_ID_FIRST	61184u
#define RUNSPEC_DYNAMIC_ID_LAST		65519u
#define RUNSPEC_DYNAMIC_GID		RUNSPEC_DYNAMIC_ID_LAST

struct runspec {
	char			*command;	/* a path, or a name for PATH */
	char			**argv;		/* command first; NULL-ended */
	char			**env;		/* NAME=VALUE of run.environment */
	char			*cwd;
	enum run_transport	 transport;
	char			*url;		/* or NULL */
	unsigned		 port;		/* 0: none */
	/* run.port: auto: mcpvisord picks a free loopback port for each
	 * start (RUNSPEC_PORT_ENV), so that two versions can run at once;
	 * the worker only ever sees the port picked */
	bool			 port_auto;
	char			*user;		/* or NULL: mcpvisord's */
	char			*group;		/* or NULL */
	char			**groups;	/* supplementary; NULL-ended */
	int			 stop_signal;
	unsigned		 stop_timeout_ms;
	enum run_restart	 restart;
	unsigned		 restart_delay_ms;
	unsigned		 restart_delay_max_ms;
	unsigned		 max_deaths;
	unsigned		 death_window_ms;
	enum run_readiness	 readiness;
	int			 readiness_fd;	/* -1 unless readiness fd */
	unsigned		 start_ms;	/* up this long: started */
	unsigned long long	 log_max_bytes;
	unsigned		 log_keep;
	char			**files_to_backup;	/* NULL-ended */
};

/* From a rendered run section (secrets in clear: the result is memory
 * only). config_dir resolves a relative command or working directory
 * that holds a '/': it is taken from the directory above it, so that a
 * tree like deploy/ can move. Returns 0 and *out (free with
 * runspec_free), or -EINVAL with the reason in err, or -ENOMEM. */
int		 runspec_from_yaml(const struct ynode *run,
		    const char *config_dir, struct runspec **out,
		    struct errbuf *err);
/* A key of a rendered run section as the text written, or the schema's
 * default for it (NULL when it has none). */
const char	*runspec_yaml_str(const struct ynode *run, const char *key);
/* From the "run" object of a worker's configuration: keys as in the
 * run section, scalars as text (numbers accepted too). Same returns. */
int		 runspec_unpack(const struct cJSON *run, struct runspec **out,
		    struct errbuf *err);
/* The "run" object for FRAME_CONFIG (a new tree), or NULL on ENOMEM. */
struct cJSON	*runspec_pack(const struct runspec *);
/* Wipes what may hold secrets (argv, env), then frees. Accepts NULL. */
void		 runspec_free(struct runspec *);

/* The server's whole environment: run.environment, then PATH (ours,
 * unless it sets one), HOME (home, unless it sets one), our LANG, TZ and
 * LC_ALL, and extra (NULL-ended "NAME=value"s, or NULL). Nothing else
 * of ours leaks through. NULL-ended; NULL on ENOMEM; free with
 * runspec_free_envp(). */
char		**runspec_envp(const struct runspec *, const char *home,
		    const char *const *extra);
void		 runspec_free_envp(char **);

/* TERM, INT, HUP, QUIT, KILL, USR1 or USR2, any case, with or without
 * SIG: the signal number, or -1. */
int		 runspec_signal(const char *name);
const char	*runspec_signal_name(int sig);

#endif
