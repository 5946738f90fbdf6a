/*
 * Unit tests of the message side of sendmail(1) (src/cli/sendmail_msg.c):
 * reading (LF, CRLF and bare CR all become CRLF, also across read
 * chunks; a last line without a line end; a lone "." ends the message
 * only without -i; a 998-octet line starting with a dot kept whole; the
 * size limit), splitting the header (folded fields,
 * no empty line, a body line that is not a field, field names matched
 * case-insensitively, as sendmail.c does to drop Bcc:) and the addresses
 * of To/Cc/Bcc (display names, comments, quoted commas, groups, folding,
 * the SMTP_ADDRESS_MAX limit, add's refusal).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/sendmail_msg.h"
#include "common/bounds.h"
#include "common/buf.h"

/* Reads in through sendmail_msg_read (from a temporary file, so reads
 * come in full chunks); the result in *out, which the caller frees. */
static enum sendmail_read
read_msg(const char *in, size_t len, bool dot_ends, size_t max, struct buf *out)
{
	FILE *f = tmpfile();
	enum sendmail_read rc;

	assert_non_null(f);
	assert_int_equal(fwrite(in, 1, len, f), len);
	assert_int_equal(fflush(f), 0);
	assert_int_equal(lseek(fileno(f), 0, SEEK_SET), 0);
	buf_init(out, max);
	rc = sendmail_msg_read(fileno(f), dot_ends, out);
	fclose(f);
	return rc;
}

/* in (a string) must read as want, with no size problem. */
static void
check_read(const char *in, bool dot_ends, const char *want)
{
	struct buf out;

	assert_int_equal(read_msg(in, strlen(in), dot_ends, 1 << 20, &out),
	    SENDMAIL_READ_OK);
	assert_int_equal(out.len, strlen(want));
	if (out.len > 0)
		assert_memory_equal(out.data, want, out.len);
	buf_free(&out);
}

static void
test_read_line_ends(void **state)
{
	(void)state;
	check_read("", false, "");
	check_read("a\nb\n", false, "a\r\nb\r\n");
	check_read("a\r\nb\r\n", false, "a\r\nb\r\n");
	check_read("a\rb\r", false, "a\r\nb\r\n");
	check_read("a\r\rb", false, "a\r\n\r\nb\r\n");
	check_read("a\n\rb\r\n\n", false, "a\r\n\r\nb\r\n\r\n");
	check_read("a\r\n\rb", false, "a\r\n\r\nb\r\n");
	check_read("\n\n", false, "\r\n\r\n");
	check_read("\r", false, "\r\n");
	/* A last line without a line end gets one. */
	check_read("Subject: x\n\nno end", false, "Subject: x\r\n\r\nno end\r\n");
	/* NUL and other bytes pass through. */
	{
		struct buf out;

		assert_int_equal(read_msg("a\0b\n", 4, false, 100, &out),
		    SENDMAIL_READ_OK);
		assert_int_equal(out.len, 5);
		assert_memory_equal(out.data, "a\0b\r\n", 5);
		buf_free(&out);
	}
}

/* A CR at the end of one read and its LF at the start of the next are
 * still one line end; a lone "." split the same way still ends. */
static void
test_read_chunks(void **state)
{
	enum { CHUNK = 16384 };
	size_t n = 2 * CHUNK + 10;
	char *in = malloc(n), *want = malloc(n + 8);
	struct buf out;

	(void)state;
	assert_non_null(in);
	assert_non_null(want);
	/* Lines of 98 octets and CRLF, which the reader keeps as they are
	 * (long lines it would break). */
	for (size_t i = 0; i < n; i++)
		in[i] = i % 100 == 98 ? '\r' : i % 100 == 99 ? '\n' : 'x';
	in[CHUNK - 1] = '\r';
	in[CHUNK] = '\n';
	assert_int_equal(read_msg(in, n, false, n + 8, &out), SENDMAIL_READ_OK);
	memcpy(want, in, n);
	memcpy(want + n, "\r\n", 2);
	assert_int_equal(out.len, n + 2);
	assert_memory_equal(out.data, want, n + 2);
	buf_free(&out);

	/* "x...\r\n" then ".\r" | "\n" then more: the "." ends it. */
	in[CHUNK - 4] = '\r';
	in[CHUNK - 3] = '\n';
	in[CHUNK - 2] = '.';
	in[CHUNK - 1] = '\r';
	in[CHUNK] = '\n';
	assert_int_equal(read_msg(in, n, true, n + 8, &out), SENDMAIL_READ_OK);
	assert_int_equal(out.len, CHUNK - 2);
	assert_memory_equal(out.data, in, CHUNK - 2);
	buf_free(&out);
	free(in);
	free(want);
}

