/*
 * Unit tests of the pure helpers of src/dns/mx.c: MX rdata decoding
 * (preference, exchange name, the RFC 7505 root, malformed input),
 * ordering by preference with equal preferences shuffled by an injected
 * random source, and the RFC 5321 5.1 self-MX cut including "we are the
 * best MX".  The lookups themselves run against a real DNS server in
 * tests/integration/test_mx.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns/mx.h"

static void
set_host(struct mx_host *h, const char *name, unsigned pref)
{
	memset(h, 0, sizeof(*h));
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->pref = pref;
}

/* Always the last index: Fisher-Yates then leaves the order as is. */
static unsigned
rnd_last(void *ctx, unsigned n)
{
	(void)ctx;
	return n - 1;
}

/* Always 0: Fisher-Yates rotates each run of equals by one. */
static unsigned
rnd_zero(void *ctx, unsigned n)
{
	(void)ctx;
	(void)n;
	return 0;
}

/* Scripted values, checked to be in range. */
struct script {
	const unsigned *v;
	size_t i, n;
};

static unsigned
rnd_script(void *ctx, unsigned n)
{
	struct script *s = ctx;
	unsigned v;

	assert_true(s->i < s->n);
	v = s->v[s->i++];
	assert_true(v < n);
	return v;
}

static void
test_rdata_parse(void **state)
{
	static const unsigned char mx10[] = "\0\12\3mx1\7example\3net";
	static const unsigned char big[] = "\xff\xfe\2mx\3org";
	static const unsigned char null_mx[] = "\0\0";
	static const unsigned char bad_name[] = "\0\12\3m x\3net";
	char name[SMTP_DOMAIN_MAX + 1];
	unsigned pref = 99;

	(void)state;
	assert_int_equal(mx_rdata_parse(mx10, sizeof(mx10), &pref, name, sizeof(name)), 0);
	assert_int_equal(pref, 10);
	assert_string_equal(name, "mx1.example.net");
	assert_int_equal(mx_rdata_parse(big, sizeof(big), &pref, name, sizeof(name)), 0);
	assert_int_equal(pref, 65534);
	assert_string_equal(name, "mx.org");
	/* "MX 0 ." (two bytes of preference and the root label). */
	assert_int_equal(mx_rdata_parse(null_mx, 3, &pref, name, sizeof(name)), 0);
	assert_int_equal(pref, 0);
	assert_string_equal(name, ".");
	assert_int_equal(mx_rdata_parse(bad_name, sizeof(bad_name), &pref, name, sizeof(name)), -1);
	/* Too short for a preference and a name; name without its end. */
	assert_int_equal(mx_rdata_parse(mx10, 2, &pref, name, sizeof(name)), -1);
	assert_int_equal(mx_rdata_parse(mx10, sizeof(mx10) - 1, &pref, name, sizeof(name)), -1);
	/* Output too small for the exchange. */
	assert_int_equal(mx_rdata_parse(mx10, sizeof(mx10), &pref, name, 8), -1);
}

static void
test_name_equal(void **state)
{
	(void)state;
	assert_true(mx_name_equal("mx.Example.TEST", "mx.example.test."));
	assert_true(mx_name_equal("mx.example.test.", "MX.EXAMPLE.TEST"));
	assert_false(mx_name_equal("mx.example.test", "mx.example.tes"));
	assert_false(mx_name_equal("mx2.example.test", "mx.example.test"));
	assert_false(mx_name_equal("", "mx.example.test"));
}

static void
test_order_by_pref(void **state)
{
	struct mx_host h[4];

	(void)state;
	set_host(&h[0], "c", 30);
	set_host(&h[1], "a", 10);
	set_host(&h[2], "d", 65535);
	set_host(&h[3], "b", 20);
	mx_hosts_order(h, 4, rnd_last, NULL);
	assert_string_equal(h[0].name, "a");
	assert_string_equal(h[1].name, "b");
	assert_string_equal(h[2].name, "c");
	assert_string_equal(h[3].name, "d");
	assert_int_equal(h[0].pref, 10);
	assert_int_equal(h[3].pref, 65535);
}

