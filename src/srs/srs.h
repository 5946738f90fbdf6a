/*
 * The Sender Rewriting Scheme codec (docs/forwarding.md): what a
 * forwarder puts in MAIL FROM so that SPF at the next hop passes and a
 * bounce still finds its way back, in the format of libsrs2 and
 * postsrsd, so that both read each other's addresses with the same
 * secret.
 *
 *   forward  user@example.org        -> SRS0=HHHH=TT=example.org=user@SRSDOMAIN
 *            SRS0=HHHH=TT=d=u@hop    -> SRS1=HHHH=hop==HHHH=TT=d=u@SRSDOMAIN
 *            SRS1=HHHH=hop==...@x    -> SRS1=HHHH=hop==...@SRSDOMAIN (first hop kept)
 *   reverse  SRS0=... -> user@example.org; SRS1=... -> SRS0=...@hop
 *
 * Pure: no I/O, no clock (the caller passes now), no allocation.  The
 * only library is OpenSSL's libcrypto for HMAC-SHA1.  Every output goes
 * into a caller's buffer of SRS_ADDRESS_MAX + 1 octets or more; an
 * address that would not fit is SRS_ETOOLONG, never truncated.
 */
#ifndef DECORUM_SRS_SRS_H
#define DECORUM_SRS_SRS_H

#include <stddef.h>
#include <time.h>

#define SRS_KEYS_MAX		16	/* lines of a key file */
#define SRS_KEY_MAX		256	/* octets of one secret */
#define SRS_LOCAL_MAX		64	/* RFC 5321 4.5.3.1.1, a plain local part */
#define SRS_DOMAIN_MAX		255	/* RFC 5321 4.5.3.1.2 */
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its "<" ">". */
#define SRS_ADDRESS_MAX		254
#define SRS_HASH_LEN		4	/* as postsrsd's -n/-N defaults */
#define SRS_MAX_AGE_DEFAULT	21	/* days, as libsrs2 and postsrsd */
#define SRS_MAX_AGE_MAX		1000	/* below the 1024-day wrap of TT */

enum srs_result {
	SRS_OK = 0,
	SRS_UNCHANGED,		/* forward: already in the SRS domain, copied */
	SRS_ENOTSRS,		/* reverse: no SRS0/SRS1 local part */
	SRS_ESYNTAX,		/* no '@', empty parts, missing separators */
	SRS_EHASH,		/* no key makes this hash */
	SRS_EEXPIRED,		/* timestamp older than max_age, or future */
	SRS_ETOOLONG,		/* an input or the result over the limits */
	SRS_ENOKEY,		/* no keys to sign or check with */
	SRS_ECRYPTO,		/* libcrypto failed */
};

/* The secrets, as the key file gives them: keys[0] signs, every one
 * verifies (rotation). */
struct srs_keys {
	size_t n;
	struct {
		unsigned char b[SRS_KEY_MAX];
		size_t len;
	} k[SRS_KEYS_MAX];
};

/*
 * The key file's text (len octets, need not be NUL-terminated) into
 * keys, as postsrsd reads its secret file: one secret per line, the
 * line end ("\n" or "\r\n") not part of it, empty lines skipped.  -1
 * with a message in err for a line over SRS_KEY_MAX, more than
 * SRS_KEYS_MAX secrets, a NUL octet, or no secret at all.
 */
int srs_keys_parse(struct srs_keys *keys, const char *text, size_t len,
    char *err, size_t errlen);
/* Wipe the secrets (OPENSSL_cleanse). */
void srs_keys_clear(struct srs_keys *keys);

/* addr (no angle brackets) rewritten for a forwarder whose SRS domain
 * is srs_domain, into out (outlen octets), stamped with now's day. */
enum srs_result srs_forward(const struct srs_keys *keys, const char *srs_domain,
    const char *addr, time_t now, char *out, size_t outlen);
/* An SRS0 or SRS1 address back to the one it was made from, if a key
 * verifies its hash and (SRS0) its stamp is at most max_age days old. */
enum srs_result srs_reverse(const struct srs_keys *keys, const char *addr,
    time_t now, unsigned max_age, char *out, size_t outlen);

/* A short English text for r ("hash does not verify"). */
const char *srs_strerror(enum srs_result r);

#endif
