/*
 * The hop count of a message (RFC 5321 6.3: "a simple hop count" of its
 * Received: header fields, the loop detection RFC 5321 asks every relay
 * for).  Pure: no I/O, fed the message as it streams past in pieces
 * split anywhere, so no caller ever holds the whole header section.
 *
 * What counts, and why:
 *  - only the header section: everything before the first empty line
 *    (RFC 5322 2.1); a "Received:" line in the body is text;
 *  - field names compare case-insensitively (RFC 5322 1.2.2), and the
 *    obsolete white space before the colon is accepted (RFC 5322 4.5);
 *  - a folded field (a line starting with SP or HTAB, RFC 5322 2.2.3)
 *    continues the field above and is not a new one, so a Received:
 *    folded over five lines is one hop.
 * Lines may end in CRLF (SMTP, the spool) or a bare LF (what sendmail
 * reads from a pipe); a CR is never a line end on its own.
 * The count saturates at UINT_MAX; memory use is constant.
 */
#ifndef DECORUM_SMTP_HOPS_H
#define DECORUM_SMTP_HOPS_H

#include <stdbool.h>
#include <stddef.h>

struct hops {
	int state;		/* private */
	unsigned matched;	/* private: octets of "received" matched */
	unsigned count;		/* Received: fields so far */
};

void hops_init(struct hops *h);

/* Feed the next len message octets (after dot-unstuffing). */
void hops_feed(struct hops *h, const char *in, size_t len);

/* True once the empty line that ends the header section was seen:
 * further feeds change nothing. */
bool hops_done(const struct hops *h);

#endif
