/*
 * Unit tests of the one UTF-8 decoder (src/common/utf8.c): every edge of
 * RFC 3629 section 4's table, both sides — the first and last code point
 * of each length, the overlong forms just below them, the surrogates, the
 * last code point and the first past it, bytes that never start a
 * character, and sequences cut by the length given.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/utf8.h"

/* The length decoded from the literal's bytes, the code point in *cp. */
static size_t
dec(const char *lit, size_t len, uint32_t *cp)
{
	*cp = 0xffffffff;
	return utf8_decode((const unsigned char *)lit, len, cp);
}

#define DEC(lit, cp) dec((lit), sizeof(lit) - 1, (cp))

static void
test_each_length_first_and_last(void **state)
{
	uint32_t cp;

	(void)state;
	assert_int_equal(dec("\0", 1, &cp), 1);
	assert_int_equal(cp, 0);
	assert_int_equal(DEC("\x7f", &cp), 1);
	assert_int_equal(cp, 0x7f);
	assert_int_equal(DEC("\xc2\x80", &cp), 2);
	assert_int_equal(cp, 0x80);
	assert_int_equal(DEC("\xdf\xbf", &cp), 2);
	assert_int_equal(cp, 0x7ff);
	assert_int_equal(DEC("\xe0\xa0\x80", &cp), 3);
	assert_int_equal(cp, 0x800);
	assert_int_equal(DEC("\xef\xbf\xbf", &cp), 3);
	assert_int_equal(cp, 0xffff);
	assert_int_equal(DEC("\xf0\x90\x80\x80", &cp), 4);
	assert_int_equal(cp, 0x10000);
	assert_int_equal(DEC("\xf4\x8f\xbf\xbf", &cp), 4);
	assert_int_equal(cp, 0x10ffff);
}

static void
test_overlong_refused(void **state)
{
	uint32_t cp;

	(void)state;
	assert_int_equal(DEC("\xc0\xae", &cp), 0);	/* '.' in two */
	assert_int_equal(DEC("\xc1\xbf", &cp), 0);
	assert_int_equal(DEC("\xe0\x9f\xbf", &cp), 0);	/* U+07FF in three */
	assert_int_equal(DEC("\xe0\x80\x8a", &cp), 0);	/* LF in three */
	assert_int_equal(DEC("\xf0\x8f\xbf\xbf", &cp), 0);	/* U+FFFF in four */
}

static void
test_surrogates_refused_neighbours_kept(void **state)
{
	uint32_t cp;

	(void)state;
	assert_int_equal(DEC("\xed\x9f\xbf", &cp), 3);
	assert_int_equal(cp, 0xd7ff);
	assert_int_equal(DEC("\xed\xa0\x80", &cp), 0);	/* U+D800 */
	assert_int_equal(DEC("\xed\xbf\xbf", &cp), 0);	/* U+DFFF */
	assert_int_equal(DEC("\xee\x80\x80", &cp), 3);
	assert_int_equal(cp, 0xe000);
}

static void
test_past_last_and_bad_leads_refused(void **state)
{
	uint32_t cp;

	(void)state;
	assert_int_equal(DEC("\xf4\x90\x80\x80", &cp), 0);	/* U+110000 */
	assert_int_equal(DEC("\xf5\x80\x80\x80", &cp), 0);
	assert_int_equal(DEC("\xff", &cp), 0);
	assert_int_equal(DEC("\x80", &cp), 0);		/* continuation */
	assert_int_equal(DEC("\xc2\x41", &cp), 0);	/* no continuation */
	assert_int_equal(DEC("\xe2\x82\xc0", &cp), 0);
}

static void
test_cut_by_length_refused(void **state)
{
	uint32_t cp;

	(void)state;
	assert_int_equal(dec("\xe2\x82\xac", 2, &cp), 0);
	assert_int_equal(dec("\xe2\x82\xac", 3, &cp), 3);
	assert_int_equal(cp, 0x20ac);
	assert_int_equal(dec("\xf0\x9f\x98\x80", 3, &cp), 0);
	assert_int_equal(dec("\xc3\xa9", 1, &cp), 0);
	/* What follows a whole character is not its business. */
	assert_int_equal(dec("\xc3\xa9\xff", 3, &cp), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_length_first_and_last),
		cmocka_unit_test(test_overlong_refused),
		cmocka_unit_test(test_surrogates_refused_neighbours_kept),
		cmocka_unit_test(test_past_last_and_bad_leads_refused),
		cmocka_unit_test(test_cut_by_length_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
