/*
 * Unit tests of the client side of the protocol core
 * (src/smtp/client_proto.c): the reply reader against well-formed and
 * hostile server lines, the EHLO capability parser, the one-line form of
 * a reply and its UTF-8-safe truncation, and the streaming dot-stuffer
 * split at every point; what it sends, read back by our own DATA reader,
 * keeps the line limit of RFC 5321 4.5.3.1.6 at its boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/bounds.h"
#include "common/buf.h"
#include "smtp/client_proto.h"
#include "smtp/data_reader.h"

/*
 * Feeds the lines of wire (each ending in "\n"; a "\r" before it stays
 * in the line, as the caller may leave it) and returns the last result.
 * A line after DONE or BAD is a test bug.
 */
static enum smtp_client_feed
feed(struct smtp_client_reader *rd, const char *wire)
{
	enum smtp_client_feed rc = SMTP_CLIENT_MORE;
	const char *p = wire;

	smtp_client_reader_init(rd);
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		assert_int_equal(rc, SMTP_CLIENT_MORE);
		rc = smtp_client_reader_feed(rd, p, len);
		p += len + (nl != NULL);
	}
	return rc;
}

static void
assert_reply(const char *wire, int code, const char *enhanced,
    const char *text, unsigned n_lines)
{
	struct smtp_client_reader rd;

	assert_int_equal(feed(&rd, wire), SMTP_CLIENT_DONE);
	assert_int_equal(rd.reply.code, code);
	assert_string_equal(rd.reply.enhanced, enhanced);
	assert_string_equal(rd.reply.text, text);
	assert_int_equal(rd.reply.n_lines, n_lines);
}

static void
assert_bad(const char *wire)
{
	struct smtp_client_reader rd;

	assert_int_equal(feed(&rd, wire), SMTP_CLIENT_BAD);
}

static void
test_single_line(void **state)
{
	(void)state;
	assert_reply("220 mx.example.test ESMTP ready\n", 220, "",
	    "mx.example.test ESMTP ready", 1);
	assert_reply("250 2.1.0 Sender ok\n", 250, "2.1.0", "Sender ok", 1);
	assert_reply("354 Go ahead\n", 354, "", "Go ahead", 1);
	assert_reply("250\n", 250, "", "", 1);
	assert_reply("250 \n", 250, "", "", 1);
	assert_reply("550 5.1.1\n", 550, "5.1.1", "", 1);
	assert_reply("550 5.1.1 \n", 550, "5.1.1", "", 1);
	assert_reply("599 5.999.999 max\n", 599, "5.999.999", "max", 1);
	assert_reply("200 2.0.0 min\n", 200, "2.0.0", "min", 1);
	/* Only one space goes with the separator. */
	assert_reply("250  two\n", 250, "", " two", 1);
}

static void
test_multi_line(void **state)
{
	(void)state;
	assert_reply("250-mx.example.test\n250-PIPELINING\n250 8BITMIME\n",
	    250, "", "mx.example.test\nPIPELINING\n8BITMIME", 3);
	assert_reply("550-5.7.1 Refused\n550 5.7.1 See https://x.test/\n",
	    550, "5.7.1", "Refused\nSee https://x.test/", 2);
	/* A last line that is just the code, and empty lines. */
	assert_reply("451-4.3.0 a\n451-\n451\n", 451, "4.3.0", "a\n\n", 3);
	/* Later lines without the code, or with a different one, keep it. */
	assert_reply("550-5.1.1 no\n550-such user\n550 5.7.1 policy\n",
	    550, "5.1.1", "no\nsuch user\n5.7.1 policy", 3);
	/* Repeated without text. */
	assert_reply("421-4.3.2 bye\n421 4.3.2\n", 421, "4.3.2", "bye\n", 2);
}

