/*
 * Unit tests for src/srs/srs_keys.c: the key file's text read as
 * postsrsd reads its secret file, and every bound at its edge.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "srs/srs.h"

static struct srs_keys keys;
static char err[128];

static int
parse(const char *text, size_t len)
{
	err[0] = '\0';
	return srs_keys_parse(&keys, text, len, err, sizeof(err));
}

static void
test_lines(void **state)
{
	static const char text[] = "first\r\n\n\nsecond\nthird";

	(void)state;
	assert_int_equal(parse(text, sizeof(text) - 1), 0);
	assert_int_equal(keys.n, 3);
	assert_int_equal(keys.k[0].len, 5);
	assert_memory_equal(keys.k[0].b, "first", 5);
	assert_memory_equal(keys.k[1].b, "second", 6);
	assert_memory_equal(keys.k[2].b, "third", 5);
	/* Spaces are part of a secret, as in postsrsd. */
	assert_int_equal(parse(" s p \n", 6), 0);
	assert_int_equal(keys.k[0].len, 5);
}

static void
test_empty(void **state)
{
	(void)state;
	assert_int_equal(parse("", 0), -1);
	assert_non_null(strstr(err, "no secret"));
	assert_int_equal(parse("\n\r\n\n", 4), -1);
	assert_int_equal(keys.n, 0);
}

static void
test_secret_length(void **state)
{
	char text[SRS_KEY_MAX + 2];

	(void)state;
	memset(text, 'k', sizeof(text));
	text[SRS_KEY_MAX] = '\n';
	assert_int_equal(parse(text, SRS_KEY_MAX + 1), 0);
	assert_int_equal(keys.k[0].len, SRS_KEY_MAX);
	text[SRS_KEY_MAX] = 'k';
	text[SRS_KEY_MAX + 1] = '\n';
	assert_int_equal(parse(text, SRS_KEY_MAX + 2), -1);
	assert_non_null(strstr(err, "line 1"));
	assert_int_equal(keys.n, 0);
}

static void
test_count(void **state)
{
	char text[SRS_KEYS_MAX * 3 + 3];
	size_t len = 0;

	(void)state;
	for (int i = 0; i < SRS_KEYS_MAX; i++) {
		text[len++] = (char)('a' + i);
		text[len++] = '\n';
	}
	assert_int_equal(parse(text, len), 0);
	assert_int_equal(keys.n, SRS_KEYS_MAX);
	text[len++] = 'z';
	assert_int_equal(parse(text, len), -1);
	assert_non_null(strstr(err, "more than"));
}

static void
test_nul(void **state)
{
	(void)state;
	assert_int_equal(parse("ab\0c\n", 5), -1);
	assert_non_null(strstr(err, "NUL"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_secret_length),
		cmocka_unit_test(test_count),
		cmocka_unit_test(test_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
