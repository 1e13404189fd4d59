/*
 * mcpvisor security SERVER [ENVIRONMENT]: each protection a server runs
 * under, whether it is on, and an exposure score from 0 (all of them) to
 * 10 (none), in the manner of systemd-analyze security. The same score
 * bounds config validate --max-exposure.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "config.h"
#include "diag.h"
#include "render.h"
#include "runspec.h"
#include "schema.h"
#include "ynode.h"

static const char usage_security[] =
"usage: mcpvisor security SERVER [ENVIRONMENT] [--json]\n"
"\n"
"Each protection SERVER runs under in ENVIRONMENT (default: development, or\n"
"the only one): its user, capabilities, no_new_privs, network, filesystem,\n"
"pid namespace, system call filter and resource limits, whether each is on,\n"
"and what it leaves exposed, summed to a score from 0 to 10 (lower is\n"
"safer; as systemd-analyze security scores a unit). Exit 0, or 100 when\n"
"the server does not render.\n";

/* What is not the server's own or its user's: the most a missing
 * protection adds. They sum to 10. */
#define W_USER		2.0
#define W_CAPS		1.0
#define W_NNP		0.5
#define W_NETWORK	1.5
#define W_FILESYSTEM	1.5
#define W_PIDNS		0.5
#define W_SECCOMP	1.5
#define W_LIMITS	1.5

