/*
 * Unit tests of the SASL mechanisms (src/auth/sasl.c): PLAIN with and
 * without authzid, as an initial response and after the empty challenge;
 * LOGIN in both forms; "*" cancellation; strict base64 (padding, length,
 * white space, alphabet, pad bits); malformed messages; length limits;
 * and that secrets are wiped on failure and by sasl_clear().
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

#include "auth/sasl.h"

/* A plain RFC 4648 encoder, for building test input. */
static char *
b64(const void *data, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		unsigned long v = (unsigned long)p[i] << 16;

		if (i + 1 < len)
			v |= (unsigned long)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static enum sasl_status
start(struct sasl_exchange *x, enum sasl_mech m, const char *initial,
    char *ch)
{
	return sasl_start(x, m, initial, initial ? strlen(initial) : 0, ch, 64);
}

static enum sasl_status
step(struct sasl_exchange *x, const char *line, char *ch)
{
	return sasl_step(x, line, strlen(line), ch, 64);
}

static bool
all_zero(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != 0)
			return false;
	return true;
}

static void
assert_wiped(const struct sasl_exchange *x)
{
	assert_true(all_zero(x->authzid, sizeof(x->authzid)));
	assert_true(all_zero(x->authcid, sizeof(x->authcid)));
	assert_true(all_zero(x->password, sizeof(x->password)));
}

static void
test_mech_parse(void **state)
{
	(void)state;
	assert_int_equal(sasl_mech_parse("PLAIN", 5), SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse("plain", 5), SASL_MECH_PLAIN);
	assert_int_equal(sasl_mech_parse("Login", 5), SASL_MECH_LOGIN);
	assert_int_equal(sasl_mech_parse("PLAINX", 6), SASL_MECH_UNKNOWN);
	assert_int_equal(sasl_mech_parse("PLAI", 4), SASL_MECH_UNKNOWN);
	assert_int_equal(sasl_mech_parse("CRAM-MD5", 8), SASL_MECH_UNKNOWN);
	assert_int_equal(sasl_mech_parse("", 0), SASL_MECH_UNKNOWN);
}

static void
test_plain_initial(void **state)
{
	struct sasl_exchange x;
	char ch[64];
	char *r = b64("\0alice@example.test\0s3cret", 26);

	(void)state;
	assert_int_equal(start(&x, SASL_MECH_PLAIN, r, ch), SASL_DONE);
	assert_string_equal(x.authzid, "");
	assert_string_equal(x.authcid, "alice@example.test");
	assert_string_equal(x.password, "s3cret");
	/* Nothing more is expected after DONE. */
	assert_int_equal(step(&x, r, ch), SASL_MALFORMED);
	assert_wiped(&x);
	free(r);
}

static void
test_plain_authzid(void **state)
{
	struct sasl_exchange x;
	char ch[64];
	char *r = b64("bob@example.test\0alice@example.test\0pw", 38);

	(void)state;
	assert_int_equal(start(&x, SASL_MECH_PLAIN, r, ch), SASL_DONE);
	assert_string_equal(x.authzid, "bob@example.test");
	assert_string_equal(x.authcid, "alice@example.test");
	assert_string_equal(x.password, "pw");
	sasl_clear(&x);
	assert_wiped(&x);
	assert_int_equal(x.mech, SASL_MECH_UNKNOWN);
	free(r);
}

static void
test_plain_continued(void **state)
{
	struct sasl_exchange x;
	char ch[64];
	char *r = b64("\0alice\0pw", 9);

	(void)state;
	memset(ch, 'x', sizeof(ch));
	assert_int_equal(start(&x, SASL_MECH_PLAIN, NULL, ch), SASL_CONTINUE);
	assert_string_equal(ch, "");	/* RFC 4954 4: empty challenge */
	assert_int_equal(step(&x, r, ch), SASL_DONE);
	assert_string_equal(x.authcid, "alice");
	assert_string_equal(x.password, "pw");
	sasl_clear(&x);
	free(r);
}

