/*
 * Composing the RFC 3464 delivery status notification (see dsn.h).
 *
 * Called by bounce.c in a queue manager worker thread, and by the unit
 * tests.  The report is multipart/report; report-type=delivery-status
 * (RFC 6522) with three parts: a human explanation, the
 * message/delivery-status fields (one per-message group, one group per
 * failed recipient) and the original header section as text/rfc822-headers.
 * A delay warning (r->delayed) has the same shape: "Action: delayed",
 * 4.x.x statuses and Will-Retry-Until (RFC 3464 2.3.3, 2.3.9), and a
 * human part that says nothing needs to be done yet.
 * Trusts nothing it is given: reasons come from remote servers, addresses
 * and headers from the original sender.  Every value goes through
 * dsn_clean(): control characters (CR and LF above all) become spaces,
 * invalid UTF-8 becomes '?', and the length is capped, so no input can
 * add a header field, a status field or a MIME boundary.  The boundary is
 * chosen after the parts are built and is checked not to occur in them.
 * Invariants: CRLF line ends only; no line over DSN_LINE_MAX octets.
 * Each part with 8-bit octets (a UTF-8 reply, reason or address, 8-bit
 * header fields) says Content-Transfer-Encoding: 8bit, and so does the
 * multipart; the caller's envelope follows dsn_needs_8bitmime().
 * Limits: the original header section is cut at DSN_HEADERS_MAX, between
 * two header fields; at most DSN_RCPTS_MAX recipients per report.
 */
#include "queue/dsn.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/utf8.h"

#define DSN_RCPTS_MAX	100000

/* Length of the well-formed UTF-8 character at s (n octets left), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;

	return utf8_decode(s, n, &cp);
}

/*
 * Appends at most max octets of s: controls become spaces, 8-bit text is
 * kept only when valid UTF-8 and utf8 is set (else '?'), never cut inside
 * a character.  -1 when out is full.
 */
static int
dsn_clean(struct buf *out, const char *s, size_t max, bool utf8)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t n = strlen((const char *)p), used = 0, k;
	char c;

	while (n > 0) {
		k = utf8_len(p, n);
		if (k > 1 && utf8) {
			if (used + k > max)
				break;
			if (buf_append(out, p, k) < 0)
				return -1;
		} else {
			if (used + 1 > max)
				break;
			k = k == 0 ? 1 : k;
			if (*p >= 0x80)
				c = '?';
			else if (*p < 0x20 || *p == 0x7f)
				c = ' ';
			else
				c = (char)*p;
			if (buf_append(out, &c, 1) < 0)
				return -1;
		}
		used += k > 1 && utf8 ? k : 1;
		p += k;
		n -= k;
	}
	return 0;
}

/*
 * RFC 6533 3, HEXPOINT: which code points have an \x{...} form, and
 * which one.  Two digits (leading zero kept): 01-09, 10-19, 20, 2B, 3D,
 * 5C, 7F and 80-FF; from 100 on, the digits without leading zeros.  The
 * grammar has no form for 00, 0A-0F and 1A-1F (no address holds them):
 * 0 is returned, and the caller writes U+FFFD instead.
 */
static int
dsn_hexpoint(unsigned cp, char *out, size_t outlen)
{
	bool two = (cp >= 0x01 && cp <= 0x09) || (cp >= 0x10 && cp <= 0x19) ||
	    cp == 0x20 || cp == '+' || cp == '=' || cp == '\\' || cp == 0x7f ||
	    (cp >= 0x80 && cp <= 0xff);

	if (cp < 0x100 && !two)
		return 0;
	return snprintf(out, outlen, two ? "\\x{%02X}" : "\\x{%X}", cp);
}