static void
test_enhanced(void **state)
{
	(void)state;
	/* Class differs from the code's first digit: not taken. */
	assert_reply("250 5.0.0 odd\n", 250, "", "5.0.0 odd", 1);
	assert_reply("550 2.0.0 odd\n", 550, "", "2.0.0 odd", 1);
	assert_reply("354 3.0.0 no class 3\n", 354, "", "3.0.0 no class 3", 1);
	/* Not an enhanced code: then nothing is stripped later either. */
	assert_reply("550-5.1 short\n550 5.1 short\n", 550, "",
	    "5.1 short\n5.1 short", 2);
	assert_reply("550 5.1.1x\n", 550, "", "5.1.1x", 1);
	assert_reply("550 5.1.1000 long\n", 550, "", "5.1.1000 long", 1);
	assert_reply("550 5.1000.1 long\n", 550, "", "5.1000.1 long", 1);
	assert_reply("550 5..1 empty\n", 550, "", "5..1 empty", 1);
	assert_reply("550 5.1. empty\n", 550, "", "5.1. empty", 1);
	assert_reply("550 x5.1.1\n", 550, "", "x5.1.1", 1);
	assert_reply("550 5.1.1\tx\n", 550, "", "5.1.1?x", 1);
	/* Present only on a later line: kept as text. */
	assert_reply("550-first\n550 5.1.1 second\n", 550, "",
	    "first\n5.1.1 second", 2);
	/* The ENHANCEDSTATUSCODES-less server saying "250 ok". */
	assert_reply("250 ok\n", 250, "", "ok", 1);
	/* Leading zeros and 3 digits. */
	assert_reply("452 4.05.003 x\n", 452, "4.05.003", "x", 1);
}

static void
test_bad_codes(void **state)
{
	(void)state;
	assert_bad("099 x\n");
	assert_bad("199 x\n");
	assert_bad("100\n");
	assert_bad("600 x\n");
	assert_bad("999 x\n");
	assert_bad("000 x\n");
	assert_bad("25\n");
	assert_bad("2\n");
	assert_bad("\n");
	assert_bad("abc\n");
	assert_bad("2a0 x\n");
	assert_bad("250x\n");
	assert_bad("250xok\n");
	assert_bad("250_ok\n");
	assert_bad(" 250 ok\n");
	assert_bad("250\tok\n");
	assert_bad("+250 ok\n");
	/* Codes that differ between the lines of one reply. */
	assert_bad("250-a\n251 b\n");
	assert_bad("250-a\n550 b\n");
	assert_bad("250-a\n250-b\n25\n");
	assert_bad("250-a\nxyz\n");
}

static void
test_long_line(void **state)
{
	struct smtp_client_reader rd;
	char line[SMTP_CLIENT_LINE_MAX + 2];

	(void)state;
	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	smtp_client_reader_init(&rd);
	assert_int_equal(smtp_client_reader_feed(&rd, line,
	    SMTP_CLIENT_LINE_MAX), SMTP_CLIENT_DONE);
	assert_int_equal(strlen(rd.reply.text), SMTP_CLIENT_LINE_MAX - 4);
	smtp_client_reader_init(&rd);
	assert_int_equal(smtp_client_reader_feed(&rd, line,
	    SMTP_CLIENT_LINE_MAX + 1), SMTP_CLIENT_BAD);
	/* Also in the middle of a reply. */
	smtp_client_reader_init(&rd);
	assert_int_equal(smtp_client_reader_feed(&rd, "250-a", 5),
	    SMTP_CLIENT_MORE);
	assert_int_equal(smtp_client_reader_feed(&rd, line,
	    SMTP_CLIENT_LINE_MAX + 2), SMTP_CLIENT_BAD);
	/* The reader starts over after BAD. */
	assert_int_equal(smtp_client_reader_feed(&rd, "221 bye", 7),
	    SMTP_CLIENT_DONE);
	assert_int_equal(rd.reply.code, 221);
	assert_string_equal(rd.reply.text, "bye");
}

