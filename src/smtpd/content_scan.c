/*
 * The end of DATA with content scanners (docs/scanning.md): the message,
 * written to the spool's tmp file but not committed, goes to every
 * configured scanner at once (milters in their order, rspamd, clamd);
 * when all have answered, scan_decide() says what the client is told.
 * A refusal ends the transaction (nothing was queued, nothing will
 * bounce); an acceptance applies the scanners' changes (envelope in
 * memory, header and body by rewriting the tmp file in a worker) and
 * commits as without scanners, flagged for the spam folder when the
 * verdict says so.
 *
 * Everything but the rewrite runs on the session's loop: the clients
 * are asynchronous, so a client that leaves mid-scan cancels them
 * (session_reset_tx) and the late answers arrive at nothing.  The
 * rewrite pins the session like a commit.
 */
#include "smtpd/session_internal.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/workpool.h"
#include "common/xmalloc.h"
#include "queue/spool.h"
#include "scan/clamd_client.h"
#include "scan/milter_client.h"
#include "scan/rspamd_client.h"
#include "scan/scan_decide.h"
#include "scan/scan_headers.h"
#include "scan/scan_text.h"
#include "smtpd/server.h"

#define SCAN_JOBS_MAX	(SCAN_MILTERS_MAX + 2)
/* The header section once changed: what we read plus every scanner's
 * changes at their limit. */
#define HEADERS_MAX_OUT	(512 * 1024 + SCAN_JOBS_MAX * SCAN_MODS_BYTES_MAX * 2)

enum job_kind { JOB_MILTER, JOB_RSPAMD, JOB_CLAMD };

struct scan_job {
	struct content_scan *scan;
	enum job_kind kind;
	const char *name;
	enum scan_on_failure on_failure;
	const void *conf;	/* its milter_conf, rspamd_conf, clamd_conf */
	void *client;		/* NULL once done */
	struct scan_result res;
};

struct content_scan {
	struct session *s;
	int fd;
	struct scan_message msg;
	char *headers;		/* our Received: + the client's fields */
	size_t client_hdr_len;	/* the client's, in tx->headers */
	bool blank;		/* an empty line ends the header section */
	const char **rcpts;
	struct scan_job jobs[SCAN_JOBS_MAX];
	size_t n_jobs, pending;
	struct timespec started;
	/* The rewrite, in a worker: the new head (header section and the
	 * empty line), the new body or NULL for the old one. */
	struct buf head;
	char *body;
	size_t body_len;
	int rewrite_err;
};

bool
session_scan_configured(const struct config *cfg)
{
	return cfg->scan.n_milters > 0 || cfg->scan.rspamd.enabled ||
	    cfg->scan.clamd.enabled;
}

static void
scan_free(struct content_scan *cs)
{
	for (size_t i = 0; i < cs->n_jobs; i++)
		scan_result_clear(&cs->jobs[i].res);
	if (cs->fd >= 0)
		close(cs->fd);
	free(cs->headers);
	free(cs->rcpts);
	buf_free(&cs->head);
	free(cs->body);
	free(cs);
}

void
session_scan_cancel(struct transaction *tx)
{
	struct content_scan *cs = tx->scan;

	if (cs == NULL)
		return;
	for (size_t i = 0; i < cs->n_jobs; i++) {
		struct scan_job *j = &cs->jobs[i];

		if (j->client == NULL)
			continue;
		if (j->kind == JOB_MILTER)
			milter_client_cancel(j->client);
		else if (j->kind == JOB_RSPAMD)
			rspamd_client_cancel(j->client);
		else
			clamd_client_cancel(j->client);
		j->client = NULL;
	}
	tx->scan = NULL;
	scan_free(cs);
}

/*
 * Where the client's header section ends in what was captured: after
 * the CRLF of its last field, with blank set when an empty line
 * follows.  A section cut at HEADERS_MAX ends at its last whole line
 * and the rest is body to the scanners, as in Postfix.
 */
static size_t
client_header_len(const struct buf *h, bool *blank)
{
	const char *end;

	*blank = true;
	if (h->len >= 2 && memcmp(h->data, "\r\n", 2) == 0)
		return 0;
	end = memmem(h->data, h->len, "\r\n\r\n", 4);
	if (end != NULL)
		return (size_t)(end - h->data) + 2;
	*blank = false;
	for (size_t n = h->len; n >= 2; n--)
		if (h->data[n - 2] == '\r' && h->data[n - 1] == '\n')
			return n;
	return 0;
}

