/*
 * Queue file records: writer of the envelope part and reader of the whole
 * file (envelope + status records).  See envelope.h for the record list
 * and docs/queue.md for how they make the queue crash-safe.
 *
 * Called by spool.c (write at commit, read for delivery), by the queue
 * manager and by `decorum queue show`.  It trusts nothing it reads: the
 * file may be truncated by a crash or edited by hand, so every record is
 * checked and a missing end record makes the whole file corrupt.
 * A status line without its final LF is a torn append (crash while
 * writing it) and is ignored, as are unreadable status lines, so at worst
 * a recipient is tried again (at-least-once, docs/queue.md).
 */
#include "queue/envelope.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xmalloc.h"

static bool
value_ok(const char *s)
{
	return s != NULL && strpbrk(s, "\r\n") == NULL;
}

int
envelope_format(const struct envelope *env, int64_t data_len, struct buf *out)
{
	size_t i;
	int rc = 0;

	if (!value_ok(env->sender) || env->n_rcpts == 0)
		return -1;
	if (env->client_ip != NULL && !value_ok(env->client_ip))
		return -1;
	if (env->helo != NULL && !value_ok(env->helo))
		return -1;
	rc |= buf_printf(out, "V %d\nI %s\nT %" PRId64 "\nS %s\n",
	    data_len < 0 ? 1 : 2, env->id, env->created,
	    env->sender[0] != '\0' ? env->sender : "<>");
	if (env->smtputf8)
		rc |= buf_append_str(out, "U\n");
	if (env->eight_bit)
		rc |= buf_append_str(out, "8\n");
	if (env->authenticated)
		rc |= buf_append_str(out, "A\n");
	if (env->junk)
		rc |= buf_append_str(out, "J\n");
	if (env->client_ip != NULL)
		rc |= buf_printf(out, "C %s\n", env->client_ip);
	if (env->helo != NULL)
		rc |= buf_printf(out, "H %s\n", env->helo);
	for (i = 0; i < env->n_rcpts; i++) {
		if (!value_ok(env->rcpts[i].addr) || env->rcpts[i].addr[0] == '\0')
			return -1;
		rc |= buf_printf(out, "R %s\n", env->rcpts[i].addr);
	}
	if (data_len < 0)
		rc |= buf_append_str(out, "E\n");
	else
		rc |= buf_printf(out, "E %" PRId64 "\n", data_len);
	return rc != 0 ? -1 : 0;
}

void
envelope_clean_text(const char *text, char *out, size_t outlen)
{
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; text[i] != '\0' && i + 1 < outlen; i++)
		out[i] = ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
		    ? ' ' : text[i];
	out[i] = '\0';
}

void
envelope_copy(struct envelope *dst, const struct envelope *src)
{
	size_t i;

	*dst = *src;
	dst->sender = xstrdup(src->sender != NULL ? src->sender : "");
	dst->client_ip = src->client_ip != NULL ? xstrdup(src->client_ip) : NULL;
	dst->helo = src->helo != NULL ? xstrdup(src->helo) : NULL;
	dst->rcpts = xcalloc(src->n_rcpts, sizeof(*dst->rcpts));
	for (i = 0; i < src->n_rcpts; i++)
		dst->rcpts[i].addr = xstrdup(src->rcpts[i].addr);
}

void
envelope_free(struct envelope *env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; i < env->n_rcpts; i++)
		free(env->rcpts[i].addr);
	free(env->rcpts);
	free(env->sender);
	free(env->client_ip);
	free(env->helo);
	env->rcpts = NULL;
	env->n_rcpts = 0;
	env->sender = env->client_ip = env->helo = NULL;
}

