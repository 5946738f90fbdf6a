/*
 * Opening a file root reads for the daemon: see rootfile.h for the rules
 * and docs/security.md for why.
 *
 * Callers: the config loader (a relay's auth_password_file, a
 * transport's tls_ca, config_transport.c and config_outbound.c) and
 * tls/tls_keypair.c (tls.cert, tls.key, tls.sni), through the rules
 * config_root_rules() makes; in decorumd's master at start (and on every
 * SIGHUP for the keys), and in `decorum check-config`, which so refuses
 * what the daemon refuses.
 *
 * How: the path is resolved here, not by the kernel.  One component at
 * a time, relative to the folder in hand, looked at with fstatat()
 * before it is opened with O_NOFOLLOW; a link is read and its target
 * put in front of what is left, so every folder and link on the way,
 * through any number of links, is checked, and what is checked is what
 * gets opened: a folder is opened only after it passed, and the opened
 * descriptor must be the entry that was looked at (same device and
 * inode).  ".." goes to the parent of the real folder in hand, as the
 * kernel would after resolving the link that led there.
 *
 * Limits: PATH_MAX for the path and for every expansion of it,
 * ROOTFILE_LINKS_MAX links; one descriptor besides the one in hand.
 */
#include "common/rootfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/safedir.h"

struct walk {
	const struct rootfile_rules *r;
	int fd;			/* the object at `at`, checked */
	struct stat st;		/* its fstat() */
	char at[PATH_MAX];	/* its real path */
	char rest[PATH_MAX];	/* what is left to resolve */
	unsigned links;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 3, 4)))
walk_fail(struct walk *w, int rc, const char *fmt, ...)
{
	va_list ap;

	if (w->errlen == 0)
		return rc;
	va_start(ap, fmt);
	if (vsnprintf(w->err, w->errlen, fmt, ap) < 0)
		w->err[0] = '\0';
	va_end(ap);
	return rc;
}

/* A system call failed at `where`: -1, with errno kept for the caller. */
static int
walk_errno(struct walk *w, const char *where, int e)
{
	walk_fail(w, -1, "%.200s: %s", where, strerror(e));
	errno = e;
	return -1;
}

static bool
guarded(const struct walk *w)
{
	return w->r->o != NULL && w->r->o->guard;
}

/* Who besides root could write what st describes: everyone, the
 * guarded account through a group, or NULL.  (Its owner is looked at
 * by check_entry.) */
static const char *
writer(const struct walk *w, const struct stat *st, char *buf, size_t len)
{
	if (st->st_mode & S_IWOTH)
		return "everyone";
	if (guarded(w) && (st->st_mode & S_IWGRP) &&
	    safedir_owner_in_group(w->r->o, st->st_gid)) {
		snprintf(buf, len, "user %s (through group %ld)",
		    w->r->o->name, (long)st->st_gid);
		return buf;
	}
	return NULL;
}

/* Is a (clean, absolute) inside folder b, or b itself when or_equal? */
static bool
within(const char *a, const char *b, bool or_equal)
{
	size_t n = strlen(b);

	if (n == 1 && b[0] == '/')
		return or_equal || a[1] != '\0';
	if (strncmp(a, b, n) != 0)
		return false;
	return a[n] == '/' || (or_equal && a[n] == '\0');
}

/* The account's own folders: nothing root reads may lie in them or be
 * reached through them.  Passing through one on the way back up ("..")
 * is harmless, so only `final` counts the folder itself. */
static int
check_apart(struct walk *w, bool final)
{
	for (size_t i = 0; i < w->r->n_apart; i++) {
		const char *name = w->r->apart[i].name;

		if (!within(w->at, w->r->apart[i].path, final))
			continue;
		if (strcmp(w->at, w->r->apart[i].path) == 0)
			return walk_fail(w, -2, "%.200s is %s, the daemon's "
			    "user's folder: keep what root reads out of it",
			    w->at, name);
		return walk_fail(w, -2, "%.200s is inside %s, the daemon's "
		    "user's folder: keep what root reads out of it", w->at,
		    name);
	}
	return 0;
}

/* Every entry met, links included. */
static int
check_entry(struct walk *w, const struct stat *st)
{
	if (guarded(w) && st->st_uid == w->r->o->uid)
		return walk_fail(w, -2, "%.200s is owned by %s, the daemon's "
		    "user: it could change what root reads", w->at,
		    w->r->o->name);
	return check_apart(w, false);
}

/* A folder about to be looked into: can anyone but root change which
 * entry a name is?  The sticky bit leaves that to the entry's owner,
 * whom check_entry holds to the rules. */
static int
check_folder(struct walk *w)
{
	char buf[96];
	const char *who = writer(w, &w->st, buf, sizeof(buf));

	if (who != NULL && !(w->st.st_mode & S_ISVTX))
		return walk_fail(w, -2, "%.200s is writable by %s: it could "
		    "change what root reads", w->at, who);
	return 0;
}

/* The file or folder itself: nobody may rewrite it (for a folder, add
 * entries, sticky or not: a CA folder would gain a trust anchor). */
static int
check_final(struct walk *w)
{
	char buf[96];
	const char *who = writer(w, &w->st, buf, sizeof(buf));

	if (who != NULL)
		return walk_fail(w, -2, "%.200s is writable by %s: it could "
		    "change what root reads", w->at, who);
	return check_apart(w, true);
}

