/*
 * Maildir++ folders of a mailbox (the spam folder, ".Junk"): a folder
 * is a Maildir of its own, <box>/<folder>/{tmp,new,cur}, with an empty
 * file "maildirfolder" in it that tells mail readers (Dovecot, Courier)
 * it is a sub-folder and not a mailbox.
 */
#ifndef DECORUM_DELIVER_MAILDIR_FOLDER_H
#define DECORUM_DELIVER_MAILDIR_FOLDER_H

#include <stdbool.h>
#include <stddef.h>

/* A name that is one path component inside the mailbox: ".Name", no
 * '/', not "." nor "..", at most 255 octets.  The config loader holds
 * spam.folder to the stricter Maildir++ form; this is the agent's own
 * guard, since it trusts no path it is handed. */
bool maildir_folder_name_ok(const char *folder);

/*
 * Makes <box>/<folder>/ a Maildir++ folder (mode 0700 folders, 0600
 * maildirfolder file) when it is not one yet, durably (the parents it
 * adds to are fsync'd), and writes its path to out.  box must exist.
 * The folder, its tmp/ new/ cur/ and maildirfolder are never symbolic
 * links: such an entry is refused, not followed.  Blocking: worker
 * threads only.  0, or -1 with errno (EINVAL: a bad name;
 * ENAMETOOLONG: out too small; ELOOP/ENOTDIR: a link or a file where a
 * folder belongs; any I/O error).
 */
int maildir_folder_make(const char *box, const char *folder, char *out,
    size_t outlen);

#endif
