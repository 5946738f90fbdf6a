/*
 * The life every scanner client shares (scan.h's contract): one timer
 * for the whole call, an end that never runs inside the start function,
 * and an end that frees the client before done runs, so the caller may
 * free the result and the message from done.
 */
#ifndef DECORUM_SCAN_SCAN_CALL_H
#define DECORUM_SCAN_SCAN_CALL_H

#include "scan/scan.h"

struct event;
struct event_base;

struct scan_call {
	struct event *end;		/* the end's own turn of the loop */
	struct event *timer;		/* the whole call */
	unsigned timeout;		/* seconds */
	struct scan_result *res;
	scan_done_fn *done;
	void *arg;
	/* Frees the client that holds this call (and, through
	 * scan_call_free, the call's events). */
	void (*free_client)(void *client);
	void *client;
};

/* Initialises res for scanner and makes the events; nothing runs yet. */
void scan_call_init(struct scan_call *k, struct event_base *base,
    const char *scanner, unsigned timeout, struct scan_result *res,
    scan_done_fn *done, void *arg, void (*free_client)(void *),
    void *client);
/* After the start: the timer runs, or, when why is not NULL, the call
 * fails with it and ends on the loop's next turn. */
void scan_call_arm(struct scan_call *k, const char *why);
/* The call is over (res says how): frees the client, then done. */
void scan_call_end(struct scan_call *k);
/* The same on the loop's next turn (for a library that still uses the
 * client after calling back); the timer stops now. */
void scan_call_end_later(struct scan_call *k);
/* The events, for free_client. */
void scan_call_free(struct scan_call *k);

#endif
