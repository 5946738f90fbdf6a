/*
 * Unit tests of the SMTP path parser (src/smtp/address.c): RFC 5321
 * 4.1.2 paths, quoted local parts, address literals, source routes,
 * length limits, UTF-8 policy, MAIL parameters, HELO arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/address.h"

static enum smtp_addr_error
mail(const char *arg, bool utf8_ok, struct smtp_path *p,
    struct smtp_mail_params *mp)
{
	return smtp_parse_mail_from(arg, strlen(arg), utf8_ok, p, mp);
}

static enum smtp_addr_error
rcpt(const char *arg, bool utf8, struct smtp_path *p)
{
	return smtp_parse_rcpt_to(arg, strlen(arg), utf8, p);
}

static void
assert_rcpt(const char *arg, const char *local, const char *domain)
{
	struct smtp_path p;
	char addr[512];

	assert_int_equal(rcpt(arg, false, &p), SMTP_ADDR_OK);
	assert_string_equal(p.local, local);
	assert_string_equal(p.domain, domain);
	snprintf(addr, sizeof(addr), "%s@%s", local, domain);
	assert_string_equal(p.addr, addr);
	assert_false(p.null);
	assert_false(p.postmaster);
}

static void
assert_rcpt_err(const char *arg, bool utf8, enum smtp_addr_error want)
{
	struct smtp_path p;

	assert_int_equal(rcpt(arg, utf8, &p), want);
	/* Nothing half-parsed survives an error. */
	assert_string_equal(p.addr, "");
}

static void
assert_mail_err(const char *arg, bool utf8_ok, enum smtp_addr_error want)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	assert_int_equal(mail(arg, utf8_ok, &p, &mp), want);
	assert_string_equal(p.addr, "");
}

/* A string of n copies of c. */
static char *
rep(char *out, char c, size_t n)
{
	memset(out, c, n);
	out[n] = '\0';
	return out;
}

static void
test_simple(void **state)
{
	(void)state;
	assert_rcpt("<user@example.org>", "user", "example.org");
	assert_rcpt("<First.Last@Example.ORG>", "First.Last", "Example.ORG");
	assert_rcpt("<a@b>", "a", "b");
	assert_rcpt("<x-y_z+tag@mail-1.example.co.uk>", "x-y_z+tag",
	    "mail-1.example.co.uk");
	assert_rcpt("<!#$%&'*+-/=?^_`{|}~@example.org>",
	    "!#$%&'*+-/=?^_`{|}~", "example.org");
	assert_rcpt("<123@4.5.6.7a>", "123", "4.5.6.7a");
	/* RCPT: trailing spaces are fine. */
	assert_rcpt("<user@example.org>   ", "user", "example.org");
}

static void
test_percent_and_bang_kept(void **state)
{
	(void)state;
	/* Never interpreted: kept verbatim in the local part. */
	assert_rcpt("<user%other.example@example.org>", "user%other.example",
	    "example.org");
	assert_rcpt("<host!user@example.org>", "host!user", "example.org");
}

static void
test_quoted_local(void **state)
{
	struct smtp_path p;

	(void)state;
	assert_int_equal(rcpt("<\"john doe\"@example.org>", false, &p),
	    SMTP_ADDR_OK);
	assert_true(p.quoted);
	assert_string_equal(p.local, "\"john doe\"");
	assert_string_equal(p.addr, "\"john doe\"@example.org");
	assert_rcpt("<\"a\\\"b\"@example.org>", "\"a\\\"b\"", "example.org");
	assert_rcpt("<\"a\\\\b\"@example.org>", "\"a\\\\b\"", "example.org");
	assert_rcpt("<\"a@b\"@example.org>", "\"a@b\"", "example.org");
	assert_rcpt("<\"<>,;:\"@example.org>", "\"<>,;:\"", "example.org");
	assert_rcpt("<\"\"@example.org>", "\"\"", "example.org");
	assert_rcpt("<\"\\ \"@example.org>", "\"\\ \"", "example.org");
	assert_rcpt_err("<\"unterminated@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<\"a\"b@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a\"b\"@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<\"a\tb\"@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<\"a\\\tb\"@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<\"a\\", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<\"a\x7f\"@example.org>", false, SMTP_ADDR_SYNTAX);
}

