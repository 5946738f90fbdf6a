/*
 * Unit tests of issue 8's config checks: integers taken as written (not
 * as libconfig 1.5's atoi() squeezes them), the warnings for timings
 * that contradict each other, the folders that must not nest, the clean
 * form of spool/state/mailboxes, and the FILE:LINE recorded for the keys
 * the daemon and check-config check against the system later.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "config_fixture.h"
#include "testutil.h"

static int
setup(void **state)
{
	(void)state;
	return config_fixture_setup("/tmp/decorum-config8-XXXXXX");
}

#define BASE \
	"hostname = \"mx.example.test\";\n" \
	"postmaster = \"admin@example.test\";\n" \
	"listen = ( { address = \"127.0.0.1:2525\"; } );\n"

/* Values that do not fit 32 bits are refused as written, never wrapped:
 * 4294967306 used to pass as 10. */
static void
test_integer_overflow(void **state)
{
	(void)state;
	expect_error(BASE "max_recipients = 4294967306;\n", 4,
	    "max_recipients: 4294967306 is out of range (1 to 100000)");
	expect_error(BASE "max_recipients = 99999999999;\n", 4,
	    "max_recipients: 99999999999 is out of range");
	expect_error(BASE "max_recipients = 99999999999999999999;\n", 4,
	    "max_recipients: 99999999999999999999 is out of range");
	expect_error(BASE "max_recipients = 9223372036854775808;\n", 4,
	    "9223372036854775808 is out of range");
	expect_error(BASE "max_recipients = -2147483649;\n", 4,
	    "-2147483649 is out of range");
	expect_error(BASE "max_recipients = 0xffffffff;\n", 4,
	    "0xffffffff is out of range");
	expect_error(BASE "max_recipients = 99999999999999999999L;\n", 4,
	    "99999999999999999999 is out of range");
	/* Inside a group, and with the value on the next line. */
	expect_error(BASE "queue = { retry_min = 4294967297; };\n", 4,
	    "queue.retry_min: 4294967297 is out of range");
	expect_error(BASE "timeouts = {\n command =\n   4294967306;\n};\n", 5,
	    "timeouts.command: 4294967306 is out of range");
	/* The boundary, both sides. */
	expect_error(BASE "max_recipients = 100001;\n", 4,
	    "100001 is out of range");
	expect_error(BASE "max_message_size = 4294967296;\n", 4,
	    "max_message_size: 4294967296 is out of range (65536 to 4294967295)");
}

static void
test_integer_as_written(void **state)
{
	struct config cfg;

	(void)state;
	/* Above INT_MAX, yet in range: libconfig alone made it -1. */
	load_ok(BASE "max_message_size = 4294967295;\n", &cfg);
	assert_int_equal(cfg.max_message_size, 4294967295u);
	config_free(&cfg);
	load_ok(BASE "max_recipients = 100000;\nmax_errors = 0x10;\n"
	    "max_connections = 5000L;\n", &cfg);
	assert_int_equal(cfg.max_recipients, 100000);
	assert_int_equal(cfg.max_errors, 16);
	assert_int_equal(cfg.max_connections, 5000);
	config_free(&cfg);
	/* The same name twice on one line: each setting finds its own. */
	load_ok(BASE "timeouts = { command = 7; }; delivery = { timeouts = "
	    "{ command = 9; }; };\n", &cfg);
	assert_int_equal(cfg.timeout_command, 7);
	assert_int_equal(cfg.out_timeout_command, 9);
	config_free(&cfg);
	/* A name inside another name is not it. */
	load_ok(BASE "max_connections_per_ip = 3; max_connections = 30;\n", &cfg);
	assert_int_equal(cfg.max_connections_per_ip, 3);
	assert_int_equal(cfg.max_connections, 30);
	config_free(&cfg);
}

static void
expect_warning(const char *text, int line, const char *needle)
{
	struct config cfg;

	load_ok(text, &cfg);
	assert_int_equal(cfg.n_warnings, 1);
	if (strstr(cfg.warnings[0].message, needle) == NULL ||
	    cfg.warnings[0].line != line)
		fail_msg("got %s:%d: %s; want line %d with \"%s\"",
		    cfg.warnings[0].file, cfg.warnings[0].line,
		    cfg.warnings[0].message, line, needle);
	assert_string_equal(cfg.warnings[0].file, conf);
	config_free(&cfg);
}

static void
test_warnings(void **state)
{
	struct config cfg;

	(void)state;
	expect_warning(BASE "queue = {\n retry_min = 600;\n lifetime = 599;\n};\n",
	    6, "queue.lifetime (599 s) is shorter than queue.retry_min (600 s)");
	/* lifetime left at its default (5 days): the retry_min line. */
	expect_warning(BASE "queue = {\n retry_min = 500000; retry_max = 500000;\n};\n",
	    5, "shorter than queue.retry_min");
	expect_warning(BASE "queue = { retry_min = 50; retry_max = 50;\n"
	    " lifetime = 100;\n delay_warning = 100; };\n",
	    6, "no delay warning is ever sent");
	expect_warning(BASE "max_connections = 10;\nmax_connections_per_ip = 11;\n",
	    5, "max_connections_per_ip (11) is above max_connections (10)");
	/* Just inside: nothing to say. */
	load_ok(BASE "queue = { retry_min = 600; retry_max = 600; lifetime = 600;"
	    " delay_warning = 599; };\nmax_connections = 10;\n"
	    "max_connections_per_ip = 10;\n", &cfg);
	assert_int_equal(cfg.n_warnings, 0);
	assert_null(cfg.warnings);
	config_free(&cfg);
	/* The defaults contradict nothing. */
	load_ok(BASE, &cfg);
	assert_int_equal(cfg.n_warnings, 0);
	config_free(&cfg);
}

