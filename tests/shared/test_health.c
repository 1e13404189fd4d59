/*
 * The health engine against real peers on loopback: nginx and redis
 * started by the test, the npm MCP reference servers over stdio and
 * Streamable HTTP, real programs and a real plugin, and small servers of
 * our own for the bad cases (garbage, silence, a close mid-answer, a
 * 100 MB line).
 */
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "errbuf.h"
#include "health.h"
#include "loop.h"
#include "testutil.h"

#define MAX_CHECKS	8

struct outcome {
	bool		done;
	bool		healthy;
	unsigned	attempts;
	unsigned	consecutive;
	double		response_ms;
	double		at_ms;		/* since the run began */
	char		message[512];
	char		details[4096];
	unsigned	results;
};

struct harness {
	struct health	*h;
	struct loop	 loop;
	struct watcher	 sigw;
	uint64_t	 began_us;
	struct outcome	 out[MAX_CHECKS];
};

static int	sigfd = -1;
static char	*tmp;

static uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
on_done(void *arg, size_t i, const struct health_result *r)
{
	struct harness	*t = arg;
	struct outcome	*o = &t->out[i];
	char		*d = r->details != NULL ?
			    cJSON_PrintUnformatted(r->details) : NULL;

	o->done = true;
	o->healthy = r->healthy;
	o->attempts = r->attempts;
	o->consecutive = r->consecutive_failures;
	o->response_ms = r->response_ms;
	o->at_ms = (double)(now_us() - t->began_us) / 1000.0;
	o->results++;
	snprintf(o->message, sizeof(o->message), "%s", r->message);
	snprintf(o->details, sizeof(o->details), "%s", d != NULL ? d : "");
	free(d);
}

static void
on_sigchld(struct watcher *w, uint32_t events)
{
	struct harness		*t = (struct harness *)(void *)((char *)w -
				    offsetof(struct harness, sigw));
	struct signalfd_siginfo	 si;
	int			 status;
	pid_t			 pid;

	(void)events;
	while (read(w->fd, &si, sizeof(si)) > 0)
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		health_child_exited(t->h, pid, status);
}

static void
harness_init(struct harness *t)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(loop_init(&t->loop), 0);
	t->sigw = (struct watcher){ sigfd, on_sigchld };
	assert_int_equal(loop_add(&t->loop, &t->sigw, EPOLLIN), 0);
	assert_non_null(t->h = health_new(&t->loop, on_done, t));
}

static size_t
add(struct harness *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Adds a check written as JSON. */
static size_t
add(struct harness *t, const char *fmt, ...)
{
	struct errbuf	 err = { "" };
	char		*text;
	cJSON		*j;
	va_list		 ap;
	int		 r;

	va_start(ap, fmt);
	assert_true(vasprintf(&text, fmt, ap) != -1);
	va_end(ap);
	if ((j = cJSON_Parse(text)) == NULL)
		fail_msg("bad test JSON: %s", text);
	if ((r = health_add(t->h, j, &err)) < 0)
		fail_msg("health_add: %s", err.msg);
	cJSON_Delete(j);
	free(text);
	return (size_t)r;
}

/* Runs the loop until every listed check has a result (or n results
 * for liveness), failing after limit_ms. */
static void
pump_until(struct harness *t, unsigned limit_ms, bool (*enough)(struct
    harness *, void *), void *arg)
{
	uint64_t	end = now_us() + (uint64_t)limit_ms * 1000;

	while (!enough(t, arg)) {
		if (now_us() > end)
			fail_msg("no result within %u ms", limit_ms);
		assert_int_equal(loop_once(&t->loop, 100), 0);
	}
}

static bool
all_done(struct harness *t, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < health_count(t->h); i++)
		if (!t->out[i].done)
			return false;
	return true;
}

static bool
one_done(struct harness *t, void *arg)
{
	return t->out[*(size_t *)arg].done;
}

static void
run_all(struct harness *t, unsigned limit_ms)
{
	t->began_us = now_us();
	for (size_t i = 0; i < health_count(t->h); i++)
		assert_int_equal(health_run(t->h, i, HEALTH_READINESS), 0);
	pump_until(t, limit_ms, all_done, NULL);
}

static void
harness_free(struct harness *t)
{
	health_free(t->h);
	loop_del(&t->loop, &t->sigw);
	loop_free(&t->loop);
}

#define expect_result(t, i, healthy_, fragment) do {			\
	if ((t)->out[i].healthy != (healthy_) ||			\
	    strstr((t)->out[i].message, (fragment)) == NULL)		\
		fail_msg("check %zu: %s: '%s' (wanted %s with '%s')",	\
		    (size_t)(i), (t)->out[i].healthy ? "healthy" :	\
		    "unhealthy", (t)->out[i].message, (healthy_) ?	\
		    "healthy" : "unhealthy", (fragment));		\
} while (0)