static void
test_read_dot(void **state)
{
	(void)state;
	/* Without -i a lone "." ends the message and is not kept... */
	check_read("a\n.\nafter\n", true, "a\r\n");
	check_read("a\r\n.\r\nafter\r\n", true, "a\r\n");
	check_read("a\r.\rafter", true, "a\r\n");
	check_read(".\n", true, "");
	check_read("a\n.", true, "a\r\n");
	/* ...but "..", ". " and a "." inside a line do not. */
	check_read("..\n. \nx.\n", true, "..\r\n. \r\nx.\r\n");
	/* With -i a lone "." is an ordinary line. */
	check_read("a\n.\nafter\n", false, "a\r\n.\r\nafter\r\n");
	check_read(".", false, ".\r\n");
}

/*
 * The leading dot of a line is the line's own (RFC 5321 4.5.3.1.6 counts
 * the message's line, not the stuffing the client adds when it sends): a
 * 998-octet line starting with "." is kept whole, with -i or without.
 */
static void
test_read_dot_long_line(void **state)
{
	char *in = malloc(SMTP_TEXT_LINE_MAX + 1);
	struct buf out;

	(void)state;
	assert_non_null(in);
	memset(in, 'x', SMTP_TEXT_LINE_MAX - 2);
	in[0] = '.';
	in[SMTP_TEXT_LINE_MAX - 2] = '\n';
	for (int dot_ends = 0; dot_ends <= 1; dot_ends++) {
		assert_int_equal(read_msg(in, SMTP_TEXT_LINE_MAX - 1, dot_ends,
		    1 << 20, &out), SENDMAIL_READ_OK);
		assert_int_equal(out.len, SMTP_TEXT_LINE_MAX);
		assert_memory_equal(out.data, in, SMTP_TEXT_LINE_MAX - 2);
		assert_memory_equal(out.data + SMTP_TEXT_LINE_MAX - 2, "\r\n", 2);
		buf_free(&out);
	}
	free(in);
}

/* Every line of out (CRLF ends) holds at most 998 octets; with the
 * breaks ("\r\n ") taken out, out is want. */
static void
check_broken(const struct buf *out, const char *want, size_t wlen)
{
	size_t line = 0, w = 0;

	for (size_t i = 0; i < out->len; i++) {
		if (out->data[i] == '\r') {
			assert_true(i + 1 < out->len && out->data[i + 1] == '\n');
			assert_true(line <= SMTP_TEXT_LINE_MAX - 2);
			line = 0;
			i++;
			if (i + 1 < out->len && out->data[i + 1] == ' ' &&
			    !(w < wlen && want[w] == '\r')) {
				i++;	/* a break we made: the space is ours */
				line = 1;
			} else {
				assert_true(w + 1 < wlen && want[w] == '\r' &&
				    want[w + 1] == '\n');
				w += 2;
			}
			continue;
		}
		assert_true(w < wlen);
		assert_int_equal(out->data[i], want[w]);
		w++;
		line++;
	}
	assert_int_equal(w, wlen);
}

static void
test_read_long_lines(void **state)
{
	/* 998, 999, 1995, 1996 and 40000 octets: breaks after 998 (and
	 * 997 after a space), across the reader's 16 KiB chunks. */
	static const size_t lens[] = { 998, 999, 1995, 1996, 40000 };
	struct buf out;

	(void)state;
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		size_t n = lens[k];
		char *in = malloc(n + 2), *want = malloc(n + 2);

		assert_non_null(in);
		assert_non_null(want);
		for (size_t i = 0; i < n; i++)
			in[i] = (char)('a' + i % 26);
		in[0] = '.';	/* a dot starts it: nothing to do with ending */
		memcpy(want, in, n);
		in[n] = '\n';
		memcpy(want + n, "\r\n", 2);
		assert_int_equal(read_msg(in, n + 1, true, 1 << 20, &out),
		    SENDMAIL_READ_OK);
		check_broken(&out, want, n + 2);
		/* Breaks only where needed: 998 octets fit, 999 do not. */
		if (n == 998)
			assert_int_equal(out.len, 1000);
		if (n == 999) {
			assert_memory_equal(out.data + 998, "\r\n ", 3);
			assert_int_equal(out.data[1001], in[998]);
			assert_int_equal(out.len, 999 + 3 + 2);
		}
		if (n == 1995)
			assert_int_equal(out.len, 1995 + 3 + 2);
		if (n == 1996)
			assert_int_equal(out.len, 1996 + 6 + 2);
		buf_free(&out);
		free(in);
		free(want);
	}
	/* A bare CR ends a line and starts the count afresh. */
	{
		char in[1200];

		memset(in, 'x', sizeof(in));
		in[998] = '\r';
		assert_int_equal(read_msg(in, sizeof(in), false, 1 << 20, &out),
		    SENDMAIL_READ_OK);
		assert_int_equal(out.len, 998 + 2 + 201 + 2);
		buf_free(&out);
	}
}

