/*
 * Unit tests of src/tls/tls.c against real OpenSSL handshakes in memory:
 * the test makes its own keys and self-signed certificates (EC and RSA,
 * SAN DNS names, one wildcard, one expired), builds a tls_server from
 * their PEM, and runs a client SSL against tls_server_ssl() over a BIO
 * pair.  Checked: good pairs load, a mismatched key or garbage is
 * refused with a useful message; TLS 1.1 is refused, 1.2 and 1.3 work
 * with the server's cipher preference; SNI picks the right certificate
 * and falls back to the default; renegotiation and compression are off;
 * an SSL outlives the tls_server it came from (reload).
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

/* ---- key and certificate generation ---------------------------------- */

static char *
bio_take(BIO *bio, size_t *len)
{
	char *data, *copy;
	long n = BIO_get_mem_data(bio, &data);

	assert_true(n > 0);
	copy = xmalloc((size_t)n + 1);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*len = (size_t)n;
	BIO_free(bio);
	return copy;
}

/*
 * A self-signed certificate for cn with SAN DNS names sans (comma
 * separated, "DNS:" added here), valid from days_from to days_to
 * relative to now.  The keypair owns the PEM strings.
 */
static void
make_keypair(struct tls_keypair *kp, EVP_PKEY *key, const char *cn,
    const char *sans, long days_from, long days_to)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	char san[512], *p;
	const char *s;
	BIO *bio;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0xffffff));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), days_from * 86400));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), days_to * 86400));
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	/* "a,b" -> "DNS:a,DNS:b" */
	p = san;
	for (s = sans; *s != '\0';) {
		size_t l = strcspn(s, ",");
		int n = snprintf(p, sizeof(san) - (size_t)(p - san), "%sDNS:%.*s",
		    p == san ? "" : ",", (int)l, s);
		assert_true(n > 0 && (size_t)n < sizeof(san) - (size_t)(p - san));
		p += n;
		s += l;
		if (*s == ',')
			s++;
	}
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);

	memset(kp, 0, sizeof(*kp));
	kp->cert_path = xasprintf("/test/%s.pem", cn);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_X509(bio, x), 1);
	kp->cert_pem = bio_take(bio, &kp->cert_len);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0,
	    NULL, NULL), 1);
	kp->key_pem = bio_take(bio, &kp->key_len);
	X509_free(x);
}

/* The set used by most tests: default (EC), other (RSA), wildcard (EC). */
enum { KP_DEFAULT, KP_OTHER, KP_WILD, KP_EXPIRED, KP_N };

struct fixture {
	struct tls_keypair kp[KP_N];
	EVP_PKEY *ec, *rsa;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));

	f->ec = EVP_EC_gen("P-256");
	f->rsa = EVP_RSA_gen(2048);
	assert_non_null(f->ec);
	assert_non_null(f->rsa);
	make_keypair(&f->kp[KP_DEFAULT], f->ec, "mx.example.test",
	    "mx.example.test,smtp.example.test", -1, 365);
	make_keypair(&f->kp[KP_OTHER], f->rsa, "mail.other.test",
	    "mail.other.test", -1, 365);
	make_keypair(&f->kp[KP_WILD], f->ec, "wild.test", "*.wild.test", -1, 365);
	make_keypair(&f->kp[KP_EXPIRED], f->ec, "old.test", "old.test", -30, -1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t i;

	for (i = 0; i < KP_N; i++)
		tls_keypair_free(&f->kp[i]);
	EVP_PKEY_free(f->ec);
	EVP_PKEY_free(f->rsa);
	free(f);
	return 0;
}

/* ---- an in-memory client --------------------------------------------- */

struct conn {
	SSL_CTX *cctx;
	SSL *client, *server;
};

/* A client limited to [minv, maxv]; sni may be NULL. */
static void
conn_open(struct conn *c, struct tls_server *ts, int minv, int maxv,
    const char *sni)
{
	BIO *cb, *sb;

	c->cctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(c->cctx);
	/* Level 0 so that it is our server, not the client, that refuses
	 * old protocols. */
	SSL_CTX_set_security_level(c->cctx, 0);
	assert_int_equal(SSL_CTX_set_min_proto_version(c->cctx, minv), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(c->cctx, maxv), 1);
	c->client = SSL_new(c->cctx);
	c->server = tls_server_ssl(ts);
	assert_non_null(c->client);
	assert_non_null(c->server);
	if (sni != NULL)
		assert_int_equal(SSL_set_tlsext_host_name(c->client, sni), 1);
	assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
	SSL_set_bio(c->client, cb, cb);
	SSL_set_bio(c->server, sb, sb);
	SSL_set_connect_state(c->client);
	SSL_set_accept_state(c->server);
}

