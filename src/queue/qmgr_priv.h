/*
 * Internals shared by the queue manager's files; not for other modules
 * (they use qmgr.h).
 *
 *   qmgr.c           the loop: scan, notifications, which message is
 *                    due, routing its recipients into an attempt, the
 *                    workpool runs, start and stop
 *   qmgr_outbound.c  an attempt's SMTP, relay and LMTP copies: grouped
 *                    into outbound jobs, submitted to the outbound
 *                    scheduler, their results collected (a "flight")
 *
 * Everything runs on the qmgr's loop thread.
 */
#ifndef DECORUM_QUEUE_QMGR_PRIV_H
#define DECORUM_QUEUE_QMGR_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

struct attempt;
struct config;
struct domains;
struct event;
struct event_base;
struct looplag;
struct outbound;
struct qflight;		/* qmgr_outbound.c */
struct qmsg;		/* qmgr.c */
struct resolver;
struct spool;
struct workpool;

struct qmgr {
	const struct config *cfg;
	struct event_base *base;
	struct workpool *pool;
	struct spool *sp;
	struct domains *domains;
	struct qmsg *msgs;
	size_t n_msgs;
	unsigned in_flight;		/* attempts in the workpool */
	unsigned out_flight;		/* attempts waiting for outbound */
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

/* qmgr.c */
/* Hands the attempt to the workpool (attempt.c); the last outbound job
 * of a flight calls it. */
void qmgr_run(struct qmgr *q, struct attempt *a);

/* qmgr_outbound.c */
/* Starts the attempt's SMTP, relay and LMTP copies; false when it has
 * none (or its data file cannot be opened), and the caller runs it. */
bool qmgr_outbound(struct qmgr *q, struct attempt *a, int64_t data_size);
/* At the stop: frees every flight still on the network and its attempt
 * (the outbound scheduler is gone, so no job completes any more). */
void qmgr_flights_free(struct qmgr *q);

#endif
