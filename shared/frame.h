/*
 * The pipe protocol: length-prefixed frames between the root and its
 * workers, the root and the monitor, and the CLI and the root.
 *
 * A frame is an 8-byte header, then the payload:
 *
 *	offset 0  u8   'M'
 *	offset 1  u8   'V'
 *	offset 2  u8   version (FRAME_VERSION)
 *	offset 3  u8   type (enum frame_type)
 *	offset 4  u32  payload length, big-endian
 *
 * Each type has a fixed size or a size range (frame_sizes in frame.c);
 * a reader accepts only the types its side may receive. The header is
 * checked completely, size included, before anything is allocated; any
 * violation is final: the peer is disconnected. See mcpvisor-protocol(7).
 */
#ifndef MCPVISOR_FRAME_H
#define MCPVISOR_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct msghdr;

#define FRAME_HDR		8
#define FRAME_MAX		(1u << 20)
#define FRAME_VERSION		1
/* descriptors a reader holds before it takes the frames they came with:
 * more are closed */
#define FRAME_FDS_MAX		4
/* frames a reader hands out per call to frame_read_many() */
#define FRAME_BURST		32
/* bytes a writer queues before it refuses more (a stalled peer) */
#define FRAME_QUEUE_MAX		(8u << 20)

enum frame_type {
	/* worker -> root */
	FRAME_HELLO = 1,	/* u32 worker pid */
	FRAME_SANDBOX = 2,	/* JSON: what the sandbox kept and dropped */
	FRAME_STARTED = 3,	/* u32 server pid */
	FRAME_READY = 4,	/* empty */
	FRAME_EXITED = 5,	/* u32 how (0 exit, 1 signal), u32 code */
	FRAME_FAILED = 6,	/* JSON {"stage", "reason", "errno"} */
	FRAME_HEALTH = 7,	/* JSON: a health check's result */
	/* 8 was a usage sample: the root measures usage itself now */
	/* the server ended as its restart policy allows (never, or
	 * on-failure after a clean exit): u32 how, u32 code, as EXITED;
	 * the worker exits next, and that is no crash */
	FRAME_FINISHED = 9,
	/* a line a task (a hook, a rollback action) wrote, its secrets
	 * masked, for the live tail; the whole output is in the log */
	FRAME_OUTPUT = 10,
	/* root -> worker */
	FRAME_CONFIG = 16,	/* JSON: the rendered server */
	FRAME_STOP = 17,	/* empty, or u32 FRAME_STOP_* flags */
	FRAME_SIGNAL = 18,	/* u32 signal number to forward */
	/* cli -> root */
	FRAME_REQUEST = 32,	/* JSON {"verb", ...} */
	/* root -> cli, root -> monitor */
	FRAME_RESPONSE = 33,	/* JSON */
	FRAME_EVENT = 34,	/* JSON */
	/* root -> a client that watches (the monitor) */
	FRAME_RECORD = 35,	/* JSON: a deployment's record, as written */
	FRAME_METRICS = 36,	/* JSON: a server's usage sample */
	/* the gateway (mcpvisor-gateway(8)). root -> worker: the worker's
	 * end of a socket pair to the gateway (passed with the frame,
	 * SCM_RIGHTS; empty payload); root -> gateway: the other end, with
	 * JSON {"server", "stack", "deployment", "transport"} */
	FRAME_GW_ATTACH = 40,
	/* gateway <-> worker, on that pair */
	FRAME_GW_OPEN = 41,	/* u32 session: a client session begins */
	FRAME_GW_CLOSE = 42,	/* u32 session: it ended (either side) */
	FRAME_GW_CLIENT = 43,	/* u32 session, a JSON-RPC message of it */
	/* u32 session (0: every session), a JSON-RPC message for it */
	FRAME_GW_SERVER = 44,
	/* JSON {"state", "pid", "protocol_version", "reason"}: whether the
	 * server can take sessions */
	FRAME_GW_STATE = 45,
};

/* FRAME_STOP flags: skip the stdin grace of a stdio server (TERM at
 * once), as a rollback in a hurry does */
#define FRAME_STOP_NOW		1u

/* The root's request to its fork server (mcpvisor-protocol(7)): one
 * byte with the worker's two descriptors; the byte says whether the
 * worker is the init of a PID namespace of its own. */
#define FORKSERVER_WORKER	'w'
#define FORKSERVER_WORKER_PIDNS	'p'

#define FRAME_BIT(t)		(UINT64_C(1) << ((t) & 63))
#define FRAME_FROM_WORKER	(FRAME_BIT(FRAME_HELLO) |		\
	FRAME_BIT(FRAME_SANDBOX) | FRAME_BIT(FRAME_STARTED) |		\
	FRAME_BIT(FRAME_READY) | FRAME_BIT(FRAME_EXITED) |		\
	FRAME_BIT(FRAME_FAILED) | FRAME_BIT(FRAME_HEALTH) |		\
	FRAME_BIT(FRAME_FINISHED) | FRAME_BIT(FRAME_OUTPUT))
#define FRAME_FROM_ROOT_TO_WORKER (FRAME_BIT(FRAME_CONFIG) |		\
	FRAME_BIT(FRAME_STOP) | FRAME_BIT(FRAME_SIGNAL) |		\
	FRAME_BIT(FRAME_GW_ATTACH))
#define FRAME_FROM_ROOT_TO_GATEWAY FRAME_BIT(FRAME_GW_ATTACH)
#define FRAME_FROM_GATEWAY_TO_WORKER (FRAME_BIT(FRAME_GW_OPEN) |	\
	FRAME_BIT(FRAME_GW_CLOSE) | FRAME_BIT(FRAME_GW_CLIENT))
