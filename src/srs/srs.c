/*
 * The SRS codec (srs.h, docs/forwarding.md): forward and reverse
 * addresses in the format of libsrs2 and postsrsd 1.x.
 *
 * Called by `decorum srs` (src/cli/srs_cmd.c) and, later, by the
 * forwarding path.  Trusts nothing in an address: it may come from a
 * remote MAIL FROM or RCPT TO.  Trusts the keys (the operator's file).
 *
 * The hash, as libsrs2 makes it: HMAC-SHA1 keyed with the secret over
 * the lower-cased parts one after the other (SRS0: the stamp, the
 * domain, the local part; SRS1: the first hop, then the rest of the
 * SRS0 local part after "SRS0", its separator included), in standard
 * base64, the first SRS_HASH_LEN characters.  A hash is compared
 * without case, as libsrs2 does, because some MTAs fold local parts.
 *
 * The stamp: the day number (Unix time / 86400) mod 1024 as two base32
 * characters (RFC 4648's alphabet, high five bits first).  "At most
 * max_age days old" is counted forwards from the stamp, modulo 1024, so
 * a stamp from the future is some 1000 days old: expired.
 *
 * Limits: every input at most SRS_ADDRESS_MAX octets, a plain local part
 * at most SRS_LOCAL_MAX, a domain at most SRS_DOMAIN_MAX; a result that
 * would exceed SRS_ADDRESS_MAX (or outlen) is SRS_ETOOLONG.  Results
 * keep the input's case.  Control octets, and a '=' in a domain (which
 * would shift an SRS0's fields), are refused (SRS_ESYNTAX): the result
 * goes into logs and onto the wire.
 */
#include "srs/srs.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define DAY		86400
#define STAMP_SLOTS	1024	/* 10 bits: two base32 characters */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A piece of the caller's string: not NUL-terminated. */
struct span {
	const char *p;
	size_t len;
};

/* An address split at its last '@' (a quoted local part may hold '@'). */
struct addr {
	struct span local, domain;
};

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
span_eq_nocase(struct span a, const char *b)
{
	if (strlen(b) != a.len)
		return false;
	for (size_t i = 0; i < a.len; i++)
		if (lower(a.p[i]) != lower(b[i]))
			return false;
	return true;
}

static enum srs_result
addr_split(const char *s, struct addr *a)
{
	size_t len = strnlen(s, SRS_ADDRESS_MAX + 1);
	const char *at;

	if (len > SRS_ADDRESS_MAX)
		return SRS_ETOOLONG;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return SRS_ESYNTAX;
	at = memrchr(s, '@', len);
	if (at == NULL || at == s || at + 1 == s + len)
		return SRS_ESYNTAX;
	a->local = (struct span){ s, (size_t)(at - s) };
	a->domain = (struct span){ at + 1, len - (size_t)(at - s) - 1 };
	if (a->domain.len > SRS_DOMAIN_MAX)
		return SRS_ETOOLONG;
	/* No domain holds '=': one would shift the fields of an SRS0. */
	if (memchr(a->domain.p, '=', a->domain.len) != NULL)
		return SRS_ESYNTAX;
	return SRS_OK;
}

/* "SRS0" or "SRS1" (any case) and a separator libsrs2 accepts. */
static bool
has_tag(struct span local, char digit)
{
	return local.len > 5 && lower(local.p[0]) == 's' &&
	    lower(local.p[1]) == 'r' && lower(local.p[2]) == 's' &&
	    local.p[3] == digit && strchr("=+-", local.p[4]) != NULL &&
	    local.p[4] != '\0';
}

/* The next '='-separated field of *rest, which moves past it; false
 * when there is no '=' or the field is empty. */
static bool
next_field(struct span *rest, struct span *field)
{
	const char *eq = memchr(rest->p, '=', rest->len);

	if (eq == NULL || eq == rest->p)
		return false;
	field->p = rest->p;
	field->len = (size_t)(eq - rest->p);
	rest->len -= field->len + 1;
	rest->p = eq + 1;
	return true;
}

/* The hash of parts[0..n) with key number which, SRS_HASH_LEN
 * characters and a NUL into out. */
