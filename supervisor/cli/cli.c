/*
 * mcpvisor(1): the client of mcpvisord. Verbs that only read the
 * configuration (config, deploy start --dry-run) run here without a
 * daemon; the rest talk to mcpvisord over its control socket.
 */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "diag.h"
#include "log.h"
#include "state.h"
#include "util.h"

static const char usage_main[] =
"usage: mcpvisor [--config-dir DIR] [--checks-dir DIR] [--deployments-dir DIR]\n"
"                [--state-dir DIR] [--verbose] COMMAND ...\n"
"\n"
"Commands:\n"
"  config show SERVER ENV   the resolved configuration, secrets redacted\n"
"  config validate          check every file; list every error\n"
"  config list              environments, servers, checks, deployments\n"
"  deploy start SPEC        deploy (or plan, with --dry-run) and follow it\n"
"  deploy status ID         a deployment's record (--follow: live)\n"
"  deploy list              each stack at its revision (--all: deployments)\n"
"  deploy stop ID           stop a deployment in reverse order\n"
"  deploy approve ID        let one held for require_mfa go (another user)\n"
"  health register FILE     keep a health-check file in the state directory\n"
"  health list              every health check, with its source\n"
"  health run NAME...       run checks now (--all, --tags a,b; --server S)\n"
"  rollback list            snapshots, with their integrity\n"
"  rollback status ID       a rollback's plan and how far it got\n"
"  rollback start ID        roll a deployment back by hand (--servers a,b)\n"
"  rollback approve ID      let a manual rollback run\n"
"  monitor start            run the monitor by hand (--port N)\n"
"  monitor show ID          a deployment live (--events, --metrics)\n"
"  monitor record S N=V...  record metrics for server S\n"
"  probe live|ready         whether mcpvisord's loop turns, its deployment serves\n"
"  security SERVER [ENV]    its protections, and an exposure score from 0 to 10\n"
"  status [SERVER...]       every server at a glance (exit 3: one named is down)\n"
"  logs [-f] [-n N] SERVER  a server's output, followed across rotations\n"
"  stop [-d] SERVER...      stop servers, dependents first (-d: with them)\n"
"  start SERVER...          start servers, dependencies first, until ready\n"
"  restart SERVER...        stop and start servers, until ready again\n"
"  kill [-s SIG] SERVER...  a signal to servers' processes (default TERM)\n"
"  shutdown                 stop every deployment in reverse order, then mcpvisord\n"
"  reload                   read the running deployment's files again, apply what changed\n"
"\n"
"Options (before or after the command, as with systemctl and kubectl):\n"
"  --config-dir DIR        environments/ and servers/ (default $MCPVISOR_CONFIG_DIR,\n"
"                          else deploy/config when here, else /etc/mcpvisor/config\n"
"                          for root and ~/.config/mcpvisor/config for others)\n"
"  --checks-dir DIR        health-check files (default: health-checks beside\n"
"                          the config directory)\n"
"  --deployments-dir DIR   deployment specs (default: deployments beside it)\n"
"  --state-dir DIR         mcpvisord's state (default /var/lib/mcpvisor for\n"
"                          root, else $XDG_STATE_HOME/mcpvisor)\n"
"  --backup-dir DIR        snapshots (default STATE-DIR/backups)\n"
"  --verbose               say more\n"
"  --version, --help\n"
"\n"
"Each command takes --help. Exit status: 0 success, 1 the operation failed,\n"
"2 usage error, 100 invalid configuration, 111 temporary failure.\n";

void
cli_print_json(const cJSON *o)
{
	char	*text = o != NULL ? cJSON_Print(o) : NULL;

	if (text != NULL)
		printf("%s\n", text);
	free(text);
}

