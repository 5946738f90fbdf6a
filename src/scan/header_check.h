/*
 * The checks every header field a scanner asks us to add or change goes
 * through, whether it came from a milter packet or rspamd's JSON: the
 * spool must never hold a field a scanner could use to forge others.
 * Pure; trusts nothing in its input.
 */
#ifndef DECORUM_SCAN_HEADER_CHECK_H
#define DECORUM_SCAN_HEADER_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5322 3.6.8 field-name (ftext: %d33-57 / %d59-126), 1..max octets. */
bool scan_header_name_ok(const char *s, size_t len, size_t max);

/*
 * A field body as the spool will hold it: HTAB, SP, visible ASCII and
 * 8-bit octets (RFC 6532); a line break ("\r\n" or a bare "\n", as
 * scanners write either) only when the next line starts with SP or HTAB,
 * rewritten in place as "\n"; s[*len] becomes NUL and *len the new
 * length.  False for anything else (a bare CR, a break that ends the
 * field or starts a new one, other controls) or over max octets.
 */
bool scan_header_value_fix(char *s, size_t *len, size_t max);

#endif
