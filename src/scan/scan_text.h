/*
 * Text from scanners made safe, whether it came from a milter packet,
 * rspamd's JSON or clamd's reply: every header field a scanner asks us
 * to add or change (the spool must never hold a field a scanner could
 * use to forge others), and the names and reasons we log or reply with.
 * Pure; trusts nothing in its input.
 */
#ifndef DECORUM_SCAN_SCAN_TEXT_H
#define DECORUM_SCAN_SCAN_TEXT_H

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

/* len octets of s into out (outlen > 0), cut to fit, NUL-terminated,
 * every octet but printable ASCII and SP as '?': for logs and replies.
 * out may be s itself. */
void scan_copy_printable(char *out, size_t outlen, const char *s, size_t len);

#endif