int
cli_dispatch(struct cli *cli, const char *group, const struct cli_verb *verbs,
    int argc, char **argv)
{
	const struct cli_verb	*v;

	if (argc < 1 || strcmp(argv[0], "--help") == 0 ||
	    strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "help") == 0) {
		FILE	*fp = argc < 1 ? stderr : stdout;

		fprintf(fp, "usage: mcpvisor %s COMMAND ...\n\nCommands:\n",
		    group);
		for (v = verbs; v->name != NULL; v++)
			fprintf(fp, "  %-10s %s\n", v->name, v->summary);
		fprintf(fp, "\nmcpvisor %s COMMAND --help tells more.\n",
		    group);
		return argc < 1 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
	}
	for (v = verbs; v->name != NULL; v++)
		if (strcmp(v->name, argv[0]) == 0)
			return v->run(cli, argc, argv);
	fprintf(stderr, "mcpvisor %s: unknown command '%s' (see mcpvisor %s "
	    "--help)\n", group, argv[0], group);
	return CLI_EXIT_USAGE;
}

int
cli_parse_simple(struct cli *cli, int argc, char **argv, const char *usage,
    int *status)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int	c;

	/* 0, not 1: glibc then resets its state for a new argv */
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			cli->json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			*status = CLI_EXIT_OK;
			return -1;
		default:
			fputs(usage, stderr);
			*status = CLI_EXIT_USAGE;
			return -1;
		}
	}
	return optind;
}

bool
cli_valid_id(const char *id, const char *prefix)
{
	return state_valid_id(id, prefix);
}

int
cli_bad_id(const char *verb, const char *id, const char *prefix)
{
	fprintf(stderr, "mcpvisor %s: invalid %s id '%s': an id is %s "
	    "followed by up to 60 of a-z, 0-9 and _\n", verb,
	    strcmp(prefix, "rollback_") == 0 ? "rollback" : "deployment", id,
	    prefix);
	return CLI_EXIT_USAGE;
}

/* --- records read from disk: their shape checked before use --- */

enum field_kind { F_STR, F_STR_OPT, F_INT_OPT, F_OBJ_OPT };

struct field_rule {
	const char	*key;
	enum field_kind	 kind;
};

static const struct field_rule deployment_fields[] = {
	{ "id", F_STR }, { "state", F_STR }, { "deployment", F_STR_OPT },
	{ "environment", F_STR_OPT }, { "outcome", F_STR_OPT },
	{ "started_at", F_STR_OPT }, { "finished_at", F_STR_OPT },
	{ "failure", F_STR_OPT }, { "total", F_INT_OPT }, { "ready", F_INT_OPT },
	{ NULL, F_STR },
};
static const struct field_rule deployment_server_fields[] = {
	{ "name", F_STR }, { "state", F_STR }, { "attempts", F_INT_OPT },
	{ "restarts", F_INT_OPT }, { "server_pid", F_INT_OPT },
	{ "worker_pid", F_INT_OPT }, { "last_error", F_STR_OPT },
	{ "health", F_OBJ_OPT }, { "usage", F_OBJ_OPT }, { NULL, F_STR },
};
static const struct field_rule rollback_fields[] = {
	{ "id", F_STR }, { "state", F_STR }, { "strategy", F_STR_OPT },
	{ "deployment_id", F_STR_OPT }, { "previous_deployment_id", F_STR_OPT },
	{ "started_at", F_STR_OPT }, { "finished_at", F_STR_OPT },
	{ "reason", F_STR_OPT }, { "failure", F_STR_OPT }, { NULL, F_STR },
};
static const struct field_rule rollback_action_fields[] = {
	{ "action", F_STR_OPT }, { "server", F_STR_OPT },
	{ "status", F_STR_OPT }, { "message", F_STR_OPT }, { NULL, F_STR },
};

/* The first field of o that breaks the rules, as "where.key: why", or
 * false. */
static bool
field_broken(const cJSON *o, const struct field_rule *rules,
    const char *where, char *buf, size_t size)
{
	for (const struct field_rule *r = rules; r->key != NULL; r++) {
		const cJSON	*v = cJSON_GetObjectItem(o, r->key);
		const char	*want = NULL;

		switch (r->kind) {
		case F_STR:
			if (!cJSON_IsString(v))
				want = "missing or not a string";
			break;
		case F_STR_OPT:
			if (v != NULL && !cJSON_IsString(v))
				want = "not a string";
			break;
		case F_INT_OPT:
			if (v != NULL && json_int_within(v, 0, INT_MAX, -1) < 0)
				want = "not a whole number";
			break;
		case F_OBJ_OPT:
			if (v != NULL && !cJSON_IsObject(v))
				want = "not an object";
			break;
		}
		if (want != NULL) {
			snprintf(buf, size, "field '%s%s%s' is %s", where,
			    where[0] != '\0' ? "." : "", r->key, want);
			return true;
		}
	}
	return false;
}

