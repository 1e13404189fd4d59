/*
 * The monitor's hub: what the root reports (events, deployment records,
 * usage samples) becomes messages in the guide's shape, each with a
 * sequence number, kept in a ring that every WebSocket client reads at
 * its own pace; and the state a new client is given first, and the
 * metrics /metrics serves. No sockets here: the hub is fed and read.
 *
 *	{"type": "monitoring_event", "seq", "data": {"event_type",
 *	    "server_name", "timestamp", "details", "deployment_id",
 *	    "message"}}
 *	{"type": "deployment_update", "seq", "data": {"deployment_id",
 *	    "progress_percentage", "completed", "failed", "total", "phase",
 *	    "state", "servers", ...}}
 *	{"type": "metrics", "seq", "data": {"deployment_id", "server_name",
 *	    "timestamp", "cpu_usage", "memory_usage", "memory_rss_bytes",
 *	    "processes"}}
 */
#ifndef MCPVISOR_HUB_H
#define MCPVISOR_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

/* One message, serialised once for every client: headroom bytes (for
 * the WebSocket framing) and then the JSON text. */
struct hub_msg {
	uint64_t	 seq;
	size_t		 len;
	unsigned char	*buf;
};

#define HUB_LATENCY_BUCKETS	12
#define HUB_DURATION_BUCKETS	10

struct hub_histogram {
	uint64_t	 counts[HUB_LATENCY_BUCKETS + 1];	/* +Inf last */
	uint64_t	 count;
	double		 sum;
};

struct hub_check {
	char			*name;
	struct hub_histogram	 seconds;
	uint64_t		 passed, failed, warned;
};

#define HUB_CUSTOM_MAX	32	/* custom metrics kept per server */
#define HUB_CUSTOM_NAME	64

/* A metric recorded for a server (mcpvisor monitor record, or a check's
 * details "metrics"): its latest value. */
struct hub_custom {
	char	name[HUB_CUSTOM_NAME];
	double	value;
};

struct hub_server {
	char		*deployment_id;
	char		*name;
	/* the latest health check's response time, in ms; < 0: none */
	double		 response_ms;
	struct hub_custom custom[HUB_CUSTOM_MAX];
	size_t		 ncustom;
	char		 state[16];
	unsigned	 restarts;
	double		 cpu_percent;
	double		 rss_bytes;
	unsigned	 processes;
	bool		 sampled;
	struct hub_check *checks;
	size_t		 nchecks;
	/* the last samples, oldest first, for a new client's sparklines */
	float		 cpu_hist[60];
	float		 rss_hist[60];
	unsigned	 nhist;
};

struct hub {
	size_t			 headroom;
	struct hub_msg		*ring;
	size_t			 cap;
	uint64_t		 next_seq;	/* the next message's; from 1 */
	struct cJSON		*records;	/* id -> latest record */
	struct cJSON		*order;		/* ids, oldest first */
	struct hub_server	*servers;
	size_t			 nservers;
	double			 mem_total;	/* bytes of RAM */
	/* counters */
	uint64_t		 events;
	uint64_t		 deployments_by_outcome[6];
	struct hub_histogram	 deploy_seconds;
	struct hub_histogram	 rollback_seconds;
	uint64_t		 rollbacks_succeeded, rollbacks_failed;
	uint64_t		 server_failures;
	uint64_t		 gaps;		/* told to slow clients */
	unsigned		 clients;	/* set by the server */
};

/* Bucket bounds, in seconds. */
extern const double	hub_latency_bounds[HUB_LATENCY_BUCKETS];
extern const double	hub_duration_bounds[HUB_DURATION_BUCKETS];
extern const char *const hub_outcomes[6];

int	hub_init(struct hub *, size_t capacity, size_t headroom);
void	hub_free(struct hub *);

/* Takes what the root sent (type: FRAME_EVENT, FRAME_RECORD or
 * FRAME_METRICS) and appends its messages. Returns how many, or a
 * negative errno. */
int	hub_feed(struct hub *, uint8_t type, const struct cJSON *body);
/* The initial state of the watch answer: the records mcpvisord holds. */
void	hub_load(struct hub *, const struct cJSON *records);

/* The message of sequence number seq while the ring holds it, or NULL. */
const struct hub_msg	*hub_get(const struct hub *, uint64_t seq);
uint64_t		 hub_oldest(const struct hub *);

/* What a new client is given before live messages: a deployment_update
 * per deployment still active, and each server's latest metrics with
 * their history. *n messages, all marked "snapshot" with the seq of the
 * last message they reflect; free with hub_msgs_free. */
struct hub_msg	*hub_snapshot(struct hub *, size_t *n);
/* A message outside the ring (a gap marker, say), numbered seq. */
int		 hub_one(struct hub *, const char *type, struct cJSON *data,
		    uint64_t seq, struct hub_msg *out);
void		 hub_msgs_free(struct hub_msg *, size_t n);

/* The guide's record_performance_metrics: a sample of a server's CPU
 * (percent of one CPU) and memory (bytes resident). */
void	hub_record_performance(struct hub *, const char *deployment_id,
	    const char *server, double cpu_percent, double rss_bytes,
	    unsigned processes);

/* Whether the newest deployment not yet done serves (it succeeded and
 * every server of it is ready), and why not, or what, in why. */
bool	hub_ready(const struct hub *, char *why, size_t size);
/* Prometheus text exposition of every metric (malloc'd). */
char	*hub_prometheus(const struct hub *, size_t *len);

#endif
