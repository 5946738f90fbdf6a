/*
 * Unit tests of the DATA reader (src/smtp/data_reader.c).
 *
 * Every vector is run four ways: in one feed, one byte per feed, in every
 * two-way split, and in every three-way split; all must give the same
 * output, errors, size, 8-bit flag and consumed count.  That is how the
 * "\r" in one read and "\n.\r\n" in the next case is covered for every
 * position, not just the ones we thought of.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/bounds.h"
#include "smtp/data_reader.h"

struct result {
	enum data_status status;
	size_t consumed;
	unsigned errors;
	uint64_t size;
	bool eight_bit;
	char out[4096];
	size_t out_len;
};

/*
 * Feed in[0..len) in pieces ending at cuts[0..ncuts) then len; stop at
 * DATA_END like a session would, leaving the rest to the next command.
 */
static void
run(const char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_size, size_t max_line, struct result *res)
{
	struct data_reader r;
	struct buf out;
	size_t pos = 0, k;

	memset(res, 0, sizeof(*res));
	data_reader_init(&r, max_size, max_line);
	buf_init(&out, sizeof(res->out));
	res->status = DATA_MORE;
	for (k = 0; k <= ncuts && res->status == DATA_MORE; k++) {
		size_t stop = k < ncuts ? cuts[k] : len;
		size_t used = 0;

		assert_true(stop >= pos);
		res->status = data_reader_feed(&r, in + pos, stop - pos, &used,
		    &out);
		assert_true(used <= stop - pos);
		if (res->status == DATA_MORE)
			assert_int_equal(used, stop - pos);
		pos += used;
		res->consumed += used;
	}
	res->errors = r.errors;
	res->size = r.size;
	res->eight_bit = r.eight_bit;
	assert_true(out.len <= sizeof(res->out));
	if (out.len > 0)
		memcpy(res->out, out.data, out.len);
	res->out_len = out.len;
	buf_free(&out);
}

static void
assert_same(const struct result *a, const struct result *b)
{
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->consumed, b->consumed);
	assert_int_equal(a->errors, b->errors);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->eight_bit, b->eight_bit);
	assert_int_equal(a->out_len, b->out_len);
	assert_memory_equal(a->out, b->out, a->out_len);
}

/*
 * Run splits of in and check each against the one-feed result: one byte
 * per feed, every two-way split, and every three-way split whose first
 * cut is at most `edge` octets from either end (edge >= len: all of
 * them).  A line of a thousand octets has half a million three-way
 * splits; its states change only near its ends, so those suffice there.
 */
static void
check_splits_near(const char *in, size_t len, size_t max_size,
    size_t max_line, size_t edge, struct result *whole)
{
	struct result *other = malloc(sizeof(*other));
	size_t *cuts = malloc((len + 2) * sizeof(*cuts));
	size_t i, j;

	assert_non_null(other);
	assert_non_null(cuts);
	run(in, len, NULL, 0, max_size, max_line, whole);

	for (i = 0; i < len; i++)
		cuts[i] = i + 1;
	run(in, len, cuts, len, max_size, max_line, other);
	assert_same(whole, other);

	for (i = 0; i <= len; i++) {
		cuts[0] = i;
		run(in, len, cuts, 1, max_size, max_line, other);
		assert_same(whole, other);
		if (i > edge && len - i > edge)
			continue;
		for (j = i; j <= len; j++) {
			cuts[1] = j;
			run(in, len, cuts, 2, max_size, max_line, other);
			assert_same(whole, other);
		}
	}
	free(cuts);
	free(other);
}

/* Every split of in, checked against the one-feed result. */
static void
check_splits(const char *in, size_t len, size_t max_size, size_t max_line,
    struct result *whole)
{
	check_splits_near(in, len, max_size, max_line, len, whole);
}

struct vector {
	const char *name;
	const char *in;
	size_t in_len;		/* 0: strlen(in) */
	enum data_status status;
	size_t consumed;	/* 0: all of in */
	const char *out;
	size_t out_len;		/* 0: strlen(out) */
	unsigned errors;
	bool eight_bit;
};

