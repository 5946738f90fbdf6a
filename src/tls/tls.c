/*
 * Server TLS contexts on OpenSSL 3: one SSL_CTX per keypair, built from
 * PEM bytes in memory (tls_keypair.c reads and carries them), the policy
 * of tls.h applied to each, and SNI choosing among them.
 *
 * Callers: the smtpd builds a tls_server at start-up and again on each
 * SIGHUP (a bad new set keeps the old one; the caller decides), then asks
 * tls_server_ssl() for one SSL per STARTTLS or implicit-TLS connection.
 *
 * Trust: the key material is the operator's, passed on by the master; the
 * SNI name comes from the client and is only compared (X509_check_host),
 * never logged unescaped nor used as a path.
 *
 * Lifetime: the extra (SNI) contexts hang off the default context as
 * ex_data, so they live exactly as long as it does.  Each SSL holds a
 * reference to the default context, so freeing the tls_server on reload
 * never pulls a certificate from under a live session or a handshake
 * whose ClientHello has not arrived yet.
 */
#include "tls/tls.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/pem.h"
#include "common/xmalloc.h"

struct tls_server {
	SSL_CTX *def;		/* first keypair; owns the SNI table */
};

/* The contexts SNI may switch to, owned by the default context. */
struct sni_table {
	size_t n;
	SSL_CTX **ctx;
};

static pthread_once_t sni_once = PTHREAD_ONCE_INIT;
static int sni_index = -1;

static void
sni_table_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct sni_table *t = ptr;
	size_t i;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		SSL_CTX_free(t->ctx[i]);
	free(t->ctx);
	free(t);
}

static void
sni_index_init(void)
{
	sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
	    sni_table_free);
}

const char *
tls_error_text(char *out, size_t outlen)
{
	char one[256];
	unsigned long e;
	size_t used = 0;
	int n;

	if (outlen == 0)
		return out;
	out[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, one, sizeof(one));
		n = snprintf(out + used, outlen - used, "%s%s",
		    used > 0 ? "; " : "", one);
		if (n < 0)
			break;
		if ((size_t)n >= outlen - used) {
			/* Full: keep draining so no stale error is left for
			 * the next caller, and mark the cut. */
			if (outlen > 4)
				memcpy(out + outlen - 4, "...", 4);
			used = outlen - 1;
			continue;
		}
		used += (size_t)n;
	}
	if (used == 0 && snprintf(out, outlen, "no OpenSSL error") < 0)
		out[0] = '\0';
	return out;
}

void
tls_describe(const SSL *ssl, char *out, size_t outlen)
{
	const SSL_CIPHER *c;
	int n;

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (ssl == NULL || (c = SSL_get_current_cipher(ssl)) == NULL)
		return;
	n = snprintf(out, outlen, "%s with cipher %s", SSL_get_version(ssl),
	    SSL_CIPHER_get_name(c));
	/* A cut description would be a false statement in Received:. */
	if (n < 0 || (size_t)n >= outlen)
		out[0] = '\0';
}

/* "PATH: what (OpenSSL's reasons)", draining the error queue. */
static void
err_ssl(char *err, size_t errlen, const char *path, const char *what)
{
	char why[512];

	tls_error_text(why, sizeof(why));
	if (err != NULL && errlen > 0 &&
	    snprintf(err, errlen, "%s: %s (%s)", path, what, why) < 0)
		err[0] = '\0';
}

/* The leaf first, the rest of the chain after it (pem_certs_each). */
struct chain_read {
	X509 *leaf;
	STACK_OF(X509) *chain;
};

static int
chain_take(X509 *x, void *arg)
{
	struct chain_read *cr = arg;

	if (cr->leaf == NULL) {
		cr->leaf = x;
		return 0;
	}
	if (!sk_X509_push(cr->chain, x)) {
		X509_free(x);
		return -1;
	}
	return 0;
}

/* Expiry is the operator's business, not a reason to refuse to start:
 * a warning keeps mail flowing (MTA-to-MTA TLS is mostly unverified)
 * while telling them. */
