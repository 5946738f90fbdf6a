/*
 * Turning a message into one queued RFC 3464 report (see bounce.h): the
 * bounce of a finished message with failed recipients, or the delay
 * warning of one whose recipients are still being retried.
 *
 * Called by attempt.c in a queue manager worker thread, after the
 * message's last status record is durable.  Reads at most DSN_HEADERS_MAX
 * + 1 octets of the original data (its header section, cut between fields
 * by dsn.c), composes the report with dsn_compose() and commits it with
 * spool_writer_commit_now(), its envelope 8-bit and SMTPUTF8 exactly when
 * the report is (dsn_needs_8bitmime, dsn_needs_smtputf8): only
 * when that returns 0 is the report on disk, and only then may the caller
 * remove the original (or, for a warning, append its N record).  The
 * report's envelope sender is <> (RFC 5321 4.5.5: no bounce of a bounce);
 * its recipient is the original sender, or for a bounce the postmaster
 * when that was <> (never <>: DESIGN.md).  A message from <> gets no
 * delay warning at all: it is a report itself.
 * Trusts: the parsed queue file (values already free of CR/LF); the data
 * and F/W texts are cleaned by dsn.c.  A remote failure text ("host
 * NAME[IP] said: REPLY (in reply to CMD)", written by the SMTP and LMTP
 * clients) gives Remote-MTA and Diagnostic-Code; REPLY is the remote
 * server's word, so only its shape is checked (a three-digit code first)
 * and dsn.c cleans it like any text.
 */
#include "queue/bounce.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xmalloc.h"
#include "queue/dsn.h"
#include "queue/envelope.h"
#include "queue/spool.h"

/* Reads the start of the message data (its header section): one octet
 * more than DSN_HEADERS_MAX, so dsn_header_len() can tell a header that
 * goes on from a message that ends there. */
