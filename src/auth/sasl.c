/*
 * SMTP AUTH mechanisms PLAIN (RFC 4616) and LOGIN: see sasl.h.  A pure
 * state machine: the session passes the AUTH argument and each response
 * line, sends back "334 " + the challenge we return, and on SASL_DONE
 * checks authcid/password itself (auth/password.c).
 *
 * Trusts nothing in the client's lines.  Base64 is decoded by the strict
 * decoder below (RFC 4648 4: length a multiple of 4, padding required,
 * no white space, no characters outside the alphabet, pad bits zero),
 * into a fixed buffer that is wiped after every use, as are the fields
 * on any failure: a password never outlives the exchange that carried it.
 * Limits: each field at most SASL_FIELD_MAX octets; a response longer than
 * a PLAIN message with three full fields is refused before decoding.
 * Challenges are fixed strings (LOGIN's "Username:" and "Password:", the
 * empty PLAIN challenge), so there is no encoder here.
 */
#include "auth/sasl.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A PLAIN message: authzid NUL authcid NUL passwd, each field full. */
#define SASL_DECODED_MAX	(3 * SASL_FIELD_MAX + 2)
#define SASL_ENCODED_MAX	(4 * ((SASL_DECODED_MAX + 2) / 3))

/* draft-murchison-sasl-login: base64 of "Username:" and "Password:". */
#define LOGIN_CHALLENGE_USER	"VXNlcm5hbWU6"
#define LOGIN_CHALLENGE_PASS	"UGFzc3dvcmQ6"

/* step values: what the next response line is. */
enum {
	STEP_IDLE,		/* nothing expected: done, failed or not started */
	STEP_PLAIN,		/* the PLAIN message */
	STEP_LOGIN_USER,	/* LOGIN user name */
	STEP_LOGIN_PASS,	/* LOGIN password */
};

enum sasl_mech
sasl_mech_parse(const char *name, size_t len)
{
	if (len == 5 && strncasecmp(name, "PLAIN", 5) == 0)
		return SASL_MECH_PLAIN;
	if (len == 5 && strncasecmp(name, "LOGIN", 5) == 0)
		return SASL_MECH_LOGIN;
	return SASL_MECH_UNKNOWN;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict RFC 4648 base64.  Returns the decoded length, -1 on bad syntax,
 * -2 when the result would not fit in outlen.  The empty string decodes
 * to nothing (RFC 4954 4: an empty response line is an empty response).
 */
static long
b64_decode(const char *in, size_t len, unsigned char *out, size_t outlen)
{
	size_t pad = 0, n;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && in[len - 1] == '=')
		pad = len > 1 && in[len - 2] == '=' ? 2 : 1;
	n = len / 4 * 3 - pad;
	for (size_t i = 0; i < len - pad; i++)
		if (b64_value((unsigned char)in[i]) < 0)
			return -1;
	if (n > outlen)
		return -2;
	for (size_t i = 0, o = 0; i < len; i += 4) {
		int a = b64_value((unsigned char)in[i]);
		int b = b64_value((unsigned char)in[i + 1]);
		int c = i + 2 < len - pad ? b64_value((unsigned char)in[i + 2]) : 0;
		int d = i + 3 < len - pad ? b64_value((unsigned char)in[i + 3]) : 0;
		unsigned long v = (unsigned long)a << 18 | (unsigned long)b << 12 |
		    (unsigned long)c << 6 | (unsigned long)d;

		/* Canonical form (RFC 4648 3.5): the bits the padding
		 * stands for are zero, so one text means one value. */
		if ((i + 4 == len && pad == 2 && (v & 0xffff) != 0) ||
		    (i + 4 == len && pad == 1 && (v & 0xff) != 0))
			return -1;
		out[o++] = (unsigned char)(v >> 16);
		if (o < n)
			out[o++] = (unsigned char)(v >> 8);
		if (o < n)
			out[o++] = (unsigned char)v;
	}
	return (long)n;
}

/* Wipe the secrets, keep nothing usable; the exchange is over. */
static enum sasl_status
fail(struct sasl_exchange *x, enum sasl_status st)
{
	enum sasl_mech mech = x->mech;

	sasl_clear(x);
	x->mech = mech;
	return st;
}

/* Copy a decoded field; it must be short and hold no NUL. */
static bool
field_set(char *dst, const unsigned char *src, size_t len)
{
	if (len > SASL_FIELD_MAX || memchr(src, '\0', len) != NULL)
		return false;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return true;
}

/* RFC 4616 2: message = [authzid] UTF8NUL authcid UTF8NUL passwd, with
 * authcid and passwd non-empty.  Exactly two NULs. */
