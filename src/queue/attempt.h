/*
 * One delivery attempt of one message: planned in the queue manager's
 * loop (routing needs the loop-owned tables), carried out in a workpool
 * thread (deliveries and status fsyncs block).  Internal to the queue
 * manager; the unit tests drive it directly with an in-memory plan.
 *
 * An attempt may run more than once: its local copies at once, while its
 * network copies (dests with a transport) are still out; then again when
 * their results are in (network_pending set for the first run).  A
 * recipient is closed (K/W/F) only when all its copies have a result; one
 * whose network copies never went (no room) stays pending.
 *
 * Forward destinations are no deliveries of their own: the first run
 * queues one new message, the forwarded copy, for all of them
 * (forward_copy.h), and records each as handed over ("D n target").
 */
#ifndef DECORUM_QUEUE_ATTEMPT_H
#define DECORUM_QUEUE_ATTEMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bounds.h"
#include "deliver/agent.h"
#include "queue/envelope.h"

struct transport_conf;

struct spool;

struct attempt_dest {
	char *local;
	char *domain;
	/* Carried by the outbound scheduler before attempt_run (SMTP,
	 * relay, LMTP): then done is set and res holds the outcome. */
	const struct transport_conf *t;	/* NULL: the attempt's agent */
	bool forward;			/* a target in a foreign domain reached
					 * through an address of ours: it goes
					 * in the attempt's forwarded copy */
	bool done;
	bool recorded;			/* res settled by an earlier run */
	struct deliver_result res;
	char *relay;			/* "NAME[IP]:PORT" it went to, or NULL */
	char tls[32];			/* "TLSv1.3" or "none" */
};

/* What routing decided for one due recipient. */
struct attempt_rcpt {
	size_t n;			/* recipient number in the envelope */
	char *addr;			/* its address, for logs */
	unsigned attempts;		/* deferrals so far */
	enum deliver_status route;	/* OK: deliver to dests; else fail/defer */
	char code[16];
	char text[QUEUE_STATUS_TEXT_MAX];
	struct attempt_dest *dests;	/* mailboxes still to deliver to */
	size_t n_dests;
	bool closed;			/* K, W or F written */
};

enum attempt_outcome {
	ATTEMPT_PENDING,	/* recipients left: try again at next_try */
	ATTEMPT_REMOVED,	/* every recipient delivered: removed */
	ATTEMPT_FAILED,		/* finished with failures: moved to failed/ */
	ATTEMPT_BOUNCED,	/* finished with failures: report queued
				 * (bounce_id), message removed */
	ATTEMPT_GONE,		/* deleted meanwhile (decorum queue delete) */
	ATTEMPT_CORRUPT,	/* unreadable: moved to corrupt/ */
	ATTEMPT_ERROR,		/* spool I/O error: try again later */
};

struct attempt {
	/* Inputs, owned by the attempt. */
	char id[QUEUE_ID_MAX];
	struct spool *sp;
	const struct deliver_agent *agent;
	const char *hostname;
	const char *mailboxes;
	char *sender;
	int64_t created;
	unsigned retry_min, retry_max, lifetime;
	unsigned delay_warning;		/* seconds; 0: no warnings */
	const char *postmaster;		/* bounces of bounces go there */
	bool bounces;			/* send RFC 3464 reports (else failed/) */
	bool corrupt;			/* only move the file to corrupt/ */
	bool smtputf8, eightbit;	/* from the envelope, for outbound */
	bool junk;			/* from the envelope (J), for the
					 * forwarded copy */
	const char *folder;		/* Maildir++ folder of the Maildir
					 * copies (spam.folder for junk), or
					 * NULL: the inbox */
	char *client_ip, *helo;		/* from the envelope, or NULL */
	/* The forwarded copy's sender, chosen once on the loop
	 * (route_forward_sender): srs tells whether it was rewritten,
	 * fwd_why why not; NULL when it could not be chosen (a table
	 * unreadable: fwd_why), and the forward targets are deferred. */
	char *fwd_sender;
	bool fwd_srs;
	char fwd_why[128];
	bool network_pending;		/* network copies still out: run the
					 * local part, do not finish */
	/* The queue file as the planner loaded it, handed over (qf_valid;
	 * attempt_free() frees it) and kept up to date with the records
	 * the attempt appends: while the file is what it says, an append
	 * needs no look at the file's tail and the finish no read back.
	 * Without one (a unit test's plan, a torn tail, a file found
	 * changed) the spool is read. */
	struct queue_file qf;
	bool qf_valid;
	/* The message data the load opened to read its header (or -1),
	 * and its size: the first run delivers from it instead of opening
	 * the data again, and closes it; attempt_free() closes one left. */
	int data_fd;
	int64_t data_size;
	/* The queue file's format: 2 when this is >= 0, the octets of data
	 * it starts with; -1: format 1, the data in data/<id>. */
	int64_t data_len;
	/* The queue file the load read, open for appending (or -1): the
	 * first run's records go through it (spool_status_append_fd) and
	 * it closes it; attempt_free() closes one left. */
	int queue_fd;
	void *owner;			/* the caller's, untouched */
	struct attempt_rcpt *rcpts;
	size_t n_rcpts;
	/* Outputs. */
	enum attempt_outcome outcome;
	int64_t next_try;
	unsigned delivered;		/* copies delivered in this attempt */
	char bounce_id[QUEUE_ID_MAX];	/* the report queued, or "" */
	char warning_id[QUEUE_ID_MAX];	/* a delay warning queued, or "" */
	char forward_id[QUEUE_ID_MAX];	/* the forwarded copy queued, or "" */
};

struct attempt *attempt_new(const char *id, struct spool *sp);
struct attempt_rcpt *attempt_add_rcpt(struct attempt *a, size_t n,
    const char *addr, unsigned attempts);
struct attempt_dest *attempt_add_dest(struct attempt_rcpt *r,
    const char *local, const char *domain);
/* The worker side: deliver, record status, finish the message (unless
 * network_pending).  May run again for the same attempt. */
void attempt_run(void *a);
void attempt_free(struct attempt *a);
/* Appends the status record line to the message's queue file (worker
 * side); on failure sets the outcome (GONE or ERROR).  -1: stop. */
int attempt_record(struct attempt *a, const char *line);
/* Delay before try number attempts+1: retry_min doubling up to retry_max,
 * with +-10% jitter so deferred messages do not retry in lockstep; never
 * more than retry_max (nor less than 1). */
int64_t attempt_backoff(unsigned attempts, unsigned retry_min,
    unsigned retry_max);
const char *attempt_outcome_name(enum attempt_outcome o);

#endif
