/*
 * The message data of an outbound transaction, read ahead by a worker
 * thread (smtp_client_priv.h names the client's files), so that the event
 * loop that streams it to the server only copies from memory and never
 * waits for the disk.
 *
 * One object per transaction, made when it starts: a worker opens the
 * spool's data file (openat on the folder the caller gave, no symlinks)
 * and reads the first DATA_CHUNK octets while the envelope is still being
 * answered.  From then on there is at most one read in flight: the
 * transaction takes the chunk (smtp_data_peek), dot-stuffs it into the
 * socket's buffer, and asks for the next (smtp_data_next); the worker's
 * completion calls ready() on the loop.
 *
 * Lifetime: the transaction lets go with smtp_data_release(), when it
 * ends or its connection is freed, whatever happened.  No ready() runs
 * after that; a read still in the workpool frees the object when it
 * completes (its done() sees it released), so a connection that dies or
 * times out while a read is in flight leaves nothing to touch freed
 * memory.
 *
 * Threads: while busy (a read in the workpool) the worker owns fd, buf,
 * len and err, and the loop reads none of them: smtp_data_peek() and
 * smtp_data_next() look at busy first and see a result only once
 * smtp_data_read_done() has run on the loop (the workpool's hand-over
 * orders the worker's writes before it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/workpool.h"
#include "common/xmalloc.h"
#include "deliver/smtp_client_priv.h"

struct smtp_data {
	struct workpool *pool;
	int dirfd;			/* the caller's; not ours to close */
	char *name;
	int fd;				/* ours: opened by the first read */
	int64_t size;			/* the data's octets (-1: to the
					 * file's end): a queue file of
					 * format 2 goes on after them */
	int64_t off;			/* of the next read */
	char *buf;			/* DATA_CHUNK octets */
	size_t len;			/* read into buf; 0 at the end */
	int err;			/* errno of a failed open or read */
	bool busy;			/* a read is in the workpool */
	bool ready;			/* buf holds the next chunk (or the end) */
	bool at_end;			/* nothing follows the chunk in buf */
	bool released;			/* the transaction let go */
	void (*cb)(void *arg);
	void *arg;
};

static void
smtp_data_free(struct smtp_data *sd)
{
	if (sd->fd >= 0)
		close(sd->fd);
	free(sd->name);
	free(sd->buf);
	free(sd);
}

/*
 * Worker thread: open (the first time) and read one chunk, a whole one
 * unless the file ends first.  A chunk that ends the file says so: the
 * loop then writes the final dot with it, in the same write.  Were the
 * dot left for a later read to find the end, it would go out alone, and
 * Nagle's algorithm holds such a small write until the server acknowledges
 * the data, which a server waiting for the dot does only when its delayed
 * ACK fires (40 ms on Linux): a message per 40 ms per connection.
 */
static void
smtp_data_read(void *p)
{
	struct smtp_data *sd = p;
	size_t got = 0;
	ssize_t n;

	if (sd->fd < 0) {
		sd->fd = openat(sd->dirfd, sd->name,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (sd->fd < 0) {
			sd->err = errno;
			return;
		}
	}
	while (got < DATA_CHUNK) {
		int64_t left = sd->size - (sd->off + (int64_t)got);
		size_t want = DATA_CHUNK - got;

		/* size -1: the file's end is the data's. */
		if (sd->size >= 0 && left <= 0) {
			sd->at_end = true;
			break;
		}
		if (sd->size >= 0 && (int64_t)want > left)
			want = (size_t)left;
		n = pread(sd->fd, sd->buf + got, want, sd->off + (int64_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sd->err = errno;
			return;
		}
		if (n == 0) {
			sd->at_end = true;
			break;
		}
		got += (size_t)n;
	}
	/* A known size ends with this chunk: no read just to see it. */
	if (sd->size >= 0 && sd->off + (int64_t)got >= sd->size)
		sd->at_end = true;
	sd->len = got;
}

/* Loop thread: the read is done. */
static void
smtp_data_read_done(void *p)
{
	struct smtp_data *sd = p;

	sd->busy = false;
	if (sd->released) {
		smtp_data_free(sd);
		return;
	}
	sd->ready = true;
	sd->off += (int64_t)sd->len;
	sd->cb(sd->arg);
}

static void
smtp_data_start(struct smtp_data *sd)
{
	sd->ready = false;
	sd->len = 0;
	sd->busy = true;
	workpool_submit(sd->pool, smtp_data_read, smtp_data_read_done, sd);
}

struct smtp_data *
smtp_data_open(struct workpool *pool, int dirfd, const char *name,
    int64_t size, void (*ready)(void *arg), void *arg)
{
	struct smtp_data *sd = xcalloc(1, sizeof(*sd));

	sd->pool = pool;
	sd->dirfd = dirfd;
	sd->name = xstrdup(name);
	sd->size = size;
	sd->fd = -1;
	sd->buf = xmalloc(DATA_CHUNK);
	sd->cb = ready;
	sd->arg = arg;
	smtp_data_start(sd);
	return sd;
}

int
smtp_data_peek(const struct smtp_data *sd, const char **p, size_t *len)
{
	/* Busy: the worker may be writing err and len right now. */
	if (sd->busy || !sd->ready)
		return 0;
	if (sd->err != 0) {
		errno = sd->err;
		return -1;
	}
	*p = sd->buf;
	*len = sd->len;
	return 1;
}

void
smtp_data_next(struct smtp_data *sd)
{
	if (sd->busy || !sd->ready || sd->len == 0 || sd->err != 0)
		return;
	if (sd->at_end) {
		sd->len = 0;		/* the end, known already */
		return;
	}
	smtp_data_start(sd);
}

void
smtp_data_release(struct smtp_data *sd)
{
	if (sd == NULL)
		return;
	if (sd->busy) {
		sd->released = true;	/* smtp_data_read_done frees it */
		return;
	}
	smtp_data_free(sd);
}
