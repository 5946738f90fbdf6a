/*
 * Group commit (common/dirsync.c): many committers share fsyncs, each
 * is released with the status of the fsync that covered it, an fsync
 * error fails exactly the callers it covered, and folders of other keys
 * are never covered by a foreign fsync.
 *
 * No timing: the injected fsync of the first round holds until every
 * other caller is queued (dirsync_stats), so the rounds are known
 * exactly: round 1 covers its leader alone (the others queued after it
 * started), round 2 covers all the rest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/dirsync.h"

enum { N_CALLERS = 16, MAX_ROUNDS = 64 };

struct fake {
	struct dirsync *ds;
	atomic_int calls;
	unsigned hold_until;	/* round 1 waits for this many queued */
	int fail_round;		/* this round returns EIO (0: none) */
	int fds[MAX_ROUNDS];	/* the fd each round synced */
};

struct caller {
	struct fake *f;
	pthread_barrier_t *start;
	int fd;
	struct dirsync_key key;
	int rc, err;
};

struct stats {
	unsigned waiting;
	uint64_t count;
};

static struct stats
stats_of(struct dirsync *ds)
{
	struct stats st;

	dirsync_stats(ds, &st.waiting, &st.count);
	return st;
}

static unsigned
waiting(struct dirsync *ds)
{
	return stats_of(ds).waiting;
}

static uint64_t
synced(struct dirsync *ds)
{
	return stats_of(ds).count;
}

static int
fake_fsync(int fd, void *arg)
{
	struct fake *f = arg;
	int round = atomic_fetch_add(&f->calls, 1) + 1;

	if (round <= MAX_ROUNDS)
		f->fds[round - 1] = fd;
	if (round == 1)
		while (waiting(f->ds) < f->hold_until)
			sched_yield();
	if (round == f->fail_round) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static void *
caller_run(void *p)
{
	struct caller *c = p;

	pthread_barrier_wait(c->start);
	errno = 0;
	c->rc = dirsync_sync(c->f->ds, c->fd, &c->key);
	c->err = c->rc < 0 ? errno : 0;
	return NULL;
}

/* Runs N_CALLERS at once, the first n_b of them with key b (fd 2),
 * the rest with key a (fd 1); fills cs. */
static void
run_callers(struct fake *f, struct caller *cs, unsigned n_b)
{
	static const struct dirsync_key a = { 1, 100 }, b = { 1, 200 };
	pthread_t th[N_CALLERS];
	pthread_barrier_t start;
	unsigned i;

	pthread_barrier_init(&start, NULL, N_CALLERS);
	for (i = 0; i < N_CALLERS; i++) {
		cs[i] = (struct caller){ f, &start, i < n_b ? 2 : 1,
		    i < n_b ? b : a, -2, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, caller_run,
		    &cs[i]), 0);
	}
	for (i = 0; i < N_CALLERS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&start);
}

static void
fake_init(struct fake *f, int fail_round)
{
	memset(f, 0, sizeof(*f));
	f->ds = dirsync_new(fake_fsync, f);
	f->hold_until = N_CALLERS - 1;
	f->fail_round = fail_round;
}

static unsigned
count_failed(const struct caller *cs, int err)
{
	unsigned i, n = 0;

	for (i = 0; i < N_CALLERS; i++) {
		assert_true(cs[i].rc == 0 || cs[i].rc == -1);
		if (cs[i].rc < 0) {
			assert_int_equal(cs[i].err, err);
			n++;
		}
	}
	return n;
}

/* Sixteen committers, two fsyncs, all released with success. */
static void
test_many_share(void **state)
{
	struct caller cs[N_CALLERS];
	struct fake f;

	(void)state;
	fake_init(&f, 0);
	run_callers(&f, cs, 0);
	assert_int_equal(atomic_load(&f.calls), 2);
	assert_int_equal(synced(f.ds), 2);
	assert_int_equal(count_failed(cs, 0), 0);
	assert_int_equal(waiting(f.ds), 0);
	dirsync_free(f.ds);
}

/* The second round fails: exactly its fifteen callers fail, the
 * leader of round one does not; a caller after them succeeds with a
 * fresh fsync. */