int
dsn_utf8_addr_xtext(struct buf *out, const char *addr)
{
	const unsigned char *p = (const unsigned char *)addr;
	size_t n = strlen(addr), k, i;
	char hex[16];
	unsigned cp;
	int rc = 0;

	while (n > 0 && rc == 0) {
		k = utf8_len(p, n);
		if (k == 0) {
			cp = 0xfffd;	/* not UTF-8: the replacement char */
			k = 1;
		} else if (k == 1) {
			cp = p[0];
		} else {
			cp = p[0] & (0xffu >> (k + 1));
			for (i = 1; i < k; i++)
				cp = (cp << 6) | (p[i] & 0x3fu);
		}
		/* QCHAR: printable ASCII but '\\', '+' and '='. */
		if (cp > 0x20 && cp < 0x7f && cp != '\\' && cp != '+' &&
		    cp != '=')
			rc |= buf_append(out, p, 1);
		else if (dsn_hexpoint(cp, hex, sizeof(hex)) > 0)
			rc |= buf_append_str(out, hex);
		else
			rc |= buf_append_str(out, "\\x{FFFD}");
		p += k;
		n -= k;
	}
	return rc;
}

/*
 * An address for Final-Recipient (RFC 3464 2.3.2): "rfc822; a@b" when it is
 * printable ASCII, else "utf-8; " and its RFC 6533 utf-8-addr-xtext (the
 * 7-bit form message/delivery-status needs).
 */
static int
dsn_address_type(struct buf *out, const char *addr)
{
	const unsigned char *p = (const unsigned char *)addr;
	size_t i;

	for (i = 0; p[i] != '\0'; i++)
		if (p[i] >= 0x7f || p[i] < 0x21)
			break;
	if (p[i] == '\0')
		return buf_printf(out, "rfc822; %s", addr);
	if (buf_append_str(out, "utf-8; ") < 0)
		return -1;
	return dsn_utf8_addr_xtext(out, addr);
}

/* RFC 5322 3.3 date-time in UTC, independent of the locale. */
static void
dsn_date(int64_t t, char *out, size_t outlen)
{
	static const char *const wd[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char *const mo[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
		"Oct", "Nov", "Dec"
	};
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, outlen, "Thu, 1 Jan 1970 00:00:00 +0000");
		return;
	}
	snprintf(out, outlen, "%s, %d %s %d %02d:%02d:%02d +0000",
	    wd[tm.tm_wday % 7], tm.tm_mday, mo[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* An enhanced status code class.subject.detail (RFC 3463: 1-3 digits
 * each) of the report's class (5 in a bounce, 4 in a delay warning: RFC
 * 3464 2.3.4), else class.0.0. */
static const char *
dsn_status(const struct dsn_report *r, const char *s)
{
	const char *fallback = r->delayed ? "4.0.0" : "5.0.0";
	size_t i, digits = 0, dots = 0;

	if (s == NULL || s[0] != fallback[0] || s[1] != '.')
		return fallback;
	for (i = 2; s[i] != '\0'; i++) {
		if (s[i] >= '0' && s[i] <= '9' && digits < 3) {
			digits++;
		} else if (s[i] == '.' && digits > 0 && dots == 0) {
			dots++;
			digits = 0;
		} else {
			return fallback;
		}
	}
	return dots == 1 && digits > 0 ? s : fallback;
}

size_t
dsn_header_len(const char *msg, size_t len)
{
	size_t i, line = 0, field = 0;

	for (i = 0; i < len && i < DSN_HEADERS_MAX; i++) {
		if (msg[i] != '\n')
			continue;
		if (i - line == 0 || (i - line == 1 && msg[line] == '\r'))
			return i + 1;	/* the empty line: end of header */
		line = i + 1;
		/* A line that starts without white space starts a field
		 * (RFC 5322 2.2.3: a folded one goes on with WSP). */
		if (line < len && msg[line] != ' ' && msg[line] != '\t')
			field = line;
	}
	if (len <= DSN_HEADERS_MAX)
		return len;	/* the whole message is its header */
	return field;
}

static bool
dsn_has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; s != NULL && i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

bool
dsn_needs_8bitmime(const struct buf *report)
{
	return dsn_has_8bit(report->data, report->len);
}

bool
dsn_needs_smtputf8(const struct dsn_report *r)
{
	return r->to != NULL && dsn_has_8bit(r->to, strlen(r->to));
}

/* The original header section, one cleaned line at a time. */
static int
dsn_headers_part(const struct dsn_report *r, struct buf *out)
{
	const char *p = r->headers, *end, *nl;
	char line[DSN_LINE_MAX + 1];
	size_t n, i;
	int rc = 0;

	if (p == NULL || r->headers_len == 0)
		return buf_append_str(out, "(the original header is unavailable)\r\n");
	end = p + dsn_header_len(p, r->headers_len);
	if (end == p)
		return buf_append_str(out, "(the original header is too large "
		    "to return)\r\n");
	while (p < end && rc == 0) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;		/* the empty line closing the header */
		if (n > DSN_LINE_MAX)
			n = DSN_LINE_MAX;
		/* Tabs fold, other controls (a bare CR) would break lines;
		 * 8-bit bytes go as they came (the part is 8bit then). */
		for (i = 0; i < n; i++)
			line[i] = (unsigned char)p[i] < 0x20 && p[i] != '\t'
			    ? ' ' : p[i];
		rc |= buf_append(out, line, n);
		rc |= buf_append_str(out, "\r\n");
		p = nl != NULL ? nl + 1 : end;
	}
	return rc;
}

