/*
 * A batch of whole log lines that leaves in one write(2): what log.c
 * keeps for a thread that runs an event loop, so the lines of one loop
 * pass cost one system call instead of one each (issue 12 item 2).
 *
 * A batch never holds more than LOGBATCH_MAX octets, PIPE_BUF on Linux:
 * a write of at most PIPE_BUF octets to a pipe is atomic, so when the
 * log is a pipe (journald, a syslog shipper) shared with other
 * processes, their lines never land inside ours.  Every write ends on a
 * line boundary, as the batch takes whole lines only.
 *
 * Pure: no locking, no loop; the caller (log.c) owns both.
 */
#ifndef DECORUM_COMMON_LOGBATCH_H
#define DECORUM_COMMON_LOGBATCH_H

#include <stddef.h>

#define LOGBATCH_MAX	4096

struct logbatch {
	size_t len;
	char data[LOGBATCH_MAX];
};

/*
 * Add one whole line (n octets, its '\n' included).  What the batch
 * holds is written to fd first when the line would take it past
 * LOGBATCH_MAX; a line longer than LOGBATCH_MAX then goes out alone,
 * whole, at once.
 */
void logbatch_add(struct logbatch *b, int fd, const char *line, size_t n);

/* Write what the batch holds to fd (one write) and empty it. */
void logbatch_flush(struct logbatch *b, int fd);

#endif