static void
conn_close(struct conn *c)
{
	SSL_free(c->client);
	SSL_free(c->server);
	SSL_CTX_free(c->cctx);
	ERR_clear_error();
}

static int
step_ok(SSL *ssl, int r)
{
	int e;

	if (r == 1)
		return 1;
	e = SSL_get_error(ssl, r);
	return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* Pump both ends until both finished (1) or one fails (-1). */
static int
conn_handshake(struct conn *c)
{
	int i, a, b;

	for (i = 0; i < 100; i++) {
		a = step_ok(c->client, SSL_do_handshake(c->client));
		b = step_ok(c->server, SSL_do_handshake(c->server));
		if (a < 0 || b < 0)
			return -1;
		if (a == 1 && b == 1)
			return 1;
	}
	return -1;
}

/* The CN of the certificate the client was shown. */
static void
peer_cn(SSL *client, char *out, size_t outlen)
{
	X509 *peer = SSL_get1_peer_certificate(client);

	assert_non_null(peer);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(peer),
	    NID_commonName, out, (int)outlen) > 0);
	X509_free(peer);
}

static struct tls_server *
server_all(struct fixture *f)
{
	char err[512] = "";
	struct tls_server *ts = tls_server_new(f->kp, KP_N, err, sizeof(err));

	assert_non_null(ts);
	assert_string_equal(err, "");
	return ts;
}

/* ---- tests ------------------------------------------------------------ */

static void
test_load_good(void **state)
{
	struct fixture *f = *state;
	struct tls_server *ts;
	char err[512];

	ts = server_all(f);
	tls_server_free(ts);
	/* The expired certificate alone still loads (with a warning). */
	ts = tls_server_new(&f->kp[KP_EXPIRED], 1, err, sizeof(err));
	assert_non_null(ts);
	tls_server_free(ts);
	tls_server_free(NULL);
}

static void
test_load_chain(void **state)
{
	struct fixture *f = *state;
	struct tls_keypair kp = f->kp[KP_DEFAULT];
	struct tls_server *ts;
	char err[512];
	char *chain;

	/* Leaf followed by another certificate (an "intermediate"). */
	chain = xasprintf("%s%s", f->kp[KP_DEFAULT].cert_pem,
	    f->kp[KP_OTHER].cert_pem);
	kp.cert_pem = chain;
	kp.cert_len = strlen(chain);
	ts = tls_server_new(&kp, 1, err, sizeof(err));
	assert_non_null(ts);
	tls_server_free(ts);
	free(chain);

	/* A broken second certificate is an error, not silently dropped. */
	chain = xasprintf("%s-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n", f->kp[KP_DEFAULT].cert_pem);
	kp.cert_pem = chain;
	kp.cert_len = strlen(chain);
	ts = tls_server_new(&kp, 1, err, sizeof(err));
	assert_null(ts);
	assert_non_null(strstr(err, "bad certificate in chain"));
	free(chain);
}

static void
test_load_mismatch(void **state)
{
	struct fixture *f = *state;
	struct tls_keypair kps[2];
	struct tls_server *ts;
	char err[512] = "";

	kps[0] = f->kp[KP_DEFAULT];
	kps[0].key_pem = f->kp[KP_OTHER].key_pem;	/* RSA key, EC cert */
	kps[0].key_len = f->kp[KP_OTHER].key_len;
	ts = tls_server_new(kps, 1, err, sizeof(err));
	assert_null(ts);
	assert_non_null(strstr(err, "/test/mx.example.test.pem"));
	assert_non_null(strstr(err, "does not match"));

	/* A bad extra certificate fails the whole set, naming it. */
	kps[0] = f->kp[KP_DEFAULT];
	kps[1] = f->kp[KP_WILD];
	kps[1].key_pem = f->kp[KP_OTHER].key_pem;
	kps[1].key_len = f->kp[KP_OTHER].key_len;
	ts = tls_server_new(kps, 2, err, sizeof(err));
	assert_null(ts);
	assert_non_null(strstr(err, "/test/wild.test.pem"));
	assert_int_equal(ERR_peek_error(), 0);	/* queue drained */
}