static enum srs_result
make_hash(const struct srs_keys *keys, size_t which, const struct span *parts,
    size_t n, char out[SRS_HASH_LEN + 1])
{
	/* Parts all come from one address of at most SRS_ADDRESS_MAX
	 * octets, plus a stamp. */
	char msg[SRS_ADDRESS_MAX + 8];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	size_t len = 0;

	for (size_t i = 0; i < n; i++) {
		if (parts[i].len > sizeof(msg) - len)
			return SRS_ETOOLONG;
		for (size_t j = 0; j < parts[i].len; j++)
			msg[len++] = lower(parts[i].p[j]);
	}
	if (HMAC(EVP_sha1(), keys->k[which].b, (int)keys->k[which].len,
	    (const unsigned char *)msg, len, md, &mdlen) == NULL || mdlen < 3)
		return SRS_ECRYPTO;
	/* Four base64 characters are exactly the first three octets. */
	out[0] = b64[md[0] >> 2];
	out[1] = b64[((md[0] & 0x03) << 4) | (md[1] >> 4)];
	out[2] = b64[((md[1] & 0x0f) << 2) | (md[2] >> 6)];
	out[3] = b64[md[2] & 0x3f];
	out[4] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
	return SRS_OK;
}

/* Does some key make hash over parts?  Compared without case, in
 * constant time per key. */
static enum srs_result
check_hash(const struct srs_keys *keys, struct span hash,
    const struct span *parts, size_t n)
{
	char want[SRS_HASH_LEN + 1], got[SRS_HASH_LEN];
	enum srs_result r;

	if (hash.len != SRS_HASH_LEN)
		return SRS_EHASH;
	for (size_t i = 0; i < SRS_HASH_LEN; i++)
		got[i] = lower(hash.p[i]);
	for (size_t k = 0; k < keys->n; k++) {
		if ((r = make_hash(keys, k, parts, n, want)) != SRS_OK)
			return r;
		for (size_t i = 0; i < SRS_HASH_LEN; i++)
			want[i] = lower(want[i]);
		if (CRYPTO_memcmp(want, got, SRS_HASH_LEN) == 0)
			return SRS_OK;
	}
	return SRS_EHASH;
}

static unsigned
day_slot(time_t now)
{
	return now < 0 ? 0 : (unsigned)(((uint64_t)now / DAY) % STAMP_SLOTS);
}

static enum srs_result
check_stamp(struct span stamp, time_t now, unsigned max_age)
{
	unsigned then = 0, today = day_slot(now);

	if (stamp.len != 2)
		return SRS_ESYNTAX;
	for (size_t i = 0; i < 2; i++) {
		char c = stamp.p[i];
		const char *hit;

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c == '\0' || (hit = strchr(b32, c)) == NULL)
			return SRS_ESYNTAX;
		then = (then << 5) | (unsigned)(hit - b32);
	}
	if (today < then)
		today += STAMP_SLOTS;
	return today - then <= max_age ? SRS_OK : SRS_EEXPIRED;
}

/* snprintf into out, SRS_ETOOLONG past outlen or SRS_ADDRESS_MAX. */
static enum srs_result
emit(char *out, size_t outlen, int n)
{
	if (n < 0 || (size_t)n >= outlen || (size_t)n > SRS_ADDRESS_MAX) {
		if (outlen > 0)
			out[0] = '\0';
		return SRS_ETOOLONG;
	}
	return SRS_OK;
}

/* SRS1 for hop and rest (the foreign SRS0 local part after "SRS0"). */
static enum srs_result
forward_srs1(const struct srs_keys *keys, const char *srs_domain,
    struct span hop, struct span rest, char *out, size_t outlen)
{
	struct span parts[2] = { hop, rest };
	char hash[SRS_HASH_LEN + 1];
	enum srs_result r;

	if (rest.len == 0)
		return SRS_ESYNTAX;
	if ((r = make_hash(keys, 0, parts, 2, hash)) != SRS_OK)
		return r;
	return emit(out, outlen, snprintf(out, outlen, "SRS1=%s=%.*s=%.*s@%s",
	    hash, (int)hop.len, hop.p, (int)rest.len, rest.p, srs_domain));
}

