/*
 * SMTP paths and MAIL/RCPT parameters: see address.h.  Pure, no I/O.
 *
 * Called by the session for MAIL and RCPT, and by config/CLI code for
 * bare addresses.  Trusts nothing: input is raw client bytes of known
 * length (not NUL-terminated, may hold NULs).  A recursive-descent parser
 * over RFC 5321 4.1.2, extended by RFC 6531 3.3 (UTF-8 in atext, qtext
 * and U-labels).  Output strings are NUL-terminated copies that always
 * fit: every length is checked against common/bounds.h before copying.
 *
 * Invariants: on success, path->addr is local "@" domain (or the local
 * part alone for <postmaster>), ASCII unless path->utf8, and any UTF-8 in
 * it is valid (no overlongs, no surrogates, nothing above U+10FFFF).
 * On error, *path is zeroed, so nothing half-parsed can be used.
 *
 * Limits (RFC 5321 4.5.3.1): domain 255, path 256 octets including "<"
 * ">" and any source route, so local@domain at most 254; labels 63
 * (RFC 1035 2.3.4).  The local part has no limit of its own beyond the
 * path's (SMTP_LOCAL_PART_WIRE_MAX): see address.h.
 */
#include "smtp/address.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"

#define LABEL_MAX 63

/* path->addr holds any address a path can carry. */
_Static_assert(SMTP_PATH_MAX - 2 <= SMTP_ADDRESS_MAX,
    "smtp_path.addr too small for a path");

struct cursor {
	const unsigned char *s;
	size_t len;
	size_t pos;
};

static int
peek(const struct cursor *c)
{
	return c->pos < c->len ? c->s[c->pos] : -1;
}