/* The opening of the human part: what happened, in plain words. */
static int
dsn_human_intro(const struct dsn_report *r, const char *arrival,
    struct buf *out)
{
	char until[64];
	int rc = 0;

	rc |= buf_append_str(out, "This is the mail system at host ");
	rc |= dsn_clean(out, r->hostname, 255, false);
	if (!r->delayed) {
		rc |= buf_append_str(out, ".\r\n\r\n"
		    "I'm sorry to have to inform you that your message could "
		    "not\r\nbe delivered to one or more recipients.  It was "
		    "accepted on\r\n");
		rc |= buf_printf(out, "%s with queue id ", arrival);
		rc |= dsn_clean(out, r->queue_id, 64, false);
		rc |= buf_append_str(out, ".\r\n\r\nFailed recipients:"
		    "\r\n\r\n");
		return rc;
	}
	rc |= buf_append_str(out, ".\r\n\r\n"
	    "This is a warning only: your message has not been delivered yet\r\n"
	    "to one or more recipients.  It was accepted on\r\n");
	rc |= buf_printf(out, "%s with queue id ", arrival);
	rc |= dsn_clean(out, r->queue_id, 64, false);
	rc |= buf_append_str(out, ".\r\n\r\n"
	    "You do not need to do anything: delivery will be retried");
	if (r->retry_until > 0) {
		dsn_date(r->retry_until, until, sizeof(until));
		rc |= buf_printf(out, " until\r\n%s.  If it still fails by "
		    "then, the\r\nmessage will be returned to you", until);
	}
	rc |= buf_append_str(out, ".\r\n");
	rc |= buf_append_str(out, "\r\nDelayed recipients:\r\n\r\n");
	return rc;
}

static int
dsn_human_part(const struct dsn_report *r, const char *arrival,
    struct buf *out)
{
	const char *reason;
	size_t i;
	int rc = 0;

