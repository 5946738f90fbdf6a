/*
 * The RFC 3464 report: its fields, one block per failed recipient, the
 * original header section, and its invariants (CRLF only, lines of at
 * most 998 octets, the boundary only where it belongs) under hostile
 * reasons, addresses and headers; the delay warning (Action: delayed)
 * read back group by group from its message/delivery-status part.
 * Which parts are 8-bit and say so; the header section cut between
 * fields from what bounce.c reads (DSN_HEADERS_MAX + 1 octets); RFC 6533
 * utf-8-addr-xtext checked against its grammar for every code point.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "queue/dsn.h"
#include "testutil.h"

static const char orig_headers[] =
    "From: Alice <alice@example.test>\r\n"
    "To: bob@example.test\r\n"
    "Subject: lunch?\r\n"
    "\r\n"
    "body text that must not be returned\r\n";

static void
report_init(struct dsn_report *r, const struct dsn_rcpt *rcpts, size_t n)
{
	memset(r, 0, sizeof(*r));
	r->hostname = "mx.example.test";
	r->to = "alice@example.test";
	r->orig_sender = "alice@example.test";
	r->queue_id = "0ABCDEFGHIJKLMNOP";
	r->unique = "0BOUNCEIDBOUNCEID";
	r->arrival = 1700000000;
	r->now = 1700000100;
	r->rcpts = rcpts;
	r->n_rcpts = n;
	r->headers = orig_headers;
	r->headers_len = strlen(orig_headers);
}

static bool
has_line(const struct buf *b, const char *line)
{
	char *want;
	bool found;
	size_t n = strlen(line);

	want = malloc(n + 5);
	assert_non_null(want);
	snprintf(want, n + 5, "\r\n%s\r\n", line);
	found = strstr(b->data, want) != NULL;
	free(want);
	return found;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/* CRLF only, no line over 998, and the boundary only as delimiters. */
static void
check_invariants(const struct buf *b)
{
	const char *p = b->data, *end = b->data + b->len, *bd, *q;
	char boundary[200], delim[210], line[1100];
	size_t i, linelen = 0, delims = 0, n;

	assert_int_equal(strlen(b->data), b->len);	/* no NUL */
	for (i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			assert_true(i > 0 && b->data[i - 1] == '\r');
			linelen = 0;
		} else if (b->data[i] == '\r') {
			assert_true(i + 1 < b->len && b->data[i + 1] == '\n');
		} else {
			linelen++;
			assert_true(linelen <= DSN_LINE_MAX);
		}
	}
	assert_true(b->len >= 2 && end[-2] == '\r' && end[-1] == '\n');
	bd = strstr(p, "boundary=\"");
	assert_non_null(bd);
	bd += 10;
	q = strchr(bd, '"');
	assert_non_null(q);
	assert_true((size_t)(q - bd) < sizeof(boundary));
	memcpy(boundary, bd, (size_t)(q - bd));
	boundary[q - bd] = '\0';
	snprintf(delim, sizeof(delim), "--%s", boundary);
	/* Every line that starts with the delimiter is one of ours. */
	for (p = strstr(b->data, "\r\n\r\n"); p != NULL && p < end; ) {
		q = strstr(p, "\r\n");
		if (q == NULL)
			break;
		n = (size_t)(q - p);
		if (n < sizeof(line)) {
			memcpy(line, p, n);
			line[n] = '\0';
			if (strncmp(line, delim, strlen(delim)) == 0) {
				delims++;
				assert_true(strcmp(line + strlen(delim), "") == 0 ||
				    strcmp(line + strlen(delim), "--") == 0);
			}
		}
		p = q + 2;
	}
	assert_int_equal(delims, 4);	/* three parts and the close */
	assert_int_equal(count(b->data, delim), 4);
}

/*
 * The message/delivery-status part read back as RFC 3464 2.1 says:
 * groups of "Name: value" lines separated by an empty line, the first
 * group per message, then one per recipient.
 */
#define GROUPS_MAX	8
#define FIELDS_MAX	16

struct field {
	char name[64];
	char value[1024];
};

struct group {
	struct field f[FIELDS_MAX];
	size_t n;
};

static size_t
status_groups(const struct buf *b, struct group *g)
{
	static const char start[] = "Content-Type: message/delivery-status"
	    "\r\n\r\n";
	const char *p = strstr(b->data, start), *end, *nl, *colon;
	size_t n = 0, len;

	assert_non_null(p);
	p += strlen(start);
	end = strstr(p, "\r\n--=_");	/* the next boundary delimiter */
	assert_non_null(end);
	memset(g, 0, GROUPS_MAX * sizeof(*g));
	while (p < end) {
		nl = strstr(p, "\r\n");
		assert_non_null(nl);
		if (nl == p) {			/* empty line: next group */
			assert_true(g[n].n > 0);
			n++;
			assert_true(n < GROUPS_MAX);
			p += 2;
			continue;
		}
		/* No folded lines in what we write. */
		assert_true(*p != ' ' && *p != '\t');
		colon = memchr(p, ':', (size_t)(nl - p));
		assert_non_null(colon);
		assert_true(colon + 1 < nl && colon[1] == ' ');
		assert_true(g[n].n < FIELDS_MAX);
		len = (size_t)(colon - p);
		assert_true(len < sizeof(g[n].f[0].name));
		memcpy(g[n].f[g[n].n].name, p, len);
		len = (size_t)(nl - colon - 2);
		assert_true(len < sizeof(g[n].f[0].value));
		memcpy(g[n].f[g[n].n].value, colon + 2, len);
		g[n].n++;
		p = nl + 2;
	}
	return g[n].n > 0 ? n + 1 : n;
}

