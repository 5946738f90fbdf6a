/*
 * Control channel frames: see control_frame.h for the format and why it
 * has a magic, a sequence number and a check.
 *
 * Callers: the smtpd's control.c (reads key frames, writes RESEND) and
 * the master's daemon/channel.c (writes key frames, reads RESEND).
 * Trust: none in the bytes.  Every length is checked against
 * CONTROL_FRAME_MAX before anything waits for it, so a damaged header
 * can make a reader wait for at most one frame's worth of bytes, and a
 * frame is only handed on when its check matches.  Pure: no I/O.
 */
#include "smtpd/control_frame.h"

#include <string.h>

#include "common/xmalloc.h"

#define MAGIC_LEN	4
#define FNV_OFFSET	2166136261u
#define FNV_PRIME	16777619u

static uint32_t
fnv1a(uint32_t h, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* The check covers everything after the magic: a frame whose header
 * was damaged is as wrong as one whose payload was. */
static uint32_t
frame_check(const uint8_t *fields, const uint8_t *payload, size_t len)
{
	return fnv1a(fnv1a(FNV_OFFSET, fields, CONTROL_HEADER_LEN - MAGIC_LEN),
	    payload, len);
}

int
control_frame_encode(struct buf *out, enum control_type type, uint32_t seq,
    const void *payload, size_t len)
{
	size_t total = CONTROL_HEADER_LEN + len + CONTROL_TRAILER_LEN;
	uint8_t *frame;
	int rc;

	if (len > CONTROL_FRAME_MAX || (len > 0 && payload == NULL))
		return -1;
	/*
	 * One exact-size block, appended in one go: an empty out then gets
	 * a single allocation, and no realloc leaves a copy of the payload
	 * (private keys) behind.  The block is wiped here.
	 */
	frame = xmalloc(total);
	memcpy(frame, CONTROL_MAGIC, MAGIC_LEN);
	buf_put_be32(frame + 4, (uint32_t)type);
	buf_put_be32(frame + 8, seq);
	buf_put_be32(frame + 12, (uint32_t)len);
	if (len > 0)
		memcpy(frame + CONTROL_HEADER_LEN, payload, len);
	buf_put_be32(frame + CONTROL_HEADER_LEN + len, frame_check(frame + MAGIC_LEN,
	    frame + CONTROL_HEADER_LEN, len));
	rc = buf_append(out, frame, total);
	xfree_secret(frame, total);
	return rc;
}

enum control_scan
control_frame_header(const uint8_t *data, size_t len, size_t *total)
{
	size_t n = len < MAGIC_LEN ? len : MAGIC_LEN;
	uint32_t type, plen;

	*total = 0;
	if (memcmp(data, CONTROL_MAGIC, n) != 0)
		goto garbage;
	if (len < CONTROL_HEADER_LEN)
		return CONTROL_SCAN_MORE;
	type = buf_get_be32(data + 4);
	plen = buf_get_be32(data + 12);
	if ((type != CONTROL_KEYS && type != CONTROL_RESEND) ||
	    plen > CONTROL_FRAME_MAX || (type == CONTROL_RESEND && plen != 0))
		goto garbage;
	*total = CONTROL_HEADER_LEN + (size_t)plen + CONTROL_TRAILER_LEN;
	return CONTROL_SCAN_FRAME;
garbage:
	*total = control_frame_resync(data, len);
	return CONTROL_SCAN_GARBAGE;
}

enum control_scan
control_frame_open(const uint8_t *data, size_t total, struct control_frame *f)
{
	size_t len;

	memset(f, 0, sizeof(*f));
	if (total < CONTROL_HEADER_LEN + CONTROL_TRAILER_LEN ||
	    memcmp(data, CONTROL_MAGIC, MAGIC_LEN) != 0)
		return CONTROL_SCAN_GARBAGE;
	len = buf_get_be32(data + 12);
	if (len != total - CONTROL_HEADER_LEN - CONTROL_TRAILER_LEN ||
	    frame_check(data + MAGIC_LEN, data + CONTROL_HEADER_LEN, len) !=
	    buf_get_be32(data + CONTROL_HEADER_LEN + len))
		return CONTROL_SCAN_GARBAGE;
	f->type = buf_get_be32(data + 4);
	f->seq = buf_get_be32(data + 8);
	f->payload = data + CONTROL_HEADER_LEN;
	f->len = len;
	return CONTROL_SCAN_FRAME;
}

size_t
control_frame_resync(const uint8_t *data, size_t len)
{
	size_t i;

	for (i = 1; i < len; i++) {
		size_t n = len - i < MAGIC_LEN ? len - i : MAGIC_LEN;

		/* A whole magic, or a tail that could grow into one. */
		if (memcmp(data + i, CONTROL_MAGIC, n) == 0)
			return i;
	}
	return len;
}
