/*
 * Internals shared by the queue manager's files; not for other modules
 * (they use qmgr.h).
 *
 *   qmgr.c           the loop: start and stop, notifications, the spool
 *                    scans and loads (in worker threads), which message
 *                    is due, routing its recipients into an attempt, the
 *                    runs of the attempt in the workpool
 *   qmgr_table.c     the messages known: by id, by due time, held
 *   qmgr_scan.c      the listings of queue/ (in slices, in I/O workers)
 *                    and the retry-time hints on the queue files
 *   qmgr_dest.c      the network budget of each destination, and the
 *                    messages held for it
 *   qmgr_outbound.c  an attempt's SMTP, relay and LMTP copies: grouped
 *                    into outbound jobs, submitted to the outbound
 *                    scheduler, their results collected (a "flight")
 *
 * Everything here runs on the qmgr's loop thread; the worker threads get
 * only the objects handed to them (a load, an attempt) until done().
 */
#ifndef DECORUM_QUEUE_QMGR_PRIV_H
#define DECORUM_QUEUE_QMGR_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include "common/bounds.h"

struct attempt;
struct config;
struct domains;
struct event;
struct event_base;
struct looplag;
struct outbound;
struct qdest;
struct qflight;		/* qmgr_outbound.c */
struct qscan;		/* qmgr_scan.c */
struct resolver;
struct spool;
struct workpool;

/* -- qmgr_table.c ------------------------------------------------------- */

enum qmsg_state {
	QMSG_WAITING,		/* in the heap, due at next_try */
	QMSG_HELD,		/* due, but its network copies wait for room:
				 * in a destination's FIFO, and in the heap
				 * until its deadline (then run anyway) */
	QMSG_BUSY,		/* loaded, being worked on: nowhere */
};

/* Held messages of one destination, first in, first out. */
struct qheld {
	struct qmsg *head, *tail;
	size_t n;
};

/* A queued message as the qmgr knows it: an id and when to try it. */
struct qmsg {
	char id[QUEUE_ID_MAX];
	int64_t next_try;	/* due time (new mail: QTABLE_NEW_LEAD
				 * early); QMSG_HELD: the deadline (delay
				 * warning, lifetime) */
	enum qmsg_state state;
	bool flush;		/* `queue flush`: ignore retry times once */
	bool remote;		/* its last plan had network copies */
	struct qdest *dest;	/* copies were kept back for it last time
				 * (a reference, qmgr_dest.c), or NULL */
	int64_t deadline;	/* with dest: when it must run anyway */
	size_t heap_i;		/* WAITING, HELD: its place in the heap */
	struct qmsg *hash_next;
	struct qheld *held_in;	/* QMSG_HELD: the FIFO it is in */
	struct qmsg *held_prev, *held_next;
};

struct qtable {
	struct qmsg **buckets;
	size_t n_buckets;	/* a power of two, at least n */
	size_t n;		/* messages known */
	struct qmsg **heap;	/* waiting and held ones, earliest first */
	size_t n_heap, heap_cap;
	size_t n_held;		/* in all FIFOs */
};

void qtable_init(struct qtable *t);
/* Frees every message. */
void qtable_free(struct qtable *t);
struct qmsg *qtable_find(const struct qtable *t, const char *id);
/* The message with id; one not known yet is added, waiting, due at once
 * (*added says which). */
struct qmsg *qtable_add(struct qtable *t, const char *id, bool *added);
/* id is new mail, due at now - QTABLE_NEW_LEAD: added if new; a waiting
 * one moves up; one held or being worked on stays as it is (it is tried
 * anyway). */
struct qmsg *qtable_wake(struct qtable *t, const char *id, int64_t now);
/* Forgets m, whatever its state, and frees it. */
void qtable_drop(struct qtable *t, struct qmsg *m);
/* The message due first (a held one: its deadline), or NULL. */
struct qmsg *qtable_first(const struct qtable *t);
/* m waits (again) until next_try. */
void qtable_wait(struct qtable *t, struct qmsg *m, int64_t next_try);
/* m is being worked on: out of the heap and its FIFO. */
void qtable_take(struct qtable *t, struct qmsg *m);
/* m is due but waits for room on the network: to the end of fifo, and
 * in the heap at deadline (when it runs whatever the room). */
void qtable_hold(struct qtable *t, struct qmsg *m, struct qheld *fifo,
    int64_t deadline);
