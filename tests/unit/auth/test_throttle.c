/*
 * Unit tests of the AUTH throttle (src/auth/throttle.c), against the
 * policy in throttle.h: one check in flight per network, the failure
 * delay holding the network's next check, twenty parallel attempts
 * checking three passwords, the block at max_failures (and its end), no check and no
 * success while blocked, a success that neither clears a block nor
 * forgets earlier failures, the window, the /64 of IPv6 and IPv4-mapped
 * addresses as one network, and eviction (blocked and busy entries kept);
 * the delays and blocks exact to the millisecond of a monotonic clock.
 * Time is passed in, so every step is exact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "testutil.h"

#include "auth/throttle.h"
#include "common/netkey.h"

#define SA(ss) ((const struct sockaddr *)&(ss))

/* Most tests speak in whole seconds; the throttle's clock is in ms. */
static enum auth_throttle_turn
begin_s(struct auth_throttle *t, const struct sockaddr *sa, uint64_t sec)
{
	return auth_throttle_begin(t, sa, sec * 1000, NULL);
}

static bool
end_s(struct auth_throttle *t, const struct sockaddr *sa, uint64_t sec,
    bool ok, unsigned *delay)
{
	unsigned ms;
	bool blocked = auth_throttle_end(t, sa, sec * 1000, ok, &ms);

	assert_int_equal(ms % 1000, 0);
	*delay = ms / 1000;
	return blocked;
}

static bool
blocked_s(struct auth_throttle *t, const struct sockaddr *sa, uint64_t sec)
{
	return auth_throttle_blocked(t, sa, sec * 1000);
}

/* One whole check at time now: GO, then its end.  Returns whether the
 * network got blocked; *delay the failure's delay. */
static bool
check(struct auth_throttle *t, const struct sockaddr *sa, uint64_t now, bool ok,
    unsigned *delay)
{
	assert_int_equal(begin_s(t, sa, now), THROTTLE_GO);
	return end_s(t, sa, now, ok, delay);
}

static void
test_growing_delay(void **state)
{
	struct auth_throttle *t = auth_throttle_new(100, 600, 16, NULL);
	struct sockaddr_storage a = tu_addr("192.0.2.1");
	static const unsigned want[] = { 1, 2, 4, 8, 16, 16, 16 };
	uint64_t now = 1000;
	unsigned delay;

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_false(check(t, SA(a), now, false, &delay));
		assert_int_equal(delay, want[i]);
		now += delay;
	}
	assert_false(blocked_s(t, SA(a), now));
	auth_throttle_free(t);
}

static void
test_one_check_at_a_time(void **state)
{
	struct auth_throttle *t = auth_throttle_new(5, 600, 16, NULL);
	struct sockaddr_storage a = tu_addr("192.0.2.1"), b = tu_addr("192.0.2.2");
	unsigned delay;

	(void)state;
	assert_int_equal(begin_s(t, SA(a), 100), THROTTLE_GO);
	/* The same network waits, however many connections it has... */
	for (int i = 0; i < 20; i++)
		assert_int_equal(begin_s(t, SA(a), 100), THROTTLE_WAIT);
	/* ...another network does not. */
	assert_int_equal(begin_s(t, SA(b), 100), THROTTLE_GO);
	assert_false(end_s(t, SA(b), 100, true, &delay));
	/* A success frees the network at once. */
	assert_false(end_s(t, SA(a), 100, true, &delay));
	assert_int_equal(delay, 0);
	assert_int_equal(begin_s(t, SA(a), 100), THROTTLE_GO);
	/* A failure holds it for its delay (1 s, then 2 s). */
	assert_false(end_s(t, SA(a), 100, false, &delay));
	assert_int_equal(delay, 1);
	assert_int_equal(begin_s(t, SA(a), 100), THROTTLE_WAIT);
	assert_false(check(t, SA(a), 101, false, &delay));
	assert_int_equal(delay, 2);
	assert_int_equal(begin_s(t, SA(a), 102), THROTTLE_WAIT);
	assert_int_equal(begin_s(t, SA(a), 103), THROTTLE_GO);
	auth_throttle_free(t);
}

