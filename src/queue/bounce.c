/*
 * Turning a finished message with failed recipients into one queued
 * RFC 3464 report (see bounce.h).
 *
 * Called by attempt.c in a queue manager worker thread, after the
 * message's last status record is durable.  Reads at most DSN_HEADERS_MAX
 * octets of the original data (its header section), composes the report
 * with dsn_compose() and commits it with spool_writer_commit_now(): only
 * when that returns 0 is the report on disk, and only then may the caller
 * remove the original.  The report's envelope sender is <> (RFC 5321
 * 4.5.5: no bounce of a bounce); its recipient is the original sender,
 * or the postmaster when that was <> (never <>: DESIGN.md).
 * Trusts: the parsed queue file (values already free of CR/LF); the data
 * and F texts are cleaned by dsn.c.
 * Limits: the remote MTA and its reply are not in F records yet, so the
 * report has Remote-MTA/Diagnostic-Code only when the text holds them.
 */
#include "queue/bounce.h"

#include <errno.h>
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

/* Reads the start of the message data (its header section). */
static char *
bounce_read_headers(struct spool *sp, const char *id, size_t *len)
{
	char *data;
	size_t got = 0;
	ssize_t n;
	int fd;

	*len = 0;
	fd = spool_open_data(sp, id);
	if (fd < 0)
		return NULL;
	data = xmalloc(DSN_HEADERS_MAX + 1);
	while (got < DSN_HEADERS_MAX) {
		n = read(fd, data + got, DSN_HEADERS_MAX - got);
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
bounce_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* The failed recipients as report entries; F text is "code text". */
static struct dsn_rcpt *
bounce_rcpts(const struct queue_file *qf, char ***codes, size_t *n)
{
	struct dsn_rcpt *r = xcalloc(qf->env.n_rcpts, sizeof(*r));
	const char *text, *sp;
	size_t i;

	*codes = xcalloc(qf->env.n_rcpts, sizeof(**codes));
	*n = 0;
	for (i = 0; i < qf->env.n_rcpts; i++) {
		if (qf->st[i].state != RCPT_FAILED)
			continue;
		text = qf->st[i].text != NULL ? qf->st[i].text : "";
		sp = strchr(text, ' ');
		(*codes)[*n] = sp != NULL ? xstrndup(text, (size_t)(sp - text))
		    : xstrdup(text);
		r[*n].addr = qf->env.rcpts[i].addr;
		r[*n].status = (*codes)[*n];
		r[*n].reason = sp != NULL ? sp + 1 : "delivery failed";
		(*n)++;
	}
	return r;
}

/* Where the report goes; NULL when none is due (why filled). */
static const char *
bounce_target(const struct queue_file *qf, const char *postmaster,
    char *why, size_t whylen)
{
	size_t i;

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

enum bounce_result
bounce_queue(struct spool *sp, const struct queue_file *qf,
    const char *hostname, const char *postmaster, struct bounce_out *out)
{
	struct dsn_report rep;
	struct dsn_rcpt *rcpts;
	struct spool_writer *w;
	struct envelope env;
	struct envelope_rcpt er;
	struct buf msg;
	char **codes, err[256];
	const char *to;
	enum bounce_result res = BOUNCE_ERROR;
	size_t n, i;

	memset(out, 0, sizeof(*out));
	to = bounce_target(qf, postmaster, out->why, sizeof(out->why));
	if (to == NULL)
		return BOUNCE_NONE;
	rcpts = bounce_rcpts(qf, &codes, &n);
	if (n == 0) {
		snprintf(out->why, sizeof(out->why), "no failed recipient");
		res = BOUNCE_NONE;
		goto done;
	}
	w = spool_writer_new(sp, err, sizeof(err));
	if (w == NULL) {
		if (snprintf(out->why, sizeof(out->why), "spool: %.200s",
		    err) < 0)
			out->why[0] = '\0';
		goto done;
	}
	memset(&rep, 0, sizeof(rep));
	rep.hostname = hostname;
	rep.to = to;
	rep.orig_sender = qf->env.sender;
	rep.queue_id = qf->env.id;
	rep.unique = spool_writer_id(w);
	rep.arrival = qf->env.created;
	rep.now = time(NULL);
	rep.rcpts = rcpts;
	rep.n_rcpts = n;
	rep.headers = bounce_read_headers(sp, qf->env.id, &rep.headers_len);
	if (dsn_compose(&rep, &msg) < 0) {
		snprintf(out->why, sizeof(out->why), "cannot compose the report");
		spool_writer_abort(w);
		free((char *)rep.headers);
		goto done;
	}
	memset(&env, 0, sizeof(env));
	er.addr = (char *)to;
	env.sender = (char *)"";	/* RFC 5321 4.5.5 */
	env.rcpts = &er;
	env.n_rcpts = 1;
	env.created = rep.now;
	env.eight_bit = dsn_is_8bit(&rep) != 0;
	env.smtputf8 = bounce_has_8bit(to);
	snprintf(out->new_id, sizeof(out->new_id), "%s", spool_writer_id(w));
	free((char *)rep.headers);
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
done:
	for (i = 0; i < n; i++)
		free(codes[i]);
	free(codes);
	free(rcpts);
	return res;
}
