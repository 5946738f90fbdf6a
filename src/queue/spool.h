/*
 * The spool: the contract between receiving and delivering.
 *
 * A message is accepted (250) only after spool_writer_commit() reported
 * success: its data and envelope are written, fsync'd, renamed into the
 * queue and the directory fsync'd.  The commit point, the file layout and
 * the crash rules are in docs/queue.md.  All blocking work (fsync, rename)
 * runs in a workpool thread; the loop is never blocked by it.
 *
 * Queue ids are unique, sortable by arrival, made of [0-9A-Za-z], at most
 * QUEUE_ID_MAX-1 characters (e.g. "1Q2w3E4r5T6y7U").
 */
#ifndef DECORUM_QUEUE_SPOOL_H
#define DECORUM_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bounds.h"

struct workpool;
struct spool;
struct spool_writer;

struct envelope_rcpt {
	char *addr;		/* as accepted at RCPT: local@domain or "postmaster" */
};

struct envelope {
	char id[QUEUE_ID_MAX];
	char *sender;		/* "" for the null sender <> */
	struct envelope_rcpt *rcpts;
	size_t n_rcpts;
	int64_t created;	/* unix time of acceptance */
	bool smtputf8;
	bool eight_bit;		/* BODY=8BITMIME or 8-bit bytes seen */
	char *client_ip;	/* for logs and queue show */
	char *helo;
};

/* Creates the spool's sub-folders if missing.  NULL + err on failure. */
struct spool *spool_open(const char *dir, char *err, size_t errlen);
void spool_close(struct spool *sp);

/* Start a new message in the spool's tmp area; NULL + err on failure
 * (the session answers 451 4.3.0). */
struct spool_writer *spool_writer_new(struct spool *sp, char *err, size_t errlen);
const char *spool_writer_id(const struct spool_writer *w);
/* Append message bytes (CRLF line ends as received).  -1 on I/O error;
 * the error is remembered and the commit fails. */
int spool_writer_write(struct spool_writer *w, const void *data, size_t len);
/*
 * Make the message durable, asynchronously.  Takes ownership of w.
 * env is copied before return.  done(arg, 0) runs in the loop thread once
 * the message is safely queued; done(arg, -1) if it could not be (tmp
 * files removed, nothing queued).
 */
void spool_writer_commit(struct spool_writer *w, const struct envelope *env,
    struct workpool *pool, void (*done)(void *arg, int err), void *arg);
/* Forget the message: remove its tmp files.  Takes ownership of w. */
void spool_writer_abort(struct spool_writer *w);

void envelope_free(struct envelope *env);	/* frees members, not env */

#endif