/*
 * Twenty parallel attempts from one address, max_failures = 3: each waits
 * its turn, so exactly three passwords are checked, and every one after
 * the block is refused without a check, the right one included.
 */
static void
test_parallel_guessing(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 16, NULL);
	struct sockaddr_storage a = tu_addr("198.51.100.7");
	unsigned checked = 0, refused = 0, delay = 0;
	bool waiting[20];
	uint64_t now = 50;

	(void)state;
	for (int i = 0; i < 20; i++)
		waiting[i] = true;
	while (refused + checked < 20) {
		for (int i = 0; i < 20; i++) {
			if (!waiting[i])
				continue;
			switch (begin_s(t, SA(a), now)) {
			case THROTTLE_GO:
				checked++;
				waiting[i] = false;
				/* The 20th has the right password. */
				end_s(t, SA(a), now, i == 19, &delay);
				break;
			case THROTTLE_BLOCKED:
				refused++;
				waiting[i] = false;
				break;
			case THROTTLE_WAIT:
				break;
			}
		}
		now++;
		assert_true(now < 100);
	}
	assert_int_equal(checked, 3);
	assert_int_equal(refused, 17);
	assert_true(waiting[19] == false);
	assert_true(blocked_s(t, SA(a), now));
	auth_throttle_free(t);
}

/* An end needs its begin: a stray one neither counts nor frees. */
static void
test_end_without_begin(void **state)
{
	struct auth_throttle *t = auth_throttle_new(2, 600, 16, NULL);
	struct sockaddr_storage a = tu_addr("192.0.2.1");
	unsigned delay;

	(void)state;
	assert_false(end_s(t, SA(a), 0, false, &delay));
	assert_int_equal(delay, 0);
	assert_false(check(t, SA(a), 0, false, &delay));
	assert_int_equal(delay, 1);
	assert_false(end_s(t, SA(a), 0, false, &delay));
	assert_int_equal(delay, 0);
	assert_false(blocked_s(t, SA(a), 0));
	/* The next real failure is the second: it blocks. */
	assert_true(check(t, SA(a), 1, false, &delay));
	auth_throttle_free(t);
}

static void
test_block_and_unblock(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 16, NULL);
	struct sockaddr_storage a = tu_addr("192.0.2.1"), b = tu_addr("192.0.2.2");
	unsigned delay;

	(void)state;
	assert_false(check(t, SA(a), 1000, false, &delay));
	assert_false(check(t, SA(a), 1001, false, &delay));
	assert_false(blocked_s(t, SA(a), 1003));
	assert_true(check(t, SA(a), 1003, false, &delay));
	assert_true(blocked_s(t, SA(a), 1003));
	assert_int_equal(begin_s(t, SA(a), 1003), THROTTLE_BLOCKED);
	assert_int_equal(begin_s(t, SA(a), 1602), THROTTLE_BLOCKED);
	assert_true(blocked_s(t, SA(a), 1602));
	assert_false(blocked_s(t, SA(b), 1100));
	/* After block_seconds it is free again, and starts afresh. */
	assert_false(blocked_s(t, SA(a), 1603));
	assert_false(check(t, SA(a), 1603, false, &delay));
	assert_int_equal(delay, 1);
	auth_throttle_free(t);

	/* The end of a block is noticed by begin too. */
	t = auth_throttle_new(1, 100, 16, NULL);
	assert_true(check(t, SA(a), 0, false, &delay));
	assert_int_equal(begin_s(t, SA(a), 99), THROTTLE_BLOCKED);
	assert_false(check(t, SA(a), 100, true, &delay));
	auth_throttle_free(t);
}

