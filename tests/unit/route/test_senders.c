/*
 * Unit tests of sender ownership (src/route/senders.c) and the senders
 * file (src/route/domains*.c): own address, case, +extension, an alias
 * to the user alone, an alias to two users (owned by neither), extras
 * from the senders file (addresses and @domain), the null sender,
 * unknown and foreign senders, a broken senders file (tempfail), reload
 * after a change, and check-config's reports on the senders file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "route/domains.h"
#include "route/senders.h"
#include "route_fixture.h"

static int
setup(void **state)
{
	struct fixture *fx = route_fixture_new("senders");

	if (fx == NULL)
		return -1;
	tu_put(fx->dir, "example.test/users",
	    "alice:$y$x\n"
	    "bob:$y$x\n"
	    "admin:$y$x\n"
	    "alice+x:$y$x\n");
	tu_put(fx->dir, "example.test/aliases",
	    "info: alice\n"
	    "sales: alice, bob\n"
	    "help: info\n");
	tu_put(fx->dir, "example.test/senders",
	    "# extra envelope senders\n"
	    "bob: bob@old.example, Robert@Example.Org,\n"
	    "  @shop.example\n");
	tu_put(fx->dir, "other.test/users", "carol:$y$x\n");
	route_fixture_open(fx);
	*state = fx;
	return 0;
}

static int
owned(struct fixture *fx, const char *login, const char *sender)
{
	return route_sender_owned(&fx->cfg, fx->d, login, sender);
}

static void
test_own_address(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(owned(fx, "alice@example.test", "alice@example.test"), 1);
	assert_int_equal(owned(fx, "alice@example.test", "ALICE@Example.TEST"), 1);
	assert_int_equal(owned(fx, "Alice@EXAMPLE.test", "alice@example.test"), 1);
	assert_int_equal(owned(fx, "alice@example.test", "\"alice\"@example.test"), 1);
	assert_int_equal(owned(fx, "alice@example.test", "bob@example.test"), 0);
	assert_int_equal(owned(fx, "bob@example.test", "alice@example.test"), 0);
	/* The same local part in another domain is someone else. */
	assert_int_equal(owned(fx, "alice@example.test", "alice@other.test"), 0);
}

static void
test_extension(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(owned(fx, "bob@example.test", "bob+lists@example.test"), 1);
	assert_int_equal(owned(fx, "alice@example.test", "alice+y@example.test"), 1);
	/* alice+x is a user of its own: not alice's. */
	assert_int_equal(owned(fx, "alice@example.test", "alice+x@example.test"), 0);
	assert_int_equal(owned(fx, "alice+x@example.test", "alice+x@example.test"), 1);
	/* With the delimiter off, an extension is just another name. */
	free(fx->cfg.recipient_delimiter);
	fx->cfg.recipient_delimiter = strdup("");
	assert_int_equal(owned(fx, "bob@example.test", "bob+lists@example.test"), 0);
}

static void
test_aliases(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(owned(fx, "alice@example.test", "info@example.test"), 1);
	assert_int_equal(owned(fx, "alice@example.test", "help@example.test"), 1);
	assert_int_equal(owned(fx, "bob@example.test", "info@example.test"), 0);
	/* An alias to two users is owned by neither. */
	assert_int_equal(owned(fx, "alice@example.test", "sales@example.test"), 0);
	assert_int_equal(owned(fx, "bob@example.test", "sales@example.test"), 0);
	/* postmaster goes to the configured postmaster. */
	assert_int_equal(owned(fx, "admin@example.test", "postmaster@example.test"), 1);
	assert_int_equal(owned(fx, "alice@example.test", "postmaster@example.test"), 0);
}

static void
test_senders_file(void **state)
{
	struct fixture *fx = *state;
	char *const *a;
	size_t n;

	assert_int_equal(domains_senders(fx->d, "BOB", "example.test", &a, &n), 1);
	assert_int_equal(n, 3);
	assert_string_equal(a[2], "@shop.example");
	assert_int_equal(domains_senders(fx->d, "alice", "example.test", &a, &n), 0);
	assert_int_equal(owned(fx, "bob@example.test", "bob@old.example"), 1);
	assert_int_equal(owned(fx, "bob@example.test", "BOB@OLD.example"), 1);
	assert_int_equal(owned(fx, "bob@example.test", "bob+x@old.example"), 1);
	assert_int_equal(owned(fx, "bob@example.test", "robert@example.org"), 1);
	assert_int_equal(owned(fx, "bob@example.test", "anyone@shop.example"), 1);
	assert_int_equal(owned(fx, "bob@example.test", "x@SHOP.EXAMPLE"), 1);
	assert_int_equal(owned(fx, "bob@example.test", "x@sub.shop.example"), 0);
	assert_int_equal(owned(fx, "bob@example.test", "other@old.example"), 0);
	assert_int_equal(owned(fx, "alice@example.test", "bob@old.example"), 0);
	assert_int_equal(owned(fx, "alice@example.test", "x@shop.example"), 0);
}

