/*
 * The HELO/EHLO checks (src/policy/helo_*.c, issue 9 item 4): the
 * syntax of the name (RFC 5321 4.1.1.1, 4.1.2, 4.1.3) at both sides of
 * each rule, and the three checks' decisions from the facts - the
 * lookup's outcomes, literals in both families, an IPv4 client on a
 * dual-stack socket, our own name - plus the policy context with no
 * resolver (DNS trouble: 4xx, never 5xx).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/config.h"
#include "policy/check.h"
#include "policy/helo_syntax.h"
#include "policy/policy.h"

static enum helo_form
form(const char *name)
{
	struct helo_parsed hp;

	return helo_syntax_parse(name, &hp);
}

/* A name of len octets: labels of 63 and a ".org" end. */
static void
long_name(char *out, size_t len)
{
	size_t body = len - 4, o = 0;

	while (o < body) {
		size_t n = body - o > 63 ? 63 : body - o;

		if (body - o - n == 1)	/* a lone dot would remain */
			n--;
		memset(out + o, 'a', n);
		o += n;
		if (o < body)
			out[o++] = '.';
	}
	memcpy(out + o, ".org", 5);
	assert_int_equal(strlen(out), len);
}

static void
test_names(void **state)
{
	char name[300];

	(void)state;
	assert_int_equal(form("mail.example.org"), HELO_FORM_NAME);
	assert_int_equal(form("a.b"), HELO_FORM_NAME);
	assert_int_equal(form("MX-1.Example.ORG"), HELO_FORM_NAME);
	assert_int_equal(form("host.x1"), HELO_FORM_NAME);
	assert_int_equal(form("1host.example"), HELO_FORM_NAME);
	/* One label; a root dot; empty labels; hyphens at the ends. */
	assert_int_equal(form("runner"), HELO_FORM_BAD);
	assert_int_equal(form("localhost"), HELO_FORM_BAD);
	assert_int_equal(form("mail.example.org."), HELO_FORM_BAD);
	assert_int_equal(form(".example.org"), HELO_FORM_BAD);
	assert_int_equal(form("a..b"), HELO_FORM_BAD);
	assert_int_equal(form("-a.example"), HELO_FORM_BAD);
	assert_int_equal(form("a-.example"), HELO_FORM_BAD);
	assert_int_equal(form("a_b.example"), HELO_FORM_BAD);
	assert_int_equal(form("h\xc3\xa9.example"), HELO_FORM_BAD);
	assert_int_equal(form(""), HELO_FORM_BAD);
	/* A bare address, an all-numeric top-level label. */
	assert_int_equal(form("192.0.2.7"), HELO_FORM_BAD);
	assert_int_equal(form("host.123"), HELO_FORM_BAD);
	assert_int_equal(form("::1"), HELO_FORM_BAD);
	assert_int_equal(form("2001:db8::7"), HELO_FORM_BAD);
	/* 63 and 64 octet labels, 253 and 254 octet names. */
	memset(name, 'a', 63);
	memcpy(name + 63, ".example", 9);
	assert_int_equal(form(name), HELO_FORM_NAME);
	memset(name, 'a', 64);
	memcpy(name + 64, ".example", 9);
	assert_int_equal(form(name), HELO_FORM_BAD);
	long_name(name, 253);
	assert_int_equal(form(name), HELO_FORM_NAME);
	long_name(name, 254);
	assert_int_equal(form(name), HELO_FORM_BAD);
}

static void
test_literals(void **state)
{
	struct helo_parsed hp;

	(void)state;
	assert_int_equal(helo_syntax_parse("[192.0.2.7]", &hp), HELO_FORM_LITERAL);
	assert_int_equal(hp.family, AF_INET);
	assert_memory_equal(hp.addr, "\xc0\x00\x02\x07", 4);
	assert_int_equal(helo_syntax_parse("[IPv6:2001:db8::7]", &hp),
	    HELO_FORM_LITERAL);
	assert_int_equal(hp.family, AF_INET6);
	assert_int_equal(hp.addr[15], 7);
	assert_int_equal(form("[ipv6:::1]"), HELO_FORM_LITERAL);
	assert_int_equal(form("[IPv6:::ffff:192.0.2.7]"), HELO_FORM_LITERAL);
	assert_int_equal(form("[192.0.2]"), HELO_FORM_BAD);
	assert_int_equal(form("[192.0.2.256]"), HELO_FORM_BAD);
	assert_int_equal(form("[::1]"), HELO_FORM_BAD);	/* no IPv6: tag */
	assert_int_equal(form("[IPv6:192.0.2.7]"), HELO_FORM_BAD);
	assert_int_equal(form("[x-tag:stuff]"), HELO_FORM_BAD);
	assert_int_equal(form("[192.0.2.7"), HELO_FORM_BAD);
	assert_int_equal(form("["), HELO_FORM_BAD);
	assert_int_equal(form("[]"), HELO_FORM_BAD);
	assert_int_equal(form("[IPv6:]"), HELO_FORM_BAD);
}