static void
test_load_garbage(void **state)
{
	struct fixture *f = *state;
	struct tls_keypair kp = f->kp[KP_DEFAULT];
	struct tls_server *ts;
	char err[512];
	char junk[] = "this is not PEM\n";

	kp.cert_pem = junk;
	kp.cert_len = sizeof(junk) - 1;
	ts = tls_server_new(&kp, 1, err, sizeof(err));
	assert_null(ts);
	assert_non_null(strstr(err, "no PEM certificate"));

	kp = f->kp[KP_DEFAULT];
	kp.key_pem = junk;
	kp.key_len = sizeof(junk) - 1;
	ts = tls_server_new(&kp, 1, err, sizeof(err));
	assert_null(ts);
	assert_non_null(strstr(err, "private key"));

	/* The key where the certificate should be. */
	kp = f->kp[KP_DEFAULT];
	kp.cert_pem = f->kp[KP_DEFAULT].key_pem;
	kp.cert_len = f->kp[KP_DEFAULT].key_len;
	assert_null(tls_server_new(&kp, 1, err, sizeof(err)));

	assert_null(tls_server_new(f->kp, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "0 certificates"));
	/* A tiny err buffer is fine. */
	assert_null(tls_server_new(&kp, 1, err, 8));
	assert_int_equal(strlen(err), 7);
}

static void
test_tls11_refused(void **state)
{
	struct tls_server *ts = server_all(*state);
	struct conn c;

	conn_open(&c, ts, TLS1_VERSION, TLS1_1_VERSION, NULL);
	assert_int_equal(conn_handshake(&c), -1);
	conn_close(&c);
	tls_server_free(ts);
}

