/*
 * The greylist's rules (src/greylist/record.c) at both sides of every
 * limit: the delay, the retry window, the lifetime of a passed triplet,
 * auto_allow at N-1 and N, an allowed network's lifetime, and what purge
 * may drop.  Pure: the clock is a number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "greylist/store.h"

#define T0	1000000		/* the first try */

static const struct greylist_params P = {
	.delay = 300, .retry_window = 172800, .lifetime = 3024000, .auto_allow = 5,
};

/* One try at now of a record in *r: the answer; retry_at, newly_passed out. */
static enum greylist_answer
try_at(struct greylist_record *r, time_t now, time_t *retry_at, bool *newly)
{
	return greylist_decide(r, now, &P, retry_at, newly);
}

static struct greylist_record
first_try(void)
{
	struct greylist_record r = { 0 };
	time_t retry;
	bool newly;

	assert_int_equal(try_at(&r, T0, &retry, &newly), GREYLIST_DEFER);
	return r;
}

static void
test_new_triplet_waits(void **state)
{
	struct greylist_record r = { 0 };
	time_t retry;
	bool newly = true;

	(void)state;
	assert_int_equal(try_at(&r, T0, &retry, &newly), GREYLIST_DEFER);
	assert_int_equal(retry, T0 + 300);
	assert_false(newly);
	assert_int_equal(r.first, T0);
	assert_int_equal(r.last, T0);
	assert_false(r.passed);
}

static void
test_delay_edges(void **state)
{
	struct greylist_record r = first_try();
	time_t retry;
	bool newly;

	(void)state;
	/* One second early: still waiting, the deadline does not move. */
	assert_int_equal(try_at(&r, T0 + 299, &retry, &newly), GREYLIST_DEFER);
	assert_int_equal(retry, T0 + 300);
	assert_int_equal(r.first, T0);
	assert_int_equal(r.last, T0 + 299);
	assert_false(newly);
	/* At the delay: passes, once counted as new. */
	assert_int_equal(try_at(&r, T0 + 300, &retry, &newly), GREYLIST_PASS);
	assert_true(newly);
	assert_true(r.passed);
	assert_int_equal(try_at(&r, T0 + 301, &retry, &newly), GREYLIST_PASS);
	assert_false(newly);
}

static void
test_clock_back_is_early(void **state)
{
	struct greylist_record r = first_try();
	time_t retry;
	bool newly;

	(void)state;
	assert_int_equal(try_at(&r, T0 - 10, &retry, &newly), GREYLIST_DEFER);
	assert_int_equal(r.first, T0);
}

static void
test_retry_window_edges(void **state)
{
	struct greylist_record r = first_try(), s = first_try();
	time_t retry;
	bool newly;

	(void)state;
	/* The last second of the window passes. */
	assert_int_equal(try_at(&r, T0 + 172800, &retry, &newly), GREYLIST_PASS);
	assert_true(newly);
	/* One second later the wait starts again from that try. */
	assert_int_equal(try_at(&s, T0 + 172801, &retry, &newly), GREYLIST_DEFER);
	assert_false(newly);
	assert_int_equal(s.first, T0 + 172801);
	assert_int_equal(retry, T0 + 172801 + 300);
}

static void
test_lifetime_edges(void **state)
{
	struct greylist_record r = first_try(), s;
	time_t retry, last = T0 + 400;
	bool newly;

	(void)state;
	assert_int_equal(try_at(&r, last, &retry, &newly), GREYLIST_PASS);
	s = r;
	/* Used at last + lifetime: still passes, and lives on from then. */
	assert_int_equal(try_at(&r, last + 3024000, &retry, &newly), GREYLIST_PASS);
	assert_false(newly);
	assert_int_equal(r.last, last + 3024000);
	/* A second later it is forgotten: new again. */
	assert_int_equal(try_at(&s, last + 3024001, &retry, &newly), GREYLIST_DEFER);
	assert_false(s.passed);
	assert_int_equal(s.first, last + 3024001);
}