static void
item(struct exposure *x, const char *name, bool on, double exposure,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
item(struct exposure *x, const char *name, bool on, double exposure,
    const char *fmt, ...)
{
	struct exposure_item	*it = &x->items[x->n++];
	va_list			 ap;

	it->name = name;
	it->on = on;
	it->exposure = exposure;
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
	x->score += exposure;
}

static bool
has_limit(const struct ynode *own, const struct ynode *env, const char *key)
{
	return schema_number(own, key, 0) > 0 || schema_number(env, key, 0) > 0;
}

void
cli_exposure(const struct resolved_server *rs, const struct env_config *env,
    struct exposure *x)
{
	const struct ynode	*sb = rs->sandbox;
	const char		*user = schema_str(rs->run, "user", "");
	const struct ynode	*caps = ynode_map_get(sb, "capabilities");
	const char		*net = schema_str(sb, "network", "host");
	const char		*seccomp = schema_str(sb, "seccomp", "errno");
	const char		*fs = schema_str(sb, "filesystem", "strict");
	const struct ynode	*writable = ynode_map_get(sb, "writable_paths");
	size_t			 nwritable = writable != NULL ? writable->count :
				    0;
	const struct ynode	*allowed = ynode_map_get(ynode_map_get(sb,
				    "syscalls"), "allow");
	const struct ynode	*own = ynode_map_get(sb, "limits");
	const struct ynode	*envl = ynode_map_get(env->doc,
				    "resource_limits");
	size_t			 ncaps = caps != NULL ? caps->count : 0;
	size_t			 nallow = allowed != NULL ? allowed->count : 0;
	unsigned		 nlimits;

	memset(x, 0, sizeof(*x));
	if (*user == '\0')
		item(x, "user", true, 0, "a dynamic user of its own (no "
		    "run.user): uid %u-%u when mcpvisord is root, else "
		    "mcpvisord's", RUNSPEC_DYNAMIC_ID_FIRST,
		    RUNSPEC_DYNAMIC_GID - 1);
	else if (strcmp(user, "root") == 0 || strcmp(user, "0") == 0)
		item(x, "user", false, W_USER, "runs as root (run.user: %s)",
		    user);
	else
		item(x, "user", true, 0, "runs as %s", user);
	item(x, "capabilities", ncaps == 0, ncaps * 0.3 > W_CAPS ? W_CAPS :
	    ncaps * 0.3, ncaps == 0 ? "none kept, bounding set emptied" :
	    "%zu kept (sandbox.capabilities)", ncaps);
	item(x, "no_new_privs", true, 0, "set: no exec gains privileges");
	if (strcmp(net, "none") == 0)
		item(x, "network", true, 0, "a namespace of its own, loopback "
		    "only");
	else
		item(x, "network", false, W_NETWORK, "the host's network");
	if (strcmp(fs, "host") == 0) {
		item(x, "filesystem", false, W_FILESYSTEM, "the host's: what its "
		    "user may read and write");
		item(x, "pid_namespace", false, W_PIDNS, "the host's: it sees "
		    "every process");
	} else {
		item(x, "filesystem", true, 0, "strict%s: read-only, private "
		    "/tmp, /dev; %zu writable path%s",
		    ynode_map_get(sb, "filesystem") == NULL ? " (default)" : "",
		    nwritable, nwritable == 1 ? "" : "s");
		item(x, "pid_namespace", true, 0, "its own: it sees only its "
		    "processes");
	}
	if (strcmp(seccomp, "none") == 0)
		item(x, "seccomp", false, W_SECCOMP, "no system call filter");
	else
		item(x, "seccomp", true, nallow * 0.1 > 0.5 ? 0.5 : nallow * 0.1,
		    "the default filter (%s)%s", strcmp(seccomp, "kill") == 0 ?
		    "denied calls kill" : "denied calls fail with EPERM",
		    nallow > 0 ? ", some calls allowed back" : "");
	nlimits = has_limit(own, envl, "cpu_cores") + has_limit(own, envl,
	    "memory_gb") + has_limit(own, envl, "pids_max");
	item(x, "limits", nlimits == 3, (3 - nlimits) * (W_LIMITS / 3),
	    "%u of cpu_cores, memory_gb and pids_max enforced by its cgroup%s",
	    nlimits, nlimits > 0 && !schema_bool(sb, "limits_required", true) ?
	    " (where the host can)" : "");
}

const char *
cli_exposure_level(double score)
{
	return score <= 1.0 ? "SAFE" : score <= 4.0 ? "OK" : score <= 7.0 ?
	    "MEDIUM" : score <= 8.5 ? "EXPOSED" : "UNSAFE";
}

int
cli_security(struct cli *cli, int argc, char **argv)
{
	struct diag_list	 dl = { 0 };
	struct cli_rendered	 r;
	const struct server_config *srv;
	const struct env_config	*env;
	struct exposure		 x;
	int			 i, status = CLI_EXIT_CONFIG;

	if ((i = cli_parse_simple(cli, argc, argv, usage_security,
	    &status)) < 0)
		return status;
	if (argc - i < 1 || argc - i > 2) {
		fputs(usage_security, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((status = cli_render_one(cli, argv[i], argc - i == 2 ?
	    argv[i + 1] : NULL, &r, &dl)) != 0)
		goto out;
	srv = r.srv;
	env = r.env;
	cli_exposure(r.rs, env, &x);
	status = CLI_EXIT_OK;
	if (cli->json) {
		cJSON	*o = cJSON_CreateObject(), *a;

		cJSON_AddStringToObject(o, "server", srv->name);
		cJSON_AddStringToObject(o, "environment", env->name);
		a = cJSON_AddArrayToObject(o, "protections");
		for (size_t k = 0; k < x.n; k++) {
			cJSON	*e = cJSON_CreateObject();

			cJSON_AddStringToObject(e, "name", x.items[k].name);
			cJSON_AddBoolToObject(e, "on", x.items[k].on);
			cJSON_AddNumberToObject(e, "exposure",
			    x.items[k].exposure);
			cJSON_AddStringToObject(e, "detail", x.items[k].detail);
			cJSON_AddItemToArray(a, e);
		}
		cJSON_AddNumberToObject(o, "exposure", (double)(long)(x.score *
		    10 + 0.5) / 10);
		cJSON_AddStringToObject(o, "level", cli_exposure_level(x.score));
		cli_print_json(o);
		cJSON_Delete(o);
		goto done;
	}
	printf("%s in %s (%s)\n", srv->name, env->name, srv->path);
	for (size_t k = 0; k < x.n; k++)
		printf("  %s %-14s %-66s %4.1f\n", x.items[k].on ? "on " : "off",
		    x.items[k].name, x.items[k].detail, x.items[k].exposure);
	printf("-> exposure %.1f %s (0 safest, 10 none of these)\n", x.score,
	    cli_exposure_level(x.score));
	goto done;
out:
	if (dl.n > 0)
		cli_print_diags(cli, &dl);
done:
	cli_rendered_free(&r);
	diag_list_free(&dl);
	return status;
}
