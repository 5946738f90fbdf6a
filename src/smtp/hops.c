/*
 * Counting Received: header fields: see hops.h for the contract.  Pure,
 * no I/O.
 *
 * Called by the DATA path of smtpd (transaction.c) with the DATA reader's
 * output as it is produced, by sendmail (cli/sendmail_msg.c) with the
 * message it read, and by the fuzz harness of the DATA reader.  Trusts
 * nothing in the input.
 *
 * A byte-level state machine that looks only at the start of each line:
 * at most the eight octets of "received" and the white space and colon
 * after them.  The rest of a line is skipped with memchr, and once the
 * header section ends nothing is looked at any more, so the cost for a
 * message of any size is one pass over its header section.
 */
#include "smtp/hops.h"

#include <limits.h>
#include <string.h>

enum {
	HS_BOL = 0,	/* at the start of a header line */
	HS_BOL_CR,	/* a CR at the start of a line: "\r\n" ends the headers */
	HS_NAME,	/* matching "received" at the start of a field */
	HS_NAME_WSP,	/* "received" then white space: obs-optional (RFC 5322 4.5) */
	HS_SKIP,	/* the rest of a line that does not count */
	HS_DONE,	/* the empty line was seen: the body follows */
};

static const char name[] = "received";
#define NAME_LEN	(sizeof(name) - 1)

static void
count_one(struct hops *h)
{
	if (h->count < UINT_MAX)
		h->count++;
}

void
hops_init(struct hops *h)
{
	h->state = HS_BOL;
	h->matched = 0;
	h->count = 0;
}

bool
hops_done(const struct hops *h)
{
	return h->state == HS_DONE;
}

/* One octet at the start of a line, or of a field name. */
static int
step(struct hops *h, unsigned char c)
{
	switch (h->state) {
	case HS_BOL:
		if (c == '\n')
			return HS_DONE;
		if (c == '\r')
			return HS_BOL_CR;
		/* RFC 5322 2.2.3: a folded field goes on; it is no new field. */
		if (c == ' ' || c == '\t')
			return HS_SKIP;
		h->matched = 0;
		h->state = HS_NAME;
		return step(h, c);
	case HS_BOL_CR:
		return c == '\n' ? HS_DONE : HS_SKIP;
	case HS_NAME:
		if (h->matched == NAME_LEN) {
			if (c == ':') {
				count_one(h);
				return HS_SKIP;
			}
			return c == ' ' || c == '\t' ? HS_NAME_WSP :
			    c == '\n' ? HS_BOL : HS_SKIP;
		}
		if ((c | 0x20) == (unsigned char)name[h->matched]) {
			h->matched++;
			return HS_NAME;
		}
		return c == '\n' ? HS_BOL : HS_SKIP;
	case HS_NAME_WSP:
		if (c == ':') {
			count_one(h);
			return HS_SKIP;
		}
		return c == ' ' || c == '\t' ? HS_NAME_WSP :
		    c == '\n' ? HS_BOL : HS_SKIP;
	default:
		return h->state;
	}
}

void
hops_feed(struct hops *h, const char *in, size_t len)
{
	const char *p = in, *end = in + len;

	while (p < end && h->state != HS_DONE) {
		if (h->state == HS_SKIP) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			if (nl == NULL)
				return;
			p = nl + 1;
			h->state = HS_BOL;
			continue;
		}
		h->state = step(h, (unsigned char)*p++);
	}
}
