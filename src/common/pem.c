/*
 * PEM certificates from memory: see pem.h.  The input is key material
 * the master read as root, or a CA list; it is bounded by its reader
 * (TLS_FILE_MAX, TLS_CA_MAX), and a length over INT_MAX is refused
 * rather than cut, so what is parsed is all that was read.
 */
#include "common/pem.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>

int
pem_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return -1;
}

int
pem_certs_each(const char *pem, size_t len,
    int (*fn)(X509 *x, void *arg), void *arg)
{
	unsigned long e;
	BIO *bio;
	X509 *x;
	int n = 0;

	if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return -1;
	ERR_clear_error();
	while ((x = PEM_read_bio_X509(bio, NULL, pem_no_passphrase, NULL)) !=
	    NULL) {
		if (fn(x, arg) < 0) {
			BIO_free(bio);
			return -1;
		}
		n++;
	}
	BIO_free(bio);
	/* The end of the text, and nothing else, ends the loop well. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_PEM ||
	    ERR_GET_REASON(e) != PEM_R_NO_START_LINE)
		return -1;
	ERR_clear_error();
	return n;
}
