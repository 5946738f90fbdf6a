/*
 * libFuzzer harness: the control channel's frame reader
 * (src/smtpd/control_frame.c), fed a stream as the smtpd's control.c
 * and the master's channel.c read it.  Invariants checked:
 *  - every step makes progress and never reads past the input: a
 *    GARBAGE drop is 1..what is there, a FRAME is no longer than its
 *    maximum;
 *  - a frame handed on re-encodes to exactly its bytes (nothing in it
 *    was skipped or invented);
 *  - a good frame after the input, taken as junk, is found again whole
 *    (resynchronisation works), unless the junk ends in a header whose
 *    length reaches past the stream: a live reader waits for more bytes
 *    there, and finds the frame once they came and the check failed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "smtpd/control_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walk a stream as a reader does; returns how many frames with this
 * seq it handed on, and whether it ended waiting for a frame's rest. */
static int
walk(const uint8_t *p, size_t len, uint32_t seq, int *waiting)
{
	struct control_frame f;
	struct buf again;
	size_t total, h;
	int found = 0;

	*waiting = 0;
	while (len > 0) {
		h = len < CONTROL_HEADER_LEN ? len : CONTROL_HEADER_LEN;
		switch (control_frame_header(p, h, &total)) {
		case CONTROL_SCAN_MORE:
			if (h == len)
				return found;	/* the stream ended */
			abort();
		case CONTROL_SCAN_GARBAGE:
			if (total == 0 || total > h)
				abort();
			p += total;
			len -= total;
			continue;
		case CONTROL_SCAN_FRAME:
			break;
		}
		if (total < CONTROL_HEADER_LEN + CONTROL_TRAILER_LEN ||
		    total > CONTROL_HEADER_LEN + CONTROL_FRAME_MAX +
		    CONTROL_TRAILER_LEN)
			abort();
		if (total > len) {
			*waiting = 1;		/* a live reader waits */
			return found;
		}
		if (control_frame_open(p, total, &f) != CONTROL_SCAN_FRAME) {
			total = control_frame_resync(p, total);
			if (total == 0)
				abort();
			p += total;
			len -= total;
			continue;
		}
		buf_init(&again, total);
		if (control_frame_encode(&again, f.type, f.seq, f.payload,
		    f.len) < 0 || again.len != total ||
		    memcmp(again.data, p, total) != 0)
			abort();
		buf_free(&again);
		found += f.seq == seq;
		p += total;
		len -= total;
	}
	return found;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf s;
	int waiting;

	(void)walk(data, size, 0, &waiting);
	/* The input as junk before a good frame: the frame is found. */
	buf_init(&s, size + 64);
	if (buf_append(&s, data, size) < 0 ||
	    control_frame_encode(&s, CONTROL_KEYS, 0xfeedf00d, "DTK1", 4) < 0)
		abort();
	if (walk((const uint8_t *)s.data, s.len, 0xfeedf00d, &waiting) < 1 &&
	    !waiting)
		abort();
	buf_free(&s);
	return 0;
}
