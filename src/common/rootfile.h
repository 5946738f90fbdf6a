/*
 * Files root reads on the daemon's behalf (the TLS certificates and keys,
 * a relay's password, a transport's CA list), opened so that the
 * daemon's own account cannot choose what root reads.
 *
 * The master reads these as root and hands what it read to an
 * unprivileged process: the keys to the smtpd (on every SIGHUP too), a
 * password to the relay, a CA list to the qmgr.  Were the account the
 * workers run as able to change any step of the way to such a file, a
 * worker broken into would swap it for a link to another service's key,
 * or to /etc/shadow, and root would send it the contents.  Links
 * themselves are fine (Let's Encrypt's live/ names are links into
 * archive/): they are followed one at a time, and everything met on
 * the way, the links included, is held to these rules
 * (docs/security.md):
 *
 *   - nothing on the real path, nor on the way through the links, is
 *     inside (or is) a folder of `apart` (spool, state, mailboxes: the
 *     account's own);
 *   - nothing met is owned by the guarded account;
 *   - no folder looked into is writable by it (owner, a group it is in)
 *     or by everyone, unless it has the sticky bit (then only the
 *     owner of an entry, never the account, can rename that entry);
 *   - the file (or folder) itself is writable by neither, sticky or not.
 *
 * Only regular files and folders are opened: a FIFO or a device named
 * by mistake must not block root or have side effects.
 * POSIX ACLs, file capabilities and mounts are not looked at.
 */
#ifndef DECORUM_COMMON_ROOTFILE_H
#define DECORUM_COMMON_ROOTFILE_H

#include <stddef.h>

struct safedir_owner;

#define ROOTFILE_APART_MAX	4
/* Links followed in one path, as the kernel's own limit (ELOOP). */
#define ROOTFILE_LINKS_MAX	40

struct rootfile_rules {
	/* The account guarded against; NULL, or o->guard false: nobody
	 * (then only `apart` and "writable by everyone" apply). */
	const struct safedir_owner *o;
	/* Folders, clean absolute paths, that the file may neither lie in
	 * nor be reached through; name is what messages call them. */
	struct {
		const char *name;
		const char *path;
	} apart[ROOTFILE_APART_MAX];
	size_t n_apart;
};

/*
 * Open path (absolute) by the rules r: a descriptor (O_RDONLY |
 * O_CLOEXEC | O_NONBLOCK) of the regular file or folder it names, with
 * its real path in real (may be NULL) when that fits.  -1 when a
 * system call failed: errno is set (ENOENT: something on the way is
 * missing) and err says where.  -2 when the rules refuse it: err is a
 * sentence ("/srv/tls is writable by user decorum (through group 110):
 * it could change what root reads") that the caller prefixes with the
 * key and the path.
 */
int rootfile_open(const char *path, const struct rootfile_rules *r,
    char *real, size_t reallen, char *err, size_t errlen);

#endif