static bool
list_broken(const cJSON *rec, const char *key,
    const struct field_rule *rules, char *buf, size_t size)
{
	const cJSON	*list = cJSON_GetObjectItem(rec, key), *e;
	char		 where[64];
	int		 i = 0;

	if (list == NULL)
		return false;
	if (!cJSON_IsArray(list)) {
		snprintf(buf, size, "field '%s' is not a list", key);
		return true;
	}
	cJSON_ArrayForEach(e, list) {
		snprintf(where, sizeof(where), "%s[%d]", key, i++);
		if (!cJSON_IsObject(e)) {
			snprintf(buf, size, "field '%s' is not an object",
			    where);
			return true;
		}
		if (field_broken(e, rules, where, buf, size))
			return true;
	}
	return false;
}

int
cli_load_record(const char *verb, const char *state_dir, const char *sub,
    const char *id, cJSON **out)
{
	bool		 rollback = strcmp(sub, "rollbacks") == 0;
	const char	*what = rollback ? "rollback" : "deployment";
	char		 why[160];
	cJSON		*rec;

	*out = NULL;
	if ((rec = state_load_record(state_dir, sub, id, rollback ?
	    "rollback_" : "deploy_")) == NULL) {
		fprintf(stderr, "mcpvisor %s: %s: no such %s\n", verb, id,
		    what);
		return CLI_EXIT_FAILED;
	}
	if (cJSON_GetStringValue(cJSON_GetObjectItem(rec, "damaged")) !=
	    NULL) {
		fprintf(stderr, "mcpvisor %s: %s %s: its record is damaged "
		    "(%s)\n", verb, what, id, cJSON_GetStringValue(
		    cJSON_GetObjectItem(rec, "damaged")));
		cJSON_Delete(rec);
		return CLI_EXIT_FAILED;
	}
	if (rollback ? field_broken(rec, rollback_fields, "", why,
	    sizeof(why)) || list_broken(rec, "actions",
	    rollback_action_fields, why, sizeof(why)) :
	    field_broken(rec, deployment_fields, "", why, sizeof(why)) ||
	    list_broken(rec, "servers", deployment_server_fields, why,
	    sizeof(why))) {
		fprintf(stderr, "mcpvisor %s: %s %s: its record is damaged: "
		    "%s\n", verb, what, id, why);
		cJSON_Delete(rec);
		return CLI_EXIT_FAILED;
	}
	if (cJSON_GetObjectItem(rec, "recovered_from") != NULL)
		fprintf(stderr, "mcpvisor %s: %s %s: its record is damaged "
		    "(%s); this is its previous version\n", verb, what, id,
		    cJSON_GetStringValue(cJSON_GetObjectItem(rec, "damage")));
	*out = rec;
	return CLI_EXIT_OK;
}

const char *
cli_record_damage(const cJSON *rec, char *buf, size_t size)
{
	const char	*d = cJSON_GetStringValue(cJSON_GetObjectItem(rec,
			    "damaged"));

	if (d != NULL) {
		snprintf(buf, size, "%s", d);
		return buf;
	}
	if (field_broken(rec, deployment_fields, "", buf, size) ||
	    list_broken(rec, "servers", deployment_server_fields, buf, size))
		return buf;
	return NULL;
}

bool
cli_valid_strategy(const char *verb, const char *name)
{
	static const char *const names[] = { "immediate", "batch",
	    "graceful", "aggressive", "manual", NULL };

	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	fprintf(stderr, "mcpvisor %s: --strategy is immediate, batch, "
	    "graceful, aggressive or manual\n", verb);
	return false;
}

long long
cli_record_int(const cJSON *o, const char *key)
{
	return json_int_within(cJSON_GetObjectItem(o, key), LLONG_MIN,
	    LLONG_MAX, 0);
}

const char *
cli_record_text(const cJSON *o, const char *key)
{
	const char	*s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));

	return s != NULL ? s : "-";
}

