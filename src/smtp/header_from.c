/*
 * The addresses of a message's From: field (RFC 5322 3.6.2): see
 * header_from.h.  Pure: no I/O.
 *
 * Called by the submission session at the end of DATA when
 * submission.check_from_header is on; each address it returns must then
 * be owned by the logged-in user (route/senders.h).  Trusts nothing: the
 * message is the client's.  A field we cannot read for sure is an error
 * (-1), never "no addresses", because the check must not be bypassed by
 * a From: we misparse.
 *
 * Header section: lines ending in LF (a CR before it is dropped) up to
 * the first empty line or the end of the input; a line starting with SP
 * or HTAB continues the field above (RFC 5322 2.2.3, unfolding).  Lines
 * that are not "name:" fields (an mbox "From " line) are skipped.
 * Mailbox list (RFC 5322 3.4): name-addr ("phrase <addr-spec>", with an
 * obsolete route "<@a,@b:x@y>" dropped) or addr-spec, separated by commas;
 * comments (nested, quoted-pairs) and white space anywhere between tokens;
 * empty list elements (obs-mbox-list) skipped; groups refused.  Each
 * address comes out without comments or white space, a quoted local part
 * kept in its quotes (no control octets in it), a domain literal only
 * with the characters of RFC 5321 address literals, at most
 * SMTP_ADDRESS_MAX octets.  UTF-8 is atext (RFC 6532 3.2).  No
 * recursion: the input cannot grow the stack.
 */
#include "smtp/header_from.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"

struct cursor {
	const char *p;
	const char *end;
};

/* An address being built, bounded by the caller's array. */
struct out {
	char *s;
	size_t len;
	size_t cap;		/* SMTP_ADDRESS_MAX + 1 */
	bool overflow;
};

static void
out_add(struct out *o, const char *s, size_t n)
{
	if (o->len + n >= o->cap) {
		o->overflow = true;
		return;
	}
	memcpy(o->s + o->len, s, n);
	o->len += n;
	o->s[o->len] = '\0';
}

/* RFC 5322 3.2.3 atext, plus UTF-8 octets (RFC 6532). */
static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c >= 0x80)
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip white space and comments (RFC 5322 3.2.2).  False on an
 * unterminated comment. */
static bool
skip_cfws(struct cursor *c)
{
	while (c->p < c->end) {
		if (is_wsp(*c->p)) {
			c->p++;
		} else if (*c->p == '(') {
			size_t depth = 0;

			do {
				if (*c->p == '\\') {
					if (++c->p == c->end)
						return false;
				} else if (*c->p == '(') {
					depth++;
				} else if (*c->p == ')') {
					depth--;
				}
				c->p++;
			} while (depth > 0 && c->p < c->end);
			if (depth > 0)
				return false;
		} else {
			break;
		}
	}
	return true;
}

/* A quoted-string at c->p (which is '"'), copied with its quotes and
 * quoted-pairs when o is not NULL.  False when unterminated. */
static bool
quoted_string(struct cursor *c, struct out *o)
{
	const char *start = c->p++;

	while (c->p < c->end && *c->p != '"') {
		if (*c->p == '\\' && ++c->p == c->end)
			return false;
		/* qtext and quoted-pair are printable (or WSP); a control
		 * octet here is an attack on whoever reads it next. */
		if (((unsigned char)*c->p < ' ' && *c->p != '\t') ||
		    *c->p == 0x7f)
			return false;
		c->p++;
	}
	if (c->p == c->end)
		return false;
	c->p++;
	if (o != NULL)
		out_add(o, start, (size_t)(c->p - start));
	return true;
}

/* A run of atext.  False when there is none. */
static bool
atom(struct cursor *c, struct out *o)
{
	const char *start = c->p;

	while (c->p < c->end && is_atext((unsigned char)*c->p))
		c->p++;
	if (c->p == start)
		return false;
	if (o != NULL)
		out_add(o, start, (size_t)(c->p - start));
	return true;
}

/* word = atom / quoted-string, with CFWS around it. */
static bool
word(struct cursor *c, struct out *o)
{
	bool ok;

	if (!skip_cfws(c) || c->p == c->end)
		return false;
	ok = *c->p == '"' ? quoted_string(c, o) : atom(c, o);
	return ok && skip_cfws(c);
}

/*
 * addr-spec = local-part "@" domain (RFC 5322 3.4.1), with the obsolete
 * CFWS around dots.  Domain: dot-atom or a domain-literal "[...]".
 */
