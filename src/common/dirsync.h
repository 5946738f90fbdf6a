/*
 * Group commit of directory entries: threads that each renamed (or
 * created, or unlinked) a name in a folder and must know it is durable
 * share one fsync(2) of that folder instead of making one each.
 *
 * The rule: dirsync_sync() returns once an fsync of the folder that
 * STARTED after the call began has completed, and returns that fsync's
 * result.  A caller that arrives while an fsync is in flight waits for
 * the next one (the one in flight may have started before its rename);
 * the first caller to find no fsync running becomes the leader and
 * fsyncs for every caller queued so far.  An fsync error fails exactly
 * the callers that fsync covered, each with its errno; later callers get
 * a fresh fsync of their own.
 *
 * One struct dirsync may serve many folders: callers name theirs by a
 * key (its device and inode), and a leader covers only callers of its
 * own key.  Blocking: for worker threads only.  No caller waits for work
 * that is not already running, so a pool of any size cannot starve.
 */
#ifndef DECORUM_COMMON_DIRSYNC_H
#define DECORUM_COMMON_DIRSYNC_H

#include <stdint.h>

struct dirsync;

struct dirsync_key {
	uint64_t dev, ino;
};

/* fsync_fn: how to sync a folder (NULL: fsync(2)); 0 or -1 with errno.
 * The unit tests count and fail syncs through it. */
struct dirsync *dirsync_new(int (*fsync_fn)(int fd, void *arg), void *arg);
void dirsync_free(struct dirsync *ds);

/* The key of an open folder (fstat); -1 with errno. */
int dirsync_key_of(int fd, struct dirsync_key *key);

/* Call after the change in the folder fd (whose key is key) is made:
 * 0 once it is durable, or -1 with the errno of the fsync that covered
 * it.  Blocks the calling thread. */
int dirsync_sync(struct dirsync *ds, int fd, const struct dirsync_key *key);

/*
 * Announced callers: a thread that will call dirsync_sync_expected()
 * soon (a commit still fsyncing its files) calls dirsync_expect() first.
 * A leader whose fsync would run while announced callers are still on
 * their way waits for them to queue, for at most lead_wait_ns (given to
 * dirsync_set_lead_wait; 0, the default, never waits), so that one
 * fsync covers the whole group that was in flight together.  A caller
 * that announced itself and then does not come (an error) calls
 * dirsync_unexpect().  The waiting only ever moves the fsync later, so
 * the rule above holds unchanged; the timeout keeps a slow announced
 * caller from holding the others up for longer than that.
 */
void dirsync_set_lead_wait(struct dirsync *ds, long lead_wait_ns);
void dirsync_expect(struct dirsync *ds);
void dirsync_unexpect(struct dirsync *ds);
int dirsync_sync_expected(struct dirsync *ds, int fd,
    const struct dirsync_key *key);

/* Callers waiting for an fsync not yet started; fsyncs made so far. */
void dirsync_stats(struct dirsync *ds, unsigned *waiting,
    uint64_t *count);

#endif
