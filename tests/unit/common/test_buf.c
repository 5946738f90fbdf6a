/*
 * Unit tests of the bounded buffer (src/common/buf.c): the maximum is
 * enforced by every append, a refused append changes nothing, the data
 * is always NUL-terminated, consume and reset behave at the edges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"

static void
test_append_within_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append(&b, "hello", 5), 0);
	assert_int_equal(buf_append_str(&b, "world"), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "helloworld");
	assert_true(b.cap <= b.max + 1);
	buf_free(&b);
}

static void
test_max_enforced(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "12345"), 0);
	assert_int_equal(buf_append_str(&b, "6789"), -1);
	/* A refused append leaves the contents as they were. */
	assert_int_equal(b.len, 5);
	assert_string_equal(b.data, "12345");
	assert_int_equal(buf_append_str(&b, "678"), 0);
	assert_int_equal(buf_append(&b, "x", 1), -1);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_string_equal(b.data, "12345678");
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), -1);
	assert_int_equal(b.len, 8);
	buf_free(&b);
}

static void
test_printf(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 16);
	assert_int_equal(buf_printf(&b, "%d-%s", 42, "abc"), 0);
	assert_string_equal(b.data, "42-abc");
	assert_int_equal(buf_printf(&b, "%s", "0123456789"), 0);
	assert_int_equal(b.len, 16);
	assert_int_equal(buf_printf(&b, "%c", 'z'), -1);
	assert_int_equal(b.len, 16);
	assert_string_equal(b.data, "42-abc0123456789");
	buf_free(&b);

	buf_init(&b, 4);
	assert_int_equal(buf_printf(&b, "%s", "toolong"), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_growth(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 100000);
	for (i = 0; i < 100000; i++)
		assert_int_equal(buf_append(&b, "a", 1), 0);
	assert_int_equal(b.len, 100000);
	assert_int_equal(b.data[b.len], '\0');
	assert_int_equal(buf_append(&b, "a", 1), -1);
	assert_true(b.cap <= b.max + 1);
	buf_free(&b);
}

static void
test_consume(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append_str(&b, "EHLO x\r\nMAIL"), 0);
	buf_consume(&b, 8);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "MAIL");
	buf_consume(&b, 0);
	assert_string_equal(b.data, "MAIL");
	buf_consume(&b, 4);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(buf_append_str(&b, "abc"), 0);
	buf_consume(&b, 100);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void
test_reset_and_free(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 32);
	buf_reset(&b);			/* before any allocation */
	buf_consume(&b, 0);
	assert_int_equal(buf_append_str(&b, "data"), 0);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.max, 32);
	buf_free(&b);			/* twice is safe */
	assert_int_equal(buf_append_str(&b, "again"), 0);
	assert_string_equal(b.data, "again");
	buf_free(&b);
}

static void
test_zero_and_huge_max(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, "", 0), 0);
	assert_int_equal(buf_append(&b, "x", 1), -1);
	buf_free(&b);
	/* "No practical limit" must not wrap max + 1 to zero. */
	buf_init(&b, SIZE_MAX);
	assert_int_equal(buf_append_str(&b, "unbounded"), 0);
	assert_string_equal(b.data, "unbounded");
	assert_int_equal(buf_append(&b, "x", SIZE_MAX), -1);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_within_max),
		cmocka_unit_test(test_max_enforced),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_reset_and_free),
		cmocka_unit_test(test_zero_and_huge_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