static bool
addr_spec(struct cursor *c, struct out *o)
{
	if (!word(c, o))
		return false;
	while (c->p < c->end && *c->p == '.') {
		c->p++;
		out_add(o, ".", 1);
		if (!word(c, o))
			return false;
	}
	if (c->p == c->end || *c->p != '@')
		return false;
	c->p++;
	out_add(o, "@", 1);
	if (!skip_cfws(c) || c->p == c->end)
		return false;
	if (*c->p == '[') {
		const char *start = c->p++;

		/* Only what RFC 5321 4.1.3 address literals hold: IPv4,
		 * "IPv6:..." and standardized tags.  RFC 5322 dtext allows
		 * more, but no real From: needs it. */
		while (c->p < c->end && *c->p != ']') {
			unsigned char ch = (unsigned char)*c->p;

			if (!((ch >= '0' && ch <= '9') ||
			    (ch >= 'a' && ch <= 'z') ||
			    (ch >= 'A' && ch <= 'Z') ||
			    ch == '.' || ch == ':' || ch == '-'))
				return false;
			c->p++;
		}
		if (c->p == c->end)
			return false;
		c->p++;
		out_add(o, start, (size_t)(c->p - start));
		return skip_cfws(c);
	}
	if (!skip_cfws(c) || !atom(c, o) || !skip_cfws(c))
		return false;
	while (c->p < c->end && *c->p == '.') {
		c->p++;
		out_add(o, ".", 1);
		if (!skip_cfws(c) || !atom(c, o) || !skip_cfws(c))
			return false;
	}
	return true;
}

/* "<" [obs-route] addr-spec ">" at c->p. */
static bool
angle_addr(struct cursor *c, struct out *o)
{
	c->p++;		/* '<' */
	if (!skip_cfws(c))
		return false;
	if (c->p < c->end && *c->p == '@') {
		/* RFC 5322 4.4 obs-route: "@a,@b:" is dropped, as RFC 5321
		 * drops source routes. */
		const char *colon = memchr(c->p, ':', (size_t)(c->end - c->p));
		const char *close = memchr(c->p, '>', (size_t)(c->end - c->p));

		if (colon == NULL || (close != NULL && close < colon))
			return false;
		c->p = colon + 1;
	}
	if (!addr_spec(c, o) || c->p == c->end || *c->p != '>')
		return false;
	c->p++;
	return skip_cfws(c);
}

/*
 * One mailbox.  First try a display name (phrase) followed by "<": a
 * phrase is words and (obs-phrase) dots.  Anything else is read again
 * from the start as a bare addr-spec.
 */
static bool
mailbox(struct cursor *c, struct out *o)
{
	struct cursor save = *c;

	for (;;) {
		if (!skip_cfws(c) || c->p == c->end)
			break;
		if (*c->p == '<')
			return angle_addr(c, o);
		if (*c->p == '.') {
			c->p++;
			continue;
		}
		if (*c->p != '"' && !is_atext((unsigned char)*c->p))
			break;
		if (!word(c, NULL))
			return false;
	}
	*c = save;
	return addr_spec(c, o);
}

/* The mailbox-list of one From: value.  Returns the count or -1. */
static int
mailbox_list(const char *v, size_t len, char (*addrs)[SMTP_ADDRESS_MAX + 1],
    size_t max)
{
	struct cursor c = { v, v + len };
	size_t n = 0;

	for (;;) {
		struct out o;

		if (!skip_cfws(&c))
			return -1;
		if (c.p == c.end)
			break;
		if (*c.p == ',') {	/* obs-mbox-list: empty element */
			c.p++;
			continue;
		}
		if (n == max)
			return -1;
		o = (struct out){ addrs[n], 0, SMTP_ADDRESS_MAX + 1, false };
		addrs[n][0] = '\0';
		if (!mailbox(&c, &o) || o.overflow)
			return -1;
		n++;
		if (c.p < c.end) {
			if (*c.p != ',')
				return -1;	/* ":" of a group, junk */
			c.p++;
		}
	}
	return n == 0 ? -1 : (int)n;
}

/* Is the line a "From:" field?  *value is what follows the colon.
 * RFC 5322 4.5.3 (obs-optional) allows white space before the colon. */
static bool
is_from_field(const char *line, size_t len, size_t *value)
{
	size_t i = 4;

	if (len < 5 || strncasecmp(line, "From", 4) != 0)
		return false;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len || line[i] != ':')
		return false;
	*value = i + 1;
	return true;
}

int
header_from_addresses(const char *msg, size_t len,
    char (*addrs)[SMTP_ADDRESS_MAX + 1], size_t max)
{
	struct buf value;
	size_t pos = 0, fields = 0, v;
	bool in_from = false;
	int rc = 0;

	buf_init(&value, len + 1);
	while (pos < len) {
		const char *line = msg + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t llen = nl != NULL ? (size_t)(nl - line) : len - pos;

		pos += llen + (nl != NULL);
		if (llen > 0 && line[llen - 1] == '\r')
			llen--;
		if (llen == 0)
			break;		/* end of the header section */
		if (line[0] == ' ' || line[0] == '\t') {
			if (in_from && buf_append(&value, line, llen) < 0)
				rc = -1;
			continue;
		}
		in_from = is_from_field(line, llen, &v);
		if (!in_from)
			continue;
		if (++fields > 1)
			rc = -1;	/* RFC 5322 3.6: exactly one From: */
		else if (buf_append(&value, line + v, llen - v) < 0)
			rc = -1;
	}
	if (rc == 0 && fields == 1) {
		if (memchr(value.data, '\0', value.len) != NULL)
			rc = -1;
		else
			rc = mailbox_list(value.data, value.len, addrs, max);
	}
	buf_free(&value);
	return rc;
}
