/*
 * Safe hand-over of folders from root to an unprivileged account: see
 * safedir.h for the rules and docs/security.md for why.
 *
 * Callers: decorumd's master at start-up (create = true, as root, before
 * any port is open) and `decorum check-config` (create = false: it
 * reports, it never changes anything).
 *
 * Trust: nothing on the path is trusted until fstat() of the descriptor
 * in hand says who owns it and who can write it.  Names are only ever
 * resolved one component at a time, relative to a folder already
 * checked, and never through a symbolic link (O_NOFOLLOW), so what was
 * checked is what gets changed: fchown/fchmod act on the descriptor.
 *
 * Limits: path shorter than PATH_MAX; at most one descriptor open besides
 * the one in hand.  Nothing here blocks beyond the local file system.
 */
#include "common/safedir.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PERM_BITS	07777

/* One walk: the rules, where we are, and where errors go. */
struct walk {
	const struct safedir_owner *o;
	uid_t self;		/* trusted besides root */
	bool kept;		/* the folder stays root's (safedir_open_kept) */
	char at[PATH_MAX];	/* the path walked so far, for messages */
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 2, 3)))
walk_fail(struct walk *w, const char *fmt, ...)
{
	va_list ap;

	if (w->errlen == 0)
		return -1;
	va_start(ap, fmt);
	if (vsnprintf(w->err, w->errlen, fmt, ap) < 0)
		w->err[0] = '\0';
	va_end(ap);
	return -1;
}

static bool
trusted(const struct walk *w, uid_t uid)
{
	return uid == 0 || uid == w->self;
}

bool
safedir_owner_in_group(const struct safedir_owner *o, gid_t gid)
{
	for (size_t i = 0; i < o->n_groups; i++)
		if (o->groups[i] == gid)
			return true;
	return o->gid == gid;
}

/* Who, besides root and us, may add, remove or rename entries of the
 * folder st describes: NULL when nobody.  (A parent owned by the account
 * itself is refused earlier, by check_parent.) */
static const char *
writers(const struct walk *w, const struct stat *st, char *buf, size_t len)
{
	if (st->st_mode & S_IWOTH)
		return "everyone";
	if (w->o->guard && (st->st_mode & S_IWGRP) &&
	    safedir_owner_in_group(w->o, st->st_gid)) {
		snprintf(buf, len, "user %s (through group %ld)", w->o->name,
		    (long)st->st_gid);
		return buf;
	}
	return NULL;
}

/* A parent's owner must be root or us: anyone else could swap what it
 * holds (this is what refuses spool inside mailboxes or state). */
static int
check_parent(struct walk *w, const struct stat *st)
{
	char who[64];
	struct passwd *pw;

	if (trusted(w, st->st_uid))
		return 0;
	pw = getpwuid(st->st_uid);
	snprintf(who, sizeof(who), "%s", pw != NULL ? pw->pw_name : "?");
	return walk_fail(w, "parent %s is owned by uid %ld (%s), not by root: "
	    "that account could replace what it holds", w->at,
	    (long)st->st_uid, who);
}

/* Why component name of the folder dfd could not be opened as a folder. */
static int
explain_open(struct walk *w, int dfd, const char *name, int e)
{
	char target[256];
	struct stat lst;
	ssize_t n;

	if (fstatat(dfd, name, &lst, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISLNK(lst.st_mode)) {
			n = readlinkat(dfd, name, target, sizeof(target) - 1);
			target[n > 0 ? n : 0] = '\0';
			return walk_fail(w, "%s is a symbolic link (to %s): write "
			    "the real path in the configuration", w->at,
			    target);
		}
		if (!S_ISDIR(lst.st_mode))
			return walk_fail(w, "%s is not a folder", w->at);
	}
	return walk_fail(w, "%s: %s", w->at, strerror(e));
}

static int
walk_append(struct walk *w, const char *name)
{
	size_t len = strlen(w->at);
	int n = snprintf(w->at + len, sizeof(w->at) - len, "%s%s",
	    len > 1 ? "/" : "", name);

	if (n < 0 || (size_t)n >= sizeof(w->at) - len)
		return walk_fail(w, "path too long");
	return 0;
}

/*
 * Open component name below the folder dfd (described by pst) as a
 * folder, creating it when allowed.  Returns the descriptor, -1 on error,
 * or -2 when it is missing and create is false.
 */
