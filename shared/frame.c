/*
 * Framing. The reader follows skalibs' unixmessage_receive and OpenBSD's
 * imsg: the header is whole and valid, size included, before a byte is
 * allocated, and a bad header ends the stream. The writer keeps a queue
 * of whole frames and writes what the descriptor accepts; the caller asks
 * for EPOLLOUT while frame_writer_pending().
 */
#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cjson/cJSON.h>

struct frame_size {
	uint8_t		 type;
	uint32_t	 min;
	uint32_t	 max;
	const char	*name;
};

static const struct frame_size frame_sizes[] = {
	{ FRAME_HELLO, 4, 4, "hello" },
	{ FRAME_SANDBOX, 2, 64u << 10, "sandbox" },
	{ FRAME_STARTED, 4, 4, "started" },
	{ FRAME_READY, 0, 0, "ready" },
	{ FRAME_EXITED, 8, 12, "exited" },
	{ FRAME_FAILED, 2, 4096, "failed" },
	{ FRAME_HEALTH, 2, 64u << 10, "health" },
	{ FRAME_FINISHED, 8, 12, "finished" },
	{ FRAME_OUTPUT, 0, 1024, "output" },
	{ FRAME_CONFIG, 2, FRAME_MAX, "config" },
	{ FRAME_STOP, 0, 4, "stop" },
	{ FRAME_SIGNAL, 4, 4, "signal" },
	{ FRAME_REQUEST, 2, 64u << 10, "request" },
	{ FRAME_RESPONSE, 2, FRAME_MAX, "response" },
	{ FRAME_EVENT, 2, 64u << 10, "event" },
	{ FRAME_RECORD, 2, FRAME_MAX, "record" },
	{ FRAME_METRICS, 2, 4096, "metrics" },
	{ FRAME_GW_ATTACH, 0, 4096, "gateway attach" },
	{ FRAME_GW_OPEN, 4, 4, "session open" },
	{ FRAME_GW_CLOSE, 4, 4, "session close" },
	{ FRAME_GW_CLIENT, 6, FRAME_MAX, "client message" },
	{ FRAME_GW_SERVER, 6, FRAME_MAX, "server message" },
	{ FRAME_GW_STATE, 2, 4096, "gateway state" },
};

static const struct frame_size *
frame_size_of(uint8_t type)
{
	for (size_t i = 0; i < sizeof(frame_sizes) / sizeof(frame_sizes[0]);
	    i++)
		if (frame_sizes[i].type == type)
			return &frame_sizes[i];
	return NULL;
}

const char *
frame_type_name(uint8_t type)
{
	const struct frame_size	*fs = frame_size_of(type);

	return fs != NULL ? fs->name : "unknown";
}

void
frame_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t
frame_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

int
frame_parse_header(const uint8_t hdr[FRAME_HDR], uint64_t allowed,
    uint8_t *type, uint32_t *len)
{
	const struct frame_size	*fs;

	if (hdr[0] != 'M' || hdr[1] != 'V')
		return -EPROTO;
	if (hdr[2] != FRAME_VERSION)
		return -EPROTONOSUPPORT;
	if (hdr[3] >= 64 || !(allowed & FRAME_BIT(hdr[3])) ||
	    (fs = frame_size_of(hdr[3])) == NULL)
		return -EPROTO;
	*type = hdr[3];
	*len = frame_get_u32(hdr + 4);
	if (*len < fs->min || *len > fs->max)
		return -EMSGSIZE;
	return 0;
}

void
frame_reader_init(struct frame_reader *fr, int fd, uint64_t allowed)
{
	memset(fr, 0, sizeof(*fr));
	fr->fd = fd;
	fr->allowed = allowed;
}

void
frame_reader_clear(struct frame_reader *fr)
{
	free(fr->buf);
	fr->buf = NULL;
	fr->have = 0;
	while (fr->nfds > 0)
		close(fr->fds[--fr->nfds]);
}

void
frame_reader_accept_fds(struct frame_reader *fr)
{
	fr->fds_ok = true;
}

int
frame_reader_take_fd(struct frame_reader *fr)
{
	int	fd;

	if (fr->nfds == 0)
		return -1;
	fd = fr->fds[0];
	memmove(fr->fds, fr->fds + 1, --fr->nfds * sizeof(fr->fds[0]));
	return fd;
}

size_t
frame_take_rights(struct msghdr *msg, int *fds, size_t max)
{
	struct cmsghdr	*c;
	size_t		 got = 0;

	for (c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		size_t	k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++, got++) {
			int	fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (got < max)
				fds[got] = fd;
			else
				close(fd);
		}
	}
	return got;
}

/* read(), or recvmsg() keeping the descriptors that come along. */
static ssize_t
read_some(struct frame_reader *fr, void *dst, size_t want)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * FRAME_FDS_MAX)];
	} ctl;
	struct iovec	 iov = { dst, want };
	struct msghdr	 msg = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	size_t		 got;
	ssize_t		 n;

	if (!fr->fds_ok)
		return read(fr->fd, dst, want);
	if ((n = recvmsg(fr->fd, &msg, MSG_CMSG_CLOEXEC)) <= 0)
		return n;
	got = frame_take_rights(&msg, fr->fds + fr->nfds,
	    FRAME_FDS_MAX - fr->nfds);
	fr->nfds += got < FRAME_FDS_MAX - fr->nfds ? (unsigned)got :
	    FRAME_FDS_MAX - fr->nfds;
	return n;
}