/* New mail goes ahead of a due backlog, by this many seconds: it is
 * keyed as if it had come due that long before it arrived.  A backlog
 * (after an outage, a flush, a start-up with unhinted files) keyed at
 * the time it came due thus waits for new mail only so long; under a
 * sustained overload of new mail it is still served, oldest first,
 * never starved. */
#define QTABLE_NEW_LEAD		300
/* `queue flush`: every waiting message due at now (so new mail still
 * goes first, QTABLE_NEW_LEAD), its retry times ignored once; held ones keep
 * their place (their flush is kept for their next try).  O(n), a pass
 * of the heap with no allocation: 100,000 messages in a few ms. */
void qtable_flush(struct qtable *t, int64_t now);

/* -- qmgr_dest.c -------------------------------------------------------- */

/* Messages with copies out to one destination at most: its
 * destination_concurrency times this (a connection has the next
 * message at hand), never above QMGR_OUTBOUND_MAX. */
#define QMGR_DEST_DEPTH		4

/* A destination as the qmgr's network budget sees it (the outbound
 * scheduler's key: "smtp:example.com"). */
struct qdest {
	char key[SMTP_DOMAIN_MAX + 64];
	unsigned out;		/* jobs out, and loads expected to go out */
	unsigned refs;		/* messages, loads and jobs naming it */
	struct qheld held;
	bool in_ring;		/* in the ring of those with room */
	struct qdest *ring_next, *hash_next;
};

struct qdests {
	struct qdest **buckets;
	size_t n_buckets, n;	/* buckets: a power of two */
	struct qdest *ring_head, *ring_tail;
	unsigned cap;		/* per destination */
};

/* -- qmgr.c and qmgr_run.c ---------------------------------------------- */

/* Delivery threads (Maildir copies, status records): half the loads
 * and runs allowed at once (queue.local_concurrency; a load is short),
 * within these bounds. */
#define QMGR_THREADS_MIN	1
#define QMGR_THREADS_MAX	32
#define QMGR_IO_THREADS		2	/* scans, cleanups, loads */
/* Outbound message data, read ahead of the sockets: threads of their
 * own, so an hour's cleanup or a scan of a huge queue in the I/O
 * threads never leaves a connection waiting for its next chunk. */
#define QMGR_DATA_THREADS	2
/* Messages with copies on the network at once, all destinations
 * together (a memory bound); more are held. */
#define QMGR_OUTBOUND_MAX	1000