static void
test_plain_malformed(void **state)
{
	static const struct {
		const char *m;
		size_t len;
	} bad[] = {
		{ "alice", 5 },				/* no NUL */
		{ "\0alice", 6 },			/* one NUL */
		{ "\0alice\0pw\0x", 11 },		/* three NULs */
		{ "\0\0pw", 4 },			/* empty authcid */
		{ "\0alice\0", 7 },			/* empty password */
		{ "", 0 },				/* empty */
	};
	struct sasl_exchange x;
	char ch[64];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *r = b64(bad[i].m, bad[i].len);

		assert_int_equal(start(&x, SASL_MECH_PLAIN, r, ch),
		    SASL_MALFORMED);
		assert_wiped(&x);
		free(r);
	}
	/* "=" is the empty initial response (RFC 4954 4): malformed PLAIN. */
	assert_int_equal(start(&x, SASL_MECH_PLAIN, "=", ch), SASL_MALFORMED);
	/* An empty response line after the challenge: the same. */
	assert_int_equal(start(&x, SASL_MECH_PLAIN, NULL, ch), SASL_CONTINUE);
	assert_int_equal(step(&x, "", ch), SASL_MALFORMED);
}

static void
test_login_both_forms(void **state)
{
	struct sasl_exchange x;
	char ch[64];
	char *u = b64("alice@example.test", 18), *p = b64("pw pw", 5);

	(void)state;
	assert_int_equal(start(&x, SASL_MECH_LOGIN, NULL, ch), SASL_CONTINUE);
	assert_string_equal(ch, "VXNlcm5hbWU6");
	assert_int_equal(step(&x, u, ch), SASL_CONTINUE);
	assert_string_equal(ch, "UGFzc3dvcmQ6");
	assert_int_equal(step(&x, p, ch), SASL_DONE);
	assert_string_equal(x.authcid, "alice@example.test");
	assert_string_equal(x.password, "pw pw");
	assert_string_equal(x.authzid, "");
	sasl_clear(&x);

	/* Initial response = the user name. */
	assert_int_equal(start(&x, SASL_MECH_LOGIN, u, ch), SASL_CONTINUE);
	assert_string_equal(ch, "UGFzc3dvcmQ6");
	assert_int_equal(step(&x, p, ch), SASL_DONE);
	assert_string_equal(x.authcid, "alice@example.test");
	assert_string_equal(x.password, "pw pw");
	sasl_clear(&x);

	/* Empty user or password, NUL inside: malformed. */
	assert_int_equal(start(&x, SASL_MECH_LOGIN, "=", ch), SASL_MALFORMED);
	assert_int_equal(start(&x, SASL_MECH_LOGIN, u, ch), SASL_CONTINUE);
	assert_int_equal(step(&x, "", ch), SASL_MALFORMED);
	assert_wiped(&x);
	free(u);
	u = b64("al\0ce", 5);
	assert_int_equal(start(&x, SASL_MECH_LOGIN, u, ch), SASL_MALFORMED);
	free(u);
	free(p);
}

static void
test_cancel(void **state)
{
	struct sasl_exchange x;
	char ch[64];
	char *u = b64("alice", 5);

	(void)state;
	assert_int_equal(start(&x, SASL_MECH_LOGIN, NULL, ch), SASL_CONTINUE);
	assert_int_equal(step(&x, "*", ch), SASL_CANCELLED);
	assert_int_equal(start(&x, SASL_MECH_LOGIN, u, ch), SASL_CONTINUE);
	assert_int_equal(step(&x, "*", ch), SASL_CANCELLED);
	assert_wiped(&x);
	assert_int_equal(start(&x, SASL_MECH_PLAIN, NULL, ch), SASL_CONTINUE);
	assert_int_equal(step(&x, "*", ch), SASL_CANCELLED);
	assert_int_equal(start(&x, SASL_MECH_PLAIN, "*", ch), SASL_CANCELLED);
	free(u);
}

