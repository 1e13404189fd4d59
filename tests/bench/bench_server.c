/*
 * The supervised program of the supervisor benchmark: it appends "ID PID
 * MONOTONIC_NS" to a log the moment it runs, then waits. With --stdio it
 * behaves as an MCP stdio server does and ends at EOF on its stdin; with
 * --notify=FD it reports readiness s6-style, a newline on FD.
 * usage: bench_server ID LOG [--stdio | --notify=FD]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct timespec	ts;
	char		line[128], c;
	int		fd, n;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (argc < 3)
		return 100;
	n = snprintf(line, sizeof(line), "%s %d %lld\n", argv[1], (int)getpid(),
	    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	/* one log for every server, whichever users a peer runs them as */
	umask(0);
	if ((fd = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0666)) == -1 ||
	    write(fd, line, (size_t)n) != n)
		return 111;
	close(fd);
	if (argc > 3 && strncmp(argv[3], "--notify=", 9) == 0) {
		fd = atoi(argv[3] + 9);
		if (write(fd, "\n", 1) != 1)
			return 111;
		close(fd);
	}
	if (argc > 3 && strcmp(argv[3], "--stdio") == 0) {
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	for (;;)
		pause();
}
