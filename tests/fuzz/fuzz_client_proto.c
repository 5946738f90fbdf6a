/*
 * libFuzzer harness: the client side of the protocol core
 * (src/smtp/client_proto.c), i.e. what a hostile server's replies and a
 * hostile message go through on their way out.
 *
 * The input is used twice:
 *  - split at '\n' into reply lines fed to the reader (the reader is
 *    started over after DONE or BAD); each DONE reply is checked (code
 *    200..599, sane line count, text bounded, NUL-terminated and free of
 *    control characters, enhanced code well-formed and of the reply's
 *    class, a text cut only where a UTF-8 sequence starts), its
 *    capabilities parsed, and its one-line form made at many
 *    buffer sizes: never past the buffer, always a prefix of the long
 *    form, at most 3 octets (one cut UTF-8 sequence) shorter than room,
 *    never ending inside a whole UTF-8 sequence;
 *  - as message data, dot-stuffed in pseudo-random chunks (seeded from
 *    the input): the same output as in one piece, at most twice the
 *    chunk, no lone dot at any line start (CRLF, bare CR or bare LF),
 *    unstuffing gives the input back, and our own strict DATA reader
 *    finds the end exactly at the end marker and, for clean CRLF input,
 *    reads back exactly the input (with a CRLF closing the last line).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "smtp/client_proto.h"
#include "smtp/data_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LINE_LONG	(16 + 16 + SMTP_CLIENT_TEXT_MAX)

static void
check_enhanced(const struct smtp_client_reply *r)
{
	const char *e = r->enhanced;
	size_t n = strnlen(e, sizeof(r->enhanced));
	size_t i, dots = 0, run = 0;

	if (n == sizeof(r->enhanced))
		abort();
	if (n == 0)
		return;
	if (e[0] != '0' + r->code / 100 || n < 5 || e[1] != '.')
		abort();
	for (i = 2; i < n; i++) {
		if (e[i] == '.') {
			if (run == 0 || run > 3)
				abort();
			dots++;
			run = 0;
		} else if (e[i] >= '0' && e[i] <= '9')
			run++;
		else
			abort();
	}
	if (dots != 1 || run == 0 || run > 3)
		abort();
}

static void
check_reply(const struct smtp_client_reader *rd)
{
	const struct smtp_client_reply *r = &rd->reply;
	size_t tl = strnlen(r->text, sizeof(r->text)), i, nl = 0;

	if (r->code < 200 || r->code > 599)
		abort();
	if (r->n_lines < 1 || r->n_lines > SMTP_CLIENT_LINES_MAX)
		abort();
	if (tl >= sizeof(r->text) || tl != rd->text_len)
		abort();
	for (i = 0; i < tl; i++) {
		unsigned char c = (unsigned char)r->text[i];

		if (c == '\n')
			nl++;
		else if (c < ' ' || c == 0x7f)
			abort();
	}
	if (nl > r->n_lines - 1)
		abort();
	check_enhanced(r);
}

static size_t
lead_len(unsigned char c)
{
	return c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

/*
 * Does s[0..ol) end inside a UTF-8 sequence that full (fl octets) holds
 * whole?  A lead octet in the last 3 kept, only continuations after it,
 * its continuations all there in full, and not all of them kept.
 */
static bool
splits_sequence(const char *full, size_t fl, size_t ol)
{
	size_t p, k, need;

	for (p = ol; p > 0 && ol - p < 3; p--) {
		unsigned char c = (unsigned char)full[p - 1];

		if ((c & 0xc0) == 0x80)
			continue;
		if (c < 0xc0)
			return false;
		need = lead_len(c);
		if (p - 1 + need <= ol || p - 1 + need > fl)
			return false;
		for (k = 1; k < need; k++)
			if (((unsigned char)full[p - 1 + k] & 0xc0) != 0x80)
				return false;
		return true;
	}
	return false;
}