static void
test_null_unknown(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(owned(fx, "alice@example.test", ""), 1);
	assert_int_equal(owned(fx, "alice@example.test", "nobody@example.test"), 0);
	assert_int_equal(owned(fx, "alice@example.test", "alice@elsewhere.example"), 0);
	assert_int_equal(owned(fx, "alice@example.test", "alice"), 0);
	assert_int_equal(owned(fx, "alice@example.test", "postmaster"), 0);
	assert_int_equal(owned(fx, "alice@example.test", "@example.test"), 0);
	assert_int_equal(owned(fx, "alice", "alice@example.test"), 0);
}

static void
test_broken_and_reload(void **state)
{
	struct fixture *fx = *state;

	/* A broken senders file: tempfail, not "not owned". */
	tu_put(fx->dir, "example.test/senders", "bob bob@old.example\n");
	route_fixture_refresh(fx);
	assert_int_equal(owned(fx, "bob@example.test", "bob@old.example"), -1);
	assert_int_equal(owned(fx, "bob@example.test", "bob@example.test"), -1);
	/* Fixed: the change is picked up. */
	tu_put(fx->dir, "example.test/senders",
	    "bob: @new.example\nalice: a@b.example\n");
	route_fixture_refresh(fx);
	assert_int_equal(owned(fx, "bob@example.test", "bob@old.example"), 0);
	assert_int_equal(owned(fx, "bob@example.test", "x@new.example"), 1);
	assert_int_equal(owned(fx, "alice@example.test", "a@b.example"), 1);
	/* Removed: no extras, own address still fine. */
	{
		char path[PATH_MAX + 64];

		snprintf(path, sizeof(path), "%s/example.test/senders", fx->dir);
		assert_int_equal(unlink(path), 0);
	}
	route_fixture_refresh(fx);
	assert_int_equal(owned(fx, "bob@example.test", "x@new.example"), 0);
	assert_int_equal(owned(fx, "bob@example.test", "bob@example.test"), 1);
}

struct reports {
	char text[4096];
	int n;
};

static void
report(void *arg, const char *file, int line, const char *message)
{
	struct reports *r = arg;
	size_t len = strlen(r->text);
	const char *base = strrchr(file, '/');

	snprintf(r->text + len, sizeof(r->text) - len, "%s:%d: %s\n",
	    base ? base + 1 : file, line, message);
	r->n++;
}

static void
test_check_config(void **state)
{
	struct fixture *fx = *state;
	struct reports r = { .n = 0 };

	assert_int_equal(domains_check(fx->dir, &fx->cfg, report,
	    NULL, &r), 0);
	tu_put(fx->dir, "example.test/senders",
	    "bob: bob@old.example\n"
	    "zed: z@x.example\n"
	    "alice: not-an-address, @bad..domain,\n"
	    "  @good.example\n"
	    "admin:\n"
	    "broken line\n");
	memset(&r, 0, sizeof(r));
	assert_int_equal(domains_check(fx->dir, &fx->cfg, report,
	    NULL, &r), 5);
	assert_non_null(strstr(r.text, "senders:6: expected \"local: address, @domain\""));
	assert_non_null(strstr(r.text, "senders:5: senders of admin: no addresses"));
	assert_non_null(strstr(r.text, "senders:2: senders of zed: no such user in this domain"));
	assert_non_null(strstr(r.text, "senders:3: senders of alice: \"not-an-address\" is not local@domain or @domain"));
	assert_non_null(strstr(r.text, "senders:3: senders of alice: \"@bad..domain\" is not"));
	assert_null(strstr(r.text, "good.example"));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, route_fixture_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_own_address),
		T(test_extension),
		T(test_aliases),
		T(test_senders_file),
		T(test_null_unknown),
		T(test_broken_and_reload),
		T(test_check_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