static void
test_many_lines(void **state)
{
	struct smtp_client_reader rd;
	unsigned i;

	(void)state;
	smtp_client_reader_init(&rd);
	for (i = 1; i < SMTP_CLIENT_LINES_MAX; i++)
		assert_int_equal(smtp_client_reader_feed(&rd, "250-k", 5),
		    SMTP_CLIENT_MORE);
	assert_int_equal(smtp_client_reader_feed(&rd, "250 k", 5),
	    SMTP_CLIENT_DONE);
	assert_int_equal(rd.reply.n_lines, SMTP_CLIENT_LINES_MAX);

	smtp_client_reader_init(&rd);
	for (i = 0; i < SMTP_CLIENT_LINES_MAX; i++)
		assert_int_equal(smtp_client_reader_feed(&rd, "250-k", 5),
		    SMTP_CLIENT_MORE);
	assert_int_equal(smtp_client_reader_feed(&rd, "250 k", 5),
	    SMTP_CLIENT_BAD);
}

/* Lines that together pass SMTP_CLIENT_TEXT_MAX: cut, never a gap. */
static void
test_text_cut(void **state)
{
	struct smtp_client_reader rd;
	char line[1004], want[SMTP_CLIENT_TEXT_MAX];
	size_t wl = 0;
	unsigned i;

	(void)state;
	memset(line, 'a', sizeof(line));
	memcpy(line, "250-", 4);
	smtp_client_reader_init(&rd);
	for (i = 0; i < 4; i++) {
		assert_int_equal(smtp_client_reader_feed(&rd, line,
		    sizeof(line)), SMTP_CLIENT_MORE);
		if (i > 0)
			want[wl++] = '\n';
		memset(want + wl, 'a', 1000);
		wl += 1000;
	}
	/* 4003 octets so far; "\n" + 91 octets fit of the next line. */
	line[sizeof(line) - 1] = 'b';
	assert_int_equal(smtp_client_reader_feed(&rd, line, sizeof(line)),
	    SMTP_CLIENT_MORE);
	want[wl++] = '\n';
	memset(want + wl, 'a', SMTP_CLIENT_TEXT_MAX - 1 - wl);
	wl = SMTP_CLIENT_TEXT_MAX - 1;
	want[wl] = '\0';
	/* A short line after the cut is counted, not appended. */
	assert_int_equal(smtp_client_reader_feed(&rd, "250 z", 5),
	    SMTP_CLIENT_DONE);
	assert_int_equal(rd.reply.n_lines, 6);
	assert_int_equal(strlen(rd.reply.text), SMTP_CLIENT_TEXT_MAX - 1);
	assert_string_equal(rd.reply.text, want);

	/* A cut lands before a UTF-8 sequence that does not fit whole. */
	memcpy(line, "250-", 4);
	memset(line + 4, 'a', sizeof(line) - 4);
	smtp_client_reader_init(&rd);
	for (i = 0; i < 4; i++)
		assert_int_equal(smtp_client_reader_feed(&rd, line,
		    sizeof(line)), SMTP_CLIENT_MORE);
	/* Room for "\n" and 91 octets: put "é" (2 octets) at 90..91. */
	line[4 + 90] = (char)0xc3;
	line[4 + 91] = (char)0xa9;
	assert_int_equal(smtp_client_reader_feed(&rd, line, sizeof(line)),
	    SMTP_CLIENT_MORE);
	assert_int_equal(strlen(rd.reply.text), SMTP_CLIENT_TEXT_MAX - 2);
	assert_int_equal((unsigned char)rd.reply.text[SMTP_CLIENT_TEXT_MAX - 3],
	    'a');
	assert_int_equal(smtp_client_reader_feed(&rd, "250 z", 5),
	    SMTP_CLIENT_DONE);
	assert_int_equal(strlen(rd.reply.text), SMTP_CLIENT_TEXT_MAX - 2);
}