static const struct vector vectors[] = {
	{ "simple", "Subject: x\r\n\r\nHello\r\n.\r\n", 0, DATA_END, 0,
	    "Subject: x\r\n\r\nHello\r\n", 0, 0, false },
	{ "empty message", ".\r\n", 0, DATA_END, 0, "", 0, 0, false },
	{ "one empty line", "\r\n.\r\n", 0, DATA_END, 0, "\r\n", 0, 0, false },
	{ "dot-stuffed dot", "..\r\n.\r\n", 0, DATA_END, 0, ".\r\n", 0, 0, false },
	{ "dot-stuffing", "..foo\r\n.bar\r\n...\r\n.\r\n", 0, DATA_END, 0,
	    ".foo\r\nbar\r\n..\r\n", 0, 0, false },
	{ "dot-space", ". \r\n.\r\n", 0, DATA_END, 0, " \r\n", 0, 0, false },
	{ "dot mid-line", "a.b\r\na.\r\n.\r\n", 0, DATA_END, 0,
	    "a.b\r\na.\r\n", 0, 0, false },
	{ "pipelined after end", "a\r\n.\r\nMAIL FROM:<x@y>\r\n", 0, DATA_END, 6,
	    "a\r\n", 0, 0, false },
	{ "pipelined QUIT", ".\r\nQUIT\r\n", 0, DATA_END, 3, "", 0, 0, false },
	{ "not yet ended", "abc\r\n.", 0, DATA_MORE, 0, "abc\r\n", 0, 0, false },
	{ "not yet ended cr", "abc\r\n.\r", 0, DATA_MORE, 0, "abc\r\n", 0, 0,
	    false },
	{ "no input", "", 0, DATA_MORE, 0, "", 0, 0, false },
	{ "bare LF middle", "a\nb\r\n.\r\n", 0, DATA_END, 0, "a\nb\r\n", 0,
	    DATA_ERR_BARE_LF, false },
	{ "bare LF line ends", "a\nb\n.\n", 0, DATA_MORE, 0, "a\nb\n.\n", 0,
	    DATA_ERR_BARE_LF, false },
	{ "LF.LF is not the end", "a\n.\nb\r\n.\r\n", 0, DATA_END, 0,
	    "a\n.\nb\r\n", 0, DATA_ERR_BARE_LF, false },
	{ "CRLF.LF is not the end", "a\r\n.\nb\r\n.\r\n", 0, DATA_END, 0,
	    "a\r\n\nb\r\n", 0, DATA_ERR_BARE_LF, false },
	{ "LF.CRLF is not the end (smuggling)",
	    "a\n.\r\nMAIL FROM:<evil@x>\r\n.\r\nQUIT\r\n", 0, DATA_END, 28,
	    "a\n.\r\nMAIL FROM:<evil@x>\r\n", 0, DATA_ERR_BARE_LF, false },
	{ "CR.CRLF is not the end", "a\r.\r\nb\r\n.\r\n", 0, DATA_END, 0,
	    "a\r.\r\nb\r\n", 0, DATA_ERR_BARE_CR, false },
	{ "CRLF.CR is not the end", "a\r\n.\rb\r\n.\r\n", 0, DATA_END, 0,
	    "a\r\n\rb\r\n", 0, DATA_ERR_BARE_CR, false },
	{ "CRLF.CRCRLF", "a\r\n.\r\r\n.\r\n", 0, DATA_END, 0,
	    "a\r\n\r\r\n", 0, DATA_ERR_BARE_CR, false },
	{ "bare CR", "a\rb\r\n.\r\n", 0, DATA_END, 0, "a\rb\r\n", 0,
	    DATA_ERR_BARE_CR, false },
	{ "bare CR at line end", "a\r\r\n.\r\n", 0, DATA_END, 0, "a\r\r\n", 0,
	    DATA_ERR_BARE_CR, false },
	{ "bare CR first", "\rX\r\n.\r\n", 0, DATA_END, 0, "\rX\r\n", 0,
	    DATA_ERR_BARE_CR, false },
	{ "bare LF first", "\n.\r\n.\r\n", 0, DATA_END, 0, "\n.\r\n", 0,
	    DATA_ERR_BARE_LF, false },
	{ "LFCR", "a\n\r\n.\r\n", 0, DATA_END, 0, "a\n\r\n", 0,
	    DATA_ERR_BARE_LF, false },
	{ "both", "a\rb\nc\r\n.\r\n", 0, DATA_END, 0, "a\rb\nc\r\n", 0,
	    DATA_ERR_BARE_CR | DATA_ERR_BARE_LF, false },
	{ "NUL", "a\0b\r\n.\r\n", 8, DATA_END, 0, "a\0b\r\n", 5, DATA_ERR_NUL,
	    false },
	{ "8-bit", "caf\xc3\xa9\r\n.\r\n", 0, DATA_END, 0, "caf\xc3\xa9\r\n", 0,
	    0, true },
	{ "8-bit after dot", "..\xff\r\n.\r\n", 0, DATA_END, 0, ".\xff\r\n", 0,
	    0, true },
	{ "8-bit after end is not ours", ".\r\n\xff", 0, DATA_END, 3, "", 0, 0,
	    false },
	{ "CRLF CRLF . CRLF", "x\r\n\r\n.\r\n", 0, DATA_END, 0, "x\r\n\r\n", 0,
	    0, false },
};