static void
test_success_keeps_failures(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 16, NULL);
	struct sockaddr_storage a = tu_addr("2001:db8::1");
	unsigned delay;

	(void)state;
	assert_false(check(t, SA(a), 0, false, &delay));
	assert_false(check(t, SA(a), 1, false, &delay));
	/* A valid login between guesses takes back only its own count... */
	assert_false(check(t, SA(a), 3, true, &delay));
	assert_false(check(t, SA(a), 3, true, &delay));
	/* ...so the third wrong guess still blocks. */
	assert_true(check(t, SA(a), 3, false, &delay));
	/* And nothing clears the block: no check, no success, starts. */
	assert_int_equal(begin_s(t, SA(a), 4), THROTTLE_BLOCKED);
	assert_true(blocked_s(t, SA(a), 4));
	auth_throttle_free(t);
}

static void
test_window(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 16, NULL);
	struct sockaddr_storage a = tu_addr("192.0.2.1");
	unsigned delay;

	(void)state;
	assert_false(check(t, SA(a), 0, false, &delay));
	assert_false(check(t, SA(a), 10, false, &delay));
	/* The third failure comes after the window: no block. */
	assert_false(check(t, SA(a), THROTTLE_WINDOW + 1, false, &delay));
	assert_int_equal(delay, 1);
	assert_false(blocked_s(t, SA(a), THROTTLE_WINDOW + 1));
	auth_throttle_free(t);

	/* A block_time shorter than the failure delays does not shrink the
	 * window: slow guessing is still counted. */
	t = auth_throttle_new(3, 3, 16, NULL);
	assert_false(check(t, SA(a), 0, false, &delay));
	assert_false(check(t, SA(a), 1, false, &delay));
	assert_true(check(t, SA(a), 3, false, &delay));
	auth_throttle_free(t);
}

static void
test_networks(void **state)
{
	struct auth_throttle *t = auth_throttle_new(2, 600, 16, NULL);
	struct sockaddr_storage v4 = tu_addr("192.0.2.7");
	struct sockaddr_storage mapped = tu_addr("::ffff:192.0.2.7");
	struct sockaddr_storage other = tu_addr("::ffff:192.0.2.8");
	struct sockaddr_storage v6 = tu_addr("2001:db8:0:1::7");
	struct sockaddr_storage same64 = tu_addr("2001:db8:0:1:ffff:ffff:ffff:1");
	struct sockaddr_storage next64 = tu_addr("2001:db8:0:2::7");
	unsigned delay;

	(void)state;
	/* IPv4-mapped is the IPv4 address. */
	assert_false(check(t, SA(mapped), 0, false, &delay));
	assert_true(check(t, SA(v4), 1, false, &delay));
	assert_true(blocked_s(t, SA(mapped), 2));
	assert_true(blocked_s(t, SA(v4), 2));
	assert_false(blocked_s(t, SA(other), 2));
	/* An IPv6 /64 is one network: a second address waits its turn and
	 * shares the count. */
	assert_int_equal(begin_s(t, SA(v6), 10), THROTTLE_GO);
	assert_int_equal(begin_s(t, SA(same64), 10), THROTTLE_WAIT);
	assert_int_equal(begin_s(t, SA(next64), 10), THROTTLE_GO);
	assert_false(end_s(t, SA(next64), 10, true, &delay));
	assert_false(end_s(t, SA(v6), 10, false, &delay));
	assert_true(check(t, SA(same64), 11, false, &delay));
	assert_true(blocked_s(t, SA(v6), 12));
	assert_false(blocked_s(t, SA(next64), 12));
	auth_throttle_free(t);
	auth_throttle_free(NULL);
}

