/*
 * The spool: opening its folders and writing new messages into it.
 * smtpd calls spool_writer_*; the commit protocol is the queue's promise
 * that a 250 after DATA means the message is on disk (docs/queue.md).
 *
 * One file per message (queue file format 2, docs/queue.md): its data is
 * written straight into data/<id>, made when the message begins, and the
 * envelope is appended to it at the commit.  Commit, all in a workpool
 * thread (the loop never fsyncs):
 *   1. append the envelope (its end record holds the data's size);
 *      fsync data/<id>;
 *   2. rename data/<id> -> queue/<id>, fsync queue/   <- commit point;
 *   3. only then done(arg, 0) in the loop thread.
 * The file is whole before it is renamed (its fsync came first), so a
 * file in queue/ is never a part of a message.  A crash before step 2
 * leaves only a file in data/ without its name in queue/, garbage that
 * spool_cleanup() removes; after it the message is queued.  data/'s own
 * entry never needs to be durable: the name that counts is queue/'s.
 * The directory fsyncs are group commits (common/dirsync.h):
 * commits of other sessions that renamed into the same folder while one
 * fsync was in flight wait for the next and share it, and a leader of
 * queue/'s waits briefly for the commits still fsyncing their files, so
 * N sessions committing at once cost about one fsync of queue/ per
 * round, not N.  Each commit still waits for an fsync that started after
 * its own rename.
 *
 * A commit never replaces a file: data/<id> is made exclusively and the
 * rename into queue/ refuses an existing target (spool_rename_noreplace),
 * so two messages that got one id can never become one.  Ids are made
 * collision-proof (queue_id.c: time, pid, counter and random digits), so
 * a writer looks for no file of its id in the other areas (that cost a
 * stat per area per message, on smtpd's loop): it only creates data/<id>
 * exclusively, and takes a fresh id if even that exists.  The id is
 * final from then on (smtpd writes it into the Received: header,
 * sendmail into Message-ID, both into log lines), so a message that
 * finds its id taken at commit all the same fails the commit (451, the
 * client retries, logged) and the other message stays whole.
 *
 * spool_writer_write() write(2)s straight to the data file: page-cache
 * writes do not wait for the disk, and it keeps no message in memory.
 * Trusts: its callers' envelope (values holding CR/LF are refused).
 */
#include "queue/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/dirsync.h"
#include "common/log.h"
#include "common/workpool.h"
#include "common/xmalloc.h"
#include "queue/envelope.h"
#include "queue/queue_id.h"
#include "queue/spool_priv.h"

/* How long a leader of a directory fsync waits for the commits still
 * fsyncing their files (dirsync.h): about two file fsyncs of a slow
 * disk.  Commits come in bursts of the sessions' pace; one fsync for the
 * burst instead of one for each of its stragglers. */
#define SPOOL_LEAD_WAIT_NS	2000000L

struct spool_writer {
	struct spool *sp;
	char id[QUEUE_ID_MAX];
	int fd;
	bool failed;
	/* data/<id> made by this writer and not renamed yet: the only file
	 * a failure may remove.  A name of ours that another writer holds
	 * (its id is ours too) is never touched. */
	bool own_data;
	bool announced;		/* queue/'s leaders expect this commit */
	int64_t len;		/* octets of data written */
	struct buf envtext;
	void (*done)(void *, int);
	void *arg;
	int result;
};

static const char *const spool_areas[SPOOL_N_AREAS] = {
	"tmp", "data", "queue", "failed", "corrupt"
};

int
spool_area_fd(const struct spool *sp, const char *area)
{
	int i;

	for (i = 0; i < SPOOL_N_AREAS; i++)
		if (strcmp(area, spool_areas[i]) == 0)
			return sp->fd[i];
	return -1;
}

const char *
spool_dir(const struct spool *sp)
{
	return sp->dir;
}

int
spool_data_dir(const struct spool *sp, int64_t data_len)
{
	return sp->fd[data_len < 0 ? SPOOL_DATA : SPOOL_QUEUE];
}

const char *
spool_strerror(int err_no)
{
	/* What O_DIRECTORY | O_NOFOLLOW says of a link: ELOOP. */
	return err_no == ELOOP ? "a symbolic link, not a folder: refused"
	    : strerror(err_no);
}

