/*
 * Unit tests of the domain tables' snapshots (src/route/domains_snap.c,
 * domains_live.c, domains_table.c): what a refresh shares and what it
 * reads again, the rule that a table is read only when whole (a file
 * written within the last second is not read; the table read before
 * answers until then, and one never read answers "try later"), missing
 * files in a folder being filled, clashing folders, odd folder names, an
 * unlistable domains folder, the CLI's on-demand loading, and the live
 * refresh on a real event loop and worker pool, including a job still in
 * flight when its owner is freed.
 *
 * The clock is the tests' own: each refresh is given "now", and files get
 * the modification times the case needs, so nothing sleeps for the
 * stillness rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/workpool.h"
#include "route/domains.h"
#include "route/domains_priv.h"
#include "route/route.h"
#include "route_fixture.h"

/* A moment well in the past that the tests date files to. */
static time_t t0;

static int
setup(void **state)
{
	struct fixture *fx = route_fixture_new("domains");

	if (fx == NULL)
		return -1;
	t0 = time(NULL) - 100;
	tu_put(fx->dir, "a.test/users", "ann:\nzed:\n");
	tu_put(fx->dir, "a.test/aliases", "team: ann, zed\n");
	tu_put(fx->dir, "b.test/users", "bob:\n");
	route_fixture_open(fx);
	*state = fx;
	return 0;
}