static void
test_vectors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		size_t len = v->in_len ? v->in_len : strlen(v->in);
		size_t olen = v->out_len ? v->out_len : strlen(v->out);
		struct result *res = malloc(sizeof(*res));

		assert_non_null(res);
		print_message("vector: %s\n", v->name);
		check_splits(v->in, len, 0, SMTP_TEXT_LINE_MAX, res);
		assert_int_equal(res->status, v->status);
		assert_int_equal(res->consumed, v->consumed ? v->consumed : len);
		assert_int_equal(res->errors, v->errors);
		assert_int_equal(res->out_len, olen);
		assert_memory_equal(res->out, v->out, olen);
		assert_int_equal(res->size, olen);
		assert_int_equal(res->eight_bit, v->eight_bit);
		free(res);
	}
}

static void
test_size_limit(void **state)
{
	struct result *res = malloc(sizeof(*res));
	const char *in = "0123456789\r\nabc\r\n.\r\nRSET\r\n";

	(void)state;
	assert_non_null(res);
	/* Exactly fits: 12 + 5 = 17 octets. */
	check_splits(in, strlen(in), 17, 0, res);
	assert_int_equal(res->errors, 0);
	assert_int_equal(res->size, 17);
	/* One short: flagged, output stops at the limit, input read to the
	 * real end so the pipelined RSET is still the next command. */
	check_splits(in, strlen(in), 16, 0, res);
	assert_int_equal(res->status, DATA_END);
	assert_int_equal(res->errors, DATA_ERR_TOO_BIG);
	assert_int_equal(res->consumed, strlen(in) - 6);
	assert_int_equal(res->size, 17);
	assert_int_equal(res->out_len, 16);
	assert_memory_equal(res->out, "0123456789\r\nabc\r", 16);
	/* Tiny limit, with dot-stuffing past it. */
	check_splits("abc\r\n..x\r\n.\r\n", 13, 2, 0, res);
	assert_int_equal(res->errors, DATA_ERR_TOO_BIG);
	assert_int_equal(res->size, 9);
	assert_int_equal(res->out_len, 2);
	free(res);
}