struct qmgr {
	const struct config *cfg;
	struct event_base *base;
	struct workpool *pool;		/* deliveries, status records */
	struct workpool *io;		/* spool reads: scans, loads */
	struct workpool *data_io;	/* outbound data read ahead */
	struct spool *sp;
	struct domains *domains;
	struct qtable msgs;
	struct qdests dests;
	/* Loads and runs of ours in the workpools at once
	 * (queue.local_concurrency): a new message is loaded only below
	 * this, so a backlog never queues up in the pools. */
	unsigned pool_max;
	unsigned running;		/* attempt runs in q->pool */
	unsigned loading;		/* loads in q->io */
	unsigned out_loading;		/* of those, messages that went out
					 * last time (they may again) */
	unsigned out_flight;		/* messages with copies out */
	bool scanning, rescan, rescan_flush, started;
	struct qscan *applying;		/* a scan's ids being added */
	struct event *scan_ev;		/* adds the next batch of them */
	int queue_fd;			/* queue/, for the scans and hints */
	/* queue/'s mtime when the last complete listing began: a periodic
	 * scan of a folder that has not changed since reads nothing. */
	int64_t queue_seen_sec, queue_seen_nsec;
	struct resolver *resolver;
	struct outbound *outbound;
	struct qflight *flights;
	bool stopping;
	int64_t last_scan, last_cleanup;
	struct event *timer, *notify_ev, *sock_ev, *sigterm, *sigint;
	struct event *gone_ev;		/* makes removals durable, soon */
	bool gone_busy;			/* ... and is doing it in q->io */
	int sock_fd;
	struct looplag *lag;		/* log_level = "debug" only */
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* One message in the works, from its load to the end of its attempt:
 * the attempt runs in q->pool (its local copies and records) while its
 * network copies are out (a flight); whichever ends last goes on. */
struct qrun {
	struct qmgr *q;
	struct qmsg *m;
	struct attempt *a;
	struct qflight *f;		/* network copies out, or NULL */
	bool in_pool;			/* a run of a is in q->pool */
	bool held;			/* network copies kept back: no room */
	struct qdest *hold_at;		/* the first of them (a reference) */
	int64_t deadline;		/* of the plan: see qmsg */
};

/* qmgr.c: starts due messages as the budgets allow, arms the timer. */
void qmgr_schedule(struct qmgr *q);

/* qmgr_scan.c */
/* Lists queue/ in I/O workers, a slice at a time, adding the ids not
 * known yet (flush: with their retry times ignored once); one scan at a
 * time, one asked for meanwhile follows it.  The first scan (start-up)
 * takes each new message's next try from its queue file's mtime (the
 * hint); later ones take new ids as due at once, and read nothing when
 * queue/ has not changed since the last. */
void qmgr_scan_start(struct qmgr *q, bool flush);
/* At start: queue/ opened for the scans and hints (-1 when it cannot
 * be: then the loads still work, the hints are off, and each scan logs
 * event=scan-error), the scans' timer made.  At the stop: the scan being
 * applied, if any, freed and queue/ closed (the timer is qmgr_main's). */
void qmgr_scan_open(struct qmgr *q);
/* Removals of finished messages are made durable in batches
 * (spool_remove_deferred), QMGR_GONE_DELAY_MS after the first of a
 * batch, in q->io.  poke: after an attempt; close: at the exit, after
 * the pools are gone (the last batch is flushed there). */
#define QMGR_GONE_DELAY_MS	50
void qmgr_removals_open(struct qmgr *q);
void qmgr_removals_poke(struct qmgr *q);
void qmgr_removals_close(struct qmgr *q);
void qmgr_scan_close(struct qmgr *q);
/* Sets queue/<id>'s mtime to next_try in an I/O worker: the hint that
 * lets the next start-up scan leave the message unread until then.
 * Only a hint (the W records decide): lost or stale, the message is
 * read earlier than needed and waits again. */
void qmgr_hint(struct qmgr *q, const char *id, int64_t next_try);

/* qmgr_run.c */
/* Loads m (busy from now on) in q->io; it is planned when loaded. */
void qmgr_load_start(struct qmgr *q, struct qmsg *m);
/* Room for another message's network copies. */
bool qmgr_out_room(const struct qmgr *q);
/* Runs the attempt (attempt_run) in q->pool. */
void qmgr_run(struct qrun *run);
/* The last outbound job of run's flight is done. */
void qmgr_flight_landed(struct qrun *run);

/* qmgr_dest.c */
void qdests_init(struct qdests *ds, unsigned dest_concurrency);
/* At the end; every message and job naming one is gone or forgotten. */
void qdests_free(struct qdests *ds);
/* The destination with key (made if new, with no reference yet). */
struct qdest *qdest_get(struct qmgr *q, const char *key);
void qdest_ref(struct qdest *d);
/* Drops a reference; a destination nothing names any more is freed. */
void qdest_unref(struct qmgr *q, struct qdest *d);
/* Room for one more message's copies to d (the global budget too). */
bool qdest_room(const struct qmgr *q, const struct qdest *d);
/* A message (a load, or a job) counted against d, or no longer. */
void qdest_out_add(struct qdest *d);
void qdest_out_done(struct qmgr *q, struct qdest *d);
/* m (m->dest set) waits, held, for room at m->dest. */
void qdest_hold(struct qmgr *q, struct qmsg *m);
/* The next destination in turn with room and a held message, or NULL;
 * it goes to the end of the line. */
struct qdest *qdest_next(struct qmgr *q);
/* d changed (a message of it taken, or it was only looked up): back in
 * line if it can go, forgotten if nothing names it. */
void qdest_tidy(struct qmgr *q, struct qdest *d);

/* -- qmgr_outbound.c ---------------------------------------------------- */

/* Starts the attempt's SMTP, relay and LMTP copies as a flight (run->f),
 * those for destinations with room (qdest_room); the others are kept
 * back (run->held, run->hold_at the first destination), or, expired,
 * fail now as deferrals (the run makes them 5.4.7).  false when none
 * goes, or no data (data_size < 0: then each that would go is a
 * deferral already, and no connection is made). */
bool qmgr_outbound(struct qrun *run, int64_t data_size, bool expired);
/* Every job of run's flight is done. */
bool qmgr_outbound_landed(const struct qrun *run);
/* The flight's results into the attempt's dests; the flight is freed.
 * Only while no run of the attempt is in the workpool. */
void qmgr_outbound_collect(struct qrun *run);
/* At the stop: frees every flight still on the network, and the runs
 * that only waited for theirs (the outbound scheduler is gone, so no
 * job completes any more).  A landed flight whose run is in the
 * workpool stays: the run records its results when it is done. */
void qmgr_flights_free(struct qmgr *q);

#endif