void
cli_print_diags(const struct cli *cli, const struct diag_list *dl)
{
	cJSON	*o, *list;
	char	*text;

	if (!cli->json) {
		diag_print(dl, stderr);
		return;
	}
	if ((o = cJSON_CreateObject()) == NULL ||
	    (list = diag_to_json(dl)) == NULL) {
		cJSON_Delete(o);
		diag_print(dl, stderr);
		return;
	}
	cJSON_AddItemToObject(o, "diagnostics", list);
	cJSON_AddNumberToObject(o, "errors", (double)dl->errors);
	cJSON_AddNumberToObject(o, "warnings", (double)dl->warnings);
	if ((text = cJSON_Print(o)) != NULL)
		printf("%s\n", text);
	free(text);
	cJSON_Delete(o);
}

static const struct cli_verb top_verbs[] = {
	{ "config", cli_config, "show, validate and list configuration" },
	{ "deploy", cli_deploy, "start, follow, list and stop deployments" },
	{ "health", cli_health, "register, list and run health checks" },
	{ "rollback", cli_rollback, "list snapshots, see and approve rollbacks" },
	{ "monitor", cli_monitor, "run the monitor, show progress, events, metrics" },
	{ "gateway", cli_gateway, "where MCP clients reach the servers" },
	{ "probe", cli_probe, "whether mcpvisord is live, its deployment ready" },
	{ "security", cli_security, "a server's protections, and its exposure" },
	{ "status", cli_status, "every server at a glance" },
	{ "logs", cli_logs, "a server's output, followed across rotations" },
	{ "kill", cli_kill, "a signal to servers' processes" },
	{ "stop", cli_stop, "stop servers (dependents first)" },
	{ "start", cli_start, "start servers (dependencies first)" },
	{ "restart", cli_restart, "restart servers, until ready again" },
	{ "shutdown", cli_shutdown, "stop every deployment, then mcpvisord" },
	{ "reload", cli_reload, "apply what changed in a running stack's files" },
	{ "history", cli_history, "a stack's revisions (rollback start --to-revision)" },
	{ NULL, NULL, NULL },
};

