/*
 * The Redis backend's URL (src/greylist/redis_url.c): every accepted
 * form, the defaults, percent-decoded credentials, and the refusals at
 * each limit (port 0/65535/65536, DB 65535/65536, label of 63/64).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/redis_url.h"

static struct redis_url
ok(const char *url)
{
	struct redis_url u;
	char err[256] = "";
	int rc = redis_url_parse(url, &u, err, sizeof(err));

	if (rc != 0)
		print_error("%s: %s\n", url, err);
	assert_int_equal(rc, 0);
	return u;
}

static void
bad(const char *url, const char *why)
{
	struct redis_url u;
	char err[256] = "";

	assert_int_equal(redis_url_parse(url, &u, err, sizeof(err)), -1);
	if (strstr(err, why) == NULL)
		print_error("%s: \"%s\" lacks \"%s\"\n", url, err, why);
	assert_non_null(strstr(err, why));
	assert_false(u.has_password);
	assert_string_equal(u.password, "");
}

static void
test_forms(void **state)
{
	struct redis_url u;

	(void)state;
	u = ok("redis://127.0.0.1:6379/0");
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 0);
	assert_false(u.has_password);
	u = ok("redis://[::1]:7000/3");
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 7000);
	assert_int_equal(u.db, 3);
	u = ok("redis://redis.example.org");
	assert_string_equal(u.host, "redis.example.org");
	assert_int_equal(u.port, REDIS_URL_PORT_DEFAULT);
	assert_int_equal(u.db, 0);
	u = ok("redis://localhost/");
	assert_int_equal(u.db, 0);
	u = ok("redis://[2001:db8::7]/12");
	assert_string_equal(u.host, "2001:db8::7");
	assert_int_equal(u.port, 6379);
	assert_int_equal(u.db, 12);
}

static void
test_credentials(void **state)
{
	struct redis_url u;

	(void)state;
	u = ok("redis://:s3cret@127.0.0.1:6379/0");
	assert_true(u.has_password);
	assert_string_equal(u.user, "");
	assert_string_equal(u.password, "s3cret");
	u = ok("redis://decorum:p%40ss%2Fw%3Ard@[::1]:6380/1");
	assert_string_equal(u.user, "decorum");
	assert_string_equal(u.password, "p@ss/w:rd");
	assert_string_equal(u.host, "::1");
	/* The last '@' ends the credentials. */
	u = ok("redis://:a@b@host");
	assert_string_equal(u.password, "a@b");
	assert_string_equal(u.host, "host");
	redis_url_clear(&u);
	assert_false(u.has_password);
	assert_string_equal(u.password, "");
}

static void
test_limits(void **state)
{
	char host[128];

	(void)state;
	assert_int_equal(ok("redis://h:1").port, 1);
	assert_int_equal(ok("redis://h:65535").port, 65535);
	bad("redis://h:0", "port");
	bad("redis://h:65536", "port");
	bad("redis://h:", "port");
	assert_int_equal(ok("redis://h/65535").db, 65535);
	bad("redis://h/65536", "database");
	memset(host, 'a', 63);
	snprintf(host + 63, sizeof(host) - 63, ".org");
	{
		char url[160];

		snprintf(url, sizeof(url), "redis://%s", host);
		ok(url);
		memmove(host + 1, host, strlen(host) + 1);
		snprintf(url, sizeof(url), "redis://%s", host);	/* a label of 64 */
		bad(url, "bad host name");
	}
}

static void
test_refusals(void **state)
{
	(void)state;
	bad("http://127.0.0.1:6379/0", "not a redis:// URL");
	bad("rediss://127.0.0.1", "not a redis:// URL");
	bad("redis://", "no host");
	bad("redis://:6379", "no host");
	bad("redis://127.0.0.1:6379/0?timeout=1", "query");
	bad("redis://127.0.0.1:6379#x", "query");
	bad("redis://127.0.0.1:6379/0/1", "database");
	bad("redis://127.0.0.1:+6379", "port");
	bad("redis://127.0.0.1:6379x", "port");
	bad("redis://127.0.0.1/-1", "database");
	bad("redis://127.0.0.1/ 1", "space");
	bad("redis://host name", "space");
	bad("redis://ex_ample.org", "bad host name");
	bad("redis://-a.org", "bad host name");
	bad("redis://a-.org", "bad host name");
	bad("redis://a..org", "bad host name");
	bad("redis://::1:6379", "needs brackets");
	bad("redis://2001:db8::1", "needs brackets");
	bad("redis://[::1", "without ']'");
	bad("redis://[::1]x", "junk after ']'");
	bad("redis://[192.0.2.1]", "bad IPv6 literal");
	bad("redis://[]:6379", "no host");
	bad("redis://user@h", "a user without a password");
	bad("redis://:@h", "empty password");
	bad("redis://:a%4@h", "bad user or password");
	bad("redis://:a%0d%0aFLUSHALL@h", "bad user or password");
	bad("redis://:a%00b@h", "bad user or password");
}

static void
test_password_never_in_error(void **state)
{
	struct redis_url u;
	char err[256];

	(void)state;
	assert_int_equal(redis_url_parse("redis://:hunter2@bad_host", &u, err,
	    sizeof(err)), -1);
	assert_null(strstr(err, "hunter2"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_credentials),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_password_never_in_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
