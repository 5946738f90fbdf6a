/*
 * Unit tests of src/tls/tls_keypair.c: reading certificate and key files
 * (missing, not a file, too big, empty, good) and the master -> smtpd
 * wire format (round trip; every truncation, trailing bytes, bad magic,
 * counts and lengths out of bounds are refused without reading past the
 * input).  No OpenSSL needed: the PEM is just bytes here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/rootfile.h"
#include "common/xmalloc.h"
#include "tls/tls.h"

static char tmpdir[] = "/tmp/decorum-tls-test.XXXXXX";
/* No account to guard against, no folders to keep apart from
 * (tests/unit/common/test_rootfile.c has the rules). */
static const struct rootfile_rules none;

static char *
tmp_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

static void
write_file(const char *name, const char *data, size_t len)
{
	char *p = tmp_path(name);
	FILE *fp = fopen(p, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	free(p);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	const char *names[] = { "cert.pem", "key.pem", "big.pem", "empty.pem" };
	size_t i;
	char *p;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		p = tmp_path(names[i]);
		unlink(p);
		free(p);
	}
	rmdir(tmpdir);
	return 0;
}

static void
test_read(void **state)
{
	struct tls_keypair kp;
	char err[512];
	char *cert, *key, *big, *empty, *missing;
	char *bigdata;

	(void)state;
	cert = tmp_path("cert.pem");
	key = tmp_path("key.pem");
	big = tmp_path("big.pem");
	empty = tmp_path("empty.pem");
	missing = tmp_path("missing.pem");
	write_file("cert.pem", "CERT\n", 5);
	write_file("key.pem", "KEY\n", 4);
	write_file("empty.pem", "", 0);
	bigdata = xcalloc(1, (size_t)TLS_FILE_MAX + 1);
	memset(bigdata, 'x', (size_t)TLS_FILE_MAX + 1);
	write_file("big.pem", bigdata, (size_t)TLS_FILE_MAX + 1);
	free(bigdata);

	assert_int_equal(tls_keypair_read(cert, key, &none, &kp, err, sizeof(err)),
	    TLS_KEYPAIR_OK);
	assert_string_equal(kp.cert_path, cert);
	assert_string_equal(kp.cert_pem, "CERT\n");
	assert_int_equal(kp.cert_len, 5);
	assert_string_equal(kp.key_pem, "KEY\n");
	assert_int_equal(kp.key_len, 4);
	tls_keypair_free(&kp);
	tls_keypair_free(&kp);		/* twice is fine */
	assert_null(kp.key_pem);

	assert_int_equal(tls_keypair_read(missing, key, &none, &kp, err, sizeof(err)),
	    TLS_KEYPAIR_BAD_CERT);
	assert_non_null(strstr(err, missing));
	assert_non_null(strstr(err, "missing"));
	assert_null(kp.cert_pem);

	/* A bad key after a good certificate: nothing leaks, key named. */
	assert_int_equal(tls_keypair_read(cert, big, &none, &kp, err, sizeof(err)),
	    TLS_KEYPAIR_BAD_KEY);
	assert_non_null(strstr(err, big));
	assert_non_null(strstr(err, "too big"));
	assert_null(kp.cert_pem);

	assert_int_equal(tls_keypair_read(cert, empty, &none, &kp, err, sizeof(err)),
	    TLS_KEYPAIR_BAD_KEY);
	assert_non_null(strstr(err, "empty"));

	/* The file at fault is said, not guessed from the message: a key
	 * whose name starts with the certificate's is still the key. */
	assert_int_equal(tls_keypair_read(empty, big, &none, &kp, err, sizeof(err)),
	    TLS_KEYPAIR_BAD_CERT);
	assert_int_equal(tls_keypair_read(cert, tmpdir, &none, &kp, err, sizeof(err)),
	    TLS_KEYPAIR_BAD_KEY);
	assert_non_null(strstr(err, "not a regular file"));

	assert_int_equal(tls_keypair_read(tmpdir, key, &none, &kp, err, sizeof(err)),
	    TLS_KEYPAIR_BAD_CERT);
	assert_non_null(strstr(err, "not a regular file"));

	if (geteuid() != 0) {
		assert_int_equal(chmod(key, 0), 0);
		assert_int_equal(tls_keypair_read(cert, key, &none, &kp, err,
		    sizeof(err)), TLS_KEYPAIR_BAD_KEY);
		assert_non_null(strstr(err, "unreadable"));
	}
	free(cert);
	free(key);
	free(big);
	free(empty);
	free(missing);
}

static void
fill(struct tls_keypair *kp, const char *path, const char *cert,
    const char *key)
{
	kp->cert_path = path ? xstrdup(path) : NULL;
	kp->cert_pem = xstrdup(cert);
	kp->cert_len = strlen(cert);
	kp->key_pem = xstrdup(key);
	kp->key_len = strlen(key);
}

