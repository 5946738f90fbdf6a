/*
 * The form of a HELO/EHLO argument, for the "helo.syntax" check and the
 * two that look the name up (helo.resolves, helo.matches_ip).  Pure, for
 * unit tests and the fuzzer (tests/fuzz/fuzz_helo_syntax.c): the name
 * is the client's own text.
 */
#ifndef DECORUM_POLICY_HELO_SYNTAX_H
#define DECORUM_POLICY_HELO_SYNTAX_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 1035 2.3.4: a name is at most 255 octets on the wire, which is 253
 * in text without a root dot; a label at most 63. */
#define HELO_NAME_MAX	253
#define HELO_LABEL_MAX	63

enum helo_form {
	HELO_FORM_BAD,		/* neither: why says what is wrong */
	HELO_FORM_NAME,		/* a fully qualified domain name */
	HELO_FORM_LITERAL,	/* [IPv4] or [IPv6:...]: family and addr */
};

struct helo_parsed {
	enum helo_form form;
	int family;		/* AF_INET or AF_INET6 for a literal */
	unsigned char addr[16];	/* network order, 4 or 16 octets used */
	const char *why;	/* a constant sentence, for the evidence */
};

/*
 * Judge name (NUL-terminated, any length) by RFC 5321 4.1.1.1 and
 * 4.1.2, and the BCP's "fully qualified":
 *   - Domain: LDH labels (a letter or digit first and last, hyphens
 *     inside), 1 to 63 octets each, at least two, at most 253 octets in
 *     all, no root dot (4.1.2 has none), a top-level label that is not
 *     all digits (RFC 1123 2.1: that would be an address), so a bare
 *     "192.0.2.7" or "::1" is refused;
 *   - address-literal: "[" IPv4 "]" or "[IPv6:" IPv6 "]" (4.1.3), the
 *     tag in any case; general literals with other tags are refused.
 */
enum helo_form helo_syntax_parse(const char *name, struct helo_parsed *out);

#endif
