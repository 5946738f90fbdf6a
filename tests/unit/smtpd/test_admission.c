/*
 * Unit tests of src/smtpd/admission.c: concurrent connections and the
 * connection rate per client network, at each limit on both sides; the
 * one-report-per-window rule; entries freed when their count drops to
 * zero or their minute is over; the table's bound; and many networks
 * (the hashed lookup) without a count going astray.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "testutil.h"

#include "smtpd/admission.h"

#define SA(ss)	((struct sockaddr *)&(ss))

static struct admission *
table(unsigned per_network, unsigned rate, size_t entries)
{
	const struct admission_limits l = {
		.max_per_network = per_network,
		.max_rate = rate,
		.prefixes = { 32, 64 },
		.max_entries = entries,
		.seed = 12345,
	};

	return admission_new(&l);
}

static void
test_concurrency_boundary(void **state)
{
	struct admission *a = table(3, 0, 100);
	struct sockaddr_storage c = tu_addr("192.0.2.7");
	struct sockaddr_storage other = tu_addr("192.0.2.8");
	struct admission_client *got[3], *none;
	bool first;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(admission_enter(a, SA(c), 0, &got[i], NULL), ADMISSION_OK);
	/* The third is in, the fourth is not; another address is.  Only
	 * the first refusal of a minute is to be reported. */
	assert_int_equal(admission_enter(a, SA(c), 0, &none, &first), ADMISSION_CONCURRENCY);
	assert_null(none);
	assert_true(first);
	assert_int_equal(admission_enter(a, SA(c), 59999, &none, &first), ADMISSION_CONCURRENCY);
	assert_false(first);
	assert_int_equal(admission_enter(a, SA(c), 60000, &none, &first), ADMISSION_CONCURRENCY);
	assert_true(first);
	assert_int_equal(admission_connections(a, SA(c)), 3);
	assert_int_equal(admission_enter(a, SA(other), 0, &none, NULL), ADMISSION_OK);
	admission_leave(a, none, 0);
	/* One leaves: one more may come. */
	admission_leave(a, got[0], 60001);
	assert_int_equal(admission_enter(a, SA(c), 60001, &got[0], NULL), ADMISSION_OK);
	for (int i = 0; i < 3; i++)
		admission_leave(a, got[i], 60002);
	/* Without a rate limit nothing outlives the last connection. */
	assert_int_equal(admission_size(a), 0);
	admission_leave(a, NULL, 60002);
	admission_free(a);
	admission_free(NULL);
}

static void
test_ipv6_64_is_one_network(void **state)
{
	struct admission *a = table(2, 0, 100);
	struct sockaddr_storage x = tu_addr("2001:db8:1:2::1");
	struct sockaddr_storage y = tu_addr("2001:db8:1:2:ffff::9");
	struct sockaddr_storage z = tu_addr("2001:db8:1:3::1");
	struct admission_client *c1, *c2, *c3, *none;

	(void)state;
	assert_int_equal(admission_enter(a, SA(x), 0, &c1, NULL), ADMISSION_OK);
	assert_int_equal(admission_enter(a, SA(y), 0, &c2, NULL), ADMISSION_OK);
	assert_ptr_equal(c1, c2);
	assert_int_equal(admission_enter(a, SA(x), 0, &none, NULL), ADMISSION_CONCURRENCY);
	assert_int_equal(admission_enter(a, SA(z), 0, &c3, NULL), ADMISSION_OK);
	admission_leave(a, c1, 0);
	admission_leave(a, c2, 0);
	admission_leave(a, c3, 0);
	admission_free(a);
}

static void
test_rate_boundary_and_window(void **state)
{
	struct admission *a = table(100, 5, 100);
	struct sockaddr_storage c = tu_addr("192.0.2.7");
	struct admission_client *got;
	bool first;

	(void)state;
	/* Five in the minute (leaving does not give the count back). */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(admission_enter(a, SA(c), (uint64_t)i * 1000,
		    &got, &first), ADMISSION_OK);
		assert_false(first);
		admission_leave(a, got, (uint64_t)i * 1000);
	}
	/* The idle entry keeps the count within the window. */
	assert_int_equal(admission_size(a), 1);
	/* The sixth is refused, reported once; the seventh silently. */
	assert_int_equal(admission_enter(a, SA(c), 10000, &got, &first), ADMISSION_RATE);
	assert_null(got);
	assert_true(first);
	assert_int_equal(admission_enter(a, SA(c), 59999, &got, &first), ADMISSION_RATE);
	assert_false(first);
	/* A minute after the first: a new window. */
	assert_int_equal(admission_enter(a, SA(c), 60000, &got, &first), ADMISSION_OK);
	admission_leave(a, got, 60000);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(admission_enter(a, SA(c), 60001, &got, NULL), ADMISSION_OK);
		admission_leave(a, got, 60001);
	}
	/* Refused again; reported again only a minute after the last
	 * report. */
	assert_int_equal(admission_enter(a, SA(c), 60002, &got, &first), ADMISSION_RATE);
	assert_false(first);
	assert_int_equal(admission_enter(a, SA(c), 70000, &got, &first), ADMISSION_RATE);
	assert_true(first);
	/* A socket of no IP family is one network of its own. */
	assert_int_equal(admission_enter(a, SA((struct sockaddr_storage){ 0 }), 60003,
	    &got, NULL), ADMISSION_OK);
	admission_leave(a, got, 60003);
	assert_int_equal(admission_size(a), 2);
	/* Their minutes over, idle entries are freed by the next arrival. */
	{
		struct sockaddr_storage o = tu_addr("198.51.100.1");

		assert_int_equal(admission_enter(a, SA(o), 200000, &got, NULL), ADMISSION_OK);
		assert_int_equal(admission_size(a), 1);
		admission_leave(a, got, 200000);
	}
	admission_free(a);
}

