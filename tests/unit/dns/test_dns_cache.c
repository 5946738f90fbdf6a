/*
 * Unit tests of src/dns/dns_cache.c, the positive answers resolver.c
 * keeps for their TTL: the expiry on both sides of it, names without
 * regard to case, types apart, the limits on what is kept, and a slot
 * taken over by another name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/dns_cache.h"

static char a1[4] = { 127, 0, 0, 1 };
static char a2[4] = { 192, 0, 2, 7 };

static void
put_two(struct dns_cache *c, const char *name, int ttl, uint64_t now)
{
	char *data[] = { a1, a2, NULL };
	int len[] = { 4, 4, 0 };

	dns_cache_put(c, name, 1, data, len, ttl, now);
}

static void
test_kept_until_ttl(void **state)
{
	struct dns_cache *c = dns_cache_new();
	struct dns_answer *a;

	(void)state;
	put_two(c, "localhost.", 60, 1000);
	a = dns_cache_get(c, "localhost.", 1, 1000 + 59999);
	assert_non_null(a);
	assert_int_equal(a->n, 2);
	assert_int_equal(a->len[0], 4);
	assert_memory_equal(a->data[0], a1, 4);
	assert_memory_equal(a->data[1], a2, 4);
	assert_null(a->data[2]);
	assert_int_equal(a->ttl, 1);	/* 1 ms left: rounded up */
	free(a);
	a = dns_cache_get(c, "localhost.", 1, 1000);
	assert_non_null(a);
	assert_int_equal(a->ttl, 60);
	free(a);
	/* At the TTL's end it is gone, and stays gone. */
	assert_null(dns_cache_get(c, "localhost.", 1, 1000 + 60000));
	assert_null(dns_cache_get(c, "localhost.", 1, 1000));
	dns_cache_free(c);
}

static void
test_name_case_and_type(void **state)
{
	struct dns_cache *c = dns_cache_new();
	struct dns_answer *a;

	(void)state;
	put_two(c, "Mail.Example.TEST.", 300, 0);
	a = dns_cache_get(c, "mail.example.test.", 1, 10);
	assert_non_null(a);
	free(a);
	assert_null(dns_cache_get(c, "mail.example.test.", 28, 10));
	assert_null(dns_cache_get(c, "mail.example.test", 1, 10));
	assert_null(dns_cache_get(c, "other.example.test.", 1, 10));
	dns_cache_free(c);
}

static void
test_not_kept(void **state)
{
	struct dns_cache *c = dns_cache_new();
	char *none[] = { NULL };
	int nolen[] = { 0 };
	char big[DNS_CACHE_BYTES + 1];
	char *one[] = { big, NULL };
	int bytes[] = { DNS_CACHE_BYTES, 0 };
	char *many[DNS_CACHE_RR + 2];
	int lens[DNS_CACHE_RR + 2];
	struct dns_answer *a;

	(void)state;
	memset(big, 'x', sizeof(big));
	put_two(c, "zero.test.", 0, 0);
	assert_null(dns_cache_get(c, "zero.test.", 1, 0));
	put_two(c, "negative.test.", -1, 0);
	assert_null(dns_cache_get(c, "negative.test.", 1, 0));
	dns_cache_put(c, "empty.test.", 1, none, nolen, 60, 0);
	assert_null(dns_cache_get(c, "empty.test.", 1, 0));
	/* Exactly at the byte limit: kept; one over: not. */
	dns_cache_put(c, "big.test.", 16, one, bytes, 60, 0);
	a = dns_cache_get(c, "big.test.", 16, 0);
	assert_non_null(a);
	assert_int_equal(a->len[0], DNS_CACHE_BYTES);
	free(a);
	bytes[0] = DNS_CACHE_BYTES + 1;
	dns_cache_put(c, "bigger.test.", 16, one, bytes, 60, 0);
	assert_null(dns_cache_get(c, "bigger.test.", 16, 0));
	/* Exactly DNS_CACHE_RR records: kept; one more: not. */
	for (int i = 0; i <= DNS_CACHE_RR; i++) {
		many[i] = a1;
		lens[i] = 4;
	}
	many[DNS_CACHE_RR] = NULL;
	dns_cache_put(c, "rr.test.", 1, many, lens, 60, 0);
	a = dns_cache_get(c, "rr.test.", 1, 0);
	assert_non_null(a);
	assert_int_equal(a->n, DNS_CACHE_RR);
	free(a);
	many[DNS_CACHE_RR] = a1;
	many[DNS_CACHE_RR + 1] = NULL;
	dns_cache_put(c, "rr2.test.", 1, many, lens, 60, 0);
	assert_null(dns_cache_get(c, "rr2.test.", 1, 0));
	dns_cache_free(c);
}

static void
test_slot_replaced(void **state)
{
	struct dns_cache *c = dns_cache_new();
	char name[64];
	int kept = 0;

	(void)state;
	/* More names than slots: the cache stays bounded, the last name
	 * put is always found, and some early ones were replaced. */
	for (int i = 0; i < 2 * DNS_CACHE_SLOTS; i++) {
		struct dns_answer *a;

		snprintf(name, sizeof(name), "h%d.test.", i);
		put_two(c, name, 60, 0);
		a = dns_cache_get(c, name, 1, 0);
		assert_non_null(a);
		free(a);
	}
	for (int i = 0; i < 2 * DNS_CACHE_SLOTS; i++) {
		struct dns_answer *a;

		snprintf(name, sizeof(name), "h%d.test.", i);
		a = dns_cache_get(c, name, 1, 0);
		kept += a != NULL;
		free(a);
	}
	assert_true(kept <= DNS_CACHE_SLOTS);
	assert_true(kept > 0);
	dns_cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept_until_ttl),
		cmocka_unit_test(test_name_case_and_type),
		cmocka_unit_test(test_not_kept),
		cmocka_unit_test(test_slot_replaced),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
