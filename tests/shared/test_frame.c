/* Tests of shared/frame.c through real socketpairs and pipes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "frame.h"

static int	sv[2];

static int
setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, sv), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	return 0;
}

static void
header(uint8_t *h, uint8_t version, uint8_t type, uint32_t len)
{
	h[0] = 'M';
	h[1] = 'V';
	h[2] = version;
	h[3] = type;
	frame_put_u32(h + 4, len);
}

static void
write_all(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void
test_round_trip(void **state)
{
	struct frame_writer	fw;
	struct frame_reader	fr;
	struct frame		f;
	uint8_t			pid[4];

	(void)state;
	frame_writer_init(&fw, sv[0]);
	frame_reader_init(&fr, sv[1], FRAME_FROM_WORKER);
	frame_put_u32(pid, 4242);
	assert_int_equal(frame_write(&fw, FRAME_HELLO, pid, 4), 0);
	assert_int_equal(frame_write(&fw, FRAME_READY, NULL, 0), 0);
	assert_int_equal(frame_write(&fw, FRAME_FAILED, "{\"a\":1}", 7), 0);
	assert_int_equal(frame_read(&fr, &f), 1);
	assert_int_equal(f.type, FRAME_HELLO);
	assert_int_equal(frame_get_u32(f.data), 4242);
	free(f.data);
	assert_int_equal(frame_read(&fr, &f), 1);
	assert_int_equal(f.type, FRAME_READY);
	assert_int_equal(f.len, 0);
	free(f.data);
	assert_int_equal(frame_read(&fr, &f), 1);
	assert_string_equal((char *)f.data, "{\"a\":1}");
	free(f.data);
	/* nothing more: would block */
	assert_int_equal(frame_read(&fr, &f), 0);
}

static void
test_one_byte_writes(void **state)
{
	struct frame_reader	fr;
	struct frame		f;
	uint8_t			buf[FRAME_HDR + 9];
	int			got = 0;

	(void)state;
	header(buf, FRAME_VERSION, FRAME_FAILED, 9);
	memcpy(buf + FRAME_HDR, "{\"x\":\"y\"}", 9);
	frame_reader_init(&fr, sv[1], FRAME_FROM_WORKER);
	for (size_t i = 0; i < sizeof(buf); i++) {
		write_all(sv[0], buf + i, 1);
		got = frame_read(&fr, &f);
		assert_int_equal(got, i + 1 == sizeof(buf) ? 1 : 0);
	}
	assert_string_equal((char *)f.data, "{\"x\":\"y\"}");
	free(f.data);
}

static void
test_split_header(void **state)
{
	struct frame_reader	fr;
	struct frame		f;
	uint8_t			h[FRAME_HDR];

	(void)state;
	header(h, FRAME_VERSION, FRAME_STARTED, 4);
	frame_reader_init(&fr, sv[1], FRAME_FROM_WORKER);
	write_all(sv[0], h, 3);
	assert_int_equal(frame_read(&fr, &f), 0);
	write_all(sv[0], h + 3, 5);
	assert_int_equal(frame_read(&fr, &f), 0);
	write_all(sv[0], "\0\0\0\7", 4);
	assert_int_equal(frame_read(&fr, &f), 1);
	assert_int_equal(frame_get_u32(f.data), 7);
	free(f.data);
}

static void
test_eof_between_frames(void **state)
{
	struct frame_reader	fr;
	struct frame		f;

	(void)state;
	frame_reader_init(&fr, sv[1], FRAME_FROM_WORKER);
	close(sv[0]);
	sv[0] = -1;
	assert_int_equal(frame_read(&fr, &f), -EPIPE);
}

static void
test_eof_inside_header(void **state)
{
	struct frame_reader	fr;
	struct frame		f;

	(void)state;
	frame_reader_init(&fr, sv[1], FRAME_FROM_WORKER);
	write_all(sv[0], "MV\1", 3);
	close(sv[0]);
	sv[0] = -1;
	assert_int_equal(frame_read(&fr, &f), -ECONNRESET);
	frame_reader_clear(&fr);
}

static void
test_eof_inside_payload(void **state)
{
	struct frame_reader	fr;
	struct frame		f;
	uint8_t			h[FRAME_HDR];

	(void)state;
	header(h, FRAME_VERSION, FRAME_FAILED, 100);
	frame_reader_init(&fr, sv[1], FRAME_FROM_WORKER);
	write_all(sv[0], h, sizeof(h));
	write_all(sv[0], "{\"partial", 9);
	close(sv[0]);
	sv[0] = -1;
	assert_int_equal(frame_read(&fr, &f), -ECONNRESET);
	/* the partial payload is released here (ASan checks) */
	frame_reader_clear(&fr);
}

