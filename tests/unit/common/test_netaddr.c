/*
 * Unit tests of network address parsing and matching
 * (src/common/netaddr.c): listen addresses, networks, IPv4-mapped IPv6.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "common/netaddr.h"

static void
make_sa(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	}
}

static bool
match(const char *mask, const char *ip)
{
	struct netmask m;
	struct sockaddr_storage ss;

	assert_int_equal(netaddr_parse_mask(mask, &m), 0);
	make_sa(ip, &ss);
	return netaddr_match(&m, (struct sockaddr *)&ss);
}

static void
test_hostport(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char ip[64];

	(void)state;
	assert_int_equal(netaddr_parse_hostport("0.0.0.0:25", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(netaddr_port((struct sockaddr *)&ss), 25);
	assert_int_equal(netaddr_parse_hostport("127.0.0.1:2525", &ss, &len), 0);
	assert_string_equal(netaddr_ip((struct sockaddr *)&ss, ip, sizeof(ip)),
	    "127.0.0.1");
	assert_int_equal(netaddr_port((struct sockaddr *)&ss), 2525);
	assert_int_equal(netaddr_parse_hostport("[::1]:2525", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_string_equal(netaddr_ip((struct sockaddr *)&ss, ip, sizeof(ip)),
	    "::1");
	assert_int_equal(netaddr_port((struct sockaddr *)&ss), 2525);
	assert_int_equal(netaddr_parse_hostport("[::]:65535", &ss, &len), 0);
	assert_int_equal(netaddr_port((struct sockaddr *)&ss), 65535);
}

static void
test_hostport_bad(void **state)
{
	static const char *const bad[] = {
		"", ":25", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+25",
		"127.0.0.1:25x", "127.0.0.1: 25", "localhost:25", "::1:25",
		"[::1]", "[::1]25", "[::1:25", "[127.0.0.1]:25", "256.0.0.1:25",
		"1.2.3:25", "[2001:db8::g]:25",
		"[0000000000000000000000000000000000000000000000000000000000000000000::1]:25",
		"127.0.0.1:99999999999999999999999",
	};
	struct sockaddr_storage ss;
	socklen_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("bad: %s\n", bad[i]);
		assert_int_equal(netaddr_parse_hostport(bad[i], &ss, &len), -1);
	}
}

static void
test_mask(void **state)
{
	struct netmask m;

	(void)state;
	assert_int_equal(netaddr_parse_mask("127.0.0.0/8", &m), 0);
	assert_int_equal(m.family, AF_INET);
	assert_int_equal(m.prefix, 8);
	assert_int_equal(netaddr_parse_mask("192.0.2.7", &m), 0);
	assert_int_equal(m.prefix, 32);
	assert_int_equal(netaddr_parse_mask("::1/128", &m), 0);
	assert_int_equal(m.family, AF_INET6);
	assert_int_equal(m.prefix, 128);
	assert_int_equal(netaddr_parse_mask("2001:db8::/32", &m), 0);
	assert_int_equal(m.prefix, 32);
	assert_int_equal(netaddr_parse_mask("0.0.0.0/0", &m), 0);
	assert_int_equal(m.prefix, 0);

	assert_int_equal(netaddr_parse_mask("127.0.0.0/33", &m), -1);
	assert_int_equal(netaddr_parse_mask("::/129", &m), -1);
	assert_int_equal(netaddr_parse_mask("127.0.0.0/", &m), -1);
	assert_int_equal(netaddr_parse_mask("127.0.0.0/-1", &m), -1);
	assert_int_equal(netaddr_parse_mask("127.0.0.0/8x", &m), -1);
	assert_int_equal(netaddr_parse_mask("/8", &m), -1);
	assert_int_equal(netaddr_parse_mask("", &m), -1);
	assert_int_equal(netaddr_parse_mask("example.org/8", &m), -1);
	assert_int_equal(netaddr_parse_mask("[::1]/128", &m), -1);
}

static void
test_match(void **state)
{
	(void)state;
	assert_true(match("127.0.0.0/8", "127.0.0.1"));
	assert_true(match("127.0.0.0/8", "127.255.255.255"));
	assert_false(match("127.0.0.0/8", "128.0.0.1"));
	assert_true(match("192.0.2.0/25", "192.0.2.127"));
	assert_false(match("192.0.2.0/25", "192.0.2.128"));
	assert_true(match("192.0.2.7", "192.0.2.7"));
	assert_false(match("192.0.2.7", "192.0.2.6"));
	assert_true(match("0.0.0.0/0", "203.0.113.9"));
	assert_true(match("10.1.2.3/8", "10.200.0.1"));
	assert_true(match("::1/128", "::1"));
	assert_false(match("::1/128", "::2"));
	assert_true(match("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(match("2001:db8::/32", "2001:db9::1"));
	assert_true(match("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(match("2001:db8::/33", "2001:db8:8000::1"));
	/* Families do not mix, except IPv4-mapped IPv6 against IPv4. */
	assert_false(match("::/0", "127.0.0.1"));
	assert_false(match("127.0.0.0/8", "::1"));
	assert_true(match("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_false(match("127.0.0.0/8", "::ffff:10.0.0.1"));
}

static void
test_ip_and_port(void **state)
{
	struct sockaddr_storage ss;
	char ip[64], tiny[4];

	(void)state;
	make_sa("::ffff:192.0.2.1", &ss);
	assert_string_equal(netaddr_ip((struct sockaddr *)&ss, ip, sizeof(ip)),
	    "192.0.2.1");
	make_sa("2001:db8::25", &ss);
	assert_string_equal(netaddr_ip((struct sockaddr *)&ss, ip, sizeof(ip)),
	    "2001:db8::25");
	/* Too small an output: a truncated "unknown", never an overflow. */
	make_sa("192.0.2.1", &ss);
	netaddr_ip((struct sockaddr *)&ss, tiny, sizeof(tiny));
	assert_string_equal(tiny, "unk");
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_string_equal(netaddr_ip((struct sockaddr *)&ss, ip, sizeof(ip)),
	    "unknown");
	assert_int_equal(netaddr_port((struct sockaddr *)&ss), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_hostport_bad),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_ip_and_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