#define FRAME_FROM_WORKER_TO_GATEWAY (FRAME_BIT(FRAME_GW_CLOSE) |	\
	FRAME_BIT(FRAME_GW_SERVER) | FRAME_BIT(FRAME_GW_STATE))
#define FRAME_FROM_CLI		FRAME_BIT(FRAME_REQUEST)
#define FRAME_FROM_ROOT_TO_CLI	(FRAME_BIT(FRAME_RESPONSE) |		\
	FRAME_BIT(FRAME_EVENT) | FRAME_BIT(FRAME_RECORD) |		\
	FRAME_BIT(FRAME_METRICS))

struct frame {
	uint8_t		 type;
	uint32_t	 len;
	uint8_t		*data;	/* len bytes and a NUL; the caller frees */
};

struct frame_reader {
	int		 fd;
	uint64_t	 allowed;	/* FRAME_BIT()s of acceptable types */
	uint8_t		 hdr[FRAME_HDR];
	size_t		 have;		/* bytes of the current frame */
	uint8_t		 type;
	uint32_t	 len;
	uint8_t		*buf;
	/* descriptors passed with the stream (SCM_RIGHTS), oldest first,
	 * where the reader accepts them (frame_reader_accept_fds) */
	bool		 fds_ok;
	unsigned	 nfds;
	int		 fds[FRAME_FDS_MAX];
};

struct frame_chunk;

struct frame_writer {
	int			 fd;
	struct frame_chunk	*head;
	struct frame_chunk	*tail;
	size_t			 queued;	/* bytes not yet written */
};

/* Checks a complete header. Returns 0 and the type and length, or
 * -EPROTO (bad magic, or a type not in allowed), -EPROTONOSUPPORT
 * (another version), -EMSGSIZE (a length the type does not allow). */
int	frame_parse_header(const uint8_t hdr[FRAME_HDR], uint64_t allowed,
	    uint8_t *type, uint32_t *len);

/* The reader does not own fd. */
void	frame_reader_init(struct frame_reader *, int fd, uint64_t allowed);
/* Returns 1 and hands the frame to the caller (free f->data) when one is
 * complete, 0 when the fd would block, or a negative errno: -EPIPE
 * (clean EOF between frames), -ECONNRESET (EOF inside a frame), what
 * frame_parse_header() returns, -ENOMEM or a read error. After a
 * negative return the stream cannot be resynced: close it. */
int	frame_read(struct frame_reader *, struct frame *f);
/* Drops any partial frame, and closes descriptors not taken. */
void	frame_reader_clear(struct frame_reader *);
/* The stream (a unix socket) may carry descriptors: they are received
 * (close-on-exec) with the bytes they came with and queue up. */
void	frame_reader_accept_fds(struct frame_reader *);
/* The oldest descriptor received and not yet taken, or -1. A frame that
 * carries one is complete only after its first byte came, and so was
 * the descriptor. */
int	frame_reader_take_fd(struct frame_reader *);

/* The writer does not own fd. */
void	frame_writer_init(struct frame_writer *, int fd);
/* Queues a frame and writes what the fd takes now. Returns 0, or
 * -EMSGSIZE (payload too large for its type), -ENOBUFS (the queue is
 * full: the peer is not reading), -ENOMEM, or a write error. */
int	frame_write(struct frame_writer *, uint8_t type, const void *,
	    uint32_t);
/* As frame_write(), passing fd (SCM_RIGHTS; fd is the writer's from
 * now on, and closed once sent, or on failure) with the frame's first
 * byte: the descriptor reaches the reader before the frame is whole. */
int	frame_write_fd(struct frame_writer *, uint8_t type, const void *,
	    uint32_t, int fd);
/* As frame_write() with the unformatted text of a cJSON tree. */
int	frame_write_json(struct frame_writer *, uint8_t type,
	    const struct cJSON *);
/* Writes what the fd takes. Returns 1 when the queue is empty, 0 when
 * bytes remain (wait for EPOLLOUT), or a negative errno. */
int	frame_flush(struct frame_writer *);
bool	frame_writer_pending(const struct frame_writer *);
/* Whether the writer's need for EPOLLOUT differs from *want_out; if so
 * updates *want_out, and the caller re-arms its descriptor for EPOLLIN
 * plus, while *want_out, EPOLLOUT. */
bool	frame_writer_interest_changed(const struct frame_writer *,
	    bool *want_out);
void	frame_writer_clear(struct frame_writer *);

/* Handles one frame; returns false when the peer was dropped meanwhile,
 * so that no further frame is read for it. f->data is freed after. */
typedef bool frame_handler_fn(void *arg, struct frame *f);

/* Services a peer that epoll reported with events: writes what is queued
 * on EPOLLOUT, then hands up to FRAME_BURST complete frames to fn (a cap,
 * so that one chatty peer cannot starve the rest). Returns 0 while the
 * stream is sound, or the negative errno that ended it (-EPIPE: EOF). */
int	frame_service(struct frame_reader *, struct frame_writer *,
	    uint32_t events, frame_handler_fn *fn, void *arg);

/* The descriptors (SCM_RIGHTS) a message received carried: up to max
 * into fds, the rest closed; returns how many it carried in all. */
size_t	frame_take_rights(struct msghdr *, int *fds, size_t max);

/* Big-endian helpers for fixed payloads. */
void		frame_put_u32(uint8_t *, uint32_t);
uint32_t	frame_get_u32(const uint8_t *);

const char	*frame_type_name(uint8_t);

#endif
