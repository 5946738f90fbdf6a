/*
 * Shared between the files of one session: the session object, the
 * transaction, and the functions session.c (I/O and life cycle) and
 * commands.c (what each command does) call in each other.  Not for use
 * outside src/smtpd/.
 */
#ifndef DECORUM_SMTPD_SESSION_INTERNAL_H
#define DECORUM_SMTPD_SESSION_INTERNAL_H

#include <stdbool.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "common/bounds.h"
#include "common/buf.h"
#include "smtp/address.h"
#include "smtp/data_reader.h"
#include "smtp/hops.h"
#include "smtp/reply.h"
#include "smtpd/session.h"

/* Message bytes go to the spool in chunks of about this size. */
#define DATA_CHUNK	(64 * 1024)
/* Reading stops while this much input waits unprocessed. */
#define INPUT_HIGH_WATER	(256 * 1024)

struct admission_client;
struct config;
struct auth_attempt;
struct bufferevent;
struct event;
struct fcrdns;
struct policy;
struct spool_writer;
struct content_scan;

enum session_state {
	SESSION_CONNECTED,	/* greeted, no HELO/EHLO yet */
	SESSION_READY,		/* HELO/EHLO done, no transaction */
	SESSION_MAIL,		/* MAIL accepted, no recipient yet */
	SESSION_RCPT,		/* at least one recipient accepted */
	SESSION_POLICY,		/* RCPT or DATA: waiting for the policy's answer */
	SESSION_DATA,		/* reading the message */
	SESSION_SCAN,		/* the message with the content scanners */
	SESSION_COMMIT,		/* message handed to the spool, waiting */
	SESSION_AUTH,		/* AUTH: waiting for the client's next response */
	SESSION_AUTH_CHECK,	/* AUTH: password check or failure delay running */
	SESSION_STARTTLS,	/* 220 to STARTTLS being sent, then the handshake */
	SESSION_CLOSING,	/* last reply queued, closing when flushed */
};

/* Lives from MAIL to the end of DATA (or RSET/HELO/QUIT). */
struct transaction {
	struct smtp_path sender;
	struct smtp_mail_params params;
	char **rcpts;			/* accepted, addr form, no duplicates */
	unsigned n_rcpts;
	unsigned rcpt_refused;		/* RCPTs answered with an error */
	struct spool_writer *writer;	/* during DATA */
	struct data_reader reader;
	struct buf data;		/* reader output not yet spooled */
	size_t spooled_upto;		/* data bytes already seen by capture */
	char queue_id[QUEUE_ID_MAX];
	bool write_failed;
	struct buf headers;		/* the header section: From: check, scanners */
	bool headers_done;		/* headers holds the whole section */
	struct hops hops;		/* Received: fields, for max_hops */
	struct buf received;		/* our Received: field, as spooled */
	bool exempt_rcpt;		/* an exempt mailbox is a recipient */
	struct content_scan *scan;	/* SESSION_SCAN and its rewrite */
	bool junk;			/* scanners: deliver to the spam folder */
	bool quarantine;		/* scanners: hold once queued */
	/* The RCPT waiting for the policy (SESSION_POLICY): its argument
	 * as sent, for the log, and its address. */
	char *waiting_arg;
	char *waiting_rcpt;
	enum session_state waiting_from;	/* MAIL or RCPT */
};