	rc |= dsn_human_intro(r, arrival, out);
	for (i = 0; i < r->n_rcpts && rc == 0; i++) {
		const struct dsn_rcpt *c = &r->rcpts[i];

		reason = c->reason != NULL ? c->reason : r->delayed
		    ? "delivery delayed" : "delivery failed";
		rc |= buf_append_str(out, "<");
		rc |= dsn_clean(out, c->addr, 512, true);
		rc |= buf_printf(out, ">: %s\r\n    ",
		    dsn_status(r, c->status));
		rc |= dsn_clean(out, reason, DSN_TEXT_MAX, true);
		rc |= buf_append_str(out, "\r\n");
		/* "host NAME[IP] said: REPLY ..." already names both. */
		if (c->diagnostic != NULL && strstr(reason, c->diagnostic)
		    != NULL) {
			rc |= buf_append_str(out, "\r\n");
			continue;
		}
		if (c->remote_mta != NULL) {
			rc |= buf_append_str(out, "    remote server: ");
			rc |= dsn_clean(out, c->remote_mta, 255, false);
			rc |= buf_append_str(out, "\r\n");
		}
		if (c->diagnostic != NULL) {
			rc |= buf_append_str(out, "    reply: ");
			rc |= dsn_clean(out, c->diagnostic, DSN_TEXT_MAX, true);
			rc |= buf_append_str(out, "\r\n");
		}
		rc |= buf_append_str(out, "\r\n");
	}
	return rc;
}

static int
dsn_status_part(const struct dsn_report *r, const char *arrival,
    struct buf *out)
{
	struct buf addr;
	char until[64];
	size_t i;
	int rc = 0;

	dsn_date(r->retry_until, until, sizeof(until));

	/* Per-message fields (RFC 3464 2.2). */
	rc |= buf_append_str(out, "Reporting-MTA: dns; ");
	rc |= dsn_clean(out, r->hostname, 255, false);
	rc |= buf_append_str(out, "\r\nX-Decorum-Queue-ID: ");
	rc |= dsn_clean(out, r->queue_id, 64, false);
	rc |= buf_printf(out, "\r\nArrival-Date: %s\r\n", arrival);
	for (i = 0; i < r->n_rcpts && rc == 0; i++) {
		const struct dsn_rcpt *c = &r->rcpts[i];

		/* Per-recipient fields (RFC 3464 2.3), one group each. */
		buf_init(&addr, 4 * DSN_LINE_MAX);
		rc |= dsn_address_type(&addr, c->addr);
		rc |= buf_append_str(out, "\r\nFinal-Recipient: ");
		rc |= dsn_clean(out, addr.data, DSN_LINE_MAX - 20, false);
		buf_free(&addr);
		rc |= buf_printf(out, "\r\nAction: %s\r\nStatus: %s\r\n",
		    r->delayed ? "delayed" : "failed", dsn_status(r, c->status));
		/* RFC 3464 2.3.9: only in a delay warning. */
		if (r->delayed && r->retry_until > 0)
			rc |= buf_printf(out, "Will-Retry-Until: %s\r\n", until);
		if (c->remote_mta != NULL) {
			rc |= buf_append_str(out, "Remote-MTA: dns; ");
			rc |= dsn_clean(out, c->remote_mta, 255, false);
			rc |= buf_append_str(out, "\r\n");
		}
		if (c->diagnostic != NULL) {
			rc |= buf_append_str(out, "Diagnostic-Code: smtp; ");
			rc |= dsn_clean(out, c->diagnostic, DSN_TEXT_MAX, false);
			rc |= buf_append_str(out, "\r\n");
		}
	}
	return rc;
}