/* A header field too long for a line folds before its last space or tab
 * (RFC 5322 2.2.3): every line fits, and taking the CRLFs out gives the
 * field back; a body line of the same text is broken with CRLF SP. */
static void
test_read_fold_header(void **state)
{
	struct buf out, in;
	size_t nl = 0;

	(void)state;
	buf_init(&in, 1 << 16);
	buf_append_str(&in, "To: ");
	for (int i = 0; i < 150; i++)
		buf_printf(&in, "%sperson%03d@example.org", i ? ",\t" : "", i);
	buf_append_str(&in, "\nSubject: s\n\nbody\n");
	assert_int_equal(read_msg(in.data, in.len, false, 1 << 20, &out),
	    SENDMAIL_READ_OK);
	/* Every line fits; the To: field's lines start with the tab that
	 * was there. */
	for (size_t i = 0, start = 0; i < out.len; i++) {
		if (out.data[i] != '\n')
			continue;
		assert_true(i - start - 1 <= SMTP_TEXT_LINE_MAX - 2);
		if (start > 0 && nl < 3)
			assert_int_equal(out.data[start], '\t');
		start = i + 1;
		nl++;
	}
	assert_true(nl >= 5);		/* To: took at least three lines */
	/* Unfolding (RFC 5322 2.2.3: remove the CRLFs before WSP) gives
	 * the field back octet for octet. */
	{
		struct buf un;

		buf_init(&un, 1 << 16);
		for (size_t i = 0; i < out.len; i++) {
			if (out.data[i] == '\r' && i + 2 < out.len &&
			    out.data[i + 1] == '\n' && out.data[i + 2] == '\t') {
				i++;
				continue;
			}
			buf_append(&un, out.data + i, 1);
		}
		assert_int_equal(un.len, in.len + 4);	/* four LF -> CRLF */
		assert_memory_equal(un.data, in.data,
		    strchr(in.data, '\n') - in.data);
		buf_free(&un);
	}
	buf_free(&out);
	buf_free(&in);
}

static void
test_read_limit(void **state)
{
	struct buf out;

	(void)state;
	/* "abc\n" is 5 octets as CRLF: a limit of 5 holds it, 4 does not. */
	assert_int_equal(read_msg("abc\n", 4, false, 5, &out), SENDMAIL_READ_OK);
	assert_int_equal(out.len, 5);
	buf_free(&out);
	assert_int_equal(read_msg("abc\n", 4, false, 4, &out),
	    SENDMAIL_READ_TOO_BIG);
	assert_true(out.len <= 4);
	buf_free(&out);
	/* The line end added at EOF counts too. */
	assert_int_equal(read_msg("abc", 3, false, 4, &out),
	    SENDMAIL_READ_TOO_BIG);
	buf_free(&out);
	/* What a lone "." cut off does not count (the "." itself does, as
	 * it is read: a message of exactly the limit plus "." is refused). */
	assert_int_equal(read_msg("ab\n.\nlong line after", 21, true, 5, &out),
	    SENDMAIL_READ_OK);
	assert_int_equal(out.len, 4);
	buf_free(&out);
	/* A read error is not a size problem. */
	buf_init(&out, 100);
	assert_int_equal(sendmail_msg_read(-1, false, &out), SENDMAIL_READ_ERROR);
	buf_free(&out);
}

/* The text of field i. */
static void
assert_field(const char *msg, const struct sendmail_msg *m, size_t i,
    const char *want)
{
	assert_true(i < m->n_fields);
	assert_int_equal(m->fields[i].len, strlen(want));
	assert_memory_equal(msg + m->fields[i].off, want, strlen(want));
}

