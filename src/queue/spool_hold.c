/*
 * Holding and releasing queued messages (spool_hold.h): the spool's
 * hold/ folder, used by `decorum queue hold|release|delete|list|show`.
 *
 * The queue manager loads envelopes only from queue/ and treats one that
 * vanished (ENOENT) as delivered or deleted: it drops the message, and a
 * delivery in flight stops at its next status record (attempt.c record()
 * -> ATTEMPT_GONE).  So moving the envelope out of queue/ with one
 * rename(2) is all it takes to stop deliveries; nothing is sent to the
 * queue manager.  A delivery already talking to a mailbox when the hold
 * lands may still complete, and its status record is then lost: after
 * the release that recipient is delivered again (at least once, never
 * lost).
 *
 * A message of format 2 (one file: data, envelope, status) moves with
 * that one rename.  Format 1 has its data beside it, in data/<id>:
 * crash safety: the data stays reachable at every step.  Hold links
 * data/<id> to hold/<id>.data first, then renames the envelope (the
 * commit point), then unlinks data/<id>; release links it back, renames
 * the envelope back, then unlinks hold/<id>.data.  A crash leaves at
 * worst an extra link: data/<id> or hold/<id>.data with no envelope
 * beside it, which spool_cleanup() removes.
 *
 * The cleanup runs in the queue manager's process, at any time, and a
 * data link looks like garbage halfway through these steps (release:
 * data/<id> is back before the envelope is).  So both take the spool lock
 * (spool_priv.h) for the whole sequence, and the cleanup removes a link
 * only under that lock, after looking again: the two never interleave.
 *
 * Nothing is ever replaced: a release whose id is queued, failed or
 * corrupt already, or a hold whose id is held already, fails with EEXIST
 * (two messages with one id: both stay whole).  Only a stale link of the
 * message itself, left by a crash, is replaced.
 * Trusts: ids are checked with queue_id_valid.
 */
#include "queue/spool_hold.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/envelope.h"
#include "queue/queue_id.h"
#include "queue/spool.h"
#include "queue/spool_priv.h"

/* The hold/ folder, created on first use (by the spool's owner: the
 * CLI becomes it first when run as root), never through a link (ELOOP).
 * -1 with errno. */
static int
hold_dir(struct spool *sp)
{
	return spool_folder_open(sp->root, SPOOL_HOLD_AREA, true);
}

