/*
 * Unit tests of the control channel's frames (src/smtpd/control_frame.c):
 * a frame round-trips; a header says MORE until it is whole; every kind
 * of damage (magic, type, length, check, a RESEND with a payload) is
 * GARBAGE; resync finds the next frame, keeps a tail that may start one,
 * and always makes progress.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "smtpd/control_frame.h"

#define EMPTY	(CONTROL_HEADER_LEN + CONTROL_TRAILER_LEN)

static void
encode(struct buf *b, enum control_type type, uint32_t seq, const char *p)
{
	assert_int_equal(control_frame_encode(b, type, seq, p,
	    p != NULL ? strlen(p) : 0), 0);
}

static void
test_round_trip(void **state)
{
	struct control_frame f;
	struct buf b;
	size_t total;

	(void)state;
	buf_init(&b, 1 << 20);
	encode(&b, CONTROL_KEYS, 7, "DTK1 payload");
	assert_int_equal(b.len, EMPTY + 12);
	assert_memory_equal(b.data, "DCF1\0\0\0\1\0\0\0\7\0\0\0\x0c", 16);
	assert_int_equal(control_frame_header((uint8_t *)b.data, b.len, &total),
	    CONTROL_SCAN_FRAME);
	assert_int_equal(total, b.len);
	assert_int_equal(control_frame_open((uint8_t *)b.data, total, &f),
	    CONTROL_SCAN_FRAME);
	assert_int_equal(f.type, CONTROL_KEYS);
	assert_int_equal(f.seq, 7);
	assert_int_equal(f.len, 12);
	assert_memory_equal(f.payload, "DTK1 payload", 12);
	buf_reset(&b);
	encode(&b, CONTROL_RESEND, 3, NULL);
	assert_int_equal(b.len, EMPTY);
	assert_int_equal(control_frame_open((uint8_t *)b.data, b.len, &f),
	    CONTROL_SCAN_FRAME);
	assert_int_equal(f.type, CONTROL_RESEND);
	assert_int_equal(f.len, 0);
	buf_free(&b);
}

static void
test_limits(void **state)
{
	struct buf b;
	static char big[CONTROL_FRAME_MAX + 1];
	uint8_t h[CONTROL_HEADER_LEN] = "DCF1\0\0\0\1\0\0\0\1";
	size_t total;

	(void)state;
	buf_init(&b, (size_t)CONTROL_FRAME_MAX * 2);
	assert_int_equal(control_frame_encode(&b, CONTROL_KEYS, 1, big,
	    CONTROL_FRAME_MAX + 1), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(control_frame_encode(&b, CONTROL_KEYS, 1, big,
	    CONTROL_FRAME_MAX), 0);
	buf_free(&b);
	/* out's own maximum is respected and leaves it as it was. */
	buf_init(&b, EMPTY + 3);
	assert_int_equal(control_frame_encode(&b, CONTROL_KEYS, 1, "abcd", 4), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	/* A header announcing more than the maximum is not waited for. */
	h[12] = 0x00; h[13] = 0x80; h[14] = 0x00; h[15] = 0x00;	/* 8 MiB */
	assert_int_equal(control_frame_header(h, sizeof(h), &total),
	    CONTROL_SCAN_FRAME);
	assert_int_equal(total, EMPTY + CONTROL_FRAME_MAX);
	h[15] = 0x01;						/* 8 MiB + 1 */
	assert_int_equal(control_frame_header(h, sizeof(h), &total),
	    CONTROL_SCAN_GARBAGE);
	assert_true(total >= 1);
}

static void
test_partial_header(void **state)
{
	struct buf b;
	size_t total;

	(void)state;
	buf_init(&b, 4096);
	encode(&b, CONTROL_KEYS, 1, "x");
	for (size_t n = 1; n < CONTROL_HEADER_LEN; n++)
		assert_int_equal(control_frame_header((uint8_t *)b.data, n,
		    &total), CONTROL_SCAN_MORE);
	/* "DCX" cannot become "DCF1". */
	assert_int_equal(control_frame_header((const uint8_t *)"DCX", 3,
	    &total), CONTROL_SCAN_GARBAGE);
	assert_int_equal(total, 3);
	buf_free(&b);
}

static void
test_damage(void **state)
{
	struct control_frame f;
	struct buf b;
	size_t total;
	uint8_t *p;

	(void)state;
	buf_init(&b, 4096);
	encode(&b, CONTROL_KEYS, 1, "payload");
	p = (uint8_t *)b.data;
	/* Each octet after the magic flipped: the check catches it (or
	 * the header does). */
	for (size_t i = 4; i < b.len; i++) {
		p[i] ^= 0x40;
		if (control_frame_header(p, b.len, &total) == CONTROL_SCAN_FRAME &&
		    total == b.len)
			assert_int_equal(control_frame_open(p, total, &f),
			    CONTROL_SCAN_GARBAGE);
		p[i] ^= 0x40;
	}
	assert_int_equal(control_frame_open(p, b.len, &f), CONTROL_SCAN_FRAME);
	/* Unknown type; a RESEND that carries a payload. */
	p[7] = 9;
	assert_int_equal(control_frame_header(p, b.len, &total),
	    CONTROL_SCAN_GARBAGE);
	p[7] = CONTROL_RESEND;
	assert_int_equal(control_frame_header(p, b.len, &total),
	    CONTROL_SCAN_GARBAGE);
	/* A frame shorter than its header says is not opened. */
	p[7] = CONTROL_KEYS;
	assert_int_equal(control_frame_open(p, b.len - 1, &f),
	    CONTROL_SCAN_GARBAGE);
	buf_free(&b);
}

static void
test_resync(void **state)
{
	struct buf b;
	size_t total;

	(void)state;
	buf_init(&b, 4096);
	buf_append(&b, "junk DC", 7);
	encode(&b, CONTROL_KEYS, 2, "k");
	/* Junk, then "DC" that is not a frame start ("DCDC"), then the
	 * frame: dropped up to the frame in one step. */
	assert_int_equal(control_frame_header((uint8_t *)b.data, b.len, &total),
	    CONTROL_SCAN_GARBAGE);
	assert_int_equal(total, 7);
	assert_int_equal(control_frame_header((uint8_t *)b.data + 7, b.len - 7,
	    &total), CONTROL_SCAN_FRAME);
	/* A tail that may start a frame is kept; one that may not is not. */
	assert_int_equal(control_frame_resync((const uint8_t *)"xxDCF", 5), 2);
	assert_int_equal(control_frame_resync((const uint8_t *)"xxDCG", 5), 5);
	assert_int_equal(control_frame_resync((const uint8_t *)"D", 1), 1);
	/* A magic at the start is skipped: progress is at least one. */
	assert_int_equal(control_frame_resync((const uint8_t *)"DCF1DCF1", 8), 4);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_partial_header),
		cmocka_unit_test(test_damage),
		cmocka_unit_test(test_resync),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
