/*
 * One outbound SMTP or LMTP connection on the event loop: connect, read
 * the greeting, EHLO/LHLO, STARTTLS when offered (or required), AUTH
 * PLAIN to a relay, then any number of transactions, one at a time.
 * Asynchronous: every step is a callback, nothing blocks (the message
 * data is read from the spool in bounded chunks by worker threads, ahead
 * of the socket draining).
 *
 * The caller (queue/outbound_slot.c) picks the addresses and decides what a
 * failure means for the destination; this module speaks the protocol
 * (RFC 5321, RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME,
 * RFC 6531 SMTPUTF8, RFC 3207, RFC 4954, RFC 2033 LMTP), enforces the
 * RFC 5321 4.5.3.2 timeouts, and classifies each recipient: OK,
 * TEMPFAIL or PERMFAIL with the text "host NAME[IP] said: REPLY (in reply
 * to CMD)" that bounces (bounce.c) and `decorum queue show` read.
 */
#ifndef DECORUM_DELIVER_SMTP_CLIENT_H
#define DECORUM_DELIVER_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "common/config.h"
#include "deliver/agent.h"

struct event_base;
struct smtp_conn;
struct workpool;

/* Fixed per connection. */
struct smtp_conn_params {
	bool lmtp;			/* LHLO and one reply per recipient */
	const char *helo;		/* our hostname */
	enum transport_tls tls;		/* may: STARTTLS when offered;
					 * require: never in clear; verify:
					 * and the certificate must chain to
					 * tls_ctx's CAs and name the host */
	bool no_tls;			/* never STARTTLS (retry after a broken
					 * handshake with tls = may) */
	const char *auth_user;		/* AUTH PLAIN after TLS, or NULL */
	const char *auth_password;
	unsigned connect_timeout;	/* seconds */
	/* RFC 5321 4.5.3.2 waits, seconds: the greeting; EHLO, STARTTLS,
	 * AUTH, MAIL, RCPT and RSET; DATA; each data block (a write that
	 * makes no progress); the reply after the final dot. */
	unsigned timeout_greeting, timeout_command, timeout_data_init;
	unsigned timeout_data_block, timeout_data_end;
	SSL_CTX *tls_ctx;
	/* The local address to connect from, of the destination's family
	 * (port 0), or source_len 0 for the kernel's choice. */
	struct sockaddr_storage source;
	socklen_t source_len;
	/* Worker threads that read the message data ahead, so the loop
	 * never waits for the disk (required). */
	struct workpool *pool;
};

struct smtp_client_rcpt {
	const char *addr;		/* RCPT TO:<addr> */
	struct deliver_result res;	/* filled by the transaction */
};

/* One transaction. */
struct smtp_client_msg {
	const char *id;			/* queue id, for logs */
	const char *sender;		/* "" for <> */
	bool smtputf8;			/* the envelope needs SMTPUTF8 */
	bool eightbit;			/* BODY=8BITMIME content */
	/* The data (dot-unstuffed, CRLF): the first data_size octets of
	 * the file data_name in the open folder data_dir, opened and read
	 * by params.pool's threads. */
	int data_dir;
	const char *data_name;
	int64_t data_size;
	struct smtp_client_rcpt *rcpts;
	size_t n_rcpts;
};

struct smtp_conn_ops {
	/* The connection is ready for a transaction (fail == NULL) or it
	 * could not be set up (fail says why; the connection is freed
	 * after the callback returns: do not use it). */
	void (*ready)(void *arg, struct smtp_conn *c,
	    const struct deliver_result *fail);
	/* The transaction ended: every recipient's res is filled.  The
	 * connection may be reused when smtp_conn_usable(). */
	void (*done)(void *arg, struct smtp_conn *c, struct smtp_client_msg *m);
	/* An idle connection was closed by the peer or timed out; it is
	 * freed after the callback returns. */
	void (*lost)(void *arg, struct smtp_conn *c);
};

/*
 * Connect to sa (a TCP address, or AF_UNIX for lmtp:unix:), from
 * p->source when it is set and sa is TCP.  name is the host name for
 * logs, texts, SNI and the certificate check ("mx.example.net", the
 * address literal of a relay:[IP], or the path).  The ops are called
 * later, never from inside this call; a failed bind is reported there
 * like a failed connect (4.4.0).
 */
struct smtp_conn *smtp_conn_open(struct event_base *base,
    const struct smtp_conn_params *p, const struct sockaddr *sa,
    socklen_t salen, const char *name, const struct smtp_conn_ops *ops,
    void *arg);

/* Start a transaction on a ready, idle connection.  m and its
 * recipients must live until ops->done. */
void smtp_conn_send(struct smtp_conn *c, struct smtp_client_msg *m);

/* Say QUIT (when the connection is idle and usable) and free it at
 * once; no callback runs afterwards.  NULL is fine.  After ops->done on
 * a connection that is not usable, the owner closes it with this. */
void smtp_conn_close(struct smtp_conn *c);

bool smtp_conn_usable(const struct smtp_conn *c);
/* Whether the setup failed in the TLS handshake (then a retry with
 * params.no_tls may succeed).  Valid in ops->ready.  Not after a
 * certificate that failed verification: that is no broken TLS stack,
 * and plaintext is no answer to it. */
bool smtp_conn_tls_failed(const struct smtp_conn *c);
/* "NAME[IP]:PORT" (or "unix:PATH"), for logs. */
const char *smtp_conn_relay(const struct smtp_conn *c);
/* "TLSv1.3" etc., or "none". */
const char *smtp_conn_tls(const struct smtp_conn *c);

#endif