static int
data_name(const char *id, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s.data", id);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Closes fd keeping errno; returns rc. */
static int
close_keep(int fd, int rc)
{
	int saved = errno;

	close(fd);
	errno = saved;
	return rc;
}

/* linkat, replacing a stale link left by a crash (callers make sure no
 * other message owns the name). */
static int
link_replace(int fromfd, const char *from, int tofd, const char *to)
{
	if (linkat(fromfd, from, tofd, to, 0) == 0)
		return 0;
	if (errno != EEXIST || unlinkat(tofd, to, 0) < 0)
		return -1;
	return linkat(fromfd, from, tofd, to, 0);
}

/* The steps of a hold, under the spool lock.  -1 with errno. */
static int
hold_locked(struct spool *sp, int hfd, const char *id, const char *dname)
{
	if (!spool_exists_at(sp->fd[SPOOL_QUEUE], id)) {
		errno = ENOENT;		/* delivered or held meanwhile */
		return -1;
	}
	if (spool_exists_at(hfd, id)) {
		errno = EEXIST;	/* another message is held with this id */
		return -1;
	}
	/* ENOENT: no data file, as a message of format 2 has none (its
	 * data is in the file moved below). */
	if (link_replace(sp->fd[SPOOL_DATA], id, hfd, dname) < 0) {
		if (errno != ENOENT)
			return -1;
	} else if (fsync(hfd) < 0) {
		return -1;
	}
	/* The commit point: from here the queue manager sees it gone. */
	if (spool_rename_noreplace(sp->fd[SPOOL_QUEUE], id, hfd, id) < 0) {
		int saved = errno;	/* ENOENT: delivered meanwhile */

		unlinkat(hfd, dname, 0);
		errno = saved;
		return -1;
	}
	if (fsync(hfd) < 0 || fsync(sp->fd[SPOOL_QUEUE]) < 0)
		return -1;
	if (unlinkat(sp->fd[SPOOL_DATA], id, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* The steps of a release, under the spool lock.  -1 with errno. */
static int
release_locked(struct spool *sp, int hfd, const char *id, const char *dname)
{
	if (!spool_exists_at(hfd, id)) {
		errno = ENOENT;
		return -1;
	}
	/* Another message has this id out there: its data/<id> is no stale
	 * link to replace, and its envelope must stay. */
	if (spool_has_envelope(sp, id)) {
		errno = EEXIST;
		return -1;
	}
	/* The data first, so the envelope never arrives in queue/ alone
	 * (ENOENT: format 2, whose data is in the file itself). */
	if (link_replace(hfd, dname, sp->fd[SPOOL_DATA], id) < 0) {
		if (errno != ENOENT)
			return -1;
	} else if (fsync(sp->fd[SPOOL_DATA]) < 0) {
		return -1;
	}
	if (spool_rename_noreplace(hfd, id, sp->fd[SPOOL_QUEUE], id) < 0 ||
	    fsync(sp->fd[SPOOL_QUEUE]) < 0 || fsync(hfd) < 0)
		return -1;
	if (unlinkat(hfd, dname, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Runs one of the above with hold/ open and the spool lock taken. */
static int
hold_step(struct spool *sp, const char *id,
    int (*steps)(struct spool *, int, const char *, const char *))
{
	char dname[QUEUE_ID_MAX + 8];
	int hfd, lk, rc;

	if (!queue_id_valid(id) || data_name(id, dname, sizeof(dname)) < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((hfd = hold_dir(sp)) < 0)
		return -1;
	if ((lk = spool_lock(sp, true)) < 0)
		return close_keep(hfd, -1);
	rc = steps(sp, hfd, id, dname);
	close_keep(hfd, 0);
	close_keep(lk, 0);	/* spool_unlock(), keeping errno */
	return rc;
}

int
spool_hold(struct spool *sp, const char *id)
{
	return hold_step(sp, id, hold_locked);
}

int
spool_release(struct spool *sp, const char *id)
{
	return hold_step(sp, id, release_locked);
}

int
spool_hold_delete(struct spool *sp, const char *id)
{
	char dname[QUEUE_ID_MAX + 8];
	int hfd;

	if (!queue_id_valid(id) || data_name(id, dname, sizeof(dname)) < 0) {
		errno = EINVAL;
		return -1;
	}
	if ((hfd = hold_dir(sp)) < 0)
		return -1;
	/* Envelope first: a data link alone is harmless garbage. */
	if (unlinkat(hfd, id, 0) < 0 || fsync(hfd) < 0)
		return close_keep(hfd, -1);
	if (unlinkat(hfd, dname, 0) < 0 && errno != ENOENT)
		return close_keep(hfd, -1);
	close(hfd);
	return 0;
}

int
spool_hold_list(struct spool *sp, char ***ids, size_t *n)
{
	int hfd, rc;

	*ids = NULL;
	*n = 0;
	if ((hfd = hold_dir(sp)) < 0)
		return -1;
	rc = spool_list_at(hfd, ids, n);
	return close_keep(hfd, rc);
}

int
spool_hold_load(struct spool *sp, const char *id, struct queue_file *qf,
    char *err, size_t errlen)
{
	int hfd, rc;

	memset(qf, 0, sizeof(*qf));
	if ((hfd = hold_dir(sp)) < 0) {
		snprintf(err, errlen, "%s: %s", SPOOL_HOLD_AREA,
		    strerror(errno));
		return -1;
	}
	rc = spool_load_at(hfd, SPOOL_HOLD_AREA, id, qf, err, errlen);
	return close_keep(hfd, rc);
}

int64_t
spool_hold_data_size(struct spool *sp, const char *id)
{
	char dname[QUEUE_ID_MAX + 8];
	struct stat st;
	int hfd, rc;

	if (!queue_id_valid(id) || data_name(id, dname, sizeof(dname)) < 0)
		return -1;
	if ((hfd = hold_dir(sp)) < 0)
		return -1;
	rc = fstatat(hfd, dname, &st, 0);
	close(hfd);
	return rc < 0 ? -1 : (int64_t)st.st_size;
}
