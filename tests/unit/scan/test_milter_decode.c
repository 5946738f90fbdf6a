/*
 * Unit tests for src/scan/milter_decode.c: every reply type, every field
 * limit on both sides, malformed packets, and a stream of replies split
 * at every position (and fed octet by octet) giving the same replies.
 */
#include "scan_fixture.h"

#include <stdio.h>

static struct milter_decoder *d;
static struct milter_reply r;

static int
setup(void **state)
{
	(void)state;
	d = fx_decoder();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(d);
	return 0;
}

/* Decodes a packet whose data is the C string s with its NUL. */
static enum milter_error
dec_str(char cmd, const char *s)
{
	return fx_decode1(d, cmd, s, strlen(s) + 1, &r);
}

static void
test_simple_replies(void **state)
{
	static const char simple[] = { 'a', 'c', 'r', 't', 'd', 's', 'p' };

	(void)state;
	for (size_t i = 0; i < sizeof(simple); i++) {
		assert_int_equal(fx_decode1(d, simple[i], NULL, 0, &r), MILTER_OK);
		assert_int_equal(r.type, simple[i]);
		/* They carry no data. */
		assert_int_equal(fx_decode1(d, simple[i], "x", 1, &r),
		    MILTER_ETRAILING);
	}
	assert_int_equal(fx_decode1(d, 'Z', NULL, 0, &r), MILTER_EUNKNOWN);
	assert_int_equal(fx_decode1(d, '4', NULL, 0, &r), MILTER_EUNKNOWN);
}

static void
test_optneg(void **state)
{
	/* rspamd 3.4 and clamav-milter 1.4.6, as seen on the wire. */
	static const uint8_t rspamd[] = { 0, 0, 0, 6, 0, 0, 1, 0xff,
		0, 0x0f, 0xf0, 0x80 };
	static const uint8_t syms[] = { 0, 0, 0, 6, 0, 0, 0, 0x31,
		0, 0, 3, 0x42,
		0, 0, 0, 2, '{', 'm', 'a', 'i', 'l', '_', 'a', 'd', 'd', 'r',
		'}', ' ', 'i', 0,
		0, 0, 0, 9, 'x', 0,		/* unknown stage: ignored */
		0, 0, 0, 5, 0 };		/* EOM: an empty list */

	(void)state;
	assert_int_equal(fx_decode1(d, 'O', rspamd, sizeof(rspamd), &r),
	    MILTER_OK);
	assert_int_equal(r.type, MILTER_R_OPTNEG);
	assert_int_equal(r.version, 6);
	assert_int_equal(r.actions, 0x1ff);
	assert_int_equal(r.proto, 0xff080);
	for (size_t i = 0; i < MILTER_STAGE_COUNT; i++)
		assert_null(r.symlist[i]);
	assert_int_equal(fx_decode1(d, 'O', syms, sizeof(syms), &r), MILTER_OK);
	assert_int_equal(r.proto, 0x342);
	assert_string_equal(r.symlist[MILTER_STAGE_MAIL], "{mail_addr} i");
	assert_string_equal(r.symlist[MILTER_STAGE_EOM], "");
	assert_null(r.symlist[MILTER_STAGE_CONNECT]);
	/* One octet short of the three words; a list without its NUL. */
	assert_int_equal(fx_decode1(d, 'O', rspamd, 11, &r), MILTER_ESHORT);
	assert_int_equal(fx_decode1(d, 'O', syms, 29, &r), MILTER_ESHORT);
	assert_int_equal(fx_decode1(d, 'O', syms, 14, &r), MILTER_ESHORT);
}

