/*
 * The SRS key file's text into secrets (srs.h): pure, no I/O.
 *
 * Called by srs_keyfile.c (which reads the file) and the fuzz harness.
 * The text is the operator's, yet bounded all the same: at most
 * SRS_KEYS_MAX secrets of at most SRS_KEY_MAX octets.  Read as postsrsd
 * reads its secret file, so that one file serves both: each line one
 * secret without its "\n" or "\r\n", empty lines skipped; the first
 * secret signs, all verify (rotation: put the new one first, keep the
 * old one below until the addresses it signed have expired).
 */
#include "srs/srs.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

int
srs_keys_parse(struct srs_keys *keys, const char *text, size_t len,
    char *err, size_t errlen)
{
	size_t pos = 0, line = 0;

	memset(keys, 0, sizeof(*keys));
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t n = end - pos;

		line++;
		if (n > 0 && text[pos + n - 1] == '\r')
			n--;
		if (memchr(text + pos, '\0', n) != NULL) {
			snprintf(err, errlen, "line %zu: a NUL octet", line);
			goto fail;
		}
		if (n > SRS_KEY_MAX) {
			snprintf(err, errlen, "line %zu: a secret of more than "
			    "%d octets", line, SRS_KEY_MAX);
			goto fail;
		}
		if (n > 0) {
			if (keys->n == SRS_KEYS_MAX) {
				snprintf(err, errlen, "more than %d secrets",
				    SRS_KEYS_MAX);
				goto fail;
			}
			memcpy(keys->k[keys->n].b, text + pos, n);
			keys->k[keys->n++].len = n;
		}
		pos = end + 1;
	}
	if (keys->n == 0) {
		snprintf(err, errlen, "no secret (the file is empty)");
		goto fail;
	}
	return 0;
fail:
	srs_keys_clear(keys);
	return -1;
}

void
srs_keys_clear(struct srs_keys *keys)
{
	OPENSSL_cleanse(keys, sizeof(*keys));
}
