/*
 * The DATA phase of a transaction: open a spool file, stamp the Received:
 * header, stream the message through the DATA reader into the spool, and
 * commit it.  The 250 goes out only from session_finish_data(), which
 * runs after the spool reported the message durable (write, fsync,
 * rename, directory fsync: see docs/queue.md).
 *
 * A message the DATA reader flags (bare LF/CR, over-long line, too big)
 * is read to its real end and refused there, so the dialogue stays in
 * sync and nothing smuggled after a bare-LF "end" is ever executed.
 * So is a message with more than max_hops Received: fields (RFC 5321
 * 6.3: a mail loop), counted as the header section streams past
 * (smtp/hops.h); our own Received: goes straight to the spool and is
 * not counted.
 */
#include "smtpd/session_internal.h"

#include <event2/bufferevent.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/log.h"
#include "common/workpool.h"
#include "common/xmalloc.h"
#include "queue/notify.h"
#include "queue/spool.h"
#include "queue/spool_hold.h"
#include "route/senders.h"
#include "smtp/header_from.h"
#include "smtpd/received.h"
#include "smtpd/server.h"

/* The From: check and the scanners read at most this much of the header
 * section (Postfix's header_size_limit is 100 KiB; the rest is body to
 * a milter, as there). */
#define HEADERS_MAX	(256 * 1024)

/* RFC 3848 and RFC 6531 7.1: ESMTP, ESMTPS, ESMTPSA, UTF8SMTPSA, ... */
static void
protocol_name(const struct session *s, char *out, size_t outlen)
{
	if (!s->esmtp) {
		snprintf(out, outlen, "SMTP");
		return;
	}
	snprintf(out, outlen, "%s%s%s", s->tx->params.smtputf8 ? "UTF8SMTP" : "ESMTP",
	    s->tls ? "S" : "", s->authenticated ? "A" : "");
}

void
session_begin_data(struct session *s, struct smtp_reply *r)
{
	struct transaction *tx = s->tx;
	const struct config *cfg = s->srv->cfg;
	char err[256], safe[LOG_SAFE_SIZE(256)];
	struct received_info ri;
	char protocol[16];

	tx->writer = spool_writer_new(s->srv->spool, err, sizeof(err));
	if (tx->writer == NULL) {
		log_error("event=spool-error session=%s reason=\"%s\"", s->id,
		    log_safe(err, safe, sizeof(safe)));
		smtp_reply_set(r, 451, "4.3.0", "Temporary failure, try again later");
		return;
	}
	snprintf(tx->queue_id, sizeof(tx->queue_id), "%s", spool_writer_id(tx->writer));
	memset(&ri, 0, sizeof(ri));
	ri.helo = s->helo;
	ri.rdns = s->rdns;
	ri.ip = s->ip;
	ri.sender = tx->sender.addr;
	ri.hostname = cfg->hostname;
	protocol_name(s, protocol, sizeof(protocol));
	ri.protocol = protocol;
	ri.tls = s->tls ? s->tls_info : NULL;
	/* Privacy for authenticated submission: the client's address stays
	 * in our logs, not in the message. */
	ri.hide_client = s->authenticated && cfg->submission_hide_ip;
	ri.queue_id = tx->queue_id;
	ri.rcpt = tx->n_rcpts == 1 ? tx->rcpts[0] : NULL;
	ri.when = time(NULL);
	buf_init(&tx->received, 4096);
	if (received_format(&ri, &tx->received) < 0 ||
	    spool_writer_write(tx->writer, tx->received.data, tx->received.len) < 0)
		tx->write_failed = true;
	data_reader_init(&tx->reader, cfg->max_message_size, SMTP_TEXT_LINE_MAX);
	buf_init(&tx->headers, HEADERS_MAX);
	hops_init(&tx->hops);
	tx->headers_done = !(s->authenticated && cfg->submission_check_from) &&
	    !session_scan_configured(cfg);
	session_set_state(s, SESSION_DATA);
	smtp_reply_set(r, 354, "", "End data with <CR><LF>.<CR><LF>");
}

/* Keep a copy of the header section while it streams past. */
static void
capture_headers(struct transaction *tx, size_t from)
{
	size_t n = tx->data.len - from;

	if (tx->headers_done)
		return;
	if (n > tx->headers.max - tx->headers.len)
		n = tx->headers.max - tx->headers.len;
	buf_append(&tx->headers, tx->data.data + from, n);
	if (tx->headers.len == tx->headers.max ||
	    memmem(tx->headers.data, tx->headers.len, "\r\n\r\n", 4) != NULL ||
	    (tx->headers.len >= 2 && memcmp(tx->headers.data, "\r\n", 2) == 0))
		tx->headers_done = true;
}

