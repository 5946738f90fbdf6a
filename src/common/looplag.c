/*
 * The loop-lag probe (see looplag.h): a persistent timer every
 * LOOPLAG_TICK_MS; each time it fires, the time since the previous firing
 * beyond the tick is a delay no timer could avoid, because a callback (or
 * a run of callbacks in one loop iteration) held the loop that long.
 *
 * Used by the queue manager when log_level = "debug"; each delay of at
 * least LOOPLAG_REPORT_MS is logged (event=loop-stall), and the longest at
 * the end (event=loop-lag).  Costs 100 wake-ups a second, so it is off
 * otherwise.  Loop thread only.
 *
 * On a machine whose CPUs are shared, the delay also counts the time the
 * thread waited for a CPU; the thread's own CPU time between two firings
 * (cpu_ms) does not, and is the figure to compare across runs.  Blocking
 * I/O shows in the delay only.
 */
#include "common/looplag.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"

#define LOOPLAG_TICK_MS		10
#define LOOPLAG_REPORT_MS	50

struct looplag {
	struct event *ev;
	const char *what;
	int64_t last_us, last_cpu_us;
	int64_t max_us, max_cpu_us;
};

static int64_t
clock_us(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
looplag_tick(evutil_socket_t fd, short what, void *arg)
{
	struct looplag *lag = arg;
	int64_t now = clock_us(CLOCK_MONOTONIC);
	int64_t cpu = clock_us(CLOCK_THREAD_CPUTIME_ID), late, used;

	(void)fd;
	(void)what;
	late = now - lag->last_us - LOOPLAG_TICK_MS * 1000;
	used = cpu - lag->last_cpu_us;
	lag->last_us = now;
	lag->last_cpu_us = cpu;
	if (late > lag->max_us)
		lag->max_us = late;
	if (used > lag->max_cpu_us)
		lag->max_cpu_us = used;
	if (late >= LOOPLAG_REPORT_MS * 1000)
		log_debug("event=loop-stall loop=%s ms=%lld cpu_ms=%lld",
		    lag->what, (long long)(late / 1000),
		    (long long)(used / 1000));
}

struct looplag *
looplag_new(struct event_base *base, const char *what)
{
	struct looplag *lag = xcalloc(1, sizeof(*lag));
	struct timeval tv = { 0, LOOPLAG_TICK_MS * 1000 };

	lag->what = what;
	lag->ev = event_new(base, -1, EV_PERSIST, looplag_tick, lag);
	if (lag->ev == NULL)
		panic("cannot create the loop-lag timer");
	lag->last_us = clock_us(CLOCK_MONOTONIC);
	lag->last_cpu_us = clock_us(CLOCK_THREAD_CPUTIME_ID);
	event_add(lag->ev, &tv);
	return lag;
}

unsigned
looplag_max_ms(const struct looplag *lag)
{
	return (unsigned)(lag->max_us / 1000);
}

unsigned
looplag_max_cpu_ms(const struct looplag *lag)
{
	return (unsigned)(lag->max_cpu_us / 1000);
}

void
looplag_free(struct looplag *lag)
{
	if (lag == NULL)
		return;
	log_debug("event=loop-lag loop=%s max_ms=%u max_cpu_ms=%u", lag->what,
	    looplag_max_ms(lag), looplag_max_cpu_ms(lag));
	event_free(lag->ev);
	free(lag);
}