/* The value of the one field called name in g, or NULL. */
static const char *
field(const struct group *g, const char *name)
{
	const char *v = NULL;
	size_t i;

	for (i = 0; i < g->n; i++)
		if (strcmp(g->f[i].name, name) == 0) {
			assert_null(v);		/* never twice */
			v = g->f[i].value;
		}
	return v;
}

static void
test_fields(void **state)
{
	struct dsn_rcpt rc = { "bob@example.test", "5.1.1",
	    "no such user: bob", NULL, NULL };
	struct dsn_report r;
	struct buf b;

	(void)state;
	report_init(&r, &rc, 1);
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	assert_true(strncmp(b.data, "From: MAILER-DAEMON@mx.example.test "
	    "(Mail Delivery System)\r\n", 53) == 0);
	assert_true(has_line(&b, "To: <alice@example.test>"));
	assert_true(has_line(&b, "Subject: Undelivered Mail Returned to Sender"));
	assert_true(has_line(&b, "Date: Tue, 14 Nov 2023 22:15:00 +0000"));
	assert_true(has_line(&b,
	    "Message-ID: <0BOUNCEIDBOUNCEID.dsn@mx.example.test>"));
	assert_true(has_line(&b, "Auto-Submitted: auto-replied"));
	assert_true(has_line(&b, "MIME-Version: 1.0"));
	assert_non_null(strstr(b.data, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	assert_true(has_line(&b, "Content-Type: message/delivery-status"));
	assert_true(has_line(&b, "Content-Type: text/rfc822-headers"));
	assert_true(has_line(&b, "Reporting-MTA: dns; mx.example.test"));
	assert_true(has_line(&b, "X-Decorum-Queue-ID: 0ABCDEFGHIJKLMNOP"));
	assert_true(has_line(&b, "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000"));
	assert_true(has_line(&b, "Final-Recipient: rfc822; bob@example.test"));
	assert_true(has_line(&b, "Action: failed"));
	assert_true(has_line(&b, "Status: 5.1.1"));
	assert_null(strstr(b.data, "Remote-MTA"));
	assert_null(strstr(b.data, "Diagnostic-Code"));
	/* RFC 3464 2.3.9: MUST NOT appear in a report other than delayed. */
	assert_null(strstr(b.data, "Will-Retry-Until"));
	assert_null(strstr(b.data, "delayed"));
	assert_true(has_line(&b, "Subject: lunch?"));
	assert_true(has_line(&b, "<bob@example.test>: 5.1.1"));
	assert_non_null(strstr(b.data, "no such user: bob"));
	/* The header section only, never the body. */
	assert_null(strstr(b.data, "must not be returned"));
	/* 7-bit input: no 8bit declared. */
	assert_null(strstr(b.data, "8bit"));
	buf_free(&b);
}

static void
test_two_recipients_remote(void **state)
{
	struct dsn_rcpt rc[2] = {
		{ "bob@example.test", "5.1.1", "no such user", NULL, NULL },
		{ "carol@example.org", "5.7.1", "refused", "mx.example.org",
		    "550 5.7.1 go away" },
	};
	struct dsn_report r;
	struct buf b;

	(void)state;
	report_init(&r, rc, 2);
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	assert_int_equal(count(b.data, "\r\nFinal-Recipient: "), 2);
	assert_int_equal(count(b.data, "\r\nAction: failed\r\n"), 2);
	assert_true(has_line(&b, "Final-Recipient: rfc822; carol@example.org"));
	assert_true(has_line(&b, "Status: 5.7.1"));
	assert_true(has_line(&b, "Remote-MTA: dns; mx.example.org"));
	assert_true(has_line(&b, "Diagnostic-Code: smtp; 550 5.7.1 go away"));
	/* Recipient groups are separated by an empty line (RFC 3464 2.1). */
	assert_non_null(strstr(b.data, "\r\n\r\nFinal-Recipient: rfc822; "
	    "carol@example.org"));
	buf_free(&b);
}

/* A delay warning: same shape, Action delayed, 4.x.x, Will-Retry-Until. */
static void
test_delayed(void **state)
{
	struct dsn_rcpt rc[3] = {
		{ "bob@example.test", "4.4.1", "host mx.example.test[192.0.2.7] "
		    "said: 451 4.4.1 try later (in reply to RCPT TO)",
		    "mx.example.test", "451 4.4.1 try later" },
		{ "carol@example.org", NULL, NULL, NULL, NULL },
		{ "dave@example.org", "5.1.1", "connect to mx: refused", NULL,
		    NULL },
	};
	struct group g[GROUPS_MAX];
	struct dsn_report r;
	struct buf b;

	(void)state;
	report_init(&r, rc, 3);
	r.delayed = true;
	r.retry_until = 1700432000;	/* Sun, 19 Nov 2023 22:13:20 */
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	assert_true(has_line(&b, "Subject: Delayed Mail (still being retried)"));
	assert_true(has_line(&b, "Auto-Submitted: auto-replied"));
	assert_true(has_line(&b, "To: <alice@example.test>"));
	assert_null(strstr(b.data, "Undelivered Mail Returned"));
	assert_null(strstr(b.data, "could not\r\nbe delivered"));
	/* The human part: not delivered yet, nothing to do, until when. */
	assert_non_null(strstr(b.data, "has not been delivered yet"));
	assert_non_null(strstr(b.data, "You do not need to do anything: "
	    "delivery will be retried until\r\n"
	    "Sun, 19 Nov 2023 22:13:20 +0000.  If it still fails"));
	assert_true(has_line(&b, "Delayed recipients:"));
	assert_true(has_line(&b, "<bob@example.test>: 4.4.1"));
	assert_true(has_line(&b, "<carol@example.org>: 4.0.0"));
	assert_true(has_line(&b, "    delivery delayed"));
	/* The reason names the server and its reply: not said twice. */
	assert_null(strstr(b.data, "remote server: "));

	assert_int_equal(status_groups(&b, g), 4);
	assert_string_equal(field(&g[0], "Reporting-MTA"),
	    "dns; mx.example.test");
	assert_string_equal(field(&g[0], "Arrival-Date"),
	    "Tue, 14 Nov 2023 22:13:20 +0000");
	assert_null(field(&g[0], "Action"));
	assert_string_equal(field(&g[1], "Final-Recipient"),
	    "rfc822; bob@example.test");
	assert_string_equal(field(&g[1], "Action"), "delayed");
	assert_string_equal(field(&g[1], "Status"), "4.4.1");
	assert_string_equal(field(&g[1], "Will-Retry-Until"),
	    "Sun, 19 Nov 2023 22:13:20 +0000");
	assert_string_equal(field(&g[1], "Remote-MTA"), "dns; mx.example.test");
	assert_string_equal(field(&g[1], "Diagnostic-Code"),
	    "smtp; 451 4.4.1 try later");
	assert_int_equal(g[1].n, 6);
	assert_string_equal(field(&g[2], "Final-Recipient"),
	    "rfc822; carol@example.org");
	assert_string_equal(field(&g[2], "Action"), "delayed");
	assert_string_equal(field(&g[2], "Status"), "4.0.0");
	assert_null(field(&g[2], "Remote-MTA"));
	assert_null(field(&g[2], "Diagnostic-Code"));
	assert_int_equal(g[2].n, 4);
	/* A permanent code has no place in a delay warning. */
	assert_string_equal(field(&g[3], "Status"), "4.0.0");
	assert_string_equal(field(&g[3], "Action"), "delayed");
	buf_free(&b);

	/* Give-up time unknown: no Will-Retry-Until, no date promised. */
	r.retry_until = 0;
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	assert_int_equal(status_groups(&b, g), 4);
	assert_null(field(&g[1], "Will-Retry-Until"));
	assert_string_equal(field(&g[1], "Action"), "delayed");
	assert_null(strstr(b.data, "retried until"));
	assert_true(has_line(&b, "You do not need to do anything: delivery "
	    "will be retried."));
	buf_free(&b);
}

/* The bounce read back the same way: the groups a parser sees. */
static void
test_failed_groups(void **state)
{
	struct dsn_rcpt rc[2] = {
		{ "bob@example.test", "5.1.1", "no such user", NULL, NULL },
		{ "carol@example.org", "4.4.1", "refused", "mx.example.org",
		    "550 5.7.1 go away" },
	};
	struct group g[GROUPS_MAX];
	struct dsn_report r;
	struct buf b;

	(void)state;
	report_init(&r, rc, 2);
	r.retry_until = 1700432000;	/* ignored: not a delay warning */
	assert_int_equal(dsn_compose(&r, &b), 0);
	assert_int_equal(status_groups(&b, g), 3);
	assert_string_equal(field(&g[0], "X-Decorum-Queue-ID"),
	    "0ABCDEFGHIJKLMNOP");
	assert_string_equal(field(&g[1], "Action"), "failed");
	assert_string_equal(field(&g[1], "Status"), "5.1.1");
	assert_null(field(&g[1], "Will-Retry-Until"));
	assert_string_equal(field(&g[2], "Status"), "5.0.0");
	assert_string_equal(field(&g[2], "Remote-MTA"), "dns; mx.example.org");
	assert_string_equal(field(&g[2], "Diagnostic-Code"),
	    "smtp; 550 5.7.1 go away");
	/* The reason does not hold the reply: both are shown. */
	assert_true(has_line(&b, "    remote server: mx.example.org"));
	assert_true(has_line(&b, "    reply: 550 5.7.1 go away"));
	buf_free(&b);
}

static void
test_injection(void **state)
{
	struct dsn_rcpt rc = { "bob@example.test\r\nBcc: evil@example.org",
	    "5.1.1\r\nX-Evil: 1",
	    "bad\r\nBcc: evil@example.org\r\n\r\n"
	    "--=_0BOUNCEIDBOUNCEID/0.decorum-dsn",
	    "mx\nX-Evil: 2", "550 x\rX-Evil: 3\n" };
	struct dsn_report r;
	struct buf b;

	(void)state;
	report_init(&r, &rc, 1);
	r.hostname = "mx.example.test\r\nX-Evil: 4";
	r.headers = "Subject: x\r\n--=_0BOUNCEIDBOUNCEID/0.decorum-dsn\r\n"
	    "X-Bare: a\rb\r\n\r\n";
	r.headers_len = strlen(r.headers);
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	assert_null(strstr(b.data, "\nBcc:"));
	assert_null(strstr(b.data, "\nX-Evil:"));
	assert_true(has_line(&b, "Status: 5.0.0"));	/* not a status code */
	/* The boundary moved away from the one planted in the headers. */
	assert_null(strstr(b.data,
	    "boundary=\"=_0BOUNCEIDBOUNCEID/0.decorum-dsn"));
	assert_non_null(strstr(b.data,
	    "boundary=\"=_0BOUNCEIDBOUNCEID/1.decorum-dsn"));
	assert_true(has_line(&b, "X-Bare: a b"));
	buf_free(&b);
}

/*
 * The MIME header block of the part whose Content-Type line is type (or,
 * type NULL, of the report itself: from its start to the first empty
 * line), copied into out.
 */
static void
mime_head(const struct buf *b, const char *type, char *out, size_t outlen)
{
	const char *p = b->data, *end;
	char want[128];

	if (type != NULL) {
		snprintf(want, sizeof(want), "\r\nContent-Type: %s\r\n", type);
		p = strstr(b->data, want);
		assert_non_null(p);
		p += 2;
	}
	end = strstr(p, "\r\n\r\n");
	assert_non_null(end);
	assert_true((size_t)(end - p) < outlen);
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
}

/* Whether the part (type NULL: the report) declares 8bit. */
static bool
says_8bit(const struct buf *b, const char *type)
{
	char head[2048];

	mime_head(b, type, head, sizeof(head));
	return strstr(head, "Content-Transfer-Encoding: 8bit") != NULL;
}

static bool
has_8bit_octet(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* The message/delivery-status part's content. */
static void
status_part(const struct buf *b, const char **start, size_t *len)
{
	static const char head[] = "Content-Type: message/delivery-status"
	    "\r\n\r\n";
	const char *p = strstr(b->data, head), *end;

	assert_non_null(p);
	p += strlen(head);
	end = strstr(p, "\r\n--=_");
	assert_non_null(end);
	*start = p;
	*len = (size_t)(end - p);
}

static const char *const T_HUMAN = "text/plain; charset=utf-8";
static const char *const T_STATUS = "message/delivery-status";
static const char *const T_HEADERS = "text/rfc822-headers";

/* What the four parts say, and that the status part is 7-bit. */
static void
check_8bit(const struct buf *b, bool top, bool human, bool headers)
{
	const char *st;
	size_t stlen;

	assert_int_equal(says_8bit(b, NULL), top);
	assert_int_equal(says_8bit(b, T_HUMAN), human);
	assert_false(says_8bit(b, T_STATUS));
	assert_int_equal(says_8bit(b, T_HEADERS), headers);
	status_part(b, &st, &stlen);
	assert_false(has_8bit_octet(st, stlen));
	/* The envelope follows the octets, whatever the parts say. */
	assert_int_equal(dsn_needs_8bitmime(b), has_8bit_octet(b->data, b->len));
	assert_int_equal(dsn_needs_8bitmime(b), top);
}

static void
test_utf8_address(void **state)
{
	struct dsn_rcpt rc = { "j\xc3\xa9r\xc3\xb4me+x@exampl\xc3\xa9.test",
	    "5.1.1", "no such user", NULL, NULL };
	struct dsn_report r;
	struct buf b;

	(void)state;
	report_init(&r, &rc, 1);
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	/* RFC 6533 utf-8-addr-xtext: non-ASCII and '+' escaped. */
	assert_true(has_line(&b, "Final-Recipient: utf-8; "
	    "j\\x{E9}r\\x{F4}me\\x{2B}x@exampl\\x{E9}.test"));
	/* The human part names it in UTF-8. */
	assert_true(has_line(&b, "<j\xc3\xa9r\xc3\xb4me+x@exampl\xc3\xa9.test>: "
	    "5.1.1"));
	check_8bit(&b, true, true, false);
	/* The report goes to an ASCII address: no SMTPUTF8 needed. */
	assert_false(dsn_needs_smtputf8(&r));
	r.to = "\xc3\xa9lise@example.test";
	assert_true(dsn_needs_smtputf8(&r));
	buf_free(&b);
}

/*
 * A remote server's reply and a failure reason may be UTF-8: the part
 * that shows them says 8bit, and so does the report; the status part
 * stays 7-bit (the reply's 8-bit characters become '?' there).
 */
static void
test_8bit_reason_and_reply(void **state)
{
	struct dsn_rcpt rc = { "bob@example.test", "5.1.1",
	    "host mx.example.org[192.0.2.7] said: 550 5.1.1 Benutzer "
	    "unbekannt: \xc3\xbc" "berpr\xc3\xbc" "fen (in reply to RCPT TO)",
	    "mx.example.org", "550 5.1.1 Benutzer unbekannt: "
	    "\xc3\xbc" "berpr\xc3\xbc" "fen" };
	struct dsn_rcpt plain = { "bob@example.test", "5.1.1", "no such user",
	    "mx.example.org", "550 5.1.1 no such user" };
	struct dsn_report r;
	struct buf b;

	(void)state;
	report_init(&r, &rc, 1);
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	check_8bit(&b, true, true, false);
	assert_non_null(strstr(b.data,
	    "unbekannt: \xc3\xbc" "berpr\xc3\xbc" "fen"));
	assert_true(has_line(&b, "Diagnostic-Code: smtp; 550 5.1.1 Benutzer "
	    "unbekannt: ?berpr?fen"));
	buf_free(&b);
	/* The reply alone (the reason does not hold it): the same. */
	rc.reason = "refused";
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_8bit(&b, true, true, false);
	assert_true(has_line(&b, "    reply: 550 5.1.1 Benutzer unbekannt: "
	    "\xc3\xbc" "berpr\xc3\xbc" "fen"));
	buf_free(&b);
	/* A delay warning with a UTF-8 reply. */
	r.delayed = true;
	rc.status = "4.2.0";
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_8bit(&b, true, true, false);
	buf_free(&b);
	/* 8-bit header fields only: that part and the report. */
	report_init(&r, &plain, 1);
	r.headers = "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\nX-Raw: \xff\r\n\r\n"
	    "body\r\n";
	r.headers_len = strlen(r.headers);
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	check_8bit(&b, true, false, true);
	buf_free(&b);
	/* Nothing 8-bit: nothing says 8bit. */
	report_init(&r, &plain, 1);
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_8bit(&b, false, false, false);
	assert_null(strstr(b.data, "Content-Transfer-Encoding"));
	buf_free(&b);
	/* Invalid UTF-8 in a reason is '?', so it makes nothing 8-bit. */
	plain.reason = "bad \xff\xfe bytes";
	plain.diagnostic = "550 \xc3";
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_8bit(&b, false, false, false);
	assert_non_null(strstr(b.data, "bad ?? bytes"));
	buf_free(&b);
}

/* The RFC 6533 3 forms, at the edges of each. */
static void
test_xtext_forms(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		/* QCHAR: as it is, at the edges of its ranges. */
		{ "!*,<>[]~", "!*,<>[]~" },
		/* xtext-specials and the 2-digit control forms. */
		{ " ", "\\x{20}" }, { "+", "\\x{2B}" }, { "=", "\\x{3D}" },
		{ "\\", "\\x{5C}" }, { "\x7f", "\\x{7F}" },
		{ "\x01", "\\x{01}" }, { "\x09", "\\x{09}" },
		{ "\x10", "\\x{10}" }, { "\x11", "\\x{11}" },
		{ "\x19", "\\x{19}" },
		/* Controls HEXPOINT has no form for. */
		{ "\x0a", "\\x{FFFD}" }, { "\x0f", "\\x{FFFD}" },
		{ "\x1a", "\\x{FFFD}" }, { "\x1f", "\\x{FFFD}" },
		/* 2 digits up to FF, then no leading zeros. */
		{ "\xc2\x80", "\\x{80}" }, { "\xc3\xbf", "\\x{FF}" },
		{ "\xc4\x80", "\\x{100}" }, { "\xe0\xbf\xbf", "\\x{FFF}" },
		{ "\xe1\x80\x80", "\\x{1000}" },
		{ "\xed\x9f\xbf", "\\x{D7FF}" },
		{ "\xee\x80\x80", "\\x{E000}" },
		{ "\xef\xbf\xbf", "\\x{FFFF}" },
		{ "\xf0\x90\x80\x80", "\\x{10000}" },
		{ "\xf3\xbf\xbf\xbf", "\\x{FFFFF}" },
		{ "\xf4\x80\x80\x80", "\\x{100000}" },
		{ "\xf4\x8f\xbf\xbf", "\\x{10FFFF}" },
		/* Not UTF-8: a surrogate, past U+10FFFF, overlong, cut. */
		{ "\xed\xa0\x80", "\\x{FFFD}\\x{FFFD}\\x{FFFD}" },
		{ "\xf4\x90\x80\x80", "\\x{FFFD}\\x{FFFD}\\x{FFFD}\\x{FFFD}" },
		{ "\xc0\xaf", "\\x{FFFD}\\x{FFFD}" },
		{ "a\xc3", "a\\x{FFFD}" },
		{ "\xff", "\\x{FFFD}" },
	};
	struct buf b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, 4096);
		assert_int_equal(dsn_utf8_addr_xtext(&b, cases[i].in), 0);
		assert_non_null(b.data);
		if (strcmp(b.data, cases[i].out) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, b.data,
			    cases[i].out);
		buf_free(&b);
	}
}

