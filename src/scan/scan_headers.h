/*
 * The header section with the scanners' changes applied
 * (docs/scanning.md, "What scanners may change"): add, insert, change,
 * delete and remove header fields, in the order asked, each on the
 * section as the earlier ones left it, as a milter's changes apply in
 * Sendmail and Postfix.
 *
 * Pure: no I/O.  The input is a header section as spooled (CRLF line
 * ends, folded lines kept, no empty line); the values come from
 * scan_result changes, already checked by scan_text.h (folds as "\n"
 * followed by SP or HTAB) and written back with CRLF.
 */
#ifndef DECORUM_SCAN_SCAN_HEADERS_H
#define DECORUM_SCAN_SCAN_HEADERS_H

#include <stddef.h>

#include "scan/scan.h"

struct buf;

/* Most fields a section may hold while changes apply. */
#define SCAN_HEADER_FIELDS_MAX	10000

/*
 * Applies the header changes of mods (other change types are skipped)
 * to the section in[0..inlen) and appends the result to out.  CHANGE
 * of a field that does not exist adds it (as libmilter documents);
 * deleting one that does not exist does nothing; names compare without
 * regard to case; INSERT at an index past the end appends.  0, or -1
 * when the section would hold more than SCAN_HEADER_FIELDS_MAX fields
 * or out's limit is reached (out is then unspecified).
 */
int scan_headers_apply(const char *in, size_t inlen,
    const struct scan_mod *mods, struct buf *out);

#endif