static void
test_oversize_rejected_before_allocation(void **state)
{
	struct frame_reader	fr;
	struct frame		f;
	uint8_t			h[FRAME_HDR];

	(void)state;
	header(h, FRAME_VERSION, FRAME_CONFIG, FRAME_MAX + 1);
	frame_reader_init(&fr, sv[1], FRAME_FROM_ROOT_TO_WORKER);
	write_all(sv[0], h, sizeof(h));
	assert_int_equal(frame_read(&fr, &f), -EMSGSIZE);
	assert_null(fr.buf);
	/* a 4 GiB announcement is refused the same way */
	header(h, FRAME_VERSION, FRAME_CONFIG, 0xffffffffu);
	assert_int_equal(frame_parse_header(h, FRAME_FROM_ROOT_TO_WORKER,
	    &f.type, &f.len), -EMSGSIZE);
}

static void
test_exact_sizes(void **state)
{
	uint8_t		h[FRAME_HDR], type;
	uint32_t	len;

	(void)state;
	header(h, FRAME_VERSION, FRAME_HELLO, 3);
	assert_int_equal(frame_parse_header(h, FRAME_FROM_WORKER, &type,
	    &len), -EMSGSIZE);
	header(h, FRAME_VERSION, FRAME_READY, 1);
	assert_int_equal(frame_parse_header(h, FRAME_FROM_WORKER, &type,
	    &len), -EMSGSIZE);
	header(h, FRAME_VERSION, FRAME_EXITED, 8);
	assert_int_equal(frame_parse_header(h, FRAME_FROM_WORKER, &type,
	    &len), 0);
}

static void
test_unknown_and_unexpected_types(void **state)
{
	uint8_t		h[FRAME_HDR], type;
	uint32_t	len;

	(void)state;
	header(h, FRAME_VERSION, 99, 0);
	assert_int_equal(frame_parse_header(h, ~UINT64_C(0), &type, &len),
	    -EPROTO);
	header(h, FRAME_VERSION, 200, 0);
	assert_int_equal(frame_parse_header(h, ~UINT64_C(0), &type, &len),
	    -EPROTO);
	/* a worker may not send what only the root sends */
	header(h, FRAME_VERSION, FRAME_CONFIG, 10);
	assert_int_equal(frame_parse_header(h, FRAME_FROM_WORKER, &type,
	    &len), -EPROTO);
}

static void
test_wrong_version_and_magic(void **state)
{
	uint8_t		h[FRAME_HDR], type;
	uint32_t	len;

	(void)state;
	header(h, FRAME_VERSION + 1, FRAME_READY, 0);
	assert_int_equal(frame_parse_header(h, FRAME_FROM_WORKER, &type,
	    &len), -EPROTONOSUPPORT);
	header(h, FRAME_VERSION, FRAME_READY, 0);
	h[0] = 'X';
	assert_int_equal(frame_parse_header(h, FRAME_FROM_WORKER, &type,
	    &len), -EPROTO);
}

static void
test_writer_partial_writes(void **state)
{
	struct frame_writer	 fw;
	struct frame_reader	 fr;
	struct frame		 f;
	size_t			 len = 900000;
	char			*big = malloc(len);
	int			 small = 4096, r, frames = 0;

	(void)state;
	memset(big, 'x', len);
	big[0] = '"';
	big[len - 1] = '"';
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	frame_writer_init(&fw, sv[0]);
	frame_reader_init(&fr, sv[1], FRAME_FROM_ROOT_TO_WORKER);
	assert_int_equal(frame_write(&fw, FRAME_CONFIG, big, (uint32_t)len),
	    0);
	assert_int_equal(frame_write(&fw, FRAME_STOP, NULL, 0), 0);
	/* the socket took only part: the rest waits in the queue */
	assert_true(frame_writer_pending(&fw));
	while (frames < 2) {
		r = frame_flush(&fw);
		assert_true(r >= 0);
		while ((r = frame_read(&fr, &f)) == 1) {
			if (frames++ == 0) {
				assert_int_equal(f.len, len);
				assert_memory_equal(f.data, big, len);
			} else
				assert_int_equal(f.type, FRAME_STOP);
			free(f.data);
		}
		assert_int_equal(r, 0);
	}
	assert_false(frame_writer_pending(&fw));
	free(big);
}