static void
test_line_limit(void **state)
{
	struct result *res = malloc(sizeof(*res));
	char *in = malloc(3000);
	size_t n;

	(void)state;
	assert_non_null(res);
	assert_non_null(in);
	/* 10 octets with CRLF: fine; 11: too long. */
	check_splits("12345678\r\n.\r\n", 13, 0, 10, res);
	assert_int_equal(res->errors, 0);
	check_splits("123456789\r\n.\r\n", 14, 0, 10, res);
	assert_int_equal(res->errors, DATA_ERR_LINE_TOO_LONG);
	assert_int_equal(res->status, DATA_END);
	/* RFC 5321 4.5.3.1.6: the dot doubled for transparency does not
	 * count; the line is ".3456789" plus CRLF, 10 octets. */
	check_splits("..3456789\r\n.\r\n", 14, 0, 10, res);
	assert_int_equal(res->errors, 0);
	check_splits("..34567890\r\n.\r\n", 15, 0, 10, res);
	assert_int_equal(res->errors, DATA_ERR_LINE_TOO_LONG);
	/* A single leading dot is removed (4.5.2), so it does not count
	 * either: the line is "23456789" plus CRLF. */
	check_splits(".23456789\r\n.\r\n", 14, 0, 10, res);
	assert_int_equal(res->errors, 0);
	assert_int_equal(res->out_len, 10);
	/* A dot inside a line is text. */
	check_splits("1.3456789\r\n.\r\n", 14, 0, 10, res);
	assert_int_equal(res->errors, DATA_ERR_LINE_TOO_LONG);

	/* RFC 5321 4.5.3.1.6: 1000 octets including CRLF. */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	n = 1003;
	run(in, n, NULL, 0, 0, SMTP_TEXT_LINE_MAX, res);
	assert_int_equal(res->errors, 0);
	assert_int_equal(res->status, DATA_END);
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\n.\r\n", 5);
	n = 1004;
	run(in, n, NULL, 0, 0, SMTP_TEXT_LINE_MAX, res);
	assert_int_equal(res->errors, DATA_ERR_LINE_TOO_LONG);
	assert_int_equal(res->status, DATA_END);
	assert_int_equal(res->out_len, 1001);
	/* Many short lines never add up to a long one. */
	for (n = 0; n + 4 < 2990; n += 4)
		memcpy(in + n, "ab\r\n", 4);
	memcpy(in + n, ".\r\n", 3);
	run(in, n + 3, NULL, 0, 0, 5, res);
	assert_int_equal(res->errors, 0);
	free(in);
	free(res);
}

/*
 * One text line of n octets (CRLF not counted) as a client sends it: a
 * line that starts with a dot gets a second one (RFC 5321 4.5.2).  The
 * line is written to text, the wire form (line, then the end of data)
 * to wire; returns the wire length.
 */
static size_t
wire_line(size_t n, bool dot, char *text, char *wire)
{
	size_t w = 0;

	memset(text, dot ? 'd' : 't', n);
	if (dot) {
		text[0] = '.';
		wire[w++] = '.';
	}
	memcpy(wire + w, text, n);
	w += n;
	memcpy(wire + w, "\r\n.\r\n", 5);
	return w + 5;
}

/*
 * The boundary of 4.5.3.1.6 for lines with and without a leading dot:
 * max_line - 3, - 2 and - 1 octets of text (997, 998 and 999 for
 * SMTP_TEXT_LINE_MAX), the last one too long.  The small limit gets every
 * split; the real one every two-way split and the three-way splits near
 * the dot and the line end.
 */
static void
test_line_limit_leading_dot(void **state)
{
	static const size_t limits[] = { 10, SMTP_TEXT_LINE_MAX };
	struct result *res = malloc(sizeof(*res));
	char *text = malloc(SMTP_TEXT_LINE_MAX + 8);
	char *wire = malloc(SMTP_TEXT_LINE_MAX + 16);

	(void)state;
	assert_non_null(res);
	assert_non_null(text);
	assert_non_null(wire);
	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		size_t max = limits[l];

		for (size_t n = max - 3; n <= max - 1; n++) {
			for (int dot = 0; dot <= 1; dot++) {
				size_t len = wire_line(n, dot, text, wire);

				print_message("max_line %zu: %zu octets%s\n", max, n,
				    dot ? ", leading dot" : "");
				check_splits_near(wire, len, 0, max, max > 64 ? 8 : len,
				    res);
				assert_int_equal(res->status, DATA_END);
				assert_int_equal(res->consumed, len);
				assert_int_equal(res->errors, n + 2 > max ?
				    DATA_ERR_LINE_TOO_LONG : 0);
				/* Too long or not, the line is read whole. */
				assert_int_equal(res->out_len, n + 2);
				assert_memory_equal(res->out, text, n);
				assert_memory_equal(res->out + n, "\r\n", 2);
			}
		}
	}
	free(wire);
	free(text);
	free(res);
}

