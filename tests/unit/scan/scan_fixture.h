/*
 * Helpers the scan tests share: milter reply packets built by hand, as a
 * milter would write them, and the decoder run over a whole stream.
 * Header-only, every function static inline.
 */
#ifndef DECORUM_TESTS_UNIT_SCAN_FIXTURE_H
#define DECORUM_TESTS_UNIT_SCAN_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan/milter_proto.h"

/* One packet: length, cmd, data (len octets) into out; its length. */
static inline size_t
fx_packet(uint8_t *out, char cmd, const void *data, size_t len)
{
	size_t n = len + 1;

	out[0] = (uint8_t)(n >> 24);
	out[1] = (uint8_t)(n >> 16);
	out[2] = (uint8_t)(n >> 8);
	out[3] = (uint8_t)n;
	out[4] = (uint8_t)cmd;
	if (len > 0)
		memcpy(out + 5, data, len);
	return len + 5;
}

/* A fresh decoder on the heap (its buffer is 64 KiB). */
static inline struct milter_decoder *
fx_decoder(void)
{
	struct milter_decoder *d = malloc(sizeof(*d));

	assert_non_null(d);
	milter_decoder_init(d);
	return d;
}

/* Decodes one packet of cmd with data; the result and, through *r, the
 * reply (r is the caller's, decoder d must outlive its use). */
static inline enum milter_error
fx_decode1(struct milter_decoder *d, char cmd, const void *data, size_t len,
    struct milter_reply *r)
{
	uint8_t *pkt = malloc(len + 5);
	size_t n, used;
	enum milter_error err;
	enum milter_dec st;

	assert_non_null(pkt);
	milter_decoder_init(d);
	n = fx_packet(pkt, cmd, data, len);
	st = milter_decode(d, pkt, n, &used, r, &err);
	free(pkt);
	if (st == MILTER_DEC_REPLY) {
		assert_int_equal(used, n);
		return MILTER_OK;
	}
	assert_int_equal(st, MILTER_DEC_ERROR);
	assert_int_not_equal(err, MILTER_OK);
	return err;
}

#endif
