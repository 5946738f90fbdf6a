/*
 * The Redis backend (src/greylist/store_redis.c) on a real event loop
 * with no Redis behind its port: every check answers GREYLIST_TROUBLE on
 * a later turn of the loop, never from inside the call; a cancelled
 * check never calls back; closing with checks out calls nothing back
 * and leaks nothing (ASan in the sanitizer build).  The cases with a
 * real redis-server are tests/integration/test_greylist_redis.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "greylist/backend.h"

static const struct greylist_params params = { 300, 172800, 3024000, 5 };

struct fixture {
	struct event_base *base;
	struct event *guard;
	void *store;
	char url[64];
	int calls[4];
	enum greylist_answer answer;
	bool in_call;
};

static struct fixture f;

static void
answered(void *arg, const struct greylist_reply *r)
{
	int i = (int)(intptr_t)arg;

	assert_false(f.in_call);
	f.calls[i]++;
	f.answer = r->answer;
	event_base_loopbreak(f.base);
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	fail_msg("no answer within 10 s");
}

/* A port on 127.0.0.1 that nothing listens on: bound, then closed. */
static unsigned
closed_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

static int
setup(void **state)
{
	char err[256] = "";
	struct timeval tv = { 10, 0 };

	(void)state;
	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	f.guard = evtimer_new(f.base, guard_cb, NULL);
	evtimer_add(f.guard, &tv);
	snprintf(f.url, sizeof(f.url), "redis://127.0.0.1:%u/0", closed_port());
	f.store = greylist_backend_redis.open(f.url, "/nonexistent", &params, f.base,
	    err, sizeof(err));
	if (f.store == NULL)
		print_error("open: %s\n", err);
	assert_non_null(f.store);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (f.store != NULL)
		greylist_backend_redis.close(f.store);
	event_free(f.guard);
	event_base_free(f.base);
	return 0;
}

static struct greylist_query *
check(int i)
{
	struct greylist_triplet t = { "192.0.2.0/24", "a@example.org", "b@example.net" };
	struct greylist_query *q;

	f.in_call = true;
	q = greylist_backend_redis.check(f.store, &t, time(NULL), answered,
	    (void *)(intptr_t)i);
	f.in_call = false;
	assert_non_null(q);
	assert_ptr_equal(q->backend, &greylist_backend_redis);
	return q;
}

static void
test_trouble_later(void **state)
{
	(void)state;
	check(0);
	assert_int_equal(f.calls[0], 0);
	event_base_dispatch(f.base);
	assert_int_equal(f.calls[0], 1);
	assert_int_equal(f.answer, GREYLIST_TROUBLE);
	/* Again, now that the connection is known to be down. */
	check(1);
	event_base_dispatch(f.base);
	assert_int_equal(f.calls[1], 1);
	assert_int_equal(f.answer, GREYLIST_TROUBLE);
}

static void
test_cancel(void **state)
{
	(void)state;
	greylist_backend_redis.cancel(check(0));
	check(1);
	event_base_dispatch(f.base);
	assert_int_equal(f.calls[1], 1);
	/* Let the loop run on, past when the first would have answered. */
	check(2);
	event_base_dispatch(f.base);
	assert_int_equal(f.calls[0], 0);
}

static void
test_close_with_queries_out(void **state)
{
	struct timeval tv = { 0, 300000 };

	(void)state;
	check(0);
	check(1);
	greylist_backend_redis.close(f.store);
	f.store = NULL;
	event_base_loopexit(f.base, &tv);
	event_base_dispatch(f.base);
	assert_int_equal(f.calls[0] + f.calls[1], 0);
}

static void
test_bad_url(void **state)
{
	char err[256] = "";
	struct event_base *base = event_base_new();

	(void)state;
	assert_null(greylist_backend_redis.open("redis://127.0.0.1:0/0", "/x", &params,
	    base, err, sizeof(err)));
	assert_non_null(strstr(err, "port"));
	assert_null(greylist_backend_redis.open("redis://no-such-host.invalid/0", "/x",
	    &params, base, err, sizeof(err)));
	assert_non_null(strstr(err, "no-such-host.invalid"));
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_trouble_later, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_queries_out, setup, teardown),
		cmocka_unit_test(test_bad_url),
	};

	log_init("test", true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
