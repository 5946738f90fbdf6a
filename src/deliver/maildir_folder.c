/*
 * Making a Maildir++ folder inside a mailbox (maildir_folder.h), for
 * the Maildir agent (maildir.c) in a queue manager worker thread.
 *
 * The mailbox itself is reached as the agent reaches it (by path: an
 * operator may link a mailbox elsewhere on purpose).  Inside it, every
 * entry we make is made and looked at relative to its open parent, and
 * never through a symbolic link (O_NOFOLLOW, fstatat with
 * AT_SYMLINK_NOFOLLOW): whoever can write the mailbox must not be able
 * to send our files, or a chmod of ours, somewhere else.  Each parent is
 * fsync'd once when something was added to it, so a crash leaves either
 * no folder or a whole one with the message in it.
 * Trusts: box (built by maildir.c from routing); not folder (checked
 * again here), nothing found on disk.
 */
#include "deliver/maildir_folder.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool
maildir_folder_name_ok(const char *folder)
{
	return folder[0] == '.' && folder[1] != '\0' &&
	    strcmp(folder, "..") != 0 && strchr(folder, '/') == NULL &&
	    strlen(folder) <= 255;
}

/* mkdirat that is happy when a real folder is there already (not a
 * link to one); *made tells whether the parent changed. */
static int
subdir_make(int dfd, const char *name, bool *made)
{
	struct stat st;

	if (mkdirat(dfd, name, 0700) == 0) {
		*made = true;
		return 0;
	}
	if (errno != EEXIST)
		return -1;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (S_ISLNK(st.st_mode)) {
		errno = ELOOP;
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* The empty marker file, made once; one already there is kept. */
static int
marker_make(int ffd, bool *made)
{
	int fd = openat(ffd, "maildirfolder",
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	*made = true;
	return close(fd);
}

/* The folder's insides, in the open folder ffd. */
static int
folder_fill(int ffd)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	bool made = false;

	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		if (subdir_make(ffd, subs[i], &made) < 0)
			return -1;
	if (marker_make(ffd, &made) < 0)
		return -1;
	return made ? fsync(ffd) : 0;
}

int
maildir_folder_make(const char *box, const char *folder, char *out,
    size_t outlen)
{
	bool made = false;
	int bfd, ffd = -1, rc = -1, saved;

	if (!maildir_folder_name_ok(folder)) {
		errno = EINVAL;
		return -1;
	}
	if (snprintf(out, outlen, "%s/%s", box, folder) >= (int)outlen) {
		errno = ENAMETOOLONG;
		return -1;
	}
	bfd = open(box, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (bfd < 0)
		return -1;
	if (subdir_make(bfd, folder, &made) == 0 &&
	    (!made || fsync(bfd) == 0)) {
		ffd = openat(bfd, folder,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ffd >= 0)
			rc = folder_fill(ffd);
	}
	saved = errno;
	if (ffd >= 0)
		close(ffd);
	close(bfd);
	errno = saved;
	return rc;
}
