/*
 * The dynamic-name heuristic (src/policy/rdns_dynamic.c, issue 9 item
 * 8): the address in the name in the usual forms, the pool words as
 * tokens, and the names that must not match (servers, the provider's
 * own domain, words inside longer words).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "policy/rdns_dynamic.h"

static const unsigned char ip[4] = { 192, 0, 2, 7 };

static void
expect(const char *name, bool want, const char *why_part)
{
	char why[256];
	bool got = rdns_dynamic_match(name, ip, why, sizeof(why));

	if (got != want)
		fail_msg("%s: got %d (%s), want %d", name, got, why, want);
	if (want && why_part != NULL && strstr(why, why_part) == NULL)
		fail_msg("%s: why \"%s\" lacks \"%s\"", name, why, why_part);
	if (!want)
		assert_string_equal(why, "");
}

static void
test_octets(void **state)
{
	(void)state;
	expect("192-0-2-7.example.net", true, "four octets");
	expect("7.2.0.192.in-addr.example.net", true, "four octets");
	expect("host-192.0.2.7.example.net", true, "four octets");
	expect("c-7-2-0-192.hsd1.example.com", true, "four octets");
	expect("ip192000002007.example.net", true, "four octets");
	expect("x0-2-7.example.net", true, "three octets");
	expect("7-2-0.example.net", true, "three octets");
	expect("c0000207.example.net", true, "hex");
	expect("C0000207.Example.NET.", true, "hex");
	/* Not the client's numbers, or not enough of them. */
	expect("192-0-2-8.example.net", false, NULL);
	expect("mail2.example.net", false, NULL);
	expect("mx-2-7.example.net", false, NULL);
	expect("1920-2-7x.example.net", false, NULL);
}

static void
test_words(void **state)
{
	(void)state;
	expect("dsl.example.net.isp.example", true, "word dsl ");
	expect("x.adsl-pool.isp.example", true, "word adsl ");
	expect("dyn123.isp.example", true, "word dyn ");
	expect("host.dynamic.isp.example", true, "word dynamic ");
	expect("a.b.DHCP.isp.example", true, "word dhcp ");
	expect("cable-44.isp.example", true, "word cable ");
	expect("ppp_9.isp.example", true, "word ppp ");
	expect("dialup.isp.example", true, "word dialup ");
	expect("client-12.isp.example", true, "word client ");
	expect("cpe12ab.isp.example", true, "word cpe ");
	/* Weak words need a number in their label. */
	expect("client.example.org", false, NULL);
	expect("mail.client.isp.example", false, NULL);
	/* Words inside longer words, and the provider's own domain. */
	expect("mx1.cablevision.example", false, NULL);
	expect("mail.cable.example", false, NULL);
	expect("dsl.example", false, NULL);
	expect("pooled-mail.example.org", false, NULL);
	expect("mx.example.org", false, NULL);
	expect("", false, NULL);
	expect(".", false, NULL);
	expect("...", false, NULL);
}

static void
test_ipv6_words_only(void **state)
{
	char why[64];

	(void)state;
	assert_false(rdns_dynamic_match("192-0-2-7.example.net", NULL, why,
	    sizeof(why)));
	assert_true(rdns_dynamic_match("2001-db8--7.dyn.isp.example", NULL, why,
	    sizeof(why)));
	/* why may be left out, and is cut, never overrun. */
	assert_true(rdns_dynamic_match("dsl.x.isp.example", NULL, NULL, 0));
	assert_true(rdns_dynamic_match("dsl.x.isp.example", NULL, why, 8));
	assert_int_equal(strlen(why), 7);
}

static void
test_long_names(void **state)
{
	char name[600];

	(void)state;
	/* Longer than any DNS name: judged on its first 255 octets. */
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	memcpy(name, "dsl.", 4);
	expect(name, false, NULL);	/* one long label after: 2 labels seen */
	for (size_t i = 10; i < sizeof(name) - 1; i += 10)
		name[i] = '.';
	expect(name, true, "word dsl ");
	memset(name, '7', sizeof(name) - 1);
	expect(name, false, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_octets),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_ipv6_words_only),
		cmocka_unit_test(test_long_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
