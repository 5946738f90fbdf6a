/*
 * The Redis backend's key names (src/greylist/redis_keys.c): a triplet's
 * key is the SHA-256 of its length-prefixed parts, pinned here by known
 * values (every node of a shared greylist must name a triplet the same
 * way, whatever its version), and no separator in a sender or a
 * recipient makes two triplets share a key.  A network's key is the
 * network itself, checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "greylist/redis_keys.h"

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

static void
key_of(const char *net, const char *sender, const char *rcpt, char *out)
{
	struct greylist_triplet t = triplet(net, sender, rcpt);

	assert_int_equal(redis_key_triplet(&t, out, REDIS_KEY_MAX), 0);
}

static void
test_known_values(void **state)
{
	char k[REDIS_KEY_MAX];

	(void)state;
	/* python3: sha256(b"".join(struct.pack(">I", len(p)) + p for p in parts)) */
	key_of("192.0.2.0/24", "alice@example.org", "bob@example.net", k);
	assert_string_equal(k, "decorum:gl:t:"
	    "6c925a1cb26af056cf92fb77274bcaf585e4c21c3998678c6ddcde8b7037da73");
	key_of("192.0.2.0/24", "", "bob@example.net", k);
	assert_string_equal(k, "decorum:gl:t:"
	    "a563f4411c94d8efb5801bbc17f8075212f7a46aa0a6e803aa7d42751bdd6f84");
}

static void
test_no_collision_across_parts(void **state)
{
	char a[REDIS_KEY_MAX], b[REDIS_KEY_MAX], c[REDIS_KEY_MAX], d[REDIS_KEY_MAX];

	(void)state;
	/* The same bytes cut in different places are different triplets. */
	key_of("192.0.2.0/24", "a:b", "c", a);
	key_of("192.0.2.0/24", "a", "b:c", b);
	key_of("192.0.2.0/24", "a:", "b:c", c);
	key_of("192.0.2.0/24", "", "ab:c", d);
	assert_string_not_equal(a, b);
	assert_string_not_equal(b, c);
	assert_string_not_equal(a, d);
	assert_string_not_equal(c, d);
	key_of("192.0.2.0/24", "a\0b", "c", a);	/* stops at the NUL */
	key_of("192.0.2.0/24", "a", "c", b);
	assert_string_equal(a, b);
	key_of("192.0.2.0/24", "a", "c", a);
	key_of("192.0.3.0/24", "a", "c", b);
	assert_string_not_equal(a, b);
}

static void
test_triplet_buffer(void **state)
{
	struct greylist_triplet t = triplet("192.0.2.0/24", "a", "b");
	char k[REDIS_KEY_MAX];
	size_t need = strlen(REDIS_KEY_TRIPLET) + 64 + 1;

	(void)state;
	assert_int_equal(redis_key_triplet(&t, k, need), 0);
	assert_int_equal(strlen(k), need - 1);
	assert_int_equal(redis_key_triplet(&t, k, need - 1), -1);
	/* A part that fills its field without a NUL is refused. */
	memset(t.rcpt, 'x', sizeof(t.rcpt));
	assert_int_equal(redis_key_triplet(&t, k, sizeof(k)), -1);
}

static void
test_net(void **state)
{
	char k[REDIS_KEY_MAX];

	(void)state;
	assert_int_equal(redis_key_net("192.0.2.0/24", k, sizeof(k)), 0);
	assert_string_equal(k, "decorum:gl:n:192.0.2.0/24");
	assert_int_equal(redis_key_net("2001:db8:1:2::/64", k, sizeof(k)), 0);
	assert_string_equal(k, "decorum:gl:n:2001:db8:1:2::/64");
	/* A /32 (network_v4 = 32) is the bare address. */
	assert_int_equal(redis_key_net("192.0.2.7", k, sizeof(k)), 0);
	assert_string_equal(k, "decorum:gl:n:192.0.2.7");
	assert_int_equal(redis_key_net("", k, sizeof(k)), -1);
	assert_int_equal(redis_key_net("192.0.2.0/24 x", k, sizeof(k)), -1);
	assert_int_equal(redis_key_net("*", k, sizeof(k)), -1);
	assert_int_equal(redis_key_net("2001:DB8::/64", k, sizeof(k)), -1);
	assert_int_equal(redis_key_net("192.0.2.0/24", k,
	    strlen("decorum:gl:n:192.0.2.0/24")), -1);
	assert_int_equal(redis_key_net("192.0.2.0/24", k,
	    strlen("decorum:gl:n:192.0.2.0/24") + 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_no_collision_across_parts),
		cmocka_unit_test(test_triplet_buffer),
		cmocka_unit_test(test_net),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
