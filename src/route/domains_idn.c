/*
 * International domain names for the domain tables: one canonical form
 * per domain, so that a folder named "bücher.example" or
 * "xn--bcher-kva.example" serves anna@bücher.example, anna@BÜCHER.example
 * and anna@xn--bcher-kva.example alike.  See domains.h.
 *
 * Called by the lookups (a domain they are asked about that is not plain
 * ASCII), the snapshot code and check-config (folder names and the
 * postmaster), route.c (the destination's domain, once per address),
 * senders.c and transport.c (comparisons), and `decorum user`.
 * Pure: no I/O; libidn2 allocates and we free at once.  Trusts nothing in
 * its input but that it is NUL-terminated: any octets, any length.
 *
 * The canonical form is the A-label form in lower case (RFC 5890 2.3.2.1),
 * made with libidn2's idn2_lookup_u8() and these flags:
 *  - IDN2_NONTRANSITIONAL: UTS #46 processing, non-transitional.  Its
 *    mapping step folds case ("BÜCHER" is "bücher": IDNA2008 alone would
 *    refuse the capital letter, RFC 5891 5.2 leaves such mapping to the
 *    application, and RFC 5895 names case folding as the first one) and
 *    width; being non-transitional, "ß" stays "ß" (xn--strae-oqa), as
 *    IDNA2008 and the registries that allow it (DENIC, since 2010) have
 *    it, rather than the IDNA2003 "ss" that would make straße.example and
 *    strasse.example one domain;
 *  - IDN2_NFC_INPUT: RFC 5891 5.2, U-labels are compared in NFC;
 *  - the A-label round trip check (libidn2's default) refuses A-labels
 *    whose punycode is bad ("xn--zz"), and ours (alabels_round_trip)
 *    those whose U-label is not valid.
 * No STD3 flag: our own check (domains_valid_domain) keeps the result to
 * letters, digits and hyphens, and libidn2's STD3 mapping would silently
 * drop characters rather than refuse them.
 * A name of plain ASCII labels (none starting "xn--") never goes through
 * libidn2: it is lower-cased and checked as before, so existing folder
 * names such as "ab--cd.example" keep working.
 * Limits: 253 octets out (RFC 1035 2.3.4) and in for plain ASCII; a
 * name with U-labels may be longer (DOMAINS_UNICODE_MAX), as the limit
 * is on its A-label form (RFC 5890 2.3.2.1): refusing it by its UTF-8
 * length made canon(unicode(x)) fail for a valid x (found by
 * fuzz_domain).
 */
#include "route/domains_priv.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>

#define IDN_FLAGS	(IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)

/* Does s need libidn2: a non-ASCII octet, or a label starting "xn--"? */
static bool
needs_idna(const char *s)
{
	const char *label = s;

	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80)
			return true;
		if (*p == '.')
			label = p + 1;
		else if (p == label && strncasecmp(p, "xn--", 4) == 0)
			return true;
	}
	return false;
}

/* RFC 5891 5.4: an A-label must decode to a valid U-label that encodes
 * to it again.  libidn2 checks the punycode of an A-label it is given
 * but not that its U-label passes UTS #46 ("xn--ph--xea" is "ph-" and a
 * spacing diaeresis, which is disallowed), so: once more through the
 * U-label form, which must come back unchanged. */
static bool
alabels_round_trip(const char *canon)
{
	char *ulabel = NULL;
	uint8_t *again = NULL;
	bool ok;

	if (!needs_idna(canon))
		return true;
	ok = idn2_to_unicode_8z8z(canon, &ulabel, 0) == IDN2_OK &&
	    idn2_lookup_u8((const uint8_t *)ulabel, &again, IDN_FLAGS) ==
	    IDN2_OK && strcasecmp((char *)again, canon) == 0;
	idn2_free(ulabel);
	idn2_free(again);
	return ok;
}

int
domains_canon(const char *s, char out[SMTP_DOMAIN_MAX + 1])
{
	uint8_t *alabel = NULL;
	int rc;

	out[0] = '\0';
	if (strlen(s) > DOMAINS_UNICODE_MAX)
		return -1;
	if (!needs_idna(s)) {
		if (strlen(s) > SMTP_DOMAIN_MAX)
			return -1;
		domains_lower_copy(out, SMTP_DOMAIN_MAX + 1, s);
		if (!domains_valid_domain(out)) {
			out[0] = '\0';
			return -1;
		}
		return 0;
	}
	rc = idn2_lookup_u8((const uint8_t *)s, &alabel, IDN_FLAGS);
	if (rc != IDN2_OK || strlen((char *)alabel) > SMTP_DOMAIN_MAX) {
		idn2_free(alabel);
		return -1;
	}
	domains_lower_copy(out, SMTP_DOMAIN_MAX + 1, (char *)alabel);
	idn2_free(alabel);
	/* The result must be a plain host name: no "_", no empty label,
	 * at most 253 octets (domains_valid_domain checks all three). */
	for (const char *p = out; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80) {
			out[0] = '\0';
			return -1;
		}
	}
	if (!domains_valid_domain(out) || !alabels_round_trip(out)) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
domains_unicode(const char *canon, char *out, size_t outlen)
{
	char *ulabel = NULL;
	int n;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (!needs_idna(canon)) {
		n = snprintf(out, outlen, "%s", canon);
		return n >= 0 && (size_t)n < outlen ? 0 : -1;
	}
	if (idn2_to_unicode_8z8z(canon, &ulabel, 0) != IDN2_OK) {
		idn2_free(ulabel);
		return -1;
	}
	n = snprintf(out, outlen, "%s", ulabel);
	idn2_free(ulabel);
	if (n < 0 || (size_t)n >= outlen) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

int
domains_folder_canon(const char *folder, char canon[SMTP_DOMAIN_MAX + 1])
{
	char ulabel[DOMAINS_UNICODE_MAX + 1];

	if (domains_canon(folder, canon) < 0)
		return -1;
	/* Exactly one of the two spellings, so that a folder listing
	 * compares names byte for byte and "Example.test" (which the
	 * lookups never found before either) is reported, not guessed. */
	if (strcmp(folder, canon) == 0)
		return 0;
	if (domains_unicode(canon, ulabel, sizeof(ulabel)) == 0 &&
	    strcmp(folder, ulabel) == 0)
		return 0;
	canon[0] = '\0';
	return -1;
}

bool
domains_same_domain(const char *a, const char *b)
{
	char ca[SMTP_DOMAIN_MAX + 1], cb[SMTP_DOMAIN_MAX + 1];

	if (strcasecmp(a, b) == 0)
		return true;
	if (!needs_idna(a) && !needs_idna(b))
		return false;
	return domains_canon(a, ca) == 0 && domains_canon(b, cb) == 0 &&
	    strcmp(ca, cb) == 0;
}

bool
domains_same_address(const char *a, const char *b)
{
	char la[SMTP_LOCAL_PART_WIRE_MAX + 1], da[SMTP_DOMAIN_MAX + 1];
	char lb[SMTP_LOCAL_PART_WIRE_MAX + 1], db[SMTP_DOMAIN_MAX + 1];

	return domains_split_address(a, la, da) == 0 &&
	    domains_split_address(b, lb, db) == 0 && da[0] != '\0' &&
	    db[0] != '\0' && strcasecmp(la, lb) == 0 &&
	    domains_same_domain(da, db);
}