int
frame_read(struct frame_reader *fr, struct frame *f)
{
	for (;;) {
		bool	 inhdr = fr->have < FRAME_HDR;
		size_t	 want = inhdr ? FRAME_HDR - fr->have :
			    FRAME_HDR + fr->len - fr->have;
		uint8_t	*dst = inhdr ? fr->hdr + fr->have :
			    fr->buf + (fr->have - FRAME_HDR);
		ssize_t	 n;
		int	 r;

		if (!inhdr && want == 0) {
			f->type = fr->type;
			f->len = fr->len;
			f->data = fr->buf;
			f->data[f->len] = '\0';
			fr->buf = NULL;
			fr->have = 0;
			return 1;
		}
		if ((n = read_some(fr, dst, want)) == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (n == 0)
			return fr->have == 0 ? -EPIPE : -ECONNRESET;
		fr->have += (size_t)n;
		if (inhdr && fr->have == FRAME_HDR) {
			if ((r = frame_parse_header(fr->hdr, fr->allowed,
			    &fr->type, &fr->len)) < 0)
				return r;
			/* one spare byte so that JSON text ends in NUL */
			if ((fr->buf = malloc((size_t)fr->len + 1)) == NULL)
				return -ENOMEM;
		}
	}
}

struct frame_chunk {
	struct frame_chunk	*next;
	size_t			 len;
	size_t			 off;
	int			 fd;	/* to pass with its first byte, or -1 */
	uint8_t			 data[];
};

void
frame_writer_init(struct frame_writer *fw, int fd)
{
	memset(fw, 0, sizeof(*fw));
	fw->fd = fd;
}

void
frame_writer_clear(struct frame_writer *fw)
{
	struct frame_chunk	*c, *next;

	for (c = fw->head; c != NULL; c = next) {
		next = c->next;
		if (c->fd != -1)
			close(c->fd);
		free(c);
	}
	fw->head = fw->tail = NULL;
	fw->queued = 0;
}

bool
frame_writer_pending(const struct frame_writer *fw)
{
	return fw->head != NULL;
}

int
frame_service(struct frame_reader *rd, struct frame_writer *wr,
    uint32_t events, frame_handler_fn *fn, void *arg)
{
	struct frame	f;
	bool		go = true;
	int		r;

	if ((events & EPOLLOUT) && (r = frame_flush(wr)) < 0)
		return r;
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return 0;
	for (int n = 0; n < FRAME_BURST && go; n++) {
		if ((r = frame_read(rd, &f)) <= 0)
			return r;
		go = fn(arg, &f);
		free(f.data);
	}
	return 0;
}

bool
frame_writer_interest_changed(const struct frame_writer *fw, bool *want_out)
{
	bool	want = fw->head != NULL;

	if (want == *want_out)
		return false;
	*want_out = want;
	return true;
}

static ssize_t
send_fd(int sock, struct iovec *iov, int fd)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr	 msg = { .msg_iov = iov, .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr	*c;

	memset(&ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(fd));
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

int
frame_flush(struct frame_writer *fw)
{
	while (fw->head != NULL) {
		struct iovec		 iov[16];
		struct frame_chunk	*c = fw->head;
		int			 n = 0;
		ssize_t			 w;

		/* a descriptor goes alone with its chunk's first byte */
		for (; c != NULL && n < 16 && (n == 0 || c->fd == -1);
		    c = c->next, n++) {
			iov[n].iov_base = c->data + c->off;
			iov[n].iov_len = c->len - c->off;
		}
		if ((w = fw->head->fd != -1 ? send_fd(fw->fd, iov,
		    fw->head->fd) : writev(fw->fd, iov, n)) == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		fw->queued -= (size_t)w;
		if (fw->head->fd != -1 && w > 0) {
			close(fw->head->fd);
			fw->head->fd = -1;
		}
		while (w > 0) {
			c = fw->head;
			if ((size_t)w < c->len - c->off) {
				c->off += (size_t)w;
				break;
			}
			w -= (ssize_t)(c->len - c->off);
			fw->head = c->next;
			free(c);
		}
		if (fw->head == NULL)
			fw->tail = NULL;
	}
	return 1;
}

int
frame_write(struct frame_writer *fw, uint8_t type, const void *payload,
    uint32_t len)
{
	return frame_write_fd(fw, type, payload, len, -1);
}

int
frame_write_fd(struct frame_writer *fw, uint8_t type, const void *payload,
    uint32_t len, int fd)
{
	const struct frame_size	*fs = frame_size_of(type);
	struct frame_chunk	*c;
	int			 r;

	if (fs == NULL || len < fs->min || len > fs->max)
		r = -EMSGSIZE;
	else if (fw->queued + FRAME_HDR + len > FRAME_QUEUE_MAX)
		r = -ENOBUFS;
	else if ((c = malloc(sizeof(*c) + FRAME_HDR + len)) == NULL)
		r = -ENOMEM;
	else
		r = 0;
	if (r < 0) {
		if (fd != -1)
			close(fd);
		return r;
	}
	c->next = NULL;
	c->len = FRAME_HDR + len;
	c->off = 0;
	c->fd = fd;
	c->data[0] = 'M';
	c->data[1] = 'V';
	c->data[2] = FRAME_VERSION;
	c->data[3] = type;
	frame_put_u32(c->data + 4, len);
	if (len > 0)
		memcpy(c->data + FRAME_HDR, payload, len);
	if (fw->tail != NULL)
		fw->tail->next = c;
	else
		fw->head = c;
	fw->tail = c;
	fw->queued += c->len;
	r = frame_flush(fw);
	return r < 0 ? r : 0;
}

int
frame_write_json(struct frame_writer *fw, uint8_t type, const cJSON *json)
{
	char	*text;
	size_t	 len;
	int	 r;

	if ((text = cJSON_PrintUnformatted(json)) == NULL)
		return -ENOMEM;
	len = strlen(text);
	r = len > UINT32_MAX ? -EMSGSIZE :
	    frame_write(fw, type, text, (uint32_t)len);
	free(text);
	return r;
}
