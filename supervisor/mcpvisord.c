/*
 * mcpvisord, the root supervisor. This build prepares deployments (load,
 * check, render, plan) and reports whether one would start, the way
 * "nginx -t" does; the event loop that starts and keeps servers is the
 * runtime's work (issue 3). Exit statuses follow STYLE.md: 0 done, 100
 * bad usage or configuration (do not restart), 111 temporary failure.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "log.h"
#include "prepare.h"

#define EXIT_CONFIG	100
#define EXIT_TEMPFAIL	111

static const char usage[] =
"usage: mcpvisord --check SPEC [--environment ENV] [--config-dir DIR]\n"
"                 [--checks-dir DIR] [--sequential] [--verbose]\n"
"\n"
"  --check SPEC   prepare the deployment SPEC as a start would (load, check,\n"
"                 render with secrets, validate, plan), print a summary and\n"
"                 exit: 0 if it would start, 100 if the configuration is\n"
"                 invalid, 111 on a system failure\n";

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "check", required_argument, NULL, 't' },
		{ "environment", required_argument, NULL, 'e' },
		{ "config-dir", required_argument, NULL, 'c' },
		{ "checks-dir", required_argument, NULL, 'k' },
		{ "sequential", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct project_paths	 paths = { .config_dir = "deploy/config" };
	struct prepare_opts	 po = { .paths = &paths };
	struct diag_list	 dl = { 0 };
	struct prepared		*pd = NULL;
	char			*checks_dir = NULL;
	bool			 verbose = false;
	int			 c, r;

	while ((c = getopt_long(argc, argv, "t:e:c:k:svh", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 't':
			po.spec_path = optarg;
			break;
		case 'e':
			po.environment = optarg;
			break;
		case 'c':
			paths.config_dir = optarg;
			break;
		case 'k':
			paths.checks_dir = optarg;
			break;
		case 's':
			po.sequential = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'V':
			printf("mcpvisord %s\n", MCPVISOR_VERSION);
			return 0;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return EXIT_CONFIG;
		}
	}
	log_init("mcpvisord", verbose);
	if (po.spec_path == NULL || optind != argc) {
		fputs(usage, stderr);
		return EXIT_CONFIG;
	}
	if (paths.checks_dir == NULL &&
	    (paths.checks_dir = checks_dir = config_sibling_dir(
	    paths.config_dir, "health-checks")) == NULL)
		fatalx(EXIT_TEMPFAIL, "out of memory");
	r = prepare_deployment(&po, &pd, &dl);
	diag_print(&dl, stderr);
	if (r == 0)
		log_info("deployment '%s' for %s would start %zu servers in "
		    "%zu batches", pd->spec->name, pd->environment,
		    pd->spec->nservers, pd->plan->nbatches);
	else
		log_warnx("deployment %s would not start: %zu errors",
		    po.spec_path, dl.errors);
	prepared_free(pd);
	diag_list_free(&dl);
	free(checks_dir);
	return r == 0 ? 0 : r == -ENOMEM ? EXIT_TEMPFAIL : EXIT_CONFIG;
}
