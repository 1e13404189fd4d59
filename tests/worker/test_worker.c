/*
 * Tests of mcpvisor-worker: this program plays the root, with a real
 * socketpair, the real worker binary and real servers (sh, sleep, bash,
 * python3). Sandbox facts are read from /proc/PID/status of the server.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "frame.h"

struct wk {
	pid_t			pid;
	int			fd;
	struct frame_reader	rd;
	struct frame_writer	wr;
	char			dir[128];
};

static const char *
worker_path(void)
{
	const char	*p = getenv("MCPVISOR_WORKER");

	return p != NULL ? p : "./mcpvisor-worker";
}

static void
wk_start(struct wk *w)
{
	int	sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	snprintf(w->dir, sizeof(w->dir), "/tmp/mcpvisor-wt.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	if ((w->pid = fork()) == 0) {
		if (dup2(sv[1], 3) == -1)
			_exit(126);
		setenv("SECRET_OF_THE_ROOT", "must-not-leak", 1);
		execl(worker_path(), "mcpvisor-worker", (char *)NULL);
		_exit(127);
	}
	assert_true(w->pid > 0);
	close(sv[1]);
	w->fd = sv[0];
	fcntl(w->fd, F_SETFL, O_NONBLOCK);
	frame_reader_init(&w->rd, w->fd, FRAME_FROM_WORKER);
	frame_writer_init(&w->wr, w->fd);
}

/* Next frame within ms: 1, 0 on timeout, negative when the stream ends. */
static int
wk_next(struct wk *w, struct frame *f, int ms)
{
	struct pollfd	pfd = { .fd = w->fd, .events = POLLIN };
	int		r;

	for (;;) {
		if ((r = frame_read(&w->rd, f)) != 0)
			return r;
		if (poll(&pfd, 1, ms) == 0)
			return 0;
	}
}

/* Skips to the next frame of type; fails the test if none comes. */
static void
wk_expect(struct wk *w, uint8_t type, struct frame *f)
{
	for (;;) {
		int	r = wk_next(w, f, 10000);

		if (r <= 0)
			fail_msg("wanted a %s frame, got %s", frame_type_name(type),
			    r == 0 ? "nothing in 10 s" : strerror(-r));
		if (f->type == type)
			return;
		if (f->type == FRAME_FAILED)
			fail_msg("worker failed: %s", (char *)f->data);
		free(f->data);
	}
}

/* The servers here are plain programs, not MCP servers: unless a test
 * says otherwise, they are ready by running, at once. */
static void
wk_send_config_as(struct wk *w, const char *run_json,
    const char *sandbox_json, bool plain)
{
	cJSON	*run = cJSON_Parse(run_json);
	char	*config, *run_text;

	assert_non_null(run);
	if (plain && cJSON_GetObjectItem(run, "readiness") == NULL)
		cJSON_AddStringToObject(run, "readiness", "process");
	if (plain && cJSON_GetObjectItem(run, "start_seconds") == NULL)
		cJSON_AddStringToObject(run, "start_seconds", "0");
	assert_non_null(run_text = cJSON_PrintUnformatted(run));
	cJSON_Delete(run);
	assert_true(asprintf(&config, "{\"server\":\"t\",\"server_dir\":"
	    "\"%s/t\",\"run\":%s,\"sandbox\":%s}", w->dir, run_text,
	    sandbox_json != NULL ? sandbox_json : "{}") > 0);
	free(run_text);
	assert_int_equal(frame_write(&w->wr, FRAME_CONFIG, config,
	    (uint32_t)strlen(config)), 0);
	free(config);
}

static void
wk_send_config(struct wk *w, const char *run_json, const char *sandbox_json)
{
	wk_send_config_as(w, run_json, sandbox_json, true);
}

