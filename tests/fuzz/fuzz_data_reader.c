/*
 * libFuzzer harness: the DATA reader.  Byte 0 picks a split position,
 * byte 1 the size limit, byte 2 the line limit; the rest is the input.
 * Invariants checked:
 *  - feeding the input in one piece, split in two, and one octet at a
 *    time gives identical output, status, consumed count, errors, size
 *    and 8-bit flag (one octet at a time never takes the reader's fast
 *    paths, the vector scan and the CRLF passed in one step, so this
 *    holds those to the plain state machine);
 *  - with no error flagged, the consumed input is the output with
 *    stuffing dots put back, then ".\r\n" (the reader is lossless);
 *  - output never exceeds max_size; consumed never exceeds the input;
 *  - the 8-bit flag is set exactly when an octet of the consumed input
 *    is 0x80 or more (the reader scans 16 or 8 octets at a time, so a
 *    cut moves which of them it looks at one by one);
 *  - with CRLF-only input read to its end, the line-length error is set
 *    exactly when an output line (unstuffed, CRLF included) is longer
 *    than max_line: a dot doubled for transparency never counts
 *    (RFC 5321 4.5.3.1.6).
 * The hop counter (smtp/hops.h) reads the reader's output in smtpd, so it
 * is run here too, on that output and on the raw input: fed whole, split
 * at the same position, and one octet at a time, it must give one count,
 * and that count must be the one of a plain line-by-line reference.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "smtp/data_reader.h"
#include "smtp/hops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
any_high(const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)in[i] >= 0x80)
			return true;
	return false;
}

struct outcome {
	enum data_status status;
	size_t consumed;
	struct data_reader r;
	struct buf out;
};

static void
feed_all(const char *in, size_t len, size_t cut, size_t max_size,
    size_t max_line, struct outcome *o)
{
	size_t used = 0;

	buf_init(&o->out, len + 2);
	data_reader_init(&o->r, max_size, max_line);
	o->consumed = 0;
	o->status = data_reader_feed(&o->r, in, cut, &used, &o->out);
	if (used > cut)
		abort();
	o->consumed = used;
	if (o->status == DATA_MORE) {
		if (used != cut)
			abort();
		o->status = data_reader_feed(&o->r, in + cut, len - cut, &used,
		    &o->out);
		if (used > len - cut)
			abort();
		o->consumed += used;
	}
}

/* The same input fed one octet at a time, up to the end of data. */
static void
feed_bytes(const char *in, size_t len, size_t max_size, size_t max_line,
    struct outcome *o)
{
	size_t used;

	buf_init(&o->out, len + 2);
	data_reader_init(&o->r, max_size, max_line);
	o->consumed = 0;
	o->status = DATA_MORE;
	while (o->status == DATA_MORE && o->consumed < len) {
		o->status = data_reader_feed(&o->r, in + o->consumed, 1, &used,
		    &o->out);
		if (used != 1)
			abort();
		o->consumed++;
	}
}

static bool
same_outcome(const struct outcome *a, const struct outcome *b)
{
	return a->status == b->status && a->consumed == b->consumed &&
	    a->r.errors == b->r.errors && a->r.size == b->r.size &&
	    a->r.eight_bit == b->r.eight_bit && a->out.len == b->out.len &&
	    (a->out.len == 0 ||
	    memcmp(a->out.data, b->out.data, a->out.len) == 0);
}

/*
 * Walk msg against in[0..len): the input is msg with a dot before some
 * lines (always before a line starting with a dot, RFC 5321 4.5.2; a
 * client may also stuff other lines, ".x" reads as "x"), then ".\r\n".
 */
static bool
restuffed_equals(const char *msg, size_t mlen, const char *in, size_t len)
{
	size_t i = 0, j = 0;
	bool bol = true;

	for (i = 0; i < mlen; i++) {
		if (bol) {
			if (j >= len || (msg[i] == '.' && in[j] != '.'))
				return false;
			if (in[j] == '.')
				j++;
		}
		if (j >= len || in[j] != msg[i])
			return false;
		j++;
		bol = msg[i] == '\n';
	}
	return len - j == 3 && memcmp(in + j, ".\r\n", 3) == 0;
}

/* The longest CRLF-ended line of out, CRLF included. */
static size_t
longest_line(const char *out, size_t len)
{
	size_t best = 0, start = 0;

	for (size_t i = 1; i < len; i++) {
		if (out[i - 1] != '\r' || out[i] != '\n')
			continue;
		if (i + 1 - start > best)
			best = i + 1 - start;
		start = i + 1;
	}
	return best;
}

/* The reference: Received: fields before the first empty line, counted
 * line by line, the obvious way. */
static unsigned
hops_reference(const char *in, size_t len)
{
	unsigned n = 0;
	size_t i = 0;

	while (i < len) {
		const char *nl = memchr(in + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - in) : len, j;

		if (end == i || (end == i + 1 && in[i] == '\r'))
			break;
		for (j = 0; j < 8 && i + j < end &&
		    (in[i + j] | 0x20) == "received"[j]; j++)
			;
		if (j == 8) {
			j += i;
			while (j < end && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (j < end && in[j] == ':')
				n++;
		}
		i = end + 1;
	}
	return n;
}

static void
check_hops(const char *in, size_t len, size_t cut)
{
	struct hops whole, split, bytes;

	if (cut > len)
		cut = len;
	hops_init(&whole);
	hops_feed(&whole, in, len);
	hops_init(&split);
	hops_feed(&split, in, cut);
	hops_feed(&split, in + cut, len - cut);
	hops_init(&bytes);
	for (size_t i = 0; i < len; i++)
		hops_feed(&bytes, in + i, 1);
	if (whole.count != split.count || whole.count != bytes.count ||
	    whole.count != hops_reference(in, len))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome a, b;
	const char *in;
	size_t len, cut, max_size, max_line;

	if (size < 3)
		return 0;
	in = (const char *)data + 3;
	len = size - 3;
	cut = len ? data[0] % (len + 1) : 0;
	max_size = data[1] == 0 ? 0 : (size_t)data[1] * 4;
	max_line = data[2] < 128 ? 1000 : (size_t)(data[2] - 120);

	feed_all(in, len, len, max_size, max_line, &a);
	feed_all(in, len, cut, max_size, max_line, &b);
	if (!same_outcome(&a, &b))
		abort();
	buf_free(&b.out);
	feed_bytes(in, len, max_size, max_line, &b);
	if (!same_outcome(&a, &b))
		abort();
	if (a.consumed > len || (max_size && a.out.len > max_size))
		abort();
	if (a.status == DATA_END && a.r.errors == 0 &&
	    !restuffed_equals(a.out.data ? a.out.data : "", a.out.len, in,
	    a.consumed))
		abort();
	if (a.r.errors == 0 && a.r.size != a.out.len)
		abort();
	if (a.r.eight_bit != any_high(in, a.consumed))
		abort();
	if (a.status == DATA_END &&
	    (a.r.errors & ~(unsigned)DATA_ERR_LINE_TOO_LONG) == 0 &&
	    ((a.r.errors & DATA_ERR_LINE_TOO_LONG) != 0) !=
	    (longest_line(a.out.data, a.out.len) > max_line))
		abort();

	check_hops(a.out.data ? a.out.data : "", a.out.len, cut);
	check_hops(in, len, cut);

	buf_free(&a.out);
	buf_free(&b.out);
	return 0;
}
