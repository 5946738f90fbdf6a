/*
 * Server-side TLS (RFC 3207 STARTTLS, RFC 8314 implicit TLS) on OpenSSL 3.
 *
 * Key material is read by the master (as root) into tls_keypair records
 * and handed to the unprivileged smtpd, which builds its SSL_CTXs from
 * memory: at start-up by inheritance across fork, on SIGHUP through a
 * socket (tls_keypairs_encode/decode).  The smtpd never opens key files.
 *
 * Policy: TLS 1.2 and 1.3 only; for TLS 1.2 ECDHE with AES-GCM or
 * ChaCha20-Poly1305 only (docs/configuration.md lists them); server
 * cipher preference; no compression; no renegotiation; session tickets
 * on.  The first keypair is the default; the others are chosen by SNI
 * when the requested name matches their certificate (SAN/CN, wildcards).
 */
#ifndef DECORUM_TLS_TLS_H
#define DECORUM_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <openssl/ssl.h>

#include "common/buf.h"

/* Limits of key material: per file, per path, keypairs per server. */
#define TLS_FILE_MAX		(1024 * 1024)
#define TLS_PATH_MAX		4096
#define TLS_KEYPAIRS_MAX	64

/* TLS 1.2 cipher list (TLS 1.3 suites are OpenSSL's defaults). */
#define TLS_CIPHERS_TLS12 \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"

struct tls_keypair {
	char *cert_path;	/* for logs */
	char *cert_pem;		/* full chain, leaf first */
	size_t cert_len;
	char *key_pem;		/* wiped on free */
	size_t key_len;
};

struct rootfile_rules;

/* tls_keypair_read's answer: which of the two files could not be used,
 * so a caller puts the error on that file's line, whatever the names. */
enum tls_keypair_fault {
	TLS_KEYPAIR_OK = 0,
	TLS_KEYPAIR_BAD_CERT = -1,
	TLS_KEYPAIR_BAD_KEY = -2,
};

/* Read both files (bounded size), opened by rules (common/rootfile.h).
 * TLS_KEYPAIR_OK, or the file at fault with err saying why ("PATH: ..."). */
enum tls_keypair_fault tls_keypair_read(const char *cert_path, const char *key_path,
    const struct rootfile_rules *rules, struct tls_keypair *kp, char *err,
    size_t errlen);
void tls_keypairs_free(struct tls_keypair *kps, size_t n);	/* frees kps too */
/* Free (and wipe) the members of one keypair; kp itself is the caller's. */
void tls_keypair_free(struct tls_keypair *kp);

/* The most the encoding of a key set may take: what one control frame
 * carries to the smtpd on SIGHUP (smtpd/control_frame.h's
 * CONTROL_FRAME_MAX may not be less; the master checks it).  A set
 * over it could start a daemon that never reloads, so
 * tls_config_load refuses it. */
#define TLS_KEYPAIRS_WIRE_MAX	(8 * 1024 * 1024)

/* The octets tls_keypairs_encode appends for kps (no overflow: every
 * count and length is bounded above). */
size_t tls_keypairs_encoded_size(const struct tls_keypair *kps, size_t n);

/* Serialise keypairs for the master → smtpd socket, and back.  decode
 * returns 0 and a new array, or -1 on malformed input.  encode appends in
 * one piece (-1 when out's maximum is too small or a keypair is out of
 * bounds); out then holds private keys: wipe it (explicit_bzero of
 * out->data, out->cap) before buf_free. */
int tls_keypairs_encode(const struct tls_keypair *kps, size_t n, struct buf *out);
int tls_keypairs_decode(const char *data, size_t len, struct tls_keypair **kps, size_t *n);

struct config;
struct config_error;
struct safedir_owner;

/* Read and check the certificates and keys cfg names (tls, tls.sni) the
 * way the master does at start and on SIGHUP (tls_config.c), out of the
 * reach of o, the workers' account (config_root_rules; o may be NULL).
 * 0 and the keypairs (none when cfg has no tls), or -1 and err naming
 * the key's FILE:LINE. */
int tls_config_load(const struct config *cfg, const struct safedir_owner *o,
    struct tls_keypair **kps, size_t *n, struct config_error *err);

struct tls_server;

/* Build the contexts; validates that each key matches its certificate.
 * NULL and err (with OpenSSL's reason) on failure. */
struct tls_server *tls_server_new(const struct tls_keypair *kps, size_t n,
    char *err, size_t errlen);
/* Sessions already holding an SSL from it keep working (refcounts). */
void tls_server_free(struct tls_server *ts);
/* A new server-side SSL for one connection, or NULL. */
SSL *tls_server_ssl(struct tls_server *ts);

/*
 * Client side (tls_client.c).  One context per trust setting, made at
 * start-up: ca_pem NULL for the system store (the default bundle, read
 * whole now, so no handshake opens a file), or the PEM certificates of a
 * transport's tls_ca (each one a trust anchor).  NULL and err when the
 * context cannot be made or ca_pem holds no usable certificate.
 */
SSL_CTX *tls_client_ctx_new(const char *ca_pem, size_t ca_len, char *err,
    size_t errlen);
/*
 * A client SSL for one connection to peer: a host name (also sent as
 * SNI) or an IP address literal (no SNI, RFC 6066 3); a path or NULL
 * names nothing.  The certificate is checked against peer either way;
 * with verify the handshake fails unless it chains to a trusted
 * certificate and names peer, and NULL is returned when there is no
 * peer to check.
 */
SSL *tls_client_ssl(SSL_CTX *ctx, const char *peer, bool verify);
/* After the handshake, or after it failed: 1 when the certificate was
 * verified, 0 when it was refused (why gets OpenSSL's reason:
 * "self-signed certificate", "hostname mismatch"), -1 when none was
 * seen (why: "no certificate"). */
int tls_client_verify_result(const SSL *ssl, char *why, size_t whylen);

/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384", for Received: and logs. */
void tls_describe(const SSL *ssl, char *out, size_t outlen);
/* Drain OpenSSL's error queue into one line of text (for logs). */
const char *tls_error_text(char *out, size_t outlen);

#endif
