/*
 * Planner and renderer benchmark: 10,000 servers with 50,000 dependency
 * edges, written as real files (one spec, one environment, one file per
 * server), then timed through each stage of preparing a deployment.
 * The peer is tsort(1), ordering the same edges; it only sorts (no
 * levels, priorities or batches), so it is a floor, not an equal.
 * Prints medians of several runs. Not a test: nothing is asserted.
 *
 * usage: bench_plan [servers [edges [runs]]]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "plan.h"
#include "prepare.h"

static double
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
by_value(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), by_value);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t	rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
write_file(const char *path, const char *text)
{
	FILE	*fp = fopen(path, "w");

	if (fp == NULL || fputs(text, fp) == EOF || fclose(fp) != 0) {
		perror(path);
		exit(1);
	}
}

/* Writes the project; returns the number of edges written. */
static size_t
make_project(const char *dir, size_t n, size_t edges)
{
	char	 path[4096], text[2048];
	FILE	*spec, *tsort;
	size_t	 written = 0;

	snprintf(path, sizeof(path), "%s/config", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/config/environments", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/config/servers", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/config/environments/bench.yaml", dir);
	write_file(path, "variables:\n  region: \"{{ env('REGION') or 'eu' }}\"\n"
	    "  base_port: 20000\n");
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/config/servers/s%zu.yaml", dir,
		    i);
		snprintf(text, sizeof(text),
		    "name: s%zu\nserver_type: bench\n"
		    "base_config:\n  port: %zu\n  timeout_seconds: 30\n"
		    "environment_overrides:\n  bench:\n    timeout_seconds: 15\n"
		    "templates:\n"
		    "  url: \"http://127.0.0.1:{{ config.port }}/mcp\"\n"
		    "  label: \"{{ server.name }}-{{ env.region }}\"\n"
		    "validation_rules:\n  - \"required:url\"\n"
		    "  - \"format:timeout_seconds:^[0-9]+$\"\n"
		    "run:\n  command: /bin/sleep\n"
		    "  args: [\"{{ config.timeout_seconds }}\"]\n",
		    i, 20000 + i % 40000);
		write_file(path, text);
	}
	snprintf(path, sizeof(path), "%s/spec.yaml", dir);
	spec = fopen(path, "w");
	snprintf(path, sizeof(path), "%s/edges.txt", dir);
	tsort = fopen(path, "w");
	if (spec == NULL || tsort == NULL)
		exit(1);
	fprintf(spec, "metadata: {name: bench, environment: bench}\nservers:\n");
	for (size_t i = 0; i < n; i++) {
		/* spread the edges evenly; each depends on earlier servers */
		size_t	want = i == 0 ? 0 : edges * (i + 1) / n - edges * i / n;

		fprintf(spec, "  - name: s%zu\n    priority: %d\n"
		    "    parallel_safe: %s\n    dependencies: [", i,
		    (int)(next_random() % 100),
		    next_random() % 10 ? "true" : "false");
		for (size_t k = 0; k < want; k++) {
			size_t	dep = (size_t)(next_random() % i);

			fprintf(spec, "%ss%zu", k ? ", " : "", dep);
			fprintf(tsort, "s%zu s%zu\n", dep, i);
			written++;
		}
		fprintf(spec, "]\n");
		fprintf(tsort, "s%zu s%zu\n", i, i);
	}
	fclose(spec);
	fclose(tsort);
	return written;
}

static double
time_tsort(const char *dir)
{
	char	path[4096];
	double	t0 = now_ms();
	pid_t	pid;
	int	status;

	snprintf(path, sizeof(path), "%s/edges.txt", dir);
	fflush(stdout);	/* else the child flushes our buffer too */
	if ((pid = fork()) == 0) {
		if (freopen("/dev/null", "w", stdout) == NULL)
			_exit(127);
		execlp("tsort", "tsort", path, (char *)NULL);
		_exit(127);
	}
	if (pid == -1 || waitpid(pid, &status, 0) == -1 ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	return now_ms() - t0;
}

int
main(int argc, char **argv)
{
	size_t			 n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t			 edges = argc > 2 ? strtoul(argv[2], NULL, 10) :
				    5 * n;
	int			 runs = argc > 3 ? atoi(argv[3]) : 5;
	char			 dir[] = "/tmp/mcpvisor-bench.XXXXXX";
	char			 path[4096], config[4096];
	double			 load[32], plan[32], prep[32], peer[32];
	struct project_paths	 paths = { .config_dir = config };
	size_t			 nedges;

	if (runs < 1 || runs > 32 || n < 2 || mkdtemp(dir) == NULL)
		return 2;
	nedges = make_project(dir, n, edges);
	snprintf(path, sizeof(path), "%s/spec.yaml", dir);
	snprintf(config, sizeof(config), "%s/config", dir);
	for (int r = 0; r < runs; r++) {
		struct diag_list	 dl = { 0 };
		struct deploy_spec	*spec = NULL;
		struct plan		*pl = NULL;
		struct plan_opts	 po = { 0 };
		struct prepare_opts	 pro = { .paths = &paths,
					    .spec_path = path };
		struct prepared		*pd = NULL;
		double			 t0 = now_ms();

		if (spec_load(path, &spec, &dl) < 0)
			goto broken;
		load[r] = now_ms() - t0;
		t0 = now_ms();
		if (plan_build(spec->servers, spec->nservers, &po, &pl, &dl) < 0)
			goto broken;
		plan[r] = now_ms() - t0;
		plan_free(pl);
		spec_free(spec);
		t0 = now_ms();
		if (prepare_deployment(&pro, &pd, &dl) < 0)
			goto broken;
		prep[r] = now_ms() - t0;
		if (r == 0)
			printf("plan: %zu servers, %zu edges, %zu batches\n", n,
			    nedges, pd->plan->nbatches);
		prepared_free(pd);
		diag_list_free(&dl);
		peer[r] = time_tsort(dir);
		continue;
broken:
		diag_print(&dl, stderr);
		return 1;
	}
	printf("%-52s %10s\n", "stage (median of runs)", "ms");
	printf("%-52s %10.1f\n", "load spec (YAML, all edges)", median(load, runs));
	printf("%-52s %10.1f\n", "plan (levels, priorities, batches)",
	    median(plan, runs));
	printf("%-52s %10.1f\n", "prepare: load all files, check, render, "
	    "validate, plan", median(prep, runs));
	if (peer[0] >= 0) {
		double	p = median(peer, runs);

		printf("%-52s %10.1f\n", "peer: tsort(1) on the same edges", p);
		printf("ratio plan / tsort: %.2f   ratio spec load + plan / "
		    "tsort: %.2f\n", median(plan, runs) / p,
		    (median(load, runs) + median(plan, runs)) / p);
	}
	snprintf(config, sizeof(config), "rm -rf '%s'", dir);
	return system(config) == 0 ? 0 : 1;
}