int
spool_folder_open(int parent, const char *name, bool create)
{
	struct stat st;
	int fd;

	if (create && mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
		return -1;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	/* Linux says ENOTDIR of a link with O_DIRECTORY: say ELOOP, so
	 * the caller can tell a link from a file. */
	if (fd < 0 && errno == ENOTDIR &&
	    fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		errno = ELOOP;
	return fd;
}

/*
 * Every folder of the spool is opened without following a link, the
 * spool itself included: the spool's owner (a worker broken into) could
 * put one there, and a CLI run as root (which becomes that owner first,
 * src/cli/runas.c) or the daemon must never act on what it points to.
 */
struct spool *
spool_open(const char *dir, char *err, size_t errlen)
{
	struct spool *sp;
	int i;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	sp = xcalloc(1, sizeof(*sp));
	pthread_mutex_init(&sp->gone_mu, NULL);
	sp->dir = xstrdup(dir);
	for (i = 0; i < SPOOL_N_AREAS; i++)
		sp->fd[i] = -1;
	sp->root = spool_folder_open(AT_FDCWD, dir, false);
	if (sp->root < 0) {
		snprintf(err, errlen, "%s: %s", dir, spool_strerror(errno));
		spool_close(sp);
		return NULL;
	}
	for (i = 0; i < SPOOL_N_AREAS; i++) {
		sp->fd[i] = spool_folder_open(sp->root, spool_areas[i], true);
		if (sp->fd[i] < 0 || dirsync_key_of(sp->fd[i], &sp->key[i]) < 0) {
			snprintf(err, errlen, "%s/%s: %s", dir, spool_areas[i],
			    spool_strerror(errno));
			spool_close(sp);
			return NULL;
		}
		sp->sync[i] = dirsync_new(NULL, NULL);
	}
	dirsync_set_lead_wait(sp->sync[SPOOL_QUEUE], SPOOL_LEAD_WAIT_NS);
	return sp;
}

void
spool_close(struct spool *sp)
{
	int i;

	if (sp == NULL)
		return;
	for (i = 0; i < SPOOL_N_AREAS; i++) {
		if (sp->fd[i] >= 0)
			close(sp->fd[i]);
		dirsync_free(sp->sync[i]);
	}
	if (sp->root >= 0)
		close(sp->root);
	pthread_mutex_destroy(&sp->gone_mu);
	free(sp->dir);
	free(sp);
}

int
spool_area_sync(struct spool *sp, int area)
{
	return dirsync_sync(sp->sync[area], sp->fd[area], &sp->key[area]);
}

/* A commit's own step of queue/'s group commit: it announced itself to
 * the leaders when it began (commit_announce), so a leader about to
 * fsync waits for the commits still fsyncing their files. */
static int
commit_queue_sync(struct spool_writer *w)
{
	struct spool *sp = w->sp;

	w->announced = false;
	return dirsync_sync_expected(sp->sync[SPOOL_QUEUE],
	    sp->fd[SPOOL_QUEUE], &sp->key[SPOOL_QUEUE]);
}

static void
commit_announce(struct spool_writer *w)
{
	w->announced = true;
	dirsync_expect(w->sp->sync[SPOOL_QUEUE]);
}

/* A failed commit tells the leaders not to wait for it. */
static void
commit_unannounce(struct spool_writer *w)
{
	if (w->announced)
		dirsync_unexpect(w->sp->sync[SPOOL_QUEUE]);
	w->announced = false;
}

int
spool_rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
	int saved;

#ifdef HAVE_RENAMEAT2
	if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	/* EINVAL: this file system does not know the flag. */
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	/* link(2) never replaces either. */
	if (linkat(fromfd, from, tofd, to, 0) < 0)
		return -1;
	if (unlinkat(fromfd, from, 0) < 0) {
		saved = errno;
		unlinkat(tofd, to, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

int
spool_lock(struct spool *sp, bool wait)
{
	int fd, saved;

	/* A descriptor of its own (a lock belongs to an open file), of the
	 * data/ folder spool_open() checked. */
	fd = openat(sp->fd[SPOOL_DATA], ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EINTR)
			continue;
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

void
spool_unlock(int fd)
{
	if (fd >= 0)
		close(fd);	/* the only descriptor of it: the lock goes */
}

/* A fresh id, and data/<id> made for it (exclusively: one syscall, no
 * look into the other areas; a committed message's data is never
 * touched).  0, or -1 with errno (EEXIST: every try was taken). */
static int
spool_writer_pick_id(struct spool_writer *w)
{
	struct spool *sp = w->sp;
	int tries;

	for (tries = 0; tries < SPOOL_ID_TRIES; tries++) {
		if (sp->id_source != NULL)
			sp->id_source(w->id, sp->id_arg);
		else
			queue_id_new(w->id);
		if (!queue_id_valid(w->id)) {
			errno = EINVAL;
			return -1;
		}
		w->fd = openat(sp->fd[SPOOL_DATA], w->id,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (w->fd >= 0) {
			w->own_data = true;
			return 0;
		}
		if (errno != EEXIST)
			return -1;
		/* A file left with a name it should not have, or an id made
		 * twice (only an injected id source does that). */
		log_warn("event=queue-id-in-use id=%s action=new-id", w->id);
	}
	errno = EEXIST;
	return -1;
}

struct spool_writer *
spool_writer_new(struct spool *sp, char *err, size_t errlen)
{
	struct spool_writer *w = xcalloc(1, sizeof(*w));

	w->sp = sp;
	w->fd = -1;
	if (spool_writer_pick_id(w) < 0) {
		snprintf(err, errlen, "%s/data/%s: %s", sp->dir, w->id,
		    errno == EEXIST ? "no free queue id" : strerror(errno));
		free(w);
		return NULL;
	}
	buf_init(&w->envtext, QUEUE_FILE_MAX);
	return w;
}

const char *
spool_writer_id(const struct spool_writer *w)
{
	return w->id;
}

int
spool_writer_write(struct spool_writer *w, const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	if (w->failed)
		return -1;
	while (len > 0) {
		n = write(w->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("event=spool-error id=%s op=write errno=%d",
			    w->id, errno);
			w->failed = true;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		w->len += n;
	}
	return 0;
}

static void
spool_writer_free(struct spool_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	buf_free(&w->envtext);
	free(w);
}

/* Removes the file this writer made if it is not committed: data/<id>. */
static void
spool_writer_unlink_tmp(struct spool_writer *w)
{
	if (w->own_data)
		unlinkat(w->sp->fd[SPOOL_DATA], w->id, 0);
	w->own_data = false;
}

/* Writes all of p to fd; -1 on error. */
int
spool_write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Worker thread: steps 1 and 2 of the commit (see the top of the file). */
static void
spool_commit_work(void *p)
{
	struct spool_writer *w = p;
	struct spool *sp = w->sp;
	const char *op;
	int saved;

	w->result = -1;
	commit_announce(w);
	op = "write-envelope";
	if (spool_write_all(w->fd, w->envtext.data, w->envtext.len) < 0)
		goto fail;
	op = "fsync-data";
	if (fsync(w->fd) < 0)
		goto fail;
	close(w->fd);
	w->fd = -1;
	/* The commit point: after this rename the message exists.  It may
	 * not replace a file: another message's (a queue id made twice)
	 * stays whole, this commit fails instead. */
	op = "rename-to-queue";
	if (spool_rename_noreplace(sp->fd[SPOOL_DATA], w->id,
	    sp->fd[SPOOL_QUEUE], w->id) < 0)
		goto fail;
	w->own_data = false;
	op = "fsync-queue-dir";
	if (commit_queue_sync(w) < 0) {
		/* The rename may or may not survive a crash: take it back
		 * rather than answer 250 for a message we cannot vouch for. */
		saved = errno;
		unlinkat(sp->fd[SPOOL_QUEUE], w->id, 0);	/* ours */
		errno = saved;
		goto fail;
	}
	w->result = 0;
	return;
fail:
	saved = errno;
	commit_unannounce(w);
	errno = saved;
	if (errno == EEXIST)
		log_error("event=spool-error id=%s op=%s reason=\"queue id in "
		    "use by another message\" action=refused", w->id, op);
	else
		log_warn("event=spool-error id=%s op=%s errno=%d", w->id, op,
		    errno);
	spool_writer_unlink_tmp(w);
}

static void
spool_commit_done(void *p)
{
	struct spool_writer *w = p;

	w->done(w->arg, w->result);
	spool_writer_free(w);
}

void
spool_writer_commit(struct spool_writer *w, const struct envelope *env,
    struct workpool *pool, void (*done)(void *arg, int err), void *arg)
{
	struct envelope copy = *env;

	/* The id is the writer's, whatever the caller put in env->id. */
	memcpy(copy.id, w->id, sizeof(copy.id));
	w->done = done;
	w->arg = arg;
	if (w->failed || envelope_format(&copy, w->len, &w->envtext) < 0) {
		if (!w->failed)
			log_warn("event=spool-error id=%s op=envelope "
			    "reason=\"bad envelope value\"", w->id);
		/* Still through the pool, so done() never runs before
		 * commit() returns (callers may rely on that order). */
		w->failed = true;
		workpool_submit(pool, spool_writer_abort_work, spool_commit_done, w);
		return;
	}
	/* At once: the session waits for its 250, and the rest of the
	 * loop's pass (other sessions' input) would add to the wait. */
	workpool_submit_now(pool, spool_commit_work, spool_commit_done, w);
}

int
spool_writer_commit_now(struct spool_writer *w, const struct envelope *env)
{
	struct envelope copy = *env;
	int result = -1;

	memcpy(copy.id, w->id, sizeof(copy.id));
	if (!w->failed && envelope_format(&copy, w->len, &w->envtext) == 0) {
		spool_commit_work(w);
		result = w->result;
	} else {
		spool_writer_unlink_tmp(w);
	}
	spool_writer_free(w);
	return result;
}

void
spool_writer_abort_work(void *p)
{
	struct spool_writer *w = p;

	w->result = -1;
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	spool_writer_unlink_tmp(w);
}

void
spool_writer_abort(struct spool_writer *w)
{
	if (w == NULL)
		return;
	spool_writer_abort_work(w);
	spool_writer_free(w);
}

int
spool_writer_open_read(const struct spool_writer *w)
{
	if (w->failed || !w->own_data)
		return -1;
	return openat(w->sp->fd[SPOOL_DATA], w->id,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

/* Copies src's octets from off to its end into dst (both files), and
 * counts them in *copied. */
static int
copy_rest(int src, off_t off, int dst, int64_t *copied)
{
	char chunk[64 * 1024];
	ssize_t n;

	*copied = 0;
	for (;;) {
		n = pread(src, chunk, sizeof(chunk), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? 0 : -1;
		if (spool_write_all(dst, chunk, (size_t)n) < 0)
			return -1;
		off += n;
		*copied += n;
	}
}

int
spool_writer_rewrite(struct spool_writer *w, const char *head, size_t headlen,
    const char *body, size_t bodylen, uint64_t body_offset)
{
	char name[QUEUE_ID_MAX + 8];
	int64_t copied = (int64_t)bodylen;
	int src = -1, dst = -1;

	if (w->failed)
		return -1;
	snprintf(name, sizeof(name), "%s.new", w->id);
	src = spool_writer_open_read(w);
	dst = openat(w->sp->fd[SPOOL_TMP], name,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (src < 0 || dst < 0 || spool_write_all(dst, head, headlen) < 0 ||
	    (body != NULL ? spool_write_all(dst, body, bodylen) :
	    copy_rest(src, (off_t)body_offset, dst, &copied)) < 0 ||
	    renameat(w->sp->fd[SPOOL_TMP], name, w->sp->fd[SPOOL_DATA],
	    w->id) < 0) {
		log_warn("event=spool-error id=%s op=rewrite errno=%d", w->id,
		    errno);
		if (dst >= 0) {
			close(dst);
			unlinkat(w->sp->fd[SPOOL_TMP], name, 0);
		}
		if (src >= 0)
			close(src);
		w->failed = true;
		return -1;
	}
	close(src);
	close(w->fd);
	w->fd = dst;
	w->len = (int64_t)headlen + copied;
	return 0;
}
