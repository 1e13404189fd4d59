/*
 * The run spec. Both ways in go through one reader of a JSON object
 * whose scalars are text (runspec_from_yaml first turns the YAML into
 * that), so that a default, a limit or a rule exists once.
 */
#include "runspec.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <limits.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "errbuf.h"
#include "schema.h"

static const struct {
	const char	*name;
	int		 sig;
} signals[] = {
	{ "TERM", SIGTERM }, { "INT", SIGINT }, { "HUP", SIGHUP },
	{ "QUIT", SIGQUIT }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 },
};

int
runspec_signal(const char *name)
{
	if (name == NULL)
		return -1;
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (strcasecmp(signals[i].name, name) == 0)
			return signals[i].sig;
	return -1;
}

const char *
runspec_signal_name(int sig)
{
	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signals[i].sig == sig)
			return signals[i].name;
	return "TERM";
}

/* --- reading --- */

/* A scalar as text: strings as they are; a JSON number (which only a
 * hand-written configuration sends) as the shortest text that is it. */
static char *
scalar_text(const cJSON *j)
{
	char	*s = NULL;

	if (cJSON_IsString(j))
		return strdup(j->valuestring);
	if (cJSON_IsNumber(j)) {
		double	d = j->valuedouble;

		/* in range first: the cast of a larger double is undefined */
		if (d > -9e15 && d < 9e15 && d == (double)(long long)d)
			return asprintf(&s, "%lld", (long long)d) == -1 ? NULL :
			    s;
		return asprintf(&s, "%.17g", d) == -1 ? NULL : s;
	}
	if (cJSON_IsBool(j))
		return strdup(cJSON_IsTrue(j) ? "true" : "false");
	return strdup("");
}

struct reader {
	const cJSON	*run;
	struct errbuf	*err;
	int		 r;		/* the first error */
};

/* The text of key, or its default (schema.h: the one place defaults
 * are written); NULL when neither is there. The caller frees it. */
static char *
field_text(struct reader *rd, const char *key)
{
	const cJSON	*j = cJSON_GetObjectItem(rd->run, key);
	const char	*def = schema_default(&config_run_schema, key);
	char		*s;

	if (j != NULL && !cJSON_IsNull(j))
		s = scalar_text(j);
	else if (def != NULL)
		s = strdup(def);
	else
		return NULL;
	if (s == NULL && rd->r == 0)
		rd->r = -ENOMEM;
	return s;
}

