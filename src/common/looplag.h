/*
 * A probe for a blocked event loop: how late a 10 ms timer fires is how
 * long some callback kept the loop busy.  For diagnosis (log_level =
 * "debug") and for measuring that nothing blocks; never needed to run.
 */
#ifndef DECORUM_COMMON_LOOPLAG_H
#define DECORUM_COMMON_LOOPLAG_H

struct event_base;
struct looplag;

/* Starts the probe on base; what names the loop in the log ("qmgr"). */
struct looplag *looplag_new(struct event_base *base, const char *what);
/* The longest delay seen so far, milliseconds, and the most CPU time the
 * loop's thread used between two firings (the delay without the time it
 * waited for a CPU). */
unsigned looplag_max_ms(const struct looplag *lag);
unsigned looplag_max_cpu_ms(const struct looplag *lag);
/* Logs the longest delay (event=loop-lag, debug) and frees; NULL is fine. */
void looplag_free(struct looplag *lag);

#endif