/* -- the checks' decisions from the facts -------------------------------- */

static void
facts_v4(struct policy_facts *f, const char *ip, const char *helo)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&f->addr;

	memset(f, 0, sizeof(*f));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin->sin_addr);
	snprintf(f->ip, sizeof(f->ip), "%s", ip);
	f->helo = helo;
	f->helo_dns_known = true;
	f->helo_resolves = f->helo_match = DNS_NOTFOUND;
}

static void
facts_v6(struct policy_facts *f, const char *ip, const char *helo)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&f->addr;

	memset(f, 0, sizeof(*f));
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, ip, &sin6->sin6_addr);
	snprintf(f->ip, sizeof(f->ip), "%s", ip);
	f->helo = helo;
	f->helo_dns_known = true;
	f->helo_resolves = f->helo_match = DNS_NOTFOUND;
}

/* The check's verdict: its code, 0 while it waits for a fact. */
static int
decide(const struct policy_check *c, const struct policy_facts *f, char *enh)
{
	struct verdict v;

	if (!c->decide(f, NULL, &v))
		return 0;
	if (enh != NULL)
		snprintf(enh, 12, "%s", v.enhanced);
	return v.code;
}

static void
test_syntax_check(void **state)
{
	const struct policy_check *c = &policy_check_helo_syntax;
	struct policy_facts f;
	char enh[12];

	(void)state;
	facts_v4(&f, "192.0.2.7", NULL);
	assert_int_equal(decide(c, &f, NULL), 0);	/* no HELO yet */
	facts_v4(&f, "192.0.2.7", "runner");
	assert_int_equal(decide(c, &f, enh), 550);
	assert_string_equal(enh, "5.5.2");
	facts_v4(&f, "192.0.2.7", "mail.example.org");
	f.helo_dns_known = false;	/* not needed for a foreign name */
	assert_int_equal(decide(c, &f, NULL), 250);
	facts_v4(&f, "192.0.2.7", "[192.0.2.99]");	/* matches_ip's */
	assert_int_equal(decide(c, &f, NULL), 250);
}

static void
test_own_name(void **state)
{
	const struct policy_check *c = &policy_check_helo_syntax;
	struct policy_facts f;
	char enh[12];

	(void)state;
	facts_v4(&f, "192.0.2.7", "mx.example.test");
	f.helo_ours = true;
	f.helo_dns_known = false;
	assert_int_equal(decide(c, &f, NULL), 0);	/* waits for DNS */
	f.helo_dns_known = true;
	assert_int_equal(decide(c, &f, enh), 550);
	assert_string_equal(enh, "5.7.1");
	f.helo_match = DNS_TEMPFAIL;
	assert_int_equal(decide(c, &f, enh), 450);
	assert_string_equal(enh, "4.7.1");
	f.helo_match = DNS_OK;		/* a sibling behind our name */
	assert_int_equal(decide(c, &f, NULL), 250);
	f.helo_match = DNS_NOTFOUND;
	f.helo_from_us = true;		/* the address it reached */
	f.helo_dns_known = false;
	assert_int_equal(decide(c, &f, NULL), 250);
}

static void
test_resolves_check(void **state)
{
	const struct policy_check *c = &policy_check_helo_resolves;
	struct policy_facts f;
	char enh[12];

	(void)state;
	facts_v4(&f, "192.0.2.7", "mail.example.org");
	f.helo_dns_known = false;
	assert_int_equal(decide(c, &f, NULL), 0);
	f.helo_dns_known = true;
	assert_int_equal(decide(c, &f, enh), 550);
	assert_string_equal(enh, "5.7.1");
	f.helo_resolves = DNS_TEMPFAIL;
	assert_int_equal(decide(c, &f, enh), 450);
	assert_string_equal(enh, "4.7.1");
	f.helo_resolves = DNS_OK;
	assert_int_equal(decide(c, &f, NULL), 250);
	facts_v4(&f, "192.0.2.7", "[192.0.2.8]");	/* nothing to resolve */
	assert_int_equal(decide(c, &f, NULL), 250);
	facts_v4(&f, "192.0.2.7", "runner");		/* not looked up */
	assert_int_equal(decide(c, &f, NULL), 550);
}