static void
test_symlist_limit(void **state)
{
	uint8_t pkt[4 + MILTER_SYMLIST_MAX + 2] = { 0, 0, 0, 3 };

	(void)state;
	memset(pkt + 4, 'm', MILTER_SYMLIST_MAX);
	pkt[4 + MILTER_SYMLIST_MAX] = '\0';
	assert_int_equal(fx_decode1(d, 'l', pkt, 4 + MILTER_SYMLIST_MAX + 1,
	    &r), MILTER_OK);
	assert_int_equal(r.stage, MILTER_STAGE_RCPT);
	assert_int_equal(strlen(r.symlist[MILTER_STAGE_RCPT]),
	    MILTER_SYMLIST_MAX);
	pkt[4 + MILTER_SYMLIST_MAX] = 'm';
	pkt[4 + MILTER_SYMLIST_MAX + 1] = '\0';
	assert_int_equal(fx_decode1(d, 'l', pkt, sizeof(pkt), &r), MILTER_ETEXT);
	/* A stage that does not exist, and a control octet. */
	assert_int_equal(fx_decode1(d, 'l', "\0\0\0\7i", 6, &r), MILTER_ESTAGE);
	assert_int_equal(fx_decode1(d, 'l', "\0\0\0\1\ti", 7, &r), MILTER_ETEXT);
	assert_int_equal(fx_decode1(d, 'l', "\0\0\0", 3, &r), MILTER_ESHORT);
}

static void
test_replycode(void **state)
{
	(void)state;
	assert_int_equal(dec_str('y', "554 5.7.1 Gtube pattern"), MILTER_OK);
	assert_int_equal(r.type, MILTER_R_REPLYCODE);
	assert_int_equal(r.reply.code, 554);
	assert_string_equal(r.reply.enhanced, "5.7.1");
	assert_string_equal(r.reply.text, "Gtube pattern");
	/* smfi_setmlreply's form, with a bare "\n" tolerated too. */
	assert_int_equal(dec_str('y', "550-5.7.1 Virus found\r\n"
	    "550-5.7.1 see the log\n550 5.7.1 bye"), MILTER_OK);
	assert_int_equal(r.reply.code, 550);
	assert_int_equal(r.reply.n_lines, 3);
	assert_string_equal(r.reply.text, "Virus found\nsee the log\nbye");
	assert_int_equal(dec_str('y', "451 4.7.1 try later"), MILTER_OK);
	assert_int_equal(r.reply.code, 451);
	assert_int_equal(dec_str('y', "421"), MILTER_OK);
	/* Controls in the text become '?', never reach the client. */
	assert_int_equal(dec_str('y', "550 5.7.1 a\x01" "b\x7f" "c"), MILTER_OK);
	assert_string_equal(r.reply.text, "a?b?c");
	/* Not a refusal, not a reply, lines that disagree or never end. */
	assert_int_equal(dec_str('y', "250 2.0.0 ok"), MILTER_EREPLY);
	assert_int_equal(dec_str('y', "399 x"), MILTER_EREPLY);
	assert_int_equal(dec_str('y', "400 x"), MILTER_OK);
	assert_int_equal(dec_str('y', "599 x"), MILTER_OK);
	assert_int_equal(dec_str('y', "600 x"), MILTER_EREPLY);
	assert_int_equal(dec_str('y', "55 x"), MILTER_EREPLY);
	assert_int_equal(dec_str('y', "5x0 x"), MILTER_EREPLY);
	assert_int_equal(dec_str('y', "550x"), MILTER_EREPLY);
	assert_int_equal(dec_str('y', ""), MILTER_EREPLY);
	assert_int_equal(dec_str('y', "550-a\r\n451 b"), MILTER_EREPLY);
	assert_int_equal(dec_str('y', "550-a\r\n550-b"), MILTER_EREPLY);
	assert_int_equal(dec_str('y', "550 a\r\n550 b"), MILTER_EREPLY);
	assert_int_equal(dec_str('y', "550 a\r\n"), MILTER_EREPLY);
	assert_int_equal(fx_decode1(d, 'y', "550 a", 5, &r), MILTER_ESHORT);
	assert_int_equal(fx_decode1(d, 'y', "550 a\0x", 7, &r),
	    MILTER_ETRAILING);
}

