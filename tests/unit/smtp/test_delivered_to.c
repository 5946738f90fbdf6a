/*
 * Unit tests of the Delivered-To: reader (src/smtp/delivered_to.c):
 * values in the header section only, any case of the name, obsolete
 * white space before the colon, folded values unfolded, angle brackets
 * and padding removed, CRLF and bare LF line ends, a lone CR kept as
 * text, the end of input closing an open field, input split at every
 * position, and both sides of the two limits (value length, count).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/delivered_to.h"

static struct delivered_to dt;

static unsigned
scan_len(const char *msg, size_t len)
{
	delivered_to_init(&dt);
	delivered_to_feed(&dt, msg, len);
	delivered_to_end(&dt);
	return dt.n;
}

static unsigned
scan(const char *msg)
{
	return scan_len(msg, strlen(msg));
}

static void
test_header_section_only(void **state)
{
	(void)state;
	assert_int_equal(scan("Subject: x\r\n\r\nDelivered-To: a@b\r\n"), 0);
	assert_int_equal(scan("Delivered-To: a@b\r\nReceived: x\r\n"
	    "Delivered-To: c@d\r\n\r\nDelivered-To: e@f\r\n"), 2);
	assert_string_equal(dt.values[0], "a@b");
	assert_string_equal(dt.values[1], "c@d");
	assert_int_equal(scan("\r\nDelivered-To: a@b\r\n"), 0);
	assert_int_equal(scan(""), 0);
}

static void
test_names(void **state)
{
	(void)state;
	assert_int_equal(scan("DELIVERED-TO: a@b\r\ndelivered-to: c@d\r\n"
	    "Delivered-To : e@f\r\nDelivered-To\t:g@h\r\n\r\n"), 4);
	assert_string_equal(dt.values[2], "e@f");
	assert_string_equal(dt.values[3], "g@h");
	assert_int_equal(scan("Delivered-T: a@b\r\nDelivered-Tox: a@b\r\n"
	    "X-Delivered-To: a@b\r\nDelivered_To: a@b\r\nDelivered-To\r\n"
	    "Delivered-To x: a@b\r\n\r\n"), 0);
}

static void
test_values(void **state)
{
	(void)state;
	assert_int_equal(scan("Delivered-To:   <a@b>  \r\n\r\n"), 1);
	assert_string_equal(dt.values[0], "a@b");
	assert_int_equal(scan("Delivered-To: < a@b\t>\r\n\r\n"), 1);
	assert_string_equal(dt.values[0], "a@b");
	/* Folding: the line break goes, the white space stays inside. */
	assert_int_equal(scan("Delivered-To:\r\n  a@b\r\n\r\n"), 1);
	assert_string_equal(dt.values[0], "a@b");
	assert_int_equal(scan("Delivered-To: a\r\n\tb\r\nX: y\r\n\r\n"), 1);
	assert_string_equal(dt.values[0], "a\tb");
	/* Empty values name nothing and count for nothing. */
	assert_int_equal(scan("Delivered-To:\r\nDelivered-To: <>\r\n\r\n"), 0);
	assert_int_equal(dt.dropped, 0);
	/* Bare LF line ends; a lone CR is text. */
	assert_int_equal(scan("Delivered-To: a@b\nDelivered-To: c\rd\n\n"), 2);
	assert_string_equal(dt.values[0], "a@b");
	assert_string_equal(dt.values[1], "c\rd");
	/* A NUL makes a value no address: dropped, not cut short. */
	static const char nul[] = "Delivered-To: a@b\0x\r\n"
	    "Delivered-To: c@d\r\n\r\n";

	assert_int_equal(scan_len(nul, sizeof(nul) - 1), 1);
	assert_string_equal(dt.values[0], "c@d");
	assert_int_equal(dt.dropped, 1);
	/* The input ends inside a field: the field is complete. */
	assert_int_equal(scan("Delivered-To: a@b"), 1);
	assert_string_equal(dt.values[0], "a@b");
	assert_int_equal(scan("Delivered-To: a@b\r\n"), 1);
	assert_true(delivered_to_done(&dt));
}

static void
test_done(void **state)
{
	(void)state;
	delivered_to_init(&dt);
	delivered_to_feed(&dt, "Delivered-To: a@b\r\n", 19);
	assert_false(delivered_to_done(&dt));
	delivered_to_feed(&dt, "\r\n", 2);
	assert_true(delivered_to_done(&dt));
	assert_int_equal(dt.n, 1);
	delivered_to_feed(&dt, "Delivered-To: c@d\r\n", 19);
	assert_int_equal(dt.n, 1);
}

