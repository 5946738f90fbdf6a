/*
 * Carrying out a delivery attempt in a workpool thread (see attempt.h).
 *
 * For each due recipient, in order: deliver one copy to each mailbox the
 * router gave (a mailbox reached by two recipients of the message gets
 * one copy: the first result is reused), appending "D n mailbox" with
 * fsync after each copy; then close the recipient with "K n" (all
 * copies in), "F n code text" (permanent, or its queue lifetime is over)
 * or "W n next text" (try again).  The last copy's D and the closing
 * record go out in one write and one fsync.  A record is durable before
 * the next step, so a crash repeats at most the one copy whose D was not
 * yet durable (docs/queue.md: at-least-once where exactly-once is
 * impossible).  The last recipient's closing records are not fsync'd:
 * attempt_finish() follows at once and either fsyncs them or, for a
 * message all delivered, removes it instead; that removal becomes
 * durable a moment later, in one fsync of queue/ shared by every
 * removal since (spool_remove_deferred), and its data stays till then.
 * Finally the outcome: all recipients finished means the message is
 * removed (all delivered); with failures, one RFC 3464 report is queued
 * for them (bounce.c) and then the message removed, or, when no report
 * can be or need be queued, it is moved to failed/ (event=bounce-pending).
 * It is decided from the queue file as loaded plus the records appended
 * here, not read back: each append checks that the file has the size
 * those make (spool_status_append_known); a file found otherwise, or an
 * attempt given no loaded file (unit tests), is read back instead.
 * Trusts: the plan made by qmgr.c, and the file it loaded.
 */
#include "queue/attempt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/bounce.h"
#include "queue/forward_copy.h"
#include "queue/spool.h"
#include "route/transport.h"

struct attempt *
attempt_new(const char *id, struct spool *sp)
{
	struct attempt *a = xcalloc(1, sizeof(*a));

	snprintf(a->id, sizeof(a->id), "%s", id);
	a->sp = sp;
	a->sender = xstrdup("");
	a->data_fd = -1;
	a->data_len = -1;
	a->queue_fd = -1;
	return a;
}

struct attempt_rcpt *
attempt_add_rcpt(struct attempt *a, size_t n, const char *addr,
    unsigned attempts)
{
	struct attempt_rcpt *r;

	a->rcpts = xreallocarray(a->rcpts, a->n_rcpts + 1, sizeof(*a->rcpts));
	r = &a->rcpts[a->n_rcpts++];
	memset(r, 0, sizeof(*r));
	r->n = n;
	r->addr = xstrdup(addr);
	r->attempts = attempts;
	r->route = DELIVER_OK;
	return r;
}

struct attempt_dest *
attempt_add_dest(struct attempt_rcpt *r, const char *local, const char *domain)
{
	struct attempt_dest *d;

	r->dests = xreallocarray(r->dests, r->n_dests + 1, sizeof(*r->dests));
	d = &r->dests[r->n_dests++];
	memset(d, 0, sizeof(*d));
	d->local = xstrdup(local);
	d->domain = xstrdup(domain);
	return d;
}

void
attempt_free(struct attempt *a)
{
	size_t i, j;

	if (a == NULL)
		return;
	for (i = 0; i < a->n_rcpts; i++) {
		for (j = 0; j < a->rcpts[i].n_dests; j++) {
			free(a->rcpts[i].dests[j].local);
			free(a->rcpts[i].dests[j].domain);
			free(a->rcpts[i].dests[j].relay);
		}
		free(a->rcpts[i].dests);
		free(a->rcpts[i].addr);
	}
	free(a->rcpts);
	free(a->sender);
	free(a->client_ip);
	free(a->helo);
	free(a->fwd_sender);
	queue_file_free(&a->qf);
	if (a->data_fd >= 0)
		close(a->data_fd);
	if (a->queue_fd >= 0)
		close(a->queue_fd);
	free(a);
}

