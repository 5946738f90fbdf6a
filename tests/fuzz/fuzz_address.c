/*
 * libFuzzer harness: the path and address parsers.  The first byte picks
 * the entry point and the UTF-8 flag; the rest is the argument.
 * Checks the invariants address.h promises: addr is local "@" domain,
 * lengths within RFC 5321 4.5.3.1, no 8-bit without UTF-8 allowed, and
 * nothing left in *path after an error.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bounds.h"
#include "smtp/address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

static void
check(enum smtp_addr_error e, const struct smtp_path *p, bool utf8)
{
	size_t ll, dl, al;

	ll = strnlen(p->local, sizeof(p->local));
	dl = strnlen(p->domain, sizeof(p->domain));
	al = strnlen(p->addr, sizeof(p->addr));
	if (ll > SMTP_LOCAL_PART_WIRE_MAX || dl > SMTP_DOMAIN_MAX ||
	    al > SMTP_PATH_MAX - 2)
		abort();
	if (e != SMTP_ADDR_OK) {
		if (ll || dl || al || p->null || p->postmaster)
			abort();
		return;
	}
	if (!utf8 && (has_8bit(p->addr) || p->utf8))
		abort();
	/* p->utf8 may be set with an ASCII addr: a UTF-8 source route is
	 * checked, then dropped. */
	if (has_8bit(p->addr) && !p->utf8)
		abort();
	if (p->null) {
		if (al || ll || dl)
			abort();
	} else if (p->postmaster) {
		if (strcmp(p->addr, "postmaster") != 0 || dl != 0)
			abort();
	} else {
		if (al != ll + 1 + dl || memcmp(p->addr, p->local, ll) != 0 ||
		    p->addr[ll] != '@' || strcmp(p->addr + ll + 1, p->domain) != 0)
			abort();
		if (ll == 0 || dl == 0)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_path path;
	struct smtp_mail_params params;
	enum smtp_addr_error e;
	const char *s;
	size_t n;
	bool utf8;

	if (size < 1)
		return 0;
	utf8 = data[0] & 1;
	s = (const char *)data + 1;
	n = size - 1;

	switch ((data[0] >> 1) % 4) {
	case 0:
		e = smtp_parse_mail_from(s, n, utf8, &path, &params);
		check(e, &path, utf8 && params.smtputf8);
		if (e == SMTP_ADDR_OK && params.smtputf8 && !utf8)
			abort();
		break;
	case 1:
		e = smtp_parse_rcpt_to(s, n, utf8, &path);
		check(e, &path, utf8);
		if (e == SMTP_ADDR_OK && path.null)
			abort();
		break;
	case 2:
		e = smtp_parse_address(s, n, utf8, &path);
		check(e, &path, utf8);
		/* A bare address is kept exactly as written. */
		if (e == SMTP_ADDR_OK && !path.postmaster &&
		    (path.null || n != strlen(path.addr) ||
		    memcmp(path.addr, s, n) != 0))
			abort();
		if (e == SMTP_ADDR_OK && path.postmaster && n != 10)
			abort();
		break;
	default:
		(void)smtp_valid_helo(s, n);
		break;
	}
	return 0;
}
