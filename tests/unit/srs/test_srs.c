/*
 * Unit tests for src/srs/srs.c: the vectors were made by postsrsd 1.10
 * with the secret "tops3cr3t", domain srs.example.test, its clock at
 * 2024-03-01 12:00 UTC (stamp KH); the rest checks round trips, case,
 * stamps at max_age on both sides, rotation and every limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "srs/srs.h"

#define NOW	1709294400	/* 2024-03-01 12:00:00 UTC, day 19783 */
#define DAYS	86400
#define DOM	"srs.example.test"

static struct srs_keys keys;

static void
keys_set(const char *text)
{
	char err[128];

	assert_int_equal(srs_keys_parse(&keys, text, strlen(text), err,
	    sizeof(err)), 0);
}

static void
fwd_ok(const char *in, const char *want)
{
	char out[SRS_ADDRESS_MAX + 1];

	assert_int_equal(srs_forward(&keys, DOM, in, NOW, out, sizeof(out)),
	    SRS_OK);
	assert_string_equal(out, want);
}

static void
rev_ok(const char *in, time_t now, const char *want)
{
	char out[SRS_ADDRESS_MAX + 1];

	assert_int_equal(srs_reverse(&keys, in, now, SRS_MAX_AGE_DEFAULT, out,
	    sizeof(out)), SRS_OK);
	assert_string_equal(out, want);
}

static enum srs_result
rev(const char *in, time_t now)
{
	char out[SRS_ADDRESS_MAX + 1];

	return srs_reverse(&keys, in, now, SRS_MAX_AGE_DEFAULT, out,
	    sizeof(out));
}

static enum srs_result
fwd(const char *in)
{
	char out[SRS_ADDRESS_MAX + 1];

	return srs_forward(&keys, DOM, in, NOW, out, sizeof(out));
}

static void
test_postsrsd_vectors(void **state)
{
	(void)state;
	keys_set("tops3cr3t\n");
	fwd_ok("alice@example.org", "SRS0=O5RO=KH=example.org=alice@" DOM);
	fwd_ok("\"quoted local\"@example.org",
	    "SRS0=24Iz=KH=example.org=\"quoted local\"@" DOM);
	fwd_ok("SRS0=abcd=XY=orig.example=bob@hop.example",
	    "SRS1=8yYe=hop.example==abcd=XY=orig.example=bob@" DOM);
	/* SRS1 keeps its first hop, re-hashed with our secret. */
	fwd_ok("SRS1=zzzz=hop.example==abcd=XY=orig.example=bob@other.example",
	    "SRS1=8yYe=hop.example==abcd=XY=orig.example=bob@" DOM);
}

static void
test_case(void **state)
{
	(void)state;
	keys_set("tops3cr3t\n");
	/* The hash is over lower case; the output keeps the input's case. */
	fwd_ok("ALICE@EXAMPLE.ORG", "SRS0=O5RO=KH=EXAMPLE.ORG=ALICE@" DOM);
	rev_ok("SRS0=O5RO=KH=example.org=alice@" DOM, NOW, "alice@example.org");
	rev_ok("srs0=o5ro=kh=example.org=alice@SRS.EXAMPLE.TEST", NOW,
	    "alice@example.org");
	rev_ok("SRS0=O5RO=KH=Example.Org=Alice@" DOM, NOW, "Alice@Example.Org");
	rev_ok("SRS1=8YYE=hop.example==abcd=XY=orig.example=bob@" DOM, NOW,
	    "SRS0=abcd=XY=orig.example=bob@hop.example");
}

static void
test_round_trip(void **state)
{
	static const char *const in[] = { "a@b.example", "a+tag@example.org",
	    "\"x y\"@example.org", "first.last@sub.example.co.uk",
	    "SRS0+abcd=XY=orig.example=bob@hop.example",
	    "SRS0-abcd=XY=orig.example=bob@hop.example", "we=ird@example.org" };
	char out[SRS_ADDRESS_MAX + 1], back[SRS_ADDRESS_MAX + 1];

	(void)state;
	keys_set("k\n");
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(srs_forward(&keys, DOM, in[i], NOW, out,
		    sizeof(out)), SRS_OK);
		assert_int_equal(srs_reverse(&keys, out, NOW, 21, back,
		    sizeof(back)), SRS_OK);
		/* An SRS0 went out as SRS1 and comes back as itself. */
		assert_string_equal(back, in[i]);
	}
}

