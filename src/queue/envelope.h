/*
 * The queue file: the envelope as typed, human-readable records, one per
 * line, closed by an explicit end record, followed by the per-recipient
 * status records appended during delivery.  Pure code (no I/O), so it is
 * unit-tested and can be fuzzed.  The format is documented in
 * docs/queue.md.  Two formats are read:
 *   1  the file is the envelope and status; the data is data/<id>;
 *   2  one file per message: the data, then the envelope (which starts
 *      with "V 2" and ends with "E <octets of data>"), then the status.
 * Only format 2 is written.  The records are:
 *
 *   V 1, V 2       format version (the envelope's first line)
 *   I <id>         queue id
 *   T <unix time>  when accepted
 *   S <sender>     envelope sender, "<>" for the null sender
 *   U              SMTPUTF8 requested
 *   8              8-bit content (BODY=8BITMIME or 8-bit bytes seen)
 *   A              submitted by an authenticated user of ours (AUTH, or
 *                  sendmail); files without it: not authenticated
 *   J              judged unwanted: deliver into the spam folder;
 *                  files without it: the inbox
 *   C <ip>         client address
 *   H <helo>       HELO/EHLO argument
 *   R <address>    one per recipient, numbered from 0 in file order
 *   E              end of envelope (format 1): the file was written
 *                  completely
 *   E <octets>     end of envelope (format 2): the data before "V 2" has
 *                  that many octets
 * then, appended one at a time (each fsync'd):
 *   D <n> <local@domain>       delivered one copy to that mailbox
 *   K <n>                      recipient n finished: every copy delivered
 *   F <n> <code> <text>        recipient n failed permanently
 *   W <n> <next try> <text>    recipient n deferred until <next try>
 *   N <unix time>              a delay warning was queued at that time
 *                              (one per message; none for a bounce)
 */
#ifndef DECORUM_QUEUE_ENVELOPE_H
#define DECORUM_QUEUE_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/spool.h"

struct buf;

/* Largest queue file we read: retries append a record each. */
#define QUEUE_FILE_MAX		(16u * 1024 * 1024)
/* Longest text in an F or W record. */
#define QUEUE_STATUS_TEXT_MAX	400

enum rcpt_state { RCPT_PENDING, RCPT_DONE, RCPT_FAILED };

struct rcpt_status {
	enum rcpt_state state;
	unsigned attempts;	/* W records seen */
	int64_t next_try;	/* from the last W record, 0 if none */
	char *text;		/* last W or F text ("code text" for F), or NULL */
};

struct queue_file {
	struct envelope env;
	struct rcpt_status *st;		/* env.n_rcpts entries */
	char **delivered;		/* mailboxes with a D record */
	size_t n_delivered;
	int64_t warned;			/* last N record: when the delay warning
					 * was queued; 0 when none */
	int64_t data_len;		/* format 2: octets of data before the
					 * envelope; -1: format 1 (data/<id>) */
	bool torn;			/* an incomplete last line was ignored */
	size_t len;			/* octets parsed, torn line included
					 * (the file's size when read whole;
					 * format 2: data_len octets more) */
	unsigned bad_records;		/* unreadable status lines ignored */
};

/* Appends env's records (through the end record) to out: format 2, for
 * data_len octets of data before them; format 1 when data_len is -1.
 * -1 when a value holds a CR, LF or NUL (it would forge records) or out
 * is full. */
int envelope_format(const struct envelope *env, int64_t data_len,
    struct buf *out);

/* Parses a queue file: format 1 whole, or format 2 from its "V 2" line to
 * the file's end (the data before it is not passed).  0, or -1 with err
 * filled (corrupt: no end record, missing or malformed envelope record).
 * qf is always safe to free afterwards. */
int queue_file_parse(const char *text, size_t len, struct queue_file *qf,
    char *err, size_t errlen);
/*
 * Where a format 2 envelope starts: tail holds the last len octets of a
 * file (whole: all of it; else its first line may be part of a longer
 * one, and does not count), and its last whole line that starts with
 * "E " is the end record (status lines never start so, and a torn one
 * has no LF).  Its number (the data's octets) on success, -1 when there
 * is no such line or it is malformed.  The caller checks that "V 2" is
 * found there.
 */
int64_t queue_file_data_len(const char *tail, size_t len, bool whole);
void queue_file_free(struct queue_file *qf);
/* Applies one status record (line: len octets, no LF) as the parse of
 * the file it was appended to would, and counts it and its LF in
 * qf->len: for the writer that appended it, who keeps qf up to date
 * instead of reading the file back. */
void queue_file_apply_status(struct queue_file *qf, const char *line,
    size_t len);

bool queue_file_is_delivered(const struct queue_file *qf, const char *mailbox);
size_t queue_file_count(const struct queue_file *qf, enum rcpt_state state);

/* Copy text into out (size outlen) for an F/W record: control characters
 * become spaces, so a reply text can never start a new record. */
void envelope_clean_text(const char *text, char *out, size_t outlen);

/* Deep copy (for handing to another thread). */
void envelope_copy(struct envelope *dst, const struct envelope *src);

#endif
