/*
 * Unit tests of src/tls/tls_client.c against real OpenSSL handshakes in
 * memory: the test makes a CA and certificates it signs (names, an
 * address, a wildcard, an expired one) and a self-signed certificate,
 * serves each from a plain server SSL over a BIO pair, and connects with
 * tls_client_ssl().  Checked: under verify the handshake succeeds only
 * for a certificate that chains to the context's CAs and names the peer
 * (DNS name, IPv4 or IPv6 address, a whole-label wildcard), and fails
 * with OpenSSL's reason otherwise; a pinned certificate (itself in
 * tls_ca, self-signed or not) is trusted; the system store does not
 * know the test CA; opportunistic connections complete and only report;
 * SNI carries names, never addresses; bad CA lists are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/xmalloc.h"
#include "tls/tls.h"

/* ---- certificates ------------------------------------------------------ */

static char *
pem_of(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *copy;
	long n;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	copy = xmalloc((size_t)n + 1);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	BIO_free(bio);
	return copy;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/*
 * A certificate for cn with subjectAltName san ("DNS:a,IP:192.0.2.7"; NULL
 * for none), valid from days_from to days_to, signed by issuer/ikey
 * (NULL: self-signed with key).  ca: basicConstraints CA:TRUE.
 */
static X509 *
make_cert(EVP_PKEY *key, const char *cn, const char *san, bool ca,
    X509 *issuer, EVP_PKEY *ikey, long days_from, long days_to)
{
	static long serial = 1;
	X509 *x = X509_new();

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x),
	    days_from * 86400));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), days_to * 86400));
	assert_int_equal(X509_NAME_add_entry_by_txt(X509_get_subject_name(x),
	    "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : X509_get_subject_name(x)), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	add_ext(x, issuer != NULL ? issuer : x, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "CA:FALSE");
	if (ca)
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (san != NULL)
		add_ext(x, issuer != NULL ? issuer : x, NID_subject_alt_name,
		    san);
	assert_true(X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()) > 0);
	return x;
}

enum {
	C_NAMED,	/* relay.test, by the CA */
	C_ADDR,		/* IP:192.0.2.7 and IP:2001:db8::7, by the CA */
	C_WILD,		/* *.wild.test, by the CA */
	C_EXPIRED,	/* relay.test, by the CA, expired */
	C_SELF,		/* relay.test, self-signed */
	C_N
};

struct fixture {
	EVP_PKEY *key;
	X509 *ca;
	char *ca_pem;
	X509 *cert[C_N];
	char *pem[C_N];
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->key = EVP_EC_gen("P-256");
	assert_non_null(f->key);
	f->ca = make_cert(f->key, "Decorum test CA", NULL, true, NULL, NULL,
	    -1, 365);
	f->ca_pem = pem_of(f->ca);
	f->cert[C_NAMED] = make_cert(f->key, "relay.test", "DNS:relay.test",
	    false, f->ca, f->key, -1, 365);
	f->cert[C_ADDR] = make_cert(f->key, "192.0.2.7",
	    "IP:192.0.2.7,IP:2001:db8::7", false, f->ca, f->key, -1, 365);
	f->cert[C_WILD] = make_cert(f->key, "wild.test", "DNS:*.wild.test",
	    false, f->ca, f->key, -1, 365);
	f->cert[C_EXPIRED] = make_cert(f->key, "relay.test", "DNS:relay.test",
	    false, f->ca, f->key, -30, -1);
	f->cert[C_SELF] = make_cert(f->key, "relay.test", "DNS:relay.test",
	    false, NULL, NULL, -1, 365);
	for (int i = 0; i < C_N; i++)
		f->pem[i] = pem_of(f->cert[i]);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < C_N; i++) {
		X509_free(f->cert[i]);
		free(f->pem[i]);
	}
	X509_free(f->ca);
	free(f->ca_pem);
	EVP_PKEY_free(f->key);
	free(f);
	return 0;
}

/* ---- a handshake in memory ----------------------------------------------- */

struct conn {
	SSL_CTX *sctx;
	SSL *client, *server;
	char sni[256];		/* what the server was asked for, "" none */
};

static int
sni_seen(SSL *ssl, int *alert, void *arg)
{
	struct conn *c = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	snprintf(c->sni, sizeof(c->sni), "%s", name != NULL ? name : "");
	return SSL_TLSEXT_ERR_OK;
}