static void
test_expired_for_purge(void **state)
{
	struct greylist_record waiting = { T0, T0, false };
	struct greylist_record passed = { T0, T0 + 400, true };

	(void)state;
	assert_false(greylist_record_expired(&waiting, T0 + 172800, &P));
	assert_true(greylist_record_expired(&waiting, T0 + 172801, &P));
	assert_false(greylist_record_expired(&passed, T0 + 400 + 3024000, &P));
	assert_true(greylist_record_expired(&passed, T0 + 400 + 3024001, &P));
}

static void
test_auto_allow_edges(void **state)
{
	struct greylist_net_record n = { 0 };

	(void)state;
	assert_false(greylist_net_allows(&n, T0));
	for (unsigned i = 1; i < 5; i++) {
		greylist_net_pass(&n, T0, &P);
		assert_int_equal(n.passes, i);
		assert_false(greylist_net_allows(&n, T0));	/* N-1 */
	}
	greylist_net_pass(&n, T0, &P);
	assert_true(greylist_net_allows(&n, T0));		/* N */
	assert_int_equal(n.until, T0 + 3024000);
	/* The allowed network lives lifetime after its last use. */
	assert_true(greylist_net_allows(&n, T0 + 3024000));
	assert_false(greylist_net_allows(&n, T0 + 3024001));
	greylist_net_use(&n, T0 + 100, &P);
	assert_true(greylist_net_allows(&n, T0 + 3024100));
}

static void
test_auto_allow_expired_count_restarts(void **state)
{
	struct greylist_net_record n = { 0 };

	(void)state;
	for (int i = 0; i < 4; i++)
		greylist_net_pass(&n, T0, &P);
	/* Past until: the four old passes are forgotten. */
	greylist_net_pass(&n, T0 + 3024001, &P);
	assert_int_equal(n.passes, 1);
	assert_false(greylist_net_allows(&n, T0 + 3024001));
}

static void
test_auto_allow_off_and_one(void **state)
{
	struct greylist_params p = P;
	struct greylist_net_record n = { 0 };

	(void)state;
	p.auto_allow = 0;
	for (int i = 0; i < 100; i++)
		greylist_net_pass(&n, T0, &p);
	assert_false(greylist_net_allows(&n, T0));
	memset(&n, 0, sizeof(n));
	p.auto_allow = 1;
	greylist_net_pass(&n, T0, &p);
	assert_true(greylist_net_allows(&n, T0));
}

static void
test_operator_allow(void **state)
{
	struct greylist_net_record n = { 0 };

	(void)state;
	greylist_net_allow(&n, T0, &P);
	assert_true(greylist_net_allows(&n, T0));
	assert_int_equal(n.passes, 0);
	assert_false(greylist_net_allows(&n, T0 + 3024001));
}

static void
test_zero_delay(void **state)
{
	struct greylist_params p = P;
	struct greylist_record r = { 0 };
	time_t retry;
	bool newly;

	(void)state;
	p.delay = 0;
	/* The first try still waits: only a retry shows a real MTA. */
	assert_int_equal(greylist_decide(&r, T0, &p, &retry, &newly), GREYLIST_DEFER);
	assert_int_equal(retry, T0);
	assert_int_equal(greylist_decide(&r, T0, &p, &retry, &newly), GREYLIST_PASS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_triplet_waits),
		cmocka_unit_test(test_delay_edges),
		cmocka_unit_test(test_clock_back_is_early),
		cmocka_unit_test(test_retry_window_edges),
		cmocka_unit_test(test_lifetime_edges),
		cmocka_unit_test(test_expired_for_purge),
		cmocka_unit_test(test_auto_allow_edges),
		cmocka_unit_test(test_auto_allow_expired_count_restarts),
		cmocka_unit_test(test_auto_allow_off_and_one),
		cmocka_unit_test(test_operator_allow),
		cmocka_unit_test(test_zero_delay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