static enum sasl_status
plain_message(struct sasl_exchange *x, const unsigned char *m, size_t len)
{
	const unsigned char *n1 = memchr(m, '\0', len), *n2;
	size_t zlen, clen, plen;

	if (n1 == NULL)
		return fail(x, SASL_MALFORMED);
	n2 = memchr(n1 + 1, '\0', len - (size_t)(n1 + 1 - m));
	if (n2 == NULL)
		return fail(x, SASL_MALFORMED);
	zlen = (size_t)(n1 - m);
	clen = (size_t)(n2 - n1 - 1);
	plen = len - (size_t)(n2 + 1 - m);
	if (clen == 0 || plen == 0 ||
	    !field_set(x->authzid, m, zlen) ||
	    !field_set(x->authcid, n1 + 1, clen) ||
	    !field_set(x->password, n2 + 1, plen))
		return fail(x, SASL_MALFORMED);
	x->step = STEP_IDLE;
	return SASL_DONE;
}

static enum sasl_status
set_challenge(struct sasl_exchange *x, const char *text, char *challenge,
    size_t chlen)
{
	int n = snprintf(challenge, chlen, "%s", text);

	if (n < 0 || (size_t)n >= chlen)
		return fail(x, SASL_MALFORMED);	/* caller's buffer too small */
	return SASL_CONTINUE;
}

/* One decoded response, at the current step. */
static enum sasl_status
consume(struct sasl_exchange *x, const unsigned char *m, size_t len,
    char *challenge, size_t chlen)
{
	switch (x->step) {
	case STEP_PLAIN:
		return plain_message(x, m, len);
	case STEP_LOGIN_USER:
		if (len == 0 || !field_set(x->authcid, m, len))
			return fail(x, SASL_MALFORMED);
		x->step = STEP_LOGIN_PASS;
		return set_challenge(x, LOGIN_CHALLENGE_PASS, challenge, chlen);
	case STEP_LOGIN_PASS:
		if (len == 0 || !field_set(x->password, m, len))
			return fail(x, SASL_MALFORMED);
		x->step = STEP_IDLE;
		return SASL_DONE;
	default:
		return fail(x, SASL_MALFORMED);
	}
}

/* Decode one line (initial response or response) and consume it. */
static enum sasl_status
respond(struct sasl_exchange *x, const char *line, size_t len,
    char *challenge, size_t chlen)
{
	unsigned char buf[SASL_DECODED_MAX];
	enum sasl_status st;
	long n;

	/* RFC 4954 4: "*" cancels the exchange. */
	if (len == 1 && line[0] == '*')
		return fail(x, SASL_CANCELLED);
	if (len > SASL_ENCODED_MAX) {
		/* Still say "bad base64" for junk, "too long" only for
		 * well-formed text, so the reply tells the client why. */
		n = b64_decode(line, len, NULL, 0);
		return fail(x, n == -1 ? SASL_BAD_BASE64 : SASL_MALFORMED);
	}
	n = b64_decode(line, len, buf, sizeof(buf));
	if (n < 0) {
		explicit_bzero(buf, sizeof(buf));
		return fail(x, n == -1 ? SASL_BAD_BASE64 : SASL_MALFORMED);
	}
	st = consume(x, buf, (size_t)n, challenge, chlen);
	explicit_bzero(buf, sizeof(buf));
	return st;
}

enum sasl_status
sasl_start(struct sasl_exchange *x, enum sasl_mech mech, const char *initial,
    size_t initial_len, char *challenge, size_t chlen)
{
	sasl_clear(x);
	x->mech = mech;
	switch (mech) {
	case SASL_MECH_PLAIN:
		x->step = STEP_PLAIN;
		if (initial == NULL)	/* RFC 4954 4: empty challenge */
			return set_challenge(x, "", challenge, chlen);
		break;
	case SASL_MECH_LOGIN:
		x->step = STEP_LOGIN_USER;
		if (initial == NULL)
			return set_challenge(x, LOGIN_CHALLENGE_USER,
			    challenge, chlen);
		break;
	default:
		return fail(x, SASL_MALFORMED);
	}
	/* RFC 4954 4: "=" is an initial response of zero length. */
	if (initial_len == 1 && initial[0] == '=')
		return consume(x, (const unsigned char *)"", 0, challenge,
		    chlen);
	return respond(x, initial, initial_len, challenge, chlen);
}

enum sasl_status
sasl_step(struct sasl_exchange *x, const char *line, size_t len,
    char *challenge, size_t chlen)
{
	if (x->step == STEP_IDLE)
		return fail(x, SASL_MALFORMED);
	return respond(x, line, len, challenge, chlen);
}

void
sasl_clear(struct sasl_exchange *x)
{
	explicit_bzero(x, sizeof(*x));
	x->mech = SASL_MECH_UNKNOWN;
	x->step = STEP_IDLE;
}