/*
 * The step is retry_min doubled per earlier try, at most retry_max; the
 * jitter spreads retries over [step - 10%, step + 10%], cut at retry_max,
 * so queue.retry_max is a promise: no retry waits longer.  At the cap
 * the spread is all below it, and retries still do not run in lockstep.
 */
int64_t
attempt_backoff(unsigned attempts, unsigned retry_min, unsigned retry_max)
{
	int64_t d = retry_min > 0 ? retry_min : 1, jitter, lo, hi;
	unsigned i;

	for (i = 1; i < attempts && d < (int64_t)retry_max; i++)
		d *= 2;
	if (retry_max > 0 && d > (int64_t)retry_max)
		d = retry_max;
	jitter = d / 10;
	lo = d - jitter;
	hi = d + jitter;
	if (retry_max > 0 && hi > (int64_t)retry_max)
		hi = retry_max;
	if (hi > lo)
		d = lo + (int64_t)arc4random_uniform((uint32_t)(hi - lo + 1));
	return d > 0 ? d : 1;
}

const char *
attempt_outcome_name(enum attempt_outcome o)
{
	static const char *const names[] = {
		"pending", "removed", "failed", "bounced", "gone", "corrupt",
		"error"
	};

	return names[o];
}

/* Results of copies made in this attempt, so a mailbox reached through
 * two recipients gets one copy. */
struct copy_cache {
	char **mailbox;
	struct deliver_result *res;
	size_t n;
};

static const struct deliver_result *
cache_find(const struct copy_cache *c, const char *mailbox)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->mailbox[i], mailbox) == 0)
			return &c->res[i];
	return NULL;
}

static void
cache_add(struct copy_cache *c, const char *mailbox,
    const struct deliver_result *res)
{
	c->mailbox = xreallocarray(c->mailbox, c->n + 1, sizeof(*c->mailbox));
	c->res = xreallocarray(c->res, c->n + 1, sizeof(*c->res));
	c->mailbox[c->n] = xstrdup(mailbox);
	c->res[c->n] = *res;
	c->n++;
}

static void
cache_free(struct copy_cache *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		free(c->mailbox[i]);
	free(c->mailbox);
	free(c->res);
}

static int attempt_record_lines(struct attempt *a, const char *const *lines,
    size_t n, bool sync);

/* Appends a status record; on failure decides the outcome.  -1: stop. */
int
attempt_record(struct attempt *a, const char *line)
{
	return attempt_record_lines(a, &line, 1, true);
}

/* Appends n records in one write, fsync'd when sync; on failure decides
 * the outcome.  -1: stop. */
static int
attempt_record_lines(struct attempt *a, const char *const *lines, size_t n,
    bool sync)
{
	int64_t size = a->qf_valid && !a->qf.torn ? (int64_t)a->qf.len : -1;
	size_t i;
	int rc;

	/* The file the load opened, else by name. */
	rc = a->queue_fd >= 0 ?
	    spool_status_append_fd(a->queue_fd, lines, n, sync, &size) :
	    spool_status_append_known(a->sp, a->id, lines, n, sync, &size);
	if (rc == 0) {
		/* A file not as expected (or torn) is read again when the
		 * attempt needs it: another writer may have been there. */
		a->qf_valid = size >= 0;
		for (i = 0; i < n && a->qf_valid; i++)
			queue_file_apply_status(&a->qf, lines[i],
			    strlen(lines[i]));
		return 0;
	}
	a->qf_valid = false;
	if (errno == ENOENT) {
		a->outcome = ATTEMPT_GONE;
	} else {
		log_warn("event=spool-error id=%s op=status-append errno=%d",
		    a->id, errno);
		a->outcome = ATTEMPT_ERROR;
	}
	return -1;
}

/* The server's reply inside the text smtp_client.c writes ("host
 * NAME[IP] said: REPLY (in reply to CMD)", read as bounces read it), or
 * the whole text when it has another form. */