static void
check_reply_line(const struct smtp_client_reply *r)
{
	static const size_t sizes[] = { 1, 2, 3, 4, 5, 9, 13, 64, 511 };
	char full[LINE_LONG], out[LINE_LONG + 8];
	size_t fl, ol, i, want;

	smtp_client_reply_line(r, full, sizeof(full));
	fl = strlen(full);
	if (fl >= sizeof(full))
		abort();
	for (i = 0; i < fl; i++)
		if ((unsigned char)full[i] < ' ' || full[i] == 0x7f)
			abort();
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(out, 0x55, sizes[i] + 1);
		smtp_client_reply_line(r, out, sizes[i]);
		if (out[sizes[i]] != 0x55)
			abort();
		ol = strnlen(out, sizes[i]);
		if (ol >= sizes[i] || memcmp(out, full, ol) != 0)
			abort();
		want = sizes[i] - 1 < fl ? sizes[i] - 1 : fl;
		if (ol + 3 < want)
			abort();
		/* Only a sequence that would be cut is left out. */
		if (ol < want && ((unsigned char)full[ol] < 0xc0 ||
		    ol + lead_len((unsigned char)full[ol]) <= want))
			abort();
		if (splits_sequence(full, fl, ol))
			abort();
	}
}

/*
 * The line that made the text overflow: what was kept of its text must be
 * all the room allowed, less at most a UTF-8 sequence that did not fit,
 * and must not end inside a whole sequence.
 */
static void
check_cut_line(const struct smtp_client_reader *rd, size_t before,
    const char *line, size_t n)
{
	const char *t;
	size_t tl, kept, room, el = strlen(rd->reply.enhanced);

	if (before + 1 >= sizeof(rd->reply.text) && rd->reply.n_lines > 1)
		return;		/* not even the '\n' fitted */
	if (n > 0 && line[n - 1] == '\r')
		n--;
	t = n > 4 ? line + 4 : "";
	tl = n > 4 ? n - 4 : 0;
	if (el > 0 && tl >= el && memcmp(t, rd->reply.enhanced, el) == 0 &&
	    (tl == el || t[el] == ' ')) {
		t += tl == el ? el : el + 1;
		tl -= tl == el ? el : el + 1;
	}
	room = sizeof(rd->reply.text) - 1 - before;
	if (rd->reply.n_lines > 1) {
		room--;
		before++;
	}
	kept = rd->text_len - before;
	if (kept >= tl || kept > room || kept + 3 < room)
		abort();
	if (splits_sequence(t, tl, kept))
		abort();
}

/* Each line is fed reps times, so that a short input can still fill
 * the reply text and exercise its cut. */
static void
run_reader(const char *in, size_t len, unsigned reps)
{
	struct smtp_client_reader rd;
	struct smtp_caps caps;
	size_t pos = 0;

	smtp_client_reader_init(&rd);
	while (pos < len) {
		const char *nl = memchr(in + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (in + pos)) : len - pos;
		size_t before = rd.in_reply ? rd.text_len : 0;
		bool was_cut = rd.in_reply && rd.text_cut;
		enum smtp_client_feed rc = SMTP_CLIENT_BAD;
		unsigned k;

		for (k = 0; k < reps; k++) {
			before = rd.in_reply ? rd.text_len : 0;
			was_cut = rd.in_reply && rd.text_cut;
			rc = smtp_client_reader_feed(&rd, in + pos, n);
			if (rc != SMTP_CLIENT_BAD && !was_cut && rd.text_cut)
				check_cut_line(&rd, before, in + pos, n);
			if (rc != SMTP_CLIENT_MORE)
				break;
		}
		switch (rc) {
		case SMTP_CLIENT_MORE:
			/* Checked when DONE: each line costs O(1) here. */
			if (rd.text_len >= sizeof(rd.reply.text))
				abort();
			break;
		case SMTP_CLIENT_DONE:
			check_reply(&rd);
			smtp_caps_parse(&rd.reply, &caps);
			if (!caps.size && caps.size_max != 0)
				abort();
			check_reply_line(&rd.reply);
			smtp_client_reader_init(&rd);
			break;
		case SMTP_CLIENT_BAD:
			smtp_client_reader_init(&rd);
			break;
		default:
			abort();
		}
		pos += n + 1;
	}
}

