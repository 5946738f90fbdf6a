/*
 * Syntax of what the domain tables hold: local parts (table keys and
 * Maildir folder names), domain names (folder names), addresses as alias
 * targets write them, and the kind of a target.  See domains.h.
 *
 * Called by the table parser, the lookups, check-config, route.c and the
 * CLI.  Pure string code: no I/O, no allocation.  Trusts only that its
 * arguments are NUL-terminated.  Invariant: a string these accept as a
 * local part or a domain is safe to join to a path ("." , "..", "/" and
 * control characters are refused).
 */
#include "route/domains_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void
domains_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

void
domains_lower_copy(char *out, size_t outlen, const char *s)
{
	snprintf(out, outlen, "%s", s);
	domains_lower(out);
}

bool
domains_valid_local(const char *s)
{
	size_t len = strlen(s);

	/* No leading dot: "." and ".." must never become folder names. */
	if (len == 0 || len > SMTP_LOCAL_PART_MAX || s[0] == '.')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch <= ' ' || ch == 0x7f || strchr(":/@\"\\,#", ch) != NULL)
			return false;
	}
	return true;
}

bool
domains_valid_domain(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		/* RFC 1035 2.3.1 letters, digits, hyphen; UTF-8 for U-labels. */
		if (!(ch >= 0x80 || isalnum(ch) || ch == '-') || ++label > 63)
			return false;
	}
	return label != 0;
}

int
domains_split_address(const char *addr,
    char local[SMTP_LOCAL_PART_WIRE_MAX + 1],
    char domain[SMTP_DOMAIN_MAX + 1])
{
	const char *at = strrchr(addr, '@');
	const char *end = at != NULL ? at : addr + strlen(addr);
	size_t o = 0;

	local[0] = domain[0] = '\0';
	if (at != NULL) {
		if (strlen(at + 1) > SMTP_DOMAIN_MAX || at[1] == '\0')
			return -1;
		domains_lower_copy(domain, SMTP_DOMAIN_MAX + 1, at + 1);
	}
	if (end == addr)
		return -1;
	if (addr[0] == '"') {
		/* RFC 5321 4.1.2 Quoted-string: qtext or "\" + any ASCII. */
		const char *p = addr + 1;

		if (end - addr < 2 || end[-1] != '"')
			return -1;
		for (; p < end - 1; p++) {
			if (*p == '"')
				return -1;
			if (*p == '\\' && ++p >= end - 1)
				return -1;
			if (o >= SMTP_LOCAL_PART_WIRE_MAX)
				return -1;
			local[o++] = *p;
		}
	} else {
		for (const char *p = addr; p < end; p++) {
			unsigned char ch = (unsigned char)*p;

			if (ch <= ' ' || ch == 0x7f ||
			    strchr("\"(),:;<>@[\\]", ch) != NULL)
				return -1;
			if (o >= SMTP_LOCAL_PART_WIRE_MAX)
				return -1;
			local[o++] = *p;
		}
	}
	local[o] = '\0';
	return o == 0 ? -1 : 0;
}

enum domains_target
domains_target_kind(const char *t)
{
	if (t[0] == '|' || (t[0] == '"' && t[1] == '|'))
		return DOMAINS_TARGET_PIPE;
	if (t[0] == '/' || (t[0] == '"' && t[1] == '/'))
		return DOMAINS_TARGET_FILE;
	if (strncasecmp(t, ":include:", 9) == 0)
		return DOMAINS_TARGET_INCLUDE;
	return DOMAINS_TARGET_ADDRESS;
}