static void
test_after_end(void **state)
{
	struct data_reader r;
	struct buf out;
	size_t used = 99;

	(void)state;
	buf_init(&out, 1024);
	data_reader_init(&r, 0, 0);
	assert_int_equal(data_reader_feed(&r, ".\r\nNOOP\r\n", 9, &used, &out),
	    DATA_END);
	assert_int_equal(used, 3);
	/* A second feed after the end takes nothing. */
	assert_int_equal(data_reader_feed(&r, "NOOP\r\n", 6, &used, &out),
	    DATA_END);
	assert_int_equal(used, 0);
	assert_int_equal(out.len, 0);
	/* Re-initialised, it reads a fresh message. */
	data_reader_init(&r, 0, 0);
	assert_int_equal(data_reader_feed(&r, "x\r\n.\r\n", 6, &used, &out),
	    DATA_END);
	assert_int_equal(out.len, 3);
	assert_int_equal(r.size, 3);
	buf_free(&out);
}

static void
test_caller_drains(void **state)
{
	struct data_reader r;
	struct buf out;
	const char *in = "line one\r\n..two\r\nthree\r\n.\r\n";
	char msg[64];
	size_t mlen = 0, pos = 0, used;
	enum data_status st = DATA_MORE;

	(void)state;
	/* Output max of chunk + 2, drained after every feed. */
	buf_init(&out, 5);
	data_reader_init(&r, 0, 0);
	while (st == DATA_MORE) {
		size_t n = strlen(in) - pos < 3 ? strlen(in) - pos : 3;

		st = data_reader_feed(&r, in + pos, n, &used, &out);
		pos += used;
		memcpy(msg + mlen, out.data, out.len);
		mlen += out.len;
		buf_reset(&out);
	}
	assert_int_equal(r.errors, 0);
	assert_int_equal(pos, strlen(in));
	assert_int_equal(mlen, 23);
	assert_memory_equal(msg, "line one\r\n.two\r\nthree\r\n", 23);
	buf_free(&out);
}

static void
test_output_full_is_an_error(void **state)
{
	struct data_reader r;
	struct buf out;
	size_t used;

	(void)state;
	buf_init(&out, 4);
	data_reader_init(&r, 0, 0);
	assert_int_equal(data_reader_feed(&r, "0123456789\r\n.\r\n", 15, &used,
	    &out), DATA_END);
	assert_int_equal(used, 15);
	assert_true(r.errors & DATA_ERR_TOO_BIG);
	buf_free(&out);
}

static void
test_large_message(void **state)
{
	struct data_reader r;
	struct buf out;
	size_t i, used, total = 0;
	char chunk[8192];

	(void)state;
	/* 1 MiB of 78-octet lines, fed in odd-sized chunks. */
	for (i = 0; i < sizeof(chunk); i++)
		chunk[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'm';
	buf_init(&out, sizeof(chunk) + 2);
	data_reader_init(&r, 2 * 1024 * 1024, SMTP_TEXT_LINE_MAX);
	for (i = 0; i < 128; i++) {
		assert_int_equal(data_reader_feed(&r, chunk, 8000, &used, &out),
		    DATA_MORE);
		total += out.len;
		buf_reset(&out);
	}
	assert_int_equal(data_reader_feed(&r, "\r\n.\r\n", 5, &used, &out),
	    DATA_END);
	total += out.len;
	assert_int_equal(total, 128 * 8000 + 2);
	assert_int_equal(r.errors, 0);
	assert_false(r.eight_bit);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_line_limit),
		cmocka_unit_test(test_line_limit_leading_dot),
		cmocka_unit_test(test_after_end),
		cmocka_unit_test(test_caller_drains),
		cmocka_unit_test(test_output_full_is_an_error),
		cmocka_unit_test(test_large_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
