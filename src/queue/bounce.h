/*
 * Queuing the bounce of a finished message: one RFC 3464 report (dsn.h)
 * for all its failed recipients, to its envelope sender, or to the
 * postmaster when that sender was <> (a bounce that bounced); and the
 * delay warning of a message still being retried.  Blocking (reads the
 * data, fsyncs the new message): call them in a worker thread.
 */
#ifndef DECORUM_QUEUE_BOUNCE_H
#define DECORUM_QUEUE_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
 * when it was judged unwanted (J: the BCP forbids a DSN for it), or when
 * its sender is <> and either there is no postmaster or the postmaster
 * is itself a failed recipient (a loop).
 */
enum bounce_result bounce_queue(struct spool *sp, const struct queue_file *qf,
    const char *hostname, const char *postmaster, struct bounce_out *out);

/*
 * The delay warning (RFC 3464 "Action: delayed") for qf's recipients that
 * are still pending, each with the status and text of its last W record
 * (4.0.0 without one), to the envelope sender.  retry_until: when the
 * queue will give up (Will-Retry-Until; 0 leaves it out).  BOUNCE_NONE
 * when the sender is <> (never a warning about a bounce), when the
 * message was judged unwanted (J), when nothing is
 * pending, or when qf->warned says a warning was already queued.  After
 * BOUNCE_QUEUED the caller appends "N <now>" to the queue file, so the
 * warning goes out once per message (twice at worst after a crash).
 */
enum bounce_result bounce_queue_delay(struct spool *sp,
    const struct queue_file *qf, const char *hostname, int64_t retry_until,
    struct bounce_out *out);

/* Longest Remote-MTA host name that bounce_parse_remote() returns. */
#define BOUNCE_MTA_MAX		255

/*
 * A remote failure text as the SMTP and LMTP clients write it:
 *   host NAME[IP] said: REPLY (in reply to CMD)
 * (alone, or after "..., last error: " as in a lifetime expiry).  true
 * with NAME in mta (a host name: letters, digits, '.', '-', '_', at most
 * BOUNCE_MTA_MAX octets) and REPLY in diag (it starts with a three-digit
 * SMTP code; cut to fit diaglen), for Remote-MTA: dns; NAME and
 * Diagnostic-Code: smtp; REPLY.  LMTP over a unix socket reads "host
 * /PATH[unix] said: ...": true with mta empty (a path is no DNS name).
 * false, both left empty, for any other text.  Pure: for the unit tests
 * too.
 */
bool bounce_parse_remote(const char *text, char *mta, size_t mtalen,
    char *diag, size_t diaglen);

#endif
