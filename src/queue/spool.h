/*
 * The spool: the contract between receiving and delivering.
 *
 * A message is accepted (250) only after spool_writer_commit() reported
 * success: its data and envelope are written into one file, fsync'd,
 * renamed into the queue and the directory fsync'd.  The commit point,
 * the file layout and the crash rules are in docs/queue.md.  All blocking work (fsync, rename)
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
	bool authenticated;	/* submitted by a user of ours (AUTH, or
				 * sendmail run by a local account): a
				 * forwarded copy keeps its sender */
	bool junk;		/* accepted, but judged unwanted (spam): the
				 * Maildir copies go to the spam folder,
				 * never a bounce (BCP) */
	char *client_ip;	/* for logs and queue show */
	char *helo;
};

/* Creates the spool's sub-folders if missing.  NULL + err on failure;
 * a symbolic link for the spool or one of its folders is refused. */
struct spool *spool_open(const char *dir, char *err, size_t errlen);
/* strerror(), but for ELOOP (a spool folder that is a symbolic link) a
 * sentence an operator understands. */
const char *spool_strerror(int err_no);
void spool_close(struct spool *sp);

/* Start a new message in the spool, under a fresh queue id (data/<id>
 * made exclusively; no syscall but that one: the envelope is added and
 * the file renamed into queue/ at the commit); NULL + err on failure
 * (the session answers 451 4.3.0). */
struct spool_writer *spool_writer_new(struct spool *sp, char *err, size_t errlen);
const char *spool_writer_id(const struct spool_writer *w);
/* Append message bytes (CRLF line ends as received).  -1 on I/O error;
 * the error is remembered and the commit fails. */
int spool_writer_write(struct spool_writer *w, const void *data, size_t len);
/*
 * Make the message durable, asynchronously.  Takes ownership of w.
 * env is copied before return.  done(arg, 0) runs in the loop thread once
 * the message is safely queued; done(arg, -1) if it could not be (its
 * file removed, nothing queued).
 */
void spool_writer_commit(struct spool_writer *w, const struct envelope *env,
    struct workpool *pool, void (*done)(void *arg, int err), void *arg);
/*
 * The same commit, done now in the calling thread: for callers that may
 * block (the sendmail command, a worker thread of the qmgr).  Takes
 * ownership of w.  0 when the message is queued, -1 when not (nothing
 * left behind).
 */
int spool_writer_commit_now(struct spool_writer *w, const struct envelope *env);

/* A read-only descriptor of the data written so far (for the content
 * scanners); -1 when the writer failed. */
int spool_writer_open_read(const struct spool_writer *w);
/*
 * Replaces the data written so far with head (headlen octets) then
 * either body (bodylen octets) or, when body is NULL, the old data from
 * body_offset to its end: a scanner's changes.  Written beside it and
 * renamed over it, so the data is whole, old or new, at every moment.
 * Blocking: for a worker thread.  0, or -1 (the writer has failed).
 */
int spool_writer_rewrite(struct spool_writer *w, const char *head,
    size_t headlen, const char *body, size_t bodylen, uint64_t body_offset);
/* Forget the message: remove its file.  Takes ownership of w. */
void spool_writer_abort(struct spool_writer *w);


/*
 * Reading and changing the queue: the queue manager and `decorum queue`.
 * Areas are the spool's sub-folders: "tmp", "data", "queue", "failed",
 * "corrupt" (docs/queue.md).  Calls marked "blocking" fsync and belong in
 * a workpool thread when made from an event loop.
 */
struct queue_file;

const char *spool_dir(const struct spool *sp);
/* The open folder where a queued message's data is the file named by its
 * id (for readers in other threads, with openat and O_NOFOLLOW): queue/
 * for format 2 (data_len >= 0: only that many octets are data), data/
 * for format 1 (-1). */
int spool_data_dir(const struct spool *sp, int64_t data_len);
/* Reads area/id and parses it: 0; -1 with errno ENOENT when the file is
 * gone (delivered or deleted meanwhile), other I/O errors -1 too;
 * -2 when it is corrupt (err says why).  qf must be freed with
 * queue_file_free() on 0 and is empty otherwise. */
int spool_load(struct spool *sp, const char *area, const char *id,
    struct queue_file *qf, char *err, size_t errlen);
/* spool_load() of queue/<id> for the queue manager, which appends to
 * the file it loaded: on 0, *fd is the file, open for appending (the
 * caller closes it), so the appends open nothing. */
int spool_load_open(struct spool *sp, const char *id, struct queue_file *qf,
    char *err, size_t errlen, int *fd);
/* Opens the data (read-only) of the message id in area ("queue",
 * "failed", "corrupt", "hold"), whose queue file said data_len (its
 * queue_file's): format 2 (data_len >= 0) the file itself, of which only
 * the first data_len octets are data; format 1 (-1) its data file.  On
 * success *size is the data's size in octets.  -1 with errno. */