static void
test_separators(void **state)
{
	char out[SRS_ADDRESS_MAX + 1];

	(void)state;
	keys_set("tops3cr3t\n");
	assert_int_equal(srs_forward(&keys, DOM, "alice@example.org", NOW,
	    out, sizeof(out)), SRS_OK);
	out[4] = '+';
	rev_ok(out, NOW, "alice@example.org");
	out[4] = '-';
	rev_ok(out, NOW, "alice@example.org");
	out[4] = '_';
	assert_int_equal(rev(out, NOW), SRS_ENOTSRS);
}

static void
test_stamp_age(void **state)
{
	const char *a = "SRS0=O5RO=KH=example.org=alice@" DOM;

	(void)state;
	keys_set("tops3cr3t\n");
	assert_int_equal(rev(a, NOW + 21 * DAYS), SRS_OK);
	assert_int_equal(rev(a, NOW + 22 * DAYS), SRS_EEXPIRED);
	/* Made tomorrow: from the future, invalid. */
	assert_int_equal(rev(a, NOW - 1 * DAYS), SRS_EEXPIRED);
	/* max_age as given: 1 day accepts yesterday, not the day before. */
	{
		char out[SRS_ADDRESS_MAX + 1];

		assert_int_equal(srs_reverse(&keys, a, NOW + DAYS, 1, out,
		    sizeof(out)), SRS_OK);
		assert_int_equal(srs_reverse(&keys, a, NOW + 2 * DAYS, 1, out,
		    sizeof(out)), SRS_EEXPIRED);
	}
}

/* A stamp of day slot 1023 is 1 day old on slot 0: the wrap of TT. */
static void
test_stamp_wrap(void **state)
{
	time_t day1023 = (time_t)(19456 + 1023) * DAYS;	/* 19456 = 19 * 1024 */
	char out[SRS_ADDRESS_MAX + 1];

	(void)state;
	keys_set("k\n");
	assert_int_equal(srs_forward(&keys, DOM, "a@b.example", day1023, out,
	    sizeof(out)), SRS_OK);
	assert_memory_equal(out + 10, "77", 2);
	assert_int_equal(rev(out, day1023 + DAYS), SRS_OK);
	assert_int_equal(rev(out, day1023 + 21 * DAYS), SRS_OK);
	assert_int_equal(rev(out, day1023 + 22 * DAYS), SRS_EEXPIRED);
}

static void
test_forged(void **state)
{
	(void)state;
	keys_set("tops3cr3t\n");
	assert_int_equal(rev("SRS0=O5RP=KH=example.org=alice@" DOM, NOW),
	    SRS_EHASH);
	assert_int_equal(rev("SRS0=O5RO=KH=example.org=mallory@" DOM, NOW),
	    SRS_EHASH);
	/* A hash of 3 or 5 characters, a stamp changed: all forged. */
	assert_int_equal(rev("SRS0=O5R=KH=example.org=alice@" DOM, NOW),
	    SRS_EHASH);
	assert_int_equal(rev("SRS0=O5ROO=KH=example.org=alice@" DOM, NOW),
	    SRS_EHASH);
	assert_int_equal(rev("SRS0=O5RO=KG=example.org=alice@" DOM, NOW),
	    SRS_EHASH);
	assert_int_equal(rev("SRS1=8yYf=hop.example==abcd=XY=orig.example="
	    "bob@" DOM, NOW), SRS_EHASH);
	keys_set("another\n");
	assert_int_equal(rev("SRS0=O5RO=KH=example.org=alice@" DOM, NOW),
	    SRS_EHASH);
}

static void
test_rotation(void **state)
{
	char out[SRS_ADDRESS_MAX + 1];

	(void)state;
	/* The new secret first signs; the old one below still verifies. */
	keys_set("newsecret\r\n\ntops3cr3t\n");
	assert_int_equal(srs_forward(&keys, DOM, "alice@example.org", NOW, out,
	    sizeof(out)), SRS_OK);
	assert_string_not_equal(out, "SRS0=O5RO=KH=example.org=alice@" DOM);
	rev_ok(out, NOW, "alice@example.org");
	rev_ok("SRS0=O5RO=KH=example.org=alice@" DOM, NOW, "alice@example.org");
}