enum srs_result
srs_forward(const struct srs_keys *keys, const char *srs_domain,
    const char *addr, time_t now, char *out, size_t outlen)
{
	struct addr a;
	struct span parts[3], rest, hash, hop;
	char stamp[3], h[SRS_HASH_LEN + 1];
	unsigned slot = day_slot(now);
	enum srs_result r;

	if (outlen > 0)
		out[0] = '\0';
	if (keys == NULL || keys->n == 0)
		return SRS_ENOKEY;
	if (strnlen(srs_domain, SRS_DOMAIN_MAX + 1) > SRS_DOMAIN_MAX)
		return SRS_ETOOLONG;
	if ((r = addr_split(addr, &a)) != SRS_OK)
		return r;
	if (span_eq_nocase(a.domain, srs_domain)) {
		r = emit(out, outlen, snprintf(out, outlen, "%s", addr));
		return r == SRS_OK ? SRS_UNCHANGED : r;
	}
	if (has_tag(a.local, '0'))	/* a foreign SRS0: SRS1 via its host */
		return forward_srs1(keys, srs_domain, a.domain,
		    (struct span){ a.local.p + 4, a.local.len - 4 }, out, outlen);
	if (has_tag(a.local, '1')) {	/* keep its first hop */
		rest = (struct span){ a.local.p + 5, a.local.len - 5 };
		if (!next_field(&rest, &hash) || !next_field(&rest, &hop))
			return SRS_ESYNTAX;
		return forward_srs1(keys, srs_domain, hop, rest, out, outlen);
	}
	if (a.local.len > SRS_LOCAL_MAX)
		return SRS_ETOOLONG;
	stamp[0] = b32[slot >> 5];
	stamp[1] = b32[slot & 31];
	stamp[2] = '\0';
	parts[0] = (struct span){ stamp, 2 };
	parts[1] = a.domain;
	parts[2] = a.local;
	if ((r = make_hash(keys, 0, parts, 3, h)) != SRS_OK)
		return r;
	return emit(out, outlen, snprintf(out, outlen, "SRS0=%s=%s=%.*s=%.*s@%s",
	    h, stamp, (int)a.domain.len, a.domain.p, (int)a.local.len,
	    a.local.p, srs_domain));
}

static enum srs_result
reverse_srs0(const struct srs_keys *keys, struct span rest, time_t now,
    unsigned max_age, char *out, size_t outlen)
{
	struct span hash, stamp, domain, parts[3];
	enum srs_result r;

	if (!next_field(&rest, &hash) || !next_field(&rest, &stamp) ||
	    !next_field(&rest, &domain) || rest.len == 0)
		return SRS_ESYNTAX;
	parts[0] = stamp;
	parts[1] = domain;
	parts[2] = rest;
	/* The hash first: a forged address learns nothing from the stamp. */
	if ((r = check_hash(keys, hash, parts, 3)) != SRS_OK ||
	    (r = check_stamp(stamp, now, max_age)) != SRS_OK)
		return r;
	return emit(out, outlen, snprintf(out, outlen, "%.*s@%.*s",
	    (int)rest.len, rest.p, (int)domain.len, domain.p));
}

static enum srs_result
reverse_srs1(const struct srs_keys *keys, struct span rest, char *out,
    size_t outlen)
{
	struct span hash, hop, parts[2];
	enum srs_result r;

	if (!next_field(&rest, &hash) || !next_field(&rest, &hop) ||
	    rest.len == 0)
		return SRS_ESYNTAX;
	parts[0] = hop;
	parts[1] = rest;
	if ((r = check_hash(keys, hash, parts, 2)) != SRS_OK)
		return r;
	/* rest starts with the first forwarder's separator: "SRS0=..." */
	return emit(out, outlen, snprintf(out, outlen, "SRS0%.*s@%.*s",
	    (int)rest.len, rest.p, (int)hop.len, hop.p));
}

enum srs_result
srs_reverse(const struct srs_keys *keys, const char *addr, time_t now,
    unsigned max_age, char *out, size_t outlen)
{
	struct addr a;
	struct span rest;
	enum srs_result r;

	if (outlen > 0)
		out[0] = '\0';
	if (keys == NULL || keys->n == 0)
		return SRS_ENOKEY;
	if ((r = addr_split(addr, &a)) != SRS_OK)
		return r;
	/* The domain after '@' is not checked, as postsrsd does not: the
	 * caller decided this address is ours. */
	rest = (struct span){ a.local.p + 5, a.local.len - 5 };
	if (has_tag(a.local, '0'))
		return reverse_srs0(keys, rest, now, max_age, out, outlen);
	if (has_tag(a.local, '1'))
		return reverse_srs1(keys, rest, out, outlen);
	return SRS_ENOTSRS;
}

const char *
srs_strerror(enum srs_result r)
{
	switch (r) {
	case SRS_OK:
		return "ok";
	case SRS_UNCHANGED:
		return "already in the SRS domain";
	case SRS_ENOTSRS:
		return "not an SRS address";
	case SRS_ESYNTAX:
		return "malformed address";
	case SRS_EHASH:
		return "hash does not verify";
	case SRS_EEXPIRED:
		return "timestamp expired";
	case SRS_ETOOLONG:
		return "address too long";
	case SRS_ENOKEY:
		return "no secret";
	case SRS_ECRYPTO:
		return "HMAC failed";
	}
	return "unknown error";
}