/* Waits for the worker to exit; returns its exit status. */
static int
wk_wait(struct wk *w)
{
	int	status;

	for (int i = 0; i < 1000; i++) {
		if (waitpid(w->pid, &status, WNOHANG) == w->pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
		usleep(10000);
	}
	kill(w->pid, SIGKILL);
	fail_msg("worker did not exit");
	return -1;
}

static void
wk_end(struct wk *w)
{
	char	cmd[256];

	close(w->fd);
	frame_reader_clear(&w->rd);
	frame_writer_clear(&w->wr);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	assert_int_equal(system(cmd), 0);
}

/* Starts a server through a fresh worker and returns its pid. */
static pid_t
wk_start_server(struct wk *w, const char *run, const char *sandbox)
{
	struct frame	f;
	pid_t		pid;

	wk_start(w);
	wk_expect(w, FRAME_HELLO, &f);
	assert_int_equal(frame_get_u32(f.data), (uint32_t)w->pid);
	free(f.data);
	wk_send_config(w, run, sandbox);
	wk_expect(w, FRAME_SANDBOX, &f);
	free(f.data);
	wk_expect(w, FRAME_STARTED, &f);
	pid = (pid_t)frame_get_u32(f.data);
	free(f.data);
	return pid;
}

static void
wk_stop(struct wk *w)
{
	struct frame	f;

	assert_int_equal(frame_write(&w->wr, FRAME_STOP, NULL, 0), 0);
	wk_expect(w, FRAME_EXITED, &f);
	free(f.data);
	assert_int_equal(wk_wait(w), 0);
}

/* The value of "Key:" in /proc/pid/status, as text. */
static void
proc_status(pid_t pid, const char *key, char *out, size_t size)
{
	char	path[64], line[256];
	FILE	*fp;
	size_t	klen = strlen(key);

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	assert_non_null(fp = fopen(path, "r"));
	out[0] = '\0';
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			snprintf(out, size, "%s", line + klen + 1 +
			    strspn(line + klen + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
		}
	fclose(fp);
}

static void
wait_for_file(const char *path, char *buf, size_t size)
{
	for (int i = 0; i < 500; i++) {
		FILE	*fp = fopen(path, "r");

		if (fp != NULL) {
			size_t	n = fread(buf, 1, size - 1, fp);

			fclose(fp);
			buf[n] = '\0';
			if (n > 0 && buf[n - 1] == '\n')
				return;
		}
		usleep(10000);
	}
	fail_msg("%s never appeared", path);
}

static void
test_sandbox_in_the_server(void **state)
{
	struct wk	w;
	char		v[128];
	pid_t		pid;

	(void)state;
	pid = wk_start_server(&w, "{\"command\":\"sleep\",\"args\":[\"100\"]}",
	    "{\"rlimits\":{\"nofile\":77}}");
	proc_status(pid, "NoNewPrivs", v, sizeof(v));
	assert_string_equal(v, "1");
	proc_status(pid, "CapEff", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	proc_status(pid, "CapPrm", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	proc_status(pid, "CapAmb", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	if (geteuid() == 0) {
		/* a root server cannot regain what the bounding set lost */
		proc_status(pid, "CapBnd", v, sizeof(v));
		assert_string_equal(v, "0000000000000000");
	}
	{
		char	path[64], line[256];
		FILE	*fp;
		int	found = 0;

		snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
		assert_non_null(fp = fopen(path, "r"));
		while (fgets(line, sizeof(line), fp) != NULL)
			if (strncmp(line, "Max open files", 14) == 0)
				found = strstr(line, " 77 ") != NULL;
		fclose(fp);
		assert_true(found);
	}
	/* its own process group, not the worker's */
	assert_int_equal(getpgid(pid), pid);
	wk_stop(&w);
	assert_int_equal(kill(pid, 0), -1);
	wk_end(&w);
}

static void
test_capability_kept(void **state)
{
	struct wk	w;
	char		v[128];
	pid_t		pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	pid = wk_start_server(&w, "{\"command\":\"sleep\",\"args\":[\"100\"],"
	    "\"user\":\"nobody\"}",
	    "{\"capabilities\":[\"CAP_NET_BIND_SERVICE\"]}");
	proc_status(pid, "Uid", v, sizeof(v));
	assert_int_equal(atoi(v), 65534);
	/* bit 10 is CAP_NET_BIND_SERVICE */
	proc_status(pid, "CapEff", v, sizeof(v));
	assert_string_equal(v, "0000000000000400");
	proc_status(pid, "CapAmb", v, sizeof(v));
	assert_string_equal(v, "0000000000000400");
	proc_status(pid, "CapBnd", v, sizeof(v));
	assert_string_equal(v, "0000000000000400");
	wk_stop(&w);
	wk_end(&w);
}

static int
listen_loopback(int *port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET };
	socklen_t		len = sizeof(sin);
	int			s = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(s, 8), 0);
	getsockname(s, (struct sockaddr *)&sin, &len);
	*port = ntohs(sin.sin_port);
	return s;
}

static void
probe_network(const char *sandbox, const char *want)
{
	struct wk	w;
	struct frame	f;
	char		run[512], path[256], got[64];
	int		port, s = listen_loopback(&port);

	wk_start(&w);
	wk_expect(&w, FRAME_HELLO, &f);
	free(f.data);
	/* the probe's answer lands in the working directory, ours */
	snprintf(run, sizeof(run), "{\"command\":\"bash\",\"args\":[\"-c\","
	    "\"if exec 5<>/dev/tcp/127.0.0.1/%d; then echo connected; else "
	    "echo refused; fi > probe; exec sleep 100\"],"
	    "\"working_directory\":\"%s\"}", port, w.dir);
	wk_send_config(&w, run, sandbox);
	wk_expect(&w, FRAME_STARTED, &f);
	free(f.data);
	snprintf(path, sizeof(path), "%s/probe", w.dir);
	wait_for_file(path, got, sizeof(got));
	assert_string_equal(got, want);
	wk_stop(&w);
	wk_end(&w);
	close(s);
}

static void
test_network_none_cannot_reach_the_host(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	probe_network("{\"network\":\"host\"}", "connected\n");
	probe_network("{\"network\":\"none\"}", "refused\n");
}

static void
test_exec_failure_reported(void **state)
{
	struct wk	 w;
	struct frame	 f;
	cJSON		*o;

	(void)state;
	wk_start(&w);
	wk_expect(&w, FRAME_HELLO, &f);
	free(f.data);
	wk_send_config(&w, "{\"command\":\"/nonexistent/server\"}", NULL);
	wk_expect(&w, FRAME_FAILED, &f);
	o = cJSON_Parse((char *)f.data);
	assert_string_equal(cJSON_GetObjectItem(o, "stage")->valuestring,
	    "exec");
	assert_string_equal(cJSON_GetObjectItem(o, "errno")->valuestring,
	    "No such file or directory");
	cJSON_Delete(o);
	free(f.data);
	assert_int_equal(wk_wait(&w), 111);
	wk_end(&w);
}

static void
test_bad_config_fails_closed(void **state)
{
	struct wk	 w;
	struct frame	 f;

	(void)state;
	wk_start(&w);
	wk_expect(&w, FRAME_HELLO, &f);
	free(f.data);
	wk_send_config(&w, "{\"command\":\"sleep\",\"user\":\"no-such-user\"}",
	    NULL);
	wk_expect(&w, FRAME_FAILED, &f);
	assert_non_null(strstr((char *)f.data, "no user 'no-such-user'"));
	free(f.data);
	/* and no server was ever started */
	while (wk_next(&w, &f, 2000) == 1) {
		assert_int_not_equal(f.type, FRAME_STARTED);
		free(f.data);
	}
	assert_int_equal(wk_wait(&w), 100);
	wk_end(&w);
}

static void
test_output_and_environment(void **state)
{
	struct wk	w;
	struct frame	f;
	char		path[256], got[4096];

	(void)state;
	wk_start_server(&w, "{\"command\":\"sh\",\"args\":[\"-c\","
	    "\"echo out; echo err >&2; env | sort >&2; echo end >&2\"],"
	    "\"transport\":\"http\",\"port\":1,"
	    "\"environment\":{\"GREETING\":\"hello\",\"N\":42}}", NULL);
	wk_expect(&w, FRAME_EXITED, &f);
	free(f.data);
	assert_int_equal(wk_wait(&w), 0);
	snprintf(path, sizeof(path), "%s/t/output.log", w.dir);
	wait_for_file(path, got, sizeof(got));
	assert_non_null(strstr(got, "out\n"));
	assert_non_null(strstr(got, "err\n"));
	assert_non_null(strstr(got, "GREETING=hello\n"));
	assert_non_null(strstr(got, "N=42\n"));
	assert_non_null(strstr(got, "PATH="));
	/* nothing of the worker's own environment leaks through */
	assert_null(strstr(got, "SECRET_OF_THE_ROOT"));
	wk_end(&w);
}

static void
test_readiness_fd_and_notify(void **state)
{
	struct wk	w;
	struct frame	f;
	uint64_t	t0;
	struct timespec	ts;

	(void)state;
	wk_start_server(&w, "{\"command\":\"bash\",\"args\":[\"-c\","
	    "\"sleep 0.3; echo >&5; exec sleep 100\"],"
	    "\"readiness\":\"fd\",\"readiness_fd\":5}", NULL);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	wk_expect(&w, FRAME_READY, &f);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* not before the server said so */
	assert_true((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec /
	    1000000 - t0 >= 200);
	free(f.data);
	wk_stop(&w);
	wk_end(&w);

	wk_start_server(&w, "{\"command\":\"python3\",\"args\":[\"-c\","
	    "\"import os,socket,time\\n"
	    "s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\\n"
	    "s.sendto(b'STATUS=warming\\\\nREADY=1',os.environ['NOTIFY_SOCKET'])\\n"
	    "time.sleep(100)\"],\"readiness\":\"notify\"}", NULL);
	wk_expect(&w, FRAME_READY, &f);
	free(f.data);
	wk_stop(&w);
	wk_end(&w);
}

static void
test_restart_then_crash_loop(void **state)
{
	struct wk	 w;
	struct frame	 f;
	int		 started = 1, exited = 0;
	cJSON		*o;

	(void)state;
	wk_start_server(&w, "{\"command\":\"sh\",\"args\":[\"-c\","
	    "\"sleep 0.1; exit 3\"],\"restart\":\"on-failure\","
	    "\"restart_delay_ms\":10,\"max_deaths\":3}", NULL);
	for (;;) {
		assert_int_equal(wk_next(&w, &f, 10000), 1);
		if (f.type == FRAME_FAILED)
			break;
		if (f.type == FRAME_STARTED)
			started++;
		if (f.type == FRAME_EXITED) {
			assert_int_equal(frame_get_u32(f.data), 0);
			assert_int_equal(frame_get_u32(f.data + 4), 3);
			exited++;
		}
		free(f.data);
	}
	o = cJSON_Parse((char *)f.data);
	assert_string_equal(cJSON_GetObjectItem(o, "stage")->valuestring,
	    "crash-loop");
	cJSON_Delete(o);
	free(f.data);
	assert_int_equal(exited, 3);
	assert_int_equal(started, 3);
	assert_int_equal(wk_wait(&w), 111);
	wk_end(&w);
}

/* restart: never: the end is said (FINISHED, as EXITED) before the
 * worker exits 0, so that the root does not count it a crash */
static void
test_an_end_its_policy_allows_is_said(void **state)
{
	struct wk	 w;
	struct frame	 f;

	(void)state;
	wk_start_server(&w, "{\"command\":\"sh\",\"args\":[\"-c\","
	    "\"sleep 0.2; exit 3\"],\"restart\":\"never\"}", NULL);
	wk_expect(&w, FRAME_EXITED, &f);
	free(f.data);
	wk_expect(&w, FRAME_FINISHED, &f);
	assert_int_equal(frame_get_u32(f.data), 0);
	assert_int_equal(frame_get_u32(f.data + 4), 3);
	free(f.data);
	assert_int_equal(wk_wait(&w), 0);
	wk_end(&w);
}

/* The pid written in dir/name by the server, once it is there. */
static pid_t
pid_in(const char *dir, const char *name)
{
	char	path[256], buf[32];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	wait_for_file(path, buf, sizeof(buf));
	return (pid_t)atoi(buf);
}

static int
gone_within(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (kill(pid, 0) == -1 && errno == ESRCH)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Waits until pid has become the program named comm (an exec done). */
static void
becomes(pid_t pid, const char *comm)
{
	char	path[64], name[32];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	for (int i = 0; i < 500; i++) {
		FILE	*fp = fopen(path, "r");

		name[0] = '\0';
		if (fp != NULL) {
			if (fgets(name, sizeof(name), fp) == NULL)
				name[0] = '\0';
			fclose(fp);
		}
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, comm) == 0)
			return;
		usleep(10000);
	}
	fail_msg("pid %d never became %s", (int)pid, comm);
}

/* Descendants that left the server's process group with setsid(), and
 * a child of theirs that is reparented only once they die: none
 * outlives the server's exit (while the worker restarts it) or the
 * worker. */
static void
test_setsid_descendants_are_swept(void **state)
{
	struct wk	 w;
	struct frame	 f;
	char		 run[1024];
	uint8_t		 sig[4];
	pid_t		 child, grandchild;

	(void)state;
	wk_start(&w);
	wk_expect(&w, FRAME_HELLO, &f);
	free(f.data);
	/* the server ends once its setsid'd grandchild is there (not after
	 * a while, which a loaded machine may not give the grandchild) */
	snprintf(run, sizeof(run), "{\"command\":\"sh\",\"args\":[\"-c\","
	    "\"[ -e %s/c ] && exec sleep 300; setsid sh -c 'sleep 300 & "
	    "echo $! > %s/gc; wait' & echo $! > %s/c; until [ -s %s/gc ]; "
	    "do sleep 0.01; done; exit 0\"],"
	    "\"restart\":\"always\",\"restart_delay_ms\":10}", w.dir, w.dir,
	    w.dir, w.dir);
	wk_send_config(&w, run, NULL);
	child = pid_in(w.dir, "c");
	grandchild = pid_in(w.dir, "gc");
	wk_expect(&w, FRAME_EXITED, &f);
	free(f.data);
	wk_expect(&w, FRAME_STARTED, &f);
	/* the restarted server has seen c (else it would write c while
	 * the kill below swept the grandchild that was to write gc) */
	becomes((pid_t)frame_get_u32(f.data), "sleep");
	free(f.data);
	assert_true(gone_within(child, 2000));
	assert_true(gone_within(grandchild, 2000));

	/* and once more, with the worker stopping */
	snprintf(run, sizeof(run), "%s/c", w.dir);
	assert_int_equal(unlink(run), 0);
	snprintf(run, sizeof(run), "%s/gc", w.dir);
	assert_int_equal(unlink(run), 0);
	frame_put_u32(sig, SIGKILL);
	assert_int_equal(frame_write(&w.wr, FRAME_SIGNAL, sig, 4), 0);
	child = pid_in(w.dir, "c");
	grandchild = pid_in(w.dir, "gc");
	assert_int_equal(frame_write(&w.wr, FRAME_STOP, NULL, 0), 0);
	assert_int_equal(wk_wait(&w), 0);
	assert_true(gone_within(child, 2000));
	assert_true(gone_within(grandchild, 2000));
	wk_end(&w);
}

static void
test_stop_escalates_to_kill(void **state)
{
	struct wk	w;
	struct frame	f;
	pid_t		pid;

	(void)state;
	pid = wk_start_server(&w, "{\"command\":\"sh\",\"args\":[\"-c\","
	    "\"trap '' TERM; while :; do sleep 0.05; done\"],"
	    "\"stop_timeout_seconds\":1}", NULL);
	usleep(100000);
	assert_int_equal(frame_write(&w.wr, FRAME_STOP, NULL, 0), 0);
	wk_expect(&w, FRAME_EXITED, &f);
	assert_int_equal(frame_get_u32(f.data), 1);
	assert_int_equal(frame_get_u32(f.data + 4), SIGKILL);
	free(f.data);
	assert_int_equal(wk_wait(&w), 0);
	/* the whole group went: no sleep is left behind (once reaped) */
	for (int i = 0; i < 100 && kill(-pid, 0) == 0; i++)
		usleep(10000);
	assert_int_equal(kill(-pid, 0), -1);
	wk_end(&w);
}

/* Ready by running means running for start_seconds: a server that
 * exits before then has failed its start, and says nothing of ready. */
static void
test_start_seconds_before_ready(void **state)
{
	struct wk	w;
	struct frame	f;
	struct timespec	t0, t1;
	int		r;

	(void)state;
	wk_start(&w);
	wk_expect(&w, FRAME_HELLO, &f);
	free(f.data);
	wk_send_config_as(&w, "{\"command\":\"sh\",\"args\":[\"-c\","
	    "\"exit 3\"],\"readiness\":\"process\",\"start_seconds\":\"1\"}",
	    NULL, false);
	wk_expect(&w, FRAME_STARTED, &f);
	free(f.data);
	while ((r = wk_next(&w, &f, 5000)) > 0 && f.type != FRAME_EXITED) {
		assert_int_not_equal(f.type, FRAME_READY);
		free(f.data);
	}
	assert_int_equal(r, 1);
	assert_int_equal(frame_get_u32(f.data + 4), 3);
	free(f.data);
	while ((r = wk_next(&w, &f, 2000)) > 0) {
		assert_int_not_equal(f.type, FRAME_READY);
		free(f.data);
	}
	assert_int_equal(wk_wait(&w), 111);
	wk_end(&w);

	/* one that stays up is ready, after start_seconds and not before */
	wk_start(&w);
	wk_expect(&w, FRAME_HELLO, &f);
	free(f.data);
	wk_send_config_as(&w, "{\"command\":\"sleep\",\"args\":[\"100\"],"
	    "\"readiness\":\"process\",\"start_seconds\":\"1\"}", NULL, false);
	wk_expect(&w, FRAME_STARTED, &f);
	free(f.data);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	wk_expect(&w, FRAME_READY, &f);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(f.data);
	assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000 >= 900);
	wk_stop(&w);
	wk_end(&w);
}

/* A stdio server, by default, is ready when it answers initialize. */
static const char mcp_responder[] =
    "import sys, json\n"
    "for line in sys.stdin:\n"
    "    m = json.loads(line)\n"
    "    if 'id' not in m: continue\n"
    "    r = {}\n"
    "    if m['method'] == 'initialize':\n"
    "        r = {'protocolVersion': m['params']['protocolVersion'],\n"
    "             'capabilities': {}, 'serverInfo': {'name': 'responder',\n"
    "             'version': '1'}}\n"
    "    print(json.dumps({'jsonrpc': '2.0', 'id': m['id'], 'result': r}),\n"
    "          flush=True)\n";

static void
test_stdio_ready_by_its_handshake(void **state)
{
	char		 script[] = "/tmp/mcpvisor-responder.XXXXXX", run[256];
	struct wk	 w;
	struct frame	 f;
	cJSON		*o;
	int		 fd, r;
	bool		 handshake_seen = false;

	(void)state;
	assert_true((fd = mkstemp(script)) >= 0);
	assert_int_equal(write(fd, mcp_responder, strlen(mcp_responder)),
	    (ssize_t)strlen(mcp_responder));
	close(fd);
	snprintf(run, sizeof(run), "{\"command\":\"python3\",\"args\":"
	    "[\"%s\"]}", script);
	wk_start(&w);
	wk_expect(&w, FRAME_HELLO, &f);
	free(f.data);
	wk_send_config_as(&w, run, NULL, false);
	while ((r = wk_next(&w, &f, 10000)) > 0 && f.type != FRAME_READY) {
		assert_int_not_equal(f.type, FRAME_FAILED);
		if (f.type == FRAME_HEALTH) {
			assert_non_null(o = cJSON_ParseWithLength(
			    (const char *)f.data, f.len));
			handshake_seen |= strcmp(cJSON_GetStringValue(
			    cJSON_GetObjectItem(o, "check")),
			    "mcp-handshake") == 0 && cJSON_IsTrue(
			    cJSON_GetObjectItem(o, "healthy"));
			cJSON_Delete(o);
		}
		free(f.data);
	}
	assert_int_equal(r, 1);
	free(f.data);
	assert_true(handshake_seen);
	wk_stop(&w);
	wk_end(&w);

	/* a plain program in its place is not ready: it failed, and the
	 * failure says what readiness it was held to */
	wk_start(&w);
	wk_expect(&w, FRAME_HELLO, &f);
	free(f.data);
	wk_send_config_as(&w, "{\"command\":\"sh\",\"args\":[\"-c\","
	    "\"read x; echo hello; exec sleep 100\"]}", NULL, false);
	while ((r = wk_next(&w, &f, 10000)) > 0 && f.type != FRAME_FAILED) {
		assert_int_not_equal(f.type, FRAME_READY);
		free(f.data);
	}
	assert_int_equal(r, 1);
	assert_non_null(strstr((const char *)f.data, "run.readiness: process"));
	free(f.data);
	assert_int_equal(wk_wait(&w), 111);
	wk_end(&w);
	unlink(script);
}

/* A task (a hook): its lines reach the root as FRAME_OUTPUT, its
 * secrets masked, a long line cut, and how it ended after them. */
static void
test_task_output_reaches_the_root(void **state)
{
	struct wk	 w;
	struct frame	 f;
	char		*config;
	char		 lines[4096] = "";
	int		 r;

	(void)state;
	wk_start(&w);
	wk_expect(&w, FRAME_HELLO, &f);
	free(f.data);
	assert_true(asprintf(&config, "{\"task\":\"hook t\",\"run\":"
	    "{\"command\":\"sh\",\"args\":[\"-c\",\"echo first; "
	    "echo token=sekrit-value-42 >&2; head -c 3000 /dev/zero | "
	    "tr '\\\\0' x; echo; printf unterminated\"],"
	    "\"working_directory\":\"/\"},\"mask\":[\"sekrit-value-42\"],"
	    "\"stdin\":\"\"}") > 0);
	assert_int_equal(frame_write(&w.wr, FRAME_CONFIG, config,
	    (uint32_t)strlen(config)), 0);
	free(config);
	while ((r = wk_next(&w, &f, 10000)) > 0 && f.type != FRAME_EXITED) {
		if (f.type == FRAME_OUTPUT) {
			assert_true(f.len < 1024);
			strncat(lines, (const char *)f.data, sizeof(lines) -
			    strlen(lines) - 2);
			strcat(lines, "|");
		}
		free(f.data);
	}
	assert_int_equal(r, 1);
	assert_int_equal(frame_get_u32(f.data + 4), 0);
	free(f.data);
	assert_non_null(strstr(lines, "first|token=***************|xxx"));
	assert_non_null(strstr(lines, "xxx...|unterminated|"));
	assert_null(strstr(lines, "sekrit"));
	assert_int_equal(wk_wait(&w), 0);
	wk_end(&w);
}

static void
test_lost_root_stops_the_server(void **state)
{
	struct wk	w;
	pid_t		pid;

	(void)state;
	pid = wk_start_server(&w, "{\"command\":\"sleep\",\"args\":[\"100\"]}",
	    NULL);
	close(w.fd);
	w.fd = open("/dev/null", O_RDONLY);
	assert_int_equal(wk_wait(&w), 0);
	for (int i = 0; i < 100 && kill(pid, 0) == 0; i++)
		usleep(10000);
	assert_int_equal(kill(pid, 0), -1);
	wk_end(&w);
}

static void
test_protocol_violation_by_root(void **state)
{
	struct wk	w;
	pid_t		pid;

	(void)state;
	pid = wk_start_server(&w, "{\"command\":\"sleep\",\"args\":[\"100\"]}",
	    NULL);
	/* a frame type the root never sends */
	assert_int_equal(write(w.fd, "MV\1\1\0\0\0\4abcd", 12), 12);
	assert_int_equal(wk_wait(&w), 0);
	assert_int_equal(kill(pid, 0), -1);
	wk_end(&w);
}

static void
test_not_started_by_root(void **state)
{
	int	status;
	pid_t	pid;

	(void)state;
	if ((pid = fork()) == 0) {
		close(3);
		int fd = open("/dev/null", O_RDONLY);
		if (fd != 3)
			dup2(fd, 3);
		execl(worker_path(), "mcpvisor-worker", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sandbox_in_the_server),
		cmocka_unit_test(test_capability_kept),
		cmocka_unit_test(test_network_none_cannot_reach_the_host),
		cmocka_unit_test(test_exec_failure_reported),
		cmocka_unit_test(test_bad_config_fails_closed),
		cmocka_unit_test(test_output_and_environment),
		cmocka_unit_test(test_readiness_fd_and_notify),
		cmocka_unit_test(test_start_seconds_before_ready),
		cmocka_unit_test(test_stdio_ready_by_its_handshake),
		cmocka_unit_test(test_task_output_reaches_the_root),
		cmocka_unit_test(test_restart_then_crash_loop),
		cmocka_unit_test(test_an_end_its_policy_allows_is_said),
		cmocka_unit_test(test_setsid_descendants_are_swept),
		cmocka_unit_test(test_stop_escalates_to_kill),
		cmocka_unit_test(test_lost_root_stops_the_server),
		cmocka_unit_test(test_protocol_violation_by_root),
		cmocka_unit_test(test_not_started_by_root),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
