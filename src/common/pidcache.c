/*
 * The process id, read once per process: see pidcache.h.
 *
 * Called by the logger (every line) and queue_id.c (every id), from the
 * loops and from worker threads.  The cache is one atomic int; 0 means
 * "not read in this process yet".  A pthread_atfork() child handler,
 * registered before the first value is kept, sets it back to 0 in every
 * child made by fork(), so the child reads its own id on first use (an
 * atomic store is async-signal-safe, as a child handler must be).  The
 * daemon makes its children with fork() only (src/daemon/master.c);
 * anything spawned with exec starts with a fresh cache anyway.
 */
#include "common/pidcache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <unistd.h>

static atomic_int pidcache_pid;
static atomic_bool pidcache_usable = true;
static pthread_once_t pidcache_once = PTHREAD_ONCE_INIT;

static void
pidcache_forget(void)
{
	atomic_store_explicit(&pidcache_pid, 0, memory_order_relaxed);
}

static void
pidcache_watch_forks(void)
{
	/* Fails only without memory for the handler: then never cache,
	 * as a child could not be told to forget. */
	if (pthread_atfork(NULL, NULL, pidcache_forget) != 0)
		atomic_store(&pidcache_usable, false);
}

pid_t
pidcache_get(void)
{
	int pid = atomic_load_explicit(&pidcache_pid, memory_order_relaxed);

	if (pid != 0)
		return (pid_t)pid;
	pthread_once(&pidcache_once, pidcache_watch_forks);
	pid = (int)getpid();
	if (atomic_load(&pidcache_usable))
		atomic_store_explicit(&pidcache_pid, pid, memory_order_relaxed);
	return (pid_t)pid;
}