static void
test_control_chars(void **state)
{
	struct smtp_client_reader rd;
	static const char line[] = "550 5.7.1 a\0b\rc\td\x1b" "e\x7f" "f\xc3\xa9";

	(void)state;
	smtp_client_reader_init(&rd);
	assert_int_equal(smtp_client_reader_feed(&rd, line, sizeof(line) - 1),
	    SMTP_CLIENT_DONE);
	assert_string_equal(rd.reply.enhanced, "5.7.1");
	/* UTF-8 passes; every control character, NUL too, is '?'. */
	assert_string_equal(rd.reply.text, "a?b?c?d?e?f\xc3\xa9");
	/* A NUL inside the code is not a digit. */
	assert_int_equal(smtp_client_reader_feed(&rd, "25\0 x", 5),
	    SMTP_CLIENT_BAD);
}

static void
test_cr(void **state)
{
	(void)state;
	/* One trailing CR is the line end's; a second one is text. */
	assert_reply("250 ok\r\n", 250, "", "ok", 1);
	assert_reply("250-a\r\n250 b\r\n", 250, "", "a\nb", 2);
	assert_reply("250 ok\r\r\n", 250, "", "ok?", 1);
	assert_reply("250\r\n", 250, "", "", 1);
	assert_reply("550 5.1.1\r\n", 550, "5.1.1", "", 1);
	assert_reply("250 a\rb\r\n", 250, "", "a?b", 1);
	assert_bad("25\r\n");
	assert_bad("250\r\r\n");
}

static void
parse_caps(const char *wire, struct smtp_caps *caps)
{
	struct smtp_client_reader rd;

	assert_int_equal(feed(&rd, wire), SMTP_CLIENT_DONE);
	smtp_caps_parse(&rd.reply, caps);
}

static void
test_caps(void **state)
{
	struct smtp_caps c;

	(void)state;
	parse_caps("250-mx.example.test greets you\n250-PIPELINING\n"
	    "250-SIZE 35882577\n250-8BITMIME\n250-SMTPUTF8\n250-STARTTLS\n"
	    "250-ENHANCEDSTATUSCODES\n250-AUTH PLAIN LOGIN\n250 CHUNKING\n", &c);
	assert_true(c.pipelining);
	assert_true(c.size);
	assert_int_equal(c.size_max, 35882577);
	assert_true(c.eightbitmime);
	assert_true(c.smtputf8);
	assert_true(c.starttls);
	assert_true(c.enhancedstatuscodes);
	assert_true(c.auth_plain);
	assert_true(c.auth_login);

	/* Case-insensitive, and nothing from the greeting line. */
	parse_caps("250-PIPELINING STARTTLS SIZE 5\n250-pipelining\n"
	    "250-Size 1000\n250 starttls\n", &c);
	assert_true(c.pipelining);
	assert_true(c.starttls);
	assert_true(c.size);
	assert_int_equal(c.size_max, 1000);
	assert_false(c.eightbitmime);
	assert_false(c.auth_plain);

	/* A greeting alone announces nothing. */
	parse_caps("250 mx.example.test PIPELINING\n", &c);
	assert_false(c.pipelining);
	assert_false(c.size);

	/* Unknown keywords, and near misses of known ones. */
	parse_caps("250-mx\n250-X-EXPS GSSAPI\n250-PIPELININGX\n250-SIZEX 10\n"
	    "250-8BITMIM\n250-DSN\n250-STARTTLS=1\n250 XAUTH PLAIN\n", &c);
	assert_false(c.pipelining);
	assert_false(c.size);
	assert_false(c.eightbitmime);
	assert_false(c.starttls);
	assert_false(c.auth_plain);

	/* Not a 250 reply: nothing. */
	parse_caps("550-mx\n550 PIPELINING\n", &c);
	assert_false(c.pipelining);
}

