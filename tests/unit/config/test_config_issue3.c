/*
 * Unit tests of the configuration keys of TLS and submission (issue 3):
 * tls.sni, auth { max_failures, block_time, allow_authzid } and
 * submission { check_from_header, hide_client_ip }: values, defaults, and
 * each error with the line it must name.  Each test writes its files into
 * its own temporary folder.
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
#include <unistd.h>

#include "common/config.h"
#include "config_fixture.h"
#include "testutil.h"

static int
setup(void **state)
{
	char path[PATH_MAX + 32];

	(void)state;
	if (config_fixture_setup("/tmp/decorum-config3-XXXXXX") != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/cert.pem", tmpdir);
	tu_spit(path, "c");
	snprintf(path, sizeof(path), "%s/key.pem", tmpdir);
	tu_spit(path, "k");
	snprintf(path, sizeof(path), "%s/other.pem", tmpdir);
	tu_spit(path, "c");
	snprintf(path, sizeof(path), "%s/other.key", tmpdir);
	tu_spit(path, "k");
	return 0;
}

#define BASE \
	"hostname = \"mx.example.test\";\n" \
	"postmaster = \"admin@example.test\";\n" \
	"listen = ( { address = \"127.0.0.1:2525\"; tls = \"starttls\"; } );\n"

static void
test_values(void **state)
{
	struct config cfg;
	struct config_error err;
	char want[PATH_MAX + 32];

	(void)state;
	tu_spit(conf, BASE
	    "tls = {\n"
	    "  cert = \"cert.pem\"; key = \"key.pem\";\n"
	    "  sni = (\n"
	    "    { cert = \"other.pem\"; key = \"other.key\"; },\n"
	    "    { cert = \"cert.pem\"; key = \"key.pem\"; }\n"
	    "  );\n"
	    "};\n"
	    "auth = { max_failures = 3; block_time = 60; allow_authzid = true; };\n"
	    "submission = { check_from_header = true; hide_client_ip = true; };\n");
	if (config_load(conf, &cfg, &err) < 0)
		fail_msg("%s:%d: %s", err.file, err.line, err.message);
	snprintf(want, sizeof(want), "%s/cert.pem", tmpdir);
	assert_string_equal(cfg.tls_cert, want);
	assert_int_equal(cfg.n_tls_sni, 2);
	snprintf(want, sizeof(want), "%s/other.pem", tmpdir);
	assert_string_equal(cfg.tls_sni[0].cert, want);
	snprintf(want, sizeof(want), "%s/other.key", tmpdir);
	assert_string_equal(cfg.tls_sni[0].key, want);
	snprintf(want, sizeof(want), "%s/key.pem", tmpdir);
	assert_string_equal(cfg.tls_sni[1].key, want);
	assert_int_equal(cfg.auth_max_failures, 3);
	assert_int_equal(cfg.auth_block_time, 60);
	assert_true(cfg.auth_allow_authzid);
	assert_true(cfg.submission_check_from);
	assert_true(cfg.submission_hide_ip);
	config_free(&cfg);
	config_free(&cfg);	/* safe twice */
}

static void
test_defaults(void **state)
{
	struct config cfg;
	struct config_error err;

	(void)state;
	tu_spit(conf, BASE "tls = { cert = \"cert.pem\"; key = \"key.pem\"; };\n"
	    "auth = { };\nsubmission = { };\n");
	if (config_load(conf, &cfg, &err) < 0)
		fail_msg("%s:%d: %s", err.file, err.line, err.message);
	assert_int_equal(cfg.n_tls_sni, 0);
	assert_null(cfg.tls_sni);
	assert_int_equal(cfg.auth_max_failures, 5);
	assert_int_equal(cfg.auth_block_time, 600);
	assert_false(cfg.auth_allow_authzid);
	assert_false(cfg.submission_check_from);
	assert_false(cfg.submission_hide_ip);
	config_free(&cfg);
	/* No groups at all: the same defaults; an empty sni list is fine. */
	tu_spit(conf, BASE "tls = { cert = \"cert.pem\"; key = \"key.pem\"; "
	    "sni = (); };\n");
	if (config_load(conf, &cfg, &err) < 0)
		fail_msg("%s:%d: %s", err.file, err.line, err.message);
	assert_int_equal(cfg.n_tls_sni, 0);
	assert_int_equal(cfg.auth_max_failures, 5);
	assert_false(cfg.submission_hide_ip);
	config_free(&cfg);
}

#define TLS_OK "tls = { cert = \"cert.pem\"; key = \"key.pem\"; };\n"

static void
test_errors(void **state)
{
	(void)state;
	/* tls.sni */
	expect_error(BASE "tls = { cert = \"cert.pem\"; key = \"key.pem\";\n"
	    "  sni = { cert = \"other.pem\"; key = \"other.key\"; };\n};\n", 5,
	    "tls.sni: must be a list of groups");
	expect_error(BASE "tls = { cert = \"cert.pem\"; key = \"key.pem\";\n"
	    "  sni = ( { cert = \"other.pem\"; key = \"other.key\"; },\n"
	    "    { cert = \"other.pem\"; } );\n};\n", 6,
	    "tls.sni[1]: needs both cert and key");
	expect_error(BASE "tls = { cert = \"cert.pem\"; key = \"key.pem\";\n"
	    "  sni = (\n"
	    "    { cert = \"other.pem\";\n"
	    "      key = \"missing.key\"; }\n"
	    "  );\n};\n", 7, "tls.sni[0].key: cannot read");
	expect_error(BASE "tls = { cert = \"cert.pem\"; key = \"key.pem\";\n"
	    "  sni = ( { cert = \"other.pem\"; key = \"other.key\";\n"
	    "            names = \"x\"; } );\n};\n", 6,
	    "unknown setting \"tls.sni[0].names\"");
	expect_error(BASE "tls = { cert = \"cert.pem\"; key = \"key.pem\";\n"
	    "  sni = ( \"other.pem\" );\n};\n", 5, "must be a group");
	expect_error(BASE "tls = { cert = \"cert.pem\"; key = \"key.pem\"; "
	    "sny = (); };\n", 4, "unknown setting \"tls.sny\"");
	/* auth */
	expect_error(BASE TLS_OK "auth = {\n  max_failures = 0;\n};\n", 6,
	    "auth.max_failures: 0 is out of range");
	expect_error(BASE TLS_OK "auth = { block_time = \"10m\"; };\n", 5,
	    "auth.block_time: must be a whole number");
	expect_error(BASE TLS_OK "auth = {\n  allow_authzid = 1;\n};\n", 6,
	    "auth.allow_authzid: must be true or false");
	expect_error(BASE TLS_OK "auth = {\n  max_failure = 3;\n};\n", 6,
	    "unknown setting \"auth.max_failure\"");
	expect_error(BASE TLS_OK "auth = 5;\n", 5, "auth: must be a group");
	/* submission */
	expect_error(BASE TLS_OK "submission = {\n  check_from_header = \"yes\";\n};\n",
	    6, "submission.check_from_header: must be true or false");
	expect_error(BASE TLS_OK "submission = { hide_client_ip = 0; };\n", 5,
	    "submission.hide_client_ip: must be true or false");
	expect_error(BASE TLS_OK "submission = {\n  hide_ip = true;\n};\n", 6,
	    "unknown setting \"submission.hide_ip\"");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