/* Strict unsigned decimal, the whole token. */
static int
parse_num(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (len == 0 || len > 18)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* "<n>" or "<n> rest": recipient number and where the rest starts. */
static int
parse_rcpt_num(const struct queue_file *qf, const char *arg, size_t len,
    size_t *n, const char **rest, size_t *restlen)
{
	const char *sp = memchr(arg, ' ', len);
	size_t nlen = sp != NULL ? (size_t)(sp - arg) : len;
	int64_t v;

	if (parse_num(arg, nlen, &v) < 0 || (uint64_t)v >= qf->env.n_rcpts)
		return -1;
	*n = (size_t)v;
	*rest = sp != NULL ? sp + 1 : arg + len;
	*restlen = sp != NULL ? len - nlen - 1 : 0;
	return 0;
}

static void
set_text(struct rcpt_status *st, const char *s, size_t len)
{
	free(st->text);
	st->text = xstrndup(s, len);
}

static int
apply_status(struct queue_file *qf, char type, const char *arg, size_t len)
{
	const char *rest, *sp;
	size_t n, restlen;
	struct rcpt_status *st;
	int64_t t;

	/* The one per-message status record: no recipient number.  A time
	 * of 0 would read as "not warned", so it is no N record at all. */
	if (type == 'N') {
		if (parse_num(arg, len, &t) < 0 || t == 0)
			return -1;
		qf->warned = t;
		return 0;
	}
	if (parse_rcpt_num(qf, arg, len, &n, &rest, &restlen) < 0)
		return -1;
	st = &qf->st[n];
	switch (type) {
	case 'D':
		if (restlen == 0 || memchr(rest, ' ', restlen) != NULL)
			return -1;
		qf->delivered = xreallocarray(qf->delivered, qf->n_delivered + 1,
		    sizeof(*qf->delivered));
		qf->delivered[qf->n_delivered++] = xstrndup(rest, restlen);
		return 0;
	case 'K':
		if (restlen != 0)
			return -1;
		if (st->state == RCPT_PENDING)
			st->state = RCPT_DONE;
		return 0;
	case 'F':
		if (restlen == 0)
			return -1;
		st->state = RCPT_FAILED;
		set_text(st, rest, restlen);
		return 0;
	case 'W':
		sp = memchr(rest, ' ', restlen);
		if (parse_num(rest, sp != NULL ? (size_t)(sp - rest) : restlen,
		    &t) < 0)
			return -1;
		st->attempts++;
		st->next_try = t;
		if (sp != NULL)
			set_text(st, sp + 1, restlen - (size_t)(sp + 1 - rest));
		return 0;
	default:
		return -1;
	}
}

/* One line after the end record (without its LF): a status record, or
 * an unreadable line, counted and otherwise ignored. */
static void
status_line(struct queue_file *qf, const char *p, size_t len)
{
	bool has_arg = len >= 2 && p[1] == ' ';

	if (!has_arg || memchr(p, '\0', len) != NULL ||
	    apply_status(qf, p[0], p + 2, len - 2) < 0)
		qf->bad_records++;
}

static char *
dup_arg(const char *arg, size_t len)
{
	return xstrndup(arg, len);
}

/* One envelope record; -1 when malformed.  *ended set by "E". */
static int
apply_envelope(struct queue_file *qf, char type, const char *arg, size_t len,
    bool has_arg, unsigned *seen)
{
	struct envelope *env = &qf->env;
	int64_t v;

	switch (type) {
	case 'V':
		if (!has_arg || len != 1 || (arg[0] != '1' && arg[0] != '2') ||
		    (*seen & 1) != 0)
			return -1;
		/* Format 2: 0 until its end record says how much data. */
		qf->data_len = arg[0] == '2' ? 0 : -1;
		*seen |= 1;
		return 0;
	case 'I':
		if (!has_arg || len == 0 || len >= QUEUE_ID_MAX)
			return -1;
		memcpy(env->id, arg, len);
		env->id[len] = '\0';
		*seen |= 2;
		return 0;
	case 'T':
		if (!has_arg || parse_num(arg, len, &v) < 0)
			return -1;
		env->created = v;
		*seen |= 4;
		return 0;
	case 'S':
		if (!has_arg || env->sender != NULL)
			return -1;
		env->sender = (len == 2 && memcmp(arg, "<>", 2) == 0)
		    ? xstrdup("") : dup_arg(arg, len);
		*seen |= 8;
		return 0;
	case 'U':
		env->smtputf8 = true;
		return has_arg ? -1 : 0;
	case '8':
		env->eight_bit = true;
		return has_arg ? -1 : 0;
	case 'A':
		env->authenticated = true;
		return has_arg ? -1 : 0;
	case 'J':
		env->junk = true;
		return has_arg ? -1 : 0;
	case 'C':
		if (!has_arg || env->client_ip != NULL)
			return -1;
		env->client_ip = dup_arg(arg, len);
		return 0;
	case 'H':
		if (!has_arg || env->helo != NULL)
			return -1;
		env->helo = dup_arg(arg, len);
		return 0;
	case 'R':
		if (!has_arg || len == 0)
			return -1;
		env->rcpts = xreallocarray(env->rcpts, env->n_rcpts + 1,
		    sizeof(*env->rcpts));
		env->rcpts[env->n_rcpts++].addr = dup_arg(arg, len);
		return 0;
	default:
		return -1;
	}
}

int
queue_file_parse(const char *text, size_t len, struct queue_file *qf,
    char *err, size_t errlen)
{
	const char *p = text, *end = text + len, *nl, *arg;
	unsigned seen = 0, lineno = 0;
	bool ended = false, has_arg;
	size_t linelen, arglen;

	memset(qf, 0, sizeof(*qf));
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		lineno++;
		if (nl == NULL) {
			if (ended) {
				qf->torn = true;	/* crash mid-append */
				break;
			}
			snprintf(err, errlen, "line %u: incomplete record", lineno);
			return -1;
		}
		linelen = (size_t)(nl - p);
		if (ended) {
			status_line(qf, p, linelen);
			p = nl + 1;
			continue;
		}
		has_arg = linelen >= 2 && p[1] == ' ';
		if (linelen == 0 || (linelen > 1 && !has_arg) ||
		    memchr(p, '\0', linelen) != NULL) {
			snprintf(err, errlen, "line %u: malformed record", lineno);
			return -1;
		}
		arg = has_arg ? p + 2 : p + linelen;
		arglen = has_arg ? linelen - 2 : 0;
		if (p[0] == 'E' && (linelen == 1 || has_arg)) {
			if (seen != 15 || qf->env.n_rcpts == 0) {
				snprintf(err, errlen,
				    "line %u: end record before V, I, T, S and R",
				    lineno);
				return -1;
			}
			/* Format 1 ends with "E", format 2 with the data's
			 * size. */
			if (qf->data_len < 0 ? has_arg : (!has_arg ||
			    parse_num(arg, arglen, &qf->data_len) < 0)) {
				snprintf(err, errlen, "line %u: bad 'E' record",
				    lineno);
				return -1;
			}
			ended = true;
			qf->st = xcalloc(qf->env.n_rcpts, sizeof(*qf->st));
		} else {
			if (lineno == 1 && p[0] != 'V') {
				snprintf(err, errlen, "line 1: not a queue file");
				return -1;
			}
			if (apply_envelope(qf, p[0], arg, arglen, has_arg,
			    &seen) < 0) {
				snprintf(err, errlen, "line %u: bad '%c' record",
				    lineno, p[0]);
				return -1;
			}
		}
		p = nl + 1;
	}
	if (!ended) {
		snprintf(err, errlen, "no end record");
		return -1;
	}
	qf->len = len;
	return 0;
}