static void
test_caps_size(void **state)
{
	static const struct {
		const char *line;
		uint64_t max;
	} cases[] = {
		{ "SIZE", 0 },
		{ "SIZE ", 0 },
		{ "SIZE 0", 0 },
		{ "SIZE 1", 1 },
		{ "SIZE   52428800  ", 52428800 },
		{ "SIZE 18446744073709551615", UINT64_MAX },
		{ "SIZE 18446744073709551616", 0 },
		{ "SIZE 99999999999999999999", 0 },
		{ "SIZE 000000000000000000001", 0 },	/* 21 digits */
		{ "SIZE 00000000000000000001", 1 },	/* 20 digits */
		{ "SIZE -1", 0 },
		{ "SIZE +5", 0 },
		{ "SIZE 10M", 0 },
		{ "SIZE 10 20", 0 },
		{ "SIZE 0x10", 0 },
		{ "size 77", 77 },
	};
	char wire[128];
	struct smtp_caps c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(wire, sizeof(wire), "250-mx\n250 %s\n", cases[i].line);
		parse_caps(wire, &c);
		assert_true(c.size);
		assert_true(c.size_max == cases[i].max);
	}
}

static void
test_caps_auth(void **state)
{
	struct smtp_caps c;

	(void)state;
	parse_caps("250-mx\n250 AUTH PLAIN\n", &c);
	assert_true(c.auth_plain);
	assert_false(c.auth_login);
	parse_caps("250-mx\n250 AUTH CRAM-MD5 login  XOAUTH2\n", &c);
	assert_false(c.auth_plain);
	assert_true(c.auth_login);
	parse_caps("250-mx\n250 AUTH\n", &c);
	assert_false(c.auth_plain);
	assert_false(c.auth_login);
	/* The old "AUTH=" form. */
	parse_caps("250-mx\n250-AUTH=LOGIN PLAIN\n250 8BITMIME\n", &c);
	assert_true(c.auth_plain);
	assert_true(c.auth_login);
	assert_true(c.eightbitmime);
	/* Mechanism names are whole words. */
	parse_caps("250-mx\n250 AUTH PLAINX XLOGIN PLAI\n", &c);
	assert_false(c.auth_plain);
	assert_false(c.auth_login);
	/* Several AUTH lines add up. */
	parse_caps("250-mx\n250-AUTH LOGIN\n250 AUTH PLAIN\n", &c);
	assert_true(c.auth_plain);
	assert_true(c.auth_login);
}

static void
assert_line(const char *wire, const char *want)
{
	struct smtp_client_reader rd;
	char out[256];

	assert_int_equal(feed(&rd, wire), SMTP_CLIENT_DONE);
	smtp_client_reply_line(&rd.reply, out, sizeof(out));
	assert_string_equal(out, want);
}

static void
test_reply_line(void **state)
{
	(void)state;
	assert_line("550 5.1.1 No such user\n", "550 5.1.1 No such user");
	assert_line("550-5.1.1 No such\n550 5.1.1 user\n",
	    "550 5.1.1 No such user");
	assert_line("421 busy\n", "421 busy");
	assert_line("250\n", "250");
	assert_line("550 5.1.1\n", "550 5.1.1");
	assert_line("250-mx\n250-PIPELINING\n250 SIZE 10\n",
	    "250 mx PIPELINING SIZE 10");
}

/* Is s[0..len) valid UTF-8 (no sequence cut short)? */
static bool
utf8_whole(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 :
		    c >= 0xc0 ? 2 : 0;
		size_t k;

		if (n == 0 || i + n > len)
			return false;
		for (k = 1; k < n; k++)
			if (((unsigned char)s[i + k] & 0xc0) != 0x80)
				return false;
		i += n;
	}
	return true;
}

/*
 * Every out size from 0 to past the whole line: a prefix of the whole
 * line, as long as it can be without cutting a sequence (so at most 3
 * octets short of outlen - 1), valid UTF-8, NUL-terminated.
 */
