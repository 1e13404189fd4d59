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
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "errbuf.h"
#include "mcpvisor/plugin.h"

extern char	**environ;

int
hproc_prepare(struct check *c, struct errbuf *err)
{
	const cJSON	*cfg = c->config;
	const char	*re = cJSON_GetStringValue(cJSON_GetObjectItem(cfg,
			    "expected_output_regex"));
	int		 e;

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
	if (re != NULL) {
		if ((e = regcomp(&c->regex, re, REG_EXTENDED | REG_NOSUB | REG_NEWLINE)) !=
		    0) {
			char	msg[128];

			regerror(e, &c->regex, msg, sizeof(msg));
			errbuf_set(err, "health check '%s': "
			    "expected_output_regex: %s", c->name, msg);
			return -EINVAL;
		}
		c->has_regex = true;
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

/* In the child: prints the plugin function's verdict as a custom
 * program would, and exits. */
static void __attribute__((noreturn))
run_plugin(const struct check *c, const char *config_json)
{
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
	_exit(0);
}

static void
child_setup(pid_t parent, int in_fd, int out_fd)
{
	sigset_t	none;

	setpgid(0, 0);
	/* a check's program does not outlive the process that runs it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
	    getppid() != parent)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	if (in_fd == -1)
		in_fd = open("/dev/null", O_RDONLY);
	if (dup2(in_fd, STDIN_FILENO) == -1 ||
	    dup2(out_fd, STDOUT_FILENO) == -1 ||
	    dup2(out_fd, STDERR_FILENO) == -1)
		_exit(127);
	close_range(3, ~0u, 0);
}

void
hproc_start(struct check *c)
{
	int		 out[2], in[2] = { -1, -1 };
	char		**argv = NULL, **envp = NULL;
	char		*json = NULL;
	bool		 plugin = c->type == CT_CUSTOM &&
			    cJSON_GetObjectItem(c->config, "plugin") != NULL;
	pid_t		 pid, self = getpid();

	c->out_len = 0;
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
	if (c->type == CT_CUSTOM && !plugin) {
		/* the config goes into the pipe before the program starts;
		 * it must fit the pipe's buffer (64 KiB), which a check's
		 * config does */
		size_t	len = strlen(json);

		if (pipe2(in, O_CLOEXEC | O_NONBLOCK) == -1 ||
		    write(in[1], json, len) != (ssize_t)len) {
			check_finish(c, false, "cannot hand the program its "
			    "config (over 64 KiB?)");
			close(out[0]);
			close(out[1]);
			goto done;
		}
		close(in[1]);
		in[1] = -1;
		fcntl(in[0], F_SETFL, 0);
	}
	if ((pid = fork()) == -1) {
		check_finish(c, false, "fork: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		goto done;
	}
	if (pid == 0) {
		child_setup(self, in[0], out[1]);
		if (plugin)
			run_plugin(c, json);
		execvpe(argv[0], argv, envp);
		dprintf(STDOUT_FILENO, "cannot execute %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	/* the child's own group, set from both sides so no race leaves a
	 * kill(-pid) without its target */
	setpgid(pid, pid);
	close(out[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	c->pid = pid;
	c->out_fd = out[0];
	health_epoll(c->h, EPOLL_CTL_ADD, c->out_fd, EPOLLIN,
	    HW_TAG(HW_PIPE, c->index));
done:
	if (in[0] != -1)
		close(in[0]);
	free(json);
	free_vector(argv);
	free_vector(envp);
}

static void
close_output(struct check *c)
{
	if (c->out_fd == -1)
		return;
	health_epoll(c->h, EPOLL_CTL_DEL, c->out_fd, 0, 0);
	close(c->out_fd);
	c->out_fd = -1;
}

void
hproc_abort(struct check *c)
{
	/* the caller reaps it; its exit is then no longer ours */
	if (c->pid > 0)
		kill(-c->pid, SIGKILL);
	c->pid = 0;
	close_output(c);
}

void
hproc_readable(struct check *c)
{
	char	buf[4096];
	ssize_t	n = -1;

	while (c->out_fd != -1 && (n = read(c->out_fd, buf, sizeof(buf))) >
	    0) {
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
		close_output(c);
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
	else if (c->has_regex && regexec(&c->regex, out, 0, NULL, 0) != 0)
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
	hproc_readable(c);
	close_output(c);
	if (c->type == CT_COMMAND)
		command_verdict(c, status);
	else
		custom_verdict(c, status);
	return true;
}