static const char *
reply_of(const char *text, char *out, size_t outlen)
{
	char mta[BOUNCE_MTA_MAX + 1];

	return bounce_parse_remote(text, mta, sizeof(mta), out, outlen) ?
	    out : text;
}

/* Log a copy delivered: where to and through what. */
static void
log_delivered(const struct attempt *a, const struct attempt_rcpt *r,
    const struct attempt_dest *d, const char *mailbox,
    const struct deliver_result *res)
{
	char safe[QUEUE_STATUS_TEXT_MAX * 2], rsafe[LOG_SAFE_SIZE(SMTP_ADDRESS_MAX)];
	char msafe[LOG_SAFE_SIZE(SMTP_ADDRESS_MAX)], reply[DELIVER_TEXT_MAX];
	char relay[LOG_SAFE_SIZE(SMTP_DOMAIN_MAX + 80)];	/* name[IPv6]:port */

	/* The file name holds our hostname; the relay, the MX host's name
	 * and the reply, the remote server's words: all quoted. */
	if (d->t == NULL) {
		/* folder= only for mail judged unwanted: where it went. */
		log_info("event=delivered id=%s rcpt=\"<%s>\" mailbox=\"%s\" "
		    "agent=%s file=\"%s\"%s%s", a->id,
		    log_safe(r->addr, rsafe, sizeof(rsafe)),
		    log_safe(mailbox, msafe, sizeof(msafe)), a->agent->name,
		    log_safe(res->text, safe, sizeof(safe)),
		    a->folder != NULL ? " folder=" : "",
		    a->folder != NULL ? a->folder : "");
		return;
	}
	log_info("event=delivered id=%s rcpt=\"<%s>\" mailbox=\"%s\" agent=%s "
	    "relay=\"%s\" code=%d reply=\"%s\" tls=%s", a->id,
	    log_safe(r->addr, rsafe, sizeof(rsafe)),
	    log_safe(mailbox, msafe, sizeof(msafe)),
	    transport_kind_name(d->t->kind),
	    log_safe(d->relay != NULL ? d->relay : "", relay, sizeof(relay)),
	    res->reply_code,
	    log_safe(reply_of(res->text, reply, sizeof(reply)), safe,
	    sizeof(safe)), d->tls[0] != '\0' ? d->tls : "none");
}

/* One copy: made by an earlier run or for another recipient, carried by
 * the outbound scheduler, or delivered now by the agent.  -1: the
 * attempt stops. */
static int
attempt_copy(struct attempt *a, struct attempt_rcpt *r, struct attempt_dest *d,
    struct copy_cache *cache, int data_fd, int64_t data_size,
    struct deliver_result *res, char *held, size_t heldlen)
{
	const struct deliver_result *cached;
	struct deliver_request req;
	char line[2 * SMTP_ADDRESS_MAX + 64], mailbox[SMTP_ADDRESS_MAX + 2];

	snprintf(mailbox, sizeof(mailbox), "%s@%s", d->local, d->domain);
	if (d->recorded) {
		*res = d->res;		/* an earlier run made it */
		return 0;
	}
	cached = cache_find(cache, mailbox);
	if (cached != NULL) {
		/* Settled with the other recipient's copy (its D record
		 * stands for the mailbox): a later run must not redo it. */
		*res = *cached;
		d->done = d->recorded = true;
		d->res = *res;
		return 0;
	}
	if (d->done) {
		*res = d->res;		/* carried by the outbound scheduler */
	} else if (data_fd < 0) {
		res->status = DELIVER_TEMPFAIL;
		snprintf(res->code, sizeof(res->code), "4.3.0");
		snprintf(res->text, sizeof(res->text),
		    "queued message data unreadable");
	} else {
		memset(&req, 0, sizeof(req));
		req.id = a->id;
		req.sender = a->sender;
		req.local = d->local;
		req.domain = d->domain;
		req.data_fd = data_fd;
		req.data_size = data_size;
		req.hostname = a->hostname;
		req.mailboxes = a->mailboxes;
		req.folder = a->folder;
		a->agent->deliver(&req, res);
	}
	cache_add(cache, mailbox, res);
	d->done = true;
	d->res = *res;
	if (res->status != DELIVER_OK) {
		d->recorded = true;
		return 0;
	}
	snprintf(line, sizeof(line), "D %zu %s", r->n, mailbox);
	/* The recipient's last copy: its D goes out with the record that
	 * closes the recipient, in one write and one fsync (a crash before
	 * it repeats this one copy, as it would between D and its fsync). */
	if (held != NULL)
		snprintf(held, heldlen, "%s", line);
	else if (attempt_record(a, line) < 0)
		return -1;
	d->recorded = true;
	a->delivered++;
	log_delivered(a, r, d, mailbox, res);
	return 0;
}

