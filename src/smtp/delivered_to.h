/*
 * The Delivered-To: header fields of a message (the trace a mailbox
 * delivery or a forward leaves, as Postfix and qmail do): the queue
 * manager refuses to deliver or forward again to an address already
 * named there, the loop a hop count would catch only after max_hops.
 * Pure: no I/O, fed the message as it streams past in pieces split
 * anywhere, like smtp/hops.h and with the same reading of the header
 * section (before the first empty line; field names in any case, with
 * the obsolete white space before the colon; folded lines continue a
 * field; CRLF or bare LF line ends, a lone CR is no line end).
 *
 * A value is the field body unfolded (the line breaks of folding
 * removed), without the white space around it and without one pair of
 * angle brackets around the whole.  Bounded: at most DELIVERED_TO_MAX
 * values of at most DELIVERED_TO_VALUE_MAX octets are kept; a longer
 * value cannot be an address (RFC 5321 4.5.3.1.3: 254 octets at most)
 * and is dropped, as is one holding a NUL (no address does, and a C
 * string would cut it); values past the count are counted, not kept (a loop
 * that long is stopped by the hop count anyway).
 */
#ifndef DECORUM_SMTP_DELIVERED_TO_H
#define DECORUM_SMTP_DELIVERED_TO_H

#include <stdbool.h>
#include <stddef.h>

#define DELIVERED_TO_MAX	64
#define DELIVERED_TO_VALUE_MAX	256

struct delivered_to {
	int state;			/* private */
	unsigned matched;		/* private: octets of the name matched */
	size_t len;			/* private: octets of cur */
	bool bad;			/* private: cur overflowed or held a NUL */
	bool cr;			/* private: a CR not yet known to end a line */
	char cur[DELIVERED_TO_VALUE_MAX + 1];	/* private */
	char values[DELIVERED_TO_MAX][DELIVERED_TO_VALUE_MAX + 1];
	unsigned n;			/* values kept */
	unsigned dropped;		/* values too long or past the count */
};

void delivered_to_init(struct delivered_to *d);

/* Feed the next len message octets (after dot-unstuffing). */
void delivered_to_feed(struct delivered_to *d, const char *in, size_t len);

/* The input is over: a field still open (a header section with no empty
 * line after it) is complete. */
void delivered_to_end(struct delivered_to *d);

/* True once the empty line that ends the header section was seen. */
bool delivered_to_done(const struct delivered_to *d);

#endif
