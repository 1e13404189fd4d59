/*
 * Starting the server: fork, then in the child a clean process (its own
 * process group, default signal dispositions and an empty mask, only the
 * descriptors it is meant to have) and execve. An exec failure comes
 * back through a close-on-exec pipe, so the parent learns "exec worked"
 * from EOF and "it failed, errno N" from four bytes.
 */
#ifndef MCPVISOR_SPAWN_H
#define MCPVISOR_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct spawn_request {
	const char	*command;
	char *const	*argv;		/* argv[0] included, NULL-terminated */
	char *const	*envp;
	const char	*cwd;		/* NULL: "/" */
	bool		 stdio_channel;	/* stdin/stdout are the MCP channel */
	int		 readiness_fd;	/* -1: none */
};

struct spawn_result {
	pid_t	pid;
	int	status_fd;	/* readable: EOF when exec worked */
	int	stdin_fd;	/* write end, or -1 */
	int	stdout_fd;	/* read end of the MCP channel, or -1 */
	int	log_fd;		/* read end: stderr (and stdout for http) */
	int	ready_fd;	/* read end of the readiness pipe, or -1 */
};

/* Forks and execs. Returns 0 and fills *res (the caller owns every fd),
 * or a negative errno when the fork or a pipe failed. */
int	spawn_server(const struct spawn_request *, struct spawn_result *);

/* Reads the exec status pipe after it became readable. Returns 0 when
 * exec worked, the child's errno (> 0) when it failed, or -EAGAIN. */
int	spawn_exec_status(int status_fd);

#endif
