/*
 * The "helo.syntax" check (docs/policy.md, HELO/EHLO): the BCP's "the
 * HELO/EHLO argument must be a fully qualified domain name, or an
 * address literal", judged by RFC 5321 4.1.1.1, 4.1.2 and 4.1.3
 * (helo_syntax.h), plus the forged HELO: our own hostname or one of our
 * local domains from a client that is not us.
 *
 *   FQDN or address literal              accept
 *   anything else                        550 5.5.2 (syntax error)
 *   our name, client not among its A/AAAA
 *     nor the address it connected to    550 5.7.1 (no doubt about it:
 *                                        kept here, not in matches_ip,
 *                                        so relaxing that one for RFC
 *                                        5321 4.1.4 keeps this refusal)
 *   our name, its lookup failed          450 4.7.1
 *
 * The parser trusts nothing: the name is the client's, any bytes, any
 * length (the session bounds it at 255 octets; this does not rely on
 * it).  Pure: the facts in, the verdict out.
 */
#include "policy/helo_syntax.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "policy/check.h"

static bool
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static enum helo_form
bad(struct helo_parsed *out, const char *why)
{
	out->form = HELO_FORM_BAD;
	out->why = why;
	return HELO_FORM_BAD;
}

/* "[192.0.2.7]", "[IPv6:2001:db8::7]": inet_pton takes only the
 * strict forms (four decimal parts; RFC 4291 2.2 text). */
static enum helo_form
parse_literal(const char *name, size_t len, struct helo_parsed *out)
{
	char inner[64];
	const char *p = name + 1;
	size_t n = len - 2;

	if (name[len - 1] != ']')
		return bad(out, "an address literal without its closing bracket");
	if (n >= 5 && strncasecmp(p, "IPv6:", 5) == 0) {
		p += 5;
		n -= 5;
		out->family = AF_INET6;
	} else {
		out->family = AF_INET;
	}
	if (n == 0 || n >= sizeof(inner))
		return bad(out, "an address literal that is no address");
	memcpy(inner, p, n);
	inner[n] = '\0';
	if (inet_pton(out->family, inner, out->addr) != 1)
		return bad(out, out->family == AF_INET6 ?
		    "an IPv6 literal that is no IPv6 address" :
		    "an address literal that is no IPv4 address (or lacks IPv6:)");
	out->form = HELO_FORM_LITERAL;
	return HELO_FORM_LITERAL;
}

static enum helo_form
parse_name(const char *name, size_t len, struct helo_parsed *out)
{
	size_t labels = 0, start = 0;
	bool digits_only = true;

	if (len > HELO_NAME_MAX)
		return bad(out, "longer than 253 octets");
	if (name[len - 1] == '.')
		return bad(out, "a trailing dot (RFC 5321 4.1.2 has none)");
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (i < len && c != '.') {
			if (!is_alnum(c) && c != '-')
				return bad(out, "a character other than a letter, "
				    "a digit, '-' or '.'");
			if (c < '0' || c > '9')
				digits_only = false;
			continue;
		}
		/* A label ends at [start, i). */
		if (i == start)
			return bad(out, "an empty label");
		if (i - start > HELO_LABEL_MAX)
			return bad(out, "a label longer than 63 octets");
		if (!is_alnum((unsigned char)name[start]) ||
		    !is_alnum((unsigned char)name[i - 1]))
			return bad(out, "a label that starts or ends with '-'");
		labels++;
		if (i < len)
			digits_only = true;
		start = i + 1;
	}
	if (labels < 2)
		return bad(out, "not fully qualified (one label)");
	if (digits_only)
		return bad(out, "an all-numeric top-level label (a bare IP address?)");
	out->form = HELO_FORM_NAME;
	return HELO_FORM_NAME;
}

enum helo_form
helo_syntax_parse(const char *name, struct helo_parsed *out)
{
	size_t len = strlen(name);
	unsigned char a6[16];

	memset(out, 0, sizeof(*out));
	out->why = "";
	if (len == 0)
		return bad(out, "empty");
	if (name[0] == '[')
		return len < 2 ? bad(out, "an address literal without its "
		    "closing bracket") : parse_literal(name, len, out);
	if (len < 64 && strchr(name, ':') != NULL && inet_pton(AF_INET6, name, a6) == 1)
		return bad(out, "a bare IPv6 address (RFC 5321 4.1.3: [IPv6:...])");
	return parse_name(name, len, out);
}


/* Our hostname or a local domain, from a client that is not us.  "Us":
 * an address the name itself resolves to (our hostname's A/AAAA: this
 * host, or a sibling behind the same name), or the address the client
 * connected to (this host talking to itself). */
static bool
decide_ours(const struct policy_facts *f, struct verdict *v)
{
	if (f->helo_from_us)
		return true;
	if (!f->helo_dns_known)
		return false;
	if (f->helo_match == DNS_OK) {
		verdict_accept(v);
	} else if (f->helo_match == DNS_TEMPFAIL) {
		verdict_refuse(v, 450, "4.7.1", "<%s>: Helo command rejected: "
		    "cannot check our own name now, try again later", f->helo);
		verdict_evidence(v, "our own name %s; DNS temporary failure or "
		    "timeout for it", f->helo);
	} else {
		verdict_refuse(v, 550, "5.7.1", "<%s>: Helo command rejected: "
		    "that is our own name, and [%s] is not one of our addresses",
		    f->helo, f->ip);
		verdict_evidence(v, "our own name %s from %s, which is not among "
		    "its addresses nor the one it reached", f->helo, f->ip);
	}
	return true;
}

static bool
helo_syntax_decide(const struct policy_facts *f, const struct config *cfg,
    struct verdict *v)
{
	struct helo_parsed hp;

	(void)cfg;
	if (f->helo == NULL)
		return false;
	verdict_accept(v);
	if (helo_syntax_parse(f->helo, &hp) == HELO_FORM_BAD) {
		verdict_refuse(v, 550, "5.5.2", "<%s>: Helo command rejected: "
		    "need a fully-qualified hostname or an address literal",
		    f->helo);
		verdict_evidence(v, "%s: %s", f->helo, hp.why);
		return true;
	}
	if (hp.form == HELO_FORM_NAME && f->helo_ours)
		return decide_ours(f, v);
	return true;
}

const struct policy_check policy_check_helo_syntax = {
	.name = "helo.syntax",
	.id = POLICY_CHECK_HELO_SYNTAX,
	.decide = helo_syntax_decide,
	.helo = true,
	.dnswl_exempt = true,	/* a DNS heuristic (BCP) */
};