static bool
is_alpha(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool
is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* RFC 5322 3.2.3 atext (used by RFC 5321 Atom), plus UTF-8 octets. */
static bool
is_atext(int ch)
{
	if (ch < 0)
		return false;
	if (is_alpha(ch) || is_digit(ch) || ch >= 0x80)
		return true;
	return strchr("!#$%&'*+-/=?^_`{|}~", ch) != NULL && ch != '\0';
}

/* Well-formed UTF-8 only (common/utf8.h): overlongs and surrogates are
 * how filters that look for "@" or "." are bypassed, so they are
 * refused outright. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t i = 0, n;

	while (i < len) {
		if ((n = utf8_decode(s + i, len - i, &cp)) == 0)
			return false;
		i += n;
	}
	return true;
}

/*
 * sub-domain = Let-dig [Ldh-str]; with SMTPUTF8 a U-label, whose octets
 * >= 0x80 we accept as letters (IDNA validity is the resolver's problem).
 */
static enum smtp_addr_error
parse_label(struct cursor *c)
{
	size_t start = c->pos;
	int ch;

	while ((ch = peek(c)) >= 0 && (is_alpha(ch) || is_digit(ch) ||
	    ch == '-' || ch >= 0x80))
		c->pos++;
	if (c->pos == start || c->pos - start > LABEL_MAX)
		return SMTP_ADDR_SYNTAX;
	if (c->s[start] == '-' || c->s[c->pos - 1] == '-')
		return SMTP_ADDR_SYNTAX;
	return SMTP_ADDR_OK;
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]"; General-address-literal refused. */
static enum smtp_addr_error
parse_literal(struct cursor *c)
{
	char text[64];
	size_t start, n;
	unsigned char bin[16];
	int af = AF_INET;

	c->pos++;			/* "[" */
	start = c->pos;
	while (c->pos < c->len && c->s[c->pos] != ']')
		c->pos++;
	if (c->pos == c->len)
		return SMTP_ADDR_SYNTAX;
	n = c->pos - start;
	c->pos++;			/* "]" */
	if (n >= sizeof(text))
		return SMTP_ADDR_SYNTAX;
	memcpy(text, c->s + start, n);
	text[n] = '\0';
	if (memchr(text, '\0', n) != NULL)
		return SMTP_ADDR_SYNTAX;
	if (n > 5 && strncasecmp(text, "IPv6:", 5) == 0) {
		af = AF_INET6;
		memmove(text, text + 5, n - 4);	/* with the NUL */
	}
	/* inet_pton: dotted quad only for AF_INET, full RFC 4291 for 6. */
	if (inet_pton(af, text, bin) != 1)
		return SMTP_ADDR_SYNTAX;
	return SMTP_ADDR_OK;
}

/* Domain = sub-domain *("." sub-domain) / address-literal. */
static enum smtp_addr_error
parse_domain(struct cursor *c, bool literal_ok)
{
	enum smtp_addr_error e;

	if (peek(c) == '[')
		return literal_ok ? parse_literal(c) : SMTP_ADDR_SYNTAX;
	for (;;) {
		if ((e = parse_label(c)) != SMTP_ADDR_OK)
			return e;
		if (peek(c) != '.')
			return SMTP_ADDR_OK;
		c->pos++;
	}
}

/* Local-part = Dot-string / Quoted-string (RFC 5321 4.1.2). */
static enum smtp_addr_error
parse_local(struct cursor *c, bool *quoted)
{
	int ch;

	*quoted = false;
	if (peek(c) == '"') {
		*quoted = true;
		c->pos++;
		for (;;) {
			ch = peek(c);
			if (ch < 0)
				return SMTP_ADDR_SYNTAX;
			c->pos++;
			if (ch == '"')
				return SMTP_ADDR_OK;
			if (ch == '\\') {
				/* quoted-pairSMTP = "\" %d32-126 */
				ch = peek(c);
				if (ch < 32 || ch > 126)
					return SMTP_ADDR_SYNTAX;
				c->pos++;
			} else if (ch < 32 || ch == 127) {
				/* qtextSMTP: %d32-33 / %d35-91 / %d93-126 */
				return SMTP_ADDR_SYNTAX;
			}
		}
	}
	for (;;) {
		size_t start = c->pos;

		while (is_atext(peek(c)))
			c->pos++;
		if (c->pos == start)
			return SMTP_ADDR_SYNTAX;	/* empty atom: "a..b", ".a" */
		if (peek(c) != '.')
			return SMTP_ADDR_OK;
		c->pos++;
	}
}

static void
copy_span(char *dst, const struct cursor *c, size_t from, size_t to)
{
	memcpy(dst, c->s + from, to - from);
	dst[to - from] = '\0';
}

/*
 * Mailbox = Local-part "@" ( Domain / address-literal ), into path.
 * postmaster_ok: a lone "postmaster" is allowed (RFC 5321 4.1.1.3, RCPT
 * only).  Stops at the first byte that cannot continue the mailbox.
 */
static enum smtp_addr_error
parse_mailbox(struct cursor *c, bool postmaster_ok, struct smtp_path *path)
{
	size_t lstart = c->pos, lend, dstart;
	enum smtp_addr_error e;

	if ((e = parse_local(c, &path->quoted)) != SMTP_ADDR_OK)
		return e;
	lend = c->pos;
	if (lend - lstart > SMTP_LOCAL_PART_WIRE_MAX)
		return SMTP_ADDR_TOO_LONG;
	copy_span(path->local, c, lstart, lend);

	if (peek(c) != '@') {
		if (postmaster_ok && !path->quoted &&
		    strcasecmp(path->local, "postmaster") == 0) {
			path->postmaster = true;
			memcpy(path->addr, "postmaster", sizeof("postmaster"));
			return SMTP_ADDR_OK;
		}
		return SMTP_ADDR_SYNTAX;
	}
	c->pos++;
	dstart = c->pos;
	if ((e = parse_domain(c, true)) != SMTP_ADDR_OK)
		return e;
	if (c->pos - dstart > SMTP_DOMAIN_MAX ||
	    c->pos - lstart > SMTP_PATH_MAX - 2)
		return SMTP_ADDR_TOO_LONG;
	copy_span(path->domain, c, dstart, c->pos);
	/* Fits: local@domain is at most 254 octets, inside a path. */
	copy_span(path->addr, c, lstart, c->pos);
	return SMTP_ADDR_OK;
}

/*
 * UTF-8 policy for the octets [from, to): none, or valid UTF-8 with
 * utf8 allowed.  Sets path->utf8.
 */
static enum smtp_addr_error
check_utf8(const struct cursor *c, size_t from, size_t to, bool allowed,
    struct smtp_path *path)
{
	size_t i;

	for (i = from; i < to; i++)
		if (c->s[i] >= 0x80)
			break;
	if (i == to)
		return SMTP_ADDR_OK;
	path->utf8 = true;
	if (!allowed || !utf8_valid(c->s + from, to - from))
		return SMTP_ADDR_UTF8;
	return SMTP_ADDR_OK;
}

/*
 * Path = "<" [ A-d-l ":" ] Mailbox ">", or "<>" when null_ok.  The
 * source route (A-d-l) is checked for syntax and dropped (RFC 5321
 * 4.1.2 and appendix C: "SHOULD ignore the route").  The caller checks
 * UTF-8 over [start, c->pos) once the whole command is known.
 */
static enum smtp_addr_error
parse_path(struct cursor *c, bool postmaster_ok, struct smtp_path *path)
{
	size_t start = c->pos;
	enum smtp_addr_error e;

	if (peek(c) != '<')
		return SMTP_ADDR_SYNTAX;
	c->pos++;
	if (peek(c) == '>') {
		c->pos++;
		path->null = true;
		return SMTP_ADDR_OK;
	}
	if (peek(c) == '@') {
		for (;;) {
			c->pos++;	/* "@" */
			if ((e = parse_domain(c, true)) != SMTP_ADDR_OK)
				return e;
			if (peek(c) != ',')
				break;
			c->pos++;
			if (peek(c) != '@')
				return SMTP_ADDR_SYNTAX;
		}
		if (peek(c) != ':')
			return SMTP_ADDR_SYNTAX;
		c->pos++;
	}
	e = parse_mailbox(c, postmaster_ok, path);
	if (e == SMTP_ADDR_OK && peek(c) != '>')
		e = SMTP_ADDR_SYNTAX;
	/* A too-long path is reported as such even when its syntax broke
	 * first because a fixed buffer would have been exceeded. */
	if (e == SMTP_ADDR_OK)
		c->pos++;
	if (c->pos - start > SMTP_PATH_MAX)
		return SMTP_ADDR_TOO_LONG;
	return e;
}

/* Compare a parameter keyword [k, k+klen) with name, case-insensitively. */
static bool
keyword_is(const char *k, size_t klen, const char *name)
{
	return klen == strlen(name) && strncasecmp(k, name, klen) == 0;
}

/* esmtp-value = 1*(%d33-60 / %d62-126); we keep it ASCII. */
static bool
parse_size_value(const char *v, size_t vlen, uint64_t *out)
{
	uint64_t n = 0;
	size_t i;

	if (vlen == 0 || vlen > 20)
		return false;
	for (i = 0; i < vlen; i++) {
		unsigned d;

		if (!is_digit((unsigned char)v[i]))
			return false;
		d = (unsigned)(v[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	return true;
}

/*
 * Mail-parameters = esmtp-param *(SP esmtp-param) (RFC 5321 4.1.2).
 * Only the extensions we advertise are accepted, each at most once
 * (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8).  BODY=BINARYMIME
 * needs CHUNKING (RFC 3030), which we do not offer.
 */
static enum smtp_addr_error
parse_mail_params(struct cursor *c, bool utf8_ok,
    struct smtp_mail_params *params)
{
	bool seen_body = false;

	while (c->pos < c->len) {
		const char *k, *v = NULL;
		size_t start, klen, vlen = 0;

		if (peek(c) != ' ')
			return SMTP_ADDR_PARAM;
		while (peek(c) == ' ')
			c->pos++;
		if (c->pos == c->len)
			break;		/* trailing spaces */
		start = c->pos;
		while (c->pos < c->len && c->s[c->pos] != ' ')
			c->pos++;
		k = (const char *)c->s + start;
		klen = c->pos - start;
		{
			const char *eq = memchr(k, '=', klen);

			if (eq != NULL) {
				v = eq + 1;
				vlen = klen - (size_t)(v - k);
				klen = (size_t)(eq - k);
			}
		}
		if (keyword_is(k, klen, "SIZE")) {
			if (params->has_size || v == NULL ||
			    !parse_size_value(v, vlen, &params->size))
				return SMTP_ADDR_PARAM;
			params->has_size = true;
		} else if (keyword_is(k, klen, "BODY")) {
			if (seen_body || v == NULL)
				return SMTP_ADDR_PARAM;
			if (keyword_is(v, vlen, "7BIT"))
				params->body = SMTP_BODY_7BIT;
			else if (keyword_is(v, vlen, "8BITMIME"))
				params->body = SMTP_BODY_8BITMIME;
			else
				return SMTP_ADDR_PARAM;
			seen_body = true;
		} else if (keyword_is(k, klen, "SMTPUTF8")) {
			/* RFC 6531 3.4: no value; only when advertised. */
			if (!utf8_ok || params->smtputf8 || v != NULL)
				return SMTP_ADDR_PARAM;
			params->smtputf8 = true;
		} else {
			return SMTP_ADDR_PARAM;
		}
	}
	return SMTP_ADDR_OK;
}

static enum smtp_addr_error
fail(struct smtp_path *path, enum smtp_addr_error e)
{
	memset(path, 0, sizeof(*path));
	return e;
}

enum smtp_addr_error
smtp_parse_mail_from(const char *arg, size_t len, bool utf8_ok,
    struct smtp_path *path, struct smtp_mail_params *params)
{
	struct cursor c = { (const unsigned char *)arg, len, 0 };
	enum smtp_addr_error e;
	size_t pend;

	memset(path, 0, sizeof(*path));
	memset(params, 0, sizeof(*params));
	/* RFC 5321 4.1.1.2: the reverse-path has no <postmaster> form. */
	if ((e = parse_path(&c, false, path)) != SMTP_ADDR_OK)
		return fail(path, e);
	pend = c.pos;
	if (pend < len && arg[pend] != ' ')
		return fail(path, SMTP_ADDR_SYNTAX);	/* "<a@b>junk" */
	if ((e = parse_mail_params(&c, utf8_ok, params)) != SMTP_ADDR_OK) {
		memset(params, 0, sizeof(*params));
		return fail(path, e);
	}
	/* RFC 6531 3.4: UTF-8 in the path needs the SMTPUTF8 parameter. */
	if ((e = check_utf8(&c, 0, pend, params->smtputf8, path)) != SMTP_ADDR_OK) {
		memset(params, 0, sizeof(*params));
		return fail(path, e);
	}
	return SMTP_ADDR_OK;
}

enum smtp_addr_error
smtp_parse_rcpt_to(const char *arg, size_t len, bool utf8,
    struct smtp_path *path)
{
	struct cursor c = { (const unsigned char *)arg, len, 0 };
	enum smtp_addr_error e;
	size_t pend;

	memset(path, 0, sizeof(*path));
	if ((e = parse_path(&c, true, path)) != SMTP_ADDR_OK)
		return fail(path, e);
	if (path->null)
		return fail(path, SMTP_ADDR_NULL_RCPT);
	pend = c.pos;
	while (peek(&c) == ' ')
		c.pos++;
	if (c.pos < c.len)
		return fail(path, pend == c.pos ? SMTP_ADDR_SYNTAX : SMTP_ADDR_PARAM);
	if ((e = check_utf8(&c, 0, pend, utf8, path)) != SMTP_ADDR_OK)
		return fail(path, e);
	return SMTP_ADDR_OK;
}

enum smtp_addr_error
smtp_parse_address(const char *s, size_t len, bool utf8,
    struct smtp_path *path)
{
	struct cursor c = { (const unsigned char *)s, len, 0 };
	enum smtp_addr_error e;

	memset(path, 0, sizeof(*path));
	/* The same bound as a path, less its "<" ">". */
	if (len > SMTP_PATH_MAX - 2)
		return fail(path, SMTP_ADDR_TOO_LONG);
	if ((e = parse_mailbox(&c, true, path)) != SMTP_ADDR_OK)
		return fail(path, e);
	if (c.pos != c.len)
		return fail(path, SMTP_ADDR_SYNTAX);
	if ((e = check_utf8(&c, 0, len, utf8, path)) != SMTP_ADDR_OK)
		return fail(path, e);
	return SMTP_ADDR_OK;
}

bool
smtp_valid_helo(const char *s, size_t len)
{
	struct cursor c = { (const unsigned char *)s, len, 0 };
	size_t i;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	/* RFC 6531 3.7.1 keeps EHLO in ASCII (A-labels). */
	for (i = 0; i < len; i++)
		if (c.s[i] >= 0x80)
			return false;
	return parse_domain(&c, true) == SMTP_ADDR_OK && c.pos == len;
}
