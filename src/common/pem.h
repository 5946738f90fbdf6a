/*
 * PEM certificates read from memory, the one way: the TLS server's chain
 * (tls/tls.c), check-config's look at it (tls/tls_config.c), the client's
 * trust anchors (tls/tls_client.c) and a transport's tls_ca as the config
 * loader reads it (common/config_outbound.c).  It lives in common/, the
 * lowest layer that needs it; tls/ is above.
 *
 * OpenSSL reads PEM blocks until none is left, and says so with
 * PEM_R_NO_START_LINE; any other error is a block that does not parse.
 * Text before, between and after the blocks is skipped, as OpenSSL does.
 * Nothing here ever asks for a passphrase.
 */
#ifndef DECORUM_COMMON_PEM_H
#define DECORUM_COMMON_PEM_H

#include <stddef.h>
#include <openssl/x509.h>

/* The passphrase callback for every PEM read: none, never a prompt
 * (check-config may run on a terminal). */
int pem_no_passphrase(char *buf, int size, int rwflag, void *u);

/*
 * Hand each certificate of the len bytes at pem, in order, to fn, which
 * owns it from then on (keeps it or X509_frees it) and returns 0 to go
 * on, -1 to stop.  Returns how many fn took, or -1 when a block did not
 * parse or fn stopped: OpenSSL's error queue then says why (the caller
 * drains it); after a clean end it is empty.
 */
int pem_certs_each(const char *pem, size_t len,
    int (*fn)(X509 *x, void *arg), void *arg);

#endif