static void
test_reply_line_utf8(void **state)
{
	static const char *const texts[] = {
		"550 5.1.1 a\xc3\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80" "d\n",
		"550-\xf0\x9f\x98\x80\n550 \xc3\xa9\xe2\x82\xac\n",
		"250 \xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\n",
	};
	struct smtp_client_reader rd;
	char whole[256], out[256 + 8];
	size_t t, outlen, wl, ol;

	(void)state;
	for (t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		assert_int_equal(feed(&rd, texts[t]), SMTP_CLIENT_DONE);
		smtp_client_reply_line(&rd.reply, whole, sizeof(whole));
		wl = strlen(whole);
		assert_true(utf8_whole(whole, wl));
		for (outlen = 0; outlen <= wl + 3; outlen++) {
			memset(out, 'Z', sizeof(out));
			smtp_client_reply_line(&rd.reply, out, outlen);
			/* Nothing written past outlen. */
			assert_int_equal(out[outlen], 'Z');
			if (outlen == 0)
				continue;
			ol = strlen(out);
			assert_true(ol <= outlen - 1);
			assert_true(ol + 3 >= (outlen - 1 < wl ? outlen - 1 : wl));
			if (outlen - 1 >= wl)
				assert_int_equal(ol, wl);
			assert_memory_equal(out, whole, ol);
			assert_true(utf8_whole(out, ol));
		}
	}
	/* Exactly: "250 é" in 6 octets is "250 " (the é needs 2). */
	assert_int_equal(feed(&rd, "250 \xc3\xa9\n"), SMTP_CLIENT_DONE);
	smtp_client_reply_line(&rd.reply, out, 6);
	assert_string_equal(out, "250 ");
	smtp_client_reply_line(&rd.reply, out, 7);
	assert_string_equal(out, "250 \xc3\xa9");
}

/* The reference: the whole input in one call, then the end marker. */
static size_t
stuff_once(const char *in, size_t len, char *out)
{
	struct smtp_dot_stuffer ds;
	size_t n;

	smtp_dot_stuffer_init(&ds);
	n = smtp_dot_stuff(&ds, in, len, out);
	return n + smtp_dot_end(&ds, out + n);
}

static void
assert_stuffed(const char *in, const char *want)
{
	char out[256];
	size_t n = stuff_once(in, strlen(in), out);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
}

static void
test_dot_stuff(void **state)
{
	(void)state;
	assert_stuffed("", ".\r\n");
	assert_stuffed("a\r\n", "a\r\n.\r\n");
	assert_stuffed("a", "a\r\n.\r\n");
	assert_stuffed(".", "..\r\n.\r\n");
	assert_stuffed(".\r\n", "..\r\n.\r\n");
	assert_stuffed(".\r\n..x\r\n.\r\n", "..\r\n...x\r\n..\r\n.\r\n");
	assert_stuffed("a.b\r\n.c", "a.b\r\n..c\r\n.\r\n");
	assert_stuffed("a\r\n\r\n.", "a\r\n\r\n..\r\n.\r\n");
	/* Bare CR and LF: the dot after them is doubled too. */
	assert_stuffed("a\n.\n", "a\n..\n\r\n.\r\n");
	assert_stuffed("a\r.\r", "a\r..\r\r\n.\r\n");
	assert_stuffed("\n.\r\n", "\n..\r\n.\r\n");
	/* The data ends with a bare CR or LF: the last line is closed. */
	assert_stuffed("a\r", "a\r\r\n.\r\n");
	assert_stuffed("a\n", "a\n\r\n.\r\n");
	assert_stuffed("a\n\r\n", "a\n\r\n.\r\n");
	/* A NUL is just an octet. */
	{
		char out[16];
		size_t n = stuff_once("\0.\r\n.", 5, out);

		assert_int_equal(n, 11);
		assert_memory_equal(out, "\0.\r\n..\r\n.\r\n", 11);
	}
}

/*
 * Split the input at every pair of points (three calls, some empty): the
 * output and end marker are always those of the one-shot reference.
 */
