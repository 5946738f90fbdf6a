/*
 * Internals shared by the outbound scheduler's files; not for other
 * modules (they use outbound.h).
 *
 *   outbound.c        the public API (outbound_new, _free, _submit,
 *                     _flush, _dest_key), the jobs, the destinations:
 *                     their waiting jobs, failing them, back-off, whether
 *                     one wants another connection, dest_kick(); the
 *                     sweep of unused destinations; the TLS client
 *                     contexts
 *   outbound_slot.c   a connection slot's life: its start, the plan (MX
 *                     lookup, or an lmtp:unix: socket), the addresses
 *                     tried in order, connecting (the TLS context and
 *                     source address), ready, done, lost, carrying the
 *                     next job, idling, giving up, its end
 *   outbound_share.c  sharing delivery.max_connections between the
 *                     destinations: the line of those that want a
 *                     connection, the idle connections, line_grant()
 *
 * The shared names say where they live: job_ and dest_ in outbound.c,
 * slot_ in outbound_slot.c, line_ and idle_ in outbound_share.c; the
 * outbound_ names of outbound.h are the public API.  Everything here
 * runs on the qmgr's loop thread.
 */
#ifndef DECORUM_QUEUE_OUTBOUND_PRIV_H
#define DECORUM_QUEUE_OUTBOUND_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <openssl/ssl.h>

#include "common/bounds.h"
#include "common/config.h"
#include "deliver/agent.h"
#include "queue/outbound.h"

struct dest;
struct event;
struct event_base;
struct mx_lookup;
struct mx_result;
struct resolver;
struct smtp_conn;
struct workpool;

/* One connection slot of a destination: counted against its
 * destination_concurrency and max_connections from the MX lookup until
 * the connection is closed.  (Not the smtpd's struct session: that is
 * the other end of a connection, in another process.) */
struct conn_slot {
	struct outbound *ob;
	struct dest *d;
	struct mx_lookup *lookup;
	struct mx_result *plan;
	size_t host_i, addr_i;
	bool plaintext_retry;		/* this address again without TLS */
	unsigned tries;			/* connections attempted so far */
	unsigned round;			/* d->round when the slot started */
	bool ready;			/* conn set up: may carry jobs */
	struct smtp_conn *conn;
	struct outbound_job *job;	/* in progress, or NULL */
	unsigned carried;		/* jobs this connection has ended */
	struct event *idle_timer;
	struct event *unix_plan;	/* lmtp:unix: the plan, from the loop */
	bool idle;			/* on ob's idle list */
	TAILQ_ENTRY(conn_slot) idle_entry;
	struct deliver_result last_fail;
	struct conn_slot *next;		/* in d->slots */
};

struct dest {
	struct outbound *ob;
	char key[SMTP_DOMAIN_MAX + 64];
	const struct transport_conf *t;
	char nexthop[SMTP_DOMAIN_MAX + 1];
	struct outbound_job *head, *tail;	/* waiting jobs */
	size_t n_waiting;
	struct conn_slot *slots;
	unsigned n_slots, n_setup;	/* all / not yet ready */
	unsigned failures;		/* consecutive rounds unreachable */
	unsigned round;			/* rounds of attempts counted so far */
	int64_t down_until;
	struct deliver_result down_why;
	bool in_line;			/* on ob's line for a free slot */
	TAILQ_ENTRY(dest) line_entry;
	struct dest *next;
};

/* The client context of one tls_ca (transports sharing it share it). */
struct outbound_ca {
	const char *path;		/* the transport's tls_ca */
	SSL_CTX *ctx;
};

struct outbound {
	struct event_base *base;
	const struct config *cfg;
	struct resolver *res;
	struct workpool *io;		/* reads message data ahead */
	SSL_CTX *tls_ctx;		/* the system store */
	struct outbound_ca *cas;	/* one per distinct tls_ca */
	size_t n_cas;
	struct dest *dests;
	unsigned n_slots;		/* all destinations */
	/* Destinations that want another connection, in turn: a free slot
	 * goes to the first (round robin; see line_grant()). */
	TAILQ_HEAD(, dest) line;
	/* Ready connections with no job, the longest idle first: they give
	 * their slot up when a destination waits for one. */
	TAILQ_HEAD(, conn_slot) idle;
	/* Jobs of a backed-off destination, finished from the loop (never
	 * from inside outbound_submit) by later_ev. */
	struct outbound_job *later_head, *later_tail;
	struct event *later_ev;
	struct event *sweep;		/* forgets destinations nobody uses */
};

/* A zero timer: the callback runs from the loop, never from inside the
 * call that arms it. */
static const struct timeval at_once = { 0, 0 };

/* -- outbound.c --------------------------------------------------------- */

/* Hands job back to its owner (job->done). */
void job_finish(struct outbound_job *job);
/* The first waiting job of d, taken off its queue, or NULL. */
struct outbound_job *dest_pop(struct dest *d);
/* Every waiting job of d ends with res. */
void dest_fail_waiting(struct dest *d, const struct deliver_result *res);
/* No host of d could be reached by s: d backed off (once per round of
 * attempts), its waiting jobs ended with res. */
void dest_down(struct outbound *ob, struct dest *d, const struct conn_slot *s,
    const struct deliver_result *res);
/* A waiting job of d that a ready connection may take: more wait than
 * d's connections in setup were opened for. */
bool dest_spare_job(const struct dest *d);
/* d could use another connection (its jobs and its own limit). */
bool dest_wants_slot(const struct dest *d);
/* Waiting jobs of d to its idle connections, d in line for more, and
 * the free slots handed out. */
void dest_kick(struct dest *d);

/* -- outbound_slot.c ---------------------------------------------------- */

/* A new slot of d (counted at once): its plan is looked up, then its
 * addresses tried. */
void slot_start(struct outbound *ob, struct dest *d);
/* A ready connection takes its destination's next waiting job, idles,
 * or closes. */
void slot_next(struct conn_slot *s);
/* Frees s (its connection already closed or freed), out of its
 * destination and the idle list; the free slot is not handed out yet. */
void slot_free(struct conn_slot *s);
/* Frees s and what it owns but its connection (the caller closes that),
 * leaving the lists alone: for outbound_free, which frees them all. */
void slot_release(struct conn_slot *s);
/* The client context for t's trust setting. */
SSL_CTX *slot_tls_ctx(const struct outbound *ob,
    const struct transport_conf *t);

/* -- outbound_share.c --------------------------------------------------- */

/* d to the end of ob's line, unless it is in line already. */
void line_push(struct outbound *ob, struct dest *d);
/* d out of ob's line, if it is in it. */
void line_remove(struct outbound *ob, struct dest *d);
/* Drops from the line every destination that no longer wants a slot. */
void line_prune(struct outbound *ob);
/* At the total limit, a destination other than d waits for a slot;
 * with fair set, only one with a better claim than d. */
bool line_others_waiting(struct outbound *ob, const struct dest *d,
    bool fair);
/* Free slots to the destinations in line, in turn; at the total limit
 * idle connections give theirs up. */
void line_grant(struct outbound *ob);
/* s on ob's idle list (at the end), or off it; twice is fine. */
void idle_add(struct outbound *ob, struct conn_slot *s);
void idle_del(struct outbound *ob, struct conn_slot *s);

#endif
