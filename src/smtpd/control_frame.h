/*
 * Frames of the master <-> smtpd control channel, as bytes: building one,
 * and finding whole, intact frames in a stream that may hold anything.
 * Pure (no I/O), unit-tested and fuzzed; control.c (smtpd) and
 * daemon/channel.c (master) move the bytes.
 *
 *   "DCF1"  type  seq  len  payload[len]  check
 *
 * Integers are 32-bit big-endian.  type is CONTROL_KEYS (master ->
 * smtpd: tls_keypairs_encode() output) or CONTROL_RESEND (smtpd ->
 * master, no payload: "what you sent was damaged, send the keys again").
 * seq numbers the master's key frames, so logs on both sides match and
 * the smtpd never applies an older set after a newer one.  check is
 * FNV-1a (32-bit) over type, seq, len and the payload.  The master is
 * trusted; the check is not a defence against it but the way a reader
 * that lost its place (a bug, a torn write) sees that bytes are not a
 * frame, drops up to the next "DCF1" and asks again, instead of taking
 * the rest of the stream for garbage forever.
 */
#ifndef DECORUM_SMTPD_CONTROL_FRAME_H
#define DECORUM_SMTPD_CONTROL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define CONTROL_MAGIC		"DCF1"
#define CONTROL_HEADER_LEN	16
#define CONTROL_TRAILER_LEN	4
/* Payload limit: 64 key pairs of certificates and keys fit many times. */
#define CONTROL_FRAME_MAX	(8 * 1024 * 1024)

enum control_type {
	CONTROL_KEYS = 1,
	CONTROL_RESEND = 2,
};

struct control_frame {
	uint32_t type;
	uint32_t seq;
	const uint8_t *payload;	/* into the caller's bytes */
	size_t len;
};

enum control_scan {
	CONTROL_SCAN_MORE,	/* not enough bytes to tell yet */
	CONTROL_SCAN_FRAME,	/* a whole, intact frame */
	CONTROL_SCAN_GARBAGE,	/* not a frame: drop what *used says */
};

/* Append one frame to out, in one piece (so an empty out is allocated
 * once and holds the only copy of the payload; wipe it after use when
 * it carries keys).  0, or -1 when payload is over CONTROL_FRAME_MAX or
 * out's maximum. */
int control_frame_encode(struct buf *out, enum control_type type,
    uint32_t seq, const void *payload, size_t len);

/*
 * Look at the header at the start of data (len octets so far).  MORE:
 * wait for more bytes.  FRAME: the header is sound and *total is the
 * whole frame's size (which may not all be there yet).  GARBAGE: it is
 * not a frame start; *total is what to drop (control_frame_resync).
 */
enum control_scan control_frame_header(const uint8_t *data, size_t len,
    size_t *total);

/* A whole frame (total octets from control_frame_header): FRAME and f
 * filled when its check matches, else GARBAGE. */
enum control_scan control_frame_open(const uint8_t *data, size_t total,
    struct control_frame *f);

/* How many octets of data (len > 0) to drop to reach the next place a
 * frame could start: the next "DCF1" after the first octet, or all but a
 * tail that could still begin one.  At least 1. */
size_t control_frame_resync(const uint8_t *data, size_t len);

#endif