static int
at_push(struct walk *w, const char *name)
{
	size_t len = strlen(w->at);
	int n = snprintf(w->at + len, sizeof(w->at) - len, "%s%s",
	    len > 1 ? "/" : "", name);

	if (n < 0 || (size_t)n >= sizeof(w->at) - len)
		return walk_errno(w, w->at, ENAMETOOLONG);
	return 0;
}

static void
at_pop(struct walk *w)
{
	char *slash = strrchr(w->at, '/');

	if (slash != NULL)
		slash[slash == w->at ? 1 : 0] = '\0';
}

/* The next component of w->rest into name, and whether it was the last;
 * 0 when nothing is left. */
static int
rest_take(struct walk *w, char *name, size_t len, bool *last)
{
	char *p = w->rest;
	size_t n;

	p += strspn(p, "/");
	n = strcspn(p, "/");
	if (n == 0)
		return 0;
	if (n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(name, p, n);
	name[n] = '\0';
	p += n;
	*last = p[strspn(p, "/")] == '\0';
	memmove(w->rest, p, strlen(p) + 1);
	return 1;
}

static int
walk_root(struct walk *w)
{
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &w->st) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return walk_errno(w, "/", e);
	}
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	snprintf(w->at, sizeof(w->at), "/");
	return 0;
}

static int
walk_up(struct walk *w)
{
	int fd;

	if (strcmp(w->at, "/") == 0)
		return 0;
	fd = openat(w->fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return walk_errno(w, w->at, errno);
	close(w->fd);
	w->fd = fd;
	at_pop(w);
	if (fstat(fd, &w->st) < 0)
		return walk_errno(w, w->at, errno);
	return 0;
}

/* The link name (already in w->at, and checked) of the folder in hand:
 * its target goes in front of what is left. */
static int
walk_follow(struct walk *w, const char *name)
{
	char target[PATH_MAX], joined[PATH_MAX];
	ssize_t n;
	int len;

	if (++w->links > ROOTFILE_LINKS_MAX)
		return walk_errno(w, w->at, ELOOP);
	n = readlinkat(w->fd, name, target, sizeof(target));
	if (n < 0)
		return walk_errno(w, w->at, errno);
	if ((size_t)n >= sizeof(target))
		return walk_errno(w, w->at, ENAMETOOLONG);
	target[n] = '\0';
	len = snprintf(joined, sizeof(joined), "%s/%s", target, w->rest);
	if (len < 0 || (size_t)len >= sizeof(joined))
		return walk_errno(w, w->at, ENAMETOOLONG);
	memcpy(w->rest, joined, (size_t)len + 1);
	at_pop(w);
	return target[0] == '/' ? walk_root(w) : 0;
}

/* One component below the folder in hand. */
static int
walk_step(struct walk *w, const char *name, bool last)
{
	struct stat lst, st;
	int fd, rc;

	if ((rc = check_folder(w)) < 0)
		return rc;
	if (at_push(w, name) < 0)
		return -1;
	if (fstatat(w->fd, name, &lst, AT_SYMLINK_NOFOLLOW) < 0)
		return walk_errno(w, w->at, errno);
	if ((rc = check_entry(w, &lst)) < 0)
		return rc;
	if (S_ISLNK(lst.st_mode))
		return walk_follow(w, name);
	if (!S_ISDIR(lst.st_mode) && !last)
		return walk_errno(w, w->at, ENOTDIR);
	if (!S_ISDIR(lst.st_mode) && !S_ISREG(lst.st_mode))
		return walk_fail(w, -2, "%.200s is not a regular file", w->at);
	fd = openat(w->fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK | (S_ISDIR(lst.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0)
		return walk_errno(w, w->at, errno);
	if (fstat(fd, &st) < 0 || st.st_dev != lst.st_dev ||
	    st.st_ino != lst.st_ino) {
		close(fd);
		return walk_fail(w, -2, "%.200s changed while it was opened",
		    w->at);
	}
	close(w->fd);
	w->fd = fd;
	w->st = st;
	return 0;
}

static int
walk_all(struct walk *w)
{
	char name[NAME_MAX + 1];
	bool last = false;
	int more, rc;

	if (walk_root(w) < 0)
		return -1;
	while ((more = rest_take(w, name, sizeof(name), &last)) > 0) {
		if (!S_ISDIR(w->st.st_mode))
			return walk_errno(w, w->at, ENOTDIR);
		if (strcmp(name, ".") == 0)
			continue;
		rc = strcmp(name, "..") == 0 ? walk_up(w) :
		    walk_step(w, name, last);
		if (rc < 0)
			return rc;
	}
	if (more < 0)
		return walk_errno(w, w->rest, ENAMETOOLONG);
	return check_final(w);
}

int
rootfile_open(const char *path, const struct rootfile_rules *r,
    char *real, size_t reallen, char *err, size_t errlen)
{
	struct walk w = { .r = r, .fd = -1, .err = err, .errlen = errlen };
	int rc, fd;

	if (errlen > 0)
		err[0] = '\0';
	if (path[0] != '/')
		return walk_fail(&w, -2, "%.200s is not an absolute path",
		    path);
	if (strlen(path) >= sizeof(w.rest)) {
		walk_fail(&w, -1, "path too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(w.rest, path, strlen(path) + 1);
	rc = walk_all(&w);
	if (rc < 0) {
		int e = errno;

		if (w.fd >= 0)
			close(w.fd);
		errno = e;
		return rc;
	}
	fd = w.fd;
	if (real != NULL && reallen > 0 &&
	    snprintf(real, reallen, "%s", w.at) >= (int)reallen)
		real[0] = '\0';
	return fd;
}