/* Both sides of the value length limit; padding never counts. */
static void
test_value_limit(void **state)
{
	char msg[DELIVERED_TO_VALUE_MAX + 512], v[DELIVERED_TO_VALUE_MAX + 2];

	(void)state;
	memset(v, 'a', sizeof(v));
	/* The brackets count: "<" and ">" around MAX - 2 octets fit. */
	v[DELIVERED_TO_VALUE_MAX - 2] = '\0';
	snprintf(msg, sizeof(msg), "Delivered-To: <%s>\r\n\r\n", v);
	assert_int_equal(scan(msg), 1);
	assert_int_equal(strlen(dt.values[0]), DELIVERED_TO_VALUE_MAX - 2);
	v[DELIVERED_TO_VALUE_MAX - 2] = 'a';
	v[DELIVERED_TO_VALUE_MAX - 1] = '\0';
	snprintf(msg, sizeof(msg), "Delivered-To: <%s>\r\n\r\n", v);
	assert_int_equal(scan(msg), 0);
	assert_int_equal(dt.dropped, 1);
	v[DELIVERED_TO_VALUE_MAX - 1] = 'a';
	v[DELIVERED_TO_VALUE_MAX] = '\0';
	snprintf(msg, sizeof(msg), "Delivered-To: %s\r\n\r\n", v);
	assert_int_equal(scan(msg), 1);
	assert_string_equal(dt.values[0], v);
	v[DELIVERED_TO_VALUE_MAX] = 'a';
	v[DELIVERED_TO_VALUE_MAX + 1] = '\0';
	snprintf(msg, sizeof(msg), "Delivered-To: %s\r\n\r\n", v);
	assert_int_equal(scan(msg), 0);
	assert_int_equal(dt.dropped, 1);
	/* White space before or after a value of the largest size. */
	v[DELIVERED_TO_VALUE_MAX] = '\0';
	snprintf(msg, sizeof(msg), "Delivered-To:%*s%s%*s\r\n\r\n", 200, "",
	    v, 200, "");
	assert_int_equal(scan(msg), 1);
	assert_string_equal(dt.values[0], v);
	/* ... but inside it, white space is part of it. */
	snprintf(msg, sizeof(msg), "Delivered-To: %s x\r\n\r\n", v);
	assert_int_equal(scan(msg), 0);
	assert_int_equal(dt.dropped, 1);
}

/* Both sides of the count limit. */
static void
test_count_limit(void **state)
{
	char *msg = malloc((DELIVERED_TO_MAX + 1) * 32 + 8);
	size_t len = 0;

	(void)state;
	assert_non_null(msg);
	for (unsigned i = 0; i < DELIVERED_TO_MAX; i++)
		len += (size_t)sprintf(msg + len, "Delivered-To: u%u@d\r\n", i);
	strcpy(msg + len, "\r\n");
	assert_int_equal(scan(msg), DELIVERED_TO_MAX);
	assert_int_equal(dt.dropped, 0);
	assert_string_equal(dt.values[DELIVERED_TO_MAX - 1], "u63@d");
	len += (size_t)sprintf(msg + len, "Delivered-To: last@d\r\n\r\n");
	assert_int_equal(scan(msg), DELIVERED_TO_MAX);
	assert_int_equal(dt.dropped, 1);
	free(msg);
}

/* Every split in two pieces, and one octet at a time, give one answer. */
static void
test_splits(void **state)
{
	static const char msg[] = "Received: x\r\nDelivered-To: <a@b>\r\n"
	    "DELIVERED-TO :\r\n c@d\r\nSubject: s\r\n  folded\r\n"
	    "Delivered-To: e\rf\n\r\nDelivered-To: body@x\r\n";
	static struct delivered_to one;
	size_t len = sizeof(msg) - 1;

	(void)state;
	assert_int_equal(scan(msg), 3);
	assert_string_equal(dt.values[0], "a@b");
	assert_string_equal(dt.values[1], "c@d");
	assert_string_equal(dt.values[2], "e\rf");
	one = dt;
	for (size_t cut = 0; cut <= len; cut++) {
		delivered_to_init(&dt);
		delivered_to_feed(&dt, msg, cut);
		delivered_to_feed(&dt, msg + cut, len - cut);
		delivered_to_end(&dt);
		assert_int_equal(dt.n, one.n);
		for (unsigned i = 0; i < one.n; i++)
			assert_string_equal(dt.values[i], one.values[i]);
	}
	delivered_to_init(&dt);
	for (size_t i = 0; i < len; i++)
		delivered_to_feed(&dt, msg + i, 1);
	delivered_to_end(&dt);
	assert_int_equal(dt.n, one.n);
	for (unsigned i = 0; i < one.n; i++)
		assert_string_equal(dt.values[i], one.values[i]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_section_only),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_done),
		cmocka_unit_test(test_value_limit),
		cmocka_unit_test(test_count_limit),
		cmocka_unit_test(test_splits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