/* How the records that close a recipient are written. */
struct close_ctx {
	char held[2 * SMTP_ADDRESS_MAX + 64];	/* its last D, or "" */
	bool lazy;		/* no fsync: attempt_finish() makes it durable */
	bool *unsynced;		/* set when a record went out without one */
};

/* Writes the held D (if any) and the record that closes r; -1 when the
 * attempt must stop. */
static int
attempt_close(struct attempt *a, struct attempt_rcpt *r, struct close_ctx *cc,
    const char *line)
{
	const char *lines[2];
	size_t n = 0;

	if (cc->held[0] != '\0')
		lines[n++] = cc->held;
	lines[n++] = line;
	if (attempt_record_lines(a, lines, n, !cc->lazy) < 0)
		return -1;
	if (cc->lazy)
		*cc->unsynced = true;
	r->closed = true;
	return 0;
}

/*
 * One recipient: its copies, then the record that closes it.  A copy
 * still on the network (or kept back for want of room) leaves it open:
 * a later run closes it.  -1 when the attempt must stop (see attempt_record()).
 */
static int
attempt_rcpt_run(struct attempt *a, struct attempt_rcpt *r,
    struct copy_cache *cache, int data_fd, int64_t data_size,
    struct close_ctx *cc)
{
	struct deliver_result res, worst = { DELIVER_OK, "2.0.0", "", 0 };
	char line[QUEUE_STATUS_TEXT_MAX + 2 * SMTP_ADDRESS_MAX + 64];
	char text[QUEUE_STATUS_TEXT_MAX];
	char safe[QUEUE_STATUS_TEXT_MAX * 2], rsafe[LOG_SAFE_SIZE(SMTP_ADDRESS_MAX)];
	int64_t now, delay;
	bool open = false, last;
	size_t i;

