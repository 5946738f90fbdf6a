/*
 * Unit tests of password_hash()/password_verify(): yescrypt round trip,
 * a SHA-512-crypt hash made elsewhere, the {CRYPT} prefix, and hashes
 * that must never verify.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth/password.h"

static void
test_yescrypt(void **state)
{
	char h[256], h2[256], pref[300];

	(void)state;
	assert_int_equal(password_hash("s3cret pass", h, sizeof(h)), 0);
	assert_memory_equal(h, "$y$", 3);
	assert_true(password_verify("s3cret pass", h));
	assert_false(password_verify("s3cret pasS", h));
	assert_false(password_verify("", h));
	/* A fresh salt every time. */
	assert_int_equal(password_hash("s3cret pass", h2, sizeof(h2)), 0);
	assert_string_not_equal(h, h2);
	snprintf(pref, sizeof(pref), "{CRYPT}%s", h);
	assert_true(password_verify("s3cret pass", pref));
	/* Too small an output buffer is an error, not a truncation. */
	assert_int_equal(password_hash("x", h, 10), -1);
}

static void
test_sha512(void **state)
{
	/* openssl passwd -6 -salt saltsalt secret */
	const char *h = "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0"
	    "U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1";

	(void)state;
	assert_true(password_verify("secret", h));
	assert_false(password_verify("Secret", h));
}

static void
test_never(void **state)
{
	(void)state;
	assert_false(password_verify("", ""));
	assert_false(password_verify("x", ""));
	assert_false(password_verify("x", NULL));
	assert_false(password_verify("x", "*"));
	assert_false(password_verify("x", "!$y$j9T$abc"));
	assert_false(password_verify("x", "$y$garbage"));
	assert_false(password_verify("x", "{CRYPT}"));
	/* Legacy DES: refused even when right. */
	assert_false(password_verify("secret", "saHW9GdxihkGQ"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yescrypt),
		cmocka_unit_test(test_sha512),
		cmocka_unit_test(test_never),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
