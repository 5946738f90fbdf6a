/*
 * `decorum user add [--no-login]|passwd|del USER@DOMAIN`: edit a domain's
 * users file (local:HASH lines, see docs/configuration.md).
 *
 * Run by the operator, usually as root.  The password comes from stdin:
 * one line when stdin is not a terminal (scripts), else prompted twice
 * with echo off.  Hashes are yescrypt (password_hash).  The file is
 * rewritten atomically — temp file, fsync, rename, fsync of the folder —
 * under an flock on <domain>/.lock, so the daemon (which re-reads the file
 * when it changes) only ever sees the old or the new version, and two
 * concurrent `user` commands cannot lose each other's change.  Mode and
 * owner of an existing file are kept.  Passwords are wiped after use and
 * never printed or logged.  An international domain is found in its
 * folder whichever spelling (U-label or A-label) either uses.
 *
 * Trust: run as root, the command must not be steered by whoever can
 * write a domain folder.  The domain folder is opened with O_NOFOLLOW
 * below <domains>, and everything in it (.lock, users, the temporary
 * file, the rename, the fsync) is reached through that descriptor with
 * O_NOFOLLOW: a symbolic link planted as the folder, as .lock or as
 * users is refused, never followed to create, read or replace another
 * file.  Only regular files are read or locked (a FIFO cannot block
 * us).  The daemon and check-config refuse a domains tree that the
 * daemon's account could write at all (config_domains_check).
 *
 * Exit 0 on success, 1 on failure (message on stderr), 2 on usage errors.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "auth/password.h"
#include "cli/commands.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/xmalloc.h"
#include "route/domains.h"

#define USERS_FILE_MAX	(64 * 1024 * 1024)
#define PASSWORD_MAX	1024
#define HASH_MAX	512

enum user_op { USER_ADD, USER_PASSWD, USER_DEL };

/* One line from fd 0 without its newline.  -1 on EOF, error or a line
 * longer than PASSWORD_MAX. */
static int
user_read_line(char *out, size_t outlen)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return n > 0 ? 0 : -1;
		if (c == '\n')
			break;
		if (n + 1 >= outlen)
			return -1;
		out[n++] = c;
		out[n] = '\0';
	}
	out[n] = '\0';
	if (n > 0 && out[n - 1] == '\r')
		out[--n] = '\0';
	return 0;
}

static int
user_prompt(const char *prompt, char *out, size_t outlen)
{
	struct termios old, quiet;
	int rc;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) < 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) < 0)
		return -1;
	rc = user_read_line(out, outlen);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	return rc;
}

/* Read the password and hash it; the clear text never leaves here. */
static int
user_new_hash(char *hash, size_t hashlen)
{
	char *pw = xcalloc(1, PASSWORD_MAX + 1);
	char *again = xcalloc(1, PASSWORD_MAX + 1);
	int rc = -1;

	if (isatty(STDIN_FILENO)) {
		if (user_prompt("Password: ", pw, PASSWORD_MAX + 1) < 0 ||
		    user_prompt("Again: ", again, PASSWORD_MAX + 1) < 0) {
			fprintf(stderr, "decorum: cannot read the password\n");
			goto out;
		}
		if (strcmp(pw, again) != 0) {
			fprintf(stderr, "decorum: the passwords differ\n");
			goto out;
		}
	} else if (user_read_line(pw, PASSWORD_MAX + 1) < 0) {
		fprintf(stderr, "decorum: cannot read a password line "
		    "(at most %d octets) from stdin\n", PASSWORD_MAX);
		goto out;
	}
	if (pw[0] == '\0') {
		fprintf(stderr, "decorum: empty password (use user add "
		    "--no-login for a mailbox without login)\n");
		goto out;
	}
	if (password_hash(pw, hash, hashlen) < 0) {
		fprintf(stderr, "decorum: hashing the password failed\n");
		goto out;
	}
	rc = 0;
out:
	xfree_secret(pw, PASSWORD_MAX + 1);
	xfree_secret(again, PASSWORD_MAX + 1);
	return rc;
}

/* Why name (in folder, for messages) could not be opened: a symbolic
 * link is refused by name, not as "Too many levels of symbolic links". */
static void
user_open_error(const char *folder, const char *name, int err)
{
	if (err == ELOOP || err == EMLINK)
		fprintf(stderr, "decorum: %s/%s is a symbolic link: refused "
		    "(root follows no link in the domains tree)\n", folder,
		    name);
	else
		fprintf(stderr, "decorum: %s/%s: %s\n", folder, name,
		    strerror(err));
}

