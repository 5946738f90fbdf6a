/*
 * Unit tests of max_hops (issue 10, RFC 5321 6.3): its default, the
 * range 1 to 1000 at both ends, and the types a libconfig file could
 * give it by mistake.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdint.h>
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
	return config_fixture_setup("/tmp/decorum-config-hops-XXXXXX");
}

#define BASE \
	"hostname = \"mx.example.test\";\n" \
	"postmaster = \"admin@example.test\";\n" \
	"listen = ( { address = \"127.0.0.1:2525\"; } );\n"

static void
test_default(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(BASE, &cfg);
	assert_int_equal(cfg.max_hops, DEFAULT_MAX_HOPS);
	assert_int_equal(cfg.max_hops, 50);
	config_free(&cfg);
}

static void
test_range(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(BASE "max_hops = 1;\n", &cfg);
	assert_int_equal(cfg.max_hops, 1);
	config_free(&cfg);
	load_ok(BASE "max_hops = 1000;\n", &cfg);
	assert_int_equal(cfg.max_hops, 1000);
	config_free(&cfg);
	expect_error(BASE "max_hops = 0;\n", 4,
	    "max_hops: 0 is out of range (1 to 1000)");
	expect_error(BASE "max_hops = 1001;\n", 4,
	    "max_hops: 1001 is out of range (1 to 1000)");
	expect_error(BASE "max_hops = -1;\n", 4, "max_hops");
}

static void
test_types(void **state)
{
	(void)state;
	expect_error(BASE "max_hops = \"50\";\n", 4, "max_hops");
	expect_error(BASE "max_hops = 50.0;\n", 4, "max_hops");
	expect_error(BASE "max_hops = true;\n", 4, "max_hops");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_types, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