/* The configured grouping (client_prefix_v4/v6) is the throttle's too. */
static void
test_configured_networks(void **state)
{
	const struct netkey_prefixes p = { 24, 48 };
	struct auth_throttle *t = auth_throttle_new(2, 600, 16, &p);
	struct sockaddr_storage a = tu_addr("192.0.2.7");
	struct sockaddr_storage same24 = tu_addr("192.0.2.200");
	struct sockaddr_storage next24 = tu_addr("192.0.3.7");
	struct sockaddr_storage v6 = tu_addr("2001:db8:1:1::7");
	struct sockaddr_storage same48 = tu_addr("2001:db8:1:ffff::1");
	struct sockaddr_storage next48 = tu_addr("2001:db8:2::1");
	unsigned delay;

	(void)state;
	assert_false(check(t, SA(a), 0, false, &delay));
	assert_true(check(t, SA(same24), 1, false, &delay));
	assert_true(blocked_s(t, SA(a), 2));
	assert_false(blocked_s(t, SA(next24), 2));
	assert_false(check(t, SA(v6), 10, false, &delay));
	assert_true(check(t, SA(same48), 11, false, &delay));
	assert_true(blocked_s(t, SA(v6), 12));
	assert_false(blocked_s(t, SA(next48), 12));
	auth_throttle_free(t);
}

/* The hash index follows entries through reuse: a full table cycled
 * many times over still finds exactly the networks it holds. */
static void
test_index_through_reuse(void **state)
{
	struct auth_throttle *t = auth_throttle_new(1, 6000, 64, NULL);
	char ip[32];
	unsigned delay;

	(void)state;
	for (unsigned i = 0; i < 1000; i++) {
		struct sockaddr_storage a;

		snprintf(ip, sizeof(ip), "10.0.%u.%u", i / 256, i % 256);
		a = tu_addr(ip);
		assert_true(check(t, SA(a), i, false, &delay));
	}
	for (unsigned i = 0; i < 1000; i++) {
		struct sockaddr_storage a;

		snprintf(ip, sizeof(ip), "10.0.%u.%u", i / 256, i % 256);
		a = tu_addr(ip);
		/* The 64 latest are blocked; the rest made room. */
		assert_int_equal(blocked_s(t, SA(a), 1000), i >= 1000 - 64);
	}
	auth_throttle_free(t);
}

static void
test_eviction(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 4, NULL);
	struct sockaddr_storage blocked = tu_addr("198.51.100.1");
	struct sockaddr_storage busy = tu_addr("198.51.100.2");
	char ip[32];
	unsigned delay;

	(void)state;
	assert_false(check(t, SA(blocked), 0, false, &delay));
	assert_false(check(t, SA(blocked), 1, false, &delay));
	assert_true(check(t, SA(blocked), 3, false, &delay));
	assert_int_equal(begin_s(t, SA(busy), 3), THROTTLE_GO);
	/* A flood of fresh addresses fills the table many times over. */
	for (int i = 0; i < 50; i++) {
		struct sockaddr_storage a;

		snprintf(ip, sizeof(ip), "203.0.113.%d", i + 1);
		a = tu_addr(ip);
		assert_false(check(t, SA(a), 10 + i, false, &delay));
		assert_int_equal(delay, 1);
	}
	/* The blocked address and the one with a check in flight survived;
	 * the stalest fresh ones went. */
	assert_true(blocked_s(t, SA(blocked), 100));
	assert_int_equal(begin_s(t, SA(busy), 100), THROTTLE_WAIT);
	assert_false(end_s(t, SA(busy), 100, false, &delay));
	assert_int_equal(delay, 1);
	{
		struct sockaddr_storage old = tu_addr("203.0.113.1");
		struct sockaddr_storage recent = tu_addr("203.0.113.50");

		assert_false(check(t, SA(recent), 100, false, &delay));
		assert_int_equal(delay, 2);	/* still remembered */
		assert_false(check(t, SA(old), 101, false, &delay));
		assert_int_equal(delay, 1);	/* was evicted */
	}
	auth_throttle_free(t);

	/* Every entry busy: a new network waits rather than evict one. */
	t = auth_throttle_new(3, 600, 2, NULL);
	{
		struct sockaddr_storage a = tu_addr("192.0.2.1"), b = tu_addr("192.0.2.2");
		struct sockaddr_storage c = tu_addr("192.0.2.3");

		assert_int_equal(begin_s(t, SA(a), 0), THROTTLE_GO);
		assert_int_equal(begin_s(t, SA(b), 0), THROTTLE_GO);
		assert_int_equal(begin_s(t, SA(c), 0), THROTTLE_WAIT);
		assert_false(end_s(t, SA(a), 0, true, &delay));
		assert_int_equal(begin_s(t, SA(c), 0), THROTTLE_GO);
		/* b's check was kept through it all. */
		assert_false(end_s(t, SA(b), 0, false, &delay));
		assert_int_equal(delay, 1);
	}
	auth_throttle_free(t);
}

