/*
 * Stale files in a Maildir's tmp/.  A delivery writes tmp/ first and
 * renames into new/; a crash in between (ours, or a mail reader's that
 * saves through tmp/) leaves the file in tmp/ for good.  The Maildir
 * convention (https://cr.yp.to/proto/maildir.html) is that a file in
 * tmp/ untouched for 36 hours is such a leftover and may be removed.
 * "Untouched" is judged by the inode's change time (ctime), not the
 * modification time, which mail readers set to the message's date
 * while the file is still being saved (maildir_tmp.c).
 */
#ifndef DECORUM_DELIVER_MAILDIR_TMP_H
#define DECORUM_DELIVER_MAILDIR_TMP_H

#include <stdbool.h>
#include <stdint.h>

/* Age (by ctime) from which a file in tmp/ is a leftover. */
#define MAILDIR_TMP_STALE		(36 * 3600)
/* One process sweeps one mailbox at most this often. */
#define MAILDIR_TMP_SWEEP_INTERVAL	(6 * 3600)
/* Entries of tmp/ one sweep looks at; past them it stops and logs
 * event=maildir-tmp-limit (the next sweep looks at the same first ones
 * again: readdir's order does not change). */
#define MAILDIR_TMP_SCAN_MAX		10000
/* Mailboxes whose last sweep is remembered (memory stays bounded; two
 * mailboxes that share a slot are swept more often, never less). */
#define MAILDIR_TMP_SLOTS		1024

/*
 * Whether box (the Maildir folder) is due for a sweep at now: true the
 * first time this process sees box, then once per
 * MAILDIR_TMP_SWEEP_INTERVAL.  Marks it swept.  Thread-safe.
 */
bool maildir_tmp_due(const char *box, int64_t now);

/*
 * Removes the regular files in box/tmp/ whose ctime is max_age seconds
 * or more before now (the agent's clock; the unit tests move it, as a
 * ctime cannot be set back) (not folders, not symbolic links), looking at
 * max_entries entries at most (the agent: MAILDIR_TMP_SCAN_MAX), and
 * logs each (event=maildir-tmp-removed).  Blocking: worker threads only.
 * Returns how many were removed.
 */
unsigned maildir_tmp_sweep(const char *box, int64_t now, int64_t max_age,
    unsigned max_entries);

#endif