static void
test_matches_ip_check(void **state)
{
	const struct policy_check *c = &policy_check_helo_matches_ip;
	struct policy_facts f;
	char enh[12];

	(void)state;
	facts_v4(&f, "192.0.2.7", "mail.example.org");
	f.helo_resolves = DNS_OK;
	assert_int_equal(decide(c, &f, enh), 550);
	assert_string_equal(enh, "5.7.1");
	f.helo_match = DNS_TEMPFAIL;
	assert_int_equal(decide(c, &f, enh), 450);
	f.helo_match = DNS_OK;
	assert_int_equal(decide(c, &f, NULL), 250);
	/* Literals: equal, not equal, the other family. */
	facts_v4(&f, "192.0.2.7", "[192.0.2.7]");
	assert_int_equal(decide(c, &f, NULL), 250);
	facts_v4(&f, "192.0.2.7", "[192.0.2.8]");
	assert_int_equal(decide(c, &f, NULL), 550);
	facts_v4(&f, "192.0.2.7", "[IPv6:::ffff:192.0.2.7]");
	assert_int_equal(decide(c, &f, NULL), 550);
	facts_v6(&f, "2001:db8::7", "[IPv6:2001:DB8:0::7]");
	assert_int_equal(decide(c, &f, NULL), 250);
	facts_v6(&f, "2001:db8::7", "[IPv6:2001:db8::8]");
	assert_int_equal(decide(c, &f, NULL), 550);
	/* An IPv4 client on a dual-stack socket is its IPv4 address. */
	facts_v6(&f, "::ffff:192.0.2.7", "[192.0.2.7]");
	assert_int_equal(decide(c, &f, NULL), 250);
}

/* -- the policy context without a resolver -------------------------------- */

static void
wake(void *arg)
{
	(*(int *)arg)++;
}

static void
test_context_no_dns(void **state)
{
	struct config cfg;
	struct event_base *base = event_base_new();
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct verdict v;
	struct policy *p;
	int woken = 0;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.example.test";
	cfg.policy.action[POLICY_CHECK_HELO_SYNTAX] = POLICY_REJECT;
	cfg.policy.action[POLICY_CHECK_HELO_RESOLVES] = POLICY_REJECT;
	cfg.policy.action[POLICY_CHECK_HELO_MATCHES_IP] = POLICY_REJECT;
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	p = policy_new(&cfg, base, NULL, (struct sockaddr *)&sin, "t.1");
	/* Before any HELO the RCPT would wait (the session never asks). */
	assert_false(policy_rcpt(p, false, &v, wake, &woken));
	policy_wait_cancel(p);
	/* No resolver: a name cannot be checked now. */
	policy_client_helo(p, "mail.example.org", false, NULL);
	assert_true(policy_rcpt(p, false, &v, wake, &woken));
	assert_int_equal(v.code, 450);
	/* A literal equal to the client needs no DNS. */
	policy_client_helo(p, "[192.0.2.7]", false, NULL);
	assert_true(policy_rcpt(p, false, &v, wake, &woken));
	assert_int_equal(v.code, 250);
	/* A bad name: 550 5.5.2, and the exempt still reachable. */
	policy_client_helo(p, "runner", false, NULL);
	assert_true(policy_rcpt(p, false, &v, wake, &woken));
	assert_int_equal(v.code, 550);
	assert_string_equal(v.enhanced, "5.5.2");
	assert_true(policy_rcpt(p, true, &v, wake, &woken));
	assert_int_equal(v.code, 250);
	event_base_loop(base, EVLOOP_NONBLOCK);
	assert_int_equal(woken, 0);
	policy_free(p);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_syntax_check),
		cmocka_unit_test(test_own_name),
		cmocka_unit_test(test_resolves_check),
		cmocka_unit_test(test_matches_ip_check),
		cmocka_unit_test(test_context_no_dns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
