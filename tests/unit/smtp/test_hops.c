/*
 * Unit tests of the hop counter (src/smtp/hops.c): Received: fields in
 * the header section only, any case, obsolete white space before the
 * colon, folded fields counted once, names that only start or end like
 * "Received", CRLF and bare LF line ends, a message with no header
 * section, input split at every position, and saturation.
 */
#include <setjmp.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/hops.h"

static unsigned
count(const char *msg)
{
	struct hops h;

	hops_init(&h);
	hops_feed(&h, msg, strlen(msg));
	return h.count;
}

static void
test_header_section_only(void **state)
{
	(void)state;
	assert_int_equal(count("Subject: x\r\n\r\nbody\r\n"), 0);
	assert_int_equal(count("Received: a\r\nReceived: b\r\nSubject: x\r\n"
	    "\r\nbody\r\n"), 2);
	/* The body's Received: lines are text. */
	assert_int_equal(count("Received: a\r\n\r\nReceived: b\r\n"
	    "Received: c\r\n"), 1);
	/* No header section at all: the message starts with the empty line. */
	assert_int_equal(count("\r\nReceived: a\r\n"), 0);
	assert_int_equal(count(""), 0);
}

static void
test_names(void **state)
{
	(void)state;
	assert_int_equal(count("RECEIVED: a\r\nreceived: b\r\nReCeIvEd: c\r\n\r\n"), 3);
	/* RFC 5322 4.5: obsolete white space before the colon. */
	assert_int_equal(count("Received : a\r\nReceived\t: b\r\n\r\n"), 2);
	/* Other fields that share a prefix or a suffix, or no colon. */
	assert_int_equal(count("Receive: a\r\nReceivedx: b\r\nX-Received: c\r\n"
	    "Received-SPF: d\r\nReceived\r\nReceived x: e\r\n\r\n"), 0);
	/* The colon with nothing after it is still a field. */
	assert_int_equal(count("Received:\r\n\r\n"), 1);
}

static void
test_folded(void **state)
{
	(void)state;
	/* RFC 5322 2.2.3: one field over three lines is one hop. */
	assert_int_equal(count("Received: from a\r\n\tby b\r\n  ; date\r\n"
	    "Received: c\r\n\r\n"), 2);
	/* A continuation that looks like a field name is no field. */
	assert_int_equal(count("Subject: x\r\n Received: y\r\n\r\n"), 0);
	/* A folded line of white space only does not end the headers. */
	assert_int_equal(count("Subject: x\r\n \r\nReceived: y\r\n\r\n"), 1);
}

static void
test_line_ends(void **state)
{
	(void)state;
	/* sendmail reads bare LF line ends from its pipe. */
	assert_int_equal(count("Received: a\nReceived: b\n\nReceived: c\n"), 2);
	/* A bare CR is no line end. */
	assert_int_equal(count("Subject: x\rReceived: y\r\n\r\n"), 0);
	/* "\r" at the start of a line then not LF: a junk line, not the end. */
	assert_int_equal(count("\rx\r\nReceived: y\r\n\r\n"), 1);
}

static void
test_done(void **state)
{
	struct hops h;

	(void)state;
	hops_init(&h);
	hops_feed(&h, "Received: a\r\n", 13);
	assert_false(hops_done(&h));
	hops_feed(&h, "\r\n", 2);
	assert_true(hops_done(&h));
	hops_feed(&h, "Received: b\r\n", 13);
	assert_int_equal(h.count, 1);
}

/* Every split in two pieces, and one octet at a time, give one answer. */
static void
test_splits(void **state)
{
	static const char msg[] = "Received: a\r\n\tb\r\nrEcEiVeD : c\r\n"
	    "X-Received: d\r\nReceived: e\r\n\r\nReceived: f\r\n";
	size_t len = strlen(msg);
	struct hops h;

	(void)state;
	for (size_t cut = 0; cut <= len; cut++) {
		hops_init(&h);
		hops_feed(&h, msg, cut);
		hops_feed(&h, msg + cut, len - cut);
		assert_int_equal(h.count, 3);
	}
	hops_init(&h);
	for (size_t i = 0; i < len; i++)
		hops_feed(&h, msg + i, 1);
	assert_int_equal(h.count, 3);
	assert_true(hops_done(&h));
}

/* 300 fields (issue 10's loop), and the count never wraps. */
static void
test_many(void **state)
{
	struct hops h;

	(void)state;
	hops_init(&h);
	for (int i = 0; i < 300; i++)
		hops_feed(&h, "Received: x\r\n", 13);
	assert_int_equal(h.count, 300);
	h.count = UINT_MAX - 1;
	hops_feed(&h, "Received: x\r\nReceived: y\r\n", 26);
	assert_int_equal(h.count, UINT_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_section_only),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_folded),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_done),
		cmocka_unit_test(test_splits),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
