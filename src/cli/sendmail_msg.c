/*
 * Reading and splitting a message handed to `sendmail` by a local
 * program (cron, PHP's mail(), scripts): see sendmail_msg.h.
 *
 * Trusts nothing in the message: every read is bounded by the caller's
 * buffer maximum (cfg->max_message_size), header fields are found by
 * offsets into that one buffer (no copies), and an address longer than
 * SMTP_ADDRESS_MAX is refused rather than cut.
 * Line ends: local programs write LF (Unix) or CRLF, some a lone CR; all
 * three become CRLF, the only line end the spool holds (RFC 5322 2.3), so
 * a message from sendmail looks the same as one received over SMTP.
 * Line length: RFC 5321 4.5.3.1.6 and RFC 5322 2.1.1 allow 998 octets
 * before the CRLF, and our own smtpd, like any strict server, refuses
 * longer lines.  A script's longer line is broken rather than have the
 * message bounce on its way out: in the header section before the last
 * space or tab that fits, which is folding (RFC 5322 2.2.3: unfolding
 * gives the field back as it was); where there is none, and in the body,
 * after 998 octets with CRLF and a space, as Postfix's
 * smtp_line_length_limit does when it sends.
 * Limits: no RFC 2047 decoding of display names (not needed to find the
 * addresses); obsolete route-addrs ("<@a:b@c>") are not understood.
 */
#include "cli/sendmail_msg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/bounds.h"
#include "common/buf.h"
#include "common/xmalloc.h"

struct reader {
	struct buf *out;
	bool dot_ends;
	bool cr_pending;
	bool done;
	size_t line_start;	/* offset in out of the current line */
	size_t line_len;	/* octets in it so far */
	bool body;		/* past the header section's empty line */
};

/* The longest line the spool holds, CRLF not counted. */
#define LINE_OCTETS_MAX	(SMTP_TEXT_LINE_MAX - 2)

/* Ends the current line.  -1 when the buffer is full. */
static int
reader_end_line(struct reader *r)
{
	struct buf *out = r->out;

	if (r->dot_ends && out->len - r->line_start == 1 &&
	    out->data[r->line_start] == '.') {
		/* sendmail(1): a lone "." ends the message unless -i/-oi. */
		out->len = r->line_start;
		out->data[out->len] = '\0';
		r->done = true;
		return 0;
	}
	if (buf_append(out, "\r\n", 2) < 0)
		return -1;
	if (r->line_len == 0)
		r->body = true;		/* RFC 5322 2.1: the empty line */
	r->line_start = out->len;
	r->line_len = 0;
	return 0;
}

/* In a header field, the last space or tab of the current line after its
 * first octet (a continuation line starts with one), or 0 for none. */
static size_t
reader_fold_point(const struct reader *r)
{
	const char *d = r->out->data;

	for (size_t k = r->out->len; k > r->line_start + 1; k--)
		if (d[k - 1] == ' ' || d[k - 1] == '\t')
			return k - 1;
	return 0;
}

/* The current line is full: fold a header field before its last space or
 * tab, else break it with CRLF and a space.  -1 when the buffer is full. */
static int
reader_break_line(struct reader *r)
{
	struct buf *out = r->out;
	size_t k = r->body ? 0 : reader_fold_point(r);

	if (k > 0) {
		size_t tail = out->len - k;

		if (buf_append(out, "\r\n", 2) < 0)
			return -1;
		memmove(out->data + k + 2, out->data + k, tail);
		memcpy(out->data + k, "\r\n", 2);
		r->line_start = k + 2;
		r->line_len = tail;
		return 0;
	}
	if (buf_append(out, "\r\n ", 3) < 0)
		return -1;
	r->line_start = out->len - 1;
	r->line_len = 1;
	return 0;
}

/* Feeds one chunk; -1 when the buffer is full. */
static int
reader_feed(struct reader *r, const char *p, size_t n)
{
	size_t i, run = 0;

	for (i = 0; i < n && !r->done; i++) {
		char c = p[i];

		if (c != '\r' && c != '\n' && !r->cr_pending) {
			if (r->line_len == LINE_OCTETS_MAX) {
				if (buf_append(r->out, p + run, i - run) < 0 ||
				    reader_break_line(r) < 0)
					return -1;
				run = i;
			}
			r->line_len++;
			continue;
		}
		if (buf_append(r->out, p + run, i - run) < 0)
			return -1;
		run = i + 1;
		if (r->cr_pending) {
			r->cr_pending = false;
			if (reader_end_line(r) < 0)
				return -1;
			if (c == '\n' || r->done)
				continue;	/* CRLF, one line end */
			/* A bare CR ended the line; c starts the next one. */
			if (c != '\r' && c != '\n') {
				r->line_len = 1;
				run = i;
				continue;
			}
		}
		if (c == '\r')
			r->cr_pending = true;
		else if (reader_end_line(r) < 0)
			return -1;
	}
	if (!r->done && buf_append(r->out, p + run, n - run) < 0)
		return -1;
	return 0;
}

enum sendmail_read
sendmail_msg_read(int fd, bool dot_ends, struct buf *out)
{
	struct reader r = { .out = out, .dot_ends = dot_ends };
	char chunk[16384];
	ssize_t n;

	while (!r.done) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SENDMAIL_READ_ERROR;
		if (n == 0)
			break;
		if (reader_feed(&r, chunk, (size_t)n) < 0)
			return SENDMAIL_READ_TOO_BIG;
	}
	if (!r.done && (r.cr_pending || out->len > r.line_start) &&
	    reader_end_line(&r) < 0)
		return SENDMAIL_READ_TOO_BIG;
	return SENDMAIL_READ_OK;
}

