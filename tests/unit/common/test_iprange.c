/*
 * Unit tests of src/common/iprange.c: the return codes of a DNS list as
 * the operator writes them ("127.0.0.2-127.0.0.11, 127.0.0.20"): every
 * form, both ends of a range, the strict octets, the limits on count
 * and length, and the errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/iprange.h"

#define A(a, b, c, d)	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | \
			 (uint32_t)(c) << 8 | (uint32_t)(d))

static int
parse(const char *s, struct iprange_set *set)
{
	char err[128];

	return iprange_parse(s, set, err, sizeof(err));
}

static void
test_forms(void **state)
{
	struct iprange_set set;

	(void)state;
	assert_int_equal(parse("127.0.0.2-127.0.0.11, 127.0.0.20,127.0.1.0/24",
	    &set), 0);
	assert_int_equal(set.n, 3);
	/* Both ends of the range, and just outside them. */
	assert_false(iprange_match(&set, A(127, 0, 0, 1)));
	assert_true(iprange_match(&set, A(127, 0, 0, 2)));
	assert_true(iprange_match(&set, A(127, 0, 0, 11)));
	assert_false(iprange_match(&set, A(127, 0, 0, 12)));
	assert_true(iprange_match(&set, A(127, 0, 0, 20)));
	assert_false(iprange_match(&set, A(127, 0, 0, 21)));
	assert_false(iprange_match(&set, A(127, 0, 0, 255)));
	assert_true(iprange_match(&set, A(127, 0, 1, 0)));
	assert_true(iprange_match(&set, A(127, 0, 1, 255)));
	assert_false(iprange_match(&set, A(127, 0, 2, 0)));
	assert_true(iprange_within(&set, A(127, 0, 0, 0), A(127, 255, 255, 255)));
	assert_false(iprange_within(&set, A(127, 0, 0, 3), A(127, 255, 255, 255)));

	assert_int_equal(parse("0.0.0.0/0", &set), 0);
	assert_true(iprange_match(&set, 0));
	assert_true(iprange_match(&set, UINT32_MAX));
	assert_int_equal(parse("  255.255.255.255/32  ", &set), 0);
	assert_true(iprange_match(&set, UINT32_MAX));
	assert_false(iprange_match(&set, UINT32_MAX - 1));
	assert_int_equal(parse("127.0.0.5-127.0.0.5", &set), 0);
	assert_true(iprange_match(&set, A(127, 0, 0, 5)));
}

static void
test_errors(void **state)
{
	static const char *const bad[] = {
		"", " ", ",", "127.0.0.2,", ",127.0.0.2", "127.0.0", "127.0.0.2.1",
		"127.0.0.256", "127.0.0.02", "0127.0.0.2", "127.0.0.-1",
		"127.0.0.2-", "127.0.0.3-127.0.0.2", "127.0.0.2 127.0.0.3",
		"127.0.0.0/33", "127.0.0.1/24", "127.0.0.0/", "127.0.0.0/024",
		"127.0.0.2;127.0.0.3", "127.0.0.x", "1.2.3.4-5.6.7.8/8",
		"::1", "127.0.0.2\n",
	};
	struct iprange_set set;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		if (iprange_parse(bad[i], &set, err, sizeof(err)) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(iprange_parse("127.0.0.3-127.0.0.2", &set, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "a range must go from low to high");
}

static void
test_limits(void **state)
{
	char text[IPRANGE_TEXT_MAX + 2], err[128];
	struct iprange_set set;
	size_t len = 0;

	(void)state;
	/* IPRANGE_MAX items parse, one more does not. */
	for (int i = 0; i < IPRANGE_MAX; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s127.0.0.%d",
		    i == 0 ? "" : ",", i + 1);
	assert_int_equal(iprange_parse(text, &set, err, sizeof(err)), 0);
	assert_int_equal(set.n, IPRANGE_MAX);
	snprintf(text + len, sizeof(text) - len, ",127.0.0.99");
	assert_int_equal(iprange_parse(text, &set, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));

	/* IPRANGE_TEXT_MAX octets (spaces count), not one more. */
	memset(text, ' ', sizeof(text));
	memcpy(text + IPRANGE_TEXT_MAX - 9, "127.0.0.2", 9);
	text[IPRANGE_TEXT_MAX] = '\0';
	assert_int_equal(iprange_parse(text, &set, err, sizeof(err)), 0);
	memmove(text + 1, text, IPRANGE_TEXT_MAX + 1);
	text[0] = ' ';
	assert_int_equal(iprange_parse(text, &set, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