static bool
prepare_message(struct session *s, struct content_scan *cs)
{
	struct transaction *tx = s->tx;
	struct scan_message *m = &cs->msg;
	size_t rlen = tx->received.len;
	struct stat st;

	cs->fd = spool_writer_open_read(tx->writer);
	if (cs->fd < 0 || fstat(cs->fd, &st) < 0)
		return false;
	cs->client_hdr_len = tx->headers.data != NULL ?
	    client_header_len(&tx->headers, &cs->blank) : 0;
	cs->headers = xmalloc(rlen + cs->client_hdr_len + 1);
	memcpy(cs->headers, tx->received.data, rlen);
	if (cs->client_hdr_len > 0)
		memcpy(cs->headers + rlen, tx->headers.data, cs->client_hdr_len);
	cs->headers[rlen + cs->client_hdr_len] = '\0';
	m->fd = cs->fd;
	m->size = (uint64_t)st.st_size;
	m->headers = cs->headers;
	m->headers_len = rlen + cs->client_hdr_len;
	m->body_offset = m->headers_len + (cs->blank ? 2 : 0);
	if (m->body_offset > m->size)
		m->body_offset = m->size;
	return true;
}

static void
prepare_facts(struct session *s, struct content_scan *cs)
{
	struct transaction *tx = s->tx;
	struct scan_message *m = &cs->msg;

	cs->rcpts = xcalloc(tx->n_rcpts, sizeof(*cs->rcpts));
	for (unsigned i = 0; i < tx->n_rcpts; i++)
		cs->rcpts[i] = tx->rcpts[i];
	m->queue_id = tx->queue_id;
	m->hostname = s->srv->cfg->hostname;
	m->client_ip = s->ip;
	m->client_port = (uint16_t)netaddr_port((const struct sockaddr *)&s->peer);
	m->client_ipv6 = s->peer.ss_family == AF_INET6;
	m->client_name = s->rdns;
	m->helo = s->helo;
	m->sender = tx->sender.addr;
	m->rcpts = cs->rcpts;
	m->n_rcpts = tx->n_rcpts;
	m->auth_login = s->authenticated ? s->login : NULL;
	m->tls_version = NULL;
	if (s->tls && s->tls_info[0] != '\0')
		m->tls_version = s->tls_info;
}

static void scan_job_done(void *arg, struct scan_result *res);

static void
add_job(struct content_scan *cs, enum job_kind kind, const char *name,
    enum scan_on_failure on_failure, const void *conf)
{
	struct scan_job *j = &cs->jobs[cs->n_jobs++];

	j->scan = cs;
	j->kind = kind;
	j->name = name;
	j->on_failure = on_failure;
	j->conf = conf;
	scan_result_init(&j->res, name);
}

/* Which scanners this message goes to: spam scoring of authenticated
 * submission only with scan.score_authenticated; malware always. */
static void
plan_jobs(struct session *s, struct content_scan *cs)
{
	const struct scan_conf *sc = &s->srv->cfg->scan;
	bool spam = !s->authenticated || sc->score_authenticated;

	for (size_t i = 0; i < sc->n_milters; i++) {
		const struct milter_conf *mc = &sc->milters[i];

		if (mc->kind != SCAN_KIND_SPAM || spam)
			add_job(cs, JOB_MILTER, mc->name, mc->default_action, mc);
	}
	if (sc->rspamd.enabled && spam)
		add_job(cs, JOB_RSPAMD, "rspamd", sc->rspamd.default_action,
		    &sc->rspamd);
	if (sc->clamd.enabled)
		add_job(cs, JOB_CLAMD, "clamd", sc->clamd.default_action,
		    &sc->clamd);
}

static void
start_jobs(struct session *s, struct content_scan *cs)
{
	struct event_base *base = s->srv->base;
	size_t max_body = s->srv->cfg->max_message_size;

	cs->pending = cs->n_jobs;
	for (size_t i = 0; i < cs->n_jobs; i++) {
		struct scan_job *j = &cs->jobs[i];

		if (j->kind == JOB_MILTER)
			j->client = milter_client_start(base, s->srv->milters,
			    j->conf, max_body, &cs->msg, &j->res,
			    scan_job_done, j);
		else if (j->kind == JOB_RSPAMD)
			j->client = rspamd_client_start(base, j->conf, &cs->msg,
			    &j->res, scan_job_done, j);
		else
			j->client = clamd_client_start(base, j->conf, &cs->msg,
			    &j->res, scan_job_done, j);
		/* The clients name the result; ours is the configured one. */
		j->res.scanner = j->name;
	}
}

