/*
 * The outbound client's read-ahead of message data
 * (src/deliver/smtp_client_data.c), with a real event loop and worker
 * pool: a file comes out whole, chunk by chunk, each read announced by
 * ready(); a missing file is an error, not a crash, seen only once the
 * loop has the read's result (never while the worker may still write
 * it); and an owner that
 * lets go while a read is in flight leaves nothing behind (ASan and
 * LeakSanitizer watch the sanitizer build of this test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/workpool.h"
#include "deliver/smtp_client_priv.h"
#include "testutil.h"

struct fixture {
	char dir[PATH_MAX];
	int dirfd;
	struct event_base *base;
	struct workpool *pool;
	unsigned ready;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/decorum-data-XXXXXX");
	if (tu_mkdtemp(f->dir) == NULL)
		return -1;
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->base = event_base_new();
	f->pool = workpool_new(f->base, 2);
	*state = f;
	return f->dirfd < 0 || f->base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	workpool_free(f->pool);
	event_base_free(f->base);
	close(f->dirfd);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static void
on_ready(void *arg)
{
	((struct fixture *)arg)->ready++;
}

/* Runs the loop until the pool has nothing of ours left. */
static void
drain(struct fixture *f)
{
	while (workpool_pending(f->pool) > 0)
		event_base_loop(f->base, EVLOOP_ONCE);
}

static void
spit(struct fixture *f, const char *name, const char *data, size_t len)
{
	char path[PATH_MAX + 64];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	fclose(fp);
}

/* What follows the data in a queue file of format 2: never sent. */
static const char trailer[] = "V 2\nI 0abc\nT 1\nS <>\nR a@b\nE 10\n";

/* Reads the whole of a file of size octets through sd; returns the
 * number of ready() callbacks it took.  bounded: the file goes on with
 * a queue file's envelope, and sd is told the data's size. */
static int
read_data(struct fixture *f, const char *name, size_t size, bool bounded)
{
	size_t flen = size + (bounded ? sizeof(trailer) - 1 : 0);
	char *want = malloc(flen), *have = malloc(size);
	size_t got = 0, len;
	struct smtp_data *sd;
	const char *p;
	int rc;

	for (size_t i = 0; i < size; i++)
		want[i] = (char)('a' + i % 23);
	if (bounded)
		memcpy(want + size, trailer, sizeof(trailer) - 1);
	spit(f, name, want, flen);
	f->ready = 0;
	sd = smtp_data_open(f->pool, f->dirfd, name,
	    bounded ? (int64_t)size : -1, on_ready, f);
	for (;;) {
		while ((rc = smtp_data_peek(sd, &p, &len)) == 0)
			event_base_loop(f->base, EVLOOP_ONCE);
		assert_int_equal(rc, 1);
		if (len == 0)
			break;
		assert_true(got + len <= size);
		memcpy(have + got, p, len);
		got += len;
		smtp_data_next(sd);
	}
	assert_int_equal(got, size);
	assert_memory_equal(have, want, size);
	/* At the end, next() reads nothing more. */
	smtp_data_next(sd);
	assert_int_equal(workpool_pending(f->pool), 0);
	smtp_data_release(sd);
	free(want);
	free(have);
	return f->ready;
}

static int
read_whole(struct fixture *f, const char *name, size_t size)
{
	return read_data(f, name, size, false);
}

/* 2.5 chunks: three reads, the last of which finds the end, so the end
 * is known with the last data (the final dot goes in the same write). */
static void
test_whole_file(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(read_whole(f, "msg1",
	    2 * DATA_CHUNK + DATA_CHUNK / 2), 3);
}

/* Exactly 2 chunks: the second read fills its chunk, so only a third
 * finds the end; one octet less and the second read finds it. */
static void
test_whole_chunks(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(read_whole(f, "msg2", 2 * DATA_CHUNK), 3);
	assert_int_equal(read_whole(f, "msg3", 2 * DATA_CHUNK - 1), 2);
	assert_int_equal(read_whole(f, "msg4", 1), 1);
}