/*
 * The clock is milliseconds, so the delays are exact: a failure at
 * 0.999 s holds the network until 1.999 s (whole seconds let the next
 * check in at 1.000 s, 1 ms later), WAIT says how long is left, and a
 * block ends block_time after it began, to the millisecond.
 */
static void
test_exact_milliseconds(void **state)
{
	struct auth_throttle *t = auth_throttle_new(3, 600, 16, NULL);
	struct sockaddr_storage a = tu_addr("192.0.2.1");
	uint64_t wait;
	unsigned delay;

	(void)state;
	assert_int_equal(auth_throttle_begin(t, SA(a), 999, &wait), THROTTLE_GO);
	assert_int_equal(wait, 0);
	/* In flight: wait for its end, however long that takes. */
	assert_int_equal(auth_throttle_begin(t, SA(a), 1500, &wait), THROTTLE_WAIT);
	assert_int_equal(wait, 0);
	assert_false(auth_throttle_end(t, SA(a), 1000, false, &delay));
	assert_int_equal(delay, 1000);
	assert_int_equal(auth_throttle_begin(t, SA(a), 1001, &wait), THROTTLE_WAIT);
	assert_int_equal(wait, 999);
	assert_int_equal(auth_throttle_begin(t, SA(a), 1999, &wait), THROTTLE_WAIT);
	assert_int_equal(wait, 1);
	assert_int_equal(auth_throttle_begin(t, SA(a), 2000, &wait), THROTTLE_GO);
	assert_false(auth_throttle_end(t, SA(a), 2345, false, &delay));
	assert_int_equal(delay, 2000);
	assert_int_equal(auth_throttle_begin(t, SA(a), 4344, NULL), THROTTLE_WAIT);
	assert_int_equal(auth_throttle_begin(t, SA(a), 4345, NULL), THROTTLE_GO);
	/* The third failure blocks for 600 s from its end, exactly. */
	assert_true(auth_throttle_end(t, SA(a), 5000, false, &delay));
	assert_true(auth_throttle_blocked(t, SA(a), 604999));
	assert_int_equal(auth_throttle_begin(t, SA(a), 604999, &wait),
	    THROTTLE_BLOCKED);
	assert_false(auth_throttle_blocked(t, SA(a), 605000));
	assert_int_equal(auth_throttle_begin(t, SA(a), 605000, NULL), THROTTLE_GO);
	auth_throttle_free(t);
}

/* The clock the callers pass: monotonic, in milliseconds. */
static void
test_now_is_monotonic_ms(void **state)
{
	struct timespec ts;
	uint64_t a, b, c;

	(void)state;
	a = auth_throttle_now();
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	b = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	c = auth_throttle_now();
	assert_true(a <= b && b <= c);
	assert_true(c - a < 1000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growing_delay),
		cmocka_unit_test(test_one_check_at_a_time),
		cmocka_unit_test(test_parallel_guessing),
		cmocka_unit_test(test_end_without_begin),
		cmocka_unit_test(test_block_and_unblock),
		cmocka_unit_test(test_success_keeps_failures),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_networks),
		cmocka_unit_test(test_configured_networks),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_index_through_reuse),
		cmocka_unit_test(test_exact_milliseconds),
		cmocka_unit_test(test_now_is_monotonic_ms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
