/*
 * The forwarded copy of a message (docs/queue.md, "Forwarding"): the
 * destinations of an attempt that are forwards (attempt_dest.forward)
 * are not delivered in place.  One new message is queued for all of
 * them, from the sender the plan chose (attempt.fwd_sender, SRS or
 * kept), its data one "Delivered-To: <recipient>" per original
 * recipient that reached a target, then the original data unchanged.
 * Internal to the queue manager's worker side (attempt.c).
 */
#ifndef DECORUM_QUEUE_FORWARD_COPY_H
#define DECORUM_QUEUE_FORWARD_COPY_H

#include <stdint.h>

struct attempt;

/*
 * Blocking (spool writes and fsyncs): a worker thread's.  data_fd is the
 * message's open data, size octets (read with pread; -1 when
 * unreadable).  Targets
 * not yet settled are: handed over (a "D n target" record for each
 * recipient that reached them, once the copy is durable; the new id in
 * a->forward_id), or deferred with 4.3.0 when the copy could not be
 * queued (their d->done and d->res say so).  Returns -1 when a status
 * record could not be written: the attempt stops (a->outcome set).
 */
int forward_copy_queue(struct attempt *a, int data_fd, int64_t size);

#endif
