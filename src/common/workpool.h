/*
 * A small pool of worker threads for the blocking system calls an event
 * loop must never make itself: fsync, rename+fsync of a directory, Maildir
 * writes.  Work runs in a worker thread; its completion runs afterwards in
 * the event loop's thread, so completion code may touch loop-owned state.
 *
 * work() must not touch libevent or loop-owned state; done() may.
 * Jobs submitted during one pass of the loop are handed to the threads
 * together, after the callbacks already due in that pass: submit from
 * the loop's thread only.
 */
#ifndef DECORUM_COMMON_WORKPOOL_H
#define DECORUM_COMMON_WORKPOOL_H

struct event_base;
struct workpool;

struct workpool *workpool_new(struct event_base *base, unsigned threads);
void workpool_submit(struct workpool *pool, void (*work)(void *arg),
    void (*done)(void *arg), void *arg);
/*
 * The same, but handed to a thread at once (with the jobs of this pass
 * so far), not at the end of the loop's pass: for a job that a client
 * waits on (a commit before its 250), where the rest of the pass would
 * be added to its latency.  The caller must not touch arg after this
 * call: work() may already be running.
 */
void workpool_submit_now(struct workpool *pool, void (*work)(void *arg),
    void (*done)(void *arg), void *arg);
/* Jobs submitted and not yet completed (done() not yet run). */
unsigned workpool_pending(const struct workpool *pool);

/* What the hand-offs cost, since workpool_new (for tests and the
 * benchmark's system-call budget). */
struct workpool_stats {
	unsigned long long batches;	/* submitted lists handed over */
	unsigned long long wakeups;	/* sleeping threads woken */
	unsigned long long notifications; /* loop woken with finished jobs */
	unsigned long long finished;	/* jobs whose work() returned */
};
void workpool_stats(struct workpool *pool, struct workpool_stats *out);
/* Waits for every submitted job, runs their done(), then frees. */
void workpool_free(struct workpool *pool);

#endif