static int
step(SSL *ssl, int r)
{
	int e;

	if (r == 1)
		return 1;
	e = SSL_get_error(ssl, r);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/*
 * Serve cert (with the fixture's key) to a client from ctx for peer;
 * 1 when the handshake completed on both ends, -1 when either failed.
 */
static int
handshake(struct fixture *f, struct conn *c, SSL_CTX *ctx, X509 *cert,
    const char *peer, bool verify)
{
	BIO *cb, *sb;
	int a = 0, b = 0;

	memset(c, 0, sizeof(*c));
	c->sctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(c->sctx);
	assert_int_equal(SSL_CTX_use_certificate(c->sctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(c->sctx, f->key), 1);
	SSL_CTX_set_tlsext_servername_callback(c->sctx, sni_seen);
	SSL_CTX_set_tlsext_servername_arg(c->sctx, c);
	c->server = SSL_new(c->sctx);
	c->client = tls_client_ssl(ctx, peer, verify);
	assert_non_null(c->server);
	assert_non_null(c->client);
	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c->client, cb, cb);
	SSL_set_bio(c->server, sb, sb);
	SSL_set_connect_state(c->client);
	SSL_set_accept_state(c->server);
	for (int i = 0; i < 100 && !(a == 1 && b == 1); i++) {
		if (a != 1)
			a = step(c->client, SSL_do_handshake(c->client));
		if (b != 1)
			b = step(c->server, SSL_do_handshake(c->server));
		if (a < 0 || b < 0)
			return -1;
	}
	return a == 1 && b == 1 ? 1 : -1;
}

static void
conn_free(struct conn *c)
{
	SSL_free(c->client);
	SSL_free(c->server);
	SSL_CTX_free(c->sctx);
	ERR_clear_error();
}

static SSL_CTX *
ctx_with(const char *pem)
{
	char err[256] = "";
	SSL_CTX *ctx = tls_client_ctx_new(pem, pem != NULL ? strlen(pem) : 0,
	    err, sizeof(err));

	if (ctx == NULL)
		fail_msg("tls_client_ctx_new: %s", err);
	return ctx;
}

/* Under verify: the handshake's outcome and the reason given. */
static void
expect_verify(struct fixture *f, SSL_CTX *ctx, int which, const char *peer,
    bool ok, const char *reason)
{
	struct conn c;
	char why[128];
	int hs = handshake(f, &c, ctx, f->cert[which], peer, true);
	int v = tls_client_verify_result(c.client, why, sizeof(why));

	if ((hs == 1) != ok || (v == 1) != ok || strcmp(why, reason) != 0)
		fail_msg("cert %d for %s: handshake %d, result %d \"%s\"; "
		    "want %s, \"%s\"", which, peer, hs, v, why,
		    ok ? "ok" : "failure", reason);
	conn_free(&c);
}

/* ---- tests ------------------------------------------------------------ */

static void
test_verify_names(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *ctx = ctx_with(f->ca_pem);
	struct conn c;

	expect_verify(f, ctx, C_NAMED, "relay.test", true, "ok");
	/* Names compare without regard to case (RFC 6125 6.4.1). */
	expect_verify(f, ctx, C_NAMED, "RELAY.Test", true, "ok");
	expect_verify(f, ctx, C_NAMED, "other.test", false,
	    "hostname mismatch");
	expect_verify(f, ctx, C_NAMED, "mx.relay.test", false,
	    "hostname mismatch");
	expect_verify(f, ctx, C_EXPIRED, "relay.test", false,
	    "certificate has expired");
	expect_verify(f, ctx, C_SELF, "relay.test", false,
	    "self-signed certificate");
	/* A wildcard covers one whole label, no more. */
	expect_verify(f, ctx, C_WILD, "mx.wild.test", true, "ok");
	expect_verify(f, ctx, C_WILD, "wild.test", false, "hostname mismatch");
	expect_verify(f, ctx, C_WILD, "a.mx.wild.test", false,
	    "hostname mismatch");
	/* The name went out as SNI. */
	assert_int_equal(handshake(f, &c, ctx, f->cert[C_NAMED], "relay.test",
	    true), 1);
	assert_string_equal(c.sni, "relay.test");
	conn_free(&c);
	SSL_CTX_free(ctx);
}

static void
test_verify_addresses(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *ctx = ctx_with(f->ca_pem);
	struct conn c;

	expect_verify(f, ctx, C_ADDR, "192.0.2.7", true, "ok");
	expect_verify(f, ctx, C_ADDR, "2001:db8::7", true, "ok");
	expect_verify(f, ctx, C_ADDR, "2001:DB8:0::7", true, "ok");
	expect_verify(f, ctx, C_ADDR, "192.0.2.8", false,
	    "IP address mismatch");
	expect_verify(f, ctx, C_ADDR, "2001:db8::8", false,
	    "IP address mismatch");
	/* An address is no DNS name, nor the other way round. */
	expect_verify(f, ctx, C_NAMED, "192.0.2.7", false,
	    "IP address mismatch");
	expect_verify(f, ctx, C_ADDR, "relay.test", false,
	    "hostname mismatch");
	/* RFC 6066 3: no address in SNI. */
	assert_int_equal(handshake(f, &c, ctx, f->cert[C_ADDR], "192.0.2.7",
	    true), 1);
	assert_string_equal(c.sni, "");
	conn_free(&c);
	SSL_CTX_free(ctx);
}

static void
test_pinned(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *ctx;
	char *both;

	/* A self-signed relay certificate listed in tls_ca is trusted, and
	 * still checked by name. */
	ctx = ctx_with(f->pem[C_SELF]);
	expect_verify(f, ctx, C_SELF, "relay.test", true, "ok");
	expect_verify(f, ctx, C_SELF, "other.test", false,
	    "hostname mismatch");
	/* ... but nothing else: the CA is not in this list. */
	expect_verify(f, ctx, C_NAMED, "relay.test", false,
	    "unable to get local issuer certificate");
	SSL_CTX_free(ctx);
	/* A CA-signed leaf listed alone (its CA absent) is an anchor too. */
	ctx = ctx_with(f->pem[C_NAMED]);
	expect_verify(f, ctx, C_NAMED, "relay.test", true, "ok");
	SSL_CTX_free(ctx);
	/* Several certificates in one list. */
	both = xasprintf("%s%s", f->pem[C_SELF], f->ca_pem);
	ctx = ctx_with(both);
	expect_verify(f, ctx, C_SELF, "relay.test", true, "ok");
	expect_verify(f, ctx, C_WILD, "mx.wild.test", true, "ok");
	SSL_CTX_free(ctx);
	free(both);
}

static void
test_system_store(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *ctx = ctx_with(NULL);

	/* The test CA is nobody's root. */
	expect_verify(f, ctx, C_NAMED, "relay.test", false,
	    "unable to get local issuer certificate");
	expect_verify(f, ctx, C_SELF, "relay.test", false,
	    "self-signed certificate");
	SSL_CTX_free(ctx);
}

static void
test_opportunistic(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *ctx = ctx_with(f->ca_pem);
	struct conn c;
	char why[128];

	/* Completes whatever the certificate is; the result is reported. */
	assert_int_equal(handshake(f, &c, ctx, f->cert[C_SELF], "relay.test",
	    false), 1);
	assert_int_equal(tls_client_verify_result(c.client, why, sizeof(why)),
	    0);
	assert_string_equal(why, "self-signed certificate");
	assert_string_equal(c.sni, "relay.test");
	conn_free(&c);
	assert_int_equal(handshake(f, &c, ctx, f->cert[C_NAMED], "other.test",
	    false), 1);
	assert_int_equal(tls_client_verify_result(c.client, why, sizeof(why)),
	    0);
	assert_string_equal(why, "hostname mismatch");
	conn_free(&c);
	assert_int_equal(handshake(f, &c, ctx, f->cert[C_NAMED], "relay.test",
	    false), 1);
	assert_int_equal(tls_client_verify_result(c.client, why, sizeof(why)),
	    1);
	conn_free(&c);
	/* A socket path names nothing: encrypted, no SNI, chain only. */
	assert_int_equal(handshake(f, &c, ctx, f->cert[C_NAMED],
	    "/run/dovecot/lmtp", false), 1);
	assert_string_equal(c.sni, "");
	assert_int_equal(tls_client_verify_result(c.client, why, sizeof(why)),
	    1);
	conn_free(&c);
	SSL_CTX_free(ctx);
}

static void
test_nothing_to_verify(void **state)
{
	struct fixture *f = *state;
	SSL_CTX *ctx = ctx_with(f->ca_pem);
	SSL *ssl;
	char why[128];

	/* Verification needs a name or an address to check. */
	assert_null(tls_client_ssl(ctx, NULL, true));
	assert_null(tls_client_ssl(ctx, "", true));
	assert_null(tls_client_ssl(ctx, "/run/dovecot/lmtp", true));
	/* Before any handshake there is no certificate. */
	ssl = tls_client_ssl(ctx, NULL, false);
	assert_non_null(ssl);
	assert_int_equal(tls_client_verify_result(ssl, why, sizeof(why)), -1);
	assert_string_equal(why, "no certificate");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
}

static void
test_bad_ca_lists(void **state)
{
	struct fixture *f = *state;
	const char *broken = "-----BEGIN CERTIFICATE-----\nbm90\n"
	    "-----END CERTIFICATE-----\n";
	char err[256], *half;

	(void)f;
	assert_null(tls_client_ctx_new("no certificates here\n", 21, err,
	    sizeof(err)));
	assert_string_equal(err, "no certificate in the CA list");
	assert_null(tls_client_ctx_new(broken, strlen(broken), err,
	    sizeof(err)));
	assert_non_null(strstr(err, "CA list: "));
	half = xasprintf("%s%s", f->ca_pem, broken);
	assert_null(tls_client_ctx_new(half, strlen(half), err, sizeof(err)));
	assert_non_null(strstr(err, "CA list: "));
	free(half);
	assert_int_equal(ERR_peek_error(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify_names),
		cmocka_unit_test(test_verify_addresses),
		cmocka_unit_test(test_pinned),
		cmocka_unit_test(test_system_store),
		cmocka_unit_test(test_opportunistic),
		cmocka_unit_test(test_nothing_to_verify),
		cmocka_unit_test(test_bad_ca_lists),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