static void
test_shuffle_equals(void **state)
{
	static const unsigned seq[] = { 2, 0 };	/* run of three: i=2 then i=1 */
	struct script s = { seq, 0, 2 };
	struct mx_host h[5];

	(void)state;
	set_host(&h[0], "x", 10);
	set_host(&h[1], "y", 10);
	set_host(&h[2], "backup", 20);
	set_host(&h[3], "z", 10);
	set_host(&h[4], "only", 5);
	/* Stable sort gives only, x, y, z, backup; the script keeps z in
	 * place (2) and then swaps x and y (0). */
	mx_hosts_order(h, 5, rnd_script, &s);
	assert_int_equal(s.i, 2);	/* runs of one draw nothing */
	assert_string_equal(h[0].name, "only");
	assert_string_equal(h[1].name, "y");
	assert_string_equal(h[2].name, "x");
	assert_string_equal(h[3].name, "z");
	assert_string_equal(h[4].name, "backup");

	/* Another source, another order: equals really are shuffled, and
	 * never across preferences. */
	set_host(&h[0], "x", 10);
	set_host(&h[1], "y", 10);
	set_host(&h[2], "backup", 20);
	mx_hosts_order(h, 3, rnd_zero, NULL);
	assert_string_equal(h[0].name, "y");
	assert_string_equal(h[1].name, "x");
	assert_string_equal(h[2].name, "backup");
}

static void
test_cut_self_backup(void **state)
{
	struct mx_host h[4];
	size_t n = 4;

	(void)state;
	set_host(&h[0], "primary.example.net", 10);
	set_host(&h[1], "other.example.net", 10);
	set_host(&h[2], "mx.example.test", 20);
	set_host(&h[3], "last.example.net", 30);
	/* We are a backup MX: keep only the hosts better than us. */
	assert_true(mx_hosts_cut_self(h, &n, "MX.example.test."));
	assert_int_equal(n, 2);
	assert_string_equal(h[0].name, "primary.example.net");
	assert_string_equal(h[1].name, "other.example.net");
}

static void
test_cut_self_best(void **state)
{
	struct mx_host h[3];
	size_t n = 3;

	(void)state;
	set_host(&h[0], "mx.example.test", 10);
	set_host(&h[1], "peer.example.net", 10);	/* equal: dropped too */
	set_host(&h[2], "backup.example.net", 20);
	assert_true(mx_hosts_cut_self(h, &n, "mx.example.test"));
	assert_int_equal(n, 0);
}

static void
test_cut_self_lowest_of_ours(void **state)
{
	struct mx_host h[3];
	size_t n = 3;

	(void)state;
	/* Listed twice: our best (lowest) preference is what counts. */
	set_host(&h[0], "a.example.net", 5);
	set_host(&h[1], "mx.example.test", 10);
	set_host(&h[2], "mx.example.test", 50);
	assert_true(mx_hosts_cut_self(h, &n, "mx.example.test"));
	assert_int_equal(n, 1);
	assert_string_equal(h[0].name, "a.example.net");
}

static void
test_cut_self_absent(void **state)
{
	struct mx_host h[2];
	size_t n = 2;

	(void)state;
	set_host(&h[0], "a.example.net", 10);
	set_host(&h[1], "b.example.net", 20);
	assert_false(mx_hosts_cut_self(h, &n, "mx.example.test"));
	assert_int_equal(n, 2);
	assert_false(mx_hosts_cut_self(h, &n, NULL));
	assert_false(mx_hosts_cut_self(h, &n, ""));
	assert_int_equal(n, 2);
}

static void
test_cut_self_frees_dropped(void **state)
{
	struct mx_host h[2];
	size_t n = 2;

	(void)state;
	set_host(&h[0], "a.example.net", 10);
	set_host(&h[1], "mx.example.test", 20);
	h[1].addrs = calloc(1, sizeof(*h[1].addrs));	/* leak check under ASan */
	h[1].n_addrs = 1;
	assert_true(mx_hosts_cut_self(h, &n, "mx.example.test"));
	assert_int_equal(n, 1);
}

static void
test_result_free_null(void **state)
{
	(void)state;
	mx_result_free(NULL);
	mx_lookup_cancel(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rdata_parse),
		cmocka_unit_test(test_name_equal),
		cmocka_unit_test(test_order_by_pref),
		cmocka_unit_test(test_shuffle_equals),
		cmocka_unit_test(test_cut_self_backup),
		cmocka_unit_test(test_cut_self_best),
		cmocka_unit_test(test_cut_self_lowest_of_ours),
		cmocka_unit_test(test_cut_self_absent),
		cmocka_unit_test(test_cut_self_frees_dropped),
		cmocka_unit_test(test_result_free_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
