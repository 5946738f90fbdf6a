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

/* Makes what was renamed into dir/new durable: fsync of dir/new shared
 * with the other threads renaming into it now (common/dirsync.h).
 * 0, or -1 with errno.  Blocking. */
int maildir_new_sync(const char *dir);

#endif