bool
session_scan_start(struct session *s)
{
	struct transaction *tx = s->tx;
	const struct config *cfg = s->srv->cfg;
	size_t limit = cfg->scan.max_size != 0 ? cfg->scan.max_size
	    : cfg->max_message_size;
	struct content_scan *cs;
	struct smtp_reply r;

	if (!session_scan_configured(cfg))
		return false;
	cs = xcalloc(1, sizeof(*cs));
	cs->s = s;
	cs->fd = -1;
	buf_init(&cs->head, HEADERS_MAX_OUT + 2);
	plan_jobs(s, cs);
	if (cs->n_jobs == 0 || !prepare_message(s, cs)) {
		bool failed = cs->n_jobs > 0;

		scan_free(cs);
		if (!failed)
			return false;
		smtp_reply_set(&r, 451, "4.3.0", "Temporary failure, try again later");
		session_data_refused(s, &r, "scan");
		return true;
	}
	if (cs->msg.size > limit) {
		log_info("event=scan-skipped session=%s id=%s size=%llu max_size=%zu",
		    s->id, tx->queue_id, (unsigned long long)cs->msg.size, limit);
		scan_free(cs);
		return false;
	}
	prepare_facts(s, cs);
	tx->scan = cs;
	clock_gettime(CLOCK_MONOTONIC, &cs->started);
	session_set_state(s, SESSION_SCAN);
	bufferevent_disable(s->bev, EV_READ);
	start_jobs(s, cs);
	return true;
}

static const char *const verdict_names[] = { "accept", "flag", "tempfail",
    "reject", "discard", "failed" };
static const char *const finding_names[] = { "nothing", "spam", "malware",
    "other" };
static const char *const outcome_names[] = { "accept", "flag", "discard",
    "tempfail", "reject" };

static void
log_job(const struct session *s, const struct scan_job *j, long ms)
{
	char detail[LOG_SAFE_SIZE(SCAN_DETAIL_MAX)];

	log_info("event=scan session=%s id=%s scanner=%s verdict=%s finding=%s score=%.2f changes=%zu ms=%ld detail=\"%s\"",
	    s->id, s->tx->queue_id, j->name, verdict_names[j->res.verdict],
	    finding_names[j->res.finding], j->res.score, j->res.n_mods, ms,
	    log_safe(j->res.detail, detail, sizeof(detail)));
}

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - t0->tv_sec) * 1000 +
	    (now.tv_nsec - t0->tv_nsec) / 1000000);
}

static void scan_decided(struct session *s, struct content_scan *cs);

static void
scan_job_done(void *arg, struct scan_result *res)
{
	struct scan_job *j = arg;
	struct content_scan *cs = j->scan;

	(void)res;
	j->client = NULL;
	/* A milter's reply text is what the log should show of it. */
	if (j->res.detail[0] == '\0')
		scan_copy_printable(j->res.detail, sizeof(j->res.detail),
		    j->res.text, strlen(j->res.text));
	if (j->kind == JOB_MILTER && j->res.verdict == SCAN_ACCEPT &&
	    ((const struct milter_conf *)j->conf)->kind == SCAN_KIND_SPAM &&
	    scan_mods_say_spam(&j->res)) {
		j->res.verdict = SCAN_FLAG;
		j->res.finding = SCAN_FOUND_SPAM;
	}
	log_job(cs->s, j, elapsed_ms(&cs->started));
	if (--cs->pending == 0)
		scan_decided(cs->s, cs);
}

/* Our own header changes: what we add replaces what the client sent
 * under those names, so no client can pre-flag its mail as clean. */
static void
our_changes(struct content_scan *cs, bool flag, struct scan_result *pre,
    struct scan_result *post)
{
	const char *host = cs->s->srv->cfg->hostname;
	char value[256];