static uint32_t
next_rand(uint32_t *s)
{
	/* xorshift32: never sticks at a value once seeded non-zero. */
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Walks out as a receiver that takes any CR or LF for a line end would. */
static bool
unstuffs_to(const char *out, size_t olen, const char *in, size_t len)
{
	size_t i = 0, j = 0;
	bool bol = true;

	while (i < olen) {
		if (bol && out[i] == '.') {
			/* A lone dot here could end the data somewhere. */
			if (i + 1 >= olen || out[i + 1] != '.')
				return false;
			i++;
		}
		if (j >= len || out[i] != in[j])
			return false;
		bol = out[i] == '\r' || out[i] == '\n';
		i++;
		j++;
	}
	return j == len;
}

/* Every CR is followed by LF and every LF follows a CR; no NUL. */
static bool
clean_crlf(const char *in, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (in[i] == '\0')
			return false;
		if (in[i] == '\r' && (i + 1 >= len || in[i + 1] != '\n'))
			return false;
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			return false;
	}
	return true;
}

static void
run_stuffer(const char *in, size_t len)
{
	struct smtp_dot_stuffer ds;
	struct data_reader dr;
	struct buf back;
	char *one, *many;
	size_t n1, n2, pos = 0, used = 0;
	uint32_t seed = 0x9e3779b9u ^ (uint32_t)len;
	size_t i;

	for (i = 0; i < len && i < 8; i++)
		seed = seed * 31 + (unsigned char)in[i];
	if (seed == 0)
		seed = 1;
	one = malloc(2 * len + 5);
	many = malloc(2 * len + 5);
	if (one == NULL || many == NULL)
		abort();

	smtp_dot_stuffer_init(&ds);
	n1 = smtp_dot_stuff(&ds, in, len, one);
	if (n1 > 2 * len)
		abort();
	if (!unstuffs_to(one, n1, in, len))
		abort();
	n1 += smtp_dot_end(&ds, one + n1);

	smtp_dot_stuffer_init(&ds);
	n2 = 0;
	while (pos < len) {
		size_t chunk = next_rand(&seed) % 24, got;

		if (chunk > len - pos)
			chunk = len - pos;
		got = smtp_dot_stuff(&ds, in + pos, chunk, many + n2);
		if (got < chunk || got > 2 * chunk)
			abort();
		n2 += got;
		pos += chunk;
	}
	n2 += smtp_dot_end(&ds, many + n2);
	if (n1 != n2 || memcmp(one, many, n1) != 0)
		abort();

	/* What a strict receiver (ours) makes of it. */
	buf_init(&back, n1 + 16);
	data_reader_init(&dr, 0, 0);
	if (data_reader_feed(&dr, one, n1, &used, &back) != DATA_END ||
	    used != n1)
		abort();
	if (clean_crlf(in, len)) {
		bool closed = len == 0 ||
		    (len >= 2 && in[len - 2] == '\r' && in[len - 1] == '\n');

		if (dr.errors != DATA_ERR_NONE)
			abort();
		if (back.len != len + (closed ? 0 : 2) ||
		    (len > 0 && memcmp(back.data, in, len) != 0))
			abort();
		if (!closed && memcmp(back.data + len, "\r\n", 2) != 0)
			abort();
	}
	buf_free(&back);
	free(one);
	free(many);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run_reader((const char *)data, size, 1);
	run_reader((const char *)data, size, 3);
	run_stuffer((const char *)data, size);
	return 0;
}
