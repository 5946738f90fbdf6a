/*
 * The daemon's event loops: one place that says how an event_base is
 * made.  epoll's changelist is on: a session that switches reading off
 * and on again (or a bufferevent that adds and drops its write event)
 * within one loop pass then costs one epoll_ctl, or none, instead of one
 * per change.  Its one caveat, fds made by dup() sharing a file
 * description with another watched fd, does not apply: no loop here
 * watches a dup'd fd.
 */
#ifndef DECORUM_COMMON_EVLOOP_H
#define DECORUM_COMMON_EVLOOP_H

struct event_base;

/* A new loop, or NULL (the caller decides how fatal that is). */
struct event_base *evloop_new(void);

#endif
