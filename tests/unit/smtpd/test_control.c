/*
 * The control channel end to end in one process: the master's end
 * (src/daemon/channel.c) and the smtpd's (src/smtpd/control.c) on a real
 * socketpair, the smtpd side on a real libevent loop, with real key
 * material made here.  Checked: keys arrive and replace the TLS
 * contexts; a frame far larger than the socket buffer goes out in many
 * writes with the reader stalled and arrives whole; a newer frame
 * replaces one not yet started, never one half written; bytes that are
 * not a frame (junk, a torn frame) are skipped, the next frame is
 * applied, and the smtpd asks once for a resend, which the master sees;
 * an older sequence number is not applied; the smtpd's end closing is
 * seen by the master.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "common/xmalloc.h"
#include "daemon/channel.h"
#include "smtpd/control.h"
#include "smtpd/control_frame.h"
#include "smtpd/server.h"
#include "tls/tls.h"

/* ---- key material -------------------------------------------------- */

static char *
pem_of(int (*write)(BIO *, const void *), const void *obj, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *copy;
	long n;

	assert_non_null(bio);
	assert_int_equal(write(bio, obj), 1);
	n = BIO_get_mem_data(bio, &data);
	copy = xmalloc((size_t)n + 1);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*len = (size_t)n;
	BIO_free(bio);
	return copy;
}

static int
write_x509(BIO *b, const void *x)
{
	return PEM_write_bio_X509(b, (X509 *)x);
}

static int
write_key(BIO *b, const void *k)
{
	return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)k, NULL, NULL, 0, NULL,
	    NULL);
}

/* A self-signed certificate for cn, and its key, as a keypair whose
 * chain is the certificate followed by pad copies of itself (to make
 * frames of any size). */
static void
make_pair(struct tls_keypair *kp, const char *cn, int pad, X509 **out)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	char *one;
	size_t len;

	assert_non_null(key);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), random() & 0xffffff);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	memset(kp, 0, sizeof(*kp));
	kp->cert_path = xasprintf("/test/%s.pem", cn);
	one = pem_of(write_x509, x, &len);
	kp->cert_len = len * (size_t)(1 + pad);
	kp->cert_pem = xmalloc(kp->cert_len + 1);
	for (int i = 0; i <= pad; i++)
		memcpy(kp->cert_pem + len * (size_t)i, one, len);
	kp->cert_pem[kp->cert_len] = '\0';
	free(one);
	kp->key_pem = pem_of(write_key, key, &kp->key_len);
	EVP_PKEY_free(key);
	*out = x;
}

/* ---- the two ends --------------------------------------------------- */

struct fixture {
	struct server srv;
	struct control *ctl;
	struct channel ch;
	struct tls_keypair kp[3];
	X509 *x[3];
	int resend;		/* resend requests the master saw */
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	int fd;

	make_pair(&f->kp[0], "a.example.test", 0, &f->x[0]);
	make_pair(&f->kp[1], "b.example.test", 0, &f->x[1]);
	/* About 600 KiB of chain: well over a socketpair's buffer. */
	make_pair(&f->kp[2], "big.example.test", 900, &f->x[2]);
	f->srv.base = event_base_new();
	assert_non_null(f->srv.base);
	channel_init(&f->ch);
	fd = channel_open(&f->ch);
	assert_true(fd >= 0);
	f->ctl = control_new(&f->srv, fd);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	control_free(f->ctl);
	channel_close(&f->ch);
	tls_server_free(f->srv.tls);
	event_base_free(f->srv.base);
	for (int i = 0; i < 3; i++) {
		tls_keypair_free(&f->kp[i]);
		X509_free(f->x[i]);
	}
	free(f);
	return 0;
}

/* Queue keypair i as the master does on SIGHUP. */
static void
send_keys(struct fixture *f, int i)
{
	struct buf payload;

	buf_init(&payload, CONTROL_FRAME_MAX);
	assert_int_equal(tls_keypairs_encode(&f->kp[i], 1, &payload), 0);
	assert_int_equal(channel_send_keys(&f->ch, payload.data, payload.len), 0);
	explicit_bzero(payload.data, payload.cap);
	buf_free(&payload);
}

/* Run both ends a little: the master writes, the smtpd's loop reads. */
static void
turn(struct fixture *f, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		int r = channel_service(&f->ch);

		if (r > 0)
			f->resend += r;
		event_base_loop(f->srv.base, EVLOOP_NONBLOCK);
	}
}

/* Which certificate new connections would get. */
static bool
serving(const struct fixture *f, int i)
{
	SSL *ssl = tls_server_ssl(f->srv.tls);
	bool same;

	if (ssl == NULL)
		return false;
	same = X509_cmp(SSL_get_certificate(ssl), f->x[i]) == 0;
	SSL_free(ssl);
	return same;
}

static void
until_serving(struct fixture *f, int i)
{
	for (int n = 0; n < 2000 && !serving(f, i); n++)
		turn(f, 1);
	assert_true(serving(f, i));
}