static void
bad(struct reader *rd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
bad(struct reader *rd, const char *fmt, ...)
{
	va_list	ap;

	if (rd->r != 0)
		return;
	rd->r = -EINVAL;
	if (rd->err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(rd->err->msg, sizeof(rd->err->msg), fmt, ap);
	va_end(ap);
}

static unsigned long long
field_uint(struct reader *rd, const char *key, unsigned long long max,
    unsigned long long none)
{
	char			*s = field_text(rd, key), *end;
	unsigned long long	 v = none;

	if (s == NULL)
		return none;
	errno = 0;
	if (s[0] < '0' || s[0] > '9' || (v = strtoull(s, &end, 10), *end !=
	    '\0') || errno != 0 || v > max) {
		bad(rd, "run.%s: '%s' is not a number in range", key, s);
		v = none;
	}
	free(s);
	return v;
}

/* One of words (the index), or -1 after an error. */
static int
field_choice(struct reader *rd, const char *key, const char *const *words)
{
	char	*s = field_text(rd, key);
	int	 k = -1;

	if (s == NULL)
		return -1;
	for (int i = 0; words[i] != NULL; i++)
		if (strcmp(words[i], s) == 0)
			k = i;
	if (k == -1)
		bad(rd, "run.%s: '%s' is not a choice it has", key, s);
	free(s);
	return k;
}

/* A list of scalars (NULL-ended), prefixed with first when not NULL. */
static char **
field_list(struct reader *rd, const char *key, const char *first)
{
	const cJSON	*list = cJSON_GetObjectItem(rd->run, key), *a;
	size_t		 n = 0;
	char		**v;

	if ((v = calloc((size_t)cJSON_GetArraySize(list) + 2,
	    sizeof(char *))) == NULL || (first != NULL &&
	    (v[n++] = strdup(first)) == NULL)) {
		free(v);
		rd->r = -ENOMEM;
		return NULL;
	}
	cJSON_ArrayForEach(a, list)
		if ((v[n++] = scalar_text(a)) == NULL)
			rd->r = -ENOMEM;
	return v;
}

static char **
field_environment(struct reader *rd)
{
	const cJSON	*env = cJSON_GetObjectItem(rd->run, "environment"), *e;
	size_t		 n = 0;
	char		**v;

	if ((v = calloc((size_t)cJSON_GetArraySize(env) + 1,
	    sizeof(char *))) == NULL) {
		rd->r = -ENOMEM;
		return NULL;
	}
	cJSON_ArrayForEach(e, env) {
		char	*value = scalar_text(e);
		int	 ok = value != NULL && asprintf(&v[n], "%s=%s",
			    e->string, value) != -1;

		if (value != NULL)
			explicit_bzero(value, strlen(value));
		free(value);
		if (!ok) {
			v[n] = NULL;
			rd->r = -ENOMEM;
			break;
		}
		n++;
	}
	return v;
}

static const char *const transports[] = { "stdio", "http", NULL };
static const char *const restarts[] = { "always", "on-failure", "never",
    NULL };
static const char *const readinesses[] = { "process", "notify", "fd", "mcp",
    NULL };

static void
read_lifecycle(struct reader *rd, struct runspec *rs)
{
	char	*sig = field_text(rd, "stop_signal");
	int	 k;

	if (sig != NULL && (rs->stop_signal = runspec_signal(sig)) == -1)
		bad(rd, "run.%s: '%s' is not TERM, INT, HUP, QUIT, KILL, USR1 "
		    "or USR2", "stop_signal", sig);
	free(sig);
	/* every one of these has its default in the schema */
	rs->stop_timeout_ms = (unsigned)field_uint(rd, "stop_timeout_seconds",
	    3600, 0) * 1000;
	if ((k = field_choice(rd, "restart", restarts)) >= 0)
		rs->restart = (enum run_restart)k;
	rs->restart_delay_ms = (unsigned)field_uint(rd, "restart_delay_ms",
	    1ULL << 31, 0);
	rs->restart_delay_max_ms = (unsigned)field_uint(rd,
	    "restart_delay_max_ms", 1ULL << 31, 0);
	rs->max_deaths = (unsigned)field_uint(rd, "max_deaths", 1U << 20, 0);
	rs->death_window_ms = (unsigned)field_uint(rd, "death_window_seconds",
	    86400, 0) * 1000;
	/* a stdio server speaks MCP: its answer is what says it is up */
	rs->readiness = rs->transport == RUN_STDIO ? RUN_READY_MCP :
	    RUN_READY_PROCESS;
	if ((k = field_choice(rd, "readiness", readinesses)) >= 0)
		rs->readiness = (enum run_readiness)k;
	if (rs->readiness == RUN_READY_MCP && rs->transport != RUN_STDIO)
		bad(rd, "run.%s: 'mcp' is the handshake over stdio; an http "
		    "server is checked by a health check of type mcp",
		    "readiness");
	rs->start_ms = (unsigned)field_uint(rd, "start_seconds", 3600, 1) *
	    1000;
	rs->readiness_fd = -1;
	if (rs->readiness == RUN_READY_FD &&
	    (rs->readiness_fd = (int)field_uint(rd, "readiness_fd", 1023,
	    0)) < 3)
		bad(rd, "run.%s: %s (3 to 1023) is needed for readiness fd",
		    "readiness_fd", "a descriptor");
	rs->log_max_bytes = field_uint(rd, "log_max_bytes", 1ULL << 40, 0);
	rs->log_keep = (unsigned)field_uint(rd, "log_keep", 1000, 0);
}

int
runspec_unpack(const cJSON *run, struct runspec **out, struct errbuf *err)
{
	struct reader	 rd = { .run = run, .err = err };
	struct runspec	*rs;
	int		 k;

	*out = NULL;
	if (!cJSON_IsObject(run) || !cJSON_IsString(cJSON_GetObjectItem(run,
	    "command"))) {
		errbuf_set(err, "the run section names no command");
		return -EINVAL;
	}
	if ((rs = calloc(1, sizeof(*rs))) == NULL)
		return -ENOMEM;
	rs->command = field_text(&rd, "command");
	rs->argv = field_list(&rd, "args", rs->command);
	rs->env = field_environment(&rd);
	rs->cwd = field_text(&rd, "working_directory");
	if ((k = field_choice(&rd, "transport", transports)) >= 0)
		rs->transport = (enum run_transport)k;
	rs->url = field_text(&rd, "url");
	rs->port_auto = cJSON_IsString(cJSON_GetObjectItem(run, "port")) &&
	    strcmp(cJSON_GetObjectItem(run, "port")->valuestring,
	    RUNSPEC_PORT_AUTO) == 0;
	if (!rs->port_auto)
		rs->port = (unsigned)field_uint(&rd, "port", 65535, 0);
	rs->user = field_text(&rd, "user");
	rs->group = field_text(&rd, "group");
	rs->groups = field_list(&rd, "supplementary_groups", NULL);
	rs->files_to_backup = field_list(&rd, "files_to_backup", NULL);
	read_lifecycle(&rd, rs);
	if (rd.r == 0 && (rs->command == NULL || rs->cwd == NULL))
		rd.r = -ENOMEM;
	if (rd.r < 0) {
		if (rd.r == -ENOMEM)
			errbuf_set(err, "out of memory");
		runspec_free(rs);
		return rd.r;
	}
	*out = rs;
	return 0;
}

/* --- packing --- */

static void
add_uint(cJSON *o, const char *key, unsigned long long v)
{
	char	buf[24];

	snprintf(buf, sizeof(buf), "%llu", v);
	cJSON_AddStringToObject(o, key, buf);
}

static void
add_list(cJSON *o, const char *key, char *const *v, size_t skip)
{
	cJSON	*list = cJSON_AddArrayToObject(o, key);

	for (size_t i = skip; v != NULL && v[i] != NULL; i++)
		cJSON_AddItemToArray(list, cJSON_CreateString(v[i]));
}

cJSON *
runspec_pack(const struct runspec *rs)
{
	cJSON	*o = cJSON_CreateObject(), *env;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "command", rs->command);
	add_list(o, "args", rs->argv, 1);
	env = cJSON_AddObjectToObject(o, "environment");
	for (char **e = rs->env; e != NULL && *e != NULL; e++) {
		char	*eq = strchr(*e, '=');

		*eq = '\0';
		cJSON_AddStringToObject(env, *e, eq + 1);
		*eq = '=';
	}
	cJSON_AddStringToObject(o, "working_directory", rs->cwd);
	cJSON_AddStringToObject(o, "transport", transports[rs->transport]);
	if (rs->url != NULL)
		cJSON_AddStringToObject(o, "url", rs->url);
	if (rs->port_auto)
		cJSON_AddStringToObject(o, "port", RUNSPEC_PORT_AUTO);
	else if (rs->port != 0)
		add_uint(o, "port", rs->port);
	if (rs->user != NULL)
		cJSON_AddStringToObject(o, "user", rs->user);
	if (rs->group != NULL)
		cJSON_AddStringToObject(o, "group", rs->group);
	add_list(o, "supplementary_groups", rs->groups, 0);
	cJSON_AddStringToObject(o, "stop_signal",
	    runspec_signal_name(rs->stop_signal));
	add_uint(o, "stop_timeout_seconds", rs->stop_timeout_ms / 1000);
	cJSON_AddStringToObject(o, "restart", restarts[rs->restart]);
	add_uint(o, "restart_delay_ms", rs->restart_delay_ms);
	add_uint(o, "restart_delay_max_ms", rs->restart_delay_max_ms);
	add_uint(o, "max_deaths", rs->max_deaths);
	add_uint(o, "death_window_seconds", rs->death_window_ms / 1000);
	cJSON_AddStringToObject(o, "readiness", readinesses[rs->readiness]);
	if (rs->readiness_fd >= 0)
		add_uint(o, "readiness_fd", (unsigned)rs->readiness_fd);
	add_uint(o, "start_seconds", rs->start_ms / 1000);
	add_uint(o, "log_max_bytes", rs->log_max_bytes);
	add_uint(o, "log_keep", rs->log_keep);
	add_list(o, "files_to_backup", rs->files_to_backup, 0);
	return o;
}

static void
free_strv(char **v, bool wipe)
{
	for (char **p = v; p != NULL && *p != NULL; p++) {
		if (wipe)
			explicit_bzero(*p, strlen(*p));
		free(*p);
	}
	free(v);
}

char **
runspec_envp(const struct runspec *rs, const char *home,
    const char *const *extra)
{
	static const char *const inherit[] = { "LANG", "TZ", "LC_ALL" };
	size_t		 n = 0, given = 0, nextra = 0;
	bool		 have_path = false, have_home = false;
	char		**envp;
	bool		 ok = true;

	while (rs->env[given] != NULL)
		given++;
	while (extra != NULL && extra[nextra] != NULL)
		nextra++;
	if ((envp = calloc(given + nextra + 6, sizeof(char *))) == NULL)
		return NULL;
	for (size_t i = 0; i < given && ok; i++) {
		ok = (envp[n++] = strdup(rs->env[i])) != NULL;
		have_path |= strncmp(rs->env[i], "PATH=", 5) == 0;
		have_home |= strncmp(rs->env[i], "HOME=", 5) == 0;
	}
	if (ok && !have_path)
		ok = asprintf(&envp[n++], "PATH=%s", getenv("PATH") != NULL ?
		    getenv("PATH") : "/usr/local/bin:/usr/bin:/bin") != -1;
	if (ok && !have_home)
		ok = asprintf(&envp[n++], "HOME=%s", home != NULL &&
		    home[0] != '\0' ? home : "/") != -1;
	for (size_t i = 0; ok && i < sizeof(inherit) / sizeof(inherit[0]); i++)
		if (getenv(inherit[i]) != NULL)
			ok = asprintf(&envp[n++], "%s=%s", inherit[i],
			    getenv(inherit[i])) != -1;
	for (size_t i = 0; ok && i < nextra; i++)
		ok = (envp[n++] = strdup(extra[i])) != NULL;
	if (!ok) {
		envp[n - 1] = NULL;
		runspec_free_envp(envp);
		return NULL;
	}
	return envp;
}

void
runspec_free_envp(char **envp)
{
	free_strv(envp, true);
}

void
runspec_free(struct runspec *rs)
{
	if (rs == NULL)
		return;
	free(rs->command);
	free_strv(rs->argv, true);
	free_strv(rs->env, true);
	free(rs->cwd);
	free(rs->url);
	free(rs->user);
	free(rs->group);
	free_strv(rs->groups, false);
	free_strv(rs->files_to_backup, false);
	free(rs);
}