struct session {
	TAILQ_ENTRY(session) entry;
	struct server *srv;
	const struct listen_conf *lc;
	struct bufferevent *bev;
	struct sockaddr_storage peer;
	char ip[64];
	char id[32];			/* for logs: pid.counter */
	enum session_state state;
	bool esmtp;			/* EHLO rather than HELO */
	char helo[SMTP_DOMAIN_MAX + 1];
	struct buf line;		/* the command line being handled */
	struct transaction *tx;
	unsigned errors;
	unsigned n_commands;
	unsigned n_messages;
	bool discarding;		/* inside an over-long line */
	bool input_paused;		/* waiting for output to drain */
	bool dead;			/* client gone while pinned */
	unsigned pinned;		/* worker jobs holding a pointer to us */
	bool quit;			/* QUIT seen: close after the reply */
	bool starttls;			/* STARTTLS accepted: switch after the reply */
	char *rdns;			/* verified client name, NULL: unknown */
	bool tls;			/* TLS is active (implicit, or after STARTTLS) */
	char tls_info[128];		/* "TLSv1.3 with cipher ..." once handshaken */
	struct event *tls_close;	/* close_notify waiting for the socket */
	struct event *flush;		/* plaintext replies: write at end of pass */
	struct event *input;		/* plaintext: our read event; TLS: NULL */
	struct timeval input_timeout;	/* its timeout while reading is on */
	bool authenticated;
	char login[SMTP_ADDRESS_MAX + 1];	/* user@domain once authenticated */
	struct auth_attempt *auth;	/* AUTH exchange in progress */
	struct fcrdns *lookup;		/* client name lookup in flight */
	struct policy *policy;		/* NULL: no checks (relay_networks) */
	struct admission_client *client;	/* our count in the network's */
	/* The 220 waits for the client's name (lookup), greet_delay (the
	 * timer; on implicit TLS it starts after the handshake) and goes
	 * out once neither is pending. */
	struct event *greet_timer;
	bool greet_waiting;		/* greet_delay not over yet */
	bool greeted;			/* the 220 is out */
	unsigned junk;			/* junk commands so far */
};

/* session.c */
void session_set_state(struct session *s, enum session_state state);
void session_reply(struct session *s, const struct smtp_reply *r);
void session_count_reply(struct session *s, const struct smtp_reply *r);
void session_close(struct session *s, const struct smtp_reply *last);
void session_closed(struct session *s);
void session_commit_done(struct session *s, int err);
void session_process(struct session *s);
void session_resume(struct session *s);
void session_setcb(struct session *s);
/* Input has arrived (possibly only EOF); and EOF, an error, a timeout,
 * or the end of a TLS handshake (BEV_EVENT_* flags). */
void session_readable(struct session *s);
void session_event(struct session *s, short what);
bool session_drop_if_dead(struct session *s);
/* Count a command; junk (NOOP, RSET, VRFY, EXPN, HELP, unknown, bad
 * syntax) past junk_command_limit gets 421 and the session closes:
 * true, and the caller answers nothing more. */
bool session_junk_over(struct session *s, bool junk);

/* session_tls.c */
int session_tls_start(struct session *s, int fd);
void session_starttls(struct session *s);
void session_tls_connected(struct session *s);
bool session_tls_failed(struct session *s);
bool session_tls_close(struct session *s);

/* session_input.c: reading on and off, and its timeout, for either kind
 * of session; a plaintext one reads through its own event (init). */
void session_input_init(struct session *s);
void session_input_free(struct session *s);
void session_input_on(struct session *s);
void session_input_off(struct session *s);
void session_input_timeouts(struct session *s, const struct timeval *tv);

/* session_auth.c */
void session_auth_begin(struct session *s, const char *arg, size_t len, struct smtp_reply *r);
void session_auth_line(struct session *s, const char *line, size_t len);
void session_auth_free(struct session *s);
void session_auth_abandon(struct session *s);
bool session_auth_waiting(const struct session *s);

/* commands.c */
void session_command(struct session *s, const char *line, size_t len);
void session_reset_tx(struct session *s);
/* Whether addr is a recipient already (any case), and adding one. */
bool tx_has_rcpt(const struct transaction *tx, const char *addr);
void tx_add_rcpt(struct transaction *tx, const char *addr);

/* transaction.c */
void session_begin_data(struct session *s, struct smtp_reply *r);
void session_spool_data(struct session *s, bool final);
void session_end_data(struct session *s);
void session_finish_data(struct session *s, int err, struct smtp_reply *r);
void session_commit(struct session *s);
/* The data reply of a transaction that ends without a commit. */
void session_data_refused(struct session *s, const struct smtp_reply *r,
    const char *stage);

/* content_scan.c */
bool session_scan_configured(const struct config *cfg);
/* Whether the message goes to the scanners; if so, SESSION_SCAN until
 * it is refused or committed (session_commit). */
bool session_scan_start(struct session *s);
/* Ends the scan of tx without a word to anyone (the client left). */
void session_scan_cancel(struct transaction *tx);

#endif
