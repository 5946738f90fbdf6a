/*
 * Removing stale files from Maildir tmp/ folders (maildir_tmp.h).
 *
 * Called by the Maildir agent (maildir.c), in the queue manager's worker
 * threads, for the mailbox it is about to deliver to: the sweep rides on
 * a delivery, costs one readdir of a folder that is nearly always empty,
 * and happens at most once per mailbox per MAILDIR_TMP_SWEEP_INTERVAL, so
 * no event loop and no extra timer is involved, and mailboxes that get no
 * mail are never looked at (nothing new can be left in them either).
 * Which mailboxes were swept when is kept in a fixed table of
 * MAILDIR_TMP_SLOTS slots indexed by a hash of the folder's path, behind
 * a mutex: memory is bounded, and a mailbox whose slot another one took
 * is only swept again early.
 * Trusts: the folder path (built by maildir.c from routing); nothing in
 * tmp/: entries are looked at with lstat semantics and unlinked relative
 * to the open folder, only regular files, at most MAILDIR_TMP_SCAN_MAX
 * entries per sweep, so one sweep costs a bounded time.  Limit: readdir
 * gives the same order every time, so a tmp/ whose first
 * MAILDIR_TMP_SCAN_MAX entries stay (young files, folders, links: only
 * the mailbox's owner can make them) hides the rest from every sweep.
 * The stale files among the first ones are removed sweep after sweep
 * and the window moves on; one that never moves is logged at each
 * sweep (event=maildir-tmp-limit), for the operator to look at.
 */
#include "deliver/maildir_tmp.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"

struct sweep_slot {
	uint64_t hash;		/* of the folder's path; 0: unused */
	int64_t when;		/* last sweep */
};

static struct sweep_slot maildir_tmp_slots[MAILDIR_TMP_SLOTS];
static pthread_mutex_t maildir_tmp_lock = PTHREAD_MUTEX_INITIALIZER;

/* Never 0, which marks a free slot. */
static uint64_t
path_hash(const char *s)
{
	uint64_t h = hash_str(s);

	return h != 0 ? h : 1;
}

bool
maildir_tmp_due(const char *box, int64_t now)
{
	uint64_t h = path_hash(box);
	struct sweep_slot *s = &maildir_tmp_slots[h % MAILDIR_TMP_SLOTS];
	bool due;

	pthread_mutex_lock(&maildir_tmp_lock);
	/* A clock that went back makes the mailbox due at once. */
	due = s->hash != h || now < s->when ||
	    now - s->when >= MAILDIR_TMP_SWEEP_INTERVAL;
	if (due) {
		s->hash = h;
		s->when = now;
	}
	pthread_mutex_unlock(&maildir_tmp_lock);
	return due;
}

/*
 * Removes tmp/name if it is a regular file max_age old; true if it did.
 * Its age is by ctime: a mail reader that saves through tmp/ (Dovecot,
 * offlineimap) sets the file's mtime to the message's date with utime()
 * before it renames the file into new/ or cur/, so a file being saved
 * right now can have an mtime of last year; the ctime is the last change
 * of the inode, which utime() itself sets to now and no process can set
 * back.  Dovecot's own tmp/ cleanup looks at ctime for the same reason.
 */
static bool
sweep_one(int dfd, const char *box, const char *name, int64_t now,
    int64_t max_age)
{
	char path[PATH_MAX], safe[1024];
	struct stat st;
	int64_t age;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return false;
	age = now - (int64_t)st.st_ctime;
	if (age < max_age || unlinkat(dfd, name, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "%s/tmp/%s", box, name);
	log_info("event=maildir-tmp-removed file=\"%s\" age=%lld",
	    log_safe(path, safe, sizeof(safe)), (long long)age);
	return true;
}

unsigned
maildir_tmp_sweep(const char *box, int64_t now, int64_t max_age,
    unsigned max_entries)
{
	char tmp[PATH_MAX], safe[1024];
	struct dirent *de;
	unsigned removed = 0, seen = 0;
	DIR *d;
	int dfd;

	if (snprintf(tmp, sizeof(tmp), "%s/tmp", box) >= (int)sizeof(tmp))
		return 0;
	dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return 0;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' && (de->d_name[1] == '\0' ||
		    (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (seen == max_entries) {
			/* More than one sweep looks at: say so. */
			log_warn("event=maildir-tmp-limit dir=\"%s\" "
			    "entries=%u removed=%u", log_safe(tmp, safe,
			    sizeof(safe)), seen, removed);
			break;
		}
		seen++;
		removed += sweep_one(dirfd(d), box, de->d_name, now, max_age);
	}
	closedir(d);
	return removed;
}