static void
test_headers(void **state)
{
	(void)state;
	assert_int_equal(fx_decode1(d, 'h', "X-Spam\0Yes", 11, &r), MILTER_OK);
	assert_int_equal(r.type, MILTER_R_ADDHEADER);
	assert_string_equal(r.name, "X-Spam");
	assert_string_equal(r.value, "Yes");
	/* Folds as libmilter filters write them, normalised to "\n". */
	assert_int_equal(fx_decode1(d, 'h', "A\0x;\r\n\ty;\n z", 13, &r),
	    MILTER_OK);
	assert_string_equal(r.value, "x;\n\ty;\n z");
	/* An empty value (CHGHEADER deletes with it); 8-bit is kept. */
	assert_int_equal(fx_decode1(d, 'm', "\0\0\0\1Subject\0", 13, &r),
	    MILTER_OK);
	assert_int_equal(r.type, MILTER_R_CHGHEADER);
	assert_int_equal(r.index, 1);
	assert_string_equal(r.name, "Subject");
	assert_string_equal(r.value, "");
	assert_int_equal(fx_decode1(d, 'i', "\0\0\1\0X\0\xc3\xa9", 9, &r),
	    MILTER_OK);
	assert_int_equal(r.type, MILTER_R_INSHEADER);
	assert_int_equal(r.index, 256);
	assert_string_equal(r.value, "\xc3\xa9");
	/* Forged fields, bare CR, a fold that ends the value, controls. */
	assert_int_equal(fx_decode1(d, 'h', "A\0x\r\nB: y", 10, &r),
	    MILTER_EHDRVALUE);
	assert_int_equal(fx_decode1(d, 'h', "A\0x\ny", 6, &r), MILTER_EHDRVALUE);
	assert_int_equal(fx_decode1(d, 'h', "A\0x\ry", 6, &r), MILTER_EHDRVALUE);
	assert_int_equal(fx_decode1(d, 'h', "A\0x\r\n", 6, &r),
	    MILTER_EHDRVALUE);
	assert_int_equal(fx_decode1(d, 'h', "A\0x\r", 5, &r), MILTER_EHDRVALUE);
	assert_int_equal(fx_decode1(d, 'h', "A\0x\x01", 5, &r),
	    MILTER_EHDRVALUE);
	assert_int_equal(fx_decode1(d, 'h', "A\0x\x7f", 5, &r),
	    MILTER_EHDRVALUE);
	/* Names: RFC 5322 ftext only. */
	assert_int_equal(fx_decode1(d, 'h', "A:\0x", 5, &r), MILTER_EHDRNAME);
	assert_int_equal(fx_decode1(d, 'h', "A B\0x", 6, &r), MILTER_EHDRNAME);
	assert_int_equal(fx_decode1(d, 'h', "\0x", 3, &r), MILTER_EHDRNAME);
	assert_int_equal(fx_decode1(d, 'h', "\xc3\xa9\0x", 5, &r),
	    MILTER_EHDRNAME);
	/* Missing fields. */
	assert_int_equal(fx_decode1(d, 'h', "A\0x", 3, &r), MILTER_ESHORT);
	assert_int_equal(fx_decode1(d, 'h', "A", 1, &r), MILTER_ESHORT);
	assert_int_equal(fx_decode1(d, 'm', "\0\0\0", 3, &r), MILTER_ESHORT);
	assert_int_equal(fx_decode1(d, 'i', "\0\0\0\0A\0x\0z", 9, &r),
	    MILTER_ETRAILING);
}

static void
test_header_limits(void **state)
{
	size_t n = MILTER_HEADER_NAME_MAX + 1 + MILTER_HEADER_VALUE_MAX + 2;
	char *p = malloc(n + 2);

	(void)state;
	assert_non_null(p);
	memset(p, 'N', MILTER_HEADER_NAME_MAX);
	p[MILTER_HEADER_NAME_MAX] = '\0';
	memset(p + MILTER_HEADER_NAME_MAX + 1, 'v', MILTER_HEADER_VALUE_MAX);
	p[MILTER_HEADER_NAME_MAX + 1 + MILTER_HEADER_VALUE_MAX] = '\0';
	assert_int_equal(fx_decode1(d, 'h', p, n - 1, &r), MILTER_OK);
	assert_int_equal(strlen(r.name), MILTER_HEADER_NAME_MAX);
	assert_int_equal(strlen(r.value), MILTER_HEADER_VALUE_MAX);
	/* One more octet of value. */
	p[MILTER_HEADER_NAME_MAX + 1 + MILTER_HEADER_VALUE_MAX] = 'v';
	p[n - 1] = '\0';
	assert_int_equal(fx_decode1(d, 'h', p, n, &r), MILTER_EHDRVALUE);
	/* One more octet of name. */
	memset(p, 'N', MILTER_HEADER_NAME_MAX + 1);
	p[MILTER_HEADER_NAME_MAX + 1] = '\0';
	memcpy(p + MILTER_HEADER_NAME_MAX + 2, "v", 2);
	assert_int_equal(fx_decode1(d, 'h', p, MILTER_HEADER_NAME_MAX + 4, &r),
	    MILTER_EHDRNAME);
	free(p);
}