/* The options before the verb; exits after --help or --version. */
static void
global_options(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config-dir", required_argument, NULL, 'c' },
		{ "checks-dir", required_argument, NULL, 'k' },
		{ "deployments-dir", required_argument, NULL, 'd' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "backup-dir", required_argument, NULL, 'B' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int	c;

	while ((c = getopt_long(argc, argv, "+vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':	cli->paths.config_dir = optarg; break;
		case 'k':	cli->paths.checks_dir = optarg; break;
		case 'd':	cli->paths.deployments_dir = optarg; break;
		case 'v':	cli->verbose = true; break;
		case 'S':
			snprintf(cli->state_dir, sizeof(cli->state_dir), "%s",
			    optarg);
			break;
		case 'B':
			snprintf(cli->backup_dir, sizeof(cli->backup_dir), "%s",
			    optarg);
			cli->backup_dir_given = true;
			break;
		case 'V':
			printf("mcpvisor %s\n", MCPVISOR_VERSION);
			exit(CLI_EXIT_OK);
		case 'h':
			fputs(usage_main, stdout);
			exit(CLI_EXIT_OK);
		default:
			fputs(usage_main, stderr);
			exit(CLI_EXIT_USAGE);
		}
	}
}

/* The global options given after the command, as the guide's automation
 * form writes them ("deploy start SPEC --environment E --config-dir D
 * --verbose"): taken out of argv, which closes up behind them. Nothing
 * after "--" is looked at. 0, or an exit status. */
static int
late_global_options(struct cli *cli, int *argc, char **argv, int from)
{
	static const struct {
		const char	*name;
		bool		 has_arg;
	} globals[] = {
		{ "config-dir", true }, { "checks-dir", true },
		{ "deployments-dir", true }, { "state-dir", true },
		{ "backup-dir", true }, { "verbose", false },
	};
	int	 out = from;

	for (int i = from; i < *argc; i++) {
		const char	*a = argv[i], *value = NULL;
		size_t		 k, n = sizeof(globals) / sizeof(globals[0]);

		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		for (k = 0; k < n && strncmp(a, "--", 2) == 0; k++) {
			size_t	len = strlen(globals[k].name);

			if (strncmp(a + 2, globals[k].name, len) == 0 &&
			    (a[2 + len] == '\0' || (a[2 + len] == '=' &&
			    globals[k].has_arg)))
				break;
		}
		if (strncmp(a, "--", 2) != 0 || k == n) {
			argv[out++] = argv[i];
			continue;
		}
		if (globals[k].has_arg) {
			value = strchr(a, '=') != NULL ? strchr(a, '=') + 1 :
			    i + 1 < *argc ? argv[++i] : NULL;
			if (value == NULL) {
				fprintf(stderr, "mcpvisor: option '--%s' "
				    "requires an argument\n", globals[k].name);
				return CLI_EXIT_USAGE;
			}
		}
		switch (k) {
		case 0:	cli->paths.config_dir = value; break;
		case 1:	cli->paths.checks_dir = value; break;
		case 2:	cli->paths.deployments_dir = value; break;
		case 3:
			snprintf(cli->state_dir, sizeof(cli->state_dir), "%s",
			    value);
			break;
		case 4:
			snprintf(cli->backup_dir, sizeof(cli->backup_dir), "%s",
			    value);
			cli->backup_dir_given = true;
			break;
		default: cli->verbose = true; break;
		}
	}
	argv[out] = NULL;
	*argc = out;
	return 0;
}

/* The directories the options left out. 0, or an exit status. */
static int
default_paths(struct cli *cli)
{
	if (cli->state_dir[0] == '\0' &&
	    state_dir_default(cli->state_dir, sizeof(cli->state_dir)) < 0) {
		fprintf(stderr, "mcpvisor: no state directory: give "
		    "--state-dir\n");
		return CLI_EXIT_USAGE;
	}
	snprintf(cli->registered_dir, sizeof(cli->registered_dir),
	    "%s/health-checks", cli->state_dir);
	if (cli->backup_dir[0] == '\0')
		snprintf(cli->backup_dir, sizeof(cli->backup_dir), "%s/backups",
		    cli->state_dir);
	cli->paths.registered_checks_dir = cli->registered_dir;
	if (cli->paths.checks_dir == NULL) {
		cli->checks_dir_owned = config_sibling_dir(
		    cli->paths.config_dir, "health-checks");
		cli->paths.checks_dir = cli->checks_dir_owned;
	}
	if (cli->paths.deployments_dir == NULL) {
		cli->deployments_dir_owned = config_sibling_dir(
		    cli->paths.config_dir, "deployments");
		cli->paths.deployments_dir = cli->deployments_dir_owned;
	}
	if (cli->paths.checks_dir == NULL || cli->paths.deployments_dir == NULL)
		fatalx(CLI_EXIT_TEMPFAIL, "out of memory");
	return 0;
}

int
main(int argc, char **argv)
{
	struct cli	 cli;
	int		 status;

	memset(&cli, 0, sizeof(cli));
	if (config_dir_default(cli.config_dir, sizeof(cli.config_dir)) < 0) {
		fprintf(stderr, "mcpvisor: the default configuration "
		    "directory's name is too long: give --config-dir\n");
		return CLI_EXIT_USAGE;
	}
	cli.paths.config_dir = cli.config_dir;
	cli.color = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	global_options(&cli, argc, argv);
	if (optind >= argc) {
		fputs(usage_main, stderr);
		return CLI_EXIT_USAGE;
	}
	if ((status = late_global_options(&cli, &argc, argv, optind + 1)) != 0)
		return status;
	log_init("mcpvisor", cli.verbose);
	if ((status = default_paths(&cli)) != 0)
		return status;
	status = -1;
	/* one verb: the one run may reorder argv (getopt does) */
	for (const struct cli_verb *v = top_verbs; v->name != NULL; v++)
		if (strcmp(v->name, argv[optind]) == 0) {
			status = v->run(&cli, argc - optind, argv + optind);
			break;
		}
	if (status == -1) {
		fprintf(stderr, "mcpvisor: unknown command '%s' (see mcpvisor "
		    "--help)\n", argv[optind]);
		status = CLI_EXIT_USAGE;
	}
	free(cli.checks_dir_owned);
	free(cli.deployments_dir_owned);
	return status;
}
