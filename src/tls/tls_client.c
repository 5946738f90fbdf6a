/*
 * Client-side TLS for outbound SMTP and LMTP (RFC 3207 STARTTLS).
 *
 * Two policies share these contexts, chosen per connection by the
 * caller (deliver/smtp_client.c, from the transport's tls):
 *
 *  - opportunistic (tls = "may" or "require"), as RFC 7435 describes:
 *    encrypt without authenticating the server (most MX hosts show
 *    certificates no client could check by name; DANE and MTA-STS will
 *    bring authentication where the domain asks for it).  The
 *    certificate is still checked, and the result only logged.
 *  - verified (tls = "verify", and every relay with a login): the
 *    handshake itself fails unless the certificate chains to a trusted
 *    certificate and names the host (RFC 6125 6.4: DNS-ID, a wildcard
 *    only as the whole left-most label; an address literal must be an
 *    iPAddress subjectAltName), so nothing, a password least of all,
 *    goes to whoever sits on the path.
 *
 * Trust: the system store, or a transport's tls_ca, whose certificates
 * the config loader read as root and which are all trust anchors (a
 * root, an intermediate, or the relay's own certificate, pinned).  One
 * context per trust setting, made at start-up, never per connection.
 * The system store is OpenSSL's default bundle (SSL_CERT_FILE, else
 * X509_get_default_cert_file(): Debian's /usr/lib/ssl/cert.pem ->
 * /etc/ssl/certs/ca-certificates.crt), loaded whole when the context is
 * made, so a handshake on the qmgr's loop never opens a file (looking
 * certificates up by hash in /etc/ssl/certs did, per handshake).  The
 * cost, measured on Debian 12 with its 144 roots (215 KiB): the qmgr's
 * heap grows by 0.9 MB (RssAnon 1.7 -> 2.6 MB, VmRSS 7.9 -> 9.3 MB).
 * A changed bundle is seen when the qmgr starts again.
 *
 * TLS 1.2 and later, like the server side: a peer that can only speak
 * older versions gets plaintext instead under "may" (the client retries
 * without STARTTLS), which is no worse than what it had.
 */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "common/pem.h"

/* One trust anchor into the store (pem_certs_each). */
static int
ca_take(X509 *x, void *arg)
{
	int ok = X509_STORE_add_cert(arg, x);

	X509_free(x);
	return ok == 1 ? 0 : -1;
}

/* The certificates of pem, each a trust anchor of ctx.  0, or -1 with
 * err filled. */
static int
client_add_cas(SSL_CTX *ctx, const char *pem, size_t len, char *err,
    size_t errlen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	int n = pem_certs_each(pem, len, ca_take, store);

	if (n < 0) {
		char why[256];

		tls_error_text(why, sizeof(why));
		snprintf(err, errlen, "CA list: %s", why);
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "no certificate in the CA list");
		return -1;
	}
	/* Whatever the operator listed is trusted as it is: a chain may end
	 * at an intermediate or at the server's own certificate. */
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	return 0;
}

SSL_CTX *
tls_client_ctx_new(const char *ca_pem, size_t ca_len, char *err,
    size_t errlen)
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
	/* Each SSL says whether its handshake depends on the result
	 * (tls_client_ssl); the context never does. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (ca_pem != NULL) {
		if (client_add_cas(ctx, ca_pem, ca_len, err, errlen) < 0) {
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else {
		/* The whole bundle now, never a file during a handshake;
		 * without one nothing verifies (and the result says so). */
		SSL_CTX_set_default_verify_file(ctx);
		ERR_clear_error();
	}
	return ctx;
}

static bool
is_address(const char *s)
{
	unsigned char a[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* The identity the certificate must show, and SNI for a name. */
static int
client_expect(SSL *ssl, const char *peer)
{
	if (is_address(peer))
		/* RFC 6066 3: never an address in SNI. */
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    peer) == 1 ? 0 : -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, peer) != 1 ||
	    SSL_set_tlsext_host_name(ssl, peer) != 1)
		return -1;
	return 0;
}

SSL *
tls_client_ssl(SSL_CTX *ctx, const char *peer, bool verify)
{
	SSL *ssl = SSL_new(ctx);
	bool named;

	if (ssl == NULL)
		return NULL;
	/* A socket path (LMTP) names nothing a certificate could show. */
	named = peer != NULL && peer[0] != '\0' && peer[0] != '/' &&
	    peer[0] != '[';
	if (!named || client_expect(ssl, peer) < 0) {
		ERR_clear_error();
		if (verify) {
			SSL_free(ssl);	/* nothing it could be checked against */
			return NULL;
		}
		/* Opportunistic: encrypt anyway; "verified" then speaks of
		 * the chain alone. */
	}
	if (verify)
		SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return ssl;
}

int
tls_client_verify_result(const SSL *ssl, char *why, size_t whylen)
{
	long v = SSL_get_verify_result(ssl);

	/* The result first: a refused certificate may never have been kept
	 * as the peer's. */
	if (v != X509_V_OK) {
		snprintf(why, whylen, "%s", X509_verify_cert_error_string(v));
		return 0;
	}
	if (SSL_get0_peer_certificate(ssl) == NULL) {
		snprintf(why, whylen, "no certificate");
		return -1;
	}
	snprintf(why, whylen, "ok");
	return 1;
}