	scan_result_init(pre, "decorum");
	scan_result_init(post, "decorum");
	for (size_t i = 0; i < cs->n_jobs; i++) {
		const struct scan_job *j = &cs->jobs[i];

		if (j->kind == JOB_CLAMD && j->res.verdict == SCAN_ACCEPT) {
			scan_result_add_mod(pre, SCAN_MOD_REMOVE_HEADER, 0,
			    "X-Virus-Scanned", NULL, NULL);
			snprintf(value, sizeof(value), "clamd at %s", host);
			scan_result_add_mod(post, SCAN_MOD_ADD_HEADER, 0,
			    "X-Virus-Scanned", value, NULL);
		}
		if (j->kind == JOB_RSPAMD && j->res.verdict != SCAN_FAILED) {
			scan_result_add_mod(pre, SCAN_MOD_REMOVE_HEADER, 0,
			    "X-Spam-Status", NULL, NULL);
			snprintf(value, sizeof(value), "%s, score=%.2f required=%.2f",
			    j->res.verdict == SCAN_ACCEPT ? "No" : "Yes",
			    j->res.score, j->res.required);
			scan_result_add_mod(post, SCAN_MOD_ADD_HEADER, 0,
			    "X-Spam-Status", value, NULL);
		}
	}
	scan_result_add_mod(pre, SCAN_MOD_REMOVE_HEADER, 0, "X-Spam-Flag",
	    NULL, NULL);
	if (flag)
		scan_result_add_mod(post, SCAN_MOD_ADD_HEADER, 0, "X-Spam-Flag",
		    "YES", NULL);
}

/* The new header section: ours, each scanner's in order, ours. */
static bool
build_headers(struct content_scan *cs, bool flag, bool *changed)
{
	struct scan_result pre, post;
	struct buf a, b;
	bool ok = true;

	our_changes(cs, flag, &pre, &post);
	buf_init(&a, HEADERS_MAX_OUT);
	buf_init(&b, HEADERS_MAX_OUT);
	buf_append(&a, cs->msg.headers, cs->msg.headers_len);
	for (size_t i = 0; ok && i <= cs->n_jobs + 1; i++) {
		const struct scan_result *r = i == 0 ? &pre :
		    i <= cs->n_jobs ? &cs->jobs[i - 1].res : &post;
		struct buf tmp;

		buf_reset(&b);
		ok = scan_headers_apply(a.data, a.len, r->mods, &b) == 0;
		tmp = a;
		a = b;
		b = tmp;
	}
	*changed = ok && (a.len != cs->msg.headers_len ||
	    memcmp(a.data, cs->msg.headers, a.len) != 0);
	if (ok) {
		buf_append(&cs->head, a.data, a.len);
		ok = buf_append(&cs->head, "\r\n", cs->blank ? 2 : 0) == 0;
	}
	buf_free(&a);
	buf_free(&b);
	scan_result_clear(&pre);
	scan_result_clear(&post);
	return ok;
}

static void
del_rcpt(struct transaction *tx, const char *addr)
{
	for (unsigned i = 0; i < tx->n_rcpts; i++) {
		if (strcasecmp(tx->rcpts[i], addr) != 0)
			continue;
		free(tx->rcpts[i]);
		tx->rcpts[i] = tx->rcpts[--tx->n_rcpts];
		return;
	}
}

/* A milter's envelope changes, in order.  Added recipients count
 * against max_recipients like the client's; past it they are dropped
 * and logged (the milter is trusted to judge, not to fan out). */
static void
envelope_changes(struct session *s, const struct scan_result *r)
{
	struct transaction *tx = s->tx;
	char safe[LOG_SAFE_SIZE(SMTP_ADDRESS_MAX)];

	for (const struct scan_mod *m = r->mods; m != NULL; m = m->next) {
		if (m->addr == NULL)
			continue;
		if (m->type == SCAN_MOD_ADD_RCPT && !tx_has_rcpt(tx, m->addr)) {
			if (tx->n_rcpts >= s->srv->cfg->max_recipients) {
				log_warn("event=scan-change-dropped session=%s id=%s scanner=%s rcpt=\"<%s>\" reason=\"max_recipients\"",
				    s->id, tx->queue_id, r->scanner,
				    log_safe(m->addr, safe, sizeof(safe)));
				continue;
			}
			tx_add_rcpt(tx, m->addr);
		} else if (m->type == SCAN_MOD_DEL_RCPT) {
			del_rcpt(tx, m->addr);
		} else if (m->type == SCAN_MOD_CHANGE_FROM &&
		    strlen(m->addr) < sizeof(tx->sender.addr)) {
			snprintf(tx->sender.addr, sizeof(tx->sender.addr), "%s",
			    m->addr);
			tx->sender.null = m->addr[0] == '\0';
		}
	}
}