static void
test_body(void **state)
{
	uint8_t *big = calloc(1, MILTER_DATA_MAX + 1);

	(void)state;
	assert_non_null(big);
	assert_int_equal(fx_decode1(d, 'b', "new\r\nbody\0\r\n", 12, &r),
	    MILTER_OK);
	assert_int_equal(r.type, MILTER_R_REPLBODY);
	assert_int_equal(r.len, 12);
	assert_memory_equal(r.data, "new\r\nbody\0\r\n", 12);
	assert_int_equal(fx_decode1(d, 'b', NULL, 0, &r), MILTER_OK);
	assert_int_equal(r.len, 0);
	/* The largest packet there is, and one octet more. */
	assert_int_equal(fx_decode1(d, 'b', big, MILTER_DATA_MAX, &r),
	    MILTER_OK);
	assert_int_equal(r.len, MILTER_DATA_MAX);
	assert_int_equal(fx_decode1(d, 'b', big, MILTER_DATA_MAX + 1, &r),
	    MILTER_ELENGTH);
	free(big);
}

static void
test_recipients(void **state)
{
	char path[SMTP_PATH_MAX + 2];

	(void)state;
	assert_int_equal(dec_str('+', "<bob@example.net>"), MILTER_OK);
	assert_int_equal(r.type, MILTER_R_ADDRCPT);
	assert_string_equal(r.path.addr, "bob@example.net");
	assert_int_equal(dec_str('+', "bob@example.net"), MILTER_OK);
	assert_string_equal(r.path.addr, "bob@example.net");
	assert_int_equal(dec_str('-', "<carol@example.net>"), MILTER_OK);
	assert_int_equal(r.type, MILTER_R_DELRCPT);
	assert_string_equal(r.path.addr, "carol@example.net");
	assert_int_equal(dec_str('+', "<>"), MILTER_EADDRESS);
	assert_int_equal(dec_str('+', ""), MILTER_EADDRESS);
	assert_int_equal(dec_str('+', "<a@b.example> NOTIFY=NEVER"),
	    MILTER_EADDRESS);
	assert_int_equal(dec_str('+', "<a@@b>"), MILTER_EADDRESS);
	assert_int_equal(dec_str('-', "a\r\n@b.example"), MILTER_EADDRESS);
	assert_int_equal(fx_decode1(d, '+', "<a@b.example>", 13, &r),
	    MILTER_ESHORT);
	/* A path of SMTP_PATH_MAX octets with its brackets, and one more. */
	path[0] = '<';
	memset(path + 1, 'd', SMTP_PATH_MAX - 2);
	memcpy(path + 1, "a@", 2);
	for (size_t i = 64; i < SMTP_PATH_MAX - 2; i += 64)
		path[i] = '.';
	path[SMTP_PATH_MAX - 1] = '>';
	path[SMTP_PATH_MAX] = '\0';
	assert_int_equal(dec_str('+', path), MILTER_OK);
	memmove(path + 2, path + 1, SMTP_PATH_MAX);
	path[1] = 'x';
	assert_int_equal(dec_str('+', path), MILTER_EADDRESS);
	/* With ESMTP args, or none. */
	assert_int_equal(fx_decode1(d, '2', "<a@b.example>\0NOTIFY=NEVER", 27,
	    &r), MILTER_OK);
	assert_int_equal(r.type, MILTER_R_ADDRCPT_PAR);
	assert_string_equal(r.path.addr, "a@b.example");
	assert_string_equal(r.args, "NOTIFY=NEVER");
	assert_int_equal(fx_decode1(d, '2', "<a@b.example>", 14, &r), MILTER_OK);
	assert_string_equal(r.args, "");
	assert_int_equal(fx_decode1(d, '2', "<a@b.example>\0X=\x01", 18, &r),
	    MILTER_EARGS);
	assert_int_equal(fx_decode1(d, '2', "<a@b.example>\0X", 15, &r),
	    MILTER_ESHORT);
}