/* Raw bytes into the stream, behind the channel's back. */
static void
inject(struct fixture *f, const void *p, size_t len)
{
	assert_int_equal(write(f->ch.fd, p, len), (ssize_t)len);
}

static void
test_keys_arrive(void **state)
{
	struct fixture *f = *state;

	assert_null(f->srv.tls);
	send_keys(f, 0);
	until_serving(f, 0);
	assert_int_equal(control_seq(f->ctl), 1);
	send_keys(f, 1);
	until_serving(f, 1);
	assert_int_equal(control_seq(f->ctl), 2);
	assert_false(channel_busy(&f->ch));
	assert_int_equal(f->resend, 0);
}

/* The reader stalls; the master never blocks, finishes the frame it
 * started, and the newest frame replaces the one that had not. */
static void
test_big_frames_stay_whole(void **state)
{
	struct fixture *f = *state;

	send_keys(f, 2);	/* ~600 KiB: cannot go out at once */
	assert_int_equal(channel_service(&f->ch), 0);
	assert_true(channel_busy(&f->ch));
	send_keys(f, 0);	/* waits behind it ... */
	send_keys(f, 1);	/* ... and is replaced by this one */
	assert_int_equal(f->ch.seq, 3);
	until_serving(f, 1);
	assert_int_equal(control_seq(f->ctl), 3);
	assert_false(channel_busy(&f->ch));
	assert_int_equal(f->resend, 0);
}

static void
test_junk_then_frame(void **state)
{
	struct fixture *f = *state;

	inject(f, "this is not a frame DCF", 23);
	send_keys(f, 0);
	until_serving(f, 0);
	turn(f, 20);
	assert_int_equal(f->resend, 1);	/* asked once, not per octet */
	/* The master answers a resend with the keys it holds. */
	send_keys(f, 0);
	turn(f, 20);
	assert_int_equal(control_seq(f->ctl), 2);
	assert_int_equal(f->resend, 1);
}

/* Half a frame, as a master that gave up mid-write would leave it: its
 * header promises more than comes, the next frame's bytes fill it, the
 * check fails, and the reader finds the next frame inside. */
static void
test_torn_frame(void **state)
{
	struct fixture *f = *state;
	struct buf torn, payload;

	buf_init(&payload, CONTROL_FRAME_MAX);
	buf_init(&torn, CONTROL_FRAME_MAX + 64);
	assert_int_equal(tls_keypairs_encode(&f->kp[0], 1, &payload), 0);
	assert_int_equal(control_frame_encode(&torn, CONTROL_KEYS, 9,
	    payload.data, payload.len), 0);
	inject(f, torn.data, torn.len / 2);
	buf_free(&torn);
	buf_free(&payload);
	f->ch.seq = 9;
	send_keys(f, 1);	/* seq 10 */
	send_keys(f, 1);	/* seq 11, after it */
	until_serving(f, 1);
	turn(f, 20);
	assert_true(control_seq(f->ctl) >= 10);
	assert_int_equal(f->resend, 1);
}

static void
test_old_seq_ignored(void **state)
{
	struct fixture *f = *state;
	struct buf frame, payload;

	send_keys(f, 0);
	send_keys(f, 0);
	until_serving(f, 0);
	turn(f, 20);
	assert_int_equal(control_seq(f->ctl), 2);
	buf_init(&payload, CONTROL_FRAME_MAX);
	buf_init(&frame, CONTROL_FRAME_MAX + 64);
	assert_int_equal(tls_keypairs_encode(&f->kp[1], 1, &payload), 0);
	assert_int_equal(control_frame_encode(&frame, CONTROL_KEYS, 1,
	    payload.data, payload.len), 0);
	inject(f, frame.data, frame.len);
	turn(f, 20);
	assert_true(serving(f, 0));
	assert_int_equal(control_seq(f->ctl), 2);
	assert_int_equal(f->resend, 0);	/* a whole frame: nothing to ask */
	buf_free(&frame);
	buf_free(&payload);
}

static void
test_smtpd_gone(void **state)
{
	struct fixture *f = *state;

	send_keys(f, 2);
	assert_int_equal(channel_service(&f->ch), 0);
	assert_true(channel_busy(&f->ch));
	control_free(f->ctl);	/* the smtpd dies with half a frame read */
	f->ctl = NULL;
	/* libevent closes a freed bufferevent's socket from its loop. */
	event_base_loop(f->srv.base, EVLOOP_NONBLOCK);
	assert_int_equal(channel_service(&f->ch), -1);
	assert_int_equal(f->ch.fd, -1);
	assert_false(channel_busy(&f->ch));
	assert_int_equal(channel_send_keys(&f->ch, "x", 1), -1);
	/* A new smtpd gets a clean channel. */
	f->ctl = control_new(&f->srv, channel_open(&f->ch));
	send_keys(f, 0);
	until_serving(f, 0);
	assert_int_equal(f->resend, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keys_arrive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_frames_stay_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_junk_then_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_seq_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtpd_gone, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
