/*
 * A peer in tmux's manner: one end of a stream that speaks the frame
 * protocol (frame.h), behind new, send, send JSON and free. The peer owns
 * its reader, its writer and its interest in EPOLLOUT (asked for only
 * while frames wait to be written). Each complete frame reaches the
 * owner's handler; when the peer is gone (EOF, a protocol violation, a
 * read or write error, a queue that overflowed because the other side
 * stopped reading) the handler is called once more with NULL, and never
 * again. The owner then frees it, or already has.
 *
 * A peer runs in a loop (loop.h), or is driven by another loop (the
 * monitor's libwebsockets): then the owner calls peer_service() with the
 * descriptor's events and is told through want_write when the peer needs
 * to know that the descriptor is writable.
 */
#ifndef MCPVISOR_PEER_H
#define MCPVISOR_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

struct cJSON;
struct loop;
struct peer;

/* One frame (f->data is the peer's; it is freed after the call), or f
 * NULL: the peer is gone, and peer_error() says why. */
typedef void peer_fn(struct peer *, const struct frame *f, void *arg);
/* An externally driven peer wants (or no longer wants) writability. */
typedef void peer_want_write_fn(void *arg, bool on);

/* Takes ownership of fd (made non-blocking and close-on-exec) and
 * watches it in loop; allowed is the FRAME_BIT()s it may send. NULL on
 * ENOMEM or when the loop refuses the descriptor (errno set; fd is
 * closed). */
struct peer	*peer_new(struct loop *, int fd, uint64_t allowed, peer_fn *,
		    void *arg);
/* As peer_new() for a descriptor another loop watches. */
struct peer	*peer_new_driven(int fd, uint64_t allowed, peer_fn *,
		    peer_want_write_fn *, void *arg);
/* Frames handed to the handler per wakeup (default FRAME_BURST): a
 * chatty peer cannot starve the rest of the loop. */
void		 peer_set_burst(struct peer *, unsigned frames);
/* For a driven peer: the descriptor is readable (EPOLLIN) or writable
 * (EPOLLOUT), or hung up. */
void		 peer_service(struct peer *, uint32_t events);

/* Queue a frame and write what the descriptor takes. 0, or a negative
 * errno (-EMSGSIZE: too large for its type; -ENOBUFS: the queue is full;
 * -EPIPE: the peer is gone). Any failure but -EMSGSIZE ends the peer:
 * its handler hears NULL from the loop, not from within this call. */
int		 peer_send(struct peer *, uint8_t type, const void *,
		    uint32_t len);
int		 peer_send_json(struct peer *, uint8_t type,
		    const struct cJSON *);
/* Whether frames still wait to be written (a process about to exit
 * turns its loop until they went). */
bool		 peer_pending(const struct peer *);
/* As peer_send(), passing fd along (the peer's from now on: closed once
 * sent, or on failure). The descriptor is a unix socket's to pass. */
int		 peer_send_fd(struct peer *, uint8_t type, const void *,
		    uint32_t len, int fd);
/* The peer may receive descriptors (see frame_reader_accept_fds); the
 * handler of a frame that carries one takes it: the oldest, or -1. */
void		 peer_accept_fds(struct peer *);
int		 peer_take_fd(struct peer *);

bool		 peer_gone(const struct peer *);
/* Why the peer went: -EPIPE for a clean EOF, another negative errno, or
 * 0 while it is there. */
int		 peer_error(const struct peer *);
int		 peer_fd(const struct peer *);
void		*peer_arg(const struct peer *);

/* Stops watching, closes the descriptor and releases the peer (at the
 * end of the loop's batch, which may still name it). No handler call
 * follows. Accepts NULL. */
void		 peer_free(struct peer *);

#endif
