/*
 * Unit tests of src/common/netkey.c: addresses cut to the configured
 * prefixes (the client networks of admission control and the AUTH
 * throttle), IPv4-mapped IPv6, odd prefix lengths, equality, hashing
 * and the form written to logs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "testutil.h"

#include "common/netkey.h"

/* The key of ip under prefixes v4/v6, formatted. */
static const char *
net(const char *ip, unsigned v4, unsigned v6, char *out, size_t outlen)
{
	const struct netkey_prefixes p = { v4, v6 };
	struct sockaddr_storage ss = tu_addr(ip);
	struct netkey k;

	netkey_from((struct sockaddr *)&ss, &p, &k);
	return netkey_format(&k, out, outlen);
}

static bool
same(const char *a, const char *b, unsigned v4, unsigned v6)
{
	const struct netkey_prefixes p = { v4, v6 };
	struct sockaddr_storage sa = tu_addr(a), sb = tu_addr(b);
	struct netkey ka, kb;

	netkey_from((struct sockaddr *)&sa, &p, &ka);
	netkey_from((struct sockaddr *)&sb, &p, &kb);
	if (netkey_equal(&ka, &kb))
		assert_int_equal(netkey_hash(&ka, 7), netkey_hash(&kb, 7));
	return netkey_equal(&ka, &kb);
}

static void
test_defaults(void **state)
{
	char out[64];

	(void)state;
	/* /32 and /64: the whole IPv4 address, the IPv6 /64. */
	assert_string_equal(net("192.0.2.7", 32, 64, out, sizeof(out)), "192.0.2.7");
	assert_string_equal(net("2001:db8:1:2:3:4:5:6", 32, 64, out, sizeof(out)),
	    "2001:db8:1:2::/64");
	assert_true(same("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", 32, 64));
	assert_false(same("2001:db8:1:2::1", "2001:db8:1:3::1", 32, 64));
	assert_false(same("192.0.2.7", "192.0.2.8", 32, 64));
	/* ::1 is one host either way. */
	assert_string_equal(net("::1", 32, 128, out, sizeof(out)), "::1");
}

static void
test_mapped_is_ipv4(void **state)
{
	char out[64];

	(void)state;
	assert_true(same("::ffff:192.0.2.7", "192.0.2.7", 32, 64));
	assert_string_equal(net("::ffff:192.0.2.7", 24, 64, out, sizeof(out)),
	    "192.0.2.0/24");
	/* Not a /64 of ::ffff:0:0/96. */
	assert_false(same("::ffff:192.0.2.7", "::ffff:192.0.2.8", 32, 64));
}

static void
test_odd_prefixes(void **state)
{
	char out[64];

	(void)state;
	/* Bits, not octets. */
	assert_string_equal(net("192.0.2.255", 25, 64, out, sizeof(out)), "192.0.2.128/25");
	assert_true(same("192.0.2.130", "192.0.2.255", 25, 64));
	assert_false(same("192.0.2.127", "192.0.2.128", 25, 64));
	assert_string_equal(net("10.255.1.1", 9, 64, out, sizeof(out)), "10.128.0.0/9");
	assert_string_equal(net("2001:db8:abcd:ffff::1", 32, 49, out, sizeof(out)),
	    "2001:db8:abcd:8000::/49");
	assert_false(same("2001:db8::1", "2001:db8::2", 32, 127));
	assert_true(same("2001:db8::2", "2001:db8::3", 32, 127));
	/* Out-of-range prefixes are clamped to the whole address. */
	assert_string_equal(net("192.0.2.7", 40, 64, out, sizeof(out)), "192.0.2.7");
}

static void
test_other_family_and_hash(void **state)
{
	const struct netkey_prefixes p = { 32, 64 };
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sockaddr_storage a = tu_addr("192.0.2.7");
	struct netkey k, ka;
	char out[8];

	(void)state;
	netkey_from((struct sockaddr *)&un, &p, &k);
	assert_int_equal(k.family, 0);
	assert_string_equal(netkey_format(&k, out, sizeof(out)), "");
	netkey_from((struct sockaddr *)&a, &p, &ka);
	/* The seed changes the hash; a short buffer is cut, never overrun. */
	assert_int_not_equal(netkey_hash(&ka, 1), netkey_hash(&ka, 2));
	assert_int_equal(strlen(netkey_format(&ka, out, sizeof(out))), 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_mapped_is_ipv4),
		cmocka_unit_test(test_odd_prefixes),
		cmocka_unit_test(test_other_family_and_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