static void
test_error_fails_covered(void **state)
{
	struct dirsync_key k = { 1, 100 };
	struct caller cs[N_CALLERS];
	struct fake f;

	(void)state;
	fake_init(&f, 2);
	run_callers(&f, cs, 0);
	assert_int_equal(atomic_load(&f.calls), 2);
	assert_int_equal(count_failed(cs, EIO), N_CALLERS - 1);
	assert_int_equal(dirsync_sync(f.ds, 1, &k), 0);
	assert_int_equal(atomic_load(&f.calls), 3);
	dirsync_free(f.ds);
}

/* The first round fails: only its leader fails. */
static void
test_error_first_round(void **state)
{
	struct caller cs[N_CALLERS];
	struct fake f;

	(void)state;
	fake_init(&f, 1);
	run_callers(&f, cs, 0);
	assert_int_equal(atomic_load(&f.calls), 2);
	assert_int_equal(count_failed(cs, EIO), 1);
	dirsync_free(f.ds);
}

/* Two folders on one dirsync: the queued callers of each get an fsync
 * of their own folder's fd; neither is covered by the other's. */
static void
test_keys_apart(void **state)
{
	struct caller cs[N_CALLERS];
	struct fake f;
	int i, seen[3] = { 0, 0, 0 };

	(void)state;
	fake_init(&f, 0);
	run_callers(&f, cs, N_CALLERS / 2);
	/* Round 1 (either key), then one round per key. */
	assert_int_equal(atomic_load(&f.calls), 3);
	assert_int_equal(count_failed(cs, 0), 0);
	for (i = 1; i < 3; i++)
		seen[f.fds[i]]++;
	assert_int_equal(seen[1], 1);
	assert_int_equal(seen[2], 1);
	dirsync_free(f.ds);
}

/* Alone, a caller leads at once; one after another, one fsync each
 * (none may ride on an fsync that started before it came). */
static void
test_sequential(void **state)
{
	struct dirsync_key k = { 7, 7 };
	struct fake f;
	int i;

	(void)state;
	fake_init(&f, 3);
	f.hold_until = 0;
	for (i = 1; i <= 4; i++) {
		assert_int_equal(dirsync_sync(f.ds, 1, &k), i == 3 ? -1 : 0);
		assert_int_equal(atomic_load(&f.calls), i);
	}
	dirsync_free(f.ds);
}

struct lone {
	struct dirsync *ds;
	bool announced;
	int rc;
};

static void *
lone_run(void *p)
{
	static const struct dirsync_key k = { 3, 3 };
	struct lone *l = p;

	l->rc = l->announced ? dirsync_sync_expected(l->ds, 1, &k) :
	    dirsync_sync(l->ds, 1, &k);
	return NULL;
}

/* A leader that knows of an announced caller waits for it: both are
 * covered by one fsync.  The wait is long enough (an hour) that only
 * the arrival can end it, so the test has no timing in it. */
static void
test_leader_waits_for_announced(void **state)
{
	struct lone lead = { NULL, false, -2 }, late = { NULL, true, -2 };
	pthread_t a, b;
	struct fake f;

	(void)state;
	fake_init(&f, 0);
	f.hold_until = 0;
	dirsync_set_lead_wait(f.ds, 3600L * 1000000000L);
	lead.ds = late.ds = f.ds;
	dirsync_expect(f.ds);
	assert_int_equal(pthread_create(&a, NULL, lone_run, &lead), 0);
	/* The leader is queued (its own waiter) and waiting, not syncing. */
	while (waiting(f.ds) < 1)
		sched_yield();
	assert_int_equal(atomic_load(&f.calls), 0);
	assert_int_equal(pthread_create(&b, NULL, lone_run, &late), 0);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_int_equal(lead.rc, 0);
	assert_int_equal(late.rc, 0);
	assert_int_equal(atomic_load(&f.calls), 1);
	dirsync_free(f.ds);
}

/* An announced caller that will not come (unexpect) releases the
 * waiting leader; one that never says so holds it only for the wait. */