/* --- peers --- */

/* A loopback port nothing listens on (bound and released). */
static int
free_port(void)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t		len = sizeof(sin);
	int			fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

/* A listening socket on loopback; its port in *port. */
static int
listen_any(int *port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t		len = sizeof(sin);
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
				    0);

	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static bool
port_open(int port)
{
	struct sockaddr_in	sin = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				    .sin_port = htons((uint16_t)port) };
	int			fd = socket(AF_INET, SOCK_STREAM, 0);
	bool			ok = connect(fd, (struct sockaddr *)&sin,
				    sizeof(sin)) == 0;

	close(fd);
	return ok;
}

static void
wait_port(int port, const char *what)
{
	for (int i = 0; i < 200; i++) {
		if (port_open(port))
			return;
		usleep(50000);
	}
	fail_msg("%s did not listen on %d", what, port);
}

static pid_t
start(char *const argv[], const char *env)
{
	pid_t	pid = fork();

	if (pid == 0) {
		sigset_t	none;
		int		null = open("/dev/null", O_RDWR);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (env != NULL)
			putenv((char *)env);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void
stop(pid_t pid)
{
	int	status;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

static const char *
find_program(const char *name)
{
	static const char *const dirs[] = { "/usr/sbin", "/usr/bin",
	    "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin" };
	static char	path[256];

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if (access(path, X_OK) == 0)
			return path;
	}
	fail_msg("%s is not installed: bash deploy/install-deps.sh", name);
	return NULL;
}

/* nginx with /health (200 "healthy"), /down (503) and /slow (never
 * answers before 30 s). */
static pid_t
start_nginx(int *port)
{
	char	*conf, *text, *prefix;
	pid_t	 pid;

	*port = free_port();
	assert_true(asprintf(&prefix, "%s/nginx", tmp) != -1);
	mkdir(prefix, 0755);
	assert_true(asprintf(&text,
	    "daemon off;\n"
	    "pid %s/nginx.pid;\n"
	    "error_log %s/error.log;\n"
	    "events { worker_connections 512; }\n"
	    "http {\n"
	    "  access_log off;\n"
	    "  client_body_temp_path %s/body;\n"
	    "  proxy_temp_path %s/proxy;\n"
	    "  fastcgi_temp_path %s/fastcgi;\n"
	    "  uwsgi_temp_path %s/uwsgi;\n"
	    "  scgi_temp_path %s/scgi;\n"
	    "  server {\n"
	    "    listen 127.0.0.1:%d;\n"
	    "    location = /health { return 200 \"healthy\\n\"; }\n"
	    "    location = /down { return 503 \"unhealthy\\n\"; }\n"
	    "    location = /redirect { return 302 /health; }\n"
	    "  }\n"
	    "}\n", prefix, prefix, prefix, prefix, prefix, prefix, prefix,
	    *port) != -1);
	conf = tu_write(tmp, "nginx.conf", text);
	{
		char	*argv[] = { (char *)find_program("nginx"), "-c", conf,
		    "-p", prefix, NULL };

		pid = start(argv, NULL);
	}
	wait_port(*port, "nginx");
	free(text);
	free(conf);
	free(prefix);
	return pid;
}

static pid_t
start_redis(int *port)
{
	char	 p[16];
	char	*argv[] = { (char *)find_program("redis-server"), "--port", p,
		    "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		    "--dir", tmp, NULL };
	pid_t	 pid;

	*port = free_port();
	snprintf(p, sizeof(p), "%d", *port);
	pid = start(argv, NULL);
	wait_port(*port, "redis");
	return pid;
}

/* A server of our own that answers each connection with reply (and then
 * closes), until killed. */
static pid_t
start_replier(int *port, const char *reply)
{
	int	fd = listen_any(port);
	pid_t	pid = fork();

	if (pid == 0) {
		for (;;) {
			int	c = accept(fd, NULL, NULL);
			char	buf[4096];

			if (c == -1)
				continue;
			(void)!read(c, buf, sizeof(buf));
			(void)!write(c, reply, strlen(reply));
			close(c);
		}
	}
	close(fd);
	return pid;
}

/* --- http and tcp --- */

static void
test_http_against_nginx(void **state)
{
	struct harness	t;
	int		port;
	pid_t		nginx;

	(void)state;
	nginx = start_nginx(&port);
	harness_init(&t);
	add(&t, "{\"name\":\"ok\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/health\","
	    "\"expected_status\":[200],\"expected_body\":\"healthy\"}}", port);
	add(&t, "{\"name\":\"down\",\"type\":\"http\",\"retry_attempts\":1,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/down\"}}", port);
	add(&t, "{\"name\":\"body\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/health\","
	    "\"expected_body\":\"ready\"}}", port);
	add(&t, "{\"name\":\"regex\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/health\","
	    "\"expected_body_regex\":\"^heal+thy$\"}}", port);
	add(&t, "{\"name\":\"redirect\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/redirect\","
	    "\"follow_redirects\":true}}", port);
	add(&t, "{\"name\":\"head\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/health\","
	    "\"method\":\"HEAD\",\"headers\":{\"X-Probe\":\"mcpvisor\"}}}",
	    port);
	run_all(&t, 10000);
	expect_result(&t, 0, true, "HTTP 200");
	assert_true(t.out[0].response_ms > 0 && t.out[0].response_ms < 1000);
	assert_non_null(strstr(t.out[0].details, "\"status\":200"));
	expect_result(&t, 1, false, "HTTP 503 (expected 200)");
	assert_int_equal(t.out[1].attempts, 2);
	expect_result(&t, 2, false, "does not contain 'ready'");
	expect_result(&t, 3, true, "HTTP 200");
	expect_result(&t, 4, true, "HTTP 200");
	expect_result(&t, 5, true, "HTTP 200");
	harness_free(&t);
	stop(nginx);
}

static void
test_http_bad_peers_fail_within_their_timeout(void **state)
{
	struct harness	t;
	int		silent_port, garbage_port, cut_port, closed_port;
	int		silent = listen_any(&silent_port);
	pid_t		garbage, cut;

	(void)state;
	garbage = start_replier(&garbage_port, "\x01\x02garbage\r\n\r\n");
	cut = start_replier(&cut_port, "HTTP/1.1 200 OK\r\nContent-Length: "
	    "100\r\n\r\nhea");
	closed_port = free_port();
	harness_init(&t);
	add(&t, "{\"name\":\"refused\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/health\"}}",
	    closed_port);
	/* connects (the backlog holds it) and never hears a word */
	add(&t, "{\"name\":\"silent\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"timeout_seconds\":1,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/health\"}}",
	    silent_port);
	add(&t, "{\"name\":\"garbage\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/\"}}", garbage_port);
	add(&t, "{\"name\":\"cut\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"config\":{\"url\":\"http://127.0.0.1:%d/\"}}", cut_port);
	add(&t, "{\"name\":\"tls\",\"type\":\"http\",\"retry_attempts\":0,"
	    "\"config\":{\"url\":\"https://127.0.0.1:%d/\"}}", garbage_port);
	run_all(&t, 5000);
	/* the guide's words */
	expect_result(&t, 0, false, "Connection refused");
	expect_result(&t, 1, false, "no answer within 1000 ms");
	assert_true(t.out[1].at_ms < 2500);
	assert_false(t.out[2].healthy);
	assert_false(t.out[3].healthy);
	assert_false(t.out[4].healthy);
	harness_free(&t);
	stop(garbage);
	stop(cut);
	close(silent);
}

/* An unreachable host, in a network namespace of the test's own (only
 * loopback, no route): a clear verdict at once, no traffic anywhere. */
static void
test_unreachable_host(void **state)
{
	int	status;
	pid_t	pid;

	(void)state;
	if ((pid = fork()) == 0) {
		struct harness	t;

		if (unshare(CLONE_NEWNET) == -1)
			_exit(77);
		harness_init(&t);
		add(&t, "{\"name\":\"http\",\"type\":\"http\","
		    "\"retry_attempts\":0,\"timeout_seconds\":2,"
		    "\"config\":{\"url\":\"http://10.255.255.1:8080/\"}}");
		add(&t, "{\"name\":\"tcp\",\"type\":\"tcp\","
		    "\"retry_attempts\":0,\"timeout_seconds\":2,"
		    "\"config\":{\"host\":\"10.255.255.1\",\"port\":5432}}");
		run_all(&t, 5000);
		for (size_t i = 0; i < 2; i++)
			if (t.out[i].healthy || strstr(t.out[i].message,
			    "Network is unreachable") == NULL) {
				fprintf(stderr, "check %zu: %s\n", i,
				    t.out[i].message);
				_exit(1);
			}
		harness_free(&t);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		print_message("unshare(CLONE_NEWNET) is not allowed here: "
		    "skipped\n");
		return;
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_tcp_against_redis(void **state)
{
	struct harness	t;
	int		port, closed = free_port();
	pid_t		redis;

	(void)state;
	redis = start_redis(&port);
	harness_init(&t);
	add(&t, "{\"name\":\"redis\",\"type\":\"tcp\",\"retry_attempts\":0,"
	    "\"config\":{\"host\":\"localhost\",\"port\":%d}}", port);
	add(&t, "{\"name\":\"redis-str\",\"type\":\"tcp\",\"retry_attempts\":0,"
	    "\"config\":{\"host\":\"127.0.0.1\",\"port\":\"%d\"}}", port);
	add(&t, "{\"name\":\"closed\",\"type\":\"tcp\",\"retry_attempts\":0,"
	    "\"config\":{\"host\":\"127.0.0.1\",\"port\":%d}}", closed);
	run_all(&t, 5000);
	expect_result(&t, 0, true, "connected in");
	expect_result(&t, 1, true, "connected in");
	expect_result(&t, 2, false, "Connection refused");
	harness_free(&t);
	stop(redis);
}

/* A server that comes up late passes on a later attempt; the pauses
 * between attempts grow. */
static void
test_retries_back_off_until_the_peer_is_up(void **state)
{
	struct harness	t;
	int		port;
	pid_t		redis = 0, late;
	uint64_t	began;
	char		p[16];

	(void)state;
	port = free_port();
	snprintf(p, sizeof(p), "%d", port);
	harness_init(&t);
	add(&t, "{\"name\":\"late\",\"type\":\"tcp\",\"retry_attempts\":5,"
	    "\"config\":{\"host\":\"127.0.0.1\",\"port\":%d}}", port);
	began = now_us();
	assert_int_equal(health_run(t.h, 0, HEALTH_READINESS), 0);
	if ((late = fork()) == 0) {
		char	*argv[] = { (char *)find_program("redis-server"),
			    "--port", p, "--bind", "127.0.0.1", "--save", "",
			    "--dir", tmp, NULL };
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		usleep(900000);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 1);
		dup2(null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	redis = late;
	t.began_us = began;
	pump_until(&t, 15000, all_done, NULL);
	expect_result(&t, 0, true, "connected");
	/* 500 ms +-25%, then 1 s +-25%: the third attempt at the earliest */
	assert_true(t.out[0].attempts >= 2);
	assert_true(t.out[0].at_ms >= 800);
	harness_free(&t);
	stop(redis);
}

/* --- programs and plugins --- */

static void
test_command_checks(void **state)
{
	struct harness	t;

	(void)state;
	harness_init(&t);
	add(&t, "{\"name\":\"true\",\"type\":\"command\",\"retry_attempts\":0,"
	    "\"config\":{\"command\":\"true\"}}");
	add(&t, "{\"name\":\"false\",\"type\":\"command\",\"retry_attempts\":0,"
	    "\"config\":{\"command\":\"sh\",\"args\":[\"-c\","
	    "\"echo broken >&2; exit 3\"]}}");
	add(&t, "{\"name\":\"hang\",\"type\":\"command\",\"retry_attempts\":0,"
	    "\"timeout_seconds\":1,\"config\":{\"command\":\"sleep\","
	    "\"args\":[30]}}");
	add(&t, "{\"name\":\"output\",\"type\":\"command\","
	    "\"retry_attempts\":0,\"config\":{\"command\":\"sh\",\"args\":"
	    "[\"-c\",\"echo $GREETING\"],\"environment\":{\"GREETING\":"
	    "\"pong\"},\"expected_output\":\"pong\"}}");
	add(&t, "{\"name\":\"regex\",\"type\":\"command\",\"retry_attempts\":0,"
	    "\"config\":{\"command\":\"echo\",\"args\":[\"version 1.2\"],"
	    "\"expected_output_regex\":\"^version [0-9]+\\\\.[0-9]+\"}}");
	add(&t, "{\"name\":\"missing\",\"type\":\"command\","
	    "\"retry_attempts\":0,\"config\":{\"command\":"
	    "\"/nonexistent/probe\"}}");
	/* Python's syntax, as the guide's users write it: \d and a lazy
	 * quantifier, on the second line of the output (re.M) */
	add(&t, "{\"name\":\"python_regex\",\"type\":\"command\","
	    "\"retry_attempts\":0,\"config\":{\"command\":\"printf\","
	    "\"args\":[\"boot\\\\nready in 12 ms\\\\n\"],"
	    "\"expected_output_regex\":\"^ready in \\\\d+?\\\\s*ms$\"}}");
	run_all(&t, 5000);
	expect_result(&t, 0, true, "exited with status 0");
	expect_result(&t, 1, false, "exited with status 3: broken");
	expect_result(&t, 2, false, "no answer within 1000 ms");
	expect_result(&t, 3, true, "pong");
	expect_result(&t, 4, true, "version 1.2");
	expect_result(&t, 5, false, "cannot execute /nonexistent/probe");
	expect_result(&t, 6, true, "exited with status 0");
	harness_free(&t);
}

/* A slow check never delays another. */
static void
test_a_slow_check_delays_no_other(void **state)
{
	struct harness	t;
	int		port;
	pid_t		redis;

	(void)state;
	redis = start_redis(&port);
	harness_init(&t);
	add(&t, "{\"name\":\"slow\",\"type\":\"command\",\"retry_attempts\":0,"
	    "\"config\":{\"command\":\"sleep\",\"args\":[2]}}");
	add(&t, "{\"name\":\"quick\",\"type\":\"tcp\",\"retry_attempts\":0,"
	    "\"config\":{\"host\":\"127.0.0.1\",\"port\":%d}}", port);
	add(&t, "{\"name\":\"fs\",\"type\":\"file_system\","
	    "\"config\":{\"path\":\"/tmp\"}}");
	run_all(&t, 10000);
	expect_result(&t, 0, true, "status 0");
	assert_true(t.out[1].at_ms < t.out[0].at_ms);
	assert_true(t.out[2].at_ms < t.out[0].at_ms);
	harness_free(&t);
	stop(redis);
}

static void
test_custom_program_and_plugin(void **state)
{
	const char	*plugin = getenv("MCPVISOR_TEST_PLUGIN");
	char		*good, *bad;
	struct harness	t;

	(void)state;
	assert_non_null(plugin);
	/* the config arrives on stdin; the verdict leaves on stdout */
	good = tu_write(tmp, "good-check", "#!/bin/sh\n"
	    "echo 'checking...'\n"
	    "if grep -q '\"dsn\":\"db://x\"'; then\n"
	    "  echo '{\"status\": \"healthy\", \"message\": \"Database "
	    "connection successful\", \"details\": {\"connections\": 10}}'\n"
	    "else echo '{\"status\": \"unhealthy\", \"message\": \"no dsn\"}'\n"
	    "fi\n");
	bad = tu_write(tmp, "bad-check", "#!/bin/sh\necho oops; exit 2\n");
	chmod(good, 0755);
	chmod(bad, 0755);
	harness_init(&t);
	add(&t, "{\"name\":\"prog\",\"type\":\"custom\",\"retry_attempts\":0,"
	    "\"config\":{\"program\":\"%s\",\"params\":{\"dsn\":\"db://x\"}}}",
	    good);
	add(&t, "{\"name\":\"noverdict\",\"type\":\"custom\","
	    "\"retry_attempts\":0,\"config\":{\"program\":\"%s\"}}", bad);
	add(&t, "{\"name\":\"plug\",\"type\":\"custom\",\"retry_attempts\":0,"
	    "\"config\":{\"plugin\":\"%s\",\"function\":\"database_check\","
	    "\"params\":{\"connections\":7}}}", plugin);
	add(&t, "{\"name\":\"crash\",\"type\":\"custom\",\"retry_attempts\":0,"
	    "\"config\":{\"plugin\":\"%s\",\"function\":\"crashing_check\"}}",
	    plugin);
	add(&t, "{\"name\":\"hang\",\"type\":\"custom\",\"retry_attempts\":0,"
	    "\"timeout_seconds\":1,\"config\":{\"plugin\":\"%s\","
	    "\"function\":\"hanging_check\"}}", plugin);
	add(&t, "{\"name\":\"absent\",\"type\":\"custom\","
	    "\"retry_attempts\":0,\"config\":{\"plugin\":\"%s\","
	    "\"function\":\"no_such_function\"}}", plugin);
	add(&t, "{\"name\":\"noso\",\"type\":\"custom\",\"retry_attempts\":0,"
	    "\"config\":{\"plugin\":\"/nonexistent.so\",\"function\":\"f\"}}");
	run_all(&t, 5000);
	expect_result(&t, 0, true, "Database connection successful");
	assert_string_equal(t.out[0].details, "{\"connections\":10}");
	expect_result(&t, 1, false, "no verdict (exit status 2): oops");
	expect_result(&t, 2, true, "7 connections");
	assert_string_equal(t.out[2].details, "{\"pool\":\"primary\"}");
	expect_result(&t, 3, false, "killed by signal 6");
	expect_result(&t, 4, false, "no answer within 1000 ms");
	expect_result(&t, 5, false, "exports no function 'no_such_function'");
	expect_result(&t, 6, false, "cannot load plugin");
	harness_free(&t);
	free(good);
	free(bad);
}

static bool
failures_reach(struct harness *t, void *arg)
{
	return t->out[0].consecutive >= *(unsigned *)arg;
}

static void
test_file_system_and_liveness(void **state)
{
	struct harness	t;
	char		*dir;
	unsigned	 want = 2;

	(void)state;
	assert_true(asprintf(&dir, "%s/data", tmp) != -1);
	mkdir(dir, 0755);
	harness_init(&t);
	add(&t, "{\"name\":\"data\",\"type\":\"file_system\","
	    "\"interval_seconds\":1,\"failure_threshold\":2,"
	    "\"config\":{\"path\":\"%s\",\"check_readable\":true,"
	    "\"check_writable\":true,\"min_free_space_mb\":1}}", dir);
	add(&t, "{\"name\":\"huge\",\"type\":\"file_system\","
	    "\"retry_attempts\":0,\"config\":{\"path\":\"%s\","
	    "\"min_free_space_mb\":999999999}}", dir);
	run_all(&t, 3000);
	expect_result(&t, 0, true, "MB free");
	expect_result(&t, 1, false, "below 999999999 MB");
	/* liveness: the directory goes; failures count up, one a second */
	health_liveness(t.h, true);
	rmdir(dir);
	pump_until(&t, 6000, failures_reach, &want);
	expect_result(&t, 0, false, "No such file or directory");
	health_liveness(t.h, false);
	harness_free(&t);
	free(dir);
}

/* --- MCP --- */

static char *
npm_bin(const char *name)
{
	const char	*src = getenv("MCPVISOR_SOURCE_DIR");
	char		*path;

	assert_true(asprintf(&path, "%s/deploy/mcp-servers/node_modules/.bin/"
	    "%s", src != NULL ? src : "..", name) != -1);
	if (access(path, X_OK) != 0)
		fail_msg("%s is not installed: bash deploy/install-deps.sh",
		    path);
	return path;
}

struct stdio_child {
	pid_t	pid;
	int	in;
	int	out;
};

static void
spawn_stdio(struct stdio_child *c, char *const argv[], const char *env)
{
	int	in[2], out[2];

	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	if ((c->pid = fork()) == 0) {
		sigset_t	none;
		int		null = open("/dev/null", O_WRONLY);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(null, 2);
		if (env != NULL)
			putenv((char *)env);
		else
			unsetenv("BRAVE_API_KEY");
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	c->in = in[1];
	c->out = out[0];
}

static void
stdio_stop(struct harness *t, struct stdio_child *c)
{
	health_detach_stdio(t->h, "test over");
	close(c->in);
	close(c->out);
	stop(c->pid);
}

static void
test_mcp_stdio_reference_servers(void **state)
{
	static const struct {
		const char	*bin;
		const char	*arg;
		const char	*env;
		const char	*tool;
		const char	*version;
	} cases[] = {
		{ "mcp-server-everything", "stdio", NULL, "get-sum",
		    "2025-11-25" },
		{ "mcp-server-memory", NULL, NULL, "create_entities",
		    "2025-11-25" },
		{ "mcp-server-filesystem", "/tmp", NULL, "read_text_file",
		    "2025-11-25" },
		{ "mcp-server-brave-search", NULL, "BRAVE_API_KEY=test-key",
		    "brave_web_search", "2024-11-05" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct harness		t;
		struct stdio_child	c;
		char			*bin = npm_bin(cases[i].bin);
		char			*argv[] = { bin, (char *)cases[i].arg,
					    NULL };
		char			 version[64];

		harness_init(&t);
		/* two checks share the one session of the process */
		add(&t, "{\"name\":\"ready\",\"type\":\"mcp\","
		    "\"timeout_seconds\":30,\"retry_attempts\":0,"
		    "\"config\":{\"transport\":\"stdio\",\"probe\":\"both\","
		    "\"expected_tools\":[\"%s\"]}}", cases[i].tool);
		add(&t, "{\"name\":\"ping\",\"type\":\"mcp\","
		    "\"timeout_seconds\":30,\"retry_attempts\":0,"
		    "\"config\":{\"probe\":\"ping\"}}");
		add(&t, "{\"name\":\"wrong\",\"type\":\"mcp\","
		    "\"timeout_seconds\":30,\"retry_attempts\":0,"
		    "\"config\":{\"expected_tools\":[\"no-such-tool\"]}}");
		spawn_stdio(&c, argv, cases[i].env);
		health_attach_stdio(t.h, c.in, c.out);
		run_all(&t, 40000);
		snprintf(version, sizeof(version), "MCP %s", cases[i].version);
		expect_result(&t, 0, true, version);
		expect_result(&t, 1, true, version);
		expect_result(&t, 2, false, "lists no tool 'no-such-tool'");
		assert_non_null(strstr(t.out[0].details, cases[i].tool));
		/* the same session answers a liveness probe */
		size_t	one = 1;

		memset(t.out, 0, sizeof(t.out));
		assert_int_equal(health_run(t.h, 1, HEALTH_LIVENESS), 0);
		t.began_us = now_us();
		pump_until(&t, 10000, one_done, &one);
		expect_result(&t, 1, true, version);
		stdio_stop(&t, &c);
		harness_free(&t);
		free(bin);
	}
}

/* What a bad stdio server costs: a clear verdict in bounded time. */
static void
test_mcp_stdio_bad_servers(void **state)
{
	static const struct {
		const char	*script;
		const char	*env;
		const char	*fragment;
	} cases[] = {
		/* closes mid-handshake */
		{ "read line; exit 0", NULL,
		    "closed its output during the handshake" },
		/* answers garbage */
		{ "read line; echo 'this is not JSON'; sleep 30", NULL,
		    "not JSON-RPC" },
		/* never answers */
		{ "sleep 30", NULL, "no answer within 2000 ms" },
		/* a 100 MB line: cut off at 16 MiB, memory bounded */
		{ "read line; head -c 104857600 /dev/zero | tr '\\0' x; "
		    "sleep 30", NULL, "line" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct harness		t;
		struct stdio_child	c;
		char			*argv[] = { "sh", "-c",
					    (char *)cases[i].script, NULL };

		harness_init(&t);
		add(&t, "{\"name\":\"mcp\",\"type\":\"mcp\","
		    "\"timeout_seconds\":2,\"retry_attempts\":0}");
		spawn_stdio(&c, argv, cases[i].env);
		health_attach_stdio(t.h, c.in, c.out);
		run_all(&t, 10000);
		expect_result(&t, 0, false, cases[i].fragment);
		assert_true(t.out[0].at_ms < 4000);
		stdio_stop(&t, &c);
		harness_free(&t);
	}
}

/* server-brave-search without its key exits at once: the check says so. */
static void
test_mcp_brave_search_without_key(void **state)
{
	struct harness		t;
	struct stdio_child	c;
	char			*bin = npm_bin("mcp-server-brave-search");
	char			*argv[] = { bin, NULL };

	(void)state;
	harness_init(&t);
	add(&t, "{\"name\":\"mcp\",\"type\":\"mcp\",\"timeout_seconds\":20,"
	    "\"retry_attempts\":0}");
	spawn_stdio(&c, argv, NULL);
	health_attach_stdio(t.h, c.in, c.out);
	run_all(&t, 25000);
	expect_result(&t, 0, false, "closed its output during the handshake");
	stdio_stop(&t, &c);
	harness_free(&t);
	free(bin);
}

static int
occurrences(const char *text, const char *what)
{
	int	n = 0;

	for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

/* test_mcp_streamable_http also checks that a probe over HTTP gives its
 * verdict once: the DELETE that ends the session once listed every
 * detail a second time (duplicate keys in health run --json). */
static void
test_mcp_streamable_http(void **state)
{
	struct harness	 t;
	int		 port = free_port();
	char		*bin = npm_bin("mcp-server-everything");
	char		*argv[] = { bin, "streamableHttp", NULL };
	char		*env;
	pid_t		 pid;
	int		 closed = free_port();

	(void)state;
	assert_true(asprintf(&env, "PORT=%d", port) != -1);
	pid = start(argv, env);
	wait_port(port, "server-everything (streamableHttp)");
	harness_init(&t);
	add(&t, "{\"name\":\"http\",\"type\":\"mcp\",\"timeout_seconds\":20,"
	    "\"retry_attempts\":0,\"config\":{\"transport\":\"http\","
	    "\"url\":\"http://127.0.0.1:%d/mcp\",\"probe\":\"both\","
	    "\"expected_tools\":[\"echo\",\"get-sum\"]}}", port);
	add(&t, "{\"name\":\"ping\",\"type\":\"mcp\",\"timeout_seconds\":20,"
	    "\"retry_attempts\":0,\"config\":{\"transport\":\"http\","
	    "\"url\":\"http://127.0.0.1:%d/mcp\",\"probe\":\"ping\"}}", port);
	add(&t, "{\"name\":\"wrongpath\",\"type\":\"mcp\","
	    "\"retry_attempts\":0,\"config\":{\"transport\":\"http\","
	    "\"url\":\"http://127.0.0.1:%d/nope\"}}", port);
	add(&t, "{\"name\":\"refused\",\"type\":\"mcp\",\"retry_attempts\":0,"
	    "\"config\":{\"transport\":\"http\","
	    "\"url\":\"http://127.0.0.1:%d/mcp\"}}", closed);
	run_all(&t, 30000);
	expect_result(&t, 0, true, "MCP 2025-11-25 over HTTP");
	assert_non_null(strstr(t.out[0].details, "get-sum"));
	assert_int_equal(occurrences(t.out[0].details, "\"protocol_version\""),
	    1);
	assert_int_equal(occurrences(t.out[0].details, "\"tools\""), 1);
	expect_result(&t, 1, true, "MCP 2025-11-25 over HTTP");
	expect_result(&t, 2, false, "HTTP 404 answering initialize");
	expect_result(&t, 3, false, "Couldn't connect");
	/* again, as liveness does: a new session each time, ended by DELETE */
	memset(t.out, 0, sizeof(t.out));
	run_all(&t, 30000);
	expect_result(&t, 0, true, "MCP 2025-11-25 over HTTP");
	harness_free(&t);
	stop(pid);
	free(env);
	free(bin);
}

static void
test_bad_definitions_are_refused(void **state)
{
	static const char *const cases[][2] = {
		{ "{\"type\":\"http\"}", "without a name" },
		{ "{\"name\":\"x\",\"type\":\"smtp\"}", "unknown type 'smtp'" },
		{ "{\"name\":\"x\",\"type\":\"http\",\"config\":{}}",
		    "names no url" },
		{ "{\"name\":\"x\",\"type\":\"tcp\",\"config\":{\"host\":"
		    "\"h\",\"port\":0}}", "needs a host and a port" },
		{ "{\"name\":\"x\",\"type\":\"http\",\"config\":{\"url\":"
		    "\"http://h/\",\"expected_body_regex\":\"(\"}}",
		    "expected_body_regex" },
		{ "{\"name\":\"x\",\"type\":\"custom\",\"config\":{}}",
		    "either a program or a plugin" },
		{ "{\"name\":\"x\",\"type\":\"mcp\",\"config\":{\"transport\":"
		    "\"pigeon\"}}", "not stdio or http" },
		{ "{\"name\":\"x\",\"type\":\"http\",\"config\":{\"url\":"
		    "\"http://127.0.0.1/\",\"port\":\"auto\"}}",
		    "port 'auto' is the port of the server it checks" },
		{ "{\"name\":\"x\",\"type\":\"tcp\",\"config\":{\"host\":"
		    "\"h\",\"port\":\"auto\"}}", "run for no server with a port" },
		{ "{\"name\":\"x\",\"type\":\"http\",\"config\":{\"url\":"
		    "\"http://127.0.0.1/\",\"port\":70000}}",
		    "its port must be 1-65535" },
		{ "{\"name\":\"x\",\"type\":\"http\",\"config\":{\"url\":"
		    "\"nowhere\",\"port\":8080}}", "names no host for its port" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct loop	 loop;
		struct health	*h = (loop_init(&loop), health_new(&loop,
				    on_done, NULL));
		struct errbuf	 err = { "" };
		cJSON		*j = cJSON_Parse(cases[i][0]);

		assert_true(health_add(h, j, &err) < 0);
		if (strstr(err.msg, cases[i][1]) == NULL)
			fail_msg("'%s' for %s", err.msg, cases[i][0]);
		cJSON_Delete(j);
		health_free(h);
		loop_free(&loop);
	}
}

/* A check's port over its url's: the host kept, the path and query too. */
static void
test_url_with_port(void **state)
{
	static const char *const cases[][2] = {
		{ "http://127.0.0.1/health", "http://127.0.0.1:4242/health" },
		{ "http://127.0.0.1:80/a?b=c:d", "http://127.0.0.1:4242/a?b=c:d" },
		{ "https://localhost", "https://localhost:4242" },
		{ "http://[::1]/mcp", "http://[::1]:4242/mcp" },
		{ "http://[::1]:8080/mcp#x", "http://[::1]:4242/mcp#x" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char	*u = health_url_with_port(cases[i][0], 4242);

		assert_non_null(u);
		assert_string_equal(u, cases[i][1]);
		free(u);
	}
	assert_null(health_url_with_port("no-scheme/path", 4242));
	assert_int_equal(errno, EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_definitions_are_refused),
		cmocka_unit_test(test_url_with_port),
		cmocka_unit_test(test_http_against_nginx),
		cmocka_unit_test(test_http_bad_peers_fail_within_their_timeout),
		cmocka_unit_test(test_unreachable_host),
		cmocka_unit_test(test_tcp_against_redis),
		cmocka_unit_test(test_retries_back_off_until_the_peer_is_up),
		cmocka_unit_test(test_command_checks),
		cmocka_unit_test(test_a_slow_check_delays_no_other),
		cmocka_unit_test(test_custom_program_and_plugin),
		cmocka_unit_test(test_file_system_and_liveness),
		cmocka_unit_test(test_mcp_stdio_reference_servers),
		cmocka_unit_test(test_mcp_stdio_bad_servers),
		cmocka_unit_test(test_mcp_brave_search_without_key),
		cmocka_unit_test(test_mcp_streamable_http),
	};
	sigset_t	set;
	int		r;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	tmp = tu_tmpdir();
	r = cmocka_run_group_tests(tests, NULL, NULL);
	tu_rmtree(tmp);
	free(tmp);
	return r;
}
