/*
 * Log line batches: see logbatch.h.
 *
 * Write errors and short writes are what they were before batches: the
 * logger has nowhere left to report a failing stderr, so the write is
 * tried once and what it did not take is dropped, never retried (a
 * retry would start in the middle of a line).  A blocking pipe or file
 * takes a write of at most PIPE_BUF whole.
 */
#include "common/logbatch.h"

#include <limits.h>
#include <string.h>
#include <unistd.h>

_Static_assert(LOGBATCH_MAX <= PIPE_BUF,
    "a batch must be one atomic write to a pipe");

static void
logbatch_write(int fd, const char *data, size_t n)
{
	if (write(fd, data, n) < 0) {
		/* Nowhere left to report a failing stderr. */
	}
}

void
logbatch_flush(struct logbatch *b, int fd)
{
	if (b->len == 0)
		return;
	logbatch_write(fd, b->data, b->len);
	b->len = 0;
}

void
logbatch_add(struct logbatch *b, int fd, const char *line, size_t n)
{
	if (n > LOGBATCH_MAX - b->len)
		logbatch_flush(b, fd);
	if (n > LOGBATCH_MAX) {
		logbatch_write(fd, line, n);
		return;
	}
	memcpy(b->data + b->len, line, n);
	b->len += n;
}
