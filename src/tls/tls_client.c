/*
 * Client-side TLS for outbound SMTP and LMTP (RFC 3207 STARTTLS).
 *
 * Opportunistic by default, as RFC 7435 describes: encrypt whenever the
 * server offers STARTTLS, without authenticating it (most MX hosts show
 * certificates no client could check by name; DANE and MTA-STS will
 * bring authentication where the domain asks for it).  The result of
 * the check is still logged.  TLS 1.2 and later, like the server side:
 * a peer that can only speak older versions gets plaintext instead (the
 * client retries without STARTTLS), which is no worse than what it had.
 */
#include "tls/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>

SSL_CTX *
tls_client_ctx_new(char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char why[256];

	if (ctx == NULL ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_TLS12) != 1) {
		tls_error_text(why, sizeof(why));
		snprintf(err, errlen, "TLS client context: %s", why);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION);
	/* Verified or not, the handshake goes on; the result is logged.
	 * The CA folder is looked up per certificate (hashed names), not
	 * loaded whole: the bundle file would cost megabytes per process
	 * for what is only a log field. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (SSL_CTX_load_verify_dir(ctx, X509_get_default_cert_dir()) != 1)
		ERR_clear_error();	/* no system CAs: everything "unverified" */
	return ctx;
}

SSL *
tls_client_ssl(SSL_CTX *ctx, const char *server_name)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return NULL;
	/* SNI only for names, never for address literals (RFC 6066 3). */
	if (server_name != NULL && server_name[0] != '\0' &&
	    server_name[0] != '[' &&
	    SSL_set_tlsext_host_name(ssl, server_name) != 1)
		ERR_clear_error();
	return ssl;
}
