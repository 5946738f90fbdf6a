/*
 * Reading and changing queued messages: load a queue file, append a
 * status record, remove, move between areas, list, delete, and clean up
 * garbage after a crash.  Called by the queue manager (loads in the loop,
 * everything that fsyncs in a worker thread) and by `decorum queue`.
 *
 * Trusts nothing in the spool: names must be valid queue ids before they
 * become paths, files are read with a maximum size (QUEUE_FILE_MAX).
 * Status appends are the delivery's durable record (docs/queue.md): the
 * record is written and fsync'd before the caller treats it as done; a
 * torn tail from an earlier crash is cut off before appending, so a new
 * record never glues onto half an old one.  A writer that knows the file
 * (the queue manager: its load and its own appends) says what size it
 * expects; a file of that size ends in a whole line and its tail is not
 * read again, any other is looked at as always.
 */
#include "queue/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/envelope.h"
#include "queue/queue_id.h"
#include "queue/spool_priv.h"

bool
spool_exists_at(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* len octets at off into b (appended).  -1 with errno; a file shorter
 * than that (cut meanwhile) is EIO. */
static int
pread_into(int fd, struct buf *b, size_t len, off_t off)
{
	char chunk[8192];
	size_t want;
	ssize_t n;

	while (len > 0) {
		want = len < sizeof(chunk) ? len : sizeof(chunk);
		n = pread(fd, chunk, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || buf_append(b, chunk, (size_t)n) < 0) {
			errno = n < 0 ? errno : n == 0 ? EIO : EFBIG;
			return -1;
		}
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads the queue file open as fd into b: all of a format 1 file; of a
 * format 2 file the part after its data (*data_len octets), found by
 * its end record near the file's end: the last QUEUE_TAIL_READ octets,
 * four times as many while they hold no end record (the status records
 * after it are at most QUEUE_FILE_MAX).  The data is never read, whatever
 * its size.  0; -1 with errno; -2 with err when there is no format 2 end
 * record to find.
 */
#define QUEUE_TAIL_READ		(64 * 1024)
static int
read_queue_file(int fd, struct buf *b, int64_t *data_len, char *err,
    size_t errlen)
{
	struct stat st;
	off_t size, tail, window = QUEUE_TAIL_READ;
	char head[4] = "";
	int64_t dl;

	*data_len = -1;
	if (fstat(fd, &st) < 0)
		return -1;
	size = st.st_size;
	tail = size < window ? size : window;
	if (pread_into(fd, b, (size_t)tail, size - tail) < 0)
		return -1;
	/* A small file is all read: its head too. */
	if (tail == size ? b->len >= 4 && memcmp(b->data, "V 1\n", 4) == 0 :
	    pread(fd, head, 4, 0) == 4 && memcmp(head, "V 1\n", 4) == 0) {
		/* Format 1: the whole file, its data elsewhere. */
		if (tail == size)
			return 0;
		if (size > (off_t)QUEUE_FILE_MAX) {
			errno = EFBIG;
			return -1;
		}
		b->len = 0;
		return pread_into(fd, b, (size_t)size, 0);
	}
	for (;;) {
		dl = queue_file_data_len(b->data != NULL ? b->data : "", b->len,
		    tail == size);
		if (dl >= 0 || tail == size || tail > (off_t)QUEUE_FILE_MAX)
			break;
		window *= 4;
		tail = size < window ? size : window;
		b->len = 0;
		if (pread_into(fd, b, (size_t)tail, size - tail) < 0)
			return -1;
	}
	if (dl < 0 || dl >= size) {
		snprintf(err, errlen, "no end record");
		return -2;
	}
	if (size - dl > (off_t)QUEUE_FILE_MAX) {
		errno = EFBIG;
		return -1;
	}
	if (dl < size - tail) {
		/* The envelope begins before the part read. */
		b->len = 0;
		if (pread_into(fd, b, (size_t)(size - dl), dl) < 0)
			return -1;
	} else {
		memmove(b->data, b->data + (dl - (size - tail)),
		    (size_t)(size - dl));
		b->len = (size_t)(size - dl);
	}
	*data_len = dl;
	return 0;
}

/* spool_load_at(), the file opened with mode; its descriptor left open
 * in *keep (on 0 only) when keep is not NULL. */
static int
load_at(int dfd, const char *area, const char *id, int mode,
    struct queue_file *qf, char *err, size_t errlen, int *keep)
{
	struct buf b;
	int64_t dl;
	int fd, rc;

	memset(qf, 0, sizeof(*qf));
	if (dfd < 0 || !queue_id_valid(id)) {
		snprintf(err, errlen, "bad area or id");
		errno = EINVAL;
		return -1;
	}
	buf_init(&b, QUEUE_FILE_MAX);
	fd = openat(dfd, id, mode | O_CLOEXEC | O_NOFOLLOW);
	rc = fd < 0 ? -1 : read_queue_file(fd, &b, &dl, err, errlen);
	if (rc == -1) {
		snprintf(err, errlen, "%s/%s: %s", area, id, strerror(errno));
		rc = errno;
		if (fd >= 0)
			close(fd);
		buf_free(&b);
		errno = rc;
		return -1;
	}
	if (rc == 0)
		rc = queue_file_parse(b.data != NULL ? b.data : "", b.len, qf,
		    err, errlen);
	buf_free(&b);
	if (rc == 0 && qf->data_len != dl) {
		/* The data's size and the file's format must agree: a
		 * "V 1" found after data, or data before no "V 2". */
		snprintf(err, errlen, dl < 0 ? "format 1 file with data "
		    "before it" : "end record does not follow the data");
		rc = -1;
	}
	if (rc == 0 && dl > 0)
		qf->len += (size_t)dl;
	if (rc == 0 && strcmp(qf->env.id, id) != 0) {
		snprintf(err, errlen, "id record %s does not match file name",
		    qf->env.id);
		rc = -1;
	}
	if (rc < 0) {
		queue_file_free(qf);
		close(fd);
		return -2;
	}
	if (keep != NULL)
		*keep = fd;
	else
		close(fd);
	return 0;
}

int
spool_load(struct spool *sp, const char *area, const char *id,
    struct queue_file *qf, char *err, size_t errlen)
{
	return spool_load_at(spool_area_fd(sp, area), area, id, qf, err,
	    errlen);
}

int
spool_load_at(int dfd, const char *area, const char *id,
    struct queue_file *qf, char *err, size_t errlen)
{
	return load_at(dfd, area, id, O_RDONLY, qf, err, errlen, NULL);
}

int
spool_load_open(struct spool *sp, const char *id, struct queue_file *qf,
    char *err, size_t errlen, int *fd)
{
	return load_at(sp->fd[SPOOL_QUEUE], "queue", id, O_RDWR | O_APPEND, qf,
	    err, errlen, fd);
}

int
spool_open_data(struct spool *sp, const char *area, const char *id,
    int64_t data_len, int64_t *size)
{
	char name[QUEUE_ID_MAX + 8];
	struct stat st;
	bool hold = strcmp(area, "hold") == 0;
	int dfd, fd, saved;

	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	/* Format 2: the data is the start of the message's own file;
	 * format 1: data/<id>, or hold/<id>.data while held. */
	snprintf(name, sizeof(name), "%s%s", id,
	    data_len < 0 && hold ? ".data" : "");
	if (hold)
		dfd = spool_folder_open(sp->root, "hold", false);
	else
		dfd = data_len < 0 ? sp->fd[SPOOL_DATA] :
		    spool_area_fd(sp, area);
	if (dfd < 0)
		return -1;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	saved = errno;
	if (hold)
		close(dfd);
	if (fd >= 0 && data_len < 0 && fstat(fd, &st) < 0) {
		saved = errno;
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		*size = data_len < 0 ? (int64_t)st.st_size : data_len;
	errno = saved;
	return fd;
}

int64_t
spool_data_size(struct spool *sp, const char *id)
{
	struct stat st;

	if (!queue_id_valid(id) ||
	    fstatat(sp->fd[SPOOL_DATA], id, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	return (int64_t)st.st_size;
}

/* Cuts a torn last line (no LF) off an open queue file of size size. */
static int
cut_torn_tail(int fd, off_t size)
{
	char tail[4096];
	off_t off, start;
	ssize_t n, i;

	if (size == 0)
		return 0;
	off = size;
	while (off > 0) {
		start = off > (off_t)sizeof(tail) ? off - (off_t)sizeof(tail) : 0;
		n = pread(fd, tail, (size_t)(off - start), start);
		if (n != off - start)
			return -1;
		for (i = n - 1; i >= 0; i--) {
			if (tail[i] == '\n') {
				if (start + i + 1 == size)
					return 0;	/* not torn */
				return ftruncate(fd, start + i + 1);
			}
		}
		off = start;
	}
	return -1;	/* no LF at all: not a committed queue file */
}

/* Makes the tail of an open queue file ready for an append: a file of
 * the size the writer expects ends in its whole last line and is left
 * alone; any other is looked at and a torn tail cut off, and *expect
 * set to -1 (the file is not what the writer thought). */
static int
ready_tail(int fd, int64_t *expect)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	/* Kept open since the load, and removed meanwhile (queue delete). */
	if (st.st_nlink == 0) {
		errno = ENOENT;
		return -1;
	}
	if (*expect >= 0 && (int64_t)st.st_size == *expect)
		return 0;
	*expect = -1;
	return cut_torn_tail(fd, st.st_size);
}

int
spool_status_append(struct spool *sp, const char *id, const char *line)
{
	return spool_status_append_lines(sp, id, &line, 1, true);
}

int
spool_status_append_lines(struct spool *sp, const char *id,
    const char *const *lines, size_t n, bool sync)
{
	int64_t unknown = -1;

	return spool_status_append_known(sp, id, lines, n, sync, &unknown);
}

int
spool_status_append_known(struct spool *sp, const char *id,
    const char *const *lines, size_t n, bool sync, int64_t *size)
{
	int fd, rc, saved;

	if (!queue_id_valid(id)) {
		*size = -1;
		errno = EINVAL;
		return -1;
	}
	/* No O_CREAT: a deleted message must stay deleted. */
	fd = openat(sp->fd[SPOOL_QUEUE], id, O_RDWR | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd < 0) {
		*size = -1;
		return -1;
	}
	rc = spool_status_append_fd(fd, lines, n, sync, size);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
spool_status_append_fd(int fd, const char *const *lines, size_t n, bool sync,
    int64_t *size)
{
	int64_t expect = *size;
	struct buf b;
	size_t i;
	int rc = -1, saved;

	*size = -1;
	if (n == 0 || n > SPOOL_STATUS_LINES_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (strchr(lines[i], '\n') != NULL) {
			errno = EINVAL;
			return -1;
		}
	}
	buf_init(&b, SPOOL_STATUS_LINES_MAX *
	    (QUEUE_STATUS_TEXT_MAX + 2 * SMTP_ADDRESS_MAX + 64));
	for (i = 0; i < n && buf_printf(&b, "%s\n", lines[i]) == 0; i++)
		;
	/* One write: the records land together or (torn) are cut off
	 * together by the next append. */
	if (i == n && ready_tail(fd, &expect) == 0 &&
	    spool_write_all(fd, b.data, b.len) == 0 && (!sync || fsync(fd) == 0))
		rc = 0;
	saved = errno;
	if (rc == 0 && expect >= 0)
		*size = expect + (int64_t)b.len;
	buf_free(&b);
	errno = saved;
	return rc;
}

int
spool_status_sync(struct spool *sp, const char *id)
{
	int fd, rc, saved;

	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	fd = openat(sp->fd[SPOOL_QUEUE], id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int
spool_remove(struct spool *sp, const char *id, bool one_file)
{
	/* Envelope first: without it the data is garbage anyway, and a crash
	 * in between only leaves what spool_cleanup() removes.  No directory
	 * fsync: if the unlink is lost, the message comes back with every
	 * recipient finished and is removed again, delivering nothing. */
	if (unlinkat(sp->fd[SPOOL_QUEUE], id, 0) < 0 && errno != ENOENT)
		return -1;
	if (!one_file && unlinkat(sp->fd[SPOOL_DATA], id, 0) < 0 &&
	    errno != ENOENT)
		return -1;
	return 0;
}

int
spool_move(struct spool *sp, const char *id, const char *from, const char *to)
{
	int ffd = spool_area_fd(sp, from), tfd = spool_area_fd(sp, to);

	if (ffd < 0 || tfd < 0 || !queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	/* An id is one message's in every area: never replace another's. */
	if (spool_rename_noreplace(ffd, id, tfd, id) < 0)
		return -1;
	if (fsync(tfd) < 0 || fsync(ffd) < 0)
		return -1;
	return 0;
}

int
spool_delete(struct spool *sp, const char *id)
{
	char gone[QUEUE_ID_MAX + 16];
	int from;

	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(gone, sizeof(gone), "%s.deleted", id);
	/* Renaming the envelope away is atomic: the queue manager either
	 * still sees it (and delivers) or sees it gone (and drops it). */
	from = SPOOL_QUEUE;
	if (renameat(sp->fd[SPOOL_QUEUE], id, sp->fd[SPOOL_TMP], gone) < 0) {
		if (errno != ENOENT)
			return -1;
		from = SPOOL_FAILED;
		if (renameat(sp->fd[SPOOL_FAILED], id, sp->fd[SPOOL_TMP], gone) < 0)
			return -1;
	}
	if (fsync(sp->fd[from]) < 0)
		return -1;
	if (unlinkat(sp->fd[SPOOL_DATA], id, 0) < 0 && errno != ENOENT)
		return -1;
	/* The cleanup may have taken it already: a rename keeps the old
	 * mtime, and it was garbage anyway. */
	if (unlinkat(sp->fd[SPOOL_TMP], gone, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
spool_list(struct spool *sp, const char *area, char ***ids, size_t *n)
{
	return spool_list_at(spool_area_fd(sp, area), ids, n);
}

int
spool_list_at(int dfd, char ***ids, size_t *n)
{
	struct dirent *de;
	DIR *d;
	int fd;

	*ids = NULL;
	*n = 0;
	if (dfd < 0) {
		errno = EINVAL;
		return -1;
	}
	/* fdopendir takes the fd: give it a fresh one, rewound. */
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;	/* ".", "..", "<id>.data", "<id>.env" */
		*ids = xreallocarray(*ids, *n + 1, sizeof(**ids));
		(*ids)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(*ids, *n, sizeof(**ids), cmp_str);
	return 0;
}

void
spool_list_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/*
 * Garbage (spool_cleanup): what a crash or an interrupted command leaves.
 * tmp/ files are messages whose commit never finished (and envelopes of
 * `queue delete` in flight); data/<id> with no envelope in any area is
 * what a crash between a commit's two renames, or a removal's two
 * unlinks, leaves; hold/<id>.data without hold/<id> the same of a hold or
 * a release.  All wait min_age first: smtpd, sendmail and the queue
 * manager are separate processes, and a young file may be theirs.
 * A data link is removed only under the spool lock, after looking again,
 * so a hold or release (which take it) is never caught halfway.
 */

static bool
is_old(int dfd, const char *name, time_t now, int64_t min_age)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	return (int64_t)(now - st.st_mtime) >= min_age;
}

/*
 * queue/ before failed/ and corrupt/, the order in which the queue
 * manager moves an envelope: one moving meanwhile is seen in one place
 * or the other.
 */
bool
spool_has_envelope(struct spool *sp, const char *id)
{
	static const int areas[] = { SPOOL_QUEUE, SPOOL_FAILED, SPOOL_CORRUPT };
	size_t i;

	for (i = 0; i < sizeof(areas) / sizeof(areas[0]); i++)
		if (spool_exists_at(sp->fd[areas[i]], id))
			return true;
	return false;
}

/* An envelope of id anywhere, hold/ (hfd, -1: none) included: its data
 * is no garbage.  hold/ cannot change meanwhile, as the callers hold the
 * spool lock. */
static bool
has_envelope(struct spool *sp, int hfd, const char *id)
{
	return spool_has_envelope(sp, id) ||
	    (hfd >= 0 && spool_exists_at(hfd, id));
}

struct sweep {
	struct spool *sp;
	const char *area;	/* for the log line */
	int dfd;
	int hold_fd;		/* hold/, or -1 */
	time_t now;
	int64_t min_age;
	/* true when name in dfd is garbage; called again under the lock */
	bool (*garbage)(const struct sweep *, const char *name);
	bool locked;		/* data links: removed under the spool lock */
};

static bool
tmp_garbage(const struct sweep *sw, const char *name)
{
	return is_old(sw->dfd, name, sw->now, sw->min_age);
}

static bool
data_garbage(const struct sweep *sw, const char *name)
{
	return queue_id_valid(name) &&
	    !has_envelope(sw->sp, sw->hold_fd, name) &&
	    is_old(sw->dfd, name, sw->now, sw->min_age);
}

/* hold/<id>.data without hold/<id>. */
static bool
hold_garbage(const struct sweep *sw, const char *name)
{
	char id[QUEUE_ID_MAX];
	const char *dot = strrchr(name, '.');
	size_t n;

	if (dot == NULL || strcmp(dot, ".data") != 0)
		return false;
	n = (size_t)(dot - name);
	if (n == 0 || n >= sizeof(id))
		return false;
	memcpy(id, name, n);
	id[n] = '\0';
	return queue_id_valid(id) && !spool_exists_at(sw->dfd, id) &&
	    errno == ENOENT && is_old(sw->dfd, name, sw->now, sw->min_age);
}

/* Removes dfd/name if it is garbage; true when it did. */
static bool
sweep_one(const struct sweep *sw, const char *name)
{
	bool gone;
	int lk;

	if (!sw->garbage(sw, name))
		return false;
	if (!sw->locked)
		return unlinkat(sw->dfd, name, 0) == 0;
	/* A hold or release under way holds the lock: next time. */
	if ((lk = spool_lock(sw->sp, false)) < 0)
		return false;
	gone = sw->garbage(sw, name) && unlinkat(sw->dfd, name, 0) == 0;
	spool_unlock(lk);
	return gone;
}

static unsigned
sweep_area(const struct sweep *sw)
{
	struct dirent *de;
	unsigned removed = 0;
	char safe[64];
	DIR *d;
	int fd;

	/* fdopendir takes the fd: give it a fresh one. */
	fd = openat(sw->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !sweep_one(sw, de->d_name))
			continue;
		removed++;
		log_info("event=garbage-removed file=\"%s/%s\"", sw->area,
		    log_safe(de->d_name, safe, sizeof(safe)));
	}
	closedir(d);
	return removed;
}

unsigned
spool_cleanup(struct spool *sp, int64_t min_age)
{
	struct sweep sw = { sp, "tmp", sp->fd[SPOOL_TMP], -1, time(NULL),
	    min_age, tmp_garbage, false };
	char safe[LOG_SAFE_SIZE(256)];
	unsigned removed;

	removed = sweep_area(&sw);
	/* hold/ exists once something was held; never made here.  One that
	 * cannot be opened (a link put there) holds no envelope we trust:
	 * held data is hold/<id>.data, never data/<id>, so nothing held is
	 * lost by sweeping data/ without it. */
	sw.hold_fd = spool_folder_open(sp->root, "hold", false);
	if (sw.hold_fd < 0 && errno != ENOENT)
		log_warn("event=spool-error dir=\"%s/hold\" op=open "
		    "reason=\"%s\"", log_safe(sp->dir, safe, sizeof(safe)),
		    spool_strerror(errno));
	sw.area = "data";
	sw.dfd = sp->fd[SPOOL_DATA];
	sw.garbage = data_garbage;
	sw.locked = true;
	removed += sweep_area(&sw);
	if (sw.hold_fd >= 0) {
		sw.area = "hold";
		sw.dfd = sw.hold_fd;
		sw.garbage = hold_garbage;
		removed += sweep_area(&sw);
		close(sw.hold_fd);
	}
	return removed;
}