/* Move reader output into the spool file, in large chunks. */
void
session_spool_data(struct session *s, bool final)
{
	struct transaction *tx = s->tx;

	capture_headers(tx, tx->spooled_upto);
	if (tx->data.len > tx->spooled_upto && !hops_done(&tx->hops))
		hops_feed(&tx->hops, tx->data.data + tx->spooled_upto,
		    tx->data.len - tx->spooled_upto);
	tx->spooled_upto = tx->data.len;
	if (tx->data.len == 0 || (!final && tx->data.len < DATA_CHUNK))
		return;
	/* Once the message is refused, its bytes only need discarding. */
	if (tx->reader.errors == 0 && !tx->write_failed &&
	    spool_writer_write(tx->writer, tx->data.data, tx->data.len) < 0)
		tx->write_failed = true;
	buf_reset(&tx->data);
	tx->spooled_upto = 0;
}

/*
 * RFC 6409 8.1: a submission server may check that the author is the
 * authenticated user.  With submission.check_from_header, every From:
 * address must be one the login owns (route/senders.h).
 */
static bool
from_header_refused(struct session *s, struct smtp_reply *r)
{
	struct transaction *tx = s->tx;
	char addrs[8][SMTP_ADDRESS_MAX + 1];
	int n;

	if (!s->authenticated || !s->srv->cfg->submission_check_from)
		return false;
	n = header_from_addresses(tx->headers.data ? tx->headers.data : "",
	    tx->headers.len, addrs, 8);
	if (n <= 0) {
		smtp_reply_set(r, 550, "5.7.1", "Message refused: %s From: header",
		    n == 0 ? "no" : "malformed");
		return true;
	}
	for (int i = 0; i < n; i++) {
		int owned = route_sender_owned(s->srv->cfg, s->srv->domains,
		    s->login, addrs[i]);

		if (owned < 0) {
			smtp_reply_set(r, 451, "4.3.0", "Temporary lookup failure");
			return true;
		}
		if (owned == 0) {
			smtp_reply_set(r, 550, "5.7.1",
			    "Message refused: From: <%s> not owned by user %s",
			    addrs[i], s->login);
			return true;
		}
	}
	return false;
}

static void
refusal_reply(unsigned errors, struct smtp_reply *r)
{
	if (errors & DATA_ERR_TOO_BIG)
		smtp_reply_set(r, 552, "5.3.4", "Message size exceeds fixed limit");
	else if (errors & DATA_ERR_BARE_LF)
		smtp_reply_set(r, 550, "5.6.0", "Message refused: bare LF not allowed");
	else if (errors & DATA_ERR_BARE_CR)
		smtp_reply_set(r, 550, "5.6.0", "Message refused: bare CR not allowed");
	else if (errors & DATA_ERR_LINE_TOO_LONG)
		smtp_reply_set(r, 550, "5.6.0",
		    "Message refused: line longer than 998 characters");
	else
		smtp_reply_set(r, 550, "5.6.0", "Message refused: NUL character");
}

/* A scanner's QUARANTINE: the committed message is moved to hold/
 * before the qmgr hears of it; `decorum queue release` lets it go. */
struct hold_job {
	struct session *s;
	int err;
};

static void
hold_work(void *arg)
{
	struct hold_job *h = arg;

	h->err = spool_hold(h->s->srv->spool, h->s->tx->queue_id) < 0 ? errno : 0;
}

static void
hold_done(void *arg)
{
	struct hold_job *h = arg;
	struct session *s = h->s;

	if (h->err != 0)
		log_error("event=quarantine-error session=%s id=%s reason=\"%s\"",
		    s->id, s->tx->queue_id, strerror(h->err));
	else
		log_info("event=quarantined session=%s id=%s", s->id,
		    s->tx->queue_id);
	if (h->err != 0)
		s->tx->quarantine = false;	/* queued: let it go on */
	free(h);
	session_commit_done(s, 0);
}

static void
commit_done(void *arg, int err)
{
	struct session *s = arg;
	struct hold_job *h;

	if (err != 0 || !s->tx->quarantine) {
		session_commit_done(s, err);
		return;
	}
	/* The commit's pin carries over to the hold. */
	h = xcalloc(1, sizeof(*h));
	h->s = s;
	workpool_submit(s->srv->pool, hold_work, hold_done, h);
}

static void
fill_envelope(struct session *s, struct envelope *env,
    struct envelope_rcpt *rcpts)
{
	struct transaction *tx = s->tx;

