/*
 * What the Maildir agent remembers between deliveries (maildir_tree.c):
 * which mailboxes already have their tmp/ new/ cur/ tree, so a delivery
 * makes no mkdir, and the group commit of new/ folders.
 */
#ifndef DECORUM_DELIVER_MAILDIR_TREE_H
#define DECORUM_DELIVER_MAILDIR_TREE_H

#include <stdbool.h>

/* Slots of the table of mailboxes known to be whole (a power of 2). */
#define MAILDIR_KNOWN_SLOTS	4096

/* Whether box was made (or found whole) by an earlier delivery of this
 * process.  A wrong "yes" (two paths in one slot) costs nothing but a
 * failed open or rename, after which the caller forgets and remakes. */
bool maildir_known(const char *box);
void maildir_known_add(const char *box);
void maildir_known_forget(const char *box);

/* A delivery announces itself before it writes its file (expect), so a
 * leader about to fsync a new/ folder waits a moment for the copies
 * still being written (common/dirsync.h); one that then fails before
 * its rename takes the announcement back (unexpect). */
void maildir_new_expect(void);
void maildir_new_unexpect(void);
/* Makes what an announced delivery renamed into dir/new durable: fsync
 * of dir/new shared with the other threads renaming into it now.
 * 0, or -1 with errno.  Blocking. */
int maildir_new_sync(const char *dir);

#endif
