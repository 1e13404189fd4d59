/*
 * Peers. A peer is released at the end of the loop's batch, since an
 * event already fetched in that batch may still name it; until then a
 * freed peer only ignores what happens to it. A driven peer (no loop) is
 * released when the call that freed it returns to peer_service(), or at
 * once outside one.
 */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "loop.h"
#include "util.h"

struct peer {
	struct loop		*loop;		/* NULL: driven */
	struct watcher		 w;
	struct frame_reader	 rd;
	struct frame_writer	 wr;
	peer_fn			*fn;
	peer_want_write_fn	*want_write;
	void			*arg;
	unsigned		 burst;
	bool			 want_out;
	bool			 gone;		/* the stream is over */
	bool			 told;		/* the handler heard NULL */
	bool			 freed;		/* the owner let go */
	bool			 servicing;	/* inside peer_service */
	int			 error;
	struct loop_deferred	 later;
};

static void	peer_release(struct peer *);

static void
set_interest(struct peer *p, bool out)
{
	if (p->want_out == out)
		return;
	p->want_out = out;
	if (p->loop != NULL)
		loop_mod(p->loop, &p->w, EPOLLIN | (out ? EPOLLOUT : 0));
	else if (p->want_write != NULL)
		p->want_write(p->arg, out);
}

static void
tell_gone(struct peer *p)
{
	if (p->told || p->freed)
		return;
	p->told = true;
	p->fn(p, NULL, p->arg);
}

static void
on_later(struct loop_deferred *d)
{
	struct peer	*p = container_of(d, struct peer, later);

	if (p->freed)
		peer_release(p);
	else
		tell_gone(p);
}

/* The stream is over: nothing more is read or written. The handler is
 * told from the loop (or, driven, from the next service call). */
static void
end_stream(struct peer *p, int error, bool tell_now)
{
	if (p->gone)
		return;
	p->gone = true;
	p->error = error;
	if (p->loop != NULL && p->w.fd >= 0)
		loop_mod(p->loop, &p->w, 0);
	if (tell_now)
		tell_gone(p);
	else if (p->loop != NULL)
		loop_defer(p->loop, &p->later, on_later);
	else if (p->want_write != NULL)
		p->want_write(p->arg, true);
}

static void
read_frames(struct peer *p)
{
	struct frame	f;
	int		r;

	for (unsigned n = 0; n < p->burst && !p->gone && !p->freed; n++) {
		if ((r = frame_read(&p->rd, &f)) == 0)
			return;
		if (r < 0) {
			end_stream(p, r, true);
			return;
		}
		p->fn(p, &f, p->arg);
		free(f.data);
	}
}

void
peer_service(struct peer *p, uint32_t events)
{
	int	r;

	if (p->freed)
		return;
	p->servicing = true;
	if (p->gone)
		tell_gone(p);
	else if ((events & EPOLLOUT) && (r = frame_flush(&p->wr)) < 0)
		end_stream(p, r, true);
	if (!p->gone && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		read_frames(p);
	if (!p->gone && !p->freed)
		set_interest(p, frame_writer_pending(&p->wr));
	p->servicing = false;
	if (p->freed && p->loop == NULL)
		peer_release(p);
}

static void
on_watch(struct watcher *w, uint32_t events)
{
	peer_service(container_of(w, struct peer, w), events);
}

static struct peer *
peer_alloc(int fd, uint64_t allowed, peer_fn *fn, void *arg)
{
	struct peer	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		close(fd);
		return NULL;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	p->w.fd = fd;
	p->w.fn = on_watch;
	p->fn = fn;
	p->arg = arg;
	p->burst = FRAME_BURST;
	frame_reader_init(&p->rd, fd, allowed);
	frame_writer_init(&p->wr, fd);
	return p;
}

struct peer *
peer_new(struct loop *loop, int fd, uint64_t allowed, peer_fn *fn, void *arg)
{
	struct peer	*p;
	int		 r;

	if ((p = peer_alloc(fd, allowed, fn, arg)) == NULL)
		return NULL;
	p->loop = loop;
	if ((r = loop_add(loop, &p->w, EPOLLIN)) < 0) {
		close(fd);
		free(p);
		errno = -r;
		return NULL;
	}
	return p;
}

struct peer *
peer_new_driven(int fd, uint64_t allowed, peer_fn *fn,
    peer_want_write_fn *want_write, void *arg)
{
	struct peer	*p;

	if ((p = peer_alloc(fd, allowed, fn, arg)) != NULL)
		p->want_write = want_write;
	return p;
}

void
peer_set_burst(struct peer *p, unsigned frames)
{
	p->burst = frames > 0 ? frames : 1;
}

int
peer_send(struct peer *p, uint8_t type, const void *data, uint32_t len)
{
	int	r;

	if (p->gone || p->freed)
		return -EPIPE;
	if ((r = frame_write(&p->wr, type, data, len)) < 0) {
		if (r != -EMSGSIZE)
			end_stream(p, r, false);
		return r;
	}
	set_interest(p, frame_writer_pending(&p->wr));
	return 0;
}

int
peer_send_fd(struct peer *p, uint8_t type, const void *data, uint32_t len,
    int fd)
{
	int	r;

	if (p->gone || p->freed) {
		close(fd);
		return -EPIPE;
	}
	if ((r = frame_write_fd(&p->wr, type, data, len, fd)) < 0) {
		if (r != -EMSGSIZE)
			end_stream(p, r, false);
		return r;
	}
	set_interest(p, frame_writer_pending(&p->wr));
	return 0;
}

void
peer_accept_fds(struct peer *p)
{
	frame_reader_accept_fds(&p->rd);
}

int
peer_take_fd(struct peer *p)
{
	return frame_reader_take_fd(&p->rd);
}

int
peer_send_json(struct peer *p, uint8_t type, const cJSON *o)
{
	char	*text;
	int	 r;

	if ((text = cJSON_PrintUnformatted(o)) == NULL)
		return -ENOMEM;
	r = peer_send(p, type, text, (uint32_t)strlen(text));
	free(text);
	return r;
}

bool
peer_pending(const struct peer *p)
{
	return !p->gone && !p->freed && frame_writer_pending(&p->wr);
}

bool
peer_gone(const struct peer *p)
{
	return p->gone;
}

int
peer_error(const struct peer *p)
{
	return p->error;
}

int
peer_fd(const struct peer *p)
{
	return p->w.fd;
}

void *
peer_arg(const struct peer *p)
{
	return p->arg;
}

static void
peer_release(struct peer *p)
{
	frame_reader_clear(&p->rd);
	frame_writer_clear(&p->wr);
	free(p);
}

void
peer_free(struct peer *p)
{
	if (p == NULL || p->freed)
		return;
	p->freed = true;
	if (p->w.fd >= 0) {
		if (p->loop != NULL)
			loop_del(p->loop, &p->w);
		close(p->w.fd);
		p->w.fd = -1;
	}
	if (p->loop != NULL)
		loop_defer(p->loop, &p->later, on_later);
	else if (!p->servicing)
		peer_release(p);
}
