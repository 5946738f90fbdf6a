/*
 * Folders a privileged process hands to an unprivileged one, made safe
 * to create, chown and chmod.
 *
 * decorumd's master runs as root and gives the spool, state and mailbox
 * folders to the workers' account.  Done by path, that is a classic root
 * escalation: an account that can rename an entry on the way replaces it
 * by a symbolic link, and root chowns whatever it points to.  So the path
 * is walked one component at a time from "/" with
 * openat(O_DIRECTORY | O_NOFOLLOW), every folder is checked by fstat() on
 * its descriptor, and the last one is changed through its descriptor
 * (fchown, fchmod), never by name.  The rules (docs/security.md):
 *
 *   - no symbolic link anywhere in the path;
 *   - every parent owned by root or by the caller's own uid;
 *   - no parent writable by the guarded account (owner, or a group it is
 *     in) or by everyone, unless it has the sticky bit (/tmp) and the
 *     entry below it is owned by root or the caller; the folder itself
 *     belongs to the account, so it never sits in such a parent;
 *   - the folder ends owned by the account with exactly the given mode
 *     (plus whatever of `keep` it had).
 *
 * POSIX ACLs and capabilities other than uid 0 are not looked at.
 */
#ifndef DECORUM_COMMON_SAFEDIR_H
#define DECORUM_COMMON_SAFEDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SAFEDIR_GROUPS_MAX	64

/* The account the folders are for, and the one they are guarded from. */
struct safedir_owner {
	bool guard;		/* false: no account to hand over to (the
				 * workers run as the caller) */
	uid_t uid;
	gid_t gid;
	const char *name;	/* for messages */
	gid_t groups[SAFEDIR_GROUPS_MAX];	/* every group it is in */
	size_t n_groups;
};

/* What safedir_prepare() did, or would do when create is false. */
struct safedir_change {
	bool created;		/* the folder (or a parent) was missing */
	bool chowned;
	bool chmoded;
	uid_t old_uid;
	mode_t old_mode, new_mode;	/* permission bits */
};

/*
 * Make path (absolute, no "." or ".." components) a folder owned by o
 * (or by the caller when !o->guard) with mode `mode | (old & keep)`,
 * creating it (0700) and missing parents (0755, root's) when create is
 * true.  With create false nothing is changed: the walk stops at the
 * first missing component, and ch says what a real run would change.
 * 0, or -1 with a sentence in err ("parent /srv is writable by
 * everyone") that the caller prefixes with the key and path.
 */
int safedir_prepare(const char *path, const struct safedir_owner *o,
    mode_t mode, mode_t keep, bool create, struct safedir_change *ch,
    char *err, size_t errlen);

/*
 * Check only, for a folder that stays root's and is not handed to o
 * (the domains tree: `decorum user` edits it as root, and the users
 * files hold the hashes AUTH trusts): path is walked as above, and the
 * folder itself is held to the parents' rules: owned by root (or the
 * caller) and writable by none of o's identities nor everyone, sticky
 * or not.  Returns the folder open (O_DIRECTORY) for looking inside, -2
 * when it does not exist (the path up to the missing part was checked),
 * or -1 with a sentence in err.
 */
int safedir_open_kept(const char *path, const struct safedir_owner *o,
    char *err, size_t errlen);
/*
 * The same rules for the entry name of the folder dfd (path names it,
 * for messages), which must not be a symbolic link either.  0 when it
 * passes or does not exist, -1 with err.  With fd not NULL, *fd is the
 * entry opened when it is a folder (the very one checked), else -1.
 */
int safedir_check_kept_at(int dfd, const char *path, const char *name,
    const struct safedir_owner *o, int *fd, char *err, size_t errlen);

/* Fill o for account name (getpwnam, getgrouplist).  0, or -1 when there
 * is no such account. */
int safedir_owner_lookup(const char *name, struct safedir_owner *o);
/* Is gid the account's primary group or one of its groups? */
bool safedir_owner_in_group(const struct safedir_owner *o, gid_t gid);

#endif