static bool
dsn_contains(const struct buf *b, const char *s)
{
	return b->len > 0 && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* RFC 2045 6.2: a part with 8-bit octets and no encoding says 8bit; 6.4:
 * so must the multipart that holds it. */
static const char *
dsn_cte(bool eight_bit)
{
	return eight_bit ? "Content-Transfer-Encoding: 8bit\r\n" : "";
}

/* The report's own header section and the multipart preamble. */
static int
dsn_head(const struct dsn_report *r, const char *boundary, bool eight_bit,
    struct buf *out)
{
	char date[64];
	int rc = 0;

	dsn_date(r->now, date, sizeof(date));
	rc |= buf_append_str(out, "From: MAILER-DAEMON@");
	rc |= dsn_clean(out, r->hostname, 255, false);
	rc |= buf_append_str(out, " (Mail Delivery System)\r\nTo: <");
	rc |= dsn_clean(out, r->to, 512, true);
	rc |= buf_printf(out, ">\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <",
	    r->delayed ? "Delayed Mail (still being retried)"
	    : "Undelivered Mail Returned to Sender", date);
	rc |= dsn_clean(out, r->unique, 64, false);
	rc |= buf_append_str(out, ".dsn@");
	rc |= dsn_clean(out, r->hostname, 255, false);
	/* RFC 3834 5: automatic replies must say so, so that nobody
	 * auto-replies to them in turn. */
	rc |= buf_printf(out, ">\r\nAuto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n%s\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n", boundary,
	    dsn_cte(eight_bit));
	return rc;
}

/* A boundary that none of the parts contains (RFC 2046 5.1.1). */
static int
dsn_boundary(const struct dsn_report *r, const struct buf *parts, size_t n,
    char *out, size_t outlen)
{
	unsigned salt;
	size_t i;

	for (salt = 0; ; salt++) {
		if (snprintf(out, outlen, "=_%.40s/%u.%.60s", r->unique, salt,
		    "decorum-dsn") >= (int)outlen)
			return -1;
		for (i = 0; i < n && !dsn_contains(&parts[i], out); i++)
			;
		if (i == n)
			return 0;
	}
}

int
dsn_compose(const struct dsn_report *r, struct buf *out)
{
	/* The parts, in order: human, message/delivery-status, headers. */
	static const char *const type[3] = {
		"Content-Description: Notification\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n",
		"Content-Description: Delivery report\r\n"
		    "Content-Type: message/delivery-status\r\n",
		"Content-Description: Undelivered message headers\r\n"
		    "Content-Type: text/rfc822-headers\r\n",
	};
	struct buf part[3];
	char arrival[64], boundary[128];
	bool eight[3], any8;
	size_t max, i;
	int rc = 0;

	buf_init(out, 1);
	if (r == NULL || r->hostname == NULL || r->to == NULL ||
	    r->to[0] == '\0' || r->queue_id == NULL || r->unique == NULL ||
	    r->n_rcpts == 0 || r->n_rcpts > DSN_RCPTS_MAX)
		return -1;
	/* Every line of a recipient is capped, as is the header part. */
	max = 3 * DSN_HEADERS_MAX + 16384 + r->n_rcpts * 8 * DSN_LINE_MAX;
	for (i = 0; i < 3; i++)
		buf_init(&part[i], max);
	dsn_date(r->arrival, arrival, sizeof(arrival));
	rc |= dsn_human_part(r, arrival, &part[0]);
	rc |= dsn_status_part(r, arrival, &part[1]);
	rc |= dsn_headers_part(r, &part[2]);
	rc |= dsn_boundary(r, part, 3, boundary, sizeof(boundary));
	/* Each part says what it holds: reasons and replies of remote
	 * servers may be UTF-8, and so may the returned header section.
	 * The status part is 7-bit by construction (RFC 6533 xtext, and
	 * 8-bit reply text replaced), as message/delivery-status must be. */
	any8 = false;
	for (i = 0; i < 3; i++) {
		eight[i] = dsn_has_8bit(part[i].data, part[i].len);
		any8 |= eight[i];
	}
	buf_free(out);
	buf_init(out, 4 * max);
	rc |= dsn_head(r, boundary, any8, out);
	for (i = 0; i < 3 && rc == 0; i++) {
		rc |= buf_printf(out, "%s--%s\r\n%s%s\r\n",
		    i == 2 ? "\r\n" : "", boundary, type[i], dsn_cte(eight[i]));
		rc |= buf_append(out, part[i].data, part[i].len);
	}
	rc |= buf_printf(out, "\r\n--%s--\r\n", boundary);
	for (i = 0; i < 3; i++)
		buf_free(&part[i]);
	if (rc != 0) {
		buf_free(out);
		buf_init(out, 1);
		return -1;
	}
	return 0;
}
