/*
 * The per-session policy context (src/policy/policy.c) on a real event
 * loop: verdicts weighed per recipient, the actions, the exempt
 * mailboxes, abuse_url, and the wait for a fact that has not arrived -
 * answered later from the loop, never from inside the call that brings
 * the fact, never after the wait is cancelled or the context freed (the
 * late answer, the cancelled wait and the context gone, under ASan in
 * the sanitizer build); the wait for a DNS allow list before a refusal
 * it could void, and lists that cannot be asked (no resolver).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <string.h>

#include "common/config.h"
#include "dns/fcrdns.h"
#include "policy/policy.h"

static char *default_exempt[] = { "postmaster", "abuse", "security" };

struct fixture {
	struct config cfg;
	struct event_base *base;
	struct sockaddr_in sin;
	int woken;
};

static int
setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	f.cfg.recipient_delimiter = "+";
	f.cfg.policy.action[POLICY_CHECK_FCRDNS] = POLICY_REJECT;
	f.cfg.policy.action[POLICY_CHECK_RDNS_DYNAMIC] = POLICY_LOG;
	f.cfg.policy.exempt = default_exempt;
	f.cfg.policy.n_exempt = 3;
	f.base = event_base_new();
	f.sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &f.sin.sin_addr);
	*state = &f;
	return f.base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	event_base_free(f->base);
	return 0;
}

static struct policy *
new_policy(struct fixture *f)
{
	return policy_new(&f->cfg, f->base, NULL, (struct sockaddr *)&f->sin, "t.1");
}

static void
wake(void *arg)
{
	((struct fixture *)arg)->woken++;
}

static void
run_loop(struct fixture *f)
{
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

/* A lookup's result with the given status and PTR names. */
static void
name_found(struct policy *p, enum dns_status st, const char *verified,
    const char *ptr1, const char *ptr2)
{
	struct fcrdns_result res = { .status = st, .name = verified };

	if (ptr1 != NULL)
		res.ptr[res.n_ptr++] = ptr1;
	if (ptr2 != NULL)
		res.ptr[res.n_ptr++] = ptr2;
	policy_client_name(p, &res);
}