static void
test_parse(void **state)
{
	const char *msg = "To: a@b.example\r\nSubject: one\r\n  two\r\n\tthree\r\n"
	    "X-Empty:\r\n\r\nbody: not a field\r\n";
	struct sendmail_msg m;

	(void)state;
	sendmail_msg_parse(msg, strlen(msg), &m);
	assert_int_equal(m.n_fields, 3);
	assert_field(msg, &m, 0, "To: a@b.example\r\n");
	assert_field(msg, &m, 1, "Subject: one\r\n  two\r\n\tthree\r\n");
	assert_field(msg, &m, 2, "X-Empty:\r\n");
	assert_true(m.separator);
	assert_string_equal(msg + m.body_off, "body: not a field\r\n");
	sendmail_msg_free(&m);
	assert_null(m.fields);

	/* No empty line: the body starts at the first non-field line. */
	msg = "Subject: x\r\nHello there\r\nTo: c@d\r\n";
	sendmail_msg_parse(msg, strlen(msg), &m);
	assert_int_equal(m.n_fields, 1);
	assert_false(m.separator);
	assert_string_equal(msg + m.body_off, "Hello there\r\nTo: c@d\r\n");
	sendmail_msg_free(&m);

	/* Not fields: no name, a space in the name, a leading
	 * continuation line, no colon. */
	const char *bad[] = { ": x\r\n", "Bad Name: x\r\n", " To: a@b\r\n",
	    "To a@b\r\n", "T\x7fo: x\r\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sendmail_msg_parse(bad[i], strlen(bad[i]), &m);
		assert_int_equal(m.n_fields, 0);
		assert_int_equal(m.body_off, 0);
		assert_false(m.separator);
		sendmail_msg_free(&m);
	}

	/* Empty message; header only; a last field without CRLF. */
	sendmail_msg_parse("", 0, &m);
	assert_int_equal(m.n_fields, 0);
	assert_int_equal(m.body_off, 0);
	sendmail_msg_free(&m);
	msg = "A: 1\r\n\r\n";
	sendmail_msg_parse(msg, strlen(msg), &m);
	assert_int_equal(m.n_fields, 1);
	assert_true(m.separator);
	assert_int_equal(m.body_off, strlen(msg));
	sendmail_msg_free(&m);
	msg = "A: 1\r\nB: 2";
	sendmail_msg_parse(msg, strlen(msg), &m);
	assert_int_equal(m.n_fields, 2);
	assert_field(msg, &m, 1, "B: 2");
	assert_int_equal(m.body_off, strlen(msg));
	sendmail_msg_free(&m);
}

/* Many fields: the array grows. */
static void
test_parse_many(void **state)
{
	char msg[100 * 8 + 3];
	struct sendmail_msg m;
	size_t n = 0;

	(void)state;
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(msg + n, sizeof(msg) - n, "X%03d:1\r\n", i);
	memcpy(msg + n, "\r\n", 3);
	sendmail_msg_parse(msg, n + 2, &m);
	assert_int_equal(m.n_fields, 100);
	assert_field(msg, &m, 99, "X099:1\r\n");
	assert_true(m.separator);
	sendmail_msg_free(&m);
}

static void
test_field_is(void **state)
{
	const char *msg = "bcc: x@y\r\nBccX: y\r\nBc: z\r\nTo: a\r\n\r\n";
	struct sendmail_msg m;

	(void)state;
	sendmail_msg_parse(msg, strlen(msg), &m);
	assert_int_equal(m.n_fields, 4);
	assert_true(sendmail_field_is(msg, &m.fields[0], "Bcc"));
	assert_true(sendmail_field_is(msg, &m.fields[0], "BCC"));
	assert_false(sendmail_field_is(msg, &m.fields[1], "Bcc"));
	assert_false(sendmail_field_is(msg, &m.fields[2], "Bcc"));
	assert_false(sendmail_field_is(msg, &m.fields[3], "Bcc"));
	assert_true(sendmail_field_is(msg, &m.fields[3], "to"));
	assert_false(sendmail_field_is(msg, &m.fields[3], "T"));
	sendmail_msg_free(&m);
}

/* Collected addresses, joined by " ". */
struct got {
	char all[2048];
	int n;
	int stop_at;		/* add refuses the stop_at'th (1-based); 0: never */
};

static int
collect(void *arg, const char *addr)
{
	struct got *g = arg;
	size_t l = strlen(g->all);

	g->n++;
	if (g->n == g->stop_at)
		return -1;
	snprintf(g->all + l, sizeof(g->all) - l, "%s%s", l > 0 ? " " : "", addr);
	return 0;
}

/* The addresses of the one field "To:" + value. */
static int
addrs(const char *value, struct got *g)
{
	static char msg[4096];
	struct sendmail_msg m;
	int rc;

	snprintf(msg, sizeof(msg), "To:%s\r\n\r\nbody\r\n", value);
	sendmail_msg_parse(msg, strlen(msg), &m);
	assert_int_equal(m.n_fields, 1);
	g->all[0] = '\0';
	g->n = 0;
	rc = sendmail_field_addresses(msg, &m.fields[0], collect, g);
	sendmail_msg_free(&m);
	return rc;
}