static void
test_bad_dot_string(void **state)
{
	(void)state;
	assert_rcpt_err("<.user@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<user.@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<us..er@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<us er@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<us(er@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<us,er@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<user@@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@b@example.org>", false, SMTP_ADDR_SYNTAX);
}

static void
test_bad_brackets(void **state)
{
	(void)state;
	assert_rcpt_err("user@example.org", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<user@example.org", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("user@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<<user@example.org>>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<user@example.org>x", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err(" <user@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<", false, SMTP_ADDR_SYNTAX);
	assert_mail_err("<a@b.example>junk", false, SMTP_ADDR_SYNTAX);
	assert_mail_err("a@b.example", false, SMTP_ADDR_SYNTAX);
}

static void
test_domains(void **state)
{
	char label[80], buf[400], dom[100];

	(void)state;
	assert_rcpt_err("<a@-example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@example-.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@example.org.>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@.example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@exa..mple.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@exa_mple.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@exa mple.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt("<a@x--y.example>", "a", "x--y.example");
	assert_rcpt("<a@xn--bcher-kva.example>", "a", "xn--bcher-kva.example");
	/* Labels of 63 octets are fine, 64 are not. */
	snprintf(dom, sizeof(dom), "%s.example", rep(label, 'l', 63));
	snprintf(buf, sizeof(buf), "<a@%s>", dom);
	assert_rcpt(buf, "a", dom);
	snprintf(buf, sizeof(buf), "<a@%s.example>", rep(label, 'l', 64));
	assert_rcpt_err(buf, false, SMTP_ADDR_SYNTAX);
}

static void
test_address_literals(void **state)
{
	(void)state;
	assert_rcpt("<a@[192.0.2.1]>", "a", "[192.0.2.1]");
	assert_rcpt("<a@[IPv6:2001:db8::1]>", "a", "[IPv6:2001:db8::1]");
	assert_rcpt("<a@[ipv6:::1]>", "a", "[ipv6:::1]");
	assert_rcpt("<a@[IPv6:::ffff:192.0.2.1]>", "a", "[IPv6:::ffff:192.0.2.1]");
	assert_rcpt_err("<a@[192.0.2.256]>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@[192.0.2]>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@[2001:db8::1]>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@[IPv6:192.0.2.1]>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@[IPv6:]>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@[]>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@[192.0.2.1>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@[x-tag:stuff]>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@[192.0.2.1].example>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<a@[ 192.0.2.1]>", false, SMTP_ADDR_SYNTAX);
}

static void
test_source_routes(void **state)
{
	(void)state;
	/* Parsed and dropped: only the mailbox is kept. */
	assert_rcpt("<@relay.example:user@example.org>", "user", "example.org");
	assert_rcpt("<@a.example,@b.example:user@example.org>", "user",
	    "example.org");
	assert_rcpt("<@[192.0.2.1]:user@example.org>", "user", "example.org");
	assert_rcpt_err("<@a.example>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<@a.example:>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<@a.example,b.example:u@example.org>", false,
	    SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<@a.example;@b.example:u@example.org>", false,
	    SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<@:u@example.org>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<@-a:u@example.org>", false, SMTP_ADDR_SYNTAX);
}

static void
test_postmaster(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	assert_int_equal(rcpt("<postmaster>", false, &p), SMTP_ADDR_OK);
	assert_true(p.postmaster);
	assert_string_equal(p.addr, "postmaster");
	assert_string_equal(p.domain, "");
	assert_int_equal(rcpt("<PostMaster>", false, &p), SMTP_ADDR_OK);
	assert_true(p.postmaster);
	assert_string_equal(p.local, "PostMaster");
	assert_string_equal(p.addr, "postmaster");
	/* With a domain it is an ordinary address. */
	assert_int_equal(rcpt("<Postmaster@example.org>", false, &p), SMTP_ADDR_OK);
	assert_false(p.postmaster);
	assert_string_equal(p.addr, "Postmaster@example.org");
	/* Other bare names, quoted postmaster, and MAIL are refused. */
	assert_rcpt_err("<postmistress>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<abuse>", false, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<\"postmaster\">", false, SMTP_ADDR_SYNTAX);
	assert_int_equal(mail("<postmaster>", false, &p, &mp), SMTP_ADDR_SYNTAX);
}

static void
test_null_path(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	assert_int_equal(mail("<>", false, &p, &mp), SMTP_ADDR_OK);
	assert_true(p.null);
	assert_string_equal(p.addr, "");
	assert_int_equal(mail("<> SIZE=100", false, &p, &mp), SMTP_ADDR_OK);
	assert_true(p.null);
	assert_true(mp.has_size);
	assert_int_equal(mp.size, 100);
	assert_rcpt_err("<>", false, SMTP_ADDR_NULL_RCPT);
	assert_rcpt_err("<> ", false, SMTP_ADDR_NULL_RCPT);
	assert_mail_err("< >", false, SMTP_ADDR_SYNTAX);
}

static void
test_lengths(void **state)
{
	char dom[300], buf[700];
	struct smtp_path p;

	(void)state;
	/* Path: 256 octets with "<" ">" is the most. */
	rep(dom, 'd', 250);
	for (int i = 63; i < 250; i += 64)
		dom[i] = '.';
	/* "<a@" + 250 + ">" = 254 */
	snprintf(buf, sizeof(buf), "<ab@%s>", dom);	/* 255 */
	assert_int_equal(rcpt(buf, false, &p), SMTP_ADDR_OK);
	snprintf(buf, sizeof(buf), "<abc@%s>", dom);	/* 256 */
	assert_int_equal(rcpt(buf, false, &p), SMTP_ADDR_OK);
	assert_int_equal(strlen(p.addr), 254);
	snprintf(buf, sizeof(buf), "<abcd@%s>", dom);	/* 257 */
	assert_rcpt_err(buf, false, SMTP_ADDR_TOO_LONG);
	/* A source route counts toward the path. */
	snprintf(buf, sizeof(buf), "<@r.example:abc@%s>", dom);
	assert_rcpt_err(buf, false, SMTP_ADDR_TOO_LONG);

	/* Domain over 255 octets. */
	rep(dom, 'd', 260);
	for (int i = 63; i < 260; i += 64)
		dom[i] = '.';
	snprintf(buf, sizeof(buf), "<a@%s>", dom);
	assert_rcpt_err(buf, false, SMTP_ADDR_TOO_LONG);
	snprintf(buf, sizeof(buf), "%s", "a@");
	snprintf(buf + 2, sizeof(buf) - 2, "%s", dom);
	assert_int_equal(smtp_parse_address(buf, strlen(buf), false, &p),
	    SMTP_ADDR_TOO_LONG);
}

/* "<" + local + "@" + domain + ">" of exactly total octets, the local
 * part of n octets (quoted: n counts the quotes). */
static const char *
long_path(char *buf, size_t cap, size_t n, bool quoted, size_t total)
{
	char local[300], dom[300];
	size_t dlen = total - n - 3;

	rep(local, 'u', n);
	if (quoted) {
		local[0] = local[n - 1] = '"';
		local[n / 2] = ' ';	/* qtextSMTP: only valid quoted */
	}
	rep(dom, 'd', dlen);
	for (size_t i = 60; i < dlen - 1; i += 61)
		dom[i] = '.';
	snprintf(buf, cap, "<%s@%s>", local, dom);
	assert_int_equal(strlen(buf), total);
	return buf;
}

/* RFC 5321 4.5.3.1: accept objects over the 64-octet local part where
 * we can; only the 256-octet path bounds a local part (SRS addresses). */
static void
test_long_local(void **state)
{
	static const size_t lens[] = { 64, 65, 200, SMTP_LOCAL_PART_WIRE_MAX };
	char buf[700], tail[200];
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i];

		/* The longest path that fits: 256 with "<" ">". */
		long_path(buf, sizeof(buf), n, false, SMTP_PATH_MAX);
		assert_int_equal(rcpt(buf, false, &p), SMTP_ADDR_OK);
		assert_int_equal(strlen(p.local), n);
		assert_int_equal(strlen(p.addr), SMTP_PATH_MAX - 2);
		assert_int_equal(mail(buf, false, &p, &mp), SMTP_ADDR_OK);
		assert_int_equal(strlen(p.local), n);
		assert_int_equal(strlen(p.addr), SMTP_PATH_MAX - 2);
		/* Quoted local parts count their quotes. */
		long_path(buf, sizeof(buf), n, true, SMTP_PATH_MAX);
		assert_int_equal(rcpt(buf, false, &p), SMTP_ADDR_OK);
		assert_int_equal(strlen(p.local), n);
		assert_true(p.quoted);
		assert_int_equal(mail(buf, false, &p, &mp), SMTP_ADDR_OK);
		assert_true(p.quoted);
		/* One over, whatever the local part's share. */
		if (n == SMTP_LOCAL_PART_WIRE_MAX)
			continue;
		long_path(buf, sizeof(buf), n, false, SMTP_PATH_MAX + 1);
		assert_rcpt_err(buf, false, SMTP_ADDR_TOO_LONG);
		assert_mail_err(buf, false, SMTP_ADDR_TOO_LONG);
		long_path(buf, sizeof(buf), n, true, SMTP_PATH_MAX + 1);
		assert_rcpt_err(buf, false, SMTP_ADDR_TOO_LONG);
		assert_mail_err(buf, false, SMTP_ADDR_TOO_LONG);
	}
	/* A local part of 253 cannot leave room for "@" and a domain. */
	long_path(buf, sizeof(buf), SMTP_LOCAL_PART_WIRE_MAX + 1, false,
	    SMTP_PATH_MAX + 1);
	assert_rcpt_err(buf, false, SMTP_ADDR_TOO_LONG);
	assert_mail_err(buf, false, SMTP_ADDR_TOO_LONG);
	/* A long local part and a long domain, each within its own limit:
	 * the path's bound still holds (addr never overflows). */
	rep(buf, 'u', 200);
	memcpy(buf, "<", 1);
	snprintf(buf + 200, sizeof(buf) - 200, "@%s.%s.%s.%s>",
	    "a23456789012345678901234567890123456789012345678901234567890",
	    "b23456789012345678901234567890123456789012345678901234567890",
	    "c23456789012345678901234567890123456789012345678901234567890",
	    "d23456789012345678901234567890123456789012345678901234567890");
	assert_rcpt_err(buf, false, SMTP_ADDR_TOO_LONG);
	assert_mail_err(buf, false, SMTP_ADDR_TOO_LONG);
	/* An SRS1 address as libsrs2 writes them, 200 octets of local. */
	snprintf(buf, sizeof(buf), "<SRS1=HHHH=forwarder.example==HHHH=TT="
	    "mail.some-long-company-name.example=%s@srs.example.net>",
	    rep(tail, 'f', 200 - 73));
	assert_int_equal(mail(buf, false, &p, &mp), SMTP_ADDR_OK);
	assert_int_equal(strlen(p.local), 200);
	assert_string_equal(p.domain, "srs.example.net");
	/* The bare form (config, CLI) has the same bound, less "<" ">". */
	assert_int_equal(smtp_parse_address(buf + 1, strlen(buf) - 2, false,
	    &p), SMTP_ADDR_OK);
	assert_int_equal(strlen(p.local), 200);
}

static void
test_utf8(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	/* "jösé@exämple.org", "用户@例子.广告" */
	assert_rcpt_err("<j\xc3\xb6s\xc3\xa9@example.org>", false, SMTP_ADDR_UTF8);
	assert_int_equal(rcpt("<j\xc3\xb6s\xc3\xa9@ex\xc3\xa4mple.org>", true, &p),
	    SMTP_ADDR_OK);
	assert_true(p.utf8);
	assert_string_equal(p.domain, "ex\xc3\xa4mple.org");
	assert_int_equal(rcpt("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90"
	    ".\xe5\xb9\xbf\xe5\x91\x8a>", true, &p), SMTP_ADDR_OK);
	assert_int_equal(rcpt("<\"\xc3\xa9 x\"@example.org>", true, &p), SMTP_ADDR_OK);
	assert_int_equal(rcpt("<\xf0\x9f\x93\xa7@example.org>", true, &p),
	    SMTP_ADDR_OK);
	assert_int_equal(rcpt("<plain@example.org>", true, &p), SMTP_ADDR_OK);
	assert_false(p.utf8);
	/* Invalid UTF-8: overlong "/", overlong NUL, surrogate, > U+10FFFF,
	 * stray continuation, truncated sequence. */
	assert_rcpt_err("<a\xc0\xaf@example.org>", true, SMTP_ADDR_UTF8);
	assert_rcpt_err("<a\xc0\x80@example.org>", true, SMTP_ADDR_UTF8);
	assert_rcpt_err("<a\xe0\x80\xaf@example.org>", true, SMTP_ADDR_UTF8);
	assert_rcpt_err("<a\xf0\x80\x80\xaf@example.org>", true, SMTP_ADDR_UTF8);
	assert_rcpt_err("<a\xed\xa0\x80@example.org>", true, SMTP_ADDR_UTF8);
	assert_rcpt_err("<a\xf4\x90\x80\x80@example.org>", true, SMTP_ADDR_UTF8);
	assert_rcpt_err("<a\x80@example.org>", true, SMTP_ADDR_UTF8);
	assert_rcpt_err("<a\xc3@example.org>", true, SMTP_ADDR_UTF8);
	assert_rcpt_err("<a@example.org\xc3>", true, SMTP_ADDR_UTF8);
	assert_rcpt_err("<a\xff@example.org>", true, SMTP_ADDR_UTF8);
	/* Never in an address literal or a quoted pair. */
	assert_rcpt_err("<a@[192.0.2.\xc3\xa9]>", true, SMTP_ADDR_SYNTAX);
	assert_rcpt_err("<\"\\\xc3\xa9\"@example.org>", true, SMTP_ADDR_SYNTAX);

	/* MAIL: advertised, and the parameter given. */
	assert_int_equal(mail("<j\xc3\xb6@example.org> SMTPUTF8", true, &p, &mp),
	    SMTP_ADDR_OK);
	assert_true(mp.smtputf8);
	assert_true(p.utf8);
	/* Advertised but not requested by the client. */
	assert_mail_err("<j\xc3\xb6@example.org>", true, SMTP_ADDR_UTF8);
	/* Not advertised: the parameter itself is unknown. */
	assert_mail_err("<j\xc3\xb6@example.org> SMTPUTF8", false, SMTP_ADDR_PARAM);
	assert_mail_err("<j\xc3\xb6@example.org>", false, SMTP_ADDR_UTF8);
	assert_mail_err("<@r\xc3\xa9.example:j@example.org>", false, SMTP_ADDR_UTF8);
	assert_mail_err("<a\xc0\xaf@example.org> SMTPUTF8", true, SMTP_ADDR_UTF8);
	/* ASCII sender with SMTPUTF8: fine, UTF-8 rcpts may follow. */
	assert_int_equal(mail("<a@example.org> SMTPUTF8", true, &p, &mp),
	    SMTP_ADDR_OK);
	assert_false(p.utf8);
	assert_true(mp.smtputf8);
}

static void
test_mail_params(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	assert_int_equal(mail("<a@b.example>", false, &p, &mp), SMTP_ADDR_OK);
	assert_false(mp.has_size);
	assert_int_equal(mp.body, SMTP_BODY_7BIT);
	assert_false(mp.smtputf8);
	assert_string_equal(p.addr, "a@b.example");

	assert_int_equal(mail("<a@b.example> SIZE=12345 BODY=8BITMIME", false,
	    &p, &mp), SMTP_ADDR_OK);
	assert_true(mp.has_size);
	assert_int_equal(mp.size, 12345);
	assert_int_equal(mp.body, SMTP_BODY_8BITMIME);

	assert_int_equal(mail("<a@b.example> size=0 body=7bit smtputf8", true,
	    &p, &mp), SMTP_ADDR_OK);
	assert_true(mp.has_size);
	assert_int_equal(mp.size, 0);
	assert_int_equal(mp.body, SMTP_BODY_7BIT);
	assert_true(mp.smtputf8);

	assert_int_equal(mail("<a@b.example>   BODY=8bitmime   SIZE=1  ", false,
	    &p, &mp), SMTP_ADDR_OK);
	assert_int_equal(mp.size, 1);

	assert_int_equal(mail("<a@b.example> SIZE=18446744073709551615", false,
	    &p, &mp), SMTP_ADDR_OK);
	assert_true(mp.size == UINT64_MAX);

	assert_mail_err("<a@b.example> SIZE=18446744073709551616", false,
	    SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> SIZE=99999999999999999999999", false,
	    SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> SIZE=", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> SIZE", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> SIZE=-1", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> SIZE=1k", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> SIZE=+5", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> SIZE=1 SIZE=2", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> BODY=BINARYMIME", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> BODY=", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> BODY", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> BODY=7BIT BODY=7BIT", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> SMTPUTF8 SMTPUTF8", true, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> SMTPUTF8=yes", true, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> AUTH=<>", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> RET=HDRS", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> X", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example> =5", false, SMTP_ADDR_PARAM);
	assert_mail_err("<a@b.example>\tSIZE=5", false, SMTP_ADDR_SYNTAX);
}

static void
test_rcpt_params(void **state)
{
	(void)state;
	assert_rcpt_err("<a@b.example> NOTIFY=NEVER", false, SMTP_ADDR_PARAM);
	assert_rcpt_err("<a@b.example> ORCPT=rfc822;a@b.example", false,
	    SMTP_ADDR_PARAM);
	assert_rcpt_err("<postmaster> X", false, SMTP_ADDR_PARAM);
}

static void
test_embedded_nul(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	assert_int_equal(smtp_parse_rcpt_to("<a\0b@example.org>", 17, false, &p),
	    SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_rcpt_to("<a@exam\0ple.org>", 16, false, &p),
	    SMTP_ADDR_SYNTAX);
	assert_int_equal(smtp_parse_mail_from("<a@b.example> SIZE=1\0", 21, false,
	    &p, &mp), SMTP_ADDR_PARAM);
	assert_int_equal(smtp_parse_rcpt_to("<a@[1.2.3.4\0]>", 14, false, &p),
	    SMTP_ADDR_SYNTAX);
	/* The length bounds the input, not a NUL. */
	assert_int_equal(smtp_parse_rcpt_to("<a@b.example>XYZ", 13, false, &p),
	    SMTP_ADDR_OK);
}

static void
test_bare_address(void **state)
{
	struct smtp_path p;
	const char *s;

	(void)state;
	s = "admin@example.test";
	assert_int_equal(smtp_parse_address(s, strlen(s), false, &p), SMTP_ADDR_OK);
	assert_string_equal(p.local, "admin");
	assert_string_equal(p.domain, "example.test");
	assert_string_equal(p.addr, "admin@example.test");
	s = "\"odd user\"@example.test";
	assert_int_equal(smtp_parse_address(s, strlen(s), false, &p), SMTP_ADDR_OK);
	assert_true(p.quoted);
	s = "Postmaster";
	assert_int_equal(smtp_parse_address(s, strlen(s), false, &p), SMTP_ADDR_OK);
	assert_true(p.postmaster);
	assert_string_equal(p.addr, "postmaster");
	s = "u@[192.0.2.1]";
	assert_int_equal(smtp_parse_address(s, strlen(s), false, &p), SMTP_ADDR_OK);

	s = "<admin@example.test>";
	assert_int_equal(smtp_parse_address(s, strlen(s), false, &p),
	    SMTP_ADDR_SYNTAX);
	s = "admin";
	assert_int_equal(smtp_parse_address(s, strlen(s), false, &p),
	    SMTP_ADDR_SYNTAX);
	s = "";
	assert_int_equal(smtp_parse_address(s, 0, false, &p), SMTP_ADDR_SYNTAX);
	s = "admin@example.test ";
	assert_int_equal(smtp_parse_address(s, strlen(s), false, &p),
	    SMTP_ADDR_SYNTAX);
	s = "@r.example:admin@example.test";
	assert_int_equal(smtp_parse_address(s, strlen(s), false, &p),
	    SMTP_ADDR_SYNTAX);
	s = "j\xc3\xb6@example.test";
	assert_int_equal(smtp_parse_address(s, strlen(s), false, &p),
	    SMTP_ADDR_UTF8);
	assert_int_equal(smtp_parse_address(s, strlen(s), true, &p), SMTP_ADDR_OK);
	assert_true(p.utf8);
}

static bool
helo(const char *s)
{
	return smtp_valid_helo(s, strlen(s));
}

static void
test_helo(void **state)
{
	char label[80], buf[400];

	(void)state;
	assert_true(helo("mx.example.org"));
	assert_true(helo("localhost"));
	assert_true(helo("MX1.Example.ORG"));
	assert_true(helo("a"));
	assert_true(helo("[192.0.2.1]"));
	assert_true(helo("[IPv6:2001:db8::25]"));
	assert_false(helo(""));
	assert_false(helo("mx.example.org."));
	assert_false(helo(".example.org"));
	assert_false(helo("mx..example.org"));
	assert_false(helo("-mx.example.org"));
	assert_false(helo("mx_1.example.org"));
	assert_false(helo("mx example.org"));
	assert_false(helo("192.0.2.1]"));
	assert_false(helo("[192.0.2.1"));
	assert_false(helo("[300.0.2.1]"));
	assert_false(helo("[mx.example.org]"));
	assert_false(helo("m\xc3\xa9.example.org"));
	assert_false(helo("user@example.org"));
	assert_false(smtp_valid_helo("mx\0.example.org", 15));
	snprintf(buf, sizeof(buf), "%s.example", rep(label, 'h', 64));
	assert_false(helo(buf));
	snprintf(buf, sizeof(buf), "%s.example", rep(label, 'h', 63));
	assert_true(helo(buf));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple),
		cmocka_unit_test(test_percent_and_bang_kept),
		cmocka_unit_test(test_quoted_local),
		cmocka_unit_test(test_bad_dot_string),
		cmocka_unit_test(test_bad_brackets),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_address_literals),
		cmocka_unit_test(test_source_routes),
		cmocka_unit_test(test_postmaster),
		cmocka_unit_test(test_null_path),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_rcpt_params),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_bare_address),
		cmocka_unit_test(test_long_local),
		cmocka_unit_test(test_helo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
