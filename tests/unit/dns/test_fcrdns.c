/*
 * Unit tests of the pure helpers of src/dns/fcrdns.c: reverse lookup
 * names for IPv4 and IPv6, and decoding of untrusted wire-format names
 * (bounds, label lengths, characters).  The lookups themselves are tested
 * against a real DNS server in tests/integration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "dns/fcrdns.h"

static void
test_reverse_v4(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char out[128];

	(void)state;
	inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
	assert_int_equal(fcrdns_reverse_name((struct sockaddr *)&sin, out, sizeof(out)), 0);
	assert_string_equal(out, "10.2.0.192.in-addr.arpa.");
}

static void
test_reverse_v6(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	char out[128];

	(void)state;
	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	assert_int_equal(fcrdns_reverse_name((struct sockaddr *)&sin6, out, sizeof(out)), 0);
	assert_string_equal(out,
	    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
}

static void
test_wire_name(void **state)
{
	static const unsigned char good[] = "\4mail\7example\3org";
	static const unsigned char bad_char[] = "\4ma l\3org";
	static const unsigned char overrun[] = "\11mail";
	char out[256];

	(void)state;
	assert_int_equal(fcrdns_wire_name(good, sizeof(good), out, sizeof(out)), 0);
	assert_string_equal(out, "mail.example.org.");
	assert_int_equal(fcrdns_wire_name(bad_char, sizeof(bad_char), out, sizeof(out)), -1);
	assert_int_equal(fcrdns_wire_name(overrun, sizeof(overrun) - 1, out, sizeof(out)), -1);
	/* No terminating root label: malformed. */
	assert_int_equal(fcrdns_wire_name(good, sizeof(good) - 1, out, sizeof(out)), -1);
	/* Output too small. */
	assert_int_equal(fcrdns_wire_name(good, sizeof(good), out, 8), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reverse_v4),
		cmocka_unit_test(test_reverse_v6),
		cmocka_unit_test(test_wire_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
