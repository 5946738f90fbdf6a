/*
 * Unit tests of the AUTH failure throttle (src/auth/throttle.c): the
 * growing delay and its cap, blocking at max_failures, unblocking after
 * block_seconds, the failure window, success clearing an address,
 * eviction when the table is full (blocked entries kept), IPv4-mapped
 * IPv6 sharing the IPv4 entry, and distinct IPv6 addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "auth/throttle.h"

static struct sockaddr_storage
addr(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static void
test_growing_delay(void **state)
{
	struct auth_throttle *t = auth_throttle_new(100, 600, 16);
	struct sockaddr_storage a = addr("192.0.2.1");
	static const unsigned want[] = { 1, 2, 4, 8, 16, 16, 16 };
	unsigned delay;

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_false(auth_throttle_fail(t, SA(a), 1000 + (time_t)i,
		    &delay));
		assert_int_equal(delay, want[i]);
	}
	assert_false(auth_throttle_blocked(t, SA(a), 1010));
	auth_throttle_free(t);
}

static void
test_block_and_unblock(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 16);
	struct sockaddr_storage a = addr("192.0.2.1"), b = addr("192.0.2.2");
	unsigned delay;

	(void)state;
	assert_false(auth_throttle_fail(t, SA(a), 1000, &delay));
	assert_false(auth_throttle_fail(t, SA(a), 1001, &delay));
	assert_false(auth_throttle_blocked(t, SA(a), 1002));
	assert_true(auth_throttle_fail(t, SA(a), 1002, &delay));
	assert_int_equal(delay, 4);
	assert_true(auth_throttle_blocked(t, SA(a), 1002));
	assert_true(auth_throttle_blocked(t, SA(a), 1601));
	assert_false(auth_throttle_blocked(t, SA(b), 1100));
	/* After block_seconds it is free again, and starts afresh. */
	assert_false(auth_throttle_blocked(t, SA(a), 1602));
	assert_false(auth_throttle_fail(t, SA(a), 1603, &delay));
	assert_int_equal(delay, 1);
	auth_throttle_free(t);
}

static void
test_unblock_without_check(void **state)
{
	struct auth_throttle *t = auth_throttle_new(2, 100, 16);
	struct sockaddr_storage a = addr("192.0.2.1");
	unsigned delay;

	(void)state;
	assert_false(auth_throttle_fail(t, SA(a), 0, &delay));
	assert_true(auth_throttle_fail(t, SA(a), 1, &delay));
	/* A failure after the block ended counts as the first again. */
	assert_false(auth_throttle_fail(t, SA(a), 200, &delay));
	assert_int_equal(delay, 1);
	assert_false(auth_throttle_blocked(t, SA(a), 200));
	auth_throttle_free(t);
}

static void
test_window(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 16);
	struct sockaddr_storage a = addr("192.0.2.1");
	unsigned delay;

	(void)state;
	assert_false(auth_throttle_fail(t, SA(a), 0, &delay));
	assert_false(auth_throttle_fail(t, SA(a), 10, &delay));
	/* The third failure comes after the window: no block. */
	assert_false(auth_throttle_fail(t, SA(a), THROTTLE_WINDOW + 1, &delay));
	assert_int_equal(delay, 1);
	assert_false(auth_throttle_blocked(t, SA(a), THROTTLE_WINDOW + 1));
	auth_throttle_free(t);

	/* A block_time shorter than the failure delays does not shrink the
	 * window: slow guessing is still counted. */
	t = auth_throttle_new(3, 3, 16);
	assert_false(auth_throttle_fail(t, SA(a), 0, &delay));
	assert_false(auth_throttle_fail(t, SA(a), 1, &delay));
	assert_true(auth_throttle_fail(t, SA(a), 3, &delay));
	auth_throttle_free(t);
}

static void
test_success_clears(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 16);
	struct sockaddr_storage a = addr("2001:db8::1");
	unsigned delay;

	(void)state;
	assert_false(auth_throttle_fail(t, SA(a), 0, &delay));
	assert_false(auth_throttle_fail(t, SA(a), 1, &delay));
	auth_throttle_success(t, SA(a));
	assert_false(auth_throttle_fail(t, SA(a), 2, &delay));
	assert_int_equal(delay, 1);
	assert_false(auth_throttle_fail(t, SA(a), 3, &delay));
	assert_true(auth_throttle_fail(t, SA(a), 4, &delay));
	/* Success on an unknown address is harmless. */
	{
		struct sockaddr_storage o = addr("2001:db8::2");

		auth_throttle_success(t, SA(o));
		assert_false(auth_throttle_blocked(t, SA(o), 4));
	}
	auth_throttle_free(t);
}

static void
test_eviction(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 4);
	struct sockaddr_storage blocked = addr("198.51.100.1");
	char ip[32];
	unsigned delay;

	(void)state;
	assert_false(auth_throttle_fail(t, SA(blocked), 0, &delay));
	assert_false(auth_throttle_fail(t, SA(blocked), 0, &delay));
	assert_true(auth_throttle_fail(t, SA(blocked), 0, &delay));
	/* A flood of fresh addresses fills the table many times over. */
	for (int i = 0; i < 50; i++) {
		struct sockaddr_storage a;

		snprintf(ip, sizeof(ip), "203.0.113.%d", i + 1);
		a = addr(ip);
		assert_false(auth_throttle_fail(t, SA(a), 10 + i, &delay));
		assert_int_equal(delay, 1);
	}
	/* The blocked address survived; the stalest fresh ones went. */
	assert_true(auth_throttle_blocked(t, SA(blocked), 100));
	{
		struct sockaddr_storage old = addr("203.0.113.1");
		struct sockaddr_storage recent = addr("203.0.113.50");

		assert_false(auth_throttle_fail(t, SA(recent), 100, &delay));
		assert_int_equal(delay, 2);	/* still remembered */
		assert_false(auth_throttle_fail(t, SA(old), 101, &delay));
		assert_int_equal(delay, 1);	/* was evicted */
	}
	auth_throttle_free(t);
}

static void
test_v4_mapped(void **state)
{
	struct auth_throttle *t = auth_throttle_new(2, 600, 16);
	struct sockaddr_storage v4 = addr("192.0.2.7");
	struct sockaddr_storage mapped = addr("::ffff:192.0.2.7");
	struct sockaddr_storage other = addr("::ffff:192.0.2.8");
	struct sockaddr_storage v6 = addr("2001:db8::7");
	unsigned delay;

	(void)state;
	assert_false(auth_throttle_fail(t, SA(mapped), 0, &delay));
	assert_true(auth_throttle_fail(t, SA(v4), 1, &delay));
	assert_true(auth_throttle_blocked(t, SA(mapped), 2));
	assert_true(auth_throttle_blocked(t, SA(v4), 2));
	assert_false(auth_throttle_blocked(t, SA(other), 2));
	assert_false(auth_throttle_blocked(t, SA(v6), 2));
	auth_throttle_free(t);
	auth_throttle_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growing_delay),
		cmocka_unit_test(test_block_and_unblock),
		cmocka_unit_test(test_unblock_without_check),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_success_clears),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_v4_mapped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
