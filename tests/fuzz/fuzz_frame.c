/*
 * libFuzzer target for the frame decoder: the input is what a peer
 * wrote, in pieces whose sizes come from the input itself (first byte),
 * read through a real socketpair until the reader stops.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frame.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader	fr;
	struct frame		f;
	int			sv[2], r = 0;
	size_t			off = 1, piece;

	if (size < 1 || size > 60000)
		return 0;
	piece = (size_t)(data[0] % 16) + 1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
		abort();
	frame_reader_init(&fr, sv[1], ~UINT64_C(0));
	while (off < size && r >= 0) {
		size_t	n = size - off < piece ? size - off : piece;

		if (write(sv[0], data + off, n) != (ssize_t)n)
			abort();
		off += n;
		while ((r = frame_read(&fr, &f)) == 1) {
			if (f.data[f.len] != '\0')
				abort();
			free(f.data);
		}
	}
	close(sv[0]);
	while (r >= 0 && (r = frame_read(&fr, &f)) == 1)
		free(f.data);
	if (r == 0 || (r != -EPIPE && r != -ECONNRESET && r != -EPROTO &&
	    r != -EPROTONOSUPPORT && r != -EMSGSIZE)) {
		/* which end it was, for a crash that does not come again */
		fprintf(stderr, "frame_read ended with %d (%s) after %zu of %zu "
		    "bytes in pieces of %zu\n", r, strerror(-r), off, size,
		    piece);
		abort();
	}
	frame_reader_clear(&fr);
	close(sv[1]);
	return 0;
}
