/*
 * TLS key material as plain bytes: reading the certificate and key files
 * (the master does this, as root) and the wire format that carries them
 * to the unprivileged smtpd on SIGHUP.  No OpenSSL here, so the decoder
 * can be fuzzed on its own (tests/fuzz/fuzz_tls_keypairs.c).
 *
 * Callers: the master (tls_keypair_read, tls_keypairs_encode), the smtpd
 * (tls_keypairs_decode), then tls_server_new() in tls.c.
 *
 * Trust: the files are the operator's, but still read bounded
 * (TLS_FILE_MAX), and only where the smtpd's account cannot have
 * changed them (common/rootfile.h: the master sends what it read to
 * the smtpd, so a link planted there would leak another key).  The decoder's input comes from another process, so it
 * is treated as hostile: every count and length is checked against the
 * bytes that remain before it is used, and the input must be consumed
 * exactly.
 *
 * Wire format (all integers 32-bit big-endian):
 *   "DTK1" count { path_len path cert_len cert key_len key } * count
 * count <= TLS_KEYPAIRS_MAX, path_len <= TLS_PATH_MAX (no NUL inside),
 * cert_len and key_len in 1..TLS_FILE_MAX.
 *
 * Invariant: every copy of a private key this file makes is wiped
 * (explicit_bzero) before it is freed.
 */
#include "tls/tls.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/rootfile.h"
#include "common/xmalloc.h"

#define WIRE_MAGIC	"DTK1"
#define WIRE_MAGIC_LEN	4

/* "PATH: why".  A truncated message is still useful, so truncation is
 * accepted here; an encoding error leaves an empty string. */
static void
err_set(char *err, size_t errlen, const char *path, const char *why)
{
	if (err == NULL || errlen == 0)
		return;
	if (snprintf(err, errlen, "%s: %s", path, why) < 0)
		err[0] = '\0';
}

static void
err_errno(char *err, size_t errlen, const char *path, int e)
{
	char why[128];

	if (e == ENOENT)
		err_set(err, errlen, path, "missing (no such file)");
	else {
		if (snprintf(why, sizeof(why), "unreadable (%s)",
		    strerror(e)) < 0)
			why[0] = '\0';
		err_set(err, errlen, path, why);
	}
}

/*
 * Read one whole file of at most TLS_FILE_MAX bytes into a fresh
 * NUL-terminated buffer.  Only regular files: a FIFO or device named by
 * mistake would block the master or never end.  Opened by the rules of
 * common/rootfile.h: root reads it, and the smtpd gets what it holds.
 */
static int
file_read(const char *path, const struct rootfile_rules *rules, char **out,
    size_t *outlen, char *err, size_t errlen)
{
	char why[256];
	struct stat st;
	char *data = NULL;
	size_t len = 0, cap;
	ssize_t r;
	int fd, saved;

	fd = rootfile_open(path, rules, NULL, 0, why, sizeof(why));
	if (fd == -1) {
		err_errno(err, errlen, path, errno);
		return -1;
	}
	if (fd < 0) {
		err_set(err, errlen, path, why);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		saved = errno;
		close(fd);
		err_errno(err, errlen, path, saved);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		err_set(err, errlen, path, "not a regular file");
		return -1;
	}
	if (st.st_size > TLS_FILE_MAX) {
		close(fd);
		err_set(err, errlen, path,
		    "too big (more than 1 MiB)");
		return -1;
	}
	/* One spare octet detects a file that grew after fstat. */
	cap = (size_t)TLS_FILE_MAX + 2;
	data = xmalloc(cap);
	for (;;) {
		r = read(fd, data + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			saved = errno;
			close(fd);
			xfree_secret(data, cap);
			err_errno(err, errlen, path, saved);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > TLS_FILE_MAX) {
			close(fd);
			xfree_secret(data, cap);
			err_set(err, errlen, path,
			    "too big (more than 1 MiB)");
			return -1;
		}
	}
	close(fd);
	if (len == 0) {
		xfree_secret(data, cap);
		err_set(err, errlen, path, "empty");
		return -1;
	}
	/* Shrink to size, through a copy so no unwiped key is left behind. */
	*out = xmalloc(len + 1);
	memcpy(*out, data, len);
	(*out)[len] = '\0';
	*outlen = len;
	xfree_secret(data, cap);
	return 0;
}

enum tls_keypair_fault
tls_keypair_read(const char *cert_path, const char *key_path,
    const struct rootfile_rules *rules, struct tls_keypair *kp, char *err,
    size_t errlen)
{
	memset(kp, 0, sizeof(*kp));
	if (file_read(cert_path, rules, &kp->cert_pem, &kp->cert_len, err,
	    errlen) < 0)
		return TLS_KEYPAIR_BAD_CERT;
	if (file_read(key_path, rules, &kp->key_pem, &kp->key_len, err,
	    errlen) < 0) {
		free(kp->cert_pem);
		memset(kp, 0, sizeof(*kp));
		return TLS_KEYPAIR_BAD_KEY;
	}
	kp->cert_path = xstrdup(cert_path);
	return TLS_KEYPAIR_OK;
}

static void
keypair_clear(struct tls_keypair *kp)
{
	free(kp->cert_path);
	free(kp->cert_pem);
	if (kp->key_pem != NULL)
		xfree_secret(kp->key_pem, kp->key_len + 1);
	memset(kp, 0, sizeof(*kp));
}