int64_t
queue_file_data_len(const char *tail, size_t len, bool whole)
{
	size_t end = len, start;
	int64_t n;

	/* A last line without its LF is a torn append: not a record. */
	while (end > 0 && tail[end - 1] != '\n')
		end--;
	while (end > 0) {
		/* The line [start, end - 1), end - 1 being its LF. */
		start = end - 1;
		while (start > 0 && tail[start - 1] != '\n')
			start--;
		/* The first line of a part that is not the file's start
		 * may be the end of a longer one. */
		if (start == 0 && !whole)
			return -1;
		if (end - 1 - start >= 2 && tail[start] == 'E' &&
		    tail[start + 1] == ' ')
			return parse_num(tail + start + 2, end - 1 - start - 2,
			    &n) == 0 ? n : -1;
		end = start;
	}
	return -1;
}

void
queue_file_apply_status(struct queue_file *qf, const char *line, size_t len)
{
	status_line(qf, line, len);
	qf->len += len + 1;
}

void
queue_file_free(struct queue_file *qf)
{
	size_t i;

	if (qf == NULL)
		return;
	if (qf->st != NULL)
		for (i = 0; i < qf->env.n_rcpts; i++)
			free(qf->st[i].text);
	free(qf->st);
	for (i = 0; i < qf->n_delivered; i++)
		free(qf->delivered[i]);
	free(qf->delivered);
	envelope_free(&qf->env);
	memset(qf, 0, sizeof(*qf));
}

bool
queue_file_is_delivered(const struct queue_file *qf, const char *mailbox)
{
	size_t i;

	for (i = 0; i < qf->n_delivered; i++)
		if (strcmp(qf->delivered[i], mailbox) == 0)
			return true;
	return false;
}

size_t
queue_file_count(const struct queue_file *qf, enum rcpt_state state)
{
	size_t i, n = 0;

	for (i = 0; i < qf->env.n_rcpts && qf->st != NULL; i++)
		if (qf->st[i].state == state)
			n++;
	return n;
}