static void
rewrite_work(void *arg)
{
	struct session *s = arg;
	struct content_scan *cs = s->tx->scan;

	cs->rewrite_err = spool_writer_rewrite(s->tx->writer, cs->head.data,
	    cs->head.len, cs->body, cs->body_len, cs->msg.body_offset);
}

static void
rewrite_done(void *arg)
{
	struct session *s = arg;
	struct smtp_reply r;

	if (session_drop_if_dead(s))
		return;
	if (s->tx->scan->rewrite_err != 0) {
		smtp_reply_set(&r, 451, "4.3.0", "Temporary failure, try again later");
		session_data_refused(s, &r, "scan");
		if (s->state != SESSION_CLOSING)
			session_resume(s);
		return;
	}
	session_commit(s);
}

/* The last replaced body wins; the head then ends with its empty line. */
static void
take_body(struct content_scan *cs)
{
	for (size_t i = cs->n_jobs; i > 0; i--) {
		struct evbuffer *b = cs->jobs[i - 1].res.body;

		if (b == NULL)
			continue;
		cs->body_len = evbuffer_get_length(b);
		cs->body = xmalloc(cs->body_len + 1);
		evbuffer_remove(b, cs->body, cs->body_len);
		if (!cs->blank)
			buf_append(&cs->head, "\r\n", 2);
		return;
	}
}

static void
discard_message(struct session *s, const char *why)
{
	struct smtp_reply r;

	log_info("event=discarded session=%s client=[%s] id=%s reason=\"%s\"",
	    s->id, s->ip, s->tx->queue_id, why);
	smtp_reply_set(&r, 250, "2.0.0", "Ok: discarded");
	session_reset_tx(s);
	session_set_state(s, SESSION_READY);
	session_reply(s, &r);
	session_count_reply(s, &r);
	if (s->state != SESSION_CLOSING)
		session_resume(s);
}

static void
accept_message(struct session *s, struct content_scan *cs,
    const struct scan_decision *d)
{
	struct transaction *tx = s->tx;
	struct smtp_reply r;
	bool changed;

	for (size_t i = 0; i < cs->n_jobs; i++)
		envelope_changes(s, &cs->jobs[i].res);
	if (tx->n_rcpts == 0) {
		discard_message(s, "every recipient deleted by a scanner");
		return;
	}
	tx->junk = d->outcome == SCAN_OUT_FLAG;
	tx->quarantine = d->quarantine;
	if (!build_headers(cs, tx->junk, &changed)) {
		smtp_reply_set(&r, 451, "4.3.0", "Temporary failure, try again later");
		log_warn("event=scan-error session=%s id=%s reason=\"header changes past the limits\"",
		    s->id, tx->queue_id);
		session_data_refused(s, &r, "scan");
		session_resume(s);
		return;
	}
	take_body(cs);
	if (!changed && cs->body == NULL) {
		session_commit(s);
		return;
	}
	s->pinned++;
	workpool_submit(s->srv->pool, rewrite_work, rewrite_done, s);
}

static void
scan_decided(struct session *s, struct content_scan *cs)
{
	struct scan_vote votes[SCAN_JOBS_MAX];
	struct scan_decision d;
	struct smtp_reply r;

	for (size_t i = 0; i < cs->n_jobs; i++) {
		votes[i].res = &cs->jobs[i].res;
		votes[i].on_failure = cs->jobs[i].on_failure;
	}
	scan_decide(votes, cs->n_jobs, s->tx->exempt_rcpt, &d);
	log_info("event=scan-decision session=%s id=%s outcome=%s by=%s exempt=%s quarantine=%s ms=%ld",
	    s->id, s->tx->queue_id, outcome_names[d.outcome],
	    d.by != NULL ? d.by->scanner : "-",
	    s->tx->exempt_rcpt ? "yes" : "no", d.quarantine ? "yes" : "no",
	    elapsed_ms(&cs->started));
	switch (d.outcome) {
	case SCAN_OUT_REJECT:
	case SCAN_OUT_TEMPFAIL:
		smtp_reply_set(&r, d.code, d.enhanced, "%s", d.text);
		session_data_refused(s, &r, "scan");
		if (s->state != SESSION_CLOSING)
			session_resume(s);
		return;
	case SCAN_OUT_DISCARD:
		discard_message(s, d.by != NULL ? d.by->scanner : "scan");
		return;
	case SCAN_OUT_ACCEPT:
	case SCAN_OUT_FLAG:
		break;
	}
	accept_message(s, cs, &d);
}
