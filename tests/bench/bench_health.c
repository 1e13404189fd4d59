/*
 * The health engine's throughput beside wrk's: N http checks against a
 * local nginx at concurrency C, run by the engine a worker uses (libcurl's
 * multi-socket interface in one epoll loop), and wrk on the same URL with
 * C connections as the ceiling, and curl --parallel (libcurl's own loop,
 * the floor of what any libcurl-based checker pays) on the same N URLs.
 * Prints checks per second, p50/p99 latency,
 * CPU time per check, and this process's memory; medians over the runs.
 *
 * usage: bench_health [CHECKS [CONCURRENCY [RUNS]]]
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "health.h"
#include "loop.h"

struct bench {
	struct health	*h;
	size_t		 total;
	size_t		 started;
	size_t		 done;
	size_t		 failed;
	double		*start_us;
	double		*lat_ms;
	char		 first_failure[256];
};

struct figures {
	double	rate;		/* per second */
	double	p50_ms;
	double	p99_ms;
	double	cpu_us;		/* per check or request */
};

static double
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double
cpu_us(int who)
{
	struct rusage	ru;

	getrusage(who, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
start_next(struct bench *b)
{
	size_t	i = b->started++;

	b->start_us[i] = now_us();
	health_run(b->h, i, HEALTH_ONCE);
}

static void
on_done(void *arg, size_t i, const struct health_result *r)
{
	struct bench	*b = arg;

	b->lat_ms[b->done++] = (now_us() - b->start_us[i]) / 1000.0;
	if (!r->healthy && b->failed++ == 0)
		snprintf(b->first_failure, sizeof(b->first_failure), "%s",
		    r->message);
	if (b->started < b->total)
		start_next(b);
}

static int
free_port(void)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t		len = sizeof(sin);
	int			fd = socket(AF_INET, SOCK_STREAM, 0), port;

	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		exit(1);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static pid_t
spawn(char *const argv[], const char *out_path)
{
	pid_t	pid = fork();

	if (pid == 0) {
		int	fd = open(out_path != NULL ? out_path : "/dev/null",
			    O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static pid_t
start_nginx(const char *dir, int port)
{
	char	conf[512], prefix[512];
	FILE	*fp;
	pid_t	 pid;

	snprintf(prefix, sizeof(prefix), "%s/nginx", dir);
	mkdir(prefix, 0755);
	snprintf(conf, sizeof(conf), "%s/nginx.conf", dir);
	if ((fp = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(fp, "daemon off;\npid %s/pid;\nerror_log %s/error.log;\n"
	    "events { worker_connections 1024; }\n"
	    "http { access_log off; keepalive_requests 1000000;\n"
	    "  client_body_temp_path %s/b; proxy_temp_path %s/p;\n"
	    "  fastcgi_temp_path %s/f; uwsgi_temp_path %s/u;\n"
	    "  scgi_temp_path %s/s;\n"
	    "  server { listen 127.0.0.1:%d;\n"
	    "    location = /health { return 200 \"healthy\\n\"; } } }\n",
	    prefix, prefix, prefix, prefix, prefix, prefix, prefix, port);
	fclose(fp);
	{
		char	*argv[] = { "nginx", "-c", conf, "-p", prefix, NULL };

		pid = spawn(argv, NULL);
	}
	for (int i = 0; i < 200; i++) {
		struct sockaddr_in sin = { .sin_family = AF_INET,
		    .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
		    .sin_port = htons((uint16_t)port) };
		int	fd = socket(AF_INET, SOCK_STREAM, 0);
		int	ok = connect(fd, (struct sockaddr *)&sin,
			    sizeof(sin)) == 0;

		close(fd);
		if (ok)
			return pid;
		usleep(25000);
	}
	return -1;
}

/* One run of the engine: total checks, concurrency at a time. */
static int
run_engine(const char *url, size_t total, size_t concurrency,
    struct figures *f, long *rss_kib, long *pss_kib)
{
	struct bench	 b = { .total = total };
	struct errbuf	 err = { "" };
	struct loop	 loop;
	double		 t0, c0;
	char		 text[512];

	if (loop_init(&loop) < 0 ||
	    (b.h = health_new(&loop, on_done, &b)) == NULL)
		return -1;
	b.start_us = calloc(total, sizeof(double));
	b.lat_ms = calloc(total, sizeof(double));
	for (size_t i = 0; i < total; i++) {
		cJSON	*j;

		snprintf(text, sizeof(text), "{\"name\":\"c%zu\",\"type\":"
		    "\"http\",\"retry_attempts\":0,\"timeout_seconds\":10,"
		    "\"config\":{\"url\":\"%s\",\"expected_status\":[200],"
		    "\"expected_body\":\"healthy\"}}", i, url);
		j = cJSON_Parse(text);
		if (health_add(b.h, j, &err) < 0) {
			fprintf(stderr, "bench_health: %s\n", err.msg);
			return -1;
		}
		cJSON_Delete(j);
	}
	t0 = now_us();
	c0 = cpu_us(RUSAGE_SELF);
	while (b.started < concurrency && b.started < total)
		start_next(&b);
	while (b.done < total) {
		size_t	before = b.done;
		double	waited = now_us();

		if (loop_once(&loop, 10000) < 0 || (b.done == before &&
		    now_us() - waited >= 10e6)) {
			fprintf(stderr, "bench_health: stalled at %zu\n",
			    b.done);
			return -1;
		}
	}
	f->rate = (double)total / ((now_us() - t0) / 1e6);
	f->cpu_us = (cpu_us(RUSAGE_SELF) - c0) / (double)total;
	qsort(b.lat_ms, total, sizeof(double), cmp_double);
	f->p50_ms = b.lat_ms[total / 2];
	f->p99_ms = b.lat_ms[total * 99 / 100];
	if (b.failed > 0)
		fprintf(stderr, "bench_health: %zu checks failed: %s\n",
		    b.failed, b.first_failure);
	{
		FILE	*fp = fopen("/proc/self/smaps_rollup", "r");
		char	 line[256];

		while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
			sscanf(line, "Rss: %ld kB", rss_kib);
			sscanf(line, "Pss: %ld kB", pss_kib);
		}
		if (fp != NULL)
			fclose(fp);
	}
	health_free(b.h);
	loop_free(&loop);
	free(b.start_us);
	free(b.lat_ms);
	return b.failed > 0 ? -1 : 0;
}

static double
wrk_ms(const char *s)
{
	double	v = atof(s);

	if (strstr(s, "us") != NULL)
		return v / 1000;
	if (strstr(s, "ms") != NULL)
		return v;
	return v * 1000;	/* "s" */
}

/* wrk with concurrency connections on one thread for seconds. */
static int
run_wrk(const char *url, size_t concurrency, int seconds, const char *out,
    struct figures *f)
{
	char	c[24], d[24], line[256];
	char	*argv[] = { "wrk", "-t1", "-c", c, "-d", d, "--latency",
		    (char *)(uintptr_t)url, NULL };
	double	c0 = cpu_us(RUSAGE_CHILDREN);
	long	requests = 0;
	int	status;
	FILE	*fp;
	pid_t	pid;

	snprintf(c, sizeof(c), "%zu", concurrency);
	snprintf(d, sizeof(d), "%ds", seconds);
	if ((pid = spawn(argv, out)) == -1 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	if ((fp = fopen(out, "r")) == NULL)
		return -1;
	memset(f, 0, sizeof(*f));
	while (fgets(line, sizeof(line), fp) != NULL) {
		char	v[64];

		if (sscanf(line, " 50%% %63s", v) == 1)
			f->p50_ms = wrk_ms(v);
		else if (sscanf(line, " 99%% %63s", v) == 1)
			f->p99_ms = wrk_ms(v);
		else if (sscanf(line, "Requests/sec: %lf", &f->rate) == 1)
			;
		else
			sscanf(line, " %ld requests in", &requests);
	}
	fclose(fp);
	if (requests > 0)
		f->cpu_us = (cpu_us(RUSAGE_CHILDREN) - c0) / (double)requests;
	return f->rate > 0 ? 0 : -1;
}

/* curl --parallel over total URLs, concurrency at a time: rate and CPU. */
static int
run_curl(const char *url, size_t total, size_t concurrency, const char *dir,
    struct figures *f)
{
	char	cfg[600], par[24];
	char	*argv[] = { "curl", "-s", "--parallel", "--parallel-max", par,
		    "-K", cfg, NULL };
	double	c0 = cpu_us(RUSAGE_CHILDREN), t0;
	FILE	*fp;
	int	status;
	pid_t	pid;

	snprintf(cfg, sizeof(cfg), "%s/curl.cfg", dir);
	snprintf(par, sizeof(par), "%zu", concurrency);
	if ((fp = fopen(cfg, "w")) == NULL)
		return -1;
	for (size_t i = 0; i < total; i++)
		fprintf(fp, "url = %s\noutput = /dev/null\n", url);
	fclose(fp);
	t0 = now_us();
	if ((pid = spawn(argv, NULL)) == -1 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	memset(f, 0, sizeof(*f));
	f->rate = (double)total / ((now_us() - t0) / 1e6);
	f->cpu_us = (cpu_us(RUSAGE_CHILDREN) - c0) / (double)total;
	return 0;
}

int
main(int argc, char **argv)
{
	size_t		 total = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	size_t		 conc = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;
	int		 runs = argc > 3 ? atoi(argv[3]) : 5;
	char		 dir[] = "/tmp/bench-health.XXXXXX", url[128], out[600];
	double		 er[32], ep50[32], ep99[32], ecpu[32];
	double		 wr[32], wp50[32], wp99[32], wcpu[32];
	double		 cr[32], ccpu[32];
	long		 rss = 0, pss = 0;
	int		 port, status = 0;
	pid_t		 nginx;

	if (runs < 1 || runs > 32 || total == 0 || conc == 0 ||
	    mkdtemp(dir) == NULL)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	port = free_port();
	if ((nginx = start_nginx(dir, port)) <= 0) {
		fprintf(stderr, "bench_health: nginx did not start (bash "
		    "deploy/install-deps.sh)\n");
		return 1;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", port);
	snprintf(out, sizeof(out), "%s/wrk.out", dir);
	for (int r = 0; r < runs; r++) {
		struct figures	e, w, c;

		if (run_engine(url, total, conc, &e, &rss, &pss) < 0 ||
		    run_wrk(url, conc, 2, out, &w) < 0 ||
		    run_curl(url, total, conc, dir, &c) < 0) {
			fprintf(stderr, "bench_health: run %d failed\n", r);
			status = 1;
			break;
		}
		er[r] = e.rate; ep50[r] = e.p50_ms; ep99[r] = e.p99_ms;
		ecpu[r] = e.cpu_us;
		wr[r] = w.rate; wp50[r] = w.p50_ms; wp99[r] = w.p99_ms;
		wcpu[r] = w.cpu_us;
		cr[r] = c.rate;
		ccpu[r] = c.cpu_us;
	}
	if (status == 0) {
		double	rate = median(er, (size_t)runs);
		double	wrate = median(wr, (size_t)runs);
		double	cpu = median(ecpu, (size_t)runs);
		double	wc = median(wcpu, (size_t)runs);

		printf("%zu http checks against nginx on loopback, concurrency "
		    "%zu; medians of %d runs\n", total, conc, runs);
		printf("  %-22s %10s %9s %9s %12s\n", "", "per second",
		    "p50 ms", "p99 ms", "CPU us/each");
		printf("  %-22s %10.0f %9.2f %9.2f %12.1f\n",
		    "mcpvisor health checks", rate,
		    median(ep50, (size_t)runs), median(ep99, (size_t)runs),
		    cpu);
		printf("  %-22s %10.0f %9.2f %9.2f %12.1f\n", "wrk (ceiling)",
		    wrate, median(wp50, (size_t)runs),
		    median(wp99, (size_t)runs), wc);
		printf("  %-22s %10.0f %9s %9s %12.1f\n", "curl --parallel",
		    median(cr, (size_t)runs), "-", "-",
		    median(ccpu, (size_t)runs));
		printf("  rate ratio mcpvisor/wrk: %.2f (target >= 0.25); "
		    "curl/wrk: %.2f; mcpvisor/curl: %.2f\n", rate / wrate,
		    median(cr, (size_t)runs) / wrate,
		    rate / median(cr, (size_t)runs));
		printf("  overhead per check beyond wrk's per request: %.1f us "
		    "of CPU (target < 100 us)\n", cpu - wc);
		printf("  memory of the process running the checks: RSS %ld "
		    "KiB, PSS %ld KiB\n", rss, pss);
	}
	kill(nginx, SIGTERM);
	waitpid(nginx, NULL, 0);
	snprintf(out, sizeof(out), "rm -rf '%s'", dir);
	if (system(out) != 0)
		status = 1;
	return status;
}