void
tls_keypair_free(struct tls_keypair *kp)
{
	if (kp != NULL)
		keypair_clear(kp);
}

void
tls_keypairs_free(struct tls_keypair *kps, size_t n)
{
	size_t i;

	if (kps == NULL)
		return;
	for (i = 0; i < n; i++)
		keypair_clear(&kps[i]);
	free(kps);
}

static uint8_t *
put_bytes(uint8_t *p, const void *data, size_t len)
{
	p = buf_put_be32(p, (uint32_t)len);
	if (len > 0)
		memcpy(p, data, len);
	return p + len;
}

/* One keypair's share of the encoding. */
static size_t
keypair_wire_size(const struct tls_keypair *kp)
{
	return 12 + (kp->cert_path != NULL ? strlen(kp->cert_path) : 0) +
	    kp->cert_len + kp->key_len;
}

size_t
tls_keypairs_encoded_size(const struct tls_keypair *kps, size_t n)
{
	size_t total = WIRE_MAGIC_LEN + 4;

	for (size_t i = 0; i < n; i++)
		total += keypair_wire_size(&kps[i]);
	return total;
}

int
tls_keypairs_encode(const struct tls_keypair *kps, size_t n, struct buf *out)
{
	size_t total = WIRE_MAGIC_LEN + 4, i, plen;
	uint8_t *tmp, *p;
	int rc;

	if (n > TLS_KEYPAIRS_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		plen = kps[i].cert_path ? strlen(kps[i].cert_path) : 0;
		if (plen > TLS_PATH_MAX || kps[i].cert_pem == NULL ||
		    kps[i].key_pem == NULL || kps[i].cert_len == 0 ||
		    kps[i].key_len == 0 || kps[i].cert_len > TLS_FILE_MAX ||
		    kps[i].key_len > TLS_FILE_MAX)
			return -1;
		/* Bounded by 64 * (4 KiB + 2 MiB + 12): no overflow. */
		total += keypair_wire_size(&kps[i]);
	}
	/*
	 * Build the whole encoding in one exact-size block and append it in
	 * one go, so the key bytes are never left behind in a buffer that
	 * realloc moved; the block is wiped here, out is the caller's.
	 */
	tmp = xmalloc(total);
	p = tmp;
	memcpy(p, WIRE_MAGIC, WIRE_MAGIC_LEN);
	p = buf_put_be32(p + WIRE_MAGIC_LEN, (uint32_t)n);
	for (i = 0; i < n; i++) {
		plen = kps[i].cert_path ? strlen(kps[i].cert_path) : 0;
		p = put_bytes(p, kps[i].cert_path, plen);
		p = put_bytes(p, kps[i].cert_pem, kps[i].cert_len);
		p = put_bytes(p, kps[i].key_pem, kps[i].key_len);
	}
	rc = buf_append(out, tmp, total);
	xfree_secret(tmp, total);
	return rc;
}

/* A cursor over hostile input: every take checks what remains. */
struct reader {
	const uint8_t *p;
	size_t left;
};

static int
take_u32(struct reader *r, size_t *v)
{
	if (r->left < 4)
		return -1;
	*v = buf_get_be32(r->p);
	r->p += 4;
	r->left -= 4;
	return 0;
}

/* A length-prefixed field of min..max bytes, copied NUL-terminated. */
static int
take_field(struct reader *r, size_t min, size_t max, char **out,
    size_t *outlen)
{
	size_t len;

	if (take_u32(r, &len) < 0 || len < min || len > max || len > r->left)
		return -1;
	*out = xmalloc(len + 1);
	if (len > 0)
		memcpy(*out, r->p, len);
	(*out)[len] = '\0';
	*outlen = len;
	r->p += len;
	r->left -= len;
	return 0;
}

int
tls_keypairs_decode(const char *data, size_t len, struct tls_keypair **kps,
    size_t *n)
{
	struct reader r = { (const uint8_t *)data, len };
	struct tls_keypair *arr;
	size_t count, i, plen;

	*kps = NULL;
	*n = 0;
	if (data == NULL || len < WIRE_MAGIC_LEN ||
	    memcmp(data, WIRE_MAGIC, WIRE_MAGIC_LEN) != 0)
		return -1;
	r.p += WIRE_MAGIC_LEN;
	r.left -= WIRE_MAGIC_LEN;
	/* Each keypair needs at least 12 length octets plus 2 data octets:
	 * a count the input cannot hold is refused before allocating. */
	if (take_u32(&r, &count) < 0 || count > TLS_KEYPAIRS_MAX ||
	    count > r.left / 14)
		return -1;
	arr = xcalloc(count, sizeof(*arr));
	for (i = 0; i < count; i++) {
		if (take_field(&r, 0, TLS_PATH_MAX, &arr[i].cert_path,
		    &plen) < 0 || memchr(arr[i].cert_path, '\0', plen) != NULL ||
		    take_field(&r, 1, TLS_FILE_MAX, &arr[i].cert_pem,
		    &arr[i].cert_len) < 0 ||
		    take_field(&r, 1, TLS_FILE_MAX, &arr[i].key_pem,
		    &arr[i].key_len) < 0)
			goto bad;
	}
	if (r.left != 0)		/* trailing bytes: not what we sent */
		goto bad;
	*kps = arr;
	*n = count;
	return 0;
bad:
	tls_keypairs_free(arr, count);
	return -1;
}