/* RFC 5322 2.2: field-name is printable US-ASCII except ':', then ':'. */
static bool
is_field_line(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == ':')
			return i > 0;
		if (c < 33 || c > 126)
			return false;
	}
	return false;
}

void
sendmail_msg_parse(const char *msg, size_t len, struct sendmail_msg *m)
{
	size_t pos = 0, cap = 0;

	memset(m, 0, sizeof(*m));
	while (pos < len) {
		const char *eol = memchr(msg + pos, '\n', len - pos);
		size_t end = eol != NULL ? (size_t)(eol - msg) + 1 : len;
		size_t text = end - pos;

		if (text >= 2 && msg[end - 1] == '\n' && msg[end - 2] == '\r')
			text -= 2;
		if (text == 0) {
			m->separator = true;
			pos = end;
			break;
		}
		if ((msg[pos] == ' ' || msg[pos] == '\t') && m->n_fields > 0) {
			m->fields[m->n_fields - 1].len += end - pos;
		} else if (is_field_line(msg + pos, text)) {
			if (m->n_fields == cap) {
				cap = cap == 0 ? 16 : cap * 2;
				m->fields = xreallocarray(m->fields, cap,
				    sizeof(*m->fields));
			}
			m->fields[m->n_fields].off = pos;
			m->fields[m->n_fields].len = end - pos;
			m->n_fields++;
		} else {
			break;		/* the body starts without an empty line */
		}
		pos = end;
	}
	m->body_off = pos;
}

void
sendmail_msg_free(struct sendmail_msg *m)
{
	free(m->fields);
	m->fields = NULL;
	m->n_fields = 0;
}

bool
sendmail_field_is(const char *msg, const struct sendmail_field *f,
    const char *name)
{
	size_t n = strlen(name);

	return f->len > n && strncasecmp(msg + f->off, name, n) == 0 &&
	    msg[f->off + n] == ':';
}

struct addr_scan {
	char cur[SMTP_ADDRESS_MAX + 1];	/* the element outside <> */
	size_t cur_len;
	char angle[SMTP_ADDRESS_MAX + 1];	/* inside the last <> */
	size_t angle_len;
	bool have_angle;
	/* Which one overflowed: a long display name in cur does not
	 * matter when a <> follows it. */
	bool cur_long;
	bool angle_long;
};

static void
scan_put(char *s, size_t *len, bool *too_long, char c)
{
	if (*len >= SMTP_ADDRESS_MAX) {
		*too_long = true;
		return;
	}
	s[(*len)++] = c;
	s[*len] = '\0';
}

static void
scan_reset(struct addr_scan *s)
{
	s->cur_len = s->angle_len = 0;
	s->cur[0] = s->angle[0] = '\0';
	s->have_angle = false;
	s->cur_long = s->angle_long = false;
}

/* End of one list element: hands its address (if any) to add. */
static int
scan_emit(struct addr_scan *s, int (*add)(void *, const char *), void *arg)
{
	const char *a = s->have_angle ? s->angle : s->cur;
	int rc = 0;

	if (s->have_angle ? s->angle_long : s->cur_long)
		return -1;
	if (a[0] != '\0')
		rc = add(arg, a);
	scan_reset(s);
	return rc;
}

int
sendmail_field_addresses(const char *msg, const struct sendmail_field *f,
    int (*add)(void *arg, const char *addr), void *arg)
{
	struct addr_scan s;
	const char *p = msg + f->off, *end = msg + f->off + f->len;
	unsigned comment = 0;
	bool quoted = false, in_angle = false;

	memset(&s, 0, sizeof(s));
	p = memchr(p, ':', f->len);
	if (p == NULL)
		return 0;
	for (p++; p < end; p++) {
		char c = *p;
		char *dst = in_angle ? s.angle : s.cur;
		size_t *dlen = in_angle ? &s.angle_len : &s.cur_len;
		bool *dlong = in_angle ? &s.angle_long : &s.cur_long;

		if (c == '\r' || c == '\n')
			continue;	/* unfolding (RFC 5322 2.2.3) */
		if (quoted) {
			scan_put(dst, dlen, dlong, c);
			/* A quoted-pair never holds the CR or LF of a line
			 * end (RFC 5322 3.2.1): those are unfolded. */
			if (c == '\\' && p + 1 < end && p[1] != '\r' &&
			    p[1] != '\n')
				scan_put(dst, dlen, dlong, *++p);
			else if (c == '"')
				quoted = false;
			continue;
		}
		if (comment > 0) {
			if (c == '\\' && p + 1 < end)
				p++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		switch (c) {
		case '"':
			quoted = true;
			scan_put(dst, dlen, dlong, c);
			break;
		case '(':
			comment = 1;
			break;
		case '<':
			in_angle = true;
			s.angle_len = 0;
			s.angle[0] = '\0';
			s.angle_long = false;
			break;
		case '>':
			if (in_angle)
				s.have_angle = true;
			in_angle = false;
			break;
		case ':':
			if (!in_angle) {
				/* A group's display name: not an address. */
				scan_reset(&s);
			} else {
				scan_put(dst, dlen, dlong, c);
			}
			break;
		case ',':
		case ';':
			if (in_angle) {
				scan_put(dst, dlen, dlong, c);
				break;
			}
			if (scan_emit(&s, add, arg) < 0)
				return -1;
			break;
		case ' ':
		case '\t':
			break;
		default:
			scan_put(dst, dlen, dlong, c);
		}
	}
	return scan_emit(&s, add, arg);
}
