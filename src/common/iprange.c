/*
 * IPv4 address ranges as text: see iprange.h.  Called by the config
 * loader (common/config_dnslist.c) and the DNS list checks
 * (src/policy/dnslist.c).  Trusts nothing: the text is the operator's,
 * and the fuzzer's.  Every read is bounded by the NUL and by
 * IPRANGE_TEXT_MAX; a set never holds more than IPRANGE_MAX ranges.
 */
#include "common/iprange.h"

#include <stdio.h>
#include <string.h>

/* One dotted quad at *pp; *pp moves past it.  Strict: four decimal
 * octets, no leading zero, nothing else. */
static bool
parse_addr(const char **pp, uint32_t *out)
{
	const char *p = *pp;
	uint32_t a = 0;

	for (int i = 0; i < 4; i++) {
		unsigned v = 0;
		int digits = 0;

		if (i > 0 && *p++ != '.')
			return false;
		while (*p >= '0' && *p <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(*p++ - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255 ||
		    (digits > 1 && p[-digits] == '0'))
			return false;
		a = a << 8 | v;
	}
	*pp = p;
	*out = a;
	return true;
}

static bool
parse_prefix(const char **pp, unsigned *out)
{
	const char *p = *pp;
	unsigned v = 0;
	int digits = 0;

	while (*p >= '0' && *p <= '9' && digits < 3) {
		v = v * 10 + (unsigned)(*p++ - '0');
		digits++;
	}
	if (digits == 0 || v > 32 || (digits > 1 && p[-digits] == '0'))
		return false;
	*pp = p;
	*out = v;
	return true;
}

/* One item at *pp into r. */
static bool
parse_item(const char **pp, struct iprange *r, char *err, size_t errlen)
{
	const char *p = *pp;
	unsigned bits;
	uint32_t mask;

	if (!parse_addr(&p, &r->lo)) {
		snprintf(err, errlen, "not an IPv4 address (a.b.c.d, decimal)");
		return false;
	}
	r->hi = r->lo;
	if (*p == '-') {
		p++;
		if (!parse_addr(&p, &r->hi)) {
			snprintf(err, errlen, "a range needs an address after '-'");
			return false;
		}
		if (r->hi < r->lo) {
			snprintf(err, errlen, "a range must go from low to high");
			return false;
		}
	} else if (*p == '/') {
		p++;
		if (!parse_prefix(&p, &bits)) {
			snprintf(err, errlen, "a prefix length is 0 to 32");
			return false;
		}
		mask = bits == 0 ? 0 : UINT32_MAX << (32 - bits);
		if ((r->lo & ~mask) != 0) {
			snprintf(err, errlen, "address bits set past the /%u", bits);
			return false;
		}
		r->hi = r->lo | ~mask;
	}
	*pp = p;
	return true;
}

int
iprange_parse(const char *s, struct iprange_set *out, char *err, size_t errlen)
{
	const char *p = s;

	out->n = 0;
	if (strnlen(s, IPRANGE_TEXT_MAX + 1) > IPRANGE_TEXT_MAX) {
		snprintf(err, errlen, "longer than %d characters", IPRANGE_TEXT_MAX);
		return -1;
	}
	for (;;) {
		while (*p == ' ')
			p++;
		if (out->n == IPRANGE_MAX) {
			snprintf(err, errlen, "more than %d ranges", IPRANGE_MAX);
			return -1;
		}
		if (!parse_item(&p, &out->r[out->n], err, errlen))
			return -1;
		out->n++;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			return 0;
		if (*p++ != ',') {
			snprintf(err, errlen, "ranges are separated by commas");
			return -1;
		}
	}
}

bool
iprange_match(const struct iprange_set *set, uint32_t a)
{
	for (size_t i = 0; i < set->n && i < IPRANGE_MAX; i++)
		if (a >= set->r[i].lo && a <= set->r[i].hi)
			return true;
	return false;
}

bool
iprange_within(const struct iprange_set *set, uint32_t lo, uint32_t hi)
{
	for (size_t i = 0; i < set->n && i < IPRANGE_MAX; i++)
		if (set->r[i].lo < lo || set->r[i].hi > hi)
			return false;
	return true;
}