static void
expect_reply(struct policy *p, int code, const char *enhanced, const char *text)
{
	struct verdict v;

	assert_true(policy_rcpt(p, false, &v, NULL, NULL));
	assert_int_equal(v.code, code);
	if (enhanced != NULL)
		assert_string_equal(v.enhanced, enhanced);
	if (text != NULL && strstr(v.text, text) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", v.text, text);
}

static void
test_exempt(void **state)
{
	struct fixture *f = *state;
	const struct config *c = &f->cfg;

	assert_true(policy_rcpt_exempt(c, "postmaster", false));
	assert_true(policy_rcpt_exempt(c, "postmaster@example.test", true));
	assert_true(policy_rcpt_exempt(c, "Abuse@example.test", true));
	assert_true(policy_rcpt_exempt(c, "security+report@example.test", true));
	assert_true(policy_rcpt_exempt(c, "abuse+@example.test", true));
	assert_false(policy_rcpt_exempt(c, "abuse@remote.example", false));
	assert_false(policy_rcpt_exempt(c, "abusex@example.test", true));
	assert_false(policy_rcpt_exempt(c, "+abuse@example.test", true));
	assert_false(policy_rcpt_exempt(c, "demo@example.test", true));
	f->cfg.recipient_delimiter = "";
	assert_false(policy_rcpt_exempt(c, "abuse+x@example.test", true));
	f->cfg.policy.n_exempt = 0;
	assert_false(policy_rcpt_exempt(c, "postmaster", false));
}

static void
test_verdicts(void **state)
{
	struct verdict v;

	(void)state;
	verdict_refuse(&v, 550, "5.7.25", "no %s", "name");
	assert_int_equal(v.kind, VERDICT_REJECT);
	verdict_soften(&v);
	assert_int_equal(v.code, 450);
	assert_string_equal(v.enhanced, "4.7.25");
	assert_int_equal(v.kind, VERDICT_TEMPFAIL);
	verdict_soften(&v);
	assert_int_equal(v.code, 450);
	verdict_evidence(&v, "%s", "");
	for (int i = 0; i < 100; i++)
		verdict_evidence_add(&v, "0123456789");
	assert_int_equal(strlen(v.evidence), VERDICT_EVIDENCE_MAX - 1);
	verdict_accept(&v);
	assert_int_equal(v.code, 250);
	assert_string_equal(verdict_kind_name(VERDICT_TEMPFAIL), "tempfail");
}

/* The FCrDNS results and their replies. */
static void
test_fcrdns(void **state)
{
	struct fixture *f = *state;
	struct policy *p;

	p = new_policy(f);
	name_found(p, DNS_OK, "mail.example.org", "mail.example.org", NULL);
	expect_reply(p, 250, NULL, NULL);
	policy_free(p);
	p = new_policy(f);
	name_found(p, DNS_NOTFOUND, NULL, NULL, NULL);
	expect_reply(p, 550, "5.7.25", "Reverse DNS validation failed for [192.0.2.7]");
	policy_free(p);
	p = new_policy(f);
	name_found(p, DNS_TEMPFAIL, NULL, "a.example.org", NULL);
	expect_reply(p, 450, "4.7.25", "[192.0.2.7]");
	policy_free(p);
	/* No DNS at all: "try later", never 5xx. */
	p = new_policy(f);
	policy_client_name(p, NULL);
	expect_reply(p, 450, "4.7.25", NULL);
	/* A second report changes nothing. */
	name_found(p, DNS_OK, "mail.example.org", "mail.example.org", NULL);
	expect_reply(p, 450, "4.7.25", NULL);
	policy_free(p);
}

static void
test_actions(void **state)
{
	struct fixture *f = *state;
	struct policy *p;

	f->cfg.policy.action[POLICY_CHECK_FCRDNS] = POLICY_LOG;
	p = new_policy(f);
	name_found(p, DNS_NOTFOUND, NULL, NULL, NULL);
	expect_reply(p, 250, NULL, NULL);
	policy_free(p);
	f->cfg.policy.action[POLICY_CHECK_FCRDNS] = POLICY_TEMPFAIL;
	p = new_policy(f);
	name_found(p, DNS_NOTFOUND, NULL, NULL, NULL);
	expect_reply(p, 450, "4.7.25", "validation failed");
	policy_free(p);
	/* Off: not run, so not even waited for. */
	f->cfg.policy.action[POLICY_CHECK_FCRDNS] = POLICY_OFF;
	f->cfg.policy.action[POLICY_CHECK_RDNS_DYNAMIC] = POLICY_OFF;
	p = new_policy(f);
	expect_reply(p, 250, NULL, NULL);
	policy_free(p);
}

/* Of two refusals a permanent one wins; two permanent: registry order. */
static void
test_weighing(void **state)
{
	struct fixture *f = *state;
	struct policy *p;

	f->cfg.policy.action[POLICY_CHECK_RDNS_DYNAMIC] = POLICY_REJECT;
	p = new_policy(f);
	name_found(p, DNS_TEMPFAIL, NULL, "dsl-7.pool.isp.example", NULL);
	expect_reply(p, 550, "5.7.1", "dynamic");
	policy_free(p);
	p = new_policy(f);
	name_found(p, DNS_NOTFOUND, NULL, "192-0-2-7.isp.example", NULL);
	expect_reply(p, 550, "5.7.25", NULL);
	policy_free(p);
	p = new_policy(f);
	name_found(p, DNS_OK, "192-0-2-7.isp.example", "192-0-2-7.isp.example", NULL);
	expect_reply(p, 550, "5.7.1", NULL);
	policy_free(p);
}

static void
test_abuse_url(void **state)
{
	struct fixture *f = *state;
	struct policy *p;
	struct verdict v;

	f->cfg.policy.abuse_url = "https://example.test/form";
	p = new_policy(f);
	name_found(p, DNS_NOTFOUND, NULL, NULL, NULL);
	/* Mailboxes exempt: no URL. */
	expect_reply(p, 550, "5.7.25", NULL);
	assert_true(policy_rcpt(p, false, &v, NULL, NULL));
	assert_null(strstr(v.text, "https://"));
	f->cfg.policy.n_exempt = 0;
	expect_reply(p, 550, "5.7.25", "https://example.test/form");
	policy_free(p);
}

/* The late fact: the waiter is woken from the loop, once. */
static void
test_wait_late_answer(void **state)
{
	struct fixture *f = *state;
	struct policy *p = new_policy(f);
	struct verdict v;

	assert_false(policy_rcpt(p, false, &v, wake, f));
	/* An exempt recipient does not wait. */
	assert_true(policy_rcpt(p, true, &v, NULL, NULL));
	assert_int_equal(v.code, 250);
	run_loop(f);
	assert_int_equal(f->woken, 0);
	name_found(p, DNS_NOTFOUND, NULL, NULL, NULL);
	assert_int_equal(f->woken, 0);		/* not from inside the call */
	run_loop(f);
	assert_int_equal(f->woken, 1);
	run_loop(f);
	assert_int_equal(f->woken, 1);
	expect_reply(p, 550, "5.7.25", NULL);
	policy_free(p);
}

/* The never-answer: the owner gives up (timeout, client gone, shutdown)
 * and cancels; a fact arriving after that wakes nobody. */
static void
test_wait_cancelled(void **state)
{
	struct fixture *f = *state;
	struct policy *p = new_policy(f);
	struct verdict v;

	assert_false(policy_rcpt(p, false, &v, wake, f));
	policy_wait_cancel(p);
	name_found(p, DNS_OK, "mail.example.org", "mail.example.org", NULL);
	run_loop(f);
	assert_int_equal(f->woken, 0);
	policy_wait_cancel(p);		/* twice is fine */
	policy_free(p);
	policy_free(NULL);
}

/* The context freed with the wake-up already scheduled. */
static void
test_freed_while_waking(void **state)
{
	struct fixture *f = *state;
	struct policy *p = new_policy(f);
	struct verdict v;

	assert_false(policy_rcpt(p, false, &v, wake, f));
	name_found(p, DNS_OK, "mail.example.org", "mail.example.org", NULL);
	policy_free(p);
	run_loop(f);
	assert_int_equal(f->woken, 0);
}

/* A DNSWL configured: an fcrdns refusal (dnswl_exempt) waits for the
 * allow list's answer before it is applied.  Without a resolver the
 * list cannot answer: no exemption, and the answer still comes from
 * the loop, never from inside policy_new. */
static void
test_dnswl_waited_for(void **state)
{
	static struct dnslist_conf wl = { .zone = "wl.example" };
	struct fixture *f = *state;
	struct policy *p;
	struct verdict v;

	f->cfg.policy.dnswl = (struct dnslist_group){ &wl, 1, 1, 5 };
	f->cfg.policy.action[POLICY_CHECK_DNSWL] = POLICY_LOG;
	p = new_policy(f);
	name_found(p, DNS_NOTFOUND, NULL, NULL, NULL);
	assert_false(policy_rcpt(p, false, &v, wake, f));
	for (int i = 0; i < 3; i++)
		run_loop(f);
	assert_int_equal(f->woken, 1);
	expect_reply(p, 550, "5.7.25", NULL);
	policy_free(p);

	/* Freed with the allow list still out: its timer goes too. */
	p = new_policy(f);
	policy_free(p);
	run_loop(f);
}

/* DNSBL lists configured but no resolver: nobody is listed. */
static void
test_dnsbl_without_dns(void **state)
{
	static struct dnslist_conf bl = { .zone = "bl.example", .weight = 1 };
	struct fixture *f = *state;
	struct policy *p;
	struct verdict v;

	f->cfg.policy.dnsbl = (struct dnslist_group){ &bl, 1, 1, 5 };
	f->cfg.policy.action[POLICY_CHECK_DNSBL] = POLICY_REJECT;
	p = new_policy(f);
	name_found(p, DNS_OK, "mail.example.org", "mail.example.org", NULL);
	assert_false(policy_rcpt(p, false, &v, wake, f));
	for (int i = 0; i < 3; i++)
		run_loop(f);
	assert_int_equal(f->woken, 1);
	expect_reply(p, 250, NULL, NULL);
	policy_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exempt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verdicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fcrdns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_actions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_weighing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abuse_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_late_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_cancelled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_freed_while_waking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnswl_waited_for, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dnsbl_without_dns, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
