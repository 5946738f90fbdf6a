/*
 * Queuing the forwarded copy: see forward_copy.h.  Runs in a workpool
 * thread, like bounce.c, with which it shares the way a new message is
 * made (spool_writer_new, spool_writer_commit_now).
 *
 * Order, for at-least-once: the copy is committed first, then each
 * target gets its D record.  A crash in between sends the copy again on
 * the next try (twice at worst); a copy that failed to commit leaves
 * nothing behind and its targets deferred.  The copy's sender is stored
 * in its envelope, so every retry of it to every host carries the same
 * bytes, whatever the date.
 * Trusts: the plan (addresses from the queue file, no CR or LF: the
 * envelope writer refuses those); reads the data it copies with pread,
 * so the Maildir agent's reads of the same descriptor are undisturbed.
 */
#include "queue/forward_copy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/attempt.h"
#include "queue/envelope.h"
#include "queue/spool.h"

/* The most targets named in the event=forwarded log line. */
#define LOG_TARGETS_MAX	16

/* A forward target still to settle in this run. */
static bool
fwd_open(const struct attempt_rcpt *r, const struct attempt_dest *d)
{
	return r->route == DELIVER_OK && !r->closed && d->forward && !d->done;
}

/* The distinct targets of all due recipients, "local@domain" each. */
static size_t
fwd_targets(const struct attempt *a, struct envelope_rcpt **out)
{
	struct envelope_rcpt *t = NULL;
	char mailbox[SMTP_ADDRESS_MAX + 2];
	size_t n = 0, i, j, k;

	for (i = 0; i < a->n_rcpts; i++) {
		for (j = 0; j < a->rcpts[i].n_dests; j++) {
			const struct attempt_dest *d = &a->rcpts[i].dests[j];

			if (!fwd_open(&a->rcpts[i], d))
				continue;
			snprintf(mailbox, sizeof(mailbox), "%s@%s", d->local,
			    d->domain);
			for (k = 0; k < n && strcmp(t[k].addr, mailbox) != 0; k++)
				;
			if (k < n)
				continue;
			t = xreallocarray(t, n + 1, sizeof(*t));
			t[n++].addr = xstrdup(mailbox);
		}
	}
	*out = t;
	return n;
}

static bool
rcpt_forwards(const struct attempt_rcpt *r)
{
	for (size_t j = 0; j < r->n_dests; j++)
		if (fwd_open(r, &r->dests[j]))
			return true;
	return false;
}

/* Every open target gets result res (a copy that could not be made). */
static void
fwd_settle(struct attempt *a, const char *text)
{
	char safe[LOG_SAFE_SIZE(QUEUE_STATUS_TEXT_MAX)];

	for (size_t i = 0; i < a->n_rcpts; i++) {
		for (size_t j = 0; j < a->rcpts[i].n_dests; j++) {
			struct attempt_dest *d = &a->rcpts[i].dests[j];

			if (!fwd_open(&a->rcpts[i], d))
				continue;
			d->done = true;
			d->res.status = DELIVER_TEMPFAIL;
			snprintf(d->res.code, sizeof(d->res.code), "4.3.0");
			snprintf(d->res.text, sizeof(d->res.text), "%s", text);
		}
	}
	log_warn("event=forward-error id=%s reason=\"%s\"", a->id,
	    log_safe(text, safe, sizeof(safe)));
}

