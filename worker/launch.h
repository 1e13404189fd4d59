/*
 * Starting the server: its pipes (the exec status, stdin and stdout as
 * the MCP channel of a stdio server, stderr to the log, the readiness
 * descriptor), then the shared spawn routine: its own process group, a
 * parent-death signal, nothing else inherited.
 */
#ifndef MCPVISOR_LAUNCH_H
#define MCPVISOR_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

struct launch_request {
	const char	*command;
	char *const	*argv;		/* argv[0] included, NULL-terminated */
	char *const	*envp;
	const char	*cwd;		/* NULL: "/" */
	bool		 stdio_channel;	/* stdin/stdout are the MCP channel */
	int		 readiness_fd;	/* -1: none */
	const int	*join_cgroups;	/* its cgroups' cgroup.procs */
	size_t		 njoin_cgroups;
	const void	*seccomp_filter;	/* a struct sock_fprog, or NULL */
};

struct launch_result {
	pid_t	pid;
	int	status_fd;	/* readable: EOF when exec worked */
	int	stdin_fd;	/* write end, or -1 */
	int	stdout_fd;	/* read end of the MCP channel, or -1 */
	int	log_fd;		/* read end: stderr (and stdout for http) */
	int	ready_fd;	/* read end of the readiness pipe, or -1 */
};

/* Forks and execs. Returns 0 and fills *res (the caller owns every fd,
 * each non-blocking), or a negative errno when the fork or a pipe
 * failed. */
int	launch_server(const struct launch_request *, struct launch_result *);

#endif