static void
test_args_limit(void **state)
{
	char p[16 + MILTER_ARGS_MAX + 2] = "<a@b.example>";
	size_t at = 14;

	(void)state;
	memset(p + at, 'A', MILTER_ARGS_MAX);
	p[at + MILTER_ARGS_MAX] = '\0';
	assert_int_equal(fx_decode1(d, 'e', p, at + MILTER_ARGS_MAX + 1, &r),
	    MILTER_OK);
	assert_int_equal(strlen(r.args), MILTER_ARGS_MAX);
	p[at + MILTER_ARGS_MAX] = 'A';
	p[at + MILTER_ARGS_MAX + 1] = '\0';
	assert_int_equal(fx_decode1(d, 'e', p, at + MILTER_ARGS_MAX + 2, &r),
	    MILTER_EARGS);
}

static void
test_chgfrom(void **state)
{
	(void)state;
	assert_int_equal(dec_str('e', "<>"), MILTER_OK);
	assert_int_equal(r.type, MILTER_R_CHGFROM);
	assert_true(r.path.null);
	assert_int_equal(fx_decode1(d, 'e', "<a@b.example>\0SIZE=1", 21, &r),
	    MILTER_OK);
	assert_false(r.path.null);
	assert_string_equal(r.path.addr, "a@b.example");
	assert_string_equal(r.args, "SIZE=1");
	assert_int_equal(dec_str('e', "<a b@c>"), MILTER_EADDRESS);
	assert_int_equal(dec_str('e', "a b@c.example"), MILTER_EADDRESS);
	/* A quoted local part may hold a space. */
	assert_int_equal(dec_str('e', "<\"a b\"@c.example>"), MILTER_OK);
	assert_string_equal(r.path.local, "\"a b\"");
}

static void
test_quarantine(void **state)
{
	char p[MILTER_REASON_MAX + 2];

	(void)state;
	assert_int_equal(dec_str('q', "virus\tfound\x1b[0m"), MILTER_OK);
	assert_int_equal(r.type, MILTER_R_QUARANTINE);
	assert_string_equal(r.reason, "virus?found?[0m");
	memset(p, 'r', MILTER_REASON_MAX);
	p[MILTER_REASON_MAX] = '\0';
	assert_int_equal(dec_str('q', p), MILTER_OK);
	p[MILTER_REASON_MAX] = 'r';
	p[MILTER_REASON_MAX + 1] = '\0';
	assert_int_equal(dec_str('q', p), MILTER_ETEXT);
	assert_int_equal(fx_decode1(d, 'q', "r", 1, &r), MILTER_ESHORT);
}

static void
test_length_errors(void **state)
{
	static const uint8_t zero[] = { 0, 0, 0, 0 };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 'b' };
	static const uint8_t over[] = { 0, 1, 0, 1, 'b' };
	static const uint8_t ok[] = { 0, 0, 0, 1, 'a' };
	enum milter_error err;
	size_t used;

	(void)state;
	milter_decoder_init(d);
	assert_int_equal(milter_decode(d, zero, 4, &used, &r, &err),
	    MILTER_DEC_ERROR);
	assert_int_equal(err, MILTER_ELENGTH);
	/* Once broken, always broken: the stream has lost its framing. */
	assert_int_equal(milter_decode(d, ok, 5, &used, &r, &err),
	    MILTER_DEC_ERROR);
	assert_int_equal(err, MILTER_ELENGTH);
	milter_decoder_init(d);
	assert_int_equal(milter_decode(d, huge, 5, &used, &r, &err),
	    MILTER_DEC_ERROR);
	assert_int_equal(used, 4);	/* refused before any data is kept */
	milter_decoder_init(d);
	assert_int_equal(milter_decode(d, over, 5, &used, &r, &err),
	    MILTER_DEC_ERROR);
	assert_int_equal(err, MILTER_ELENGTH);
	/* Nothing fed: nothing happens. */
	milter_decoder_init(d);
	assert_int_equal(milter_decode(d, ok, 0, &used, &r, &err),
	    MILTER_DEC_MORE);
	assert_int_equal(used, 0);
	assert_string_equal(milter_strerror(MILTER_ELENGTH),
	    "packet length is 0 or over the limit");
}

