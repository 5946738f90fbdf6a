/*
 * Internals shared by the queue manager's files; not for other modules
 * (they use qmgr.h).
 *
 *   qmgr.c           the loop: start and stop, notifications, the spool
 *                    scans and loads (in worker threads), which message
 *                    is due, routing its recipients into an attempt, the
 *                    runs of the attempt in the workpool
 *   qmgr_table.c     the messages known: by id, by due time, held
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
struct qflight;		/* qmgr_outbound.c */
struct qscan;		/* qmgr.c */
struct resolver;
struct spool;
struct workpool;

/* -- qmgr_table.c ------------------------------------------------------- */

enum qmsg_state {
	QMSG_WAITING,		/* in the heap, due at next_try */
	QMSG_HELD,		/* due, but its network copies wait for room */
	QMSG_BUSY,		/* loaded, being worked on: nowhere */
};

/* A queued message as the qmgr knows it: an id and when to try it. */
struct qmsg {
	char id[QUEUE_ID_MAX];
	int64_t next_try;	/* 0: as soon as possible */
	enum qmsg_state state;
	bool flush;		/* `queue flush`: ignore retry times once */
	bool remote;		/* its last plan had network copies */
	size_t heap_i;		/* QMSG_WAITING: its place in the heap */
	struct qmsg *hash_next;
	struct qmsg *held_next;	/* QMSG_HELD: the FIFO */
};

struct qtable {
	struct qmsg **buckets;
	size_t n_buckets;	/* a power of two, at least n */
	size_t n;		/* messages known */
	struct qmsg **heap;	/* the waiting ones, earliest first */
	size_t n_heap, heap_cap;
	struct qmsg *held_head, *held_tail;
	size_t n_held;
};

void qtable_init(struct qtable *t);
/* Frees every message. */
void qtable_free(struct qtable *t);
struct qmsg *qtable_find(const struct qtable *t, const char *id);
/* The message with id; one not known yet is added, waiting, due at once
 * (*added says which). */
struct qmsg *qtable_add(struct qtable *t, const char *id, bool *added);
/* id is due now: added if new; a waiting one moves up; one held or
 * being worked on stays as it is (it is tried anyway). */
struct qmsg *qtable_wake(struct qtable *t, const char *id);
/* Forgets m, whatever its state, and frees it. */
void qtable_drop(struct qtable *t, struct qmsg *m);
/* The waiting message due first, or NULL. */
struct qmsg *qtable_first(const struct qtable *t);
/* m waits (again) until next_try. */
void qtable_wait(struct qtable *t, struct qmsg *m, int64_t next_try);
/* m is being worked on: out of the heap or the FIFO. */
void qtable_take(struct qtable *t, struct qmsg *m);
/* m is due but waits for room on the network: to the end of the FIFO. */
void qtable_hold(struct qtable *t, struct qmsg *m);
/* The held message that has waited longest, or NULL. */
struct qmsg *qtable_held_first(const struct qtable *t);
/* `queue flush`: every waiting message due now, its retry times
 * ignored once; held ones too. */
void qtable_flush(struct qtable *t);

/* -- qmgr.c and qmgr_run.c ---------------------------------------------- */

#define QMGR_THREADS		4	/* deliveries, status records */
#define QMGR_IO_THREADS		2	/* scans, cleanups, loads */
/* Outbound message data, read ahead of the sockets: threads of their
 * own, so an hour's cleanup or a scan of a huge queue in the I/O
 * threads never leaves a connection waiting for its next chunk. */
#define QMGR_DATA_THREADS	2
/* Loads and runs of ours in the workpools at once: a new message is
 * loaded only below this, so a backlog never queues up in the pools. */
#define QMGR_POOL_MAX		(2 * QMGR_THREADS)
/* Messages with copies on the network at once; more are held. */
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
	unsigned running;		/* attempt runs in q->pool */
	unsigned loading;		/* loads in q->io */
	unsigned out_loading;		/* of those, messages that went out
					 * last time (they may again) */
	unsigned out_flight;		/* messages with copies out */
	bool scanning, rescan, rescan_flush, started;
	struct qscan *applying;		/* a scan's ids being added */
	struct event *scan_ev;		/* adds the next batch of them */
	struct resolver *resolver;
	struct outbound *outbound;
	struct qflight *flights;
	bool stopping;
	int64_t last_scan, last_cleanup;
	struct event *timer, *notify_ev, *sock_ev, *sigterm, *sigint;
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
};

/* qmgr.c: starts due messages as the budgets allow, arms the timer. */
void qmgr_schedule(struct qmgr *q);

/* qmgr_run.c */
/* Loads m (busy from now on) in q->io; it is planned when loaded. */
void qmgr_load_start(struct qmgr *q, struct qmsg *m);
/* Room for another message's network copies. */
bool qmgr_out_room(const struct qmgr *q);
/* Runs the attempt (attempt_run) in q->pool. */
void qmgr_run(struct qrun *run);
/* The last outbound job of run's flight is done. */
void qmgr_flight_landed(struct qrun *run);

/* -- qmgr_outbound.c ---------------------------------------------------- */

/* Starts the attempt's SMTP, relay and LMTP copies as a flight (run->f);
 * false when it has none, or no data (data_size < 0: then each of them
 * is a deferral already, and no connection is made). */
bool qmgr_outbound(struct qrun *run, int64_t data_size);
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