	if (r->closed)
		return 0;
	if (r->route != DELIVER_OK) {
		worst.status = r->route;
		if (snprintf(worst.code, sizeof(worst.code), "%s", r->code) < 0 ||
		    snprintf(worst.text, sizeof(worst.text), "%s", r->text) < 0)
			worst.text[0] = '\0';	/* truncation is fine: a log text */
	}
	cc->held[0] = '\0';
	for (i = 0; i < r->n_dests && r->route == DELIVER_OK; i++) {
		if (r->dests[i].t != NULL && !r->dests[i].done) {
			open = true;
			continue;
		}
		/* Only a last copy that the close record follows at once. */
		last = i + 1 == r->n_dests && !open;
		if (attempt_copy(a, r, &r->dests[i], cache, data_fd, data_size,
		    &res, last ? cc->held : NULL, sizeof(cc->held)) < 0)
			return -1;
		/* PERMFAIL outranks TEMPFAIL: retrying cannot fix it. */
		if (res.status == DELIVER_PERMFAIL ||
		    (res.status == DELIVER_TEMPFAIL && worst.status == DELIVER_OK))
			worst = res;
	}
	if (open)
		return 0;
	envelope_clean_text(worst.text, text, sizeof(text));
	now = time(NULL);
	if (worst.status == DELIVER_TEMPFAIL &&
	    now - a->created >= (int64_t)a->lifetime) {
		worst.status = DELIVER_PERMFAIL;
		snprintf(worst.code, sizeof(worst.code), "5.4.7");
		snprintf(line, sizeof(line), "F %zu 5.4.7 queue lifetime "
		    "expired, last error: %s", r->n, text);
	} else if (worst.status == DELIVER_TEMPFAIL) {
		delay = attempt_backoff(r->attempts + 1, a->retry_min,
		    a->retry_max);
		snprintf(line, sizeof(line), "W %zu %" PRId64 " %s %s", r->n,
		    now + delay, worst.code, text);
		if (attempt_close(a, r, cc, line) < 0)
			return -1;
		log_info("event=deferred id=%s rcpt=\"<%s>\" code=%s reason=\"%s\" "
		    "delay=%" PRId64, a->id,
		    log_safe(r->addr, rsafe, sizeof(rsafe)), worst.code,
		    log_safe(text, safe, sizeof(safe)), delay);
		return 0;
	} else if (worst.status == DELIVER_PERMFAIL) {
		snprintf(line, sizeof(line), "F %zu %s %s", r->n, worst.code,
		    text);
	} else {
		snprintf(line, sizeof(line), "K %zu", r->n);
		return attempt_close(a, r, cc, line);
	}
	if (attempt_close(a, r, cc, line) < 0)
		return -1;
	log_info("event=failed id=%s rcpt=\"<%s>\" code=%s reason=\"%s\"", a->id,
	    log_safe(r->addr, rsafe, sizeof(rsafe)), worst.code,
	    log_safe(text, safe, sizeof(safe)));
	return 0;
}

/*
 * Queues the RFC 3464 report for a finished message with failures, then
 * removes the message: only after the report is durable, so a crash in
 * between sends the report twice at worst, never not at all.  false when
 * no report was queued: the caller keeps the message in failed/.
 */
static bool
attempt_bounce(struct attempt *a, const struct queue_file *qf)
{
	struct bounce_out bo;
	char safe[512], tsafe[LOG_SAFE_SIZE(SMTP_ADDRESS_MAX)];

	switch (bounce_queue(a->sp, qf, a->hostname, a->postmaster, &bo)) {
	case BOUNCE_QUEUED:
		break;
	case BOUNCE_NONE:
		log_warn("event=bounce-skipped id=%s reason=\"%s\"", a->id,
		    log_safe(bo.why, safe, sizeof(safe)));
		return false;
	case BOUNCE_ERROR:
	default:
		log_error("event=bounce-error id=%s reason=\"%s\"", a->id,
		    log_safe(bo.why, safe, sizeof(safe)));
		return false;
	}
	snprintf(a->bounce_id, sizeof(a->bounce_id), "%s", bo.new_id);
	log_info("event=bounce id=%s bounce_id=%s to=\"<%s>\" failed=%zu", a->id,
	    bo.new_id, log_safe(bo.to, tsafe, sizeof(tsafe)),
	    queue_file_count(qf, RCPT_FAILED));
	if (spool_remove(a->sp, a->id, qf->data_len >= 0) < 0 &&
	    errno != ENOENT) {
		/* The report is out; a retry would send it again, so park
		 * the message where nothing retries it. */
		log_error("event=spool-error id=%s op=remove errno=%d", a->id,
		    errno);
		if (spool_move(a->sp, a->id, "queue", "failed") < 0) {
			a->outcome = ATTEMPT_ERROR;
			return true;
		}
	}
	a->outcome = ATTEMPT_BOUNCED;
	log_info("event=removed id=%s", a->id);
	return true;
}

/*
 * Once a message has waited queue.delay_warning with recipients still
 * pending, its sender hears so, once (RFC 3464 "Action: delayed"): the
 * "N" record makes it once, surviving restarts.  A warning that cannot
 * be queued is tried again on the next attempt.
 */
