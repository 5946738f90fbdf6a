/*
 * The Maildir agent's memory (maildir_tree.h), shared by the queue
 * manager's delivery threads.
 *
 * Known mailboxes: a fixed table of MAILDIR_KNOWN_SLOTS hashes of box
 * paths behind a mutex, so memory is bounded and a mailbox whose slot
 * another took is only made again (mkdir, EEXIST) once.  Nothing is
 * trusted to it: a mailbox removed after it was remembered makes the
 * next open or rename fail with ENOENT, and maildir.c then forgets it
 * and makes the tree again before one retry.
 *
 * new/ folders: one dirsync for all of them, keyed by the folder's
 * device and inode, so deliveries to one mailbox at the same moment
 * share an fsync and deliveries to two never share one.  A delivery
 * announces itself before it writes (maildir_new_expect), so a leader
 * waits briefly for the copies still on their way; the wait counts all
 * folders' deliveries, bounded by MAILDIR_LEAD_WAIT_NS.
 */
#include "deliver/maildir_tree.h"

#include <fcntl.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "common/dirsync.h"
#include "common/hash.h"

static uint64_t maildir_known_slots[MAILDIR_KNOWN_SLOTS];
static pthread_mutex_t maildir_known_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t maildir_sync_once = PTHREAD_ONCE_INIT;
static struct dirsync *maildir_sync;

/* Never 0, which marks a free slot. */
static uint64_t
box_hash(const char *box)
{
	uint64_t h = hash_str(box);

	return h != 0 ? h : 1;
}

static uint64_t *
slot_of(uint64_t h)
{
	return &maildir_known_slots[h & (MAILDIR_KNOWN_SLOTS - 1)];
}

bool
maildir_known(const char *box)
{
	uint64_t h = box_hash(box);
	bool known;

	pthread_mutex_lock(&maildir_known_lock);
	known = *slot_of(h) == h;
	pthread_mutex_unlock(&maildir_known_lock);
	return known;
}

void
maildir_known_add(const char *box)
{
	uint64_t h = box_hash(box);

	pthread_mutex_lock(&maildir_known_lock);
	*slot_of(h) = h;
	pthread_mutex_unlock(&maildir_known_lock);
}

void
maildir_known_forget(const char *box)
{
	uint64_t h = box_hash(box);

	pthread_mutex_lock(&maildir_known_lock);
	if (*slot_of(h) == h)
		*slot_of(h) = 0;
	pthread_mutex_unlock(&maildir_known_lock);
}

/* How long a new/ fsync waits for deliveries still writing their file:
 * about two file fsyncs of a slow disk (spool.c's commits wait as long). */
#define MAILDIR_LEAD_WAIT_NS	2000000L

static void
sync_init(void)
{
	maildir_sync = dirsync_new(NULL, NULL);
	dirsync_set_lead_wait(maildir_sync, MAILDIR_LEAD_WAIT_NS);
}

void
maildir_new_expect(void)
{
	pthread_once(&maildir_sync_once, sync_init);
	dirsync_expect(maildir_sync);
}

void
maildir_new_unexpect(void)
{
	dirsync_unexpect(maildir_sync);
}

int
maildir_new_sync(const char *dir)
{
	struct dirsync_key key;
	char path[PATH_MAX];
	int fd, rc, saved;

	if (snprintf(path, sizeof(path), "%s/new", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		maildir_new_unexpect();
		return -1;
	}
	rc = dirsync_key_of(fd, &key);
	if (rc == 0)
		rc = dirsync_sync_expected(maildir_sync, fd, &key);
	else
		maildir_new_unexpect();
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}
