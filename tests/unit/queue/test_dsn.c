/*
 * The RFC 3464 report: its fields, one block per failed recipient, the
 * original header section, and its invariants (CRLF only, lines of at
 * most 998 octets, the boundary only where it belongs) under hostile
 * reasons, addresses and headers; the delay warning (Action: delayed)
 * read back group by group from its message/delivery-status part.
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
	assert_non_null(strstr(b.data, "Content-Transfer-Encoding: 8bit"));
	assert_int_equal(dsn_is_8bit(&r), 1);
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

static void
test_header_len(void **state)
{
	char *big;
	size_t n, i;

	(void)state;
	assert_int_equal(dsn_header_len(orig_headers, strlen(orig_headers)),
	    strlen("From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
	    "Subject: lunch?\r\n\r\n"));
	assert_int_equal(dsn_header_len("A: b\r\n", 6), 6);
	assert_int_equal(dsn_header_len("A: b", 4), 4);
	/* Over the limit: cut back to a whole line. */
	n = 2 * DSN_HEADERS_MAX;
	big = malloc(n);
	assert_non_null(big);
	for (i = 0; i < n; i++)
		big[i] = i % 100 == 98 ? '\r' : i % 100 == 99 ? '\n' : 'x';
	i = dsn_header_len(big, n);
	assert_true(i <= DSN_HEADERS_MAX && i > DSN_HEADERS_MAX - 100);
	assert_int_equal(big[i - 1], '\n');
	free(big);
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
		cmocka_unit_test(test_status_codes),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_header_len),
		cmocka_unit_test(test_long_header_line),
		cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
