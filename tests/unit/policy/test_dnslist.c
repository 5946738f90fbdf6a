/*
 * Unit tests of the pure half of DNSBL and DNSWL (src/policy/dnslist.c,
 * dnsbl.c's and dnswl.c's judgements): the names asked for IPv4, IPv6
 * (32 nibbles) and IPv4-mapped clients, the room they need, which
 * answers count (configured codes, the default 127.0.0.0/8, never
 * 127.255.255.0/24; DNSWL trust levels), weights summed against the
 * threshold at and below it, the list named in the refusal, and the
 * evidence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "policy/dnsbl.h"
#include "policy/dnslist.h"
#include "policy/dnswl.h"

#define A(a, b, c, d)	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | \
			 (uint32_t)(c) << 8 | (uint32_t)(d))

static int
name_of(const char *ip, const char *zone, char *out, size_t outlen)
{
	struct sockaddr_storage ss = tu_addr(ip);

	return dnslist_name((struct sockaddr *)&ss, zone, out, outlen);
}

static void
test_names(void **state)
{
	char out[DNSLIST_NAME_MAX];
	struct sockaddr_storage ss;

	(void)state;
	assert_int_equal(name_of("192.0.2.7", "bl.example", out, sizeof(out)), 0);
	assert_string_equal(out, "7.2.0.192.bl.example");
	assert_int_equal(name_of("::ffff:192.0.2.7", "bl.example", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "7.2.0.192.bl.example");
	/* RFC 5782 2.4: 32 nibbles, least significant first. */
	assert_int_equal(name_of("2001:db8::1:2", "bl.example", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "2.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example");
	assert_int_equal(name_of("::1", "x.y", out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 64 + 3);

	/* Exactly the room needed, and one octet less. */
	assert_int_equal(name_of("192.0.2.7", "bl.example", out,
	    strlen("7.2.0.192.bl.example") + 1), 0);
	assert_int_equal(name_of("192.0.2.7", "bl.example", out,
	    strlen("7.2.0.192.bl.example")), -1);
	assert_int_equal(name_of("::1", "x.y", out, 64 + 4), 0);
	assert_int_equal(name_of("::1", "x.y", out, 64 + 3), -1);
	assert_int_equal(name_of("::1", "x.y", out, 10), -1);

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(dnslist_name((struct sockaddr *)&ss, "x.y", out,
	    sizeof(out)), -1);
}

static void
test_codes(void **state)
{
	struct dnslist_conf l = { .zone = "bl.example" };
	char err[64];

	(void)state;
	/* The default: any 127.0.0.0/8 answer but 127.255.255.0/24. */
	assert_true(dnslist_bl_counts(&l, A(127, 0, 0, 2)));
	assert_true(dnslist_bl_counts(&l, A(127, 255, 254, 255)));
	assert_false(dnslist_bl_counts(&l, A(127, 255, 255, 0)));
	assert_false(dnslist_bl_counts(&l, A(127, 255, 255, 254)));
	assert_false(dnslist_bl_counts(&l, A(128, 0, 0, 2)));
	assert_false(dnslist_bl_counts(&l, A(10, 0, 0, 2)));
	assert_true(dnslist_refused(A(127, 255, 255, 255), false));
	assert_false(dnslist_refused(A(127, 255, 254, 255), false));
	/* dnswl.org's "blocked" is an error for allow lists only. */
	assert_true(dnslist_refused(A(127, 0, 0, 255), true));
	assert_false(dnslist_refused(A(127, 0, 0, 255), false));
	assert_true(dnslist_bl_counts(&l, A(127, 0, 0, 255)));

	/* Configured codes; 127.255.255.x never counts, even inside them. */
	assert_int_equal(iprange_parse("127.0.0.2-127.0.0.11, 127.255.255.0/24",
	    &l.codes, err, sizeof(err)), 0);
	assert_false(dnslist_bl_counts(&l, A(127, 0, 0, 1)));
	assert_true(dnslist_bl_counts(&l, A(127, 0, 0, 2)));
	assert_true(dnslist_bl_counts(&l, A(127, 0, 0, 11)));
	assert_false(dnslist_bl_counts(&l, A(127, 0, 0, 12)));
	assert_false(dnslist_bl_counts(&l, A(127, 255, 255, 254)));
}

static void
test_levels(void **state)
{
	struct dnslist_conf l = { .zone = "wl.example" };

	(void)state;
	assert_true(dnslist_wl_counts(&l, A(127, 0, 10, 0)));
	l.min_level = 2;
	assert_false(dnslist_wl_counts(&l, A(127, 0, 10, 1)));
	assert_true(dnslist_wl_counts(&l, A(127, 0, 10, 2)));
	assert_true(dnslist_wl_counts(&l, A(127, 0, 5, 3)));
	l.min_level = 0;
	assert_false(dnslist_wl_counts(&l, A(127, 255, 255, 3)));
	assert_false(dnslist_wl_counts(&l, A(127, 0, 0, 255)));
	assert_true(dnslist_wl_counts(&l, A(127, 0, 0, 254)));
	assert_false(dnslist_wl_counts(&l, A(127, 1, 0, 3)));
	assert_false(dnslist_wl_counts(&l, A(126, 0, 0, 3)));
}

/* Two lists: a (weight 1, codes .2-.11), b (weight 2, default codes). */
struct two {
	struct dnslist_conf lists[2];
	struct dnslist_group g;
	struct dnslist_answer ans[2];
	struct dnslist_result r;
};

static void
two_setup(struct two *t, unsigned threshold)
{
	char err[64];

	memset(t, 0, sizeof(*t));
	t->lists[0] = (struct dnslist_conf){ .zone = "a.example", .weight = 1 };
	t->lists[1] = (struct dnslist_conf){ .zone = "b.example", .weight = 2 };
	assert_int_equal(iprange_parse("127.0.0.2-127.0.0.11",
	    &t->lists[0].codes, err, sizeof(err)), 0);
	t->g = (struct dnslist_group){ t->lists, 2, threshold, 5 };
	t->ans[0].status = t->ans[1].status = DNSLIST_NOT_LISTED;
	t->r = (struct dnslist_result){ &t->g, "192.0.2.7", t->ans, 2 };
}

static void
answer(struct dnslist_answer *a, uint32_t code)
{
	a->status = DNSLIST_LISTED;
	a->addr[a->n++] = code;
}

static void
test_weights(void **state)
{
	struct verdict v;
	struct two t;

	(void)state;
	two_setup(&t, 3);
	assert_int_equal(dnsbl_judge(&t.r, &v), 0);
	assert_int_equal(v.kind, VERDICT_ACCEPT);
	assert_string_equal(v.evidence, "");

	/* 2 < 3: accepted, the evidence still says what counted. */
	answer(&t.ans[1], A(127, 0, 0, 4));
	assert_int_equal(dnsbl_judge(&t.r, &v), 2);
	assert_int_equal(v.kind, VERDICT_ACCEPT);
	assert_string_equal(v.evidence,
	    "b.example=127.0.0.4 weight 2; total 2, threshold 3");

	/* A code outside a's range adds nothing. */
	answer(&t.ans[0], A(127, 0, 0, 12));
	assert_int_equal(dnsbl_judge(&t.r, &v), 2);
	assert_int_equal(v.kind, VERDICT_ACCEPT);

	/* 3 = 3: refused, named after the heaviest list (b). */
	answer(&t.ans[0], A(127, 0, 0, 11));
	answer(&t.ans[0], A(127, 0, 0, 3));
	assert_int_equal(dnsbl_judge(&t.r, &v), 3);
	assert_int_equal(v.kind, VERDICT_REJECT);
	assert_int_equal(v.code, 554);
	assert_string_equal(v.enhanced, "5.7.1");
	assert_string_equal(v.text, "Service unavailable; client [192.0.2.7] "
	    "blocked using b.example");
	assert_string_equal(v.evidence, "a.example=127.0.0.11,127.0.0.3 weight 1; "
	    "b.example=127.0.0.4 weight 2; total 3, threshold 3");

	/* Equal weights: the first list names the refusal. */
	t.lists[0].weight = 2;
	t.g.threshold = 1;
	assert_int_equal(dnsbl_judge(&t.r, &v), 4);
	assert_string_equal(v.text, "Service unavailable; client [192.0.2.7] "
	    "blocked using a.example");
}

static void
test_refused_code_and_trouble(void **state)
{
	struct verdict v;
	struct two t;

	(void)state;
	two_setup(&t, 1);
	answer(&t.ans[1], A(127, 255, 255, 254));
	assert_int_equal(dnsbl_judge(&t.r, &v), 0);
	assert_int_equal(v.kind, VERDICT_ACCEPT);
	t.ans[0].status = DNSLIST_TIMEOUT;
	t.ans[1] = (struct dnslist_answer){ .status = DNSLIST_TEMPFAIL };
	assert_int_equal(dnsbl_judge(&t.r, &v), 0);
	assert_int_equal(v.kind, VERDICT_ACCEPT);
}

static void
test_dnswl(void **state)
{
	struct dnslist_conf lists[2] = {
		{ .zone = "one.example", .min_level = 2 },
		{ .zone = "two.example", .min_level = 0 },
	};
	struct dnslist_group g = { lists, 2, 1, 5 };
	struct dnslist_answer ans[2] = { { .status = DNSLIST_NOT_LISTED },
	    { .status = DNSLIST_NOT_LISTED } };
	struct dnslist_result r = { &g, "192.0.2.7", ans, 2 };
	char ev[128];

	(void)state;
	assert_false(dnswl_judge(&r, ev, sizeof(ev)));
	assert_string_equal(ev, "");
	answer(&ans[0], A(127, 0, 10, 1));	/* below one's minimum */
	answer(&ans[1], A(127, 255, 255, 0));	/* an error code */
	assert_false(dnswl_judge(&r, ev, sizeof(ev)));
	answer(&ans[0], A(127, 0, 10, 2));
	assert_true(dnswl_judge(&r, ev, sizeof(ev)));
	assert_string_equal(ev, "one.example=127.0.10.2 level 2");
	assert_true(dnswl_judge(&r, NULL, 0));
}

/* Once a minute per zone; a full table reuses the slot logged longest
 * ago and never grows. */
static void
test_misconf_once_a_minute(void **state)
{
	static struct dnslist_misconf t;
	char zone[32];

	(void)state;
	assert_true(dnslist_misconf_due(&t, "bl.example", 1000));
	assert_false(dnslist_misconf_due(&t, "bl.example", 1000));
	assert_false(dnslist_misconf_due(&t, "bl.example", 1059));
	assert_true(dnslist_misconf_due(&t, "other.example", 1059));
	assert_true(dnslist_misconf_due(&t, "bl.example", 1060));
	assert_false(dnslist_misconf_due(&t, "bl.example", 1119));

	/* Fill every slot: bl.example (1060) is the one logged longest
	 * ago once other.example is logged again. */
	assert_true(dnslist_misconf_due(&t, "other.example", 1200));
	for (int i = 2; i < DNSLIST_MISCONF_SLOTS; i++) {
		snprintf(zone, sizeof(zone), "z%d.example", i);
		assert_true(dnslist_misconf_due(&t, zone, 1100 + i));
	}
	assert_false(dnslist_misconf_due(&t, "z2.example", 1110));
	assert_true(dnslist_misconf_due(&t, "new.example", 1110));
	/* bl.example lost its slot: logged again within its minute. */
	assert_true(dnslist_misconf_due(&t, "bl.example", 1111));
	assert_false(dnslist_misconf_due(&t, "other.example", 1210));
	assert_false(dnslist_misconf_due(&t, "new.example", 1111));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_refused_code_and_trouble),
		cmocka_unit_test(test_dnswl),
		cmocka_unit_test(test_misconf_once_a_minute),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
