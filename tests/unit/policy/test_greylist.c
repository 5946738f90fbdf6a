/*
 * Greylisting in the per-session policy (src/policy/greylist.c through
 * policy.h) on a real event loop with a real SQLite store in a
 * temporary folder: RCPT accepts and keeps the triplet, DATA promises
 * and answers later from the loop; after an exempt recipient the next
 * RCPT is asked at once; allow_domains skips by verified name; a
 * transaction that ends and a context freed with questions out call
 * nobody back (ASan in the sanitizer build); trouble accepts or
 * tempfails as configured.
 */
#include "testutil.h"

#include <event2/event.h>
#include <netinet/in.h>

#include "common/config.h"
#include "dns/fcrdns.h"
#include "greylist/store.h"
#include "policy/policy.h"

struct fixture {
	struct config cfg;
	char dir[64];
	struct event_base *base;
	struct greylist_store *store;
	struct sockaddr_in sin;
	int woken;
};

static int
setup(void **state)
{
	static struct fixture f;
	const struct greylist_params p = { 300, 172800, 3024000, 5 };
	char err[256];

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/decorum-pgrey-XXXXXX");
	if (tu_mkdtemp(f.dir) == NULL)
		return -1;
	f.cfg.recipient_delimiter = "+";
	f.cfg.max_recipients = 10;
	f.cfg.greylist.action = POLICY_TEMPFAIL;
	f.cfg.greylist.prefix_v4 = 24;
	f.cfg.greylist.prefix_v6 = 64;
	f.base = event_base_new();
	f.store = greylist_store_open("sqlite:", f.dir, &p, f.base, err, sizeof(err));
	f.sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &f.sin.sin_addr);
	*state = &f;
	return f.base == NULL || f.store == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	greylist_store_close(f->store);
	event_base_free(f->base);
	return tu_rmtree(f->dir);
}

static void
wake(void *arg)
{
	((struct fixture *)arg)->woken++;
}

static struct policy *
new_policy(struct fixture *f, const char *verified)
{
	struct policy *p = policy_new(&f->cfg, f->base, NULL,
	    (struct sockaddr *)&f->sin, "t.1");
	struct fcrdns_result res = { .status = verified ? DNS_OK : DNS_NOTFOUND,
	    .name = verified };

	if (verified != NULL)
		res.ptr[res.n_ptr++] = verified;
	policy_client_name(p, &res);
	policy_set_greylist(p, f->store);
	return p;
}

/* Run the loop until woken n times (at most about 5 s). */
static void
wait_woken(struct fixture *f, int n)
{
	for (int i = 0; i < 500 && f->woken < n; i++) {
		struct timeval tick = { 0, 10000 };

		event_base_loopexit(f->base, &tick);
		event_base_dispatch(f->base);
	}
	assert_int_equal(f->woken, n);
}

static void
rcpt_accepted(struct fixture *f, struct policy *p, const char *rcpt, bool exempt)
{
	struct verdict v;

	assert_true(policy_rcpt_greylist(p, "X@example.org", rcpt, exempt, &v,
	    wake, f));
	assert_int_equal(v.kind, VERDICT_ACCEPT);
}

/* DATA: promised, then answered from the loop; the verdict. */
static struct verdict
data_later(struct fixture *f, struct policy *p)
{
	struct verdict v;
	int before = f->woken;

	assert_false(policy_data(p, "X@example.org", &v, wake, f));
	assert_int_equal(f->woken, before);
	wait_woken(f, before + 1);
	assert_true(policy_data(p, "X@example.org", &v, wake, f));
	return v;
}

/* The wait as text; the second may turn between the store's clock
 * and the reply's. */
static void
says_retry(const char *text, const char *prefix)
{
	char a[128], b[128];

	snprintf(a, sizeof(a), "%sGreylisted, try again in 300 seconds", prefix);
	snprintf(b, sizeof(b), "%sGreylisted, try again in 299 seconds", prefix);
	if (strcmp(text, a) != 0 && strcmp(text, b) != 0)
		fail_msg("\"%s\" is not \"%s\"", text, a);
}

static void
test_data_defers_new_triplets(void **state)
{
	struct fixture *f = *state;
	struct policy *p = new_policy(f, "mx.example.org");
	struct verdict v;

	rcpt_accepted(f, p, "demo@example.test", false);
	rcpt_accepted(f, p, "Demo@example.test", false);	/* one triplet */
	rcpt_accepted(f, p, "alice@example.test", false);
	v = data_later(f, p);
	assert_int_equal(v.code, 451);
	assert_string_equal(v.enhanced, "4.7.1");
	says_retry(v.text, "");
	assert_non_null(strstr(v.evidence, "2 of 2 triplets"));
	assert_non_null(strstr(v.evidence, "net=192.0.2.0/24 sender=<x@example.org>"));
	policy_tx_end(p);
	/* No recipient kept: DATA answers at once. */
	assert_true(policy_data(p, "x@example.org", &v, wake, f));
	assert_int_equal(v.kind, VERDICT_ACCEPT);
	policy_free(p);
}

