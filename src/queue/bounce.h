/*
 * Queuing the bounce of a finished message: one RFC 3464 report (dsn.h)
 * for all its failed recipients, to its envelope sender, or to the
 * postmaster when that sender was <> (a bounce that bounced).  Blocking
 * (reads the data, fsyncs the new message): call it in a worker thread.
 */
#ifndef DECORUM_QUEUE_BOUNCE_H
#define DECORUM_QUEUE_BOUNCE_H

#include <stddef.h>

struct spool;
struct queue_file;

enum bounce_result {
	BOUNCE_QUEUED,		/* report durably queued: new_id, to filled */
	BOUNCE_NONE,		/* no report is due (see why) */
	BOUNCE_ERROR,		/* could not compose or queue it (see why) */
};

struct bounce_out {
	char new_id[32];
	char to[520];
	char why[256];
};

/*
 * qf: the finished message (its id, envelope and statuses).  hostname:
 * our FQDN.  postmaster: the configured postmaster address (NULL or ""
 * for none).  No report is due when the message has no failed recipient,
 * or when its sender is <> and either there is no postmaster or the
 * postmaster is itself a failed recipient (a loop).
 */
enum bounce_result bounce_queue(struct spool *sp, const struct queue_file *qf,
    const char *hostname, const char *postmaster, struct bounce_out *out);

#endif
