/*
 * Unit tests for src/scan/clamd_reply.c: the zINSTREAM frames, and the
 * replies clamd 1.4.6 gives (../shared/TEST-PEERS-SCANNERS.md), with the
 * name and reply limits on both sides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "scan/clamd_reply.h"

static struct clamd_result res;

static enum clamd_verdict
parse(const char *s)
{
	clamd_reply_parse(s, strlen(s), &res);
	return res.verdict;
}

static void
test_frames(void **state)
{
	uint8_t h[CLAMD_FRAME_HEAD];

	(void)state;
	assert_int_equal(strlen(CLAMD_INSTREAM_CMD) + 1, CLAMD_INSTREAM_CMD_LEN);
	assert_int_equal(clamd_frame_head(h, 1), 4);
	assert_memory_equal(h, "\0\0\0\1", 4);
	assert_int_equal(clamd_frame_head(h, CLAMD_CHUNK_MAX), 4);
	assert_memory_equal(h, "\0\1\0\0", 4);
	assert_int_equal(clamd_frame_head(h, CLAMD_CHUNK_MAX + 1), 0);
	/* A chunk of 0 would end the stream before the message does. */
	assert_int_equal(clamd_frame_head(h, 0), 0);
	memset(h, 0xff, sizeof(h));
	assert_int_equal(clamd_frame_end(h), 4);
	assert_memory_equal(h, "\0\0\0\0", 4);
}

static void
test_verdicts(void **state)
{
	(void)state;
	assert_int_equal(parse("stream: OK"), CLAMD_CLEAN);
	assert_int_equal(parse("stream: OK\n"), CLAMD_CLEAN);
	assert_int_equal(parse("stream: Test.EICAR.NDB.UNOFFICIAL FOUND"),
	    CLAMD_INFECTED);
	assert_string_equal(res.name, "Test.EICAR.NDB.UNOFFICIAL");
	assert_int_equal(parse("stream: Eicar-Signature FOUND\r\n"),
	    CLAMD_INFECTED);
	assert_string_equal(res.name, "Eicar-Signature");
	/* The NUL of a 'z' reply, if the caller counted it. */
	clamd_reply_parse("stream: OK", 11, &res);
	assert_int_equal(res.verdict, CLAMD_CLEAN);
}

static void
test_errors(void **state)
{
	(void)state;
	assert_int_equal(parse("INSTREAM size limit exceeded. ERROR"),
	    CLAMD_ERROR);
	assert_string_equal(res.name, "INSTREAM size limit exceeded. ERROR");
	assert_int_equal(parse("stream: Can't allocate memory ERROR"),
	    CLAMD_ERROR);
	/* Never clean by mistake. */
	assert_int_equal(parse("stream: OK ERROR"), CLAMD_ERROR);
	assert_int_equal(parse("stream: OKAY"), CLAMD_ERROR);
	assert_int_equal(parse("stream:  OK"), CLAMD_ERROR);
	assert_int_equal(parse("Stream: OK"), CLAMD_ERROR);
	assert_int_equal(parse("OK"), CLAMD_ERROR);
	assert_int_equal(parse(""), CLAMD_ERROR);
	assert_int_equal(parse("stream: FOUND"), CLAMD_ERROR);
	assert_int_equal(parse("stream:  FOUND"), CLAMD_ERROR);
	assert_int_equal(parse("stream: X FOUND ERROR"), CLAMD_ERROR);
	clamd_reply_parse(NULL, 0, &res);
	assert_int_equal(res.verdict, CLAMD_ERROR);
	/* An embedded NUL: not "OK", whatever follows. */
	clamd_reply_parse("stream: O\0K", 11, &res);
	assert_int_equal(res.verdict, CLAMD_ERROR);
	assert_string_equal(res.name, "stream: O?K");
}

static void
test_name_safe(void **state)
{
	char reply[CLAMD_REPLY_MAX + 2];
	size_t n;

	(void)state;
	assert_int_equal(parse("stream: Bad\x1b[31m\xc3\xa9\n FOUND"),
	    CLAMD_INFECTED);
	assert_string_equal(res.name, "Bad?[31m???");
	/* A name of CLAMD_NAME_MAX octets is kept whole; one more is cut. */
	memcpy(reply, "stream: ", 8);
	memset(reply + 8, 'N', CLAMD_NAME_MAX);
	memcpy(reply + 8 + CLAMD_NAME_MAX, " FOUND", 7);
	assert_int_equal(parse(reply), CLAMD_INFECTED);
	assert_int_equal(strlen(res.name), CLAMD_NAME_MAX);
	memset(reply + 8, 'N', CLAMD_NAME_MAX + 1);
	memcpy(reply + 8 + CLAMD_NAME_MAX + 1, " FOUND", 7);
	assert_int_equal(parse(reply), CLAMD_INFECTED);
	assert_int_equal(strlen(res.name), CLAMD_NAME_MAX);
	/* A reply of CLAMD_REPLY_MAX octets, and one more. */
	n = CLAMD_REPLY_MAX - 8 - 6;
	memset(reply + 8, 'N', n);
	memcpy(reply + 8 + n, " FOUND", 7);
	assert_int_equal(strlen(reply), CLAMD_REPLY_MAX);
	assert_int_equal(parse(reply), CLAMD_INFECTED);
	memset(reply + 8, 'N', n + 1);
	memcpy(reply + 8 + n + 1, " FOUND", 7);
	assert_int_equal(parse(reply), CLAMD_ERROR);
	assert_string_equal(res.name, "reply too long");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_name_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