static int
open_step(struct walk *w, int dfd, const struct stat *pst, const char *name,
    bool last, bool create, struct safedir_change *ch)
{
	char buf[128];
	const char *who = writers(w, pst, buf, sizeof(buf));
	int fd;

	/* The folder itself will belong to the guarded account, which
	 * could then rename it away in a writable parent, sticky or not.
	 * A folder that stays root's is as safe there as any parent. */
	if (who != NULL && (!(pst->st_mode & S_ISVTX) ||
	    (last && w->o->guard && !w->kept)))
		return walk_fail(w, "parent %s is writable by %s: put the "
		    "folder in one only root can write", w->at, who);
	if (walk_append(w, name) < 0)
		return -1;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		ch->created = true;
		if (!create)
			return -2;
		/* Parents are root's and searchable; the folder is private
		 * until finish() gives it its mode. */
		if (mkdirat(dfd, name, last ? 0700 : 0755) < 0 && errno != EEXIST)
			return walk_fail(w, "mkdir %s: %s", w->at, strerror(errno));
		fd = openat(dfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* Whatever the umask: the workers must be able to pass. */
		if (fd >= 0 && !last && fchmod(fd, 0755) < 0) {
			close(fd);
			return walk_fail(w, "chmod %s: %s", w->at, strerror(errno));
		}
	}
	if (fd < 0)
		return explain_open(w, dfd, name, errno);
	return fd;
}

/* In a sticky parent others can write, only entries owned by root or
 * us are safe from being renamed away (that is what the sticky bit
 * protects). */
static int
check_sticky_child(struct walk *w, const struct stat *pst,
    const struct stat *st)
{
	char buf[128];

	if (writers(w, pst, buf, sizeof(buf)) == NULL || trusted(w, st->st_uid))
		return 0;
	return walk_fail(w, "%s is owned by uid %ld in a folder others can "
	    "write: it could be replaced", w->at, (long)st->st_uid);
}

/* The folder itself: the account's, with the mode asked for. */
static int
finish(struct walk *w, int fd, const struct stat *st, mode_t mode,
    mode_t keep, bool create, struct safedir_change *ch)
{
	uid_t uid = w->o->guard ? w->o->uid : w->self;
	mode_t want = (mode | (st->st_mode & keep)) & PERM_BITS;

	ch->old_uid = st->st_uid;
	ch->old_mode = st->st_mode & PERM_BITS;
	ch->new_mode = want;
	if (st->st_uid != uid || (w->o->guard && st->st_gid != w->o->gid)) {
		if (w->self != 0)
			return walk_fail(w, "%s is owned by uid %ld, and only "
			    "root can give it to uid %ld", w->at,
			    (long)st->st_uid, (long)uid);
		ch->chowned = true;
		if (create && fchown(fd, uid, w->o->guard ? w->o->gid :
		    (gid_t)-1) < 0)
			return walk_fail(w, "chown %s: %s", w->at,
			    strerror(errno));
	}
	if (ch->old_mode != want) {
		ch->chmoded = true;
		if (create && fchmod(fd, want) < 0)
			return walk_fail(w, "chmod %s: %s", w->at,
			    strerror(errno));
	}
	return 0;
}

/* The next component of *p ("a" of "/a//b"), skipping slashes; 0 at the
 * end, -1 when it is "." or "..", which the walk refuses. */
static int
next_name(const char **p, char *name, size_t len)
{
	size_t n;

	while (**p == '/')
		(*p)++;
	n = strcspn(*p, "/");
	if (n == 0)
		return 0;
	if (n >= len || (n == 1 && (*p)[0] == '.') ||
	    (n == 2 && (*p)[0] == '.' && (*p)[1] == '.'))
		return -1;
	memcpy(name, *p, n);
	name[n] = '\0';
	*p += n;
	return 1;
}

static bool
is_last(const char *p)
{
	while (*p == '/')
		p++;
	return *p == '\0';
}

/*
 * Walk path from "/" to its last folder by the rules above, creating
 * what is missing when create is true.  0 with *fd the last folder open
 * and *st its fstat; 1 when a component is missing and create is false
 * (ch->created says so); -1 with the error in w.
 */
static int
walk_path(struct walk *w, const char *path, bool create,
    struct safedir_change *ch, int *fd, struct stat *st)
{
	char name[NAME_MAX + 1];
	struct stat pst;
	const char *p = path;
	int dfd, nfd, rc = -1, more;

