/*
 * Unit tests of the reply builder (src/smtp/reply.c): wire form, enhanced
 * codes, multi-line replies, sanitising of control characters, and a
 * full output buffer leaving no partial reply behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/reply.h"

static void
assert_wire(const struct smtp_reply *r, const char *want)
{
	struct buf out;

	buf_init(&out, 4096);
	assert_int_equal(smtp_reply_format(r, &out), 0);
	assert_string_equal(out.data, want);
	buf_free(&out);
}

static void
test_single_line(void **state)
{
	struct smtp_reply r;

	(void)state;
	smtp_reply_set(&r, 250, "2.1.0", "Sender <%s> ok", "a@b.example");
	assert_int_equal(r.code, 250);
	assert_wire(&r, "250 2.1.0 Sender <a@b.example> ok\r\n");
	smtp_reply_set(&r, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	assert_wire(&r, "354 End data with <CR><LF>.<CR><LF>\r\n");
	smtp_reply_set(&r, 220, "", "mx.example.test ESMTP");
	assert_wire(&r, "220 mx.example.test ESMTP\r\n");
	smtp_reply_set(&r, 550, "5.1.1", "%s", "");
	assert_wire(&r, "550 5.1.1 \r\n");
}

static void
test_multi_line(void **state)
{
	struct smtp_reply r;

	(void)state;
	smtp_reply_set(&r, 250, NULL, "mx.example.test\nPIPELINING\nSIZE 1000\n8BITMIME");
	assert_wire(&r, "250-mx.example.test\r\n250-PIPELINING\r\n"
	    "250-SIZE 1000\r\n250 8BITMIME\r\n");
	smtp_reply_set(&r, 550, "5.7.1", "Refused\nSee https://example.test/abuse");
	assert_wire(&r, "550-5.7.1 Refused\r\n550 5.7.1 See https://example.test/abuse\r\n");
	smtp_reply_set(&r, 451, "4.3.0", "a\n\nb");
	assert_wire(&r, "451-4.3.0 a\r\n451-4.3.0 \r\n451 4.3.0 b\r\n");
}

static void
test_sanitise(void **state)
{
	struct smtp_reply r;

	(void)state;
	/* A client-supplied string can never start a reply line of its own. */
	smtp_reply_set(&r, 501, "5.1.7", "Bad address <%s>", "x\r250 ok");
	assert_wire(&r, "501 5.1.7 Bad address <x?250 ok>\r\n");
	smtp_reply_set(&r, 501, "5.5.4", "tab\there del\x7f bell\a esc\x1b");
	assert_wire(&r, "501 5.5.4 tab?here del? bell? esc?\r\n");
}

static void
test_truncation(void **state)
{
	struct smtp_reply r;
	char big[2000];
	struct buf out;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	smtp_reply_set(&r, 250, "2.0.0", "%s", big);
	assert_int_equal(strlen(r.text), SMTP_REPLY_TEXT_MAX - 1);
	buf_init(&out, 4096);
	assert_int_equal(smtp_reply_format(&r, &out), 0);
	/* Every wire line stays inside RFC 5321 4.5.3.1.5's 512 octets. */
	assert_true(out.len <= 512);
	assert_memory_equal(out.data + out.len - 2, "\r\n", 2);
	buf_free(&out);
	smtp_reply_set(&r, 250, "2.0.0.0.0.0.0.0", "x");
	assert_true(strlen(r.enhanced) < sizeof(r.enhanced));
}

static void
test_full_buffer(void **state)
{
	struct smtp_reply r;
	struct buf out;

	(void)state;
	buf_init(&out, 30);
	assert_int_equal(buf_append_str(&out, "250 earlier\r\n"), 0);
	smtp_reply_set(&r, 250, NULL, "first\nsecond line that overflows");
	assert_int_equal(smtp_reply_format(&r, &out), -1);
	/* No half reply: what was there is all that is there. */
	assert_string_equal(out.data, "250 earlier\r\n");
	buf_free(&out);
}

static void
test_class(void **state)
{
	struct smtp_reply r;

	(void)state;
	smtp_reply_set(&r, 250, "2.0.0", "ok");
	assert_int_equal(smtp_reply_class(&r), 1);
	smtp_reply_set(&r, 354, NULL, "go");
	assert_int_equal(smtp_reply_class(&r), 1);
	smtp_reply_set(&r, 421, "4.3.2", "bye");
	assert_int_equal(smtp_reply_class(&r), 4);
	smtp_reply_set(&r, 452, "4.5.3", "too many");
	assert_int_equal(smtp_reply_class(&r), 4);
	smtp_reply_set(&r, 554, "5.7.1", "no");
	assert_int_equal(smtp_reply_class(&r), 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multi_line),
		cmocka_unit_test(test_sanitise),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_full_buffer),
		cmocka_unit_test(test_class),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