static void
test_malformed(void **state)
{
	char out[SRS_ADDRESS_MAX + 1];

	(void)state;
	keys_set("k\n");
	assert_int_equal(rev("alice@example.org", NOW), SRS_ENOTSRS);
	assert_int_equal(rev("SRS0=@" DOM, NOW), SRS_ENOTSRS);
	assert_int_equal(rev("SRS0=abcd=KH=example.org@" DOM, NOW), SRS_ESYNTAX);
	assert_int_equal(rev("SRS0=abcd=KH=example.org=@" DOM, NOW), SRS_ESYNTAX);
	assert_int_equal(rev("SRS0==KH=d=u@" DOM, NOW), SRS_ESYNTAX);
	assert_int_equal(rev("SRS1=abcd=hop=@" DOM, NOW), SRS_ESYNTAX);
	assert_int_equal(rev("SRS1=abcd@" DOM, NOW), SRS_ESYNTAX);
	assert_int_equal(rev("SRS0=abcd=KH=d=u", NOW), SRS_ESYNTAX);
	assert_int_equal(fwd("noat"), SRS_ESYNTAX);
	assert_int_equal(fwd("@example.org"), SRS_ESYNTAX);
	assert_int_equal(fwd("a@"), SRS_ESYNTAX);
	assert_int_equal(fwd("a\r\nb@example.org"), SRS_ESYNTAX);
	assert_int_equal(fwd("SRS1=abcd@hop.example"), SRS_ESYNTAX);
	assert_int_equal(fwd("a@b=c.example"), SRS_ESYNTAX);
	/* Our own domain is left alone. */
	assert_int_equal(srs_forward(&keys, DOM, "x@SRS.example.test", NOW,
	    out, sizeof(out)), SRS_UNCHANGED);
	assert_string_equal(out, "x@SRS.example.test");
}

static void
test_no_keys(void **state)
{
	struct srs_keys none = { 0 };
	char out[SRS_ADDRESS_MAX + 1];

	(void)state;
	assert_int_equal(srs_forward(&none, DOM, "a@b.example", NOW, out,
	    sizeof(out)), SRS_ENOKEY);
	assert_int_equal(srs_reverse(&none, "SRS0=abcd=KH=d=u@x", NOW, 21,
	    out, sizeof(out)), SRS_ENOKEY);
}

/* "x...x@" + a domain of domain_len octets. */
static void
make_addr(char *buf, size_t local_len, size_t domain_len)
{
	memset(buf, 'x', local_len);
	buf[local_len] = '@';
	memset(buf + local_len + 1, 'd', domain_len);
	buf[local_len + 1 + domain_len] = '\0';
}

static void
test_limits(void **state)
{
	char in[600], out[SRS_ADDRESS_MAX + 1];
	size_t fixed = strlen("SRS0=HHHH=TT==@" DOM);

	(void)state;
	keys_set("k\n");
	make_addr(in, SRS_LOCAL_MAX, 10);
	assert_int_equal(fwd(in), SRS_OK);
	make_addr(in, SRS_LOCAL_MAX + 1, 10);
	assert_int_equal(fwd(in), SRS_ETOOLONG);
	/* The result at 254 octets passes, at 255 it is refused. */
	make_addr(in, 10, SRS_ADDRESS_MAX - fixed - 10);
	assert_int_equal(fwd(in), SRS_OK);
	make_addr(in, 10, SRS_ADDRESS_MAX - fixed - 9);
	assert_int_equal(fwd(in), SRS_ETOOLONG);
	/* Inputs: 254 octets read, 255 refused before any parsing. */
	make_addr(in, 10, SRS_ADDRESS_MAX - 11);
	assert_int_equal(rev(in, NOW), SRS_ENOTSRS);
	make_addr(in, 10, SRS_ADDRESS_MAX - 10);
	assert_int_equal(rev(in, NOW), SRS_ETOOLONG);
	make_addr(in, 10, SRS_DOMAIN_MAX + 1);
	assert_int_equal(fwd(in), SRS_ETOOLONG);
	/* The caller's buffer: exactly enough, then one octet short. */
	assert_int_equal(srs_forward(&keys, DOM, "a@b.example", NOW, out,
	    sizeof(out)), SRS_OK);
	{
		size_t need = strlen(out) + 1;

		assert_int_equal(srs_forward(&keys, DOM, "a@b.example", NOW,
		    out, need), SRS_OK);
		assert_int_equal(srs_forward(&keys, DOM, "a@b.example", NOW,
		    out, need - 1), SRS_ETOOLONG);
		assert_string_equal(out, "");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postsrsd_vectors),
		cmocka_unit_test(test_case),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_separators),
		cmocka_unit_test(test_stamp_age),
		cmocka_unit_test(test_stamp_wrap),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_rotation),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_no_keys),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
