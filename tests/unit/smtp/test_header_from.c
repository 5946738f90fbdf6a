/*
 * Unit tests of the From: reader (src/smtp/header_from.c): bare and
 * named addresses, quoted display names with commas, comments, folded
 * fields, several mailboxes, obsolete routes and empty list elements,
 * and the refusals: two From: fields, groups, junk, too many addresses,
 * too long an address; no From: at all; the body is not read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/header_from.h"

#define MAXA 4

static char got[MAXA][SMTP_ADDRESS_MAX + 1];

static int
from(const char *msg)
{
	memset(got, 'x', sizeof(got));
	return header_from_addresses(msg, strlen(msg), got, MAXA);
}

/* The From: value alone, in an otherwise plain header. */
static int
value(const char *v)
{
	static char msg[4096];

	snprintf(msg, sizeof(msg), "Subject: hi\r\nFrom:%s\r\nTo: x@y.example\r\n"
	    "\r\nbody\r\n", v);
	return from(msg);
}

static void
test_simple(void **state)
{
	(void)state;
	assert_int_equal(value(" alice@example.test"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value("alice@example.test"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value(" <alice@example.test>"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(from("from: a@b.example\n\nbody"), 1);	/* LF, case */
	assert_string_equal(got[0], "a@b.example");
	assert_int_equal(from("FROM : a@b.example"), 1);	/* obs WSP */
	assert_int_equal(value(" a@[192.0.2.1]"), 1);
	assert_string_equal(got[0], "a@[192.0.2.1]");
	assert_int_equal(value(" j\xc3\xb6rg@example.test"), 1);	/* RFC 6532 */
}

static void
test_display_names(void **state)
{
	(void)state;
	assert_int_equal(value(" Alice Smith <alice@example.test>"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value(" \"Smith, Alice\" <alice@example.test>"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value(" \"bob@evil.example\" <alice@example.test>"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value(" \"a \\\" <b@c.d>\" <alice@example.test>"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value(" Dr. A. Smith <alice@example.test>"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value(" \"odd local\"@example.test"), 1);
	assert_string_equal(got[0], "\"odd local\"@example.test");
}

static void
test_comments(void **state)
{
	(void)state;
	assert_int_equal(value(" alice@example.test (Alice Smith)"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value(" (x) alice (y) @ (z) example.test (w, <e@f.g>)"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value(" Alice (a (nested) \\) comment) <alice@example.test>"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(value(" alice@example.test (unterminated"), -1);
}

static void
test_folded(void **state)
{
	(void)state;
	assert_int_equal(from("From: Alice\r\n Smith\r\n\t<alice@example.test>\r\n"
	    "\r\n"), 1);
	assert_string_equal(got[0], "alice@example.test");
	assert_int_equal(from("From:\r\n alice@example.test,\r\n bob@example.test\r\n"
	    "Subject: x\r\n\r\n"), 2);
	assert_string_equal(got[0], "alice@example.test");
	assert_string_equal(got[1], "bob@example.test");
	/* A continuation of another field is not part of From:. */
	assert_int_equal(from("Subject: a\r\n b@evil.example\r\nFrom: c@d.example\r\n\r\n"), 1);
	assert_string_equal(got[0], "c@d.example");
}

static void
test_several(void **state)
{
	(void)state;
	assert_int_equal(value(" a@x.example, \"B, b\" <b@x.example>, c@x.example"), 3);
	assert_string_equal(got[0], "a@x.example");
	assert_string_equal(got[1], "b@x.example");
	assert_string_equal(got[2], "c@x.example");
	/* obs-mbox-list: empty elements are skipped. */
	assert_int_equal(value(" a@x.example, , b@x.example,"), 2);
	/* obs-route dropped. */
	assert_int_equal(value(" <@relay.example,@r2.example:a@x.example>"), 1);
	assert_string_equal(got[0], "a@x.example");
	/* Too many for the caller's array. */
	assert_int_equal(value(" a@x.example, b@x.example, c@x.example, "
	    "d@x.example, e@x.example"), -1);
}

static void
test_refused(void **state)
{
	char big[600];

	(void)state;
	/* RFC 5322 3.6: exactly one From: field. */
	assert_int_equal(from("From: a@x.example\r\nFrom: b@x.example\r\n\r\n"), -1);
	assert_int_equal(from("From: a@x.example\r\nSubject: s\r\nfrom:b@x.example\r\n\r\n"), -1);
	/* Groups. */
	assert_int_equal(value(" undisclosed-recipients:;"), -1);
	assert_int_equal(value(" Friends: a@x.example, b@x.example;"), -1);
	/* Junk. */
	static const char *const bad[] = {
		"", " ", " (only a comment)", " alice", " alice@", " @example.test",
		" <alice@example.test", " alice@example.test>", " <>",
		" Alice <alice@example.test> trailing", " a@b..c", " a..b@c.d",
		" \"unterminated@x.example", " a@[1.2.3.4", " a@b@c.d",
		" Alice <alice@example.test> <bob@example.test>",
		" alice@example.test bob@example.test",
		" <@relay.example a@x.example>",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (value(bad[i]) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	/* A NUL inside the field. */
	assert_int_equal(header_from_addresses("From: a@b.c\0d\r\n\r\n", 17, got, MAXA), -1);
	/* Longer than SMTP_ADDRESS_MAX. */
	memset(big, 'a', sizeof(big));
	memcpy(big, " x@", 3);
	memcpy(big + 500, ".example", 9);
	assert_int_equal(value(big), -1);
}

static void
test_none(void **state)
{
	(void)state;
	assert_int_equal(from("Subject: hi\r\nTo: a@b.example\r\n\r\n"), 0);
	assert_int_equal(from(""), 0);
	assert_int_equal(from("From a@b.example Mon Jan 1 00:00:00 2024\r\n"
	    "Subject: mbox line\r\n\r\n"), 0);
	assert_int_equal(from("From-Address: a@b.example\r\n\r\n"), 0);
	/* A From: in the body is not the header's. */
	assert_int_equal(from("Subject: hi\r\n\r\nFrom: a@b.example\r\n"), 0);
	assert_int_equal(from("\r\nFrom: a@b.example\r\n"), 0);
	/* Only the first len octets are read. */
	assert_int_equal(header_from_addresses("Subject: x\r\nFrom: a@b.example",
	    12, got, MAXA), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_display_names),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_several),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