static char *
bounce_read_headers(struct spool *sp, const struct queue_file *qf,
    size_t *len)
{
	size_t want = DSN_HEADERS_MAX + 1;
	char *data;
	size_t got = 0;
	int64_t size;
	ssize_t n;
	int fd;

	*len = 0;
	/* A queued message's: bounces are made before it leaves queue/. */
	fd = spool_open_data(sp, "queue", qf->env.id, qf->data_len, &size);
	if (fd < 0)
		return NULL;
	/* Never past the data (format 2's envelope follows it). */
	if ((int64_t)want > size)
		want = (size_t)size;
	data = xmalloc(want + 1);
	while (got < want) {
		n = read(fd, data + got, want - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	*len = got;
	return data;
}

static bool
bounce_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* Printable ASCII but space and the brackets: a path or an address. */
static bool
bounce_path_char(char c)
{
	return c > ' ' && c < 0x7f && c != '[' && c != ']';
}

static bool
bounce_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* bounce_parse_remote() on the form at the very start of t; writes mta
 * and diag only when it returns true. */
static bool
bounce_parse_form(const char *t, char *mta, size_t mtalen, char *diag,
    size_t diaglen)
{
	static const char tail[] = " (in reply to ";
	const char *name, *p, *reply, *end, *q;
	size_t n;
	bool path;

	if (strncmp(t, "host ", 5) != 0)
		return false;
	name = t + 5;
	/* LMTP over a unix socket: "host /PATH[unix] said: ...". */
	path = name[0] == '/';
	for (n = 0; path ? bounce_path_char(name[n]) :
	    bounce_host_char(name[n]); n++)
		;
	if (n == 0 || n > BOUNCE_MTA_MAX || (!path && n >= mtalen) ||
	    name[n] != '[')
		return false;
	/* [IP] (v4 or v6), or [unix] after a path: anything printable but
	 * the brackets and spaces. */
	for (p = name + n + 1; *p != ']'; p++)
		if (!bounce_path_char(*p))
			return false;
	if (p == name + n + 1 || (path && (p - (name + n + 1) != 4 ||
	    strncmp(name + n + 1, "unix", 4) != 0)))
		return false;
	p++;
	if (*p == ':') {		/* [IP]:PORT */
		for (q = ++p; bounce_digit(*p) && p - q < 5; p++)
			;
		if (p == q || bounce_digit(*p))
			return false;
	}
	if (strncmp(p, " said: ", 7) != 0)
		return false;
	reply = p + 7;
	/* RFC 5321 4.2: Reply-code, then SP, "-" or the end. */
	if (reply[0] < '2' || reply[0] > '5' || !bounce_digit(reply[1]) ||
	    !bounce_digit(reply[2]) || (reply[3] != ' ' && reply[3] != '-' &&
	    reply[3] != '\0'))
		return false;
	end = reply + strlen(reply);
	/* The last " (in reply to CMD)", when it closes the text: the reply
	 * itself may hold anything, including that phrase. */
	for (p = NULL, q = reply; (q = strstr(q, tail)) != NULL; q++)
		p = q;
	if (p != NULL && end[-1] == ')' && strcspn(p + sizeof(tail) - 1,
	    "()") == (size_t)(end - 1 - (p + sizeof(tail) - 1)))
		end = p;
	while (end > reply && end[-1] == ' ')
		end--;
	/* A path is no DNS name: no Remote-MTA for it (RFC 3464 2.3.5). */
	n = path ? 0 : n;
	memcpy(mta, name, n);
	mta[n] = '\0';
	n = (size_t)(end - reply);
	if (n >= diaglen)
		n = diaglen - 1;
	memcpy(diag, reply, n);
	diag[n] = '\0';
	return true;
}

bool
bounce_parse_remote(const char *text, char *mta, size_t mtalen, char *diag,
    size_t diaglen)
{
	/* attempt.c: "queue lifetime expired, last error: TEXT". */
	static const char last[] = ", last error: ";
	const char *p;

	if (mta == NULL || diag == NULL || mtalen == 0 || diaglen == 0)
		return false;
	mta[0] = diag[0] = '\0';
	if (text == NULL)
		return false;
	if (bounce_parse_form(text, mta, mtalen, diag, diaglen))
		return true;
	p = strstr(text, last);
	return p != NULL && bounce_parse_form(p + sizeof(last) - 1, mta,
	    mtalen, diag, diaglen);
}

/* What a report entry points into: freed by bounce_items_free(). */
struct bounce_item {
	char *code;
	char *mta;
	char *diag;
};

static void
bounce_items_free(struct bounce_item *it, size_t n)
{
	size_t i;

	for (i = 0; it != NULL && i < n; i++) {
		free(it[i].code);
		free(it[i].mta);
		free(it[i].diag);
	}
	free(it);
}

/*
 * The recipients in state want as report entries.  Their text, from the
 * last F or W record, is "CODE TEXT"; without one, dsn.c uses the
 * report's default status and reason.
 */
static struct dsn_rcpt *
bounce_rcpts(const struct queue_file *qf, enum rcpt_state want,
    struct bounce_item **items, size_t *n)
{
	struct dsn_rcpt *r = xcalloc(qf->env.n_rcpts, sizeof(*r));
	struct bounce_item *it = xcalloc(qf->env.n_rcpts, sizeof(*it));
	char mta[BOUNCE_MTA_MAX + 1], diag[DSN_TEXT_MAX + 1];
	const char *text, *sp;
	size_t i;

	*n = 0;
	for (i = 0; i < qf->env.n_rcpts && qf->st != NULL; i++) {
		if (qf->st[i].state != want)
			continue;
		r[*n].addr = qf->env.rcpts[i].addr;
		text = qf->st[i].text;
		if (text != NULL) {
			sp = strchr(text, ' ');
			it[*n].code = sp != NULL ? xstrndup(text,
			    (size_t)(sp - text)) : xstrdup(text);
			r[*n].status = it[*n].code;
			r[*n].reason = sp != NULL ? sp + 1 : NULL;
		}
		if (r[*n].reason != NULL && bounce_parse_remote(r[*n].reason,
		    mta, sizeof(mta), diag, sizeof(diag))) {
			if (mta[0] != '\0') {
				it[*n].mta = xstrdup(mta);
				r[*n].remote_mta = it[*n].mta;
			}
			it[*n].diag = xstrdup(diag);
			r[*n].diagnostic = it[*n].diag;
		}
		(*n)++;
	}
	*items = it;
	return r;
}

/* Where the report goes; NULL when none is due (why filled). */
static const char *
bounce_target(const struct queue_file *qf, const char *postmaster,
    char *why, size_t whylen)
{
	size_t i;

	/* BCP: accepted mail judged unwanted makes no DSN: its sender is
	 * likely forged, and the report would be backscatter. */
	if (qf->env.junk) {
		snprintf(why, whylen, "judged unwanted: no report");
		return NULL;
	}
	if (qf->env.sender[0] != '\0')
		return qf->env.sender;
	if (postmaster == NULL || postmaster[0] == '\0') {
		snprintf(why, whylen, "null sender and no postmaster");
		return NULL;
	}
	/* A report to the postmaster that failed must not make another. */
	for (i = 0; i < qf->env.n_rcpts; i++)
		if (qf->st[i].state == RCPT_FAILED &&
		    (strcasecmp(qf->env.rcpts[i].addr, postmaster) == 0 ||
		    strcasecmp(qf->env.rcpts[i].addr, "postmaster") == 0 ||
		    strncasecmp(qf->env.rcpts[i].addr, "postmaster@", 11) == 0)) {
			snprintf(why, whylen, "null sender and the postmaster "
			    "failed: double bounce");
			return NULL;
		}
	return postmaster;
}

/*
 * Composes the report rep (its recipients, flavour and hostname set) for
 * qf, to the address to, and commits it as a new message from <>.
 */
static enum bounce_result
bounce_commit(struct spool *sp, const struct queue_file *qf,
    struct dsn_report *rep, const char *to, struct bounce_out *out)
{
	struct spool_writer *w;
	struct envelope env;
	struct envelope_rcpt er;
	struct buf msg;
	char err[256];
	enum bounce_result res = BOUNCE_ERROR;

	w = spool_writer_new(sp, err, sizeof(err));
	if (w == NULL) {
		if (snprintf(out->why, sizeof(out->why), "spool: %.200s",
		    err) < 0)
			out->why[0] = '\0';
		return BOUNCE_ERROR;
	}
	rep->to = to;
	rep->orig_sender = qf->env.sender;
	rep->queue_id = qf->env.id;
	rep->unique = spool_writer_id(w);
	rep->arrival = qf->env.created;
	rep->now = time(NULL);
	rep->headers = bounce_read_headers(sp, qf, &rep->headers_len);
	if (dsn_compose(rep, &msg) < 0) {
		snprintf(out->why, sizeof(out->why), "cannot compose the report");
		spool_writer_abort(w);
		free((char *)rep->headers);
		return BOUNCE_ERROR;
	}
	memset(&env, 0, sizeof(env));
	er.addr = (char *)to;
	env.sender = (char *)"";	/* RFC 5321 4.5.5 */
	env.rcpts = &er;
	env.n_rcpts = 1;
	env.created = rep->now;
	/* Exactly what the report holds: a UTF-8 reply or reason makes it
	 * 8-bit as much as the returned header does. */
	env.eight_bit = dsn_needs_8bitmime(&msg);
	env.smtputf8 = dsn_needs_smtputf8(rep);
	snprintf(out->new_id, sizeof(out->new_id), "%s", spool_writer_id(w));
	free((char *)rep->headers);
	rep->headers = NULL;
	if (spool_writer_write(w, msg.data, msg.len) < 0) {
		snprintf(out->why, sizeof(out->why), "spool write: %s",
		    strerror(errno));
		spool_writer_abort(w);
	} else if (spool_writer_commit_now(w, &env) < 0) {
		snprintf(out->why, sizeof(out->why), "spool commit failed");
	} else {
		snprintf(out->to, sizeof(out->to), "%s", to);
		res = BOUNCE_QUEUED;
	}
	buf_free(&msg);
	if (res != BOUNCE_QUEUED)
		out->new_id[0] = '\0';
	return res;
}

/*
 * One report about qf's recipients in state want, to `to`: delayed with
 * retry_until for a delay warning, a failure report otherwise.  none is
 * the reason given when no recipient is in that state.
 */
static enum bounce_result
bounce_report(struct spool *sp, const struct queue_file *qf,
    const char *hostname, enum rcpt_state want, const char *to,
    int64_t retry_until, const char *none, struct bounce_out *out)
{
	struct dsn_report rep;
	struct dsn_rcpt *rcpts;
	struct bounce_item *items;
	enum bounce_result res;
	size_t n;

	rcpts = bounce_rcpts(qf, want, &items, &n);
	if (n == 0) {
		snprintf(out->why, sizeof(out->why), "%s", none);
		res = BOUNCE_NONE;
	} else {
		memset(&rep, 0, sizeof(rep));
		rep.hostname = hostname;
		rep.rcpts = rcpts;
		rep.n_rcpts = n;
		rep.delayed = want == RCPT_PENDING;
		rep.retry_until = retry_until;
		res = bounce_commit(sp, qf, &rep, to, out);
	}
	bounce_items_free(items, n);
	free(rcpts);
	return res;
}

enum bounce_result
bounce_queue(struct spool *sp, const struct queue_file *qf,
    const char *hostname, const char *postmaster, struct bounce_out *out)
{
	const char *to;

	memset(out, 0, sizeof(*out));
	to = bounce_target(qf, postmaster, out->why, sizeof(out->why));
	if (to == NULL)
		return BOUNCE_NONE;
	return bounce_report(sp, qf, hostname, RCPT_FAILED, to, 0,
	    "no failed recipient", out);
}

enum bounce_result
bounce_queue_delay(struct spool *sp, const struct queue_file *qf,
    const char *hostname, int64_t retry_until, struct bounce_out *out)
{
	memset(out, 0, sizeof(*out));
	if (qf->env.junk) {
		snprintf(out->why, sizeof(out->why), "judged unwanted: no "
		    "delay warning");
		return BOUNCE_NONE;
	}
	if (qf->env.sender == NULL || qf->env.sender[0] == '\0') {
		snprintf(out->why, sizeof(out->why), "null sender: no delay "
		    "warning about a report");
		return BOUNCE_NONE;
	}
	if (qf->warned != 0) {
		snprintf(out->why, sizeof(out->why), "delay warning already "
		    "queued at %" PRId64, qf->warned);
		return BOUNCE_NONE;
	}
	return bounce_report(sp, qf, hostname, RCPT_PENDING, qf->env.sender,
	    retry_until, "no pending recipient", out);
}
