/*
 * Internals shared by the files of the outbound SMTP/LMTP client; not for
 * other modules (they use smtp_client.h).
 *
 *   smtp_client.c     the connection: open, set-up (greeting, EHLO/HELO,
 *                     STARTTLS, AUTH), input framing, events, a broken
 *                     connection, close, accessors; the helpers below
 *   smtp_client_tx.c  the transaction: smtp_conn_send(), MAIL/RCPT/DATA,
 *                     the FIFO of expected replies, data streaming, what
 *                     each reply means for the recipients
 *   smtp_client_data.c  the message data, read ahead by worker threads
 *
 * smtpc_ names are helpers of smtp_client.c that the transaction uses
 * too (smtp_conn_ is the public API); smtp_tx_ names are the
 * transaction's entry points that the connection calls when a reply, a
 * drained socket or a failure belongs to the transaction.
 */
#ifndef DECORUM_DELIVER_SMTP_CLIENT_PRIV_H
#define DECORUM_DELIVER_SMTP_CLIENT_PRIV_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/bounds.h"
#include "deliver/smtp_client.h"
#include "smtp/client_proto.h"

/* Message data goes out in chunks read from the spool ahead of the
 * socket draining, so a large message never sits in memory whole. */
#define DATA_CHUNK		(64 * 1024)
#define DATA_HIGH_WATER		(256 * 1024)
#define DATA_LOW_WATER		(64 * 1024)

struct bufferevent;
struct event;
struct smtp_data;
struct workpool;

enum conn_state {
	C_CONNECTING, C_GREETING, C_EHLO, C_HELO, C_STARTTLS, C_HANDSHAKE,
	C_AUTH, C_IDLE, C_TX, C_DATA, C_RSET,
	C_FAILING,	/* the transaction's end is reported from the loop */
};

enum expect { X_MAIL, X_RCPT, X_DATA, X_DOT, X_DOT_EMPTY };

struct expectation {
	enum expect what;
	size_t rcpt;		/* X_RCPT, and X_DOT under LMTP */
};

struct smtp_conn {
	struct event_base *base;
	struct smtp_conn_params p;
	const struct smtp_conn_ops *ops;
	void *arg;
	struct bufferevent *bev;
	enum conn_state state;
	struct smtp_client_reader rd;
	struct smtp_client_reply reply;	/* the last complete reply */
	struct smtp_caps caps;
	char name[SMTP_DOMAIN_MAX + 1];
	char ip[INET6_ADDRSTRLEN + 8];
	char relay[SMTP_DOMAIN_MAX + INET6_ADDRSTRLEN + 16];
	char tls_version[32];
	bool tls_on, tls_failed, usable, tried_helo;
	int connect_errno;
	struct event *later;		/* a failure reported from the loop
					 * (smtpc_later); freed with c */

	/* The transaction in progress. */
	struct smtp_client_msg *m;
	struct expectation *x;
	size_t x_head, x_tail;
	size_t next_rcpt;		/* without PIPELINING: next to send */
	size_t *accepted;		/* rcpt indexes that got 2xx */
	size_t n_accepted;
	bool mail_ok;
	struct deliver_result mail_fail;
	struct smtp_dot_stuffer ds;
	struct smtp_data *data;		/* read ahead, or NULL */
	struct event *data_wait;	/* C_DATA waits for a chunk: at most
					 * timeout_data_block; freed with c */
};

/* smtp_client.c */
/* Read and write timeout; 0: none. */
void smtpc_timeout(struct smtp_conn *c, unsigned seconds);
/* Run cb(c) from the loop, never from inside the caller's call, through
 * an event c owns: freed with c, it never fires for a connection that
 * was closed meanwhile.  A connection that failed does nothing else, so
 * at most one is pending. */
void smtpc_later(struct smtp_conn *c, event_callback_fn cb);
/* Queue line and CRLF for the server. */
void smtpc_line(struct smtp_conn *c, const char *line);
/* snprintf for texts that may be cut: a cut is marked, never silent. */
void smtpc_textf(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void smtpc_result(struct deliver_result *res, enum deliver_status st,
    const char *code, const char *text);
/* A reply as a result: its class decides, its enhanced code is kept
 * when it agrees with the class (else x.0.0). */
void smtpc_reply_result(struct smtp_conn *c,
    const struct smtp_client_reply *r, const char *in_reply_to,
    struct deliver_result *res);

/* smtp_client_tx.c */
/* A reply while in C_TX or C_DATA.  -1 when c was freed or handed back
 * (stop reading), -2 for a reply nobody asked for. */
int smtp_tx_reply(struct smtp_conn *c);
/* The transaction is over: hand m back through ops->done. */
void smtp_tx_done(struct smtp_conn *c);
/* Every recipient without a result gets res (a whole-message outcome). */
void smtp_tx_fill_unfinished(struct smtp_conn *c,
    const struct deliver_result *res);
/* Fill the socket with message data until the high-water mark. */
void smtp_tx_stream_data(struct smtp_conn *c);

/* smtp_client_data.c */
/* Starts reading the file name in the folder dirfd in pool's threads;
 * ready(arg) runs on the loop after each read, until released. */
struct smtp_data *smtp_data_open(struct workpool *pool, int dirfd,
    const char *name, int64_t size, void (*ready)(void *arg), void *arg);
/* 1: the next chunk is *p, *len octets (0: the end of the data); 0: a
 * read is under way (ready() follows); -1: the file could not be read
 * (errno says why). */
int smtp_data_peek(const struct smtp_data *sd, const char **p, size_t *len);
/* The chunk peeked is used: read the next one (none when the chunk was
 * known to end the file: the next peek gives the end at once). */
void smtp_data_next(struct smtp_data *sd);
/* The transaction lets go: no ready() any more; a read in flight frees
 * the object when it completes.  NULL is fine. */
void smtp_data_release(struct smtp_data *sd);

#endif