static void
test_leader_released(void **state)
{
	struct lone lead = { NULL, false, -2 };
	pthread_t a;
	struct fake f;

	(void)state;
	fake_init(&f, 0);
	f.hold_until = 0;
	dirsync_set_lead_wait(f.ds, 3600L * 1000000000L);
	lead.ds = f.ds;
	dirsync_expect(f.ds);
	assert_int_equal(pthread_create(&a, NULL, lone_run, &lead), 0);
	while (waiting(f.ds) < 1)
		sched_yield();
	dirsync_unexpect(f.ds);
	pthread_join(a, NULL);
	assert_int_equal(lead.rc, 0);
	assert_int_equal(atomic_load(&f.calls), 1);

	/* Announced, never coming: a 1 ms wait, then the fsync alone. */
	dirsync_set_lead_wait(f.ds, 1000000L);
	dirsync_expect(f.ds);
	lead.rc = -2;
	lone_run(&lead);
	assert_int_equal(lead.rc, 0);
	assert_int_equal(atomic_load(&f.calls), 2);
	/* Without a wait set, announcements change nothing. */
	dirsync_set_lead_wait(f.ds, 0);
	lead.rc = -2;
	lone_run(&lead);
	assert_int_equal(lead.rc, 0);
	assert_int_equal(atomic_load(&f.calls), 3);
	dirsync_free(f.ds);
}

/*
 * Churn: callers of two keys come and go without pause, so rounds end
 * while others queue and the lead passes from waiter to waiter.  Every
 * call must return only after an fsync of its own folder that began
 * after the call did (the rule of dirsync.h), and every call returns.
 */
enum { CHURN_THREADS = 8, CHURN_CALLS = 400 };

struct churn {
	struct dirsync *ds;
	atomic_ulong begun[3], ended[3];	/* by fd: 1 and 2 */
	atomic_int broken;
};

static int
churn_fsync(int fd, void *arg)
{
	struct churn *c = arg;
	unsigned long seq = atomic_fetch_add(&c->begun[fd], 1) + 1;

	sched_yield();
	atomic_store(&c->ended[fd], seq);
	return 0;
}

struct churner {
	struct churn *c;
	int fd;
};

static void *
churner_run(void *p)
{
	struct churner *me = p;
	struct churn *c = me->c;
	struct dirsync_key k = { 9, (uint64_t)me->fd };
	unsigned long before;
	int i;

	for (i = 0; i < CHURN_CALLS; i++) {
		before = atomic_load(&c->begun[me->fd]);
		if (dirsync_sync(c->ds, me->fd, &k) != 0 ||
		    atomic_load(&c->ended[me->fd]) <= before)
			atomic_fetch_add(&c->broken, 1);
	}
	return NULL;
}

static void
test_churn_keeps_the_rule(void **state)
{
	struct churner who[CHURN_THREADS];
	pthread_t th[CHURN_THREADS];
	struct churn *c = calloc(1, sizeof(*c));
	unsigned long fsyncs;
	int i;

	(void)state;
	assert_non_null(c);
	c->ds = dirsync_new(churn_fsync, c);
	for (i = 0; i < CHURN_THREADS; i++) {
		who[i] = (struct churner){ c, 1 + i % 2 };
		assert_int_equal(pthread_create(&th[i], NULL, churner_run,
		    &who[i]), 0);
	}
	for (i = 0; i < CHURN_THREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&c->broken), 0);
	fsyncs = atomic_load(&c->begun[1]) + atomic_load(&c->begun[2]);
	assert_true(fsyncs <= CHURN_THREADS * CHURN_CALLS);
	assert_int_equal(synced(c->ds), fsyncs);
	assert_int_equal(waiting(c->ds), 0);
	dirsync_free(c->ds);
	free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_share),
		cmocka_unit_test(test_error_fails_covered),
		cmocka_unit_test(test_error_first_round),
		cmocka_unit_test(test_keys_apart),
		cmocka_unit_test(test_leader_waits_for_announced),
		cmocka_unit_test(test_leader_released),
		cmocka_unit_test(test_sequential),
		cmocka_unit_test(test_churn_keeps_the_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