static void
test_tls12(void **state)
{
	struct tls_server *ts = server_all(*state);
	char desc[128];
	struct conn c;

	conn_open(&c, ts, TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	assert_int_equal(conn_handshake(&c), 1);
	tls_describe(c.server, desc, sizeof(desc));
	assert_string_equal(desc,
	    "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384");
	/* Compression is off both ways. */
	assert_null(SSL_get_current_compression(c.server));
	assert_true(SSL_get_options(c.server) & SSL_OP_NO_COMPRESSION);
	/* Too small an out buffer gives "", never a cut description. */
	tls_describe(c.server, desc, 10);
	assert_string_equal(desc, "");
	conn_close(&c);
	tls_server_free(ts);
}

static void
test_tls12_server_preference(void **state)
{
	struct tls_server *ts = server_all(*state);
	char desc[128];
	struct conn c;

	conn_open(&c, ts, TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	/* The client prefers AES-128 and offers a CBC suite we refuse. */
	assert_int_equal(SSL_set_cipher_list(c.client,
	    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256:"
	    "ECDHE-ECDSA-AES256-GCM-SHA384"), 1);
	assert_int_equal(conn_handshake(&c), 1);
	tls_describe(c.client, desc, sizeof(desc));
	assert_string_equal(desc,
	    "TLSv1.2 with cipher ECDHE-ECDSA-AES256-GCM-SHA384");
	conn_close(&c);

	/* Only CBC offered: no common cipher. */
	conn_open(&c, ts, TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	assert_int_equal(SSL_set_cipher_list(c.client,
	    "ECDHE-ECDSA-AES128-SHA:AES256-SHA"), 1);
	assert_int_equal(conn_handshake(&c), -1);
	conn_close(&c);
	tls_server_free(ts);
}

static void
test_tls13(void **state)
{
	struct tls_server *ts = server_all(*state);
	char desc[128];
	struct conn c;

	conn_open(&c, ts, TLS1_2_VERSION, TLS1_3_VERSION, NULL);
	assert_int_equal(conn_handshake(&c), 1);
	tls_describe(c.server, desc, sizeof(desc));
	assert_string_equal(desc, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384");
	tls_describe(NULL, desc, sizeof(desc));
	assert_string_equal(desc, "");
	conn_close(&c);
	tls_server_free(ts);
}

static void
check_sni(struct tls_server *ts, int version, const char *sni,
    const char *want_cn)
{
	char cn[256];
	struct conn c;

	conn_open(&c, ts, version, version, sni);
	assert_int_equal(conn_handshake(&c), 1);
	peer_cn(c.client, cn, sizeof(cn));
	assert_string_equal(cn, want_cn);
	conn_close(&c);
}

static void
test_sni(void **state)
{
	struct tls_server *ts = server_all(*state);
	int v[] = { TLS1_2_VERSION, TLS1_3_VERSION };
	size_t i;

	for (i = 0; i < 2; i++) {
		check_sni(ts, v[i], NULL, "mx.example.test");
		check_sni(ts, v[i], "mx.example.test", "mx.example.test");
		check_sni(ts, v[i], "mail.other.test", "mail.other.test");
		check_sni(ts, v[i], "MAIL.Other.Test", "mail.other.test");
		check_sni(ts, v[i], "foo.wild.test", "wild.test");
		/* A wildcard covers one label only (RFC 6125 6.4.3). */
		check_sni(ts, v[i], "a.b.wild.test", "mx.example.test");
		check_sni(ts, v[i], "wild.test", "mx.example.test");
		check_sni(ts, v[i], "unknown.example", "mx.example.test");
		check_sni(ts, v[i], "old.test", "old.test");
	}
	tls_server_free(ts);
}

static void
test_renegotiation_refused(void **state)
{
	struct tls_server *ts = server_all(*state);
	char buf[16];
	struct conn c;
	int i, r = 0, failed = 0;

	conn_open(&c, ts, TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	assert_int_equal(conn_handshake(&c), 1);
	assert_int_equal(SSL_renegotiate(c.client), 1);
	/* The client sends a new ClientHello; the server refuses it and
	 * the client gives up. */
	for (i = 0; i < 20 && !failed; i++) {
		r = SSL_do_handshake(c.client);
		if (step_ok(c.client, r) < 0)
			failed = 1;
		if (step_ok(c.server, SSL_read(c.server, buf, sizeof(buf))) < 0)
			failed = 1;
		if (r == 1 && !SSL_renegotiate_pending(c.client))
			break;
	}
	assert_true(failed);
	assert_true(SSL_get_options(c.server) & SSL_OP_NO_RENEGOTIATION);
	assert_int_equal(SSL_get_secure_renegotiation_support(c.client), 1);
	conn_close(&c);

	/* The server cannot start one either. */
	conn_open(&c, ts, TLS1_2_VERSION, TLS1_2_VERSION, NULL);
	assert_int_equal(conn_handshake(&c), 1);
	assert_int_equal(SSL_renegotiate(c.server), 0);
	conn_close(&c);
	tls_server_free(ts);
}

/* On reload the old tls_server is freed while sessions are still in (or
 * before) their handshake; they must finish with the old certificates. */
static void
test_ssl_outlives_server(void **state)
{
	struct tls_server *ts = server_all(*state);
	char cn[256];
	struct conn c;

	conn_open(&c, ts, TLS1_2_VERSION, TLS1_3_VERSION, "mail.other.test");
	tls_server_free(ts);
	assert_int_equal(conn_handshake(&c), 1);
	peer_cn(c.client, cn, sizeof(cn));
	assert_string_equal(cn, "mail.other.test");
	conn_close(&c);
	assert_null(tls_server_ssl(NULL));
}

static void
test_error_text(void **state)
{
	char out[64];

	(void)state;
	ERR_clear_error();
	assert_string_equal(tls_error_text(out, sizeof(out)), "no OpenSSL error");
	ERR_raise(ERR_LIB_SSL, SSL_R_NO_CIPHERS_AVAILABLE);
	ERR_raise(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL);
	tls_error_text(out, sizeof(out));
	assert_non_null(strstr(out, "no ciphers available"));
	assert_int_equal(ERR_peek_error(), 0);
	/* Many errors: cut, marked, and the queue still emptied. */
	for (int i = 0; i < 10; i++)
		ERR_raise(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL);
	tls_error_text(out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_string_equal(out + sizeof(out) - 4, "...");
	assert_int_equal(ERR_peek_error(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_load_chain),
		cmocka_unit_test(test_load_mismatch),
		cmocka_unit_test(test_load_garbage),
		cmocka_unit_test(test_tls11_refused),
		cmocka_unit_test(test_tls12),
		cmocka_unit_test(test_tls12_server_preference),
		cmocka_unit_test(test_tls13),
		cmocka_unit_test(test_sni),
		cmocka_unit_test(test_renegotiation_refused),
		cmocka_unit_test(test_ssl_outlives_server),
		cmocka_unit_test(test_error_text),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
