/*
 * Internals shared by the spool's files (spool.c writes new messages,
 * spool_store.c reads and changes queued ones).  Not for other modules.
 */
#ifndef DECORUM_QUEUE_SPOOL_PRIV_H
#define DECORUM_QUEUE_SPOOL_PRIV_H

#include <stddef.h>

enum { SPOOL_TMP, SPOOL_DATA, SPOOL_QUEUE, SPOOL_FAILED, SPOOL_CORRUPT,
    SPOOL_N_AREAS };

struct spool {
	char *dir;
	int root;
	int fd[SPOOL_N_AREAS];		/* open directories, for *at() and fsync */
};

/* Directory fd of an area name, -1 if unknown. */
int spool_area_fd(const struct spool *sp, const char *area);
int spool_write_all(int fd, const char *p, size_t len);
void spool_writer_abort_work(void *w);

#endif