static void
expect(const char *value, const char *want)
{
	struct got g = { .stop_at = 0 };

	assert_int_equal(addrs(value, &g), 0);
	assert_string_equal(g.all, want);
}

static void
test_addresses(void **state)
{
	(void)state;
	expect(" a@b.example", "a@b.example");
	expect(" a@b, c@d ,e@f", "a@b c@d e@f");
	expect(" Ann Smith <ann@x.example>", "ann@x.example");
	expect(" \"Smith, Ann\" <ann@x.example>, bob@y", "ann@x.example bob@y");
	expect(" \"a\\\"<b@c>, d\" <e@f>", "e@f");
	expect(" a@b (Ann, \"the\" (nested) boss), c@d", "a@b c@d");
	expect(" <a@b (in angle)>", "a@b");
	expect(" <\"x,y\"@b>", "\"x,y\"@b");
	expect(" \"quoted local\"@b", "\"quoted local\"@b");
	/* Groups. */
	expect(" team: a@b, Bo <c@d>;, e@f", "a@b c@d e@f");
	expect(" undisclosed-recipients:;", "");
	expect(" \"Odd: name\" <a@b>", "a@b");
	/* Folded, with CRLF and whitespace inside. */
	expect(" a@b,\r\n c@d,\r\n\t\"X\"\r\n <e@f>", "a@b c@d e@f");
	/* A backslash before a line end does not take in its CR
	 * (found by fuzz_sendmail_msg). */
	expect(" \"a\\\r\n b\"@c", "\"a\\ b\"@c");
	/* Empty elements and an empty field. */
	expect(" , ,a@b,,", "a@b");
	expect("", "");
	expect("   ", "");
}

static void
test_addresses_limits(void **state)
{
	char v[1024];
	struct got g = { .stop_at = 0 };

	(void)state;
	/* An address of exactly SMTP_ADDRESS_MAX is kept... */
	memset(v, 0, sizeof(v));
	v[0] = ' ';
	memset(v + 1, 'a', SMTP_ADDRESS_MAX - 2);
	memcpy(v + SMTP_ADDRESS_MAX - 1, "@b", 2);
	assert_int_equal(addrs(v, &g), 0);
	assert_int_equal(strlen(g.all), SMTP_ADDRESS_MAX);
	/* ...one more octet is refused, not cut. */
	v[0] = 'a';
	memmove(v + 1, v, SMTP_ADDRESS_MAX + 1);
	v[0] = ' ';
	assert_int_equal(addrs(v, &g), -1);
	/* The same inside <>. */
	memcpy(v, " N <", 4);
	memset(v + 4, 'a', SMTP_ADDRESS_MAX - 1);
	memcpy(v + 4 + SMTP_ADDRESS_MAX - 1, "@b>", 4);
	assert_int_equal(addrs(v, &g), -1);

	/* A display name longer than SMTP_ADDRESS_MAX is not an address. */
	size_t n = 0;
	v[n++] = ' ';
	v[n++] = '"';
	memset(v + n, 'N', SMTP_ADDRESS_MAX + 20);
	n += SMTP_ADDRESS_MAX + 20;
	memcpy(v + n, "\" <a@b>, c@d", 13);
	assert_int_equal(addrs(v, &g), 0);
	assert_string_equal(g.all, "a@b c@d");
	/* Nor is a long group name. */
	v[1] = 'G';
	memcpy(v + n, ": a@b;", 7);
	assert_int_equal(addrs(v, &g), 0);
	assert_string_equal(g.all, "a@b");
}

/* add's refusal stops the scan. */
static void
test_addresses_add_fails(void **state)
{
	struct got g = { .stop_at = 2 };

	(void)state;
	assert_int_equal(addrs(" a@b, c@d, e@f", &g), -1);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.all, "a@b");
	g.stop_at = 1;
	assert_int_equal(addrs(" <a@b>", &g), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_line_ends),
		cmocka_unit_test(test_read_chunks),
		cmocka_unit_test(test_read_dot),
		cmocka_unit_test(test_read_dot_long_line),
		cmocka_unit_test(test_read_long_lines),
		cmocka_unit_test(test_read_fold_header),
		cmocka_unit_test(test_read_limit),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_many),
		cmocka_unit_test(test_field_is),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_addresses_limits),
		cmocka_unit_test(test_addresses_add_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
