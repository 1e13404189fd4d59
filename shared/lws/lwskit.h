/*
 * What the processes that serve the network (mcpvisor-monitor,
 * mcpvisor-gateway) share about libwebsockets and about themselves:
 * lws's log in ours, who a peer is, a token compared in constant time,
 * and the privileges they drop before they listen.
 */
#ifndef MCPVISOR_LWSKIT_H
#define MCPVISOR_LWSKIT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws;
struct lws_context;
struct lws_protocols;
struct lws_vhost;

/* The options every helper takes. */
struct lwskit_opts {
	char		 state_dir[PATH_MAX];
	const char	*bind_addr;
	const char	*user;
	long		 port;
	long		 channel;
	bool		 verbose;
};

/* Their getopt_long entries, and getopt's short letters for them. */
#define LWSKIT_LONGOPTS							\
	{ "state-dir", required_argument, NULL, 's' },			\
	{ "port", required_argument, NULL, 'p' },			\
	{ "bind", required_argument, NULL, 'b' },			\
	{ "user", required_argument, NULL, 'u' },			\
	{ "channel-fd", required_argument, NULL, 'c' },		\
	{ "verbose", no_argument, NULL, 'v' }
#define LWSKIT_SHORTOPTS	"s:p:b:v"

/* getopt's c and its argument, when c is one of those: true. */
bool	lwskit_option(struct lwskit_opts *, int c, const char *arg);
/* Any other option: --version (name's), --help (usage on stdout), or
 * a wrong one (usage on stderr); each exits. */
void	lwskit_other_option(int c, const char *name, const char *usage)
	    __attribute__((noreturn));
/* A context (user its user data) and its one vhost, name, serving
 * protocols on the options' address and port; options: the context's
 * LWS_SERVER_OPTION_*s beside explicit vhosts; keepalive_s: how long an
 * idle HTTP connection is kept (0: lws's default). Exits when it cannot
 * listen. */
void	lwskit_listen(struct lws_context **, struct lws_vhost **, void *user,
	    const struct lwskit_opts *, const struct lws_protocols *,
	    const char *name, uint64_t options, int keepalive_s);
/* TERM and INT, blocked and read from the signalfd returned (SIGPIPE
 * ignored): no code of ours runs in a signal's context. Exits on
 * failure. */
int	lwskit_signalfd(void);

#define LWSKIT_EXIT_USAGE	100	/* bad usage: do not restart */
#define LWSKIT_EXIT_TEMPFAIL	111

/* lws's lines, in our log (lws_set_log_level's emitter). */
void	lwskit_log(int level, const char *line);
/* Whether the peer of wsi is on loopback; its address into name. */
bool	lwskit_peer_is_loopback(struct lws *wsi, char *name, size_t size);
/* a and b are equal; the time taken does not say where they differ. */
bool	lwskit_token_equal(const char *a, const char *b);
/* "Authorization: Bearer TOKEN" names token (never "" : nobody). */
bool	lwskit_bearer_is(struct lws *wsi, const char *token);
/* Where started as root: the user named (default "mcpvisor", else
 * "nobody"), no supplementary groups, an empty bounding set. Then, for
 * anyone: no capabilities, no_new_privs, no core dumps. Exits on
 * failure. */
void	lwskit_drop_privileges(const char *user);
/* Room for many clients: the soft limit on descriptors up to the hard. */
void	lwskit_raise_nofile(void);
/* A number of an option, from min to max, or exit with usage. */
long	lwskit_number(const char *s, long min, long max, const char *what);

#endif
