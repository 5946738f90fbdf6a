/*
 * Unit tests of log line batches (src/common/logbatch.c) and of the
 * logger's use of them for a loop's thread (log.c: log_batch_start).
 *
 * stderr is one end of an AF_UNIX datagram socket pair here: a
 * datagram keeps the bounds of the write(2) that sent it, so each test
 * sees exactly which lines left in which write.  Boundaries both sides:
 * a batch of exactly LOGBATCH_MAX octets waits, one octet more writes
 * what was there first; a line longer than a batch goes out alone and
 * whole.  The logger's side: nothing leaves before the loop's flush,
 * the wake comes once per pass, lines keep their order and their own
 * timestamps, and fatal(), exit(), fork() and other threads' lines
 * write the batch first, never twice.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/logbatch.h"

static int peer = -1;	/* our end; the other is the test's fd 2 */
static int saved_stderr = -1;
static char got[3 * LOGBATCH_MAX];

static int
setup(void **state)
{
	int sv[2];

	(void)state;
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
		return -1;
	saved_stderr = dup(STDERR_FILENO);
	if (saved_stderr < 0 || dup2(sv[1], STDERR_FILENO) < 0)
		return -1;
	close(sv[1]);
	peer = sv[0];
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	close(peer);
	return 0;
}

/* The next write's octets (NUL-terminated in got), or -1: none waits. */
static ssize_t
next_write(void)
{
	ssize_t n = recv(peer, got, sizeof(got) - 1, MSG_DONTWAIT);

	if (n < 0) {
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		return -1;
	}
	got[n] = '\0';
	return n;
}

/* A whole line of n octets (n >= 1): c repeated, then '\n'. */
static const char *
line_of(size_t n, char c)
{
	static char l[2 * LOGBATCH_MAX];

	assert_true(n >= 1 && n <= sizeof(l));
	memset(l, c, n - 1);
	l[n - 1] = '\n';
	return l;
}

/* -- the batch ---------------------------------------------------------- */

/* Exactly LOGBATCH_MAX octets wait, and leave in one write. */
static void
test_exactly_max_waits(void **state)
{
	struct logbatch b = { 0 };

	(void)state;
	for (char c = 'a'; c < 'e'; c++)
		logbatch_add(&b, STDERR_FILENO, line_of(LOGBATCH_MAX / 4, c),
		    LOGBATCH_MAX / 4);
	assert_int_equal(b.len, LOGBATCH_MAX);
	assert_int_equal(next_write(), -1);
	logbatch_flush(&b, STDERR_FILENO);
	assert_int_equal(next_write(), LOGBATCH_MAX);
	assert_int_equal(got[0], 'a');
	assert_int_equal(got[LOGBATCH_MAX - 2], 'd');
	assert_int_equal(got[LOGBATCH_MAX - 1], '\n');
	assert_int_equal(b.len, 0);
	logbatch_flush(&b, STDERR_FILENO);	/* empty: no write */
	assert_int_equal(next_write(), -1);
}

/* One octet over: what was there leaves first, on its line boundary,
 * and the new line starts the next batch. */
static void
test_one_over_writes_first(void **state)
{
	struct logbatch b = { 0 };

	(void)state;
	logbatch_add(&b, STDERR_FILENO, line_of(LOGBATCH_MAX - 2, 'a'),
	    LOGBATCH_MAX - 2);
	logbatch_add(&b, STDERR_FILENO, "b\n", 2);	/* 4096: fits */
	assert_int_equal(next_write(), -1);
	logbatch_add(&b, STDERR_FILENO, "\n", 1);	/* 4097: would not */
	assert_int_equal(next_write(), LOGBATCH_MAX);
	assert_string_equal(got + LOGBATCH_MAX - 2, "b\n");
	assert_int_equal(b.len, 1);
	assert_int_equal(next_write(), -1);

	logbatch_add(&b, STDERR_FILENO, line_of(LOGBATCH_MAX - 1, 'c'),
	    LOGBATCH_MAX - 1);				/* 1 + 4095: fits */
	assert_int_equal(next_write(), -1);
	logbatch_flush(&b, STDERR_FILENO);
	assert_int_equal(next_write(), LOGBATCH_MAX);
	assert_int_equal(got[0], '\n');
	assert_int_equal(got[1], 'c');
}

/* A line longer than a batch: the batch first, then the line alone and
 * whole; a line of exactly LOGBATCH_MAX is batched like any other. */
static void
test_long_line_alone_and_whole(void **state)
{
	struct logbatch b = { 0 };

	(void)state;
	logbatch_add(&b, STDERR_FILENO, "a\n", 2);
	logbatch_add(&b, STDERR_FILENO, line_of(LOGBATCH_MAX + 1, 'x'),
	    LOGBATCH_MAX + 1);
	assert_int_equal(next_write(), 2);
	assert_string_equal(got, "a\n");
	assert_int_equal(next_write(), LOGBATCH_MAX + 1);
	assert_int_equal(got[0], 'x');
	assert_int_equal(got[LOGBATCH_MAX], '\n');
	assert_int_equal(b.len, 0);
	assert_int_equal(next_write(), -1);

	logbatch_add(&b, STDERR_FILENO, line_of(LOGBATCH_MAX, 'y'),
	    LOGBATCH_MAX);
	assert_int_equal(next_write(), -1);
	logbatch_flush(&b, STDERR_FILENO);
	assert_int_equal(next_write(), LOGBATCH_MAX);
}

/* Lines of every size leave in their order, each write whole lines of
 * at most LOGBATCH_MAX octets. */
