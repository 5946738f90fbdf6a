/*
 * Internals shared by the spool's files (spool.c writes new messages,
 * spool_store.c reads and changes queued ones, spool_hold.c parks them).
 * Not for other modules; the unit tests use id_source.
 */
#ifndef DECORUM_QUEUE_SPOOL_PRIV_H
#define DECORUM_QUEUE_SPOOL_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/bounds.h"
#include "common/dirsync.h"

struct queue_file;

enum { SPOOL_TMP, SPOOL_DATA, SPOOL_QUEUE, SPOOL_FAILED, SPOOL_CORRUPT,
    SPOOL_N_AREAS };

/* Ids a new message may try before spool_writer_new() gives up, each
 * taken when data/<id> exists already: a fresh id never is (queue_id.c),
 * so only an injected id source runs out. */
#define SPOOL_ID_TRIES		16

/* Removals one fsync of queue/ covers at most; a full batch is made
 * durable at once by the thread that would overfill it. */
#define SPOOL_GONE_MAX		64

struct spool {
	char *dir;
	int root;
	int fd[SPOOL_N_AREAS];	/* open directories, for *at() and fsync */
	/* Group commit: the threads of one process that renamed into an
	 * area share its directory fsyncs (spool_area_sync). */
	struct dirsync *sync[SPOOL_N_AREAS];
	struct dirsync_key key[SPOOL_N_AREAS];
	/* Where new ids come from: queue_id_new() when NULL; the unit tests
	 * set their own to make two messages want one id. */
	void (*id_source)(char out[QUEUE_ID_MAX], void *arg);
	void *id_arg;
	/* Finished messages whose queue/ unlink is not durable yet, so
	 * their data/ files stay (spool_removals.c). */
	pthread_mutex_t gone_mu;
	char gone[SPOOL_GONE_MAX][QUEUE_ID_MAX];
	bool gone_one_file[SPOOL_GONE_MAX];	/* format 2: no data/<id> */
	size_t n_gone;
};

/* The folder name in the open folder parent (AT_FDCWD: name is a
 * path; made first, mode 0700, with create), opened O_DIRECTORY |
 * O_NOFOLLOW: never through a link (ELOOP).  -1 with errno. */
int spool_folder_open(int parent, const char *name, bool create);

/* Makes what was renamed into (or out of) area durable, sharing one
 * fsync with the other threads doing so now (common/dirsync.h).  0, or
 * -1 with the errno of the fsync that covered it.  Blocking. */
int spool_area_sync(struct spool *sp, int area);

/* Directory fd of an area name, -1 if unknown. */
int spool_area_fd(const struct spool *sp, const char *area);
/* A file (of any kind, a link not followed) named name in dfd; errno
 * says why not (ENOENT: none). */
bool spool_exists_at(int dfd, const char *name);
/* An envelope of id in queue/, failed/ or corrupt/ (not hold/). */
bool spool_has_envelope(struct spool *sp, const char *id);
/* spool_load() and spool_list() of an open folder (hold/ is opened on
 * demand, so it has no area fd); area names it in err. */
int spool_load_at(int dfd, const char *area, const char *id,
    struct queue_file *qf, char *err, size_t errlen);
int spool_list_at(int dfd, char ***ids, size_t *n);
int spool_write_all(int fd, const char *p, size_t len);
void spool_writer_abort_work(void *w);

/*
 * renameat() that never replaces the target: -1 with EEXIST when `to`
 * exists.  renameat2(RENAME_NOREPLACE) where the C library and the file
 * system have it, else link + unlink (the same guarantee; a crash in
 * between leaves both names, the source being tmp/ garbage).
 */
int spool_rename_noreplace(int fromfd, const char *from, int tofd,
    const char *to);

/*
 * The spool lock (flock(2) on a fresh descriptor of data/, so it works
 * between threads and processes alike).  Hold and release take it for
 * their link-rename-unlink sequence, spool_cleanup() for each removal of
 * an orphan data link: a data file is never judged an orphan while its
 * envelope is between hold/ and queue/.  wait: block until free (CLI
 * only); else -1 with EWOULDBLOCK when taken.  Returns a descriptor for
 * spool_unlock().
 */
int spool_lock(struct spool *sp, bool wait);
void spool_unlock(int fd);

#endif
