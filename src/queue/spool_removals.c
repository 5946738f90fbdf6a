/*
 * Removals of finished messages that share one fsync of queue/ (spool.h,
 * spool_remove_deferred).
 *
 * A message's last status records go out unsynced (attempt.c) and its
 * removal is what makes "done" durable.  That durability only decides
 * whether a crash can deliver its last copy twice; nothing waits for it.
 * So the delivery thread unlinks queue/<id> and moves on, and one fsync
 * a moment later covers every removal since: one per batch instead of
 * one per message.  A format 1 message's data/<id> is unlinked only
 * after that fsync: a message that comes back from a crash must find its
 * data.  Format 2 has its data in the file unlinked; the fsync still
 * bounds the time a crash could bring it back.
 * Trusts: ids that reach it were checked by its callers (queue_id_valid).
 */
#include "queue/spool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "queue/spool_priv.h"

struct gone_batch {
	char id[SPOOL_GONE_MAX][QUEUE_ID_MAX];
	bool one_file[SPOOL_GONE_MAX];
	size_t n;
};

/* Takes the waiting removals out (gone_mu held). */
static void
take(struct spool *sp, struct gone_batch *b)
{
	memcpy(b->id, sp->gone, sp->n_gone * sizeof(sp->gone[0]));
	memcpy(b->one_file, sp->gone_one_file,
	    sp->n_gone * sizeof(sp->gone_one_file[0]));
	b->n = sp->n_gone;
	sp->n_gone = 0;
}

static int
make_durable(struct spool *sp, const struct gone_batch *b)
{
	size_t i;
	int saved;

	if (b->n == 0)
		return 0;
	if (spool_area_sync(sp, SPOOL_QUEUE) < 0) {
		saved = errno;
		log_warn("event=spool-error op=fsync-queue-dir removals=%zu "
		    "errno=%d action=data-kept", b->n, saved);
		errno = saved;
		return -1;
	}
	for (i = 0; i < b->n; i++)
		if (!b->one_file[i] &&
		    unlinkat(sp->fd[SPOOL_DATA], b->id[i], 0) < 0 &&
		    errno != ENOENT)
			log_warn("event=spool-error id=%s op=unlink-data "
			    "errno=%d", b->id[i], errno);
	return 0;
}

int
spool_remove_deferred(struct spool *sp, const char *id, bool one_file)
{
	struct gone_batch full;

	if (unlinkat(sp->fd[SPOOL_QUEUE], id, 0) < 0)
		return -1;
	full.n = 0;
	pthread_mutex_lock(&sp->gone_mu);
	if (sp->n_gone == SPOOL_GONE_MAX)
		take(sp, &full);
	sp->gone_one_file[sp->n_gone] = one_file;
	snprintf(sp->gone[sp->n_gone++], QUEUE_ID_MAX, "%s", id);
	pthread_mutex_unlock(&sp->gone_mu);
	/* The removal itself is done; a failed fsync only keeps data. */
	(void)make_durable(sp, &full);
	return 0;
}

size_t
spool_removals_pending(struct spool *sp)
{
	size_t n;

	pthread_mutex_lock(&sp->gone_mu);
	n = sp->n_gone;
	pthread_mutex_unlock(&sp->gone_mu);
	return n;
}

int
spool_removals_flush(struct spool *sp)
{
	struct gone_batch b;

	pthread_mutex_lock(&sp->gone_mu);
	take(sp, &b);
	pthread_mutex_unlock(&sp->gone_mu);
	return make_durable(sp, &b);
}