	memset(env, 0, sizeof(*env));
	snprintf(env->id, sizeof(env->id), "%s", tx->queue_id);
	env->sender = tx->sender.addr;
	for (unsigned i = 0; i < tx->n_rcpts; i++)
		rcpts[i].addr = tx->rcpts[i];
	env->rcpts = rcpts;
	env->n_rcpts = tx->n_rcpts;
	env->created = (int64_t)time(NULL);
	env->smtputf8 = tx->params.smtputf8;
	env->eight_bit = tx->params.body == SMTP_BODY_8BITMIME || tx->reader.eight_bit;
	env->client_ip = s->ip;
	env->helo = s->helo;
	env->authenticated = s->authenticated;
	env->junk = tx->junk;
}

/*
 * Why the message is refused, if it is: the reader's verdict first (its
 * bytes are not all in the spool), then a spool that failed, then a
 * loop, then the author check of authenticated submission.
 */
static bool
data_refused(struct session *s, struct smtp_reply *r)
{
	struct transaction *tx = s->tx;

	if (tx->reader.errors != 0) {
		refusal_reply(tx->reader.errors, r);
		return true;
	}
	if (tx->write_failed) {
		smtp_reply_set(r, 451, "4.3.0", "Temporary failure, try again later");
		return true;
	}
	/* RFC 5321 6.3 and RFC 3463 X.4.6 "Routing loop detected".  The
	 * same on every listener: a loop through a submission client (a
	 * script that forwards by resubmitting) is still a loop. */
	if (tx->hops.count > s->srv->cfg->max_hops) {
		smtp_reply_set(r, 554, "5.4.6", "Too many hops");
		return true;
	}
	return from_header_refused(s, r);
}

void
session_data_refused(struct session *s, const struct smtp_reply *r,
    const char *stage)
{
	struct transaction *tx = s->tx;
	char safe[LOG_SAFE_SIZE(SMTP_REPLY_TEXT_MAX)];

	/* The text may quote the client's From: address. */
	log_info("event=rejected session=%s client=[%s] id=%s stage=%s reply=%d status=%s hops=%u reason=\"%s\"",
	    s->id, s->ip, tx->queue_id, stage, r->code, r->enhanced,
	    tx->hops.count, log_safe(r->text, safe, sizeof(safe)));
	session_reset_tx(s);
	session_set_state(s, SESSION_READY);
	session_reply(s, r);
	session_count_reply(s, r);
}

/* The client sent the final "."; refuse, scan, or commit and wait. */
void
session_end_data(struct session *s)
{
	struct smtp_reply r;

	session_spool_data(s, true);
	if (data_refused(s, &r)) {
		session_data_refused(s, &r, "data");
		return;
	}
	if (!session_scan_start(s))
		session_commit(s);
}

/* Hand the message to the spool; session_commit_done answers. */
void
session_commit(struct session *s)
{
	struct transaction *tx = s->tx;
	struct envelope env;
	struct envelope_rcpt *rcpts;

	rcpts = calloc(tx->n_rcpts, sizeof(*rcpts));
	if (rcpts == NULL)
		panic("out of memory");
	fill_envelope(s, &env, rcpts);
	session_set_state(s, SESSION_COMMIT);	/* reading stops */
	s->pinned++;
	/* The commit owns the writer from here on. */
	spool_writer_commit(tx->writer, &env, s->srv->pool, commit_done, s);
	tx->writer = NULL;
	free(rcpts);
}

void
session_finish_data(struct session *s, int err, struct smtp_reply *r)
{
	struct transaction *tx = s->tx;

	if (err != 0) {
		log_error("event=spool-error session=%s client=[%s] id=%s reason=\"commit failed\"",
		    s->id, s->ip, tx->queue_id);
		smtp_reply_set(r, 451, "4.3.0", "Temporary failure, try again later");
	} else {
		char from[LOG_SAFE_SIZE(SMTP_ADDRESS_MAX)];
		char login[LOG_SAFE_SIZE(sizeof(s->login))];

		log_info("event=queued session=%s client=[%s] id=%s from=\"<%s>\" nrcpt=%u size=%llu%s%s%s",
		    s->id, s->ip, tx->queue_id,
		    log_safe(tx->sender.addr, from, sizeof(from)), tx->n_rcpts,
		    (unsigned long long)tx->reader.size,
		    s->authenticated ? " auth=\"" : "",
		    s->authenticated ? log_safe(s->login, login, sizeof(login)) : "",
		    s->authenticated ? "\"" : "");
		if (!tx->quarantine)
			queue_notify_send(s->srv->notify_fd, tx->queue_id);
		s->n_messages++;
		smtp_reply_set(r, 250, "2.0.0", "Ok: queued as %s", tx->queue_id);
	}
	session_reset_tx(s);
}