static bool
hexdig(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* RFC 6533 3 HEXPOINT, literally (uppercase: what we write). */
static bool
hexpoint(const char *h, size_t n)
{
	static const char *const two[] = { "10", "20", "2B", "3D", "7F", "5C" };
	size_t i;

	for (i = 0; i < n; i++)
		if (!hexdig(h[i]))
			return false;
	switch (n) {
	case 2:
		for (i = 0; i < sizeof(two) / sizeof(two[0]); i++)
			if (strncmp(h, two[i], 2) == 0)
				return true;
		return ((h[0] == '0' || h[0] == '1') && h[1] >= '1' &&
		    h[1] <= '9') || strchr("89ABCDEF", h[0]) != NULL;
	case 3:
	case 5:
		return h[0] != '0';
	case 4:
		return (h[0] != '0' && h[0] != 'D') ||
		    (h[0] == 'D' && h[1] >= '0' && h[1] <= '7');
	default:
		return n >= 6 && h[0] == '1' && h[1] == '0';
	}
}

/* utf-8-addr-xtext = 1*(QCHAR / EmbeddedUnicodeChar); the code points
 * it spells go to cps (at most max). */
static bool
xtext_valid(const char *s, unsigned *cps, size_t max, size_t *n)
{
	const char *close;

	*n = 0;
	if (*s == '\0')
		return false;
	while (*s != '\0' && *n < max) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\') {
			if (strncmp(s, "\\x{", 3) != 0 ||
			    (close = strchr(s + 3, '}')) == NULL ||
			    !hexpoint(s + 3, (size_t)(close - s - 3)))
				return false;
			cps[(*n)++] = (unsigned)strtoul(s + 3, NULL, 16);
			s = close + 1;
		} else if (c > 0x20 && c < 0x7f && c != '+' && c != '=') {
			cps[(*n)++] = c;
			s++;
		} else {
			return false;
		}
	}
	return *s == '\0';
}

