/*
 * The From: header of a message (RFC 5322 3.6.2), for the submission
 * check that a user only sends as addresses it owns.  Pure: no I/O.
 *
 * Reads the header section (CRLF lines up to the first empty line,
 * folded lines unfolded), finds the From: field(s) and extracts the
 * addr-specs of its mailbox-list: "Name <a@b>", "a@b", "a@b (comment)",
 * quoted display names with commas, groups are refused.  Bounded:
 * at most max addresses, header section at most len bytes.
 */
#ifndef DECORUM_SMTP_HEADER_FROM_H
#define DECORUM_SMTP_HEADER_FROM_H

#include <stddef.h>

#include "common/bounds.h"

/*
 * Returns the number of addresses found (1..max), 0 when there is no
 * From: header, -1 when it is malformed, has more than max addresses, or
 * appears more than once (RFC 5322 3.6: exactly one From: field).
 */
int header_from_addresses(const char *msg, size_t len,
    char (*addrs)[SMTP_ADDRESS_MAX + 1], size_t max);

#endif