static void
attempt_warn(struct attempt *a, const struct queue_file *qf)
{
	struct bounce_out bo;
	char line[64], safe[512], tsafe[LOG_SAFE_SIZE(SMTP_ADDRESS_MAX)];
	int64_t now = time(NULL);

	if (a->delay_warning == 0 || qf->warned != 0 ||
	    now - a->created < (int64_t)a->delay_warning)
		return;
	switch (bounce_queue_delay(a->sp, qf, a->hostname,
	    a->created + (int64_t)a->lifetime, &bo)) {
	case BOUNCE_QUEUED:
		break;
	case BOUNCE_NONE:
		return;
	case BOUNCE_ERROR:
	default:
		log_error("event=delay-warning-error id=%s reason=\"%s\"", a->id,
		    log_safe(bo.why, safe, sizeof(safe)));
		return;
	}
	snprintf(line, sizeof(line), "N %" PRId64, now);
	if (spool_status_append(a->sp, a->id, line) < 0)
		log_warn("event=spool-error id=%s op=status-append errno=%d",
		    a->id, errno);
	snprintf(a->warning_id, sizeof(a->warning_id), "%s", bo.new_id);
	log_info("event=delay-warning id=%s warning_id=%s to=\"<%s>\"", a->id,
	    bo.new_id, log_safe(bo.to, tsafe, sizeof(tsafe)));
}

/* The queue file the outcome is decided on (spool_load()'s results):
 * the one the attempt kept, each append having found the file at the
 * size expected, which is what reading it back would give; read back
 * without one, and when it says the message failed: a report or a move
 * to failed/ goes by what the spool says now (a `queue delete` during
 * the attempt makes none), and failures are rare. */
static int
attempt_final_file(struct attempt *a, struct queue_file *qf, char *err,
    size_t errlen)
{
	if (a->qf_valid) {
		*qf = a->qf;
		memset(&a->qf, 0, sizeof(a->qf));
		a->qf_valid = false;
		if (queue_file_count(qf, RCPT_PENDING) > 0 ||
		    queue_file_count(qf, RCPT_FAILED) == 0)
			return 0;
		queue_file_free(qf);
	}
	return spool_load(a->sp, "queue", a->id, qf, err, errlen);
}

/* fsyncs the records appended without one: through the file the load
 * opened when the attempt has it. */
static int
attempt_sync(struct attempt *a)
{
	return a->queue_fd >= 0 ? fsync(a->queue_fd) :
	    spool_status_sync(a->sp, a->id);
}

/*
 * Finishes the message if it can, from the queue file the attempt kept
 * up to date, or else (none, or the file found changed) read back.
 * unsynced: the last records went out without an fsync.  A message now
 * all delivered then ends with its removal, made durable with others'
 * a moment later (a crash before that delivers its last copy again, as
 * an unsynced D would); any other outcome first fsyncs the records,
 * which are then durable before anything else happens to the message.
 */