static void
test_order_and_line_bounds(void **state)
{
	static char want[64 * 1024], all[64 * 1024];
	struct logbatch b = { 0 };
	size_t wlen = 0, alen = 0;
	ssize_t n;

	(void)state;
	for (size_t i = 0; i < 150; i++) {
		size_t len = 1 + (i * 37) % 700;
		const char *l = line_of(len, (char)('A' + i % 26));

		memcpy(want + wlen, l, len);
		wlen += len;
		logbatch_add(&b, STDERR_FILENO, l, len);
		while ((n = next_write()) >= 0) {
			assert_true(n > 0 && n <= LOGBATCH_MAX);
			assert_int_equal(got[n - 1], '\n');
			memcpy(all + alen, got, (size_t)n);
			alen += (size_t)n;
		}
	}
	logbatch_flush(&b, STDERR_FILENO);
	n = next_write();
	assert_true(n > 0);
	memcpy(all + alen, got, (size_t)n);
	alen += (size_t)n;
	assert_int_equal(alen, wlen);
	assert_memory_equal(all, want, wlen);
}

/* -- the logger's batch ------------------------------------------------- */

static unsigned wakes;

static void
count_wake(void *arg)
{
	assert_ptr_equal(arg, &wakes);
	wakes++;
}

/* Number of lines in got. */
static size_t
lines_in_got(void)
{
	size_t n = 0;

	for (const char *p = got; (p = strchr(p, '\n')) != NULL; p++)
		n++;
	return n;
}

/* A pass: lines wait, one wake, one write in order, each line with its
 * own timestamp; the next pass wakes again; stop writes the rest. */
static void
test_loop_lines_once_per_pass(void **state)
{
	(void)state;
	wakes = 0;
	assert_int_equal(log_batch_start(count_wake, &wakes), 0);
	assert_int_equal(log_batch_start(count_wake, &wakes), -1);
	log_info("event=one");
	log_info("event=two");
	log_warn("event=three");
	assert_int_equal(wakes, 1);
	assert_int_equal(next_write(), -1);
	log_flush();
	assert_true(next_write() > 0);
	assert_int_equal(lines_in_got(), 3);
	assert_true(strstr(got, "event=one") < strstr(got, "event=two"));
	assert_true(strstr(got, "event=two") < strstr(got, "event=three"));
	for (const char *p = got; *p != '\0'; p = strchr(p, '\n') + 1)
		assert_memory_equal(p + 23, "Z decorum[", 10);

	log_info("event=four");
	assert_int_equal(wakes, 2);
	assert_int_equal(next_write(), -1);
	log_batch_stop();
	assert_true(next_write() > 0);
	assert_non_null(strstr(got, "event=four"));
	log_info("event=five");	/* no batch: at once */
	assert_int_equal(wakes, 2);
	assert_true(next_write() > 0);
	assert_non_null(strstr(got, "event=five"));
	log_batch_stop();	/* twice: harmless */
}

static void *
other_thread(void *arg)
{
	(void)arg;
	log_info("event=worker");
	return NULL;
}

/* Another thread's line writes the loop's batch first: the log keeps
 * the process's order. */
static void
test_other_thread_keeps_order(void **state)
{
	pthread_t t;

	(void)state;
	assert_int_equal(log_batch_start(count_wake, &wakes), 0);
	log_info("event=loop");
	assert_int_equal(next_write(), -1);
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(next_write() > 0);
	assert_non_null(strstr(got, "event=loop"));
	assert_null(strstr(got, "event=worker"));
	assert_true(next_write() > 0);
	assert_non_null(strstr(got, "event=worker"));
	log_batch_stop();
	assert_int_equal(next_write(), -1);
}

/* Everything one child wrote, after it exited with want. */
static void
child_wrote(pid_t pid, int want, char *all, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), want);
	while ((n = next_write()) > 0 && len + (size_t)n < size) {
		memcpy(all + len, got, (size_t)n);
		len += (size_t)n;
	}
	all[len] = '\0';
}

/* fatal() and exit() with lines in the batch: none is lost. */
static void
test_fatal_and_exit_write_the_batch(void **state)
{
	char all[4096];
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		log_batch_start(count_wake, &wakes);
		log_info("event=before-fatal");
		fatal("the end");
	}
	child_wrote(pid, 1, all, sizeof(all));
	assert_non_null(strstr(all, "event=before-fatal"));
	assert_non_null(strstr(all, "event=fatal"));
	assert_true(strstr(all, "event=before-fatal") < strstr(all, "event=fatal"));

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		log_batch_start(count_wake, &wakes);
		log_info("event=before-exit");
		exit(3);
	}
	child_wrote(pid, 3, all, sizeof(all));
	assert_non_null(strstr(all, "event=before-exit"));
}

/* fork() writes the parent's batch first; the child never writes the
 * parent's lines again (not even at exit()) and logs at once. */
static void
test_fork_writes_once(void **state)
{
	char all[4096];
	pid_t pid;

	(void)state;
	assert_int_equal(log_batch_start(count_wake, &wakes), 0);
	log_info("event=parent");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		log_info("event=child");
		exit(0);
	}
	child_wrote(pid, 0, all, sizeof(all));
	assert_non_null(strstr(all, "event=parent"));
	assert_non_null(strstr(all, "event=child"));
	assert_true(strstr(all, "event=parent") < strstr(all, "event=child"));
	assert_null(strstr(strstr(all, "event=parent") + 1, "event=parent"));
	log_batch_stop();
	assert_int_equal(next_write(), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exactly_max_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_over_writes_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_alone_and_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_and_line_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_lines_once_per_pass, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_thread_keeps_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fatal_and_exit_write_the_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fork_writes_once, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