static void
test_bad_base64(void **state)
{
	static const char *const bad[] = {
		"AGFsaWNlAHB3",		/* fine: control, checked below */
		"AGFsaWNlAHB",		/* length not a multiple of 4 */
		"AGFsaWNl AHB3",	/* space */
		"AGFsaWNlAHB3\t",	/* tab */
		"AGFs=WNlAHB3",		/* padding in the middle */
		"AGFsaWNlAHB3====",	/* too much padding */
		"AGFsaWNlAH!3",		/* outside the alphabet */
		"AGFsaWNlAHB3=",	/* lone trailing = */
		"QR==",			/* non-zero pad bits ("A" is QQ==) */
		"QUJ=",			/* non-zero pad bits ("AB" is QUI=) */
		"AGFsaWNlAHB3\r",	/* CR */
	};
	struct sasl_exchange x;
	char ch[64];

	(void)state;
	assert_int_equal(start(&x, SASL_MECH_PLAIN, bad[0], ch), SASL_DONE);
	assert_string_equal(x.authcid, "alice");
	assert_string_equal(x.password, "pw");
	for (size_t i = 1; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(start(&x, SASL_MECH_PLAIN, bad[i], ch),
		    SASL_BAD_BASE64);
		assert_int_equal(start(&x, SASL_MECH_LOGIN, NULL, ch),
		    SASL_CONTINUE);
		assert_int_equal(step(&x, bad[i], ch), SASL_BAD_BASE64);
	}
	/* Canonical padding forms decode. */
	assert_int_equal(start(&x, SASL_MECH_LOGIN, "QQ==", ch), SASL_CONTINUE);
	assert_string_equal(x.authcid, "A");
	assert_int_equal(start(&x, SASL_MECH_LOGIN, "QUI=", ch), SASL_CONTINUE);
	assert_string_equal(x.authcid, "AB");
	assert_int_equal(start(&x, SASL_MECH_LOGIN, "QUJD", ch), SASL_CONTINUE);
	assert_string_equal(x.authcid, "ABC");
	sasl_clear(&x);
}

static void
test_too_long(void **state)
{
	char msg[3 * SASL_FIELD_MAX + 8];
	struct sasl_exchange x;
	char ch[64], *r;

	(void)state;
	/* Each field exactly at the limit: accepted. */
	memset(msg, 'a', sizeof(msg));
	msg[SASL_FIELD_MAX] = '\0';
	msg[2 * SASL_FIELD_MAX + 1] = '\0';
	r = b64(msg, 3 * SASL_FIELD_MAX + 2);
	assert_int_equal(start(&x, SASL_MECH_PLAIN, r, ch), SASL_DONE);
	assert_int_equal(strlen(x.authzid), SASL_FIELD_MAX);
	assert_int_equal(strlen(x.password), SASL_FIELD_MAX);
	free(r);
	/* One octet more in the password: refused. */
	r = b64(msg, 3 * SASL_FIELD_MAX + 3);
	assert_int_equal(start(&x, SASL_MECH_PLAIN, r, ch), SASL_MALFORMED);
	assert_wiped(&x);
	free(r);
	/* A huge response is refused without decoding it. */
	{
		char *big = malloc(20001);

		memset(big, 'A', 20000);
		big[20000] = '\0';
		assert_int_equal(start(&x, SASL_MECH_PLAIN, big, ch),
		    SASL_MALFORMED);
		big[7] = '*';
		assert_int_equal(start(&x, SASL_MECH_PLAIN, big, ch),
		    SASL_BAD_BASE64);
		free(big);
	}
	/* A LOGIN user name one octet too long. */
	memset(msg, 'b', SASL_FIELD_MAX + 1);
	r = b64(msg, SASL_FIELD_MAX + 1);
	assert_int_equal(start(&x, SASL_MECH_LOGIN, r, ch), SASL_MALFORMED);
	free(r);
}

static void
test_wipe(void **state)
{
	struct sasl_exchange x;
	char ch[64];
	char *r = b64("zid\0alice\0secret", 16);

	(void)state;
	assert_int_equal(start(&x, SASL_MECH_PLAIN, r, ch), SASL_DONE);
	sasl_clear(&x);
	assert_wiped(&x);
	/* A failed step wipes what the exchange held so far. */
	free(r);
	r = b64("alice", 5);
	assert_int_equal(start(&x, SASL_MECH_LOGIN, r, ch), SASL_CONTINUE);
	assert_string_equal(x.authcid, "alice");
	assert_int_equal(step(&x, "!!!!", ch), SASL_BAD_BASE64);
	assert_wiped(&x);
	free(r);
	/* Unknown mechanism; too small a challenge buffer. */
	assert_int_equal(start(&x, SASL_MECH_UNKNOWN, NULL, ch),
	    SASL_MALFORMED);
	assert_int_equal(sasl_start(&x, SASL_MECH_LOGIN, NULL, 0, ch, 4),
	    SASL_MALFORMED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mech_parse),
		cmocka_unit_test(test_plain_initial),
		cmocka_unit_test(test_plain_authzid),
		cmocka_unit_test(test_plain_continued),
		cmocka_unit_test(test_plain_malformed),
		cmocka_unit_test(test_login_both_forms),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_bad_base64),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_wipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