/* Connections still open when the window ends keep their entry; the
 * window restarts with the next connection. */
static void
test_rate_with_open_connections(void **state)
{
	struct admission *a = table(100, 2, 100);
	struct sockaddr_storage c = tu_addr("192.0.2.7");
	struct admission_client *c1, *c2, *none;

	(void)state;
	assert_int_equal(admission_enter(a, SA(c), 0, &c1, NULL), ADMISSION_OK);
	assert_int_equal(admission_enter(a, SA(c), 0, &c2, NULL), ADMISSION_OK);
	assert_int_equal(admission_enter(a, SA(c), 1, &none, NULL), ADMISSION_RATE);
	assert_int_equal(admission_enter(a, SA(c), 70000, &none, NULL), ADMISSION_OK);
	admission_leave(a, none, 70000);
	admission_leave(a, c1, 70000);
	/* Idle again but within its window (from 70000): kept. */
	admission_leave(a, c2, 70001);
	assert_int_equal(admission_size(a), 1);
	admission_free(a);
}

/* A full table makes room from its oldest idle entry, never a busy one;
 * with every entry busy, a new network is refused. */
static void
test_bounded(void **state)
{
	struct admission *a = table(10, 10, 3);
	struct sockaddr_storage n[5];
	struct admission_client *c[5];
	char ip[32];

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%d", i + 1);
		n[i] = tu_addr(ip);
	}
	assert_int_equal(admission_enter(a, SA(n[0]), 0, &c[0], NULL), ADMISSION_OK);
	admission_leave(a, c[0], 0);	/* idle, in its window */
	assert_int_equal(admission_enter(a, SA(n[1]), 0, &c[1], NULL), ADMISSION_OK);
	assert_int_equal(admission_enter(a, SA(n[2]), 0, &c[2], NULL), ADMISSION_OK);
	assert_int_equal(admission_size(a), 3);
	/* n[0]'s idle entry goes for n[3]. */
	assert_int_equal(admission_enter(a, SA(n[3]), 1, &c[3], NULL), ADMISSION_OK);
	assert_int_equal(admission_size(a), 3);
	assert_int_equal(admission_enter(a, SA(n[4]), 1, &c[4], NULL), ADMISSION_FULL);
	assert_null(c[4]);
	/* The busy ones kept their counts. */
	assert_int_equal(admission_connections(a, SA(n[1])), 1);
	assert_int_equal(admission_connections(a, SA(n[3])), 1);
	for (int i = 1; i < 4; i++)
		admission_leave(a, c[i], 2);
	admission_free(a);
}

/* Many networks at once: every count lands on its own entry. */
static void
test_many_networks(void **state)
{
	enum { N = 5000 };
	struct admission *a = table(2, 0, N + 10);
	static struct admission_client *c[N][2];
	char ip[64];

	(void)state;
	for (int i = 0; i < N; i++) {
		struct sockaddr_storage s;

		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::1", i / 256, i % 256);
		s = tu_addr(ip);
		assert_int_equal(admission_enter(a, SA(s), 0, &c[i][0], NULL), ADMISSION_OK);
		snprintf(ip, sizeof(ip), "2001:db8:%x:%x::2", i / 256, i % 256);
		s = tu_addr(ip);
		assert_int_equal(admission_enter(a, SA(s), 0, &c[i][1], NULL), ADMISSION_OK);
		assert_int_equal(admission_enter(a, SA(s), 0, &(struct admission_client *){ NULL },
		    NULL), ADMISSION_CONCURRENCY);
	}
	assert_int_equal(admission_size(a), N);
	for (int i = 0; i < N; i++) {
		assert_ptr_equal(c[i][0], c[i][1]);
		admission_leave(a, c[i][0], 1);
		admission_leave(a, c[i][1], 1);
	}
	assert_int_equal(admission_size(a), 0);
	admission_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrency_boundary),
		cmocka_unit_test(test_ipv6_64_is_one_network),
		cmocka_unit_test(test_rate_boundary_and_window),
		cmocka_unit_test(test_rate_with_open_connections),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_many_networks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