/* The new message's data: the trace lines, then the original bytes. */
static int
fwd_write(struct attempt *a, struct spool_writer *w, int data_fd,
    int64_t size)
{
	char buf[16384];
	off_t off = 0;
	size_t want;
	ssize_t n;
	int len;

	for (size_t i = 0; i < a->n_rcpts; i++) {
		if (!rcpt_forwards(&a->rcpts[i]))
			continue;
		len = snprintf(buf, sizeof(buf), "Delivered-To: %s\r\n",
		    a->rcpts[i].addr);
		if (len < 0 || (size_t)len >= sizeof(buf) ||
		    spool_writer_write(w, buf, (size_t)len) < 0)
			return -1;
	}
	/* Not past the data (format 2's envelope follows it); size -1:
	 * to the file's end. */
	for (;;) {
		want = size >= 0 && size - off < (int64_t)sizeof(buf) ?
		    (size_t)(size - off) : sizeof(buf);
		if (want == 0)
			return 0;
		n = pread(data_fd, buf, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (spool_writer_write(w, buf, (size_t)n) < 0)
			return -1;
		off += n;
	}
}

/* The copy is queued: each recipient's targets are handed over. */
static int
fwd_record(struct attempt *a)
{
	char line[SMTP_ADDRESS_MAX + 64];

	for (size_t i = 0; i < a->n_rcpts; i++) {
		struct attempt_rcpt *r = &a->rcpts[i];

		for (size_t j = 0; j < r->n_dests; j++) {
			struct attempt_dest *d = &r->dests[j];

			if (!fwd_open(r, d))
				continue;
			snprintf(line, sizeof(line), "D %zu %s@%s", r->n,
			    d->local, d->domain);
			if (attempt_record(a, line) < 0)
				return -1;
			d->done = d->recorded = true;
			d->res.status = DELIVER_OK;
			snprintf(d->res.code, sizeof(d->res.code), "2.0.0");
			snprintf(d->res.text, sizeof(d->res.text),
			    "forwarded as %s", a->forward_id);
		}
	}
	return 0;
}

static void
fwd_log(const struct attempt *a, const struct envelope_rcpt *t, size_t n)
{
	char to[LOG_TARGETS_MAX * (SMTP_ADDRESS_MAX + 4) + 8];
	char safe[LOG_SAFE_SIZE(sizeof(to))], why[LOG_SAFE_SIZE(128)];
	char osafe[LOG_SAFE_SIZE(SMTP_ADDRESS_MAX)];
	char ssafe[LOG_SAFE_SIZE(SMTP_ADDRESS_MAX)];
	size_t len = 0, i;

	to[0] = '\0';
	for (i = 0; i < n && i < LOG_TARGETS_MAX && len < sizeof(to); i++)
		len += (size_t)snprintf(to + len, sizeof(to) - len, "%s<%s>",
		    i > 0 ? "," : "", t[i].addr);
	if (i < n && len < sizeof(to))
		snprintf(to + len, sizeof(to) - len, ",...");
	log_info("event=forwarded id=%s forward_id=%s orig_sender=\"<%s>\" "
	    "sender=\"<%s>\" srs=%s reason=\"%s\" targets=%zu to=\"%s\"",
	    a->id, a->forward_id,
	    log_safe(a->sender, osafe, sizeof(osafe)),
	    log_safe(a->fwd_sender, ssafe, sizeof(ssafe)),
	    a->fwd_srs ? "yes" : "no", log_safe(a->fwd_why, why, sizeof(why)),
	    n, log_safe(to, safe, sizeof(safe)));
}

int
forward_copy_queue(struct attempt *a, int data_fd, int64_t size)
{
	struct envelope_rcpt *t;
	struct spool_writer *w;
	struct envelope env;
	char err[256];
	size_t n = fwd_targets(a, &t), i;
	int rc = 0;

	if (n == 0)
		return 0;
	w = data_fd >= 0 && a->fwd_sender != NULL ?
	    spool_writer_new(a->sp, err, sizeof(err)) : NULL;
	if (w == NULL && a->fwd_sender == NULL) {
		/* The plan could not choose its sender (fwd_why says why). */
		snprintf(err, sizeof(err), "forward sender: %s", a->fwd_why);
		fwd_settle(a, err);
	} else if (w == NULL) {
		fwd_settle(a, data_fd < 0 ? "queued message data unreadable" :
		    "cannot queue the forwarded copy");
	} else if (fwd_write(a, w, data_fd, size) < 0) {
		spool_writer_abort(w);
		fwd_settle(a, "cannot write the forwarded copy");
	} else {
		memset(&env, 0, sizeof(env));
		env.sender = a->fwd_sender;
		env.rcpts = t;
		env.n_rcpts = n;
		env.created = (int64_t)time(NULL);
		env.smtputf8 = a->smtputf8;
		env.eight_bit = a->eightbit;
		/* Judged unwanted stays so: the copy is the same mail. */
		env.junk = a->junk;
		env.client_ip = a->client_ip;
		env.helo = a->helo;
		snprintf(a->forward_id, sizeof(a->forward_id), "%s",
		    spool_writer_id(w));
		if (spool_writer_commit_now(w, &env) < 0) {
			a->forward_id[0] = '\0';
			fwd_settle(a, "cannot commit the forwarded copy");
		} else {
			fwd_log(a, t, n);
			rc = fwd_record(a);
		}
	}
	for (i = 0; i < n; i++)
		free(t[i].addr);
	free(t);
	return rc;
}
