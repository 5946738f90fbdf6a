/*
 * The greylist store with its SQLite backend (src/greylist/store.c,
 * store_sqlite.c) on a real event loop and a real database in a
 * temporary folder: answers come later on the loop, never from inside
 * the call; a cancelled query and a store closed with queries out call
 * nobody back (ASan watches the frees in the sanitizer build); an
 * unusable database answers TROUBLE; the operator's functions see and
 * change what the daemon's side wrote.
 */
#include "testutil.h"

#include <event2/event.h>
#include <time.h>

#include "greylist/store.h"

#define T0	1000000

struct fixture {
	char dir[64];
	struct event_base *base;
	struct greylist_params p;
	int answers;
	struct greylist_reply last;
};

static int
setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/decorum-grey-XXXXXX");
	if (tu_mkdtemp(f.dir) == NULL)
		return -1;
	f.base = event_base_new();
	f.p = (struct greylist_params){ 300, 172800, 3024000, 2 };
	*state = &f;
	return f.base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	event_base_free(f->base);
	return tu_rmtree(f->dir);
}

static void
answered(void *arg, const struct greylist_reply *r)
{
	struct fixture *f = arg;

	f->answers++;
	f->last = *r;
}

static struct greylist_store *
open_store(struct fixture *f)
{
	char err[256];
	struct greylist_store *s = greylist_store_open("sqlite:", f->dir, &f->p,
	    f->base, err, sizeof(err));

	if (s == NULL)
		fail_msg("open: %s", err);
	return s;
}

static struct greylist_triplet
triplet(const char *net, const char *sender, const char *rcpt)
{
	struct greylist_triplet t;

	memset(&t, 0, sizeof(t));
	snprintf(t.net, sizeof(t.net), "%s", net);
	snprintf(t.sender, sizeof(t.sender), "%s", sender);
	snprintf(t.rcpt, sizeof(t.rcpt), "%s", rcpt);
	return t;
}

/* Run the loop until n answers came (at most about 5 s). */
static void
wait_answers(struct fixture *f, int n)
{
	for (int i = 0; i < 500 && f->answers < n; i++) {
		struct timeval tick = { 0, 10000 };

		event_base_loopexit(f->base, &tick);
		event_base_dispatch(f->base);
	}
	assert_int_equal(f->answers, n);
}

/* One try at now: its answer. */
static enum greylist_answer
check(struct fixture *f, struct greylist_store *s, const struct greylist_triplet *t,
    time_t now)
{
	int before = f->answers;

	assert_non_null(greylist_store_check(s, t, now, answered, f));
	/* Never from inside the call. */
	assert_int_equal(f->answers, before);
	wait_answers(f, before + 1);
	return f->last.answer;
}

static void
test_rules_through_the_store(void **state)
{
	struct fixture *f = *state;
	struct greylist_store *s = open_store(f);
	struct greylist_triplet a = triplet("192.0.2.0/24", "x@example.org",
	    "demo@example.test");
	struct greylist_triplet b = triplet("192.0.2.0/24", "", "demo@example.test");
	struct greylist_triplet c = triplet("192.0.2.0/24", "new@example.org",
	    "demo@example.test");

	assert_int_equal(check(f, s, &a, T0), GREYLIST_DEFER);
	assert_int_equal(f->last.retry_at, T0 + 300);
	assert_int_equal(check(f, s, &a, T0 + 299), GREYLIST_DEFER);
	assert_int_equal(f->last.retry_at, T0 + 300);
	assert_int_equal(check(f, s, &b, T0), GREYLIST_DEFER);
	assert_int_equal(check(f, s, &a, T0 + 300), GREYLIST_PASS);
	assert_false(f->last.net_allowed);
	/* auto_allow 2: one passed triplet is N-1 ... */
	assert_int_equal(check(f, s, &c, T0 + 300), GREYLIST_DEFER);
	/* ... the second is N: a new triplet passes at once. */
	assert_int_equal(check(f, s, &b, T0 + 301), GREYLIST_PASS);
	assert_int_equal(check(f, s, &c, T0 + 302), GREYLIST_PASS);
	assert_true(f->last.net_allowed);
	greylist_store_close(s);
}

static void
test_cancel_calls_nobody(void **state)
{
	struct fixture *f = *state;
	struct greylist_store *s = open_store(f);
	struct greylist_triplet a = triplet("192.0.2.0/24", "x@example.org",
	    "demo@example.test");
	struct greylist_query *q = greylist_store_check(s, &a, T0, answered, f);

	greylist_query_cancel(q);
	greylist_query_cancel(NULL);
	/* The cancelled try still happened: the next is the second. */
	assert_int_equal(check(f, s, &a, T0 + 300), GREYLIST_PASS);
	assert_int_equal(f->answers, 1);
	greylist_store_close(s);
	assert_int_equal(f->answers, 1);
}