static void
test_exempt_first_asks_at_rcpt(void **state)
{
	struct fixture *f = *state;
	struct policy *p = new_policy(f, NULL);
	struct verdict v;

	rcpt_accepted(f, p, "postmaster@example.test", true);
	assert_false(policy_rcpt_greylist(p, "x@example.org", "demo@example.test",
	    false, &v, wake, f));
	wait_woken(f, 1);
	/* Asked again (the session does, once woken): the answer. */
	assert_true(policy_rcpt_greylist(p, "x@example.org", "demo@example.test",
	    false, &v, wake, f));
	assert_int_equal(v.code, 451);
	says_retry(v.text, "<demo@example.test>: ");
	/* Nothing kept for DATA: the exempt mail goes now. */
	assert_true(policy_data(p, "x@example.org", &v, wake, f));
	assert_int_equal(v.kind, VERDICT_ACCEPT);
	policy_free(p);
}

static void
test_allow_domains_by_verified_name(void **state)
{
	struct fixture *f = *state;
	char *domains[] = { "example.org" };
	struct policy *p;
	struct verdict v;

	f->cfg.greylist.allow_domains = domains;
	f->cfg.greylist.n_allow_domains = 1;
	p = new_policy(f, "mail-1.EXAMPLE.org.");
	rcpt_accepted(f, p, "demo@example.test", false);
	assert_true(policy_data(p, "x@example.org", &v, wake, f));
	assert_int_equal(v.kind, VERDICT_ACCEPT);
	policy_free(p);
	/* "ample.org" is no parent of example.org; no name, no skip. */
	domains[0] = "ample.org";
	p = new_policy(f, "mail-1.example.org");
	rcpt_accepted(f, p, "demo@example.test", false);
	assert_false(policy_data(p, "x@example.org", &v, wake, f));
	policy_free(p);
	domains[0] = "example.org";
	p = new_policy(f, NULL);
	rcpt_accepted(f, p, "demo@example.test", false);
	assert_false(policy_data(p, "x@example.org", &v, wake, f));
	policy_free(p);
	f->cfg.greylist.n_allow_domains = 0;
}

static void
test_gone_with_questions_out(void **state)
{
	struct fixture *f = *state;
	struct policy *p = new_policy(f, NULL);
	struct verdict v;

	rcpt_accepted(f, p, "demo@example.test", false);
	assert_false(policy_data(p, "x@example.org", &v, wake, f));
	policy_tx_end(p);		/* RSET, timeout: cancelled */
	rcpt_accepted(f, p, "alice@example.test", false);
	assert_false(policy_data(p, "x@example.org", &v, wake, f));
	policy_free(p);			/* the client left */
	/* The store answers both later; nobody may be called. */
	greylist_store_close(f->store);
	f->store = NULL;
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(f->woken, 0);
}

static void
test_log_action_accepts(void **state)
{
	struct fixture *f = *state;
	struct policy *p;
	struct verdict v;

	f->cfg.greylist.action = POLICY_LOG;
	p = new_policy(f, NULL);
	rcpt_accepted(f, p, "demo@example.test", false);
	v = data_later(f, p);
	assert_int_equal(v.kind, VERDICT_ACCEPT);
	policy_free(p);
}

static void
test_off_asks_nothing(void **state)
{
	struct fixture *f = *state;
	struct policy *p;
	struct verdict v;

	f->cfg.greylist.action = POLICY_OFF;
	p = new_policy(f, NULL);
	rcpt_accepted(f, p, "demo@example.test", false);
	assert_true(policy_data(p, "x@example.org", &v, wake, f));
	assert_int_equal(v.kind, VERDICT_ACCEPT);
	policy_free(p);
}

static void
test_trouble(void **state)
{
	struct fixture *f = *state;
	const struct greylist_params gp = { 300, 172800, 3024000, 5 };
	char path[128], err[256];
	struct policy *p;
	struct verdict v;

	/* A folder where the database should be: trouble. */
	greylist_store_close(f->store);
	snprintf(path, sizeof(path), "%s/greylist.db", f->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	f->store = greylist_store_open("sqlite:", f->dir, &gp, f->base, err,
	    sizeof(err));
	assert_non_null(f->store);
	p = new_policy(f, NULL);
	rcpt_accepted(f, p, "demo@example.test", false);
	v = data_later(f, p);
	assert_int_equal(v.kind, VERDICT_ACCEPT);	/* fails open */
	policy_tx_end(p);
	f->cfg.greylist.trouble_tempfail = true;
	rcpt_accepted(f, p, "demo@example.test", false);
	v = data_later(f, p);
	assert_int_equal(v.code, 451);
	assert_string_equal(v.enhanced, "4.3.0");
	policy_free(p);
	f->cfg.greylist.trouble_tempfail = false;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_data_defers_new_triplets, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_exempt_first_asks_at_rcpt, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_allow_domains_by_verified_name,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_with_questions_out, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_log_action_accepts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_off_asks_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trouble, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