static void
test_dot_stuff_splits(void **state)
{
	static const char *const inputs[] = {
		".\r\n..x\r\n.\r\n",
		"\r\n.\r\n.",
		"a\r\n.\r\n\r\n..\r\n",
		"..\r\r\n\n.\r.\n.",
		"x\r",
		"x\r\n",
		"",
	};
	char ref[64], out[64];
	size_t t, i, j, len, rn, n;

	(void)state;
	for (t = 0; t < sizeof(inputs) / sizeof(inputs[0]); t++) {
		const char *in = inputs[t];

		len = strlen(in);
		rn = stuff_once(in, len, ref);
		for (i = 0; i <= len; i++) {
			for (j = i; j <= len; j++) {
				struct smtp_dot_stuffer ds;

				smtp_dot_stuffer_init(&ds);
				n = smtp_dot_stuff(&ds, in, i, out);
				assert_true(n <= 2 * i);
				n += smtp_dot_stuff(&ds, in + i, j - i, out + n);
				n += smtp_dot_stuff(&ds, in + j, len - j,
				    out + n);
				n += smtp_dot_end(&ds, out + n);
				assert_int_equal(n, rn);
				assert_memory_equal(out, ref, n);
			}
		}
	}
}

/* Only dots: the worst case needs exactly 2 * len. */
static void
test_dot_stuff_room(void **state)
{
	char in[8], out[16];
	struct smtp_dot_stuffer ds;
	size_t n;

	(void)state;
	memcpy(in, ".\n.\n.\n.\n", 8);
	smtp_dot_stuffer_init(&ds);
	n = smtp_dot_stuff(&ds, in, 8, out);
	assert_int_equal(n, 12);
	memcpy(in, ".\r.\r.\r.\r", 8);
	smtp_dot_stuffer_init(&ds);
	n = smtp_dot_stuff(&ds, in, 8, out);
	assert_int_equal(n, 12);
	smtp_dot_stuffer_init(&ds);
	n = smtp_dot_stuff(&ds, ".", 1, out);
	assert_int_equal(n, 2);
}

/*
 * A line of 997, 998 or 999 octets (plus CRLF), starting with a dot or
 * not, stuffed by our client and read by our server's DATA reader: the
 * same line comes back, refused only at 999.  A line that starts with a
 * dot is one octet longer on the wire, and must not count as such
 * (4.5.3.1.6), or Decorum could not relay a legitimate message to itself.
 */
static void
test_dot_stuff_line_limit(void **state)
{
	char *line = malloc(SMTP_TEXT_LINE_MAX + 2);
	char *wire = malloc(2 * (SMTP_TEXT_LINE_MAX + 2) + 5);
	struct buf back;

	(void)state;
	assert_non_null(line);
	assert_non_null(wire);
	for (size_t n = SMTP_TEXT_LINE_MAX - 3; n < SMTP_TEXT_LINE_MAX; n++) {
		for (int dot = 0; dot <= 1; dot++) {
			struct data_reader dr;
			size_t wlen, used = 0;

			memset(line, 'q', n);
			if (dot)
				line[0] = '.';
			memcpy(line + n, "\r\n", 2);
			wlen = stuff_once(line, n + 2, wire);
			assert_int_equal(wlen, n + 2 + (dot ? 1 : 0) + 3);
			buf_init(&back, wlen);
			data_reader_init(&dr, 0, SMTP_TEXT_LINE_MAX);
			assert_int_equal(data_reader_feed(&dr, wire, wlen, &used,
			    &back), DATA_END);
			assert_int_equal(used, wlen);
			assert_int_equal(dr.errors, n + 2 > SMTP_TEXT_LINE_MAX ?
			    DATA_ERR_LINE_TOO_LONG : 0);
			assert_int_equal(back.len, n + 2);
			assert_memory_equal(back.data, line, n + 2);
			buf_free(&back);
		}
	}
	free(wire);
	free(line);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multi_line),
		cmocka_unit_test(test_enhanced),
		cmocka_unit_test(test_bad_codes),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_many_lines),
		cmocka_unit_test(test_text_cut),
		cmocka_unit_test(test_control_chars),
		cmocka_unit_test(test_cr),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_caps_size),
		cmocka_unit_test(test_caps_auth),
		cmocka_unit_test(test_reply_line),
		cmocka_unit_test(test_reply_line_utf8),
		cmocka_unit_test(test_dot_stuff),
		cmocka_unit_test(test_dot_stuff_splits),
		cmocka_unit_test(test_dot_stuff_room),
		cmocka_unit_test(test_dot_stuff_line_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
