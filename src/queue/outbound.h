/*
 * The outbound scheduler: runs the queue manager's SMTP, relay and LMTP
 * deliveries on its event loop.
 *
 * The unit of work is a job: one message's recipients that share a
 * destination (a transport and its next hop: the recipient domain for
 * smtp, the host for relay and lmtp), sent in one transaction.  Jobs
 * wait in their destination's queue; each destination has at most
 * delivery.destination_concurrency connections, all destinations
 * together delivery.max_connections.  A connection that finishes a job
 * takes the next one of its destination (connection reuse, at most
 * delivery.connection_reuse_limit messages) or idles for
 * delivery.connection_cache_time.  At the total limit the slots go round:
 * a destination that wants a connection waits in line, each freed slot
 * goes to the next in line, and a connection gives its slot up after its
 * message instead of keeping it for its own backlog while a destination
 * with no connection (or two fewer) waits.
 * A destination none of whose hosts could be reached is backed off as a
 * whole (retry_min doubling up to retry_max, once per round of attempts):
 * its jobs are deferred without a connection until then, or until
 * `decorum queue flush`.
 */
#ifndef DECORUM_QUEUE_OUTBOUND_H
#define DECORUM_QUEUE_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>

#include "common/bounds.h"
#include "common/config.h"
#include "deliver/smtp_client.h"

struct event_base;
struct resolver;
struct outbound;
struct workpool;

/* RFC 5321 4.5.3.1.8: every server takes 100 recipients per message;
 * a job never holds more (the caller splits). */
#define OUTBOUND_RCPTS_MAX	100

struct outbound_job {
	/* Set by the caller. */
	const struct transport_conf *t;
	char *nexthop;			/* recipient domain (smtp), else NULL */
	struct smtp_client_msg msg;	/* its rcpts array is the caller's;
					 * data_dir/data_name name the data */
	void (*done)(void *arg, struct outbound_job *job);
	void *arg;
	/* Set before done(): where it went, for logs. */
	char relay[SMTP_DOMAIN_MAX + 64];
	char tls[32];
	/* Private to outbound.c. */
	struct outbound_job *next;
};

/* NULL and err filled when the TLS client context cannot be made.  io:
 * worker threads that read the message data ahead of the connections
 * (the caller's; it frees it after outbound_free). */
struct outbound *outbound_new(struct event_base *base,
    const struct config *cfg, struct resolver *res, struct workpool *io,
    char *err, size_t errlen);
/* Closes every connection; jobs still queued never complete (their
 * recipients stay pending in the spool and are retried after restart). */
void outbound_free(struct outbound *ob);

/* Queue a job; job->done runs exactly once, later, from the loop. */
void outbound_submit(struct outbound *ob, struct outbound_job *job);

/* Forget every destination's back-off (`decorum queue flush`). */
void outbound_flush(struct outbound *ob);

/* "smtp:example.com", "relay:[host]:587", "lmtp:unix:/path": jobs with
 * the same key share connections.  Written to out (size outlen). */
void outbound_dest_key(const struct transport_conf *t, const char *nexthop,
    char *out, size_t outlen);

#endif
