/*
 * delivery.connection_reuse_limit (issue 8): how many messages one
 * outbound connection carries before it gives its slot up.  Default,
 * both ends of its range, one past each, and the wrong type.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/bounds.h"
#include "common/config.h"
#include "config_fixture.h"
#include "testutil.h"

static int
setup(void **state)
{
	(void)state;
	return config_fixture_setup("/tmp/decorum-config8-XXXXXX");
}

/* Three lines: whatever a test appends starts on line 4. */
#define BASE \
	"hostname = \"mx.example.test\";\n" \
	"postmaster = \"admin@example.test\";\n" \
	"listen = ( { address = \"127.0.0.1:2525\"; } );\n"

static void
test_reuse_limit_default(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(BASE, &cfg);
	assert_int_equal(cfg.out_reuse_limit, DEFAULT_OUT_REUSE_LIMIT);
	assert_int_equal(cfg.out_reuse_limit, 100);
	config_free(&cfg);
	load_ok(BASE "delivery = { smtp_port = 2526; };\n", &cfg);
	assert_int_equal(cfg.out_reuse_limit, 100);
	config_free(&cfg);
}

static void
test_reuse_limit_range(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(BASE "delivery = { connection_reuse_limit = 1; };\n", &cfg);
	assert_int_equal(cfg.out_reuse_limit, 1);
	config_free(&cfg);
	load_ok(BASE "delivery = { connection_reuse_limit = 10000; };\n", &cfg);
	assert_int_equal(cfg.out_reuse_limit, 10000);
	config_free(&cfg);
	expect_error(BASE "delivery = {\n  connection_reuse_limit = 0;\n};\n",
	    5, "delivery.connection_reuse_limit: 0 is out of range "
	    "(1 to 10000)");
	expect_error(BASE "delivery = {\n  connection_reuse_limit = 10001;\n"
	    "};\n", 5, "delivery.connection_reuse_limit: 10001 is out of "
	    "range");
	expect_error(BASE "delivery = {\n  connection_reuse_limit = -1;\n};\n",
	    5, "delivery.connection_reuse_limit: -1 is out of range");
	expect_error(BASE "delivery = {\n  connection_reuse_limit = \"5\";\n"
	    "};\n", 5, "delivery.connection_reuse_limit: must be a whole "
	    "number");
	expect_error(BASE "delivery = {\n  connection_reuse_limits = 5;\n};\n",
	    5, "unknown setting \"delivery.connection_reuse_limits\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reuse_limit_default, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reuse_limit_range, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