/* A regular file only: a FIFO or a device named like ours is not. */
static int
user_check_regular(int fd, const char *folder, const char *name,
    struct stat *st)
{
	if (fstat(fd, st) < 0) {
		user_open_error(folder, name, errno);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		fprintf(stderr, "decorum: %s/%s is not a regular file\n",
		    folder, name);
		return -1;
	}
	return 0;
}

/* The users file of the folder ffd (dir names it), read whole. */
static int
user_read_file(int ffd, const char *dir, struct buf *b, struct stat *st,
    bool *exists)
{
	char chunk[8192];
	int fd = openat(ffd, "users", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	ssize_t r;

	*exists = false;
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		user_open_error(dir, "users", errno);
		return -1;
	}
	*exists = true;
	if (user_check_regular(fd, dir, "users", st) < 0) {
		close(fd);
		return -1;
	}
	while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || buf_append(b, chunk, (size_t)r) < 0) {
			fprintf(stderr, "decorum: %s/users: %s\n", dir, r < 0 ?
			    strerror(errno) : "file too large");
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

/* Does this users line define local (case-insensitively)? */
static bool
user_line_is(const char *line, size_t len, const char *local)
{
	size_t l = strlen(local);

	return len > l && line[l] == ':' && strncasecmp(line, local, l) == 0;
}

/* The new file image: old lines with the user's line replaced, removed
 * or appended.  Returns 0, or 1 when the op does not fit the file
 * (user exists for add, missing for passwd/del). */
static int
user_edit(const struct buf *old, struct buf *out, enum user_op op,
    const char *local, const char *hash)
{
	bool found = false;
	size_t pos = 0;

	while (pos < old->len) {
		const char *s = old->data + pos;
		const char *nl = memchr(s, '\n', old->len - pos);
		size_t len = nl != NULL ? (size_t)(nl - s) : old->len - pos;

		pos += len + (nl != NULL);
		if (!found && user_line_is(s, len, local)) {
			found = true;
			if (op == USER_DEL)
				continue;
			if (op == USER_PASSWD) {
				/* Keep Dovecot extra fields after the hash. */
				const char *rest = memchr(s + strlen(local) + 1,
				    ':', len - strlen(local) - 1);

				buf_printf(out, "%s:%s", local, hash);
				if (rest != NULL)
					buf_append(out, rest,
					    len - (size_t)(rest - s));
				buf_append(out, "\n", 1);
				continue;
			}
		}
		buf_append(out, s, len);
		if (buf_append(out, "\n", 1) < 0)
			return -1;
	}
	if (op == USER_ADD) {
		if (found)
			return 1;
		if (buf_printf(out, "%s:%s\n", local, hash) < 0)
			return -1;
		return 0;
	}
	return found ? 0 : 1;
}

/* Replace the users file of the folder ffd (dir names it) by b: a
 * temporary file, fsync, rename, fsync of the folder, all through ffd. */
static int
user_write_file(int ffd, const char *dir, const struct buf *b,
    const struct stat *st, bool exists, gid_t group)
{
	char tmp[64];
	int fd, rc = -1;
	size_t off = 0;

	snprintf(tmp, sizeof(tmp), ".users.tmp.%ld", (long)getpid());
	/* We hold the lock: a file of this name is a crashed run's. */
	if (unlinkat(ffd, tmp, 0) < 0 && errno != ENOENT) {
		user_open_error(dir, tmp, errno);
		return -1;
	}
	/* O_EXCL: a link of that name is never followed either. */
	fd = openat(ffd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0640);
	if (fd < 0) {
		user_open_error(dir, tmp, errno);
		return -1;
	}
	if (exists) {
		if (fchmod(fd, st->st_mode & 07777) < 0 ||
		    (fchown(fd, st->st_uid, st->st_gid) < 0 && errno != EPERM))
			goto fail;
	} else if (group != (gid_t)-1) {
		/* The unprivileged daemon reads the table through its group;
		 * nobody else may read the hashes. */
		if (fchown(fd, (uid_t)-1, group) < 0 && errno != EPERM)
			goto fail;
	}
	while (off < b->len) {
		ssize_t w = write(fd, b->data + off, b->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	/* The rename replaces the name "users", link or not, in this very
	 * folder; then the rename itself must survive a crash. */
	if (renameat(ffd, tmp, ffd, "users") < 0 || fsync(ffd) < 0)
		goto fail;
	rc = 0;
fail:
	if (rc < 0) {
		fprintf(stderr, "decorum: writing %s/users: %s\n", dir,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		unlinkat(ffd, tmp, 0);
	}
	return rc;
}

/* Does <domains>/name exist as a folder?  1, 0, or -1 (printed).  A
 * symbolic link counts as there (it is refused when opened), so the
 * other spelling is not created beside it. */
static int
user_folder_exists(const struct config *cfg, const char *name)
{
	char *path = xasprintf("%s/%s", cfg->domains, name);
	struct stat st;
	int r = 1;

	if (lstat(path, &st) < 0) {
		r = errno == ENOENT || errno == ENOTDIR ? 0 : -1;
		if (r < 0)
			fprintf(stderr, "decorum: %s: %s\n", path,
			    strerror(errno));
	} else if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) {
		r = 0;
	}
	free(path);
	return r;
}

/*
 * The domain's folder name (docs/configuration.md, domain folders): the
 * existing folder, in the A-label or the U-label spelling; else, to be
 * created, the U-label spelling when the address was written with
 * non-ASCII letters and the A-label one otherwise (both lower case).
 * 0, or -1 (printed): no valid domain, or two folders for it.
 */
static int
user_folder(const struct config *cfg, const char *domain,
    char *out, size_t outlen)
{
	char canon[SMTP_DOMAIN_MAX + 1], ulabel[DOMAINS_UNICODE_MAX + 1];
	int a, u = 0;
	bool ascii = true;

	for (const char *p = domain; *p != '\0'; p++)
		ascii = ascii && (unsigned char)*p < 0x80;
	if (domains_canon(domain, canon) < 0 ||
	    domains_unicode(canon, ulabel, sizeof(ulabel)) < 0) {
		fprintf(stderr, "decorum: \"%s\" is not a valid domain name "
		    "(IDNA2008)\n", domain);
		return -1;
	}
	if ((a = user_folder_exists(cfg, canon)) < 0 ||
	    (strcmp(ulabel, canon) != 0 &&
	    (u = user_folder_exists(cfg, ulabel)) < 0))
		return -1;
	if (a == 1 && u == 1) {
		fprintf(stderr, "decorum: %s/%s and %s/%s are the same domain: "
		    "keep one\n", cfg->domains, canon, cfg->domains, ulabel);
		return -1;
	}
	snprintf(out, outlen, "%s", a == 1 ? canon : u == 1 || !ascii ?
	    ulabel : canon);
	return 0;
}

/*
 * The domain folder, opened below <domains> without following a link
 * (created first for add).  Returns its descriptor, or -1 (printed).
 * <domains> itself is the configured path, checked by check-config and
 * the daemon (config_domains_check); the folders in it are not.
 */
static int
user_open_folder(const struct config *cfg, enum user_op op, const char *name,
    const char *dir)
{
	int dfd, ffd;

	if (op == USER_ADD && mkdir(cfg->domains, 0755) < 0 &&
	    errno != EEXIST) {
		fprintf(stderr, "decorum: %s: %s\n", cfg->domains,
		    strerror(errno));
		return -1;
	}
	dfd = open(cfg->domains, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		fprintf(stderr, "decorum: %s: %s\n", cfg->domains,
		    errno == ENOENT ? "no such domain" : strerror(errno));
		return -1;
	}
	if (op == USER_ADD && mkdirat(dfd, name, 0755) == 0) {
		printf("created domain folder %s\n", dir);
	} else if (op == USER_ADD && errno != EEXIST) {
		fprintf(stderr, "decorum: %s: %s\n", dir, strerror(errno));
		close(dfd);
		return -1;
	}
	ffd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (ffd < 0 && errno == ENOENT) {
		fprintf(stderr, "decorum: %s: no such domain\n", dir);
	} else if (ffd < 0 && errno == ENOTDIR) {
		/* O_DIRECTORY | O_NOFOLLOW on a link: ENOTDIR, not ELOOP. */
		struct stat st;

		if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			user_open_error(cfg->domains, name, ELOOP);
		else
			fprintf(stderr, "decorum: %s is not a folder\n", dir);
	} else if (ffd < 0) {
		user_open_error(cfg->domains, name, errno);
	}
	close(dfd);
	return ffd;
}

/* Take the lock of the folder ffd: .lock, a regular file, never a link. */
static int
user_lock(int ffd, const char *dir)
{
	struct stat st;
	int lfd = openat(ffd, ".lock", O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);

	if (lfd < 0) {
		user_open_error(dir, ".lock", errno);
		return -1;
	}
	if (user_check_regular(lfd, dir, ".lock", &st) < 0) {
		close(lfd);
		return -1;
	}
	if (flock(lfd, LOCK_EX) < 0) {
		user_open_error(dir, ".lock", errno);
		close(lfd);
		return -1;
	}
	return lfd;
}

static int
user_apply(const struct config *cfg, enum user_op op, bool no_login,
    const char *local, const char *domain)
{
	char *dir = xasprintf("%s/%s", cfg->domains, domain);
	char hash[HASH_MAX] = "";
	struct buf old, out;
	struct stat st;
	struct passwd *pw;
	gid_t group = (gid_t)-1;
	bool exists;
	int ffd, lfd = -1, rc = 1, r;

	buf_init(&old, USERS_FILE_MAX);
	buf_init(&out, USERS_FILE_MAX + HASH_MAX);
	if ((ffd = user_open_folder(cfg, op, domain, dir)) < 0 ||
	    (lfd = user_lock(ffd, dir)) < 0)
		goto out;
	if (user_read_file(ffd, dir, &old, &st, &exists) < 0)
		goto out;
	/* Check before asking for a password nobody will use. */
	if (user_edit(&old, &out, op, local, "x") == 1) {
		fprintf(stderr, "decorum: %s@%s: %s\n", local, domain,
		    op == USER_ADD ? "user already exists" : "no such user");
		goto out;
	}
	buf_reset(&out);
	if (op != USER_DEL && !no_login &&
	    user_new_hash(hash, sizeof(hash)) < 0)
		goto out;
	r = user_edit(&old, &out, op, local, hash);
	if (r != 0) {
		fprintf(stderr, "decorum: %s/users: cannot edit\n", dir);
		goto out;
	}
	if (cfg->user != NULL && (pw = getpwnam(cfg->user)) != NULL)
		group = pw->pw_gid;
	if (user_write_file(ffd, dir, &out, &st, exists, group) < 0)
		goto out;
	printf("%s %s@%s\n", op == USER_ADD ? "added" : op == USER_DEL ?
	    "deleted" : "changed the password of", local, domain);
	rc = 0;
out:
	explicit_bzero(hash, sizeof(hash));
	if (lfd >= 0)
		close(lfd);
	if (ffd >= 0)
		close(ffd);
	buf_free(&old);
	buf_free(&out);
	free(dir);
	return rc;
}

int
cmd_user(const char *config_path, int argc, char **argv)
{
	char local[SMTP_LOCAL_PART_MAX + 1], domain[SMTP_DOMAIN_MAX + 1];
	char folder[DOMAINS_UNICODE_MAX + 1];
	struct config cfg;
	struct config_error err;
	bool no_login = false;
	enum user_op op;
	const char *addr, *at;
	int rc;

	if (argc == 4 && strcmp(argv[1], "add") == 0 &&
	    strcmp(argv[2], "--no-login") == 0) {
		no_login = true;
		addr = argv[3];
	} else if (argc == 3) {
		addr = argv[2];
	} else {
		goto usage;
	}
	if (strcmp(argv[1], "add") == 0)
		op = USER_ADD;
	else if (strcmp(argv[1], "passwd") == 0)
		op = USER_PASSWD;
	else if (strcmp(argv[1], "del") == 0)
		op = USER_DEL;
	else
		goto usage;
	at = strrchr(addr, '@');
	if (at == NULL || (size_t)(at - addr) > SMTP_LOCAL_PART_MAX ||
	    strlen(at + 1) > SMTP_DOMAIN_MAX) {
		fprintf(stderr, "decorum: \"%s\" is not USER@DOMAIN\n", addr);
		return 1;
	}
	snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
	snprintf(domain, sizeof(domain), "%s", at + 1);
	for (char *p = local; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	for (char *p = domain; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!domains_valid_local(local) || !domains_valid_domain(domain)) {
		fprintf(stderr, "decorum: \"%s\" is not USER@DOMAIN (a user "
		    "name has no spaces, quotes, ':', '/', ',' or '#', and "
		    "does not start with '.')\n", addr);
		return 1;
	}
	if (config_load_unprivileged(config_path, &cfg, &err) < 0) {
		config_error_print(&err);
		return 1;
	}
	if (user_folder(&cfg, domain, folder, sizeof(folder)) < 0)
		rc = 1;
	else
		rc = user_apply(&cfg, op, no_login, local, folder);
	config_free(&cfg);
	return rc;
usage:
	fprintf(stderr, "usage: decorum [-c FILE] user add [--no-login]|"
	    "passwd|del USER@DOMAIN\n");
	return 2;
}