int spool_open_data(struct spool *sp, const char *area, const char *id,
    int64_t data_len, int64_t *size);
/* Size of the data file of a format 1 message in octets, -1 on error
 * (format 2's is its queue_file's data_len). */
int64_t spool_data_size(struct spool *sp, const char *id);
/* Appends one status record to queue/<id> and fsyncs it (blocking).
 * line has no LF; a torn tail left by a crash is cut off first.
 * -1 (errno ENOENT when the message was deleted meanwhile). */
int spool_status_append(struct spool *sp, const char *id, const char *line);
/* Records that land in one write with one fsync (or none, sync false:
 * the caller then makes them durable with spool_status_sync() or ends
 * the message with spool_remove_deferred() before any further step).
 * At most SPOOL_STATUS_LINES_MAX lines, none with LF.  Blocking. */
#define SPOOL_STATUS_LINES_MAX	4
int spool_status_append_lines(struct spool *sp, const char *id,
    const char *const *lines, size_t n, bool sync);
/* spool_status_append_lines() for the writer that knows the file: *size
 * is the size it expects queue/<id> to have, ending in a whole line (its
 * own load and appends say so), or -1.  A file of that size needs no
 * look at its tail; any other is looked at, a torn tail cut, as above.
 * On return *size is the file's size after the records when it had the
 * size expected and they were written, else -1 (not what the writer
 * thought: it reads the file again before trusting what it knows). */
int spool_status_append_known(struct spool *sp, const char *id,
    const char *const *lines, size_t n, bool sync, int64_t *size);
/* spool_status_append_known() to the queue file fd from
 * spool_load_open().  A file removed meanwhile (its last link gone: a
 * `queue delete` done) fails with ENOENT, as by name; one still being
 * moved (hold, or a delete under way) gets the records, which go with
 * it. */
int spool_status_append_fd(int fd, const char *const *lines, size_t n,
    bool sync, int64_t *size);
/* fsyncs queue/<id> (records appended without sync).  Blocking. */
int spool_status_sync(struct spool *sp, const char *id);
/* A finished message: removes queue/<id>, then (format 1, one_file
 * false) data/<id> (blocking). */
int spool_remove(struct spool *sp, const char *id, bool one_file);
/*
 * Removal of a message whose last records were not fsync'd: unlinks
 * queue/<id> now and, format 1 (one_file false), leaves data/<id> until
 * that unlink is durable.
 * Many removals then share one fsync of queue/, made by
 * spool_removals_flush() (the queue manager calls it a moment later, off
 * its loop) or here, when SPOOL_GONE_MAX are waiting.  A crash before
 * that fsync brings the message back with its data, so it is finished
 * again: a duplicate copy at worst, never a loss (docs/queue.md).
 * -1 with errno (ENOENT: gone).  Blocking.
 */
int spool_remove_deferred(struct spool *sp, const char *id, bool one_file);
/* Removals waiting for their fsync. */
size_t spool_removals_pending(struct spool *sp);
/* Makes them durable (one fsync of queue/) and unlinks their data;
 * -1 with errno when the fsync failed (their data is then kept, for the
 * hourly cleanup).  Blocking: a worker thread, or the exit. */
int spool_removals_flush(struct spool *sp);
/* Renames <from>/<id> to <to>/<id> and fsyncs both folders (blocking).
 * Never replaces: -1 with EEXIST when <to>/<id> exists. */
int spool_move(struct spool *sp, const char *id, const char *from,
    const char *to);
/* `decorum queue delete`: renames queue/<id> (or failed/<id>) away first,
 * so a running queue manager sees the message gone, then removes the
 * data.  0, or -1 with errno (ENOENT: no such message). */
int spool_delete(struct spool *sp, const char *id);
/* Sorted ids (valid queue ids only) in an area; 0 or -1. */
int spool_list(struct spool *sp, const char *area, char ***ids, size_t *n);
void spool_list_free(char **ids, size_t n);
/* Removes garbage older than min_age seconds (by mtime): tmp/ files
 * (messages whose commit never finished), data/<id> with no envelope in
 * queue/, failed/, corrupt/ or hold/, and hold/<id>.data without
 * hold/<id>.  Never waits: a data link that a hold or release is moving
 * (the spool lock is taken) is left for the next run.  Blocking I/O
 * (readdir, unlink): a worker thread's job.  Returns how many files were
 * removed. */
unsigned spool_cleanup(struct spool *sp, int64_t min_age);
/* Seconds a tmp/ or orphan data/ file must be left alone, because a
 * receiving smtpd may still be writing or committing it. */
#define SPOOL_GARBAGE_AGE	(2 * 3600)

void envelope_free(struct envelope *env);	/* frees members, not env */

#endif