	*fd = -1;
	if (path[0] != '/' || is_last(path))
		return walk_fail(w, "must be an absolute path below /");
	/* The whole path first: nothing is created for a path that "/.."
	 * later makes invalid. */
	while ((more = next_name(&p, name, sizeof(name))) > 0)
		continue;
	if (more < 0)
		return walk_fail(w, "must not hold \".\" or \"..\" (or a "
		    "name over %d octets)", NAME_MAX);
	p = path;
	if ((dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fstat(dfd, &pst) < 0) {
		rc = walk_fail(w, "/: %s", strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return rc;
	}
	/* Invariant: dfd is the folder w->at, pst its fstat, both checked
	 * as far as their own parent could tell. */
	while ((more = next_name(&p, name, sizeof(name))) > 0) {
		bool last = is_last(p);

		if (check_parent(w, &pst) < 0)
			break;
		nfd = open_step(w, dfd, &pst, name, last, create, ch);
		if (nfd < 0) {
			rc = nfd == -2 ? 1 : -1;  /* -2: the rest is missing */
			break;
		}
		close(dfd);
		dfd = nfd;
		if (fstat(dfd, st) < 0) {
			walk_fail(w, "%s: %s", w->at, strerror(errno));
			break;
		}
		if (check_sticky_child(w, &pst, st) < 0)
			break;
		if (last) {
			*fd = dfd;
			return 0;
		}
		pst = *st;
	}
	close(dfd);
	return rc;
}

int
safedir_prepare(const char *path, const struct safedir_owner *o,
    mode_t mode, mode_t keep, bool create, struct safedir_change *ch,
    char *err, size_t errlen)
{
	struct walk w = { .o = o, .self = geteuid(), .at = "/", .err = err,
	    .errlen = errlen };
	struct stat st;
	int fd, rc;

	memset(ch, 0, sizeof(*ch));
	rc = walk_path(&w, path, create, ch, &fd, &st);
	if (rc != 0)
		return rc > 0 ? 0 : -1;
	rc = finish(&w, fd, &st, mode, keep, create, ch);
	close(fd);
	return rc;
}

/* A folder or file that stays root's: owned by root (or us), and no one
 * the guarded account could be may write it.  Sticky is no help here:
 * whoever may add entries may add a domain, or a file root will read. */
static int
check_kept(struct walk *w, const struct stat *st)
{
	char buf[128], who_name[64];
	const char *who;
	struct passwd *pw;

	if (!trusted(w, st->st_uid)) {
		pw = getpwuid(st->st_uid);
		snprintf(who_name, sizeof(who_name), "%s",
		    pw != NULL ? pw->pw_name : "?");
		return walk_fail(w, "%s is owned by uid %ld (%s), not by root: "
		    "that account could change it", w->at, (long)st->st_uid,
		    who_name);
	}
	if ((who = writers(w, st, buf, sizeof(buf))) != NULL)
		return walk_fail(w, "%s is writable by %s: only root may "
		    "change it", w->at, who);
	return 0;
}

int
safedir_open_kept(const char *path, const struct safedir_owner *o,
    char *err, size_t errlen)
{
	struct walk w = { .o = o, .self = geteuid(), .kept = true, .at = "/",
	    .err = err, .errlen = errlen };
	struct safedir_change ch;
	struct stat st;
	int fd, rc;

	memset(&ch, 0, sizeof(ch));
	rc = walk_path(&w, path, false, &ch, &fd, &st);
	if (rc != 0)
		return rc > 0 ? -2 : -1;
	if (check_kept(&w, &st) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
safedir_check_kept_at(int dfd, const char *path, const char *name,
    const struct safedir_owner *o, int *fd, char *err, size_t errlen)
{
	struct walk w = { .o = o, .self = geteuid(), .kept = true, .err = err,
	    .errlen = errlen };
	char target[256];
	struct stat st, again;
	ssize_t n;
	int sub;

	if (fd != NULL)
		*fd = -1;
	snprintf(w.at, sizeof(w.at), "%s/%s", path, name);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 :
		    walk_fail(&w, "%s: %s", w.at, strerror(errno));
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(dfd, name, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		return walk_fail(&w, "%s is a symbolic link (to %s): root "
		    "follows none in this tree", w.at, target);
	}
	if (check_kept(&w, &st) < 0)
		return -1;
	if (fd == NULL || !S_ISDIR(st.st_mode))
		return 0;
	/* What is opened must be what was checked. */
	sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (sub < 0 || fstat(sub, &again) < 0 || again.st_dev != st.st_dev ||
	    again.st_ino != st.st_ino) {
		if (sub >= 0)
			close(sub);
		return walk_fail(&w, "%s changed while it was checked", w.at);
	}
	*fd = sub;
	return 0;
}

int
safedir_owner_lookup(const char *name, struct safedir_owner *o)
{
	struct passwd *pw;
	int n = SAFEDIR_GROUPS_MAX;

	memset(o, 0, sizeof(*o));
	errno = 0;
	if ((pw = getpwnam(name)) == NULL)
		return -1;
	o->guard = true;
	o->uid = pw->pw_uid;
	o->gid = pw->pw_gid;
	o->name = name;
	/* More groups than fit: the ones that do are still checked, and
	 * the primary group always is (safedir_owner_in_group). */
	if (getgrouplist(name, pw->pw_gid, o->groups, &n) < 0)
		n = SAFEDIR_GROUPS_MAX;
	o->n_groups = (size_t)n;
	return 0;
}