/* Every code point, in an address: the grammar holds, and the code
 * point comes back (U+FFFD for the controls without a form). */
static void
test_xtext_every_code_point(void **state)
{
	char in[16];
	unsigned cp, want, got[8];
	size_t n, k;
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	for (cp = 1; cp <= 0x10ffff; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		k = 0;
		in[k++] = 'a';
		if (cp < 0x80) {
			in[k++] = (char)cp;
		} else if (cp < 0x800) {
			in[k++] = (char)(0xc0 | (cp >> 6));
			in[k++] = (char)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			in[k++] = (char)(0xe0 | (cp >> 12));
			in[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			in[k++] = (char)(0x80 | (cp & 0x3f));
		} else {
			in[k++] = (char)(0xf0 | (cp >> 18));
			in[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
			in[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
			in[k++] = (char)(0x80 | (cp & 0x3f));
		}
		in[k++] = '@';
		in[k] = '\0';
		buf_reset(&b);
		assert_int_equal(dsn_utf8_addr_xtext(&b, in), 0);
		if (!xtext_valid(b.data, got, 8, &n))
			fail_msg("U+%04X: \"%s\" is not utf-8-addr-xtext", cp,
			    b.data);
		want = (cp < 0x20 && (cp & 0xf) >= 0xa) ? 0xfffd : cp;
		assert_int_equal(n, 3);
		assert_int_equal(got[0], 'a');
		if (got[1] != want)
			fail_msg("U+%04X came back as U+%04X", cp, got[1]);
		assert_int_equal(got[2], '@');
	}
	buf_free(&b);
}

static void
test_status_codes(void **state)
{
	static const char *const bad[] = {
		"4.1.1", "5.1", "5..1", "5.1.1.1", "5.1234.1", "", "5.1.1 ",
		"x", "5.a.1",
	};
	struct dsn_rcpt rc = { "bob@example.test", "5.10.123", NULL, NULL,
	    NULL };
	struct dsn_report r;
	struct buf b;
	size_t i;

	(void)state;
	report_init(&r, &rc, 1);
	assert_int_equal(dsn_compose(&r, &b), 0);
	assert_true(has_line(&b, "Status: 5.10.123"));
	buf_free(&b);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc.status = bad[i];
		assert_int_equal(dsn_compose(&r, &b), 0);
		assert_true(has_line(&b, "Status: 5.0.0"));
		buf_free(&b);
	}
}

static void
test_bad_arguments(void **state)
{
	struct dsn_rcpt rc = { "bob@example.test", "5.1.1", NULL, NULL, NULL };
	struct dsn_report r;
	struct buf b;

	(void)state;
	report_init(&r, &rc, 0);
	assert_int_equal(dsn_compose(&r, &b), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
	report_init(&r, &rc, 1);
	r.to = "";			/* never a report to <> */
	assert_int_equal(dsn_compose(&r, &b), -1);
	buf_free(&b);
	assert_int_equal(dsn_compose(NULL, &b), -1);
	buf_free(&b);
}

/* A header section of total octets (or more): fields of line octets
 * (CRLF included), each folded once when fold is set, then an empty
 * line and a body.  Returns the malloc'd text; *len its length. */
static char *
make_header(size_t total, size_t line, bool fold, size_t *len)
{
	size_t n = total + 2 * line + 64, i = 0, start, k = 0;
	char *h = malloc(n);

	assert_non_null(h);
	while (i < total) {
		start = i;
		i += (size_t)snprintf(h + i, n - i, "X-F%05zu: ", k++);
		for (; i < start + line - 2; i++) {
			if (fold && i == start + line / 2)
				memcpy(h + i, "\r\n\t", 3);
			if (!fold || i < start + line / 2 ||
			    i > start + line / 2 + 2)
				h[i] = 'v';
		}
		h[i++] = '\r';
		h[i++] = '\n';
	}
	memcpy(h + i, "\r\nbody\r\n", 8);
	*len = i + 8;
	return h;
}

/* What bounce.c passes: the first DSN_HEADERS_MAX + 1 octets. */
static size_t
header_len_as_read(const char *msg, size_t len)
{
	return dsn_header_len(msg, len < DSN_HEADERS_MAX + 1 ? len
	    : DSN_HEADERS_MAX + 1);
}

/* Whether a field starts at offset i of h (not a fold, not the end). */
static bool
field_starts(const char *h, size_t i)
{
	return i > 0 && h[i - 1] == '\n' && h[i] != ' ' && h[i] != '\t' &&
	    h[i] != '\r';
}

static void
test_header_len(void **state)
{
	char *h;
	size_t n, cut, i, line;

	(void)state;
	assert_int_equal(header_len_as_read(orig_headers, strlen(orig_headers)),
	    strlen("From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
	    "Subject: lunch?\r\n\r\n"));
	/* A message that is all header: all of it. */
	assert_int_equal(header_len_as_read("A: b\r\n", 6), 6);
	assert_int_equal(header_len_as_read("A: b", 4), 4);

	/* Longer than the limit, folded fields: cut between two fields,
	 * at the last one that fits; never in a field, never in a fold. */
	for (line = 40; line <= 400; line += 37) {
		h = make_header(3 * DSN_HEADERS_MAX, line, line % 2 == 0, &n);
		cut = header_len_as_read(h, n);
		assert_true(cut > 0 && cut <= DSN_HEADERS_MAX);
		assert_true(field_starts(h, cut));
		for (i = cut + 1; i <= DSN_HEADERS_MAX; i++)
			assert_false(field_starts(h, i));
		free(h);
	}

	/* The boundary, both sides: a field that starts at offset
	 * DSN_HEADERS_MAX ends the cut there; one that starts an octet
	 * later is not known to start a field (the next octet was not
	 * read), so the cut is the field before. */
	h = make_header(2 * DSN_HEADERS_MAX, 64, false, &n);
	assert_int_equal(DSN_HEADERS_MAX % 64, 0);
	assert_true(field_starts(h, DSN_HEADERS_MAX));
	assert_int_equal(header_len_as_read(h, n), DSN_HEADERS_MAX);
	free(h);
	h = make_header(2 * DSN_HEADERS_MAX, 64, false, &n);
	memmove(h + 1, h, n - 1);	/* every field one octet later */
	h[0] = 'Y';
	assert_true(field_starts(h, DSN_HEADERS_MAX + 1));
	assert_int_equal(header_len_as_read(h, n), DSN_HEADERS_MAX - 63);
	free(h);
	/* A fold that starts exactly at the limit: its field stays out. */
	h = make_header(2 * DSN_HEADERS_MAX, 64, false, &n);
	h[DSN_HEADERS_MAX] = '\t';
	assert_int_equal(header_len_as_read(h, n), DSN_HEADERS_MAX - 64);
	free(h);

	/* The empty line ending exactly at the limit: the whole header;
	 * one octet later: every field, not the empty line.  A message
	 * that ends at the limit (no empty line): all of it. */
	h = make_header(DSN_HEADERS_MAX, 64, false, &n);
	memcpy(h + DSN_HEADERS_MAX - 4, "\r\n\r\n", 4);
	assert_int_equal(header_len_as_read(h, n), DSN_HEADERS_MAX);
	memcpy(h + DSN_HEADERS_MAX - 4, "v\r\n\r", 4);
	h[DSN_HEADERS_MAX] = '\n';
	assert_int_equal(header_len_as_read(h, n), DSN_HEADERS_MAX - 1);
	assert_int_equal(dsn_header_len(h, DSN_HEADERS_MAX), DSN_HEADERS_MAX);
	free(h);

	/* One field longer than the limit: nothing can be returned. */
	h = make_header(DSN_HEADERS_MAX + 100, DSN_HEADERS_MAX + 100, true, &n);
	assert_int_equal(header_len_as_read(h, n), 0);
	free(h);
}

/* The same through dsn_compose: the part ends with a whole field. */
static void
test_headers_part_cut(void **state)
{
	struct dsn_rcpt rc = { "bob@example.test", "5.1.1", NULL, NULL, NULL };
	struct dsn_report r;
	const char *part, *end;
	struct buf b;
	size_t n, cut;
	char *h;

	(void)state;
	h = make_header(2 * DSN_HEADERS_MAX, 100, true, &n);
	cut = header_len_as_read(h, n);
	report_init(&r, &rc, 1);
	r.headers = h;
	r.headers_len = DSN_HEADERS_MAX + 1;
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	part = strstr(b.data, "Content-Type: text/rfc822-headers\r\n\r\n");
	assert_non_null(part);
	part += strlen("Content-Type: text/rfc822-headers\r\n\r\n");
	end = strstr(part, "\r\n--=_");
	assert_non_null(end);
	/* The first cut octets of the original, exactly. */
	assert_int_equal((size_t)(end - part), cut);
	assert_memory_equal(part, h, cut);
	buf_free(&b);
	free(h);
	/* Nothing fits: said so. */
	h = make_header(DSN_HEADERS_MAX + 100, DSN_HEADERS_MAX + 100, true, &n);
	r.headers = h;
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	assert_true(has_line(&b,
	    "(the original header is too large to return)"));
	buf_free(&b);
	free(h);
}

static void
test_long_header_line(void **state)
{
	struct dsn_rcpt rc = { "bob@example.test", "5.1.1", NULL, NULL, NULL };
	struct dsn_report r;
	struct buf b;
	char *h;
	size_t n = 5000;

	(void)state;
	h = malloc(n + 8);
	assert_non_null(h);
	memcpy(h, "X-Long: ", 8);
	memset(h + 8, 'y', n - 8);
	memcpy(h + n, "\r\n\r\n", 4);
	report_init(&r, &rc, 1);
	r.headers = h;
	r.headers_len = n + 4;
	assert_int_equal(dsn_compose(&r, &b), 0);
	check_invariants(&b);
	buf_free(&b);
	free(h);
}

/* Robustness: random hostile bytes everywhere, invariants always hold. */
static void
test_fuzz(void **state)
{
	static const char alphabet[] = "\r\n\t\x01\x7f\x80\xc3\xa9\xff-=_\\+ "
	    "aZ09.:;<>\"";
	char addr[3][300], reason[3][1200], diag[3][1200], hdr[4096];
	struct dsn_rcpt rc[3];
	struct dsn_report r;
	struct buf b;
	unsigned seed = 12345, iter, k;
	size_t i, len;

	(void)state;
	for (iter = 0; iter < 2000; iter++) {
		for (k = 0; k < 3; k++) {
			char *fields[3] = { addr[k], reason[k], diag[k] };
			size_t caps[3] = { sizeof(addr[k]), sizeof(reason[k]),
			    sizeof(diag[k]) };
			int f;

			for (f = 0; f < 3; f++) {
				seed = seed * 1103515245u + 12345u;
				len = (seed >> 8) % caps[f];
				for (i = 0; i < len; i++) {
					seed = seed * 1103515245u + 12345u;
					fields[f][i] = alphabet[(seed >> 16) %
					    (sizeof(alphabet) - 1)];
					if (fields[f][i] == '\0')
						fields[f][i] = 'x';
				}
				fields[f][len] = '\0';
			}
			rc[k].addr = addr[k];
			rc[k].status = k == 1 ? reason[k] : "5.2.2";
			rc[k].reason = reason[k];
			rc[k].remote_mta = k == 2 ? diag[k] : NULL;
			rc[k].diagnostic = diag[k];
		}
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 8) % sizeof(hdr);
		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			hdr[i] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
		}
		report_init(&r, rc, 1 + iter % 3);
		r.headers = hdr;
		r.headers_len = len;
		r.to = addr[0][0] != '\0' ? addr[0] : "x@example.test";
		r.delayed = iter % 2 == 1;
		r.retry_until = iter % 4 == 1 ? 0 : (int64_t)seed;
		assert_int_equal(dsn_compose(&r, &b), 0);
		check_invariants(&b);
		assert_int_equal(count(b.data, r.delayed ?
		    "\r\nAction: delayed\r\n" : "\r\nAction: failed\r\n"),
		    1 + iter % 3);
		assert_int_equal(count(b.data, "\r\nWill-Retry-Until: "),
		    iter % 4 == 3 ? 1 + iter % 3 : 0);
		buf_free(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_two_recipients_remote),
		cmocka_unit_test(test_delayed),
		cmocka_unit_test(test_failed_groups),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_utf8_address),
		cmocka_unit_test(test_8bit_reason_and_reply),
		cmocka_unit_test(test_xtext_forms),
		cmocka_unit_test(test_xtext_every_code_point),
		cmocka_unit_test(test_status_codes),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_header_len),
		cmocka_unit_test(test_headers_part_cut),
		cmocka_unit_test(test_long_header_line),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
