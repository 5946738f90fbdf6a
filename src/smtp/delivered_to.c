/*
 * Collecting Delivered-To: field values: see delivered_to.h for the
 * contract.  Pure, no I/O.
 *
 * Called by the queue manager's load (queue/qmgr_run.c) with the queued
 * message's data, by the unit tests and a fuzz harness.  Trusts nothing
 * in the input: every value is bounded, every count too.
 *
 * The byte-level state machine of smtp/hops.c, with one more job: after
 * a matching name it keeps the field body, across folded lines, until a
 * line that does not start with white space ends the field.  White space
 * before a value is never stored and white space after it only when more
 * of the value follows, so padding cannot push an address past the
 * length limit and out of sight.
 */
#include "smtp/delivered_to.h"

#include <string.h>

enum {
	DS_BOL = 0,	/* at the start of a header line, no field open */
	DS_BOL_CR,	/* a CR at the start of a line: "\r\n" ends the headers */
	DS_NAME,	/* matching "delivered-to" at the start of a field */
	DS_NAME_WSP,	/* the name then white space (RFC 5322 4.5) */
	DS_VALUE,	/* in the body of a Delivered-To: field */
	DS_VALUE_EOL,	/* its line ended: a fold goes on, else it is over */
	DS_SKIP,	/* the rest of a line that does not count */
	DS_DONE,	/* the empty line was seen: the body follows */
};

static const char name[] = "delivered-to";
#define NAME_LEN	(sizeof(name) - 1)

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

void
delivered_to_init(struct delivered_to *d)
{
	d->state = DS_BOL;
	d->matched = 0;
	d->len = 0;
	d->bad = false;
	d->cr = false;
	d->n = 0;
	d->dropped = 0;
}

bool
delivered_to_done(const struct delivered_to *d)
{
	return d->state == DS_DONE;
}

static void
value_start(struct delivered_to *d)
{
	d->len = 0;
	d->bad = false;
	d->cr = false;
}

/* One octet of a field body.  cur holds white space only between
 * octets of the value; once full, any more of the value is too much. */
static void
value_add(struct delivered_to *d, unsigned char c)
{
	if (is_wsp(c) && d->len == 0)
		return;
	if (c == '\0')
		d->bad = true;
	else if (d->len < DELIVERED_TO_VALUE_MAX)
		d->cur[d->len++] = (char)c;
	else if (!is_wsp(c))
		d->bad = true;
}

/* The field is over: keep its value, trimmed, if there is room. */
static void
value_end(struct delivered_to *d)
{
	const char *v = d->cur;
	size_t len;

	if (d->cr)
		value_add(d, '\r');	/* a lone CR is text */
	len = d->len;
	while (len > 0 && is_wsp((unsigned char)v[len - 1]))
		len--;
	if (len >= 2 && v[0] == '<' && v[len - 1] == '>') {
		v++;
		len -= 2;
		/* "< a@b >": the white space inside goes too. */
		while (len > 0 && is_wsp((unsigned char)v[0])) {
			v++;
			len--;
		}
		while (len > 0 && is_wsp((unsigned char)v[len - 1]))
			len--;
	}
	if (d->bad) {
		d->dropped++;
	} else if (len > 0) {		/* an empty value names nothing */
		if (d->n < DELIVERED_TO_MAX) {
			memcpy(d->values[d->n], v, len);
			d->values[d->n][len] = '\0';
			d->n++;
		} else {
			d->dropped++;
		}
	}
	value_start(d);
}

/* One octet of a field body: a CR is held until the next octet says
 * whether it ends the line. */
static int
value_step(struct delivered_to *d, unsigned char c)
{
	if (c == '\n') {
		d->cr = false;
		return DS_VALUE_EOL;
	}
	if (d->cr)
		value_add(d, '\r');
	d->cr = c == '\r';
	if (!d->cr)
		value_add(d, c);
	return DS_VALUE;
}

/* One octet at the start of a line, of a field name, or of a body. */
static int
step(struct delivered_to *d, unsigned char c)
{
	switch (d->state) {
	case DS_BOL:
		if (c == '\n')
			return DS_DONE;
		if (c == '\r')
			return DS_BOL_CR;
		/* RFC 5322 2.2.3: a folded field goes on; it is no new field. */
		if (is_wsp(c))
			return DS_SKIP;
		d->matched = 0;
		d->state = DS_NAME;
		return step(d, c);
	case DS_BOL_CR:
		return c == '\n' ? DS_DONE : DS_SKIP;
	case DS_NAME:
		if (d->matched == NAME_LEN) {
			if (c == ':') {
				value_start(d);
				return DS_VALUE;
			}
			return is_wsp(c) ? DS_NAME_WSP :
			    c == '\n' ? DS_BOL : DS_SKIP;
		}
		if ((c | 0x20) == (unsigned char)name[d->matched]) {
			d->matched++;
			return DS_NAME;
		}
		return c == '\n' ? DS_BOL : DS_SKIP;
	case DS_NAME_WSP:
		if (c == ':') {
			value_start(d);
			return DS_VALUE;
		}
		return is_wsp(c) ? DS_NAME_WSP : c == '\n' ? DS_BOL : DS_SKIP;
	case DS_VALUE:
		return value_step(d, c);
	case DS_VALUE_EOL:
		if (is_wsp(c)) {
			value_add(d, c);
			return DS_VALUE;
		}
		value_end(d);
		d->state = DS_BOL;
		return step(d, c);
	default:
		return d->state;
	}
}

void
delivered_to_feed(struct delivered_to *d, const char *in, size_t len)
{
	const char *p = in, *end = in + len;

	while (p < end && d->state != DS_DONE) {
		if (d->state == DS_SKIP) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			if (nl == NULL)
				return;
			p = nl + 1;
			d->state = DS_BOL;
			continue;
		}
		d->state = step(d, (unsigned char)*p++);
	}
}

void
delivered_to_end(struct delivered_to *d)
{
	if (d->state == DS_VALUE || d->state == DS_VALUE_EOL)
		value_end(d);
	d->state = DS_DONE;
}
