/*
 * Delivery status notifications: the RFC 3464 report sent to the
 * envelope sender of accepted mail that could not be delivered (a
 * bounce, Action: failed) or has not been yet (a delay warning, Action:
 * delayed).
 * Pure code, no I/O: the queue manager gathers the facts (bounce.c), this
 * turns them into a message.  Every input is untrusted text (reply texts
 * of remote servers, addresses, the original header section) and is
 * cleaned so it can never start a header, a MIME part or a new line.
 */
#ifndef DECORUM_QUEUE_DSN_H
#define DECORUM_QUEUE_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Most of the original header section returned (RFC 3462 text/rfc822-headers). */
#define DSN_HEADERS_MAX		(64u * 1024)
/* Longest human reason or diagnostic kept (the line stays under 998). */
#define DSN_TEXT_MAX		800
/* Hard limit on a line of the report, CRLF not counted (RFC 5322 2.1.1). */
#define DSN_LINE_MAX		998

/* One failed (or, in a delay warning, delayed) recipient. */
struct dsn_rcpt {
	const char *addr;		/* as in the envelope */
	const char *status;		/* enhanced status "5.x.y" (RFC 3463),
					 * "4.x.y" in a delay warning */
	const char *reason;		/* human text, or NULL */
	const char *remote_mta;		/* host name of the peer, or NULL */
	const char *diagnostic;		/* its SMTP reply "550 ...", or NULL */
};

struct dsn_report {
	const char *hostname;		/* our FQDN: From, Reporting-MTA */
	const char *to;			/* who gets the report */
	const char *orig_sender;	/* "" for <> */
	const char *queue_id;		/* of the failed message */
	const char *unique;		/* makes Message-ID and boundary unique */
	int64_t arrival;		/* when the failed message was accepted */
	int64_t now;			/* Date: of the report */
	const struct dsn_rcpt *rcpts;
	size_t n_rcpts;
	const char *headers;		/* start of the original message (its
					 * header section is returned), NULL
					 * when unreadable; see dsn_header_len */
	size_t headers_len;
	bool delayed;			/* a delay warning, not a bounce */
	int64_t retry_until;		/* delayed: when the queue gives up
					 * (0: not said) */
};

/*
 * Composes the whole report (header and body, CRLF line ends, every line
 * at most DSN_LINE_MAX octets) into out, which this initialises (free it
 * with buf_free).  0, or -1 when an argument is missing or the report
 * would be absurdly large (out is then empty).
 */
int dsn_compose(const struct dsn_report *r, struct buf *out);

/*
 * Length of the header section to return from the start of a message:
 * msg holds its first len octets.  Through the empty line that ends the
 * header when that is within DSN_HEADERS_MAX octets; all of msg when len
 * is at most DSN_HEADERS_MAX and has no empty line (the message is all
 * header).  Otherwise the header is longer than DSN_HEADERS_MAX: it is
 * cut between two header fields, never inside one (a field folded over
 * several lines goes whole or not at all), and 0 when the first field
 * alone is longer.  To tell "the message ended" from "there is more",
 * the caller passes one octet more than DSN_HEADERS_MAX when it has it.
 */
size_t dsn_header_len(const char *msg, size_t len);

/* Whether a composed report has any 8-bit octet (remote replies, failure
 * reasons, addresses and the returned header section may be UTF-8): its
 * envelope must then say BODY=8BITMIME (RFC 6152). */
bool dsn_needs_8bitmime(const struct buf *report);

/* Whether the report's recipient, and so its To: field, is not ASCII:
 * its envelope must then say SMTPUTF8 (RFC 6531). */
bool dsn_needs_smtputf8(const struct dsn_report *r);

/*
 * Appends addr as RFC 6533 utf-8-addr-xtext: QCHARs as they are, every
 * other character (non-ASCII, space, '\\', '+', '=', controls) as
 * \x{HEXPOINT} in one of the forms section 3 allows; bytes that are not
 * UTF-8, and the controls HEXPOINT has no form for, as \x{FFFD}.  The
 * result is printable ASCII.  -1 when out is full.
 */
int dsn_utf8_addr_xtext(struct buf *out, const char *addr);

#endif
