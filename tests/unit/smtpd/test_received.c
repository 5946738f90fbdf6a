/*
 * Unit tests of the Received: header (src/smtpd/received.c): the exact
 * format the BCP asks for, "for" only with one recipient, and a client
 * unable to forge fields or end the header through HELO or addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd/received.h"

/* Fri, 27 Nov 2026 20:44:14 +0000 */
#define WHEN ((time_t)1795812254)

static struct received_info
info(void)
{
	struct received_info ri = {
		.helo = "client.example.org",
		.rdns = "mail.example.org",
		.ip = "192.0.2.1",
		.sender = "alice@example.org",
		.hostname = "mx.example.test",
		.protocol = "ESMTP",
		.queue_id = "1AbC",
		.rcpt = "demo@example.test",
		.when = WHEN,
	};
	return ri;
}

static void
test_one_recipient(void **state)
{
	struct received_info ri = info();
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(received_format(&ri, &b), 0);
	assert_string_equal(b.data,
	    "Received: from client.example.org (mail.example.org [192.0.2.1])\r\n"
	    "\t(envelope-from <alice@example.org>)\r\n"
	    "\tby mx.example.test (Decorum) with ESMTP id 1AbC\r\n"
	    "\tfor <demo@example.test>; Fri, 27 Nov 2026 20:44:14 +0000\r\n");
	buf_free(&b);
}

static void
test_several_recipients_unknown_rdns_null_sender(void **state)
{
	struct received_info ri = info();
	struct buf b;

	(void)state;
	ri.rcpt = NULL;
	ri.rdns = NULL;
	ri.sender = "";
	buf_init(&b, 4096);
	assert_int_equal(received_format(&ri, &b), 0);
	assert_string_equal(b.data,
	    "Received: from client.example.org (unknown [192.0.2.1])\r\n"
	    "\t(envelope-from <>)\r\n"
	    "\tby mx.example.test (Decorum) with ESMTP id 1AbC; "
	    "Fri, 27 Nov 2026 20:44:14 +0000\r\n");
	buf_free(&b);
}

static void
test_client_cannot_forge(void **state)
{
	struct received_info ri = info();
	struct buf b;

	(void)state;
	ri.helo = "x (localhost [127.0.0.1])\r\nX-Evil: 1";
	ri.sender = "a>@b\r\nX-Evil: 2";
	buf_init(&b, 4096);
	assert_int_equal(received_format(&ri, &b), 0);
	assert_null(strstr(b.data, "\r\nX-Evil"));
	assert_null(strstr(b.data, "(localhost [127.0.0.1])"));
	assert_non_null(strstr(b.data, "from x ?localhost [127.0.0.1]??"));
	assert_non_null(strstr(b.data, "(envelope-from <a?@b??X-Evil: 2>)"));
	buf_free(&b);
}

static void
test_address_literal_helo(void **state)
{
	struct received_info ri = info();
	struct buf b;

	(void)state;
	ri.helo = "[192.0.2.1]";
	buf_init(&b, 4096);
	assert_int_equal(received_format(&ri, &b), 0);
	assert_non_null(strstr(b.data, "Received: from [192.0.2.1] (mail.example.org [192.0.2.1])\r\n"));
	buf_free(&b);
}

static void
test_tls_and_hidden_client(void **state)
{
	struct received_info ri = info();
	struct buf b;

	(void)state;
	ri.protocol = "ESMTPSA";
	ri.tls = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384";
	ri.hide_client = true;
	buf_init(&b, 4096);
	assert_int_equal(received_format(&ri, &b), 0);
	assert_string_equal(b.data,
	    "Received: from client.example.org\r\n"
	    "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384)\r\n"
	    "\t(envelope-from <alice@example.org>)\r\n"
	    "\tby mx.example.test (Decorum) with ESMTPSA id 1AbC\r\n"
	    "\tfor <demo@example.test>; Fri, 27 Nov 2026 20:44:14 +0000\r\n");
	buf_free(&b);
}

/* Local submission: the uid instead of a client, the envelope sender
 * all the same (the BCP asks it of every Received:). */
static void
test_local_submission(void **state)
{
	struct received_info ri = info();
	struct buf b;

	(void)state;
	ri.local = true;
	ri.local_uid = 1000;
	ri.helo = ri.rdns = ri.ip = ri.protocol = NULL;
	ri.sender = "cron@mx.example.test";
	buf_init(&b, 4096);
	assert_int_equal(received_format(&ri, &b), 0);
	assert_string_equal(b.data,
	    "Received: by mx.example.test (Decorum, from userid 1000)\r\n"
	    "\t(envelope-from <cron@mx.example.test>)\r\n"
	    "\tid 1AbC\r\n"
	    "\tfor <demo@example.test>; Fri, 27 Nov 2026 20:44:14 +0000\r\n");
	buf_reset(&b);
	ri.sender = "";
	ri.rcpt = NULL;
	assert_int_equal(received_format(&ri, &b), 0);
	assert_string_equal(b.data,
	    "Received: by mx.example.test (Decorum, from userid 1000)\r\n"
	    "\t(envelope-from <>)\r\n"
	    "\tid 1AbC; Fri, 27 Nov 2026 20:44:14 +0000\r\n");
	buf_reset(&b);
	/* -f is the caller's word, not ours: it cannot add a field. */
	ri.sender = "x>\r\nX-Evil: 1";
	assert_int_equal(received_format(&ri, &b), 0);
	assert_null(strstr(b.data, "\r\nX-Evil"));
	buf_free(&b);
}

static void
test_date_is_english_utc(void **state)
{
	char d[64];

	(void)state;
	received_date((time_t)0, d, sizeof(d));
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 +0000");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_recipient),
		cmocka_unit_test(test_several_recipients_unknown_rdns_null_sender),
		cmocka_unit_test(test_client_cannot_forge),
		cmocka_unit_test(test_address_literal_helo),
		cmocka_unit_test(test_tls_and_hidden_client),
		cmocka_unit_test(test_local_submission),
		cmocka_unit_test(test_date_is_english_utc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