static void
test_round_trip(void **state)
{
	struct tls_keypair *in = xcalloc(3, sizeof(*in)), *out;
	struct buf b;
	size_t n, i, cut;

	(void)state;
	fill(&in[0], "/etc/decorum/cert.pem", "-----CERT A-----\n", "KEY A");
	fill(&in[1], NULL, "C", "K");
	/* Binary bytes, NUL included, survive. */
	fill(&in[2], "/b", "x", "y");
	in[2].key_pem[0] = '\0';
	buf_init(&b, 1 << 22);
	assert_int_equal(tls_keypairs_encode(in, 3, &b), 0);
	assert_int_equal(tls_keypairs_decode(b.data, b.len, &out, &n), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < 3; i++) {
		assert_string_equal(out[i].cert_path,
		    in[i].cert_path ? in[i].cert_path : "");
		assert_int_equal(out[i].cert_len, in[i].cert_len);
		assert_memory_equal(out[i].cert_pem, in[i].cert_pem, in[i].cert_len);
		assert_int_equal(out[i].key_len, in[i].key_len);
		assert_memory_equal(out[i].key_pem, in[i].key_pem, in[i].key_len);
		assert_int_equal(out[i].key_pem[out[i].key_len], '\0');
	}
	tls_keypairs_free(out, n);

	/* Every proper prefix is refused. */
	for (cut = 0; cut < b.len; cut++) {
		assert_int_equal(tls_keypairs_decode(b.data, cut, &out, &n), -1);
		assert_null(out);
		assert_int_equal(n, 0);
	}
	/* So are trailing bytes. */
	assert_int_equal(buf_append(&b, "", 1), 0);
	assert_int_equal(tls_keypairs_decode(b.data, b.len, &out, &n), -1);

	/* A buffer too small for the encoding: -1, contents unchanged. */
	buf_reset(&b);
	b.max = 10;
	assert_int_equal(tls_keypairs_encode(in, 3, &b), -1);
	assert_int_equal(b.len, 0);

	/* Zero keypairs encode and decode. */
	b.max = 100;
	assert_int_equal(tls_keypairs_encode(in, 0, &b), 0);
	assert_int_equal(tls_keypairs_decode(b.data, b.len, &out, &n), 0);
	assert_int_equal(n, 0);
	tls_keypairs_free(out, n);

	/* An empty PEM is not key material. */
	in[1].cert_len = 0;
	assert_int_equal(tls_keypairs_encode(in, 3, &b), -1);
	explicit_bzero(b.data, b.cap);
	buf_free(&b);
	tls_keypairs_free(in, 3);
	tls_keypairs_free(NULL, 3);
}

static void
test_decode_bounds(void **state)
{
	struct tls_keypair *out;
	size_t n;
	/* count = 1, path 0, cert 1 "C", key 1 "K" */
	static const char good[] = "DTK1\0\0\0\1" "\0\0\0\0"
	    "\0\0\0\1C" "\0\0\0\1K";
	char m[sizeof(good)];

	(void)state;
	assert_int_equal(tls_keypairs_decode(good, sizeof(good) - 1, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].cert_pem, "C");
	tls_keypairs_free(out, n);

	assert_int_equal(tls_keypairs_decode(NULL, 0, &out, &n), -1);
	memcpy(m, good, sizeof(good));
	m[3] = '2';				/* magic */
	assert_int_equal(tls_keypairs_decode(m, sizeof(good) - 1, &out, &n), -1);

	memcpy(m, good, sizeof(good));
	m[4] = 0x7f;				/* huge count */
	assert_int_equal(tls_keypairs_decode(m, sizeof(good) - 1, &out, &n), -1);
	m[4] = 0;
	m[7] = 65;				/* count > TLS_KEYPAIRS_MAX */
	assert_int_equal(tls_keypairs_decode(m, sizeof(good) - 1, &out, &n), -1);
	m[7] = 2;				/* count > what follows */
	assert_int_equal(tls_keypairs_decode(m, sizeof(good) - 1, &out, &n), -1);

	memcpy(m, good, sizeof(good));
	m[11] = 1;				/* path eats the cert length */
	assert_int_equal(tls_keypairs_decode(m, sizeof(good) - 1, &out, &n), -1);

	memcpy(m, good, sizeof(good));
	m[12] = (char)0xff;			/* cert length 4 GiB */
	assert_int_equal(tls_keypairs_decode(m, sizeof(good) - 1, &out, &n), -1);
	m[12] = 0;
	m[15] = 0;				/* empty cert */
	assert_int_equal(tls_keypairs_decode(m, sizeof(good) - 1, &out, &n), -1);

	memcpy(m, good, sizeof(good));
	m[18] = 0x10;				/* key length > 1 MiB */
	assert_int_equal(tls_keypairs_decode(m, sizeof(good) - 1, &out, &n), -1);
}

static void
test_decode_path_nul(void **state)
{
	struct tls_keypair *out;
	size_t n;
	static const char nul[] = "DTK1\0\0\0\1" "\0\0\0\2a\0"
	    "\0\0\0\1C" "\0\0\0\1K";

	(void)state;
	assert_int_equal(tls_keypairs_decode(nul, sizeof(nul) - 1, &out, &n), -1);
}

static void
test_encode_bounds(void **state)
{
	struct tls_keypair kp;
	struct buf b;

	(void)state;
	fill(&kp, "/p", "C", "K");
	buf_init(&b, 1 << 22);
	assert_int_equal(tls_keypairs_encode(&kp, TLS_KEYPAIRS_MAX + 1, &b), -1);
	kp.key_len = (size_t)TLS_FILE_MAX + 1;	/* never dereferenced */
	assert_int_equal(tls_keypairs_encode(&kp, 1, &b), -1);
	kp.key_len = 1;
	assert_int_equal(b.len, 0);
	buf_free(&b);
	tls_keypair_free(&kp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_decode_bounds),
		cmocka_unit_test(test_decode_path_nul),
		cmocka_unit_test(test_encode_bounds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