static void
cert_check_dates(const X509 *leaf, const char *path)
{
	const ASN1_TIME *na = X509_get0_notAfter(leaf);
	char safe[256], when[64] = "?";
	struct tm tm;

	if (X509_cmp_current_time(na) >= 0)
		return;
	if (ASN1_TIME_to_tm(na, &tm) == 1 &&
	    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		memcpy(when, "?", 2);	/* never an empty bare value */
	log_warn("event=tls_cert_expired cert=\"%s\" not_after=%s",
	    log_safe(path, safe, sizeof(safe)), when);
}

/* Leaf, then the rest of the chain, then the key; all from memory. */
static int
ctx_load(SSL_CTX *ctx, const struct tls_keypair *kp, char *err,
    size_t errlen)
{
	const char *path = kp->cert_path ? kp->cert_path : "(certificate)";
	struct chain_read cr = { NULL, NULL };
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	int rc = -1, n;

	if (kp->cert_pem == NULL || kp->key_pem == NULL ||
	    kp->cert_len > TLS_FILE_MAX || kp->key_len > TLS_FILE_MAX) {
		err_ssl(err, errlen, path, "no key material");
		return -1;
	}
	if ((cr.chain = sk_X509_new_null()) == NULL)
		goto oom;
	n = pem_certs_each(kp->cert_pem, kp->cert_len, chain_take, &cr);
	if (n <= 0) {
		err_ssl(err, errlen, path, cr.leaf == NULL ?
		    "no PEM certificate" : "bad certificate in chain");
		goto out;
	}
	bio = BIO_new_mem_buf(kp->key_pem, (int)kp->key_len);
	if (bio == NULL || (key = PEM_read_bio_PrivateKey(bio, NULL,
	    pem_no_passphrase, NULL)) == NULL) {
		err_ssl(err, errlen, path,
		    "no usable PEM private key (encrypted keys are not supported)");
		goto out;
	}
	if (SSL_CTX_use_cert_and_key(ctx, cr.leaf, key, cr.chain, 1) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		err_ssl(err, errlen, path,
		    "private key does not match certificate");
		goto out;
	}
	cert_check_dates(cr.leaf, path);
	rc = 0;
	goto out;
oom:
	err_ssl(err, errlen, path, "out of memory");
out:
	BIO_free(bio);
	EVP_PKEY_free(key);
	X509_free(cr.leaf);
	sk_X509_pop_free(cr.chain, X509_free);
	return rc;
}

/* One context with the whole policy of tls.h applied. */
static SSL_CTX *
ctx_new(const struct tls_keypair *kp, char *err, size_t errlen)
{
	const char *path = kp->cert_path ? kp->cert_path : "(certificate)";
	static const unsigned char sid_ctx[] = "decorum";
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		err_ssl(err, errlen, path, "cannot create TLS context");
		return NULL;
	}
	/*
	 * RFC 8996 retires TLS 1.0 and 1.1; RFC 8314 4.1 asks for 1.2 or
	 * later.  Compression is off (CRIME); renegotiation is off (it was
	 * a DoS lever and the source of CVE-2009-3555); an SMTP peer that
	 * drops the TCP connection without close_notify is routine and the
	 * SMTP dialogue has its own end (QUIT, the final dot), so that is
	 * not treated as an attack.
	 */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_TLS12) != 1 ||
	    SSL_CTX_set_session_id_context(ctx, sid_ctx,
	    sizeof(sid_ctx) - 1) != 1) {
		err_ssl(err, errlen, path, "cannot apply TLS policy");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET |
	    SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	/* Thousands of idle sessions should not hold 34 KiB of buffers. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (ctx_load(ctx, kp, err, errlen) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/*
 * RFC 6066 3: pick the first extra certificate that covers the name the
 * client asked for.  No name, or no match, keeps the default: a wrong
 * certificate is the client's call to make, an aborted handshake would
 * only push the mail to plaintext.
 */
static int
sni_select(SSL *ssl, int *alert, void *arg)
{
	const struct sni_table *t = arg;
	const char *name;
	X509 *leaf;
	size_t i;

	(void)alert;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (t == NULL || name == NULL || name[0] == '\0')
		return SSL_TLSEXT_ERR_OK;
	for (i = 0; i < t->n; i++) {
		leaf = SSL_CTX_get0_certificate(t->ctx[i]);
		if (leaf != NULL && X509_check_host(leaf, name, 0,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1) {
			SSL_set_SSL_CTX(ssl, t->ctx[i]);
			break;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

struct tls_server *
tls_server_new(const struct tls_keypair *kps, size_t n, char *err,
    size_t errlen)
{
	struct tls_server *ts;
	struct sni_table *t;
	size_t i;

	if (n == 0 || n > TLS_KEYPAIRS_MAX) {
		if (err != NULL && errlen > 0 && snprintf(err, errlen,
		    "%zu certificates given (1 to %d allowed)", n,
		    TLS_KEYPAIRS_MAX) < 0)
			err[0] = '\0';
		return NULL;
	}
	pthread_once(&sni_once, sni_index_init);
	if (sni_index < 0) {
		err_ssl(err, errlen, "tls", "cannot register SNI data");
		return NULL;
	}
	ERR_clear_error();
	ts = xcalloc(1, sizeof(*ts));
	if ((ts->def = ctx_new(&kps[0], err, errlen)) == NULL) {
		free(ts);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->ctx = xcalloc(n - 1, sizeof(*t->ctx));
	if (SSL_CTX_set_ex_data(ts->def, sni_index, t) != 1) {
		sni_table_free(NULL, t, NULL, 0, 0, NULL);
		err_ssl(err, errlen, "tls", "cannot attach SNI data");
		SSL_CTX_free(ts->def);
		free(ts);
		return NULL;
	}
	/* From here the default context owns t and frees it. */
	for (i = 1; i < n; i++) {
		if ((t->ctx[t->n] = ctx_new(&kps[i], err, errlen)) == NULL) {
			tls_server_free(ts);
			return NULL;
		}
		t->n++;
	}
	SSL_CTX_set_tlsext_servername_callback(ts->def, sni_select);
	SSL_CTX_set_tlsext_servername_arg(ts->def, t);
	return ts;
}

void
tls_server_free(struct tls_server *ts)
{
	if (ts == NULL)
		return;
	SSL_CTX_free(ts->def);	/* drops our reference only */
	free(ts);
}

SSL *
tls_server_ssl(struct tls_server *ts)
{
	if (ts == NULL)
		return NULL;
	return SSL_new(ts->def);
}
