/*
 * Checks that run in a child process: command checks, custom programs
 * (the check's config as JSON on stdin, a verdict as JSON on stdout) and
 * plugins (a function of a shared object, called in a child forked for
 * the call, so that a plugin that hangs or crashes costs its check and
 * nothing else). In a worker the child inherits the worker's sandbox:
 * it runs with exactly the server's rights. Children get a process group
 * of their own, killed whole at the timeout. Their exits are reaped by
 * the engine's caller and handed back through health_child_exited().
 */
#include "health_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "mcpvisor/plugin.h"
#include "spawn.h"
#include "util.h"

static int
hproc_prepare(struct check *c, struct errbuf *err)
{
	const cJSON	*cfg = c->config;
	const char	*re = cJSON_GetStringValue(cJSON_GetObjectItem(cfg,
			    "expected_output_regex"));
	char		 why[200];

	if (c->type == CT_COMMAND && cJSON_GetStringValue(
	    cJSON_GetObjectItem(cfg, "command")) == NULL) {
		errbuf_set(err, "health check '%s' names no command", c->name);
		return -EINVAL;
	}
	if (c->type == CT_CUSTOM && (cJSON_GetStringValue(cJSON_GetObjectItem(
	    cfg, "program")) == NULL) == (cJSON_GetStringValue(
	    cJSON_GetObjectItem(cfg, "plugin")) == NULL ||
	    cJSON_GetStringValue(cJSON_GetObjectItem(cfg, "function")) ==
	    NULL)) {
		errbuf_set(err, "custom check '%s' names either a program or a "
		    "plugin with its function", c->name);
		return -EINVAL;
	}
	if (re != NULL && (c->pattern = pattern_compile(re, true, why,
	    sizeof(why))) == NULL) {
		errbuf_set(err, "health check '%s': %s: %s", c->name,
		    "expected_output_regex", why);
		return -EINVAL;
	}
	return 0;
}

static char *
scalar_text(const cJSON *j)
{
	char	*s = NULL;

	if (cJSON_IsString(j))
		return strdup(j->valuestring);
	if (cJSON_IsNumber(j) && asprintf(&s, "%.15g", j->valuedouble) != -1)
		return s;
	return strdup(cJSON_IsTrue(j) ? "true" : cJSON_IsFalse(j) ? "false" :
	    "");
}

static void
free_vector(char **v)
{
	for (char **p = v; p != NULL && *p != NULL; p++)
		free(*p);
	free(v);
}

/* argv and envp for a command or a custom program: the check's
 * environment on top of PATH, HOME and the locale of ours. */
static int
build_exec(const struct check *c, char ***argvp, char ***envpp)
{
	static const char *const inherit[] = { "PATH", "HOME", "LANG",
	    "LC_ALL", "TZ" };
	const cJSON	*cfg = c->config, *a;
	const cJSON	*args = cJSON_GetObjectItem(cfg, "args");
	const cJSON	*env = cJSON_GetObjectItem(cfg, "environment");
	const char	*cmd = cJSON_GetStringValue(cJSON_GetObjectItem(cfg,
			    c->type == CT_COMMAND ? "command" : "program"));
	size_t		 n = 0;
	char		**argv, **envp;

	argv = calloc((size_t)cJSON_GetArraySize(args) + 2, sizeof(char *));
	envp = calloc((size_t)cJSON_GetArraySize(env) + 6, sizeof(char *));
	*argvp = argv;
	*envpp = envp;
	if (argv == NULL || envp == NULL || (argv[n++] = strdup(cmd)) == NULL)
		return -ENOMEM;
	cJSON_ArrayForEach(a, args)
		if ((argv[n++] = scalar_text(a)) == NULL)
			return -ENOMEM;
	n = 0;
	cJSON_ArrayForEach(a, env) {
		char	*v = scalar_text(a);

		if (v == NULL || asprintf(&envp[n++], "%s=%s", a->string, v) ==
		    -1) {
			free(v);
			return -ENOMEM;
		}
		free(v);
	}
	for (size_t i = 0; i < sizeof(inherit) / sizeof(inherit[0]); i++)
		if (getenv(inherit[i]) != NULL &&
		    cJSON_GetObjectItem(env, inherit[i]) == NULL &&
		    asprintf(&envp[n++], "%s=%s", inherit[i],
		    getenv(inherit[i])) == -1)
			return -ENOMEM;
	return 0;
}

