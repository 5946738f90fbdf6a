/*
 * Held messages: `decorum queue hold ID` parks a queued message in the
 * spool's hold/ folder, where the queue manager never looks (it loads
 * only from queue/); `decorum queue release ID` puts it back.  The spool
 * is the only channel: no message to the queue manager is needed to stop
 * a delivery, and the caller notifies it after a release.
 *
 * hold/<id> is the envelope with its status records, hold/<id>.data a
 * hard link to the message data.  spool_cleanup() leaves data/<id> alone
 * while hold/<id> exists, and hold and release take the spool lock, so
 * the cleanup never sees a message halfway between the two folders.
 * The steps and crash states are in docs/local-submission.md.  All calls
 * block (fsync, and the spool lock): CLI only.
 */
#ifndef DECORUM_QUEUE_SPOOL_HOLD_H
#define DECORUM_QUEUE_SPOOL_HOLD_H

#include <stddef.h>
#include <stdint.h>

struct spool;
struct queue_file;

#define SPOOL_HOLD_AREA		"hold"

/* queue/<id> -> hold/<id>.  0, or -1 with errno (ENOENT: not queued,
 * e.g. delivered meanwhile; EINVAL: not a queue id; EEXIST: another
 * message is held with that id, nothing changed). */
int spool_hold(struct spool *sp, const char *id);
/* hold/<id> -> queue/<id>.  0, or -1 with errno (ENOENT: not held;
 * EEXIST: another message with that id is queued, failed or corrupt,
 * nothing changed). */
int spool_release(struct spool *sp, const char *id);
/* Removes a held message.  0, or -1 with errno (ENOENT: not held). */
int spool_hold_delete(struct spool *sp, const char *id);
/* Sorted ids of held messages (spool_list_free() frees them); 0 or -1. */
int spool_hold_list(struct spool *sp, char ***ids, size_t *n);
/* As spool_load() for a held message: 0, -1 (errno), -2 corrupt. */
int spool_hold_load(struct spool *sp, const char *id, struct queue_file *qf,
    char *err, size_t errlen);
/* Size of a held message's data, -1 on error. */
int64_t spool_hold_data_size(struct spool *sp, const char *id);

#endif