/* root/rel's modification (and access) time: sec + ms/1000. */
static void
set_mtime(struct fixture *fx, const char *rel, time_t sec, long ms)
{
	char path[PATH_MAX + 64];
	struct timespec t[2];

	snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
	t[0].tv_sec = t[1].tv_sec = sec;
	t[0].tv_nsec = t[1].tv_nsec = ms * 1000000L;
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* Write rel in place (same inode when it exists: O_TRUNC, as a shell's
 * ">" does) and date it sec + ms. */
static void
write_at(struct fixture *fx, const char *rel, const char *text, time_t sec,
    long ms)
{
	char path[PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	set_mtime(fx, rel, sec, ms);
}

/* One refresh at sec + ms; returns whether a new snapshot came. */
static bool
refresh_at(struct fixture *fx, time_t sec, long ms, struct timespec *settle)
{
	struct timespec now = { sec, ms * 1000000L }, unused = { 0, 0 };

	return domains_refresh_now(fx->d, &now, settle ? settle : &unused);
}

static int
user(struct fixture *fx, const char *local, const char *domain)
{
	return domains_user(fx->d, local, domain, NULL);
}

static struct domains_dom *
dom(struct fixture *fx, const char *name)
{
	return domains_snap_find(fx->d->snap, name);
}

static void
test_unchanged_is_shared(void **state)
{
	struct fixture *fx = *state;
	struct domains_snap *before = fx->d->snap;

	assert_int_equal(fx->d->snap->n, 2);
	assert_false(refresh_at(fx, time(NULL), 0, NULL));
	assert_ptr_equal(fx->d->snap, before);
	assert_int_equal(user(fx, "ann", "a.test"), 1);
	assert_int_equal(user(fx, "bob", "b.test"), 1);
	assert_int_equal(user(fx, "carl", "b.test"), 0);
}

static void
test_one_change_shares_the_rest(void **state)
{
	struct fixture *fx = *state;
	struct domains_dom *a = dom(fx, "a.test"), *b = dom(fx, "b.test");
	struct domains_table *aliases = a->t[DOMAINS_ALIASES];

	write_at(fx, "a.test/users", "ann:\nzed:\nnew:\n", t0, 0);
	assert_true(refresh_at(fx, t0 + 10, 0, NULL));
	assert_ptr_equal(dom(fx, "b.test"), b);
	assert_ptr_not_equal(dom(fx, "a.test"), a);
	assert_ptr_equal(dom(fx, "a.test")->t[DOMAINS_ALIASES], aliases);
	assert_int_equal(user(fx, "new", "a.test"), 1);
	assert_int_equal(dom(fx, "a.test")->t[DOMAINS_USERS]->state,
	    DOMAINS_LOADED);
}

/* Issue 8 item 15: a users file rewritten in place, slowly.  While it is
 * being written (its mtime within the last second) the old table
 * answers; zed, in the part not written yet, is never "no such user". */
static void
test_in_place_write_waits(void **state)
{
	struct fixture *fx = *state;
	struct timespec settle = { 0, 0 };

	write_at(fx, "a.test/users", "", t0, 0);		/* O_TRUNC */
	assert_false(refresh_at(fx, t0, 300, &settle));
	assert_int_equal(settle.tv_sec, t0 + 1);
	assert_int_equal(user(fx, "zed", "a.test"), 1);
	write_at(fx, "a.test/users", "ann:\n", t0, 400);	/* half */
	assert_false(refresh_at(fx, t0, 900, NULL));
	assert_int_equal(user(fx, "zed", "a.test"), 1);
	/* The clock a little behind the file system: still too fresh. */
	assert_false(refresh_at(fx, t0, 0, NULL));
	assert_int_equal(user(fx, "zed", "a.test"), 1);
	write_at(fx, "a.test/users", "ann:\nzed:\nnew:\n", t0, 800);
	assert_false(refresh_at(fx, t0 + 1, 700, NULL));
	assert_int_equal(user(fx, "new", "a.test"), 0);
	/* Still for a second: read, whole. */
	assert_true(refresh_at(fx, t0 + 1, 900, NULL));
	assert_int_equal(user(fx, "zed", "a.test"), 1);
	assert_int_equal(user(fx, "new", "a.test"), 1);
}

static void
test_never_read_whole_tempfails(void **state)
{
	struct fixture *fx = *state;
	struct route_result r;
	struct timespec settle = { 0, 0 };

	tu_put(fx->dir, "c.test/users", "carl:\n");
	set_mtime(fx, "c.test/users", t0, 0);
	set_mtime(fx, "c.test", t0 - 50, 0);
	assert_true(refresh_at(fx, t0, 200, &settle));
	assert_int_equal(settle.tv_sec, t0 + 1);
	assert_int_equal(domains_is_local(fx->d, "c.test"), 1);
	assert_int_equal(user(fx, "carl", "c.test"), -1);
	assert_int_equal(user(fx, "nobody", "c.test"), -1);
	route_resolve(&fx->cfg, fx->d, "nobody@c.test", &r);
	assert_int_equal(r.kind, ROUTE_TEMPFAIL);
	route_result_free(&r);
	assert_true(refresh_at(fx, t0 + 2, 0, NULL));
	assert_int_equal(user(fx, "carl", "c.test"), 1);
	assert_int_equal(user(fx, "nobody", "c.test"), 0);
}

/* A missing file is an empty table, unless its folder changed within the
 * second: a domain folder being filled, or a file between unlink and
 * its replacement. */
static void
test_missing_file_in_fresh_folder(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/d.test", fx->dir);
	assert_int_equal(mkdir(path, 0755), 0);
	set_mtime(fx, "d.test", t0, 0);
	assert_true(refresh_at(fx, t0, 500, NULL));
	assert_int_equal(domains_is_local(fx->d, "d.test"), 1);
	assert_int_equal(user(fx, "dan", "d.test"), -1);
	assert_true(refresh_at(fx, t0 + 2, 0, NULL));
	assert_int_equal(user(fx, "dan", "d.test"), 0);

	snprintf(path, sizeof(path), "%s/a.test/users", fx->dir);
	assert_int_equal(unlink(path), 0);
	set_mtime(fx, "a.test", t0 + 10, 0);
	assert_false(refresh_at(fx, t0 + 10, 200, NULL));
	assert_int_equal(user(fx, "ann", "a.test"), 1);
	assert_true(refresh_at(fx, t0 + 12, 0, NULL));
	assert_int_equal(user(fx, "ann", "a.test"), 0);
	assert_int_equal(dom(fx, "a.test")->t[DOMAINS_USERS]->state,
	    DOMAINS_MISSING);
}

static void
test_clock_far_behind_trusts(void **state)
{
	struct fixture *fx = *state;

	/* A modification time a minute ahead is a clock, not a write. */
	write_at(fx, "b.test/users", "bob:\nbea:\n", t0 + 60, 0);
	assert_true(refresh_at(fx, t0, 0, NULL));
	assert_int_equal(user(fx, "bea", "b.test"), 1);
}

static void
test_broken_is_kept_not_reread(void **state)
{
	struct fixture *fx = *state;
	struct domains_table *t;

	write_at(fx, "b.test/users", "bob:\nno colon here\n", t0, 0);
	assert_true(refresh_at(fx, t0 + 5, 0, NULL));
	t = dom(fx, "b.test")->t[DOMAINS_USERS];
	assert_int_equal(t->state, DOMAINS_BROKEN);
	assert_int_equal(user(fx, "bob", "b.test"), -1);
	assert_false(refresh_at(fx, t0 + 6, 0, NULL));
	assert_ptr_equal(dom(fx, "b.test")->t[DOMAINS_USERS], t);
	write_at(fx, "b.test/users", "bob:\n", t0 + 7, 0);
	assert_true(refresh_at(fx, t0 + 9, 0, NULL));
	assert_int_equal(user(fx, "bob", "b.test"), 1);
}

static void
test_read_whole(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 64], *data;
	struct stat st;
	size_t size;
	int err;
	FILE *f;

	snprintf(path, sizeof(path), "%s/b.test/users", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(domains_table_read_whole(AT_FDCWD, path,
	    &st, &data, &size,
	    &err), DOMAINS_READ_OK);
	assert_int_equal(size, 5);
	assert_memory_equal(data, "bob:\n", 5);
	free(data);
	/* Appended to after the stat the caller judged it by. */
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("bea:\n", f);
	fclose(f);
	assert_int_equal(domains_table_read_whole(AT_FDCWD, path,
	    &st, &data, &size,
	    &err), DOMAINS_READ_CHANGED);
	assert_null(data);
	/* Not a regular file. */
	snprintf(path, sizeof(path), "%s/b.test", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(domains_table_read_whole(AT_FDCWD, path,
	    &st, &data, &size,
	    &err), DOMAINS_READ_ERROR);
	assert_int_equal(err, EINVAL);
	/* Gone since the stat. */
	snprintf(path, sizeof(path), "%s/b.test/none", fx->dir);
	assert_int_equal(domains_table_read_whole(AT_FDCWD, path,
	    &st, &data, &size,
	    &err), DOMAINS_READ_CHANGED);
}

static void
test_clash(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 64];

	tu_put(fx->dir, "bücher.example/users", "anna:\n");
	tu_put(fx->dir, "xn--bcher-kva.example/users", "otto:\n");
	route_fixture_refresh(fx);
	assert_int_equal(domains_is_local(fx->d, "bücher.example"), -1);
	assert_int_equal(user(fx, "anna", "xn--bcher-kva.example"), -1);
	/* The other domains are not affected. */
	assert_int_equal(user(fx, "ann", "a.test"), 1);
	snprintf(path, sizeof(path), "%s/xn--bcher-kva.example/users",
	    fx->dir);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/xn--bcher-kva.example", fx->dir);
	assert_int_equal(rmdir(path), 0);
	route_fixture_refresh(fx);
	assert_int_equal(user(fx, "anna", "xn--bcher-kva.example"), 1);
	assert_int_equal(user(fx, "anna", "BÜCHER.example"), 1);
	assert_int_equal(user(fx, "otto", "bücher.example"), 0);
}

static void
test_odd_folder_names(void **state)
{
	struct fixture *fx = *state;

	tu_put(fx->dir, "Upper.test/users", "uma:\n");
	tu_put(fx->dir, "BÜCHER.example/users", "anna:\n");
	tu_put(fx->dir, "under_score.test/users", "us:\n");
	tu_put(fx->dir, ".hidden.test/users", "hid:\n");
	tu_put(fx->dir, "file.test", "a file, not a folder\n");
	route_fixture_refresh(fx);
	assert_int_equal(domains_is_local(fx->d, "upper.test"), 0);
	assert_int_equal(domains_is_local(fx->d, "Upper.test"), 0);
	assert_int_equal(domains_is_local(fx->d, "bücher.example"), 0);
	assert_int_equal(domains_is_local(fx->d, "under_score.test"), 0);
	assert_int_equal(domains_is_local(fx->d, ".hidden.test"), 0);
	assert_int_equal(domains_is_local(fx->d, "file.test"), 0);
	assert_int_equal(fx->d->snap->n_ignored, 3);
	assert_int_equal(fx->d->snap->n, 2);
}

/* <domains> cannot be listed: every domain answers "try later", and the
 * tables read before are kept for when it can be again.  Once it has
 * been listed, a missing <domains> is the same (renamed away for a
 * moment, being restored): never "no local domain", which is 554 for
 * real users and local mail sent out as remote. */
static void
test_unlistable(void **state)
{
	struct fixture *fx = *state;
	char moved[PATH_MAX + 16];
	struct domains_table *users = dom(fx, "a.test")->t[DOMAINS_USERS];

	snprintf(moved, sizeof(moved), "%s.moved", fx->dir);
	assert_int_equal(rename(fx->dir, moved), 0);
	tu_spit(fx->dir, "not a folder\n");
	assert_true(refresh_at(fx, time(NULL), 0, NULL));
	assert_int_equal(fx->d->snap->list_err, ENOTDIR);
	assert_int_equal(domains_is_local(fx->d, "a.test"), -1);
	assert_int_equal(user(fx, "ann", "a.test"), -1);
	assert_false(refresh_at(fx, time(NULL), 0, NULL));
	assert_int_equal(unlink(fx->dir), 0);
	/* No folder at all, after it was listed: try later too. */
	assert_true(refresh_at(fx, time(NULL), 0, NULL));
	assert_int_equal(fx->d->snap->list_err, ENOENT);
	assert_int_equal(domains_is_local(fx->d, "a.test"), -1);
	assert_int_equal(domains_is_local(fx->d, "elsewhere.test"), -1);
	assert_int_equal(user(fx, "zed", "a.test"), -1);
	assert_false(refresh_at(fx, time(NULL), 0, NULL));
	assert_int_equal(rename(moved, fx->dir), 0);
	assert_true(refresh_at(fx, time(NULL), 0, NULL));
	assert_int_equal(fx->d->snap->list_err, 0);
	assert_int_equal(user(fx, "ann", "a.test"), 1);
	assert_int_equal(user(fx, "nobody", "a.test"), 0);
	assert_int_equal(domains_is_local(fx->d, "elsewhere.test"), 0);
	/* Nothing was read again: the tables were kept. */
	assert_ptr_equal(dom(fx, "a.test")->t[DOMAINS_USERS], users);
}

/* A daemon that never saw <domains> has no local domain (a fresh
 * install before `decorum user add` makes it); once the folder has
 * been listed, its absence is "try later". */
static void
test_missing_from_the_start(void **state)
{
	struct fixture *fx = *state;
	char none[PATH_MAX + 16];
	struct domains *d;
	struct timespec now = { time(NULL), 0 }, settle = { 0, 0 };

	snprintf(none, sizeof(none), "%s.none", fx->dir);
	d = domains_open_live(none, NULL, NULL);
	assert_int_equal(domains_is_local(d, "a.test"), 0);
	assert_false(domains_refresh_now(d, &now, &settle));
	assert_int_equal(mkdir(none, 0755), 0);
	tu_put(none, "a.test/users", "ann:\n");
	now.tv_sec = time(NULL) + 5;		/* the file is still by then */
	assert_true(domains_refresh_now(d, &now, &settle));
	assert_int_equal(domains_user(d, "ann", "a.test", NULL), 1);
	tu_rmtree(none);
	assert_true(domains_refresh_now(d, &now, &settle));
	assert_int_equal(domains_is_local(d, "a.test"), -1);
	domains_free(d);
}

/* A domain folder that cannot be stat'ed or opened (here a symbolic
 * link loop: ELOOP) keeps the tables read before, and a new one answers
 * "try later"; neither is ever "not local". */
static void
test_folder_unreadable_keeps_tables(void **state)
{
	struct fixture *fx = *state;
	char a[PATH_MAX + 16], aside[PATH_MAX + 16], z[PATH_MAX + 16];
	struct domains_table *users = dom(fx, "a.test")->t[DOMAINS_USERS];

	snprintf(a, sizeof(a), "%s/a.test", fx->dir);
	snprintf(aside, sizeof(aside), "%s/.aside", fx->dir);
	snprintf(z, sizeof(z), "%s/z.test", fx->dir);
	assert_int_equal(rename(a, aside), 0);
	assert_int_equal(symlink("a.test", a), 0);	/* a loop */
	assert_int_equal(symlink("z.test", z), 0);
	assert_true(refresh_at(fx, t0 + 50, 0, NULL));
	assert_int_equal(dom(fx, "a.test")->err, ELOOP);
	assert_int_equal(user(fx, "ann", "a.test"), 1);
	assert_int_equal(user(fx, "nobody", "a.test"), 0);
	assert_int_equal(domains_is_local(fx->d, "z.test"), -1);
	assert_int_equal(user(fx, "x", "z.test"), -1);
	assert_int_equal(user(fx, "bob", "b.test"), 1);
	/* Logged once, not on every pass. */
	assert_false(refresh_at(fx, t0 + 51, 0, NULL));
	assert_int_equal(unlink(a), 0);
	assert_int_equal(unlink(z), 0);
	assert_int_equal(rename(aside, a), 0);
	assert_true(refresh_at(fx, t0 + 52, 0, NULL));
	assert_int_equal(dom(fx, "a.test")->err, 0);
	assert_ptr_equal(dom(fx, "a.test")->t[DOMAINS_USERS], users);
	assert_int_equal(domains_is_local(fx->d, "z.test"), 0);
}

/* The CLI reads a domain the first time it is asked for, in either
 * spelling, and has no negative cache. */
static void
test_cli_on_demand(void **state)
{
	struct fixture *fx = *state;
	struct domains *cli = domains_open(fx->dir);

	assert_int_equal(domains_user(cli, "ann", "A.TEST", NULL), 1);
	assert_int_equal(domains_is_local(cli, "e.test"), 0);
	tu_put(fx->dir, "e.test/users", "eve:\n");
	tu_put(fx->dir, "bücher.example/users", "anna:\n");
	route_fixture_age(fx);
	assert_int_equal(domains_user(cli, "eve", "e.test", NULL), 1);
	assert_int_equal(domains_user(cli, "anna", "XN--BCHER-KVA.example",
	    NULL), 1);
	assert_int_equal(domains_user(cli, "anna", "bücher.example", NULL), 1);
	tu_put(fx->dir, "xn--caf-dma.example/users", "bob:\n");
	tu_put(fx->dir, "café.example/users", "bob:\n");
	route_fixture_age(fx);
	assert_int_equal(domains_is_local(cli, "café.example"), -1);
	domains_free(cli);
}

/* Run the loop until cond(arg) or about 5 s. */
static bool
loop_until(struct event_base *base, bool (*cond)(void *), void *arg)
{
	for (int i = 0; i < 100 && !cond(arg); i++) {
		struct timeval tv = { 0, 50000 };

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return cond(arg);
}

static bool
has_new(void *arg)
{
	return domains_user(arg, "new", "a.test", NULL) == 1;
}


/* The daemons' way: a timer on the loop, the refresh in a worker thread,
 * the swap in done(); and a job whose owner goes away before its done()
 * (ASan checks that nothing is touched after the free). */
static void
test_live_refresh(void **state)
{
	struct fixture *fx = *state;
	struct event_base *base = event_base_new();
	struct workpool *pool = workpool_new(base, 2);
	struct domains *d = domains_open_live(fx->dir, base, pool);

	assert_non_null(d->timer);
	tu_put(fx->dir, "a.test/users", "ann:\nnew:\n");
	route_fixture_age(fx);
	assert_int_equal(domains_user(d, "new", "a.test", NULL), 0);
	assert_true(loop_until(base, has_new, d));
	assert_null(d->job);
	/* The table replaced is left for the next job to free. */
	assert_non_null(d->garbage);
	assert_int_equal(d->garbage->refs, 0);
	/* The next tick, now: after one pass of the loop the job has been
	 * submitted and its done() cannot have run yet. */
	tu_put(fx->dir, "a.test/users", "ann:\n");
	route_fixture_age(fx);
	evtimer_del(d->timer);
	event_active(d->timer, EV_TIMEOUT, 1);
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_non_null(d->job);
	domains_free(d);		/* the job's done() is still to come */
	workpool_free(pool);
	event_base_free(base);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, route_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_unchanged_is_shared),
		T(test_one_change_shares_the_rest),
		T(test_in_place_write_waits),
		T(test_never_read_whole_tempfails),
		T(test_missing_file_in_fresh_folder),
		T(test_clock_far_behind_trusts),
		T(test_broken_is_kept_not_reread),
		T(test_read_whole),
		T(test_clash),
		T(test_odd_folder_names),
		T(test_unlistable),
		T(test_missing_from_the_start),
		T(test_folder_unreadable_keeps_tables),
		T(test_cli_on_demand),
		T(test_live_refresh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