struct plugin_call {
	const struct check	*c;
	const char		*config_json;
};

/* In the child: prints the plugin function's verdict as a custom
 * program would; its return is the child's exit status. */
static int
run_plugin(void *arg)
{
	const struct plugin_call	*call = arg;
	const struct check		*c = call->c;
	const char			*config_json = call->config_json;
	const char			*path = cJSON_GetStringValue(
					    cJSON_GetObjectItem(c->config,
					    "plugin"));
	const char			*name = cJSON_GetStringValue(
					    cJSON_GetObjectItem(c->config,
					    "function"));
	struct mcpvisor_check_result	 r;
	mcpvisor_plugin_abi_fn		*abi;
	mcpvisor_check_fn		*fn;
	cJSON				*o = cJSON_CreateObject();
	char				*text;
	void				*lib;
	int				 rc;

	memset(&r, 0, sizeof(r));
	if ((lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(r.message, sizeof(r.message), "cannot load plugin: %s",
		    dlerror());
		goto out;
	}
	*(void **)&abi = dlsym(lib, MCPVISOR_PLUGIN_ABI_SYMBOL);
	if (abi != NULL && (rc = abi()) != MCPVISOR_PLUGIN_ABI) {
		snprintf(r.message, sizeof(r.message), "plugin %s was built "
		    "for plugin ABI %d, mcpvisor speaks %d", path, rc,
		    MCPVISOR_PLUGIN_ABI);
		goto out;
	}
	*(void **)&fn = dlsym(lib, name);
	if (fn == NULL) {
		snprintf(r.message, sizeof(r.message), "plugin %s exports no "
		    "function '%s'", path, name);
		goto out;
	}
	if ((rc = fn(config_json, &r)) != 0 && r.message[0] == '\0')
		snprintf(r.message, sizeof(r.message), "%s returned %d", name,
		    rc);
	if (rc != 0)
		r.status = MCPVISOR_UNHEALTHY;
out:
	r.message[sizeof(r.message) - 1] = '\0';
	cJSON_AddStringToObject(o, "status", r.status == MCPVISOR_HEALTHY ?
	    "healthy" : "unhealthy");
	cJSON_AddStringToObject(o, "message", r.message);
	if (r.details_json != NULL)
		cJSON_AddItemToObject(o, "details",
		    cJSON_Parse(r.details_json));
	if ((text = cJSON_PrintUnformatted(o)) != NULL) {
		size_t	len = strlen(text);

		for (size_t off = 0; off < len;) {
			ssize_t	n = write(STDOUT_FILENO, text + off, len - off);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
	}
	return 0;
}

static void	on_output(struct watcher *, uint32_t);
static void	on_exec_status(struct watcher *, uint32_t);

/* The config a custom program reads on stdin: in a pipe before the
 * program starts, which a check's config fits (the pipe holds 64 KiB). */
static int
config_pipe(const char *json, int *read_end)
{
	int	in[2];
	size_t	len = strlen(json);

	if (pipe2(in, O_CLOEXEC | O_NONBLOCK) == -1)
		return -errno;
	if (write(in[1], json, len) != (ssize_t)len) {
		close(in[0]);
		close(in[1]);
		return -EMSGSIZE;
	}
	close(in[1]);
	fcntl(in[0], F_SETFL, 0);
	*read_end = in[0];
	return 0;
}

static void
hproc_start(struct check *c)
{
	int			 out[2], in = -1, status = -1;
	char			**argv = NULL, **envp = NULL;
	char			*json = NULL;
	bool			 plugin = c->type == CT_CUSTOM &&
				    cJSON_GetObjectItem(c->config, "plugin") !=
				    NULL;
	struct plugin_call	 call = { c, NULL };
	/* a check's program does not outlive the process that runs it,
	 * and goes whole, in its own group, at the timeout */
	struct spawn_request	 rq = { .new_pgrp = true,
				    .pdeathsig = SIGKILL };
	int			 r;

	c->out_len = 0;
	c->exec_error = 0;
	if (c->type == CT_CUSTOM &&
	    (json = cJSON_PrintUnformatted(c->config)) == NULL) {
		check_finish(c, false, "out of memory");
		return;
	}
	if ((!plugin && build_exec(c, &argv, &envp) < 0)) {
		check_finish(c, false, "out of memory");
		goto done;
	}
	if (pipe2(out, O_CLOEXEC) == -1) {
		check_finish(c, false, "pipe: %s", strerror(errno));
		goto done;
	}
	if (c->type == CT_CUSTOM && !plugin && config_pipe(json, &in) < 0) {
		check_finish(c, false, "cannot hand the program its config "
		    "(over 64 KiB?)");
		close(out[0]);
		close(out[1]);
		goto done;
	}
	rq.fds[rq.nfds++] = (struct spawn_fd){ 0, in != -1 ? in :
	    SPAWN_DEVNULL };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 1, out[1] };
	rq.fds[rq.nfds++] = (struct spawn_fd){ 2, out[1] };
	if (plugin) {
		call.config_json = json;
		rq.child_fn = run_plugin;
		rq.child_arg = &call;
	} else {
		rq.path = argv[0];
		rq.argv = argv;
		rq.envp = envp;
	}
	r = spawn_start(&rq, &c->pid, plugin ? NULL : &status);
	close(out[1]);
	if (r < 0) {
		close(out[0]);
		c->pid = 0;
		check_finish(c, false, "fork: %s", strerror(-r));
		goto done;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	c->out_w = (struct watcher){ out[0], on_output };
	loop_add(c->h->loop, &c->out_w, EPOLLIN);
	if (status != -1) {
		c->status_w = (struct watcher){ status, on_exec_status };
		loop_add(c->h->loop, &c->status_w, EPOLLIN);
	}
done:
	if (in != -1)
		close(in);
	free(json);
	free_vector(argv);
	free_vector(envp);
}

static void
unwatch(struct check *c, struct watcher *w)
{
	if (w->fd == -1)
		return;
	loop_del(c->h->loop, w);
	close(w->fd);
	w->fd = -1;
}

/* The exec worked (EOF), or says why it did not. */
static void
read_exec_status(struct check *c)
{
	int	r;

	if (c->status_w.fd == -1 ||
	    (r = spawn_exec_status(c->status_w.fd)) == -EAGAIN)
		return;
	if (r > 0)
		c->exec_error = r;
	unwatch(c, &c->status_w);
}

static void
on_exec_status(struct watcher *w, uint32_t events)
{
	(void)events;
	read_exec_status(container_of(w, struct check, status_w));
}

static void
hproc_abort(struct check *c)
{
	/* the caller reaps it; its exit is then no longer ours */
	if (c->pid > 0)
		kill(-c->pid, SIGKILL);
	c->pid = 0;
	unwatch(c, &c->out_w);
	unwatch(c, &c->status_w);
}

static void
read_output(struct check *c)
{
	char	buf[4096];
	ssize_t	n = -1;

	while (c->out_w.fd != -1 && (n = read(c->out_w.fd, buf,
	    sizeof(buf))) > 0) {
		size_t	keep = (size_t)n;

		if (c->out_len + keep > HEALTH_OUTPUT_MAX)
			keep = HEALTH_OUTPUT_MAX - c->out_len;
		if (keep > 0) {
			char	*p = realloc(c->out, c->out_len + keep + 1);

			if (p == NULL)
				break;
			c->out = p;
			memcpy(c->out + c->out_len, buf, keep);
			c->out_len += keep;
			c->out[c->out_len] = '\0';
		}
	}
	if (n == 0)
		unwatch(c, &c->out_w);
}

static void
on_output(struct watcher *w, uint32_t events)
{
	(void)events;
	read_output(container_of(w, struct check, out_w));
}

/* The last line of the output, for a message. */
static const char *
last_line(struct check *c, size_t *len)
{
	size_t	end = c->out_len, start;

	while (end > 0 && (c->out[end - 1] == '\n' || c->out[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && c->out[start - 1] != '\n')
		start--;
	*len = end - start;
	return c->out != NULL ? c->out + start : "";
}

static void
command_verdict(struct check *c, int status)
{
	const char	*want = cJSON_GetStringValue(cJSON_GetObjectItem(
			    c->config, "expected_output"));
	const char	*out = c->out != NULL ? c->out : "";
	size_t		 len;
	const char	*line = last_line(c, &len);

	if (len > 200)
		len = 200;
	if (c->exec_error != 0) {
		check_finish(c, false, "cannot execute %s: %s", cJSON_GetStringValue(
		    cJSON_GetObjectItem(c->config, "command")),
		    strerror(c->exec_error));
		return;
	}
	if (WIFSIGNALED(status)) {
		check_finish(c, false, "killed by signal %d", WTERMSIG(status));
		return;
	}
	cJSON_AddNumberToObject(check_details(c), "exit_status",
	    WEXITSTATUS(status));
	if (WEXITSTATUS(status) != 0)
		check_finish(c, false, "exited with status %d%s%.*s",
		    WEXITSTATUS(status), len > 0 ? ": " : "", (int)len, line);
	else if (want != NULL && strstr(out, want) == NULL)
		check_finish(c, false, "the output does not contain '%.100s'",
		    want);
	else if (c->pattern != NULL && pattern_search(c->pattern, out,
	    strlen(out)) != 1)
		check_finish(c, false, "the output does not match "
		    "expected_output_regex");
	else
		check_finish(c, true, "exited with status 0%s%.*s",
		    len > 0 ? ": " : "", (int)len, line);
}

static void
custom_verdict(struct check *c, int status)
{
	cJSON		*o = NULL;
	const char	*st, *msg;
	size_t		 len;
	const char	*line = last_line(c, &len);
	bool		 healthy;

	if (c->out != NULL && (o = cJSON_Parse(c->out)) == NULL) {
		/* a program may log before its verdict: try its last line */
		char	*copy = strndup(line, len);

		o = copy != NULL ? cJSON_Parse(copy) : NULL;
		free(copy);
	}
	st = cJSON_GetStringValue(cJSON_GetObjectItem(o, "status"));
	msg = cJSON_GetStringValue(cJSON_GetObjectItem(o, "message"));
	if (c->exec_error != 0) {
		check_finish(c, false, "cannot execute %s: %s", cJSON_GetStringValue(
		    cJSON_GetObjectItem(c->config, "program")),
		    strerror(c->exec_error));
		cJSON_Delete(o);
		return;
	}
	if (st == NULL) {
		if (len > 200)
			len = 200;
		if (WIFSIGNALED(status))
			check_finish(c, false, "killed by signal %d",
			    WTERMSIG(status));
		else
			check_finish(c, false, "no verdict (exit status %d)%s"
			    "%.*s", WEXITSTATUS(status), len > 0 ? ": " : "",
			    (int)len, line);
		cJSON_Delete(o);
		return;
	}
	healthy = strcmp(st, "healthy") == 0 && WIFEXITED(status);
	if (cJSON_IsObject(cJSON_GetObjectItem(o, "details"))) {
		cJSON_Delete(c->details);
		c->details = cJSON_DetachItemFromObject(o, "details");
	}
	check_finish(c, healthy, "%s", msg != NULL ? msg : st);
	cJSON_Delete(o);
}

bool
hproc_exited(struct check *c, int status)
{
	c->pid = 0;
	read_exec_status(c);
	read_output(c);
	unwatch(c, &c->out_w);
	unwatch(c, &c->status_w);
	if (c->type == CT_COMMAND)
		command_verdict(c, status);
	else
		custom_verdict(c, status);
	return true;
}

const struct check_ops hproc_ops = {
	hproc_prepare, hproc_start, hproc_abort, NULL,
};