static void
test_stalled_peer_fills_queue(void **state)
{
	struct frame_writer	fw;
	char			payload[60000];
	int			r = 0, n = 0;

	(void)state;
	memset(payload, '1', sizeof(payload));
	frame_writer_init(&fw, sv[0]);
	while (n < 1000 && (r = frame_write(&fw, FRAME_EVENT, payload,
	    sizeof(payload))) == 0)
		n++;
	assert_int_equal(r, -ENOBUFS);
	assert_true(fw.queued <= FRAME_QUEUE_MAX);
	frame_writer_clear(&fw);
}

static void
test_dead_peer_is_epipe(void **state)
{
	struct frame_writer	fw;

	(void)state;
	close(sv[1]);
	sv[1] = -1;
	frame_writer_init(&fw, sv[0]);
	assert_int_equal(frame_write(&fw, FRAME_READY, NULL, 0), -EPIPE);
	frame_writer_clear(&fw);
}

static void
test_json_payload(void **state)
{
	struct frame_writer	 fw;
	struct frame_reader	 fr;
	struct frame		 f;
	cJSON			*o = cJSON_CreateObject(), *back;

	(void)state;
	cJSON_AddStringToObject(o, "verb", "status");
	frame_writer_init(&fw, sv[0]);
	frame_reader_init(&fr, sv[1], FRAME_FROM_CLI);
	assert_int_equal(frame_write_json(&fw, FRAME_REQUEST, o), 0);
	assert_int_equal(frame_read(&fr, &f), 1);
	back = cJSON_Parse((char *)f.data);
	assert_string_equal(cJSON_GetObjectItem(back, "verb")->valuestring,
	    "status");
	cJSON_Delete(back);
	cJSON_Delete(o);
	free(f.data);
}

/* A descriptor passed with a frame arrives with it, between frames that
 * carry none, and is the one sent (the same pipe); one not taken is
 * closed with the reader. */
static void
test_descriptor_passing(void **state)
{
	struct frame_writer	 w;
	struct frame_reader	 r;
	struct frame		 f;
	int			 p[2], got, n = 0;
	char			 c = 0;

	(void)state;
	assert_int_equal(pipe(p), 0);
	frame_writer_init(&w, sv[0]);
	frame_reader_init(&r, sv[1], FRAME_FROM_ROOT_TO_WORKER);
	frame_reader_accept_fds(&r);
	assert_int_equal(frame_write(&w, FRAME_STOP, NULL, 0), 0);
	assert_int_equal(frame_write_fd(&w, FRAME_GW_ATTACH, NULL, 0,
	    dup(p[1])), 0);
	assert_int_equal(frame_write(&w, FRAME_STOP, NULL, 0), 0);
	assert_int_equal(frame_write_fd(&w, FRAME_GW_ATTACH, NULL, 0,
	    dup(p[1])), 0);
	close(p[1]);
	assert_int_equal(frame_read(&r, &f), 1);
	assert_int_equal(f.type, FRAME_STOP);
	free(f.data);
	assert_int_equal(frame_read(&r, &f), 1);
	assert_int_equal(f.type, FRAME_GW_ATTACH);
	free(f.data);
	assert_true((got = frame_reader_take_fd(&r)) >= 0);
	assert_int_equal(write(got, "x", 1), 1);
	close(got);
	assert_int_equal(read(p[0], &c, 1), 1);
	assert_int_equal(c, 'x');
	while (frame_read(&r, &f) == 1) {
		free(f.data);
		n++;
	}
	assert_int_equal(n, 2);
	/* the second is not taken: the reader closes it, and the pipe's
	 * last writer is gone */
	frame_reader_clear(&r);
	assert_int_equal(read(p[0], &c, 1), 0);
	close(p[0]);
	/* a reader that accepts none never holds one */
	assert_int_equal(frame_reader_take_fd(&r), -1);
	frame_writer_clear(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_byte_writes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_split_header, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_eof_between_frames, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_eof_inside_header, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_eof_inside_payload, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_oversize_rejected_before_allocation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exact_sizes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_unknown_and_unexpected_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_version_and_magic,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer_partial_writes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_peer_fills_queue,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_peer_is_epipe, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_descriptor_passing, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_json_payload, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