/* A stream of several replies, as a milter answers end of body. */
static size_t
make_stream(uint8_t *s)
{
	static const uint8_t optneg[] = { 0, 0, 0, 6, 0, 0, 0, 0x31,
		0, 0, 3, 0x42, 0, 0, 0, 2, 'i', 0 };
	size_t n = 0;

	n += fx_packet(s + n, 'O', optneg, sizeof(optneg));
	n += fx_packet(s + n, 'p', NULL, 0);
	n += fx_packet(s + n, 'h', "X-Virus-Scanned\0clamav", 23);
	n += fx_packet(s + n, 'b', "x\r\n", 3);
	n += fx_packet(s + n, 'y', "550 5.7.1 Virus found", 22);
	n += fx_packet(s + n, 'a', NULL, 0);
	return n;
}

/* Decodes s in pieces cut at the given points; a summary of what came
 * out, one letter per reply with its main field. */
static void
run_split(const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts,
    char *out, size_t outlen)
{
	enum milter_error err;
	size_t from = 0, used, o = 0;

	milter_decoder_init(d);
	out[0] = '\0';
	for (size_t c = 0; c <= ncuts; c++) {
		size_t to = c < ncuts ? cuts[c] : n;

		while (from < to) {
			enum milter_dec st = milter_decode(d, s + from, to - from,
			    &used, &r, &err);

			assert_int_not_equal(st, MILTER_DEC_ERROR);
			assert_true(used <= to - from);
			from += used;
			if (st == MILTER_DEC_MORE) {
				assert_int_equal(from, to);
				continue;
			}
			o += (size_t)snprintf(out + o, outlen - o, "%c", r.type);
			if (r.type == 'O')
				o += (size_t)snprintf(out + o, outlen - o,
				    "%x/%s", r.proto, r.symlist[2]);
			if (r.type == 'h')
				o += (size_t)snprintf(out + o, outlen - o, "%s=%s",
				    r.name, r.value);
			if (r.type == 'b')
				o += (size_t)snprintf(out + o, outlen - o, "%zu",
				    r.len);
			if (r.type == 'y')
				o += (size_t)snprintf(out + o, outlen - o, "%d",
				    r.reply.code);
		}
	}
}

static void
test_splits(void **state)
{
	static const char want[] =
	    "O342/iphX-Virus-Scanned=clamavb3y550a";
	uint8_t s[256];
	char got[256];
	size_t n = make_stream(s), cuts[2];

	(void)state;
	run_split(s, n, NULL, 0, got, sizeof(got));
	assert_string_equal(got, want);
	/* Every single cut, then every pair of cuts. */
	for (size_t i = 0; i <= n; i++) {
		cuts[0] = i;
		run_split(s, n, cuts, 1, got, sizeof(got));
		assert_string_equal(got, want);
		for (size_t j = i; j <= n; j += 3) {
			cuts[1] = j;
			run_split(s, n, cuts, 2, got, sizeof(got));
			assert_string_equal(got, want);
		}
	}
	/* Octet by octet. */
	{
		size_t one[256];

		for (size_t i = 0; i < n; i++)
			one[i] = i + 1;
		run_split(s, n, one, n, got, sizeof(got));
		assert_string_equal(got, want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_replies),
		cmocka_unit_test(test_optneg),
		cmocka_unit_test(test_symlist_limit),
		cmocka_unit_test(test_replycode),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_header_limits),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_args_limit),
		cmocka_unit_test(test_chgfrom),
		cmocka_unit_test(test_quarantine),
		cmocka_unit_test(test_length_errors),
		cmocka_unit_test(test_splits),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