static void
attempt_finish(struct attempt *a, bool unsynced)
{
	struct queue_file qf;
	char err[256], safe[512];
	size_t i, failed;
	int rc;

	rc = attempt_final_file(a, &qf, err, sizeof(err));
	if (rc == -1) {
		a->outcome = errno == ENOENT ? ATTEMPT_GONE : ATTEMPT_ERROR;
		return;
	}
	if (rc == 0 && unsynced && (queue_file_count(&qf, RCPT_PENDING) > 0 ||
	    queue_file_count(&qf, RCPT_FAILED) > 0) &&
	    attempt_sync(a) < 0) {
		log_warn("event=spool-error id=%s op=status-sync errno=%d",
		    a->id, errno);
		queue_file_free(&qf);
		a->outcome = errno == ENOENT ? ATTEMPT_GONE : ATTEMPT_ERROR;
		return;
	}
	if (rc == -2) {
		log_error("event=corrupt id=%s reason=\"%s\" action=moved-to-corrupt",
		    a->id, log_safe(err, safe, sizeof(safe)));
		a->outcome = spool_move(a->sp, a->id, "queue", "corrupt") == 0
		    ? ATTEMPT_CORRUPT : ATTEMPT_ERROR;
		return;
	}
	if (queue_file_count(&qf, RCPT_PENDING) > 0) {
		attempt_warn(a, &qf);
		a->outcome = ATTEMPT_PENDING;
		a->next_try = 0;
		for (i = 0; i < qf.env.n_rcpts; i++)
			if (qf.st[i].state == RCPT_PENDING &&
			    (a->next_try == 0 || qf.st[i].next_try < a->next_try))
				a->next_try = qf.st[i].next_try;
		queue_file_free(&qf);
		return;
	}
	failed = queue_file_count(&qf, RCPT_FAILED);
	if (failed == 0) {
		bool one_file = qf.data_len >= 0;

		queue_file_free(&qf);
		if ((unsynced ? spool_remove_deferred(a->sp, a->id, one_file) :
		    spool_remove(a->sp, a->id, one_file)) < 0) {
			log_warn("event=spool-error id=%s op=remove errno=%d",
			    a->id, errno);
			a->outcome = errno == ENOENT ? ATTEMPT_GONE : ATTEMPT_ERROR;
			return;
		}
		a->outcome = ATTEMPT_REMOVED;
		log_info("event=removed id=%s", a->id);
		return;
	}
	if (a->bounces && attempt_bounce(a, &qf)) {
		queue_file_free(&qf);
		return;
	}
	queue_file_free(&qf);
	if (spool_move(a->sp, a->id, "queue", "failed") < 0) {
		a->outcome = errno == ENOENT ? ATTEMPT_GONE : ATTEMPT_ERROR;
		return;
	}
	a->outcome = ATTEMPT_FAILED;
	log_warn("event=bounce-pending id=%s failed=%zu action=moved-to-failed",
	    a->id, failed);
}

void
attempt_run(void *p)
{
	struct attempt *a = p;
	struct copy_cache cache = { NULL, NULL, 0 };
	bool unsynced = false;
	struct close_ctx cc = { "", false, &unsynced };
	int64_t size;
	size_t i;
	int fd;

	if (a->corrupt) {
		a->outcome = spool_move(a->sp, a->id, "queue", "corrupt") == 0
		    ? ATTEMPT_CORRUPT : ATTEMPT_ERROR;
		return;
	}
	if (a->data_fd >= 0) {
		/* The load's: opened, checked a regular file and sized. */
		fd = a->data_fd;
		size = a->data_size;
		a->data_fd = -1;
	} else {
		/* The size of the file opened, not a second look up by name. */
		fd = spool_open_data(a->sp, "queue", a->id, a->data_len, &size);
		if (fd < 0)
			size = -1;
	}
	/* The forwarded copy first: its D records settle its targets
	 * before the recipients they belong to are closed. */
	i = forward_copy_queue(a, fd, size) < 0 ? a->n_rcpts + 1 : 0;
	for (; i < a->n_rcpts; i++) {
		/* The last recipient's close record may wait for
		 * attempt_finish(), which always runs right after it. */
		cc.lazy = i + 1 == a->n_rcpts && !a->network_pending;
		if (attempt_rcpt_run(a, &a->rcpts[i], &cache, fd, size, &cc) < 0)
			break;
	}
	cache_free(&cache);
	if (fd >= 0)
		close(fd);
	/* With copies still out, the run after them finishes. */
	if (i == a->n_rcpts && !a->network_pending)
		attempt_finish(a, unsynced);
	/* The load's queue file serves this run only, as its data: a later
	 * run (network results) opens it by name. */
	if (a->queue_fd >= 0) {
		close(a->queue_fd);
		a->queue_fd = -1;
	}
}