static void
test_close_with_queries_out(void **state)
{
	struct fixture *f = *state;
	struct greylist_store *s = open_store(f);

	for (int i = 0; i < 20; i++) {
		char rcpt[32];
		struct greylist_triplet t;

		snprintf(rcpt, sizeof(rcpt), "u%d@example.test", i);
		t = triplet("2001:db8::/64", "x@example.org", rcpt);
		assert_non_null(greylist_store_check(s, &t, T0, answered, f));
	}
	greylist_store_close(s);
	greylist_store_close(NULL);
	assert_int_equal(f->answers, 0);
}

static void
test_unusable_database_is_trouble(void **state)
{
	struct fixture *f = *state;
	char path[128];
	struct greylist_store *s;
	struct greylist_triplet a = triplet("192.0.2.0/24", "x@example.org",
	    "demo@example.test");

	snprintf(path, sizeof(path), "%s/greylist.db", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	s = open_store(f);
	assert_int_equal(check(f, s, &a, T0), GREYLIST_TROUBLE);
	/* Repaired: the next check opens it afresh. */
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(check(f, s, &a, T0), GREYLIST_DEFER);
	greylist_store_close(s);
	tu_spit(path, "garbage, no SQLite here\n");
	s = open_store(f);
	assert_int_equal(check(f, s, &a, T0), GREYLIST_TROUBLE);
	greylist_store_close(s);
}

static void
test_bad_urls(void **state)
{
	struct fixture *f = *state;
	char err[256];

	assert_null(greylist_store_open("sqlite:/elsewhere.db", f->dir, &f->p,
	    f->base, err, sizeof(err)));
	assert_non_null(strstr(err, "\"sqlite:\""));
	assert_null(greylist_store_open("nope://x", f->dir, &f->p, f->base, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "no backend"));
	assert_null(greylist_store_open("sqlite:", "/nonexistent/state", &f->p,
	    f->base, err, sizeof(err)));
}

struct listing {
	int nets, triplets;
	struct greylist_entry net;
};

static void
list_one(void *arg, const struct greylist_entry *e)
{
	struct listing *l = arg;

	if (e->is_net) {
		l->nets++;
		l->net = *e;
	} else {
		l->triplets++;
	}
}

static void
test_admin(void **state)
{
	struct fixture *f = *state;
	struct listing l = { 0 };
	struct greylist_store *s;
	char err[256];
	unsigned removed = 99;
	struct greylist_triplet a = triplet("192.0.2.0/24", "x@example.org",
	    "demo@example.test");
	struct greylist_triplet b = triplet("198.51.100.0/24", "x@example.org",
	    "demo@example.test");

	/* No database yet: nothing listed, nothing created. */
	assert_int_equal(greylist_admin_list("sqlite:", f->dir, list_one, &l, err,
	    sizeof(err)), 0);
	assert_int_equal(l.nets + l.triplets, 0);
	assert_int_equal(greylist_admin_allow("sqlite:", f->dir, &f->p,
	    "192.0.2.0/24", T0, err, sizeof(err)), 0);
	s = open_store(f);
	assert_int_equal(check(f, s, &a, T0), GREYLIST_PASS);
	assert_true(f->last.net_allowed);
	assert_int_equal(check(f, s, &b, T0), GREYLIST_DEFER);
	greylist_store_close(s);
	assert_int_equal(greylist_admin_list("sqlite:", f->dir, list_one, &l, err,
	    sizeof(err)), 0);
	assert_int_equal(l.nets, 1);
	assert_int_equal(l.triplets, 1);
	assert_string_equal(l.net.t.net, "192.0.2.0/24");
	assert_true(l.net.allowed);
	assert_int_equal(l.net.until, T0 + 3024000);
	/* At the edges: nothing expired yet, then both. */
	assert_int_equal(greylist_admin_purge("sqlite:", f->dir, &f->p, T0 + 172800,
	    &removed, err, sizeof(err)), 0);
	assert_int_equal(removed, 0);
	assert_int_equal(greylist_admin_purge("sqlite:", f->dir, &f->p,
	    T0 + 3024001, &removed, err, sizeof(err)), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(greylist_admin_allow("nope:", f->dir, &f->p,
	    "192.0.2.0/24", T0, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rules_through_the_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_calls_nobody, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_queries_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unusable_database_is_trouble, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_admin, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
