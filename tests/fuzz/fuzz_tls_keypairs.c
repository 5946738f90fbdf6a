/*
 * libFuzzer harness: the decoder of the master -> smtpd key material
 * message (src/tls/tls_keypair.c), which reads bytes from another
 * process.  The whole input is one message.  Invariants checked:
 *  - on error nothing is returned (NULL, 0);
 *  - on success every field is within its bound and NUL-terminated,
 *    and encoding the result gives back exactly the input (the format
 *    is canonical, so nothing was skipped or invented).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "tls/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_keypair *kps;
	struct buf b;
	size_t n, i;

	if (tls_keypairs_decode((const char *)data, size, &kps, &n) < 0) {
		if (kps != NULL || n != 0)
			abort();
		return 0;
	}
	if (n > TLS_KEYPAIRS_MAX || (n > 0 && kps == NULL))
		abort();
	for (i = 0; i < n; i++) {
		if (kps[i].cert_path == NULL ||
		    strlen(kps[i].cert_path) > TLS_PATH_MAX ||
		    kps[i].cert_len == 0 || kps[i].cert_len > TLS_FILE_MAX ||
		    kps[i].key_len == 0 || kps[i].key_len > TLS_FILE_MAX ||
		    kps[i].cert_pem[kps[i].cert_len] != '\0' ||
		    kps[i].key_pem[kps[i].key_len] != '\0')
			abort();
	}
	buf_init(&b, size);
	if (tls_keypairs_encode(kps, n, &b) < 0 || b.len != size ||
	    (size > 0 && memcmp(b.data, data, size) != 0))
		abort();
	buf_free(&b);
	tls_keypairs_free(kps, n);
	return 0;
}
