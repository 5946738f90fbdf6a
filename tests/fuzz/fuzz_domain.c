/*
 * libFuzzer harness: the canonical form of a domain name
 * (route/domains_idn.c: domains_canon, domains_unicode,
 * domains_folder_canon, domains_same_domain), which every RCPT domain,
 * folder name and alias target goes through.  The input, cut at its
 * first NUL, is the name.  Invariants checked:
 *  - a name it accepts becomes plain lower-case ASCII letters, digits,
 *    hyphens and dots, a valid domain of at most 253 octets;
 *  - the canonical form is a fixed point, and so is the way back and
 *    forth: canon(unicode(canon(x))) == canon(x);
 *  - both spellings of a canonical name are folder names of it, and the
 *    same domain as the input;
 *  - a plain ASCII name without "xn--" labels is only lower-cased;
 *  - a refused name leaves "" behind.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/bounds.h"
#include "route/domains_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
plain_ascii(const char *s)
{
	const char *label = s;

	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80)
			return false;
		if (*p == '.')
			label = p + 1;
		else if (p == label && strncasecmp(p, "xn--", 4) == 0)
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char in[1024], c[SMTP_DOMAIN_MAX + 1], c2[SMTP_DOMAIN_MAX + 1];
	char u[DOMAINS_UNICODE_MAX + 1];
	size_t n = size < sizeof(in) - 1 ? size : sizeof(in) - 1;

	memcpy(in, data, n);
	in[n] = '\0';
	if (domains_canon(in, c) != 0) {
		if (c[0] != '\0')
			abort();
		return 0;
	}
	if (strlen(c) > 253 || !domains_valid_domain(c))
		abort();
	for (const char *p = c; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '.'))
			abort();
	if (plain_ascii(in) && strcasecmp(in, c) != 0)
		abort();
	if (domains_canon(c, c2) != 0 || strcmp(c, c2) != 0)
		abort();
	if (domains_unicode(c, u, sizeof(u)) != 0)
		abort();
	if (domains_canon(u, c2) != 0 || strcmp(c, c2) != 0)
		abort();
	if (domains_folder_canon(c, c2) != 0 || strcmp(c, c2) != 0)
		abort();
	if (domains_folder_canon(u, c2) != 0 || strcmp(c, c2) != 0)
		abort();
	if (!domains_same_domain(in, c) || !domains_same_domain(u, in))
		abort();
	return 0;
}
