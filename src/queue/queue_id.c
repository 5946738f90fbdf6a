/*
 * Queue id generation: see queue_id.h.
 *
 * Layout, fixed width, base62 digits in ASCII order (0-9 < A-Z < a-z):
 *   6 seconds since the epoch (62^6 s reaches past the year 3700)
 *   4 microseconds (62^4 > 10^6)
 *   6 process id (62^6 > 2^32)
 *   3 per-process counter (wraps at 62^3 = 238328)
 *   5 random (arc4random: 62^5, almost 30 bits)
 * Time first, so ids sort by arrival (within one clock).  The clock, the
 * pid and the counter alone keep ids apart as long as the clock never
 * goes back; should it step back while a pid comes round again, the
 * random digits still make two ids equal only once in 916 million.  So
 * no process looks for an id's files before taking it (that was a
 * stat per spool folder per message, on smtpd's loop); the spool's
 * renames, which never replace a file, stay the guarantee for that one
 * case (docs/queue.md).  The counter is atomic and arc4random is
 * thread-safe, so worker threads may also make ids.
 */
#include "queue/queue_id.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "common/pidcache.h"

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* 62^5: the random digits' range (fits arc4random_uniform's bound). */
#define QUEUE_ID_RANDOM_RANGE	916132832u

static atomic_uint queue_id_counter;

static char *
put62(char *p, uint64_t v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		p[i] = b62[v % 62];
		v /= 62;
	}
	return p + width;
}

void
queue_id_new(char out[QUEUE_ID_MAX])
{
	struct timeval tv;
	char *p = out;
	unsigned n;

	gettimeofday(&tv, NULL);
	n = atomic_fetch_add(&queue_id_counter, 1);
	p = put62(p, (uint64_t)tv.tv_sec, 6);
	p = put62(p, (uint64_t)tv.tv_usec, 4);
	p = put62(p, (uint64_t)(uint32_t)pidcache_get(), 6);
	p = put62(p, n % (62u * 62u * 62u), 3);
	p = put62(p, arc4random_uniform(QUEUE_ID_RANDOM_RANGE), 5);
	*p = '\0';
}

bool
queue_id_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= QUEUE_ID_MAX)
		return false;
	return strspn(s, b62) == n;
}
