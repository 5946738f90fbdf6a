/*
 * This process's id without a system call per use.  glibc stopped
 * caching getpid() (2.25), and the logger writes the pid on every line
 * and the queue ids hold it: about 14 getpid calls per message.  The
 * value is read once and forgotten in the child of every fork(), so a
 * child never reports its parent's id.  Safe from any thread.
 */
#ifndef DECORUM_COMMON_PIDCACHE_H
#define DECORUM_COMMON_PIDCACHE_H

#include <sys/types.h>

pid_t pidcache_get(void);

#endif