/* A size given (a queue file of format 2): the reads stop there, never
 * send the envelope after it, and the last chunk says it is the last,
 * also when it fills its buffer exactly. */
static void
test_bounded(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(read_data(f, "b1", 2 * DATA_CHUNK + 7, true), 3);
	assert_int_equal(read_data(f, "b2", 2 * DATA_CHUNK, true), 2);
	assert_int_equal(read_data(f, "b3", 1, true), 1);
}

static void
test_missing_file(void **state)
{
	struct fixture *f = *state;
	struct smtp_data *sd;
	const char *p;
	size_t len;

	sd = smtp_data_open(f->pool, f->dirfd, "nosuch", -1, on_ready, f);
	drain(f);
	assert_int_equal(f->ready, 1);
	errno = 0;
	assert_int_equal(smtp_data_peek(sd, &p, &len), -1);
	assert_int_equal(errno, ENOENT);
	smtp_data_release(sd);
}

/* The transaction peeks as soon as it wants data, a read of the worker
 * still in flight: 0 until the loop has the result (ready() ran), then
 * the error.  When peek looked at err before busy, it could report the
 * worker's error before ready(), and a ThreadSanitizer build of this
 * test reported the data race on err. */
static void
test_peek_while_reading(void **state)
{
	struct fixture *f = *state;
	struct smtp_data *sd;
	const char *p;
	size_t len;
	unsigned zeros = 0;
	int rc;

	sd = smtp_data_open(f->pool, f->dirfd, "nosuch", -1, on_ready, f);
	while ((rc = smtp_data_peek(sd, &p, &len)) == 0) {
		zeros++;
		smtp_data_next(sd);	/* nothing to take yet: no second read */
		assert_true(workpool_pending(f->pool) <= 1);
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
	assert_true(zeros > 0);
	assert_int_equal(rc, -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(f->ready, 1);
	smtp_data_release(sd);
}

/* A symlink is not followed (O_NOFOLLOW): the spool is not trusted. */
static void
test_symlink_refused(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 64];
	struct smtp_data *sd;
	const char *p;
	size_t len;

	snprintf(path, sizeof(path), "%s/link", f->dir);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	sd = smtp_data_open(f->pool, f->dirfd, "link", -1, on_ready, f);
	drain(f);
	assert_int_equal(smtp_data_peek(sd, &p, &len), -1);
	assert_int_equal(errno, ELOOP);
	smtp_data_release(sd);
}

/* The owner goes away with the first read still in the pool: no ready()
 * afterwards, and the object is freed when the read completes. */
static void
test_release_in_flight(void **state)
{
	struct fixture *f = *state;
	char data[100];
	struct smtp_data *sd[20];

	memset(data, 'x', sizeof(data));
	spit(f, "msg2", data, sizeof(data));
	for (int i = 0; i < 20; i++) {
		sd[i] = smtp_data_open(f->pool, f->dirfd, "msg2", -1, on_ready, f);
		smtp_data_release(sd[i]);
	}
	assert_true(workpool_pending(f->pool) > 0);
	drain(f);
	assert_int_equal(f->ready, 0);
}

/* Released after a chunk was taken, with the next read in flight. */
static void
test_release_mid_file(void **state)
{
	struct fixture *f = *state;
	size_t size = 3 * DATA_CHUNK, len;
	char *data = calloc(1, size);
	struct smtp_data *sd;
	const char *p;

	spit(f, "msg3", data, size);
	sd = smtp_data_open(f->pool, f->dirfd, "msg3", -1, on_ready, f);
	while (smtp_data_peek(sd, &p, &len) == 0)
		event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(len, DATA_CHUNK);
	smtp_data_next(sd);
	assert_int_equal(workpool_pending(f->pool), 1);
	smtp_data_release(sd);
	drain(f);
	assert_int_equal(f->ready, 1);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whole_chunks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whole_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_peek_while_reading, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_symlink_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_release_in_flight, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_release_mid_file, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
