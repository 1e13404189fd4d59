#include "lwskit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/capability.h>

#include <libwebsockets.h>

#include "log.h"

void
lwskit_log(int level, const char *line)
{
	size_t	n = strlen(line);

	/* lws lines end in a newline and carry their own timestamp */
	while (n > 0 && line[n - 1] == '\n')
		n--;
	if (level & LLL_ERR)
		log_warnx("lws: %.*s", (int)n, line);
	else
		log_info("lws: %.*s", (int)n, line);
}

bool
lwskit_peer_is_loopback(struct lws *wsi, char *name, size_t size)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	int			 fd = lws_get_socket_fd(wsi);

	snprintf(name, size, "?");
	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, name, (socklen_t)size);
		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)&ss;

		/* an IPv4 peer of a dual-stack socket is named as IPv4 */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], name,
			    (socklen_t)size);
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, name,
			    (socklen_t)size);
		return IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) &&
		    sin6->sin6_addr.s6_addr[12] == 127);
	}
	return false;
}

bool
lwskit_token_equal(const char *a, const char *b)
{
	size_t		 la = strlen(a), lb = strlen(b);
	unsigned char	 d = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

bool
lwskit_bearer_is(struct lws *wsi, const char *token)
{
	char	auth[160];

	return token[0] != '\0' && lws_hdr_copy(wsi, auth, sizeof(auth),
	    WSI_TOKEN_HTTP_AUTHORIZATION) > 7 &&
	    strncasecmp(auth, "Bearer ", 7) == 0 &&
	    lwskit_token_equal(auth + 7, token);
}

void
lwskit_drop_privileges(const char *user)
{
	struct rlimit	 none = { 0, 0 };
	struct passwd	*pw = NULL;
	cap_t		 caps;

	if (geteuid() == 0) {
		if (user != NULL)
			pw = getpwnam(user);
		else if ((pw = getpwnam("mcpvisor")) == NULL)
			pw = getpwnam("nobody");
		if (pw == NULL)
			fatalx(LWSKIT_EXIT_USAGE, "no user %s to run as",
			    user != NULL ? user : "mcpvisor or nobody");
		for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
			prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
		if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
		    setuid(pw->pw_uid) == -1)
			fatal("dropping to user %s", pw->pw_name);
		if (setuid(0) == 0)
			fatalx(LWSKIT_EXIT_TEMPFAIL, "root came back after setuid");
	}
	if ((caps = cap_init()) == NULL || cap_set_proc(caps) == -1)
		fatal("clearing capabilities");
	cap_free(caps);
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("no_new_privs");
	setrlimit(RLIMIT_CORE, &none);
#ifdef __SANITIZE_ADDRESS__
	/* LeakSanitizer inspects the process from a helper that must be
	 * allowed to attach; changing user made us undumpable */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#else
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

void
lwskit_raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

long
lwskit_number(const char *s, long min, long max, const char *what)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		fatalx(LWSKIT_EXIT_USAGE, "%s must be a number from %ld to %ld, not "
		    "'%s'", what, min, max, s);
	return v;
}

bool
lwskit_option(struct lwskit_opts *o, int c, const char *arg)
{
	switch (c) {
	case 's':
		snprintf(o->state_dir, sizeof(o->state_dir), "%s", arg);
		return true;
	case 'p':
		o->port = lwskit_number(arg, 1, 65535, "--port");
		return true;
	case 'b':
		o->bind_addr = arg;
		return true;
	case 'u':
		o->user = arg;
		return true;
	case 'c':
		o->channel = lwskit_number(arg, 3, 65535, "--channel-fd");
		return true;
	case 'v':
		o->verbose = true;
		return true;
	default:
		return false;
	}
}

void
lwskit_other_option(int c, const char *name, const char *usage)
{
	if (c == 'V') {
		printf("%s %s\n", name, MCPVISOR_VERSION);
		exit(0);
	}
	fputs(usage, c == 'h' ? stdout : stderr);
	exit(c == 'h' ? 0 : LWSKIT_EXIT_USAGE);
}

void
lwskit_listen(struct lws_context **ctx, struct lws_vhost **vhost, void *user,
    const struct lwskit_opts *o, const struct lws_protocols *protocols,
    const char *name, uint64_t options, int keepalive_s)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | options;
	info.user = user;
	if ((*ctx = lws_create_context(&info)) == NULL)
		fatalx(LWSKIT_EXIT_TEMPFAIL, "libwebsockets: cannot create a "
		    "context");
	info.port = (int)o->port;
	info.iface = o->bind_addr;
	/* lws listens on IPv6 (any address) unless told: an IPv4 address
	 * to bind to needs an IPv4 socket */
	if (strchr(o->bind_addr, ':') == NULL)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.protocols = protocols;
	info.vhost_name = name;
	info.keepalive_timeout = keepalive_s;
	if ((*vhost = lws_create_vhost(*ctx, &info)) == NULL)
		fatalx(LWSKIT_EXIT_TEMPFAIL, "cannot listen on %s port %ld",
		    o->bind_addr, o->port);
}

int
lwskit_signalfd(void)
{
	sigset_t	set;
	int		fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	return fd;
}