/* The folders handed to the daemon's user never hold each other, nor
 * the domains (whose tables hold the passwords). */
static void
test_folders_apart(void **state)
{
	(void)state;
	expect_error(BASE "mailboxes = \"/srv/mail\";\nspool = \"/srv/mail/spool\";\n",
	    5, "spool: /srv/mail/spool is inside mailboxes (/srv/mail)");
	expect_error(BASE "state = \"/srv/st\";\nspool = \"/srv/st\";\n",
	    5, "spool: /srv/st is the same folder as state");
	/* Left at its default, the inner key is the one written. */
	expect_error(BASE "mailboxes = \"/var/spool/decorum/mail\";\n", 4,
	    "mailboxes: /var/spool/decorum/mail is inside spool");
	expect_error(BASE "spool = \"/srv/q\";\ndomains = \"/srv/q/domains\";\n",
	    5, "domains: /srv/q/domains is inside spool");
	/* Clean forms compare: "//", "." and ".." do not hide nesting. */
	expect_error(BASE "mailboxes = \"/srv//mail/\";\n"
	    "spool = \"/srv/x/../mail/./spool\";\n", 5, "is inside mailboxes");
	/* Nor for domains, which is not handed over but is compared. */
	expect_error(BASE "spool = \"/t/spool\";\ndomains = \"/t/./spool/domains\";\n",
	    5, "domains: /t/spool/domains is inside spool (/t/spool)");
	expect_error(BASE "spool = \"/t/spool\";\ndomains = \"/t/x/../spool/domains\";\n",
	    5, "domains: /t/spool/domains is inside spool");
	expect_error(BASE "spool = \"/t/spool\";\ndomains = \"//t/spool/domains\";\n",
	    5, "domains: /t/spool/domains is inside spool");
	expect_error(BASE "state = \"/t/state/\";\ndomains = \"/t//state\";\n",
	    5, "domains: /t/state is the same folder as state");
	/* A common prefix is not nesting. */
	{
		struct config cfg;

		load_ok(BASE "mailboxes = \"/srv/mail\";\nspool = \"/srv/mailq\";\n"
		    "state = \"/srv/mail-state\";\n", &cfg);
		config_free(&cfg);
	}
}

static void
test_clean_paths_and_where(void **state)
{
	struct config cfg;
	char text[PATH_MAX + 512], want[PATH_MAX + 64];

	(void)state;
	snprintf(text, sizeof(text), BASE
	    "spool = \"var/../var/./spool//\";\n"
	    "mailboxes = \"/srv/mail/\";\n"
	    "user = \"nobody\";\n"
	    "tls = {\n cert = \"%s/decorum.conf\";\n key = \"decorum.conf\";\n"
	    " sni = ( { cert = \"decorum.conf\";\n   key = \"decorum.conf\"; } );\n"
	    "};\n", tmpdir);
	load_ok(text, &cfg);
	snprintf(want, sizeof(want), "%s/var/spool", tmpdir);
	assert_string_equal(cfg.spool, want);
	assert_string_equal(cfg.mailboxes, "/srv/mail");
	assert_string_equal(cfg.domains, "/etc/decorum/domains");
	assert_string_equal(cfg.spool_at.file, conf);
	assert_int_equal(cfg.spool_at.line, 4);
	assert_int_equal(cfg.mailboxes_at.line, 5);
	assert_int_equal(cfg.user_at.line, 6);
	assert_int_equal(cfg.tls_cert_at.line, 8);
	assert_int_equal(cfg.tls_key_at.line, 9);
	assert_int_equal(cfg.n_tls_sni, 1);
	assert_int_equal(cfg.tls_sni[0].cert_at.line, 10);
	assert_int_equal(cfg.tls_sni[0].key_at.line, 11);
	/* Left out: no place, and errors then name the file. */
	assert_null(cfg.state_at.file);
	assert_int_equal(cfg.state_at.line, 0);
	config_free(&cfg);
}

static void
test_error_at(void **state)
{
	struct config cfg;
	struct config_error err;

	(void)state;
	load_ok(BASE "user = \"x\";\n", &cfg);
	config_error_at(&err, &cfg, &cfg.user_at, "user: %s", "gone");
	assert_string_equal(err.file, conf);
	assert_int_equal(err.line, 4);
	assert_string_equal(err.message, "user: gone");
	config_error_at(&err, &cfg, &cfg.state_at, "state: %d", 1);
	assert_string_equal(err.file, conf);
	assert_int_equal(err.line, 0);
	config_error_at(&err, &cfg, NULL, "whole file");
	assert_int_equal(err.line, 0);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_integer_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_integer_as_written, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warnings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_folders_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clean_paths_and_where, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_at, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
