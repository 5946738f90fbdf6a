/*
 * The daemon's event loops: one place that says how an event_base is
 * made.  epoll's changelist is on: a session that switches reading off
 * and on again (or a bufferevent that adds and drops its write event)
 * within one loop pass then costs one epoll_ctl, or none, instead of one
 * per change.  Its one caveat, fds made by dup() sharing a file
 * description with another watched fd, does not apply: no loop here
 * watches a dup'd fd.
 *
 * evloop_run() runs a loop with its thread's log lines batched: the
 * first line of a pass activates one event, made once per run, that
 * writes them all (log.h, log_batch_start), after the callbacks that
 * were due in that pass and before the loop waits again.
 */
#ifndef DECORUM_COMMON_EVLOOP_H
#define DECORUM_COMMON_EVLOOP_H

struct event_base;

/* A new loop, or NULL (the caller decides how fatal that is). */
struct event_base *evloop_new(void);

/* event_base_dispatch(base), this thread's log lines written once per
 * pass, and every line written when it returns.  Returns what
 * event_base_dispatch returned. */
int evloop_run(struct event_base *base);

#endif
