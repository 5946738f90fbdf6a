/*
 * A small pool of worker threads for the blocking system calls an event
 * loop must never make itself: fsync, rename+fsync of a directory, Maildir
 * writes.  Work runs in a worker thread; its completion runs afterwards in
 * the event loop's thread, so completion code may touch loop-owned state.
 *
 * work() must not touch libevent or loop-owned state; done() may.
 */
#ifndef DECORUM_COMMON_WORKPOOL_H
#define DECORUM_COMMON_WORKPOOL_H

struct event_base;
struct workpool;

struct workpool *workpool_new(struct event_base *base, unsigned threads);
void workpool_submit(struct workpool *pool, void (*work)(void *arg),
    void (*done)(void *arg), void *arg);
/* Jobs submitted and not yet completed (done() not yet run). */
unsigned workpool_pending(const struct workpool *pool);
/* Waits for every submitted job, runs their done(), then frees. */
void workpool_free(struct workpool *pool);

#endif
