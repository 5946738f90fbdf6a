/*
 * Unit tests of config_load(): a good file, the defaults, relative paths,
 * and each kind of error with the line it must name.  Every test writes
 * its file into its own temporary folder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bounds.h"
#include "common/config.h"
#include "config_fixture.h"
#include "testutil.h"

static int
setup(void **state)
{
	(void)state;
	return config_fixture_setup("/tmp/decorum-config-XXXXXX");
}

#define BASE \
	"hostname = \"mx.example.test\";\n" \
	"postmaster = \"admin@example.test\";\n" \
	"listen = ( { address = \"127.0.0.1:2525\"; } );\n"

static void
test_good(void **state)
{
	struct config cfg;
	struct config_error err;
	char cert[PATH_MAX + 16];
	struct sockaddr_in sin;

	(void)state;
	snprintf(cert, sizeof(cert), "%s/cert.pem", tmpdir);
	tu_spit(cert, "x");
	tu_spit(conf,
	    "# a full file\n"
	    "hostname = \"mx.example.test\";\n"
	    "spool = \"/var/spool/x\";\n"
	    "state = \"state\";\n"
	    "domains = \"domains\";\n"
	    "mailboxes = \"/srv/mail\";\n"
	    "postmaster = \"admin@example.test\";\n"
	    "user = \"decorum\";\n"
	    "recipient_delimiter = \"+-\";\n"
	    "relay_networks = ( \"10.0.0.0/8\" );\n"
	    "listen = (\n"
	    "  { address = \"0.0.0.0:25\"; role = \"mx\"; tls = \"starttls\"; },\n"
	    "  { address = \"[::1]:587\"; role = \"submission\"; tls = \"implicit\"; }\n"
	    ");\n"
	    "tls = { cert = \"cert.pem\"; key = \"cert.pem\"; };\n"
	    "dns = { nameserver = \"127.0.0.1@5353\"; client_timeout = 4; "
	    "delivery_timeout = 300; };\n"
	    "delivery = { smtp_port = 2526; };\n"
	    "max_message_size = 1048576;\n"
	    "max_recipients = 50;\n"
	    "max_errors = 5;\n"
	    "max_connections = 10;\n"
	    "max_connections_per_ip = 2;\n"
	    "timeouts = { command = 60; data = 120; };\n"
	    "queue = { retry_min = 10; retry_max = 20; lifetime = 30; };\n"
	    "log_level = \"debug\";\n");
	if (config_load(conf, &cfg, &err) < 0)
		fail_msg("%s:%d: %s", err.file, err.line, err.message);
	assert_string_equal(cfg.hostname, "mx.example.test");
	assert_string_equal(cfg.spool, "/var/spool/x");
	assert_string_equal(cfg.mailboxes, "/srv/mail");
	assert_string_equal(cfg.user, "decorum");
	assert_string_equal(cfg.recipient_delimiter, "+-");
	assert_int_equal(cfg.n_relay_networks, 1);
	assert_int_equal(cfg.n_listen, 2);
	assert_int_equal(cfg.listen[0].role, ROLE_MX);
	assert_int_equal(cfg.listen[0].tls, TLS_MODE_STARTTLS);
	assert_int_equal(cfg.listen[1].role, ROLE_SUBMISSION);
	assert_int_equal(cfg.listen[1].tls, TLS_MODE_IMPLICIT);
	assert_string_equal(cfg.listen[1].address, "[::1]:587");
	assert_string_equal(cfg.tls_cert, cert);
	assert_string_equal(cfg.dns_nameserver, "127.0.0.1@5353");
	assert_int_equal(cfg.dns_client_timeout, 4);
	assert_int_equal(cfg.dns_delivery_timeout, 300);
	assert_int_equal(cfg.smtp_port, 2526);
	assert_int_equal(cfg.max_message_size, 1048576);
	assert_int_equal(cfg.max_recipients, 50);
	assert_int_equal(cfg.max_errors, 5);
	assert_int_equal(cfg.max_connections, 10);
	assert_int_equal(cfg.max_connections_per_ip, 2);
	assert_int_equal(cfg.timeout_command, 60);
	assert_int_equal(cfg.timeout_data, 120);
	assert_int_equal(cfg.retry_min, 10);
	assert_int_equal(cfg.retry_max, 20);
	assert_int_equal(cfg.queue_lifetime, 30);
	assert_true(cfg.debug);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
	assert_true(config_is_relay_client(&cfg, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_false(config_is_relay_client(&cfg, (struct sockaddr *)&sin));
	config_free(&cfg);
	config_free(&cfg);	/* safe twice */
}

static void
test_defaults(void **state)
{
	struct config cfg;
	struct config_error err;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	(void)state;
	tu_spit(conf, BASE);
	assert_int_equal(config_load(conf, &cfg, &err), 0);
	assert_string_equal(cfg.path, conf);
	assert_string_equal(cfg.spool, "/var/spool/decorum");
	assert_string_equal(cfg.state, "/var/lib/decorum");
	assert_string_equal(cfg.domains, "/etc/decorum/domains");
	assert_string_equal(cfg.mailboxes, "/var/mail/decorum");
	assert_string_equal(cfg.recipient_delimiter, "+");
	assert_null(cfg.user);
	assert_null(cfg.tls_cert);
	assert_null(cfg.dns_nameserver);
	assert_int_equal(cfg.dns_client_timeout, DEFAULT_DNS_CLIENT_TIMEOUT);
	assert_int_equal(cfg.dns_delivery_timeout, DEFAULT_DNS_DELIVERY_TIMEOUT);
	assert_int_equal(cfg.smtp_port, 25);
	assert_int_equal(cfg.max_message_size, DEFAULT_MAX_MESSAGE_SIZE);
	assert_int_equal(cfg.max_recipients, DEFAULT_MAX_RECIPIENTS);
	assert_int_equal(cfg.max_errors, DEFAULT_MAX_ERRORS);
	assert_int_equal(cfg.timeout_command, DEFAULT_TIMEOUT_COMMAND);
	assert_int_equal(cfg.retry_max, DEFAULT_RETRY_MAX);
	assert_int_equal(cfg.queue_lifetime, DEFAULT_QUEUE_LIFETIME);
	assert_int_equal(cfg.listen[0].role, ROLE_MX);
	assert_int_equal(cfg.listen[0].tls, TLS_MODE_NONE);
	assert_false(cfg.debug);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_true(config_is_relay_client(&cfg, (struct sockaddr *)&sin));
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	assert_false(config_is_relay_client(&cfg, (struct sockaddr *)&sin));
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	assert_true(config_is_relay_client(&cfg, (struct sockaddr *)&sin6));
	config_free(&cfg);

	/* () means no relay clients at all. */
	tu_spit(conf, BASE "relay_networks = ();\nrecipient_delimiter = \"\";\n");
	assert_int_equal(config_load(conf, &cfg, &err), 0);
	assert_int_equal(cfg.n_relay_networks, 0);
	assert_string_equal(cfg.recipient_delimiter, "");
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_false(config_is_relay_client(&cfg, (struct sockaddr *)&sin));
	config_free(&cfg);
}

static void
test_relative_paths(void **state)
{
	struct config cfg;
	struct config_error err;
	char want[PATH_MAX + 32], cwd[PATH_MAX];

	(void)state;
	tu_spit(conf, BASE "spool = \"var/spool\";\ndomains = \"../d\";\n");
	/* From another working directory, with a relative config path. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/tmp"), 0);
	assert_int_equal(config_load(conf + strlen("/tmp/"), &cfg, &err) == 0 ||
	    config_load(conf, &cfg, &err) == 0, 1);
	assert_int_equal(chdir(cwd), 0);
	snprintf(want, sizeof(want), "%s/var/spool", tmpdir);
	assert_string_equal(cfg.spool, want);
	/* Cleaned as the folders are: "../d" of the config's folder. */
	snprintf(want, sizeof(want), "%s", tmpdir);
	snprintf(strrchr(want, '/'), sizeof(want) - (size_t)(strrchr(want,
	    '/') - want), "/d");
	assert_string_equal(cfg.domains, want);
	config_free(&cfg);
}

static void
test_errors(void **state)
{
	char text[PATH_MAX + 512];

	(void)state;
	expect_error(BASE "\nhostnme = \"x.example\";\n", 5, "unknown setting \"hostnme\"");
	expect_error(BASE "timeouts = {\n command = 5;\n comand = 6;\n};\n", 6,
	    "unknown setting \"timeouts.comand\"");
	expect_error(BASE "max_recipients = \"10\";\n", 4, "whole number");
	expect_error(BASE "max_recipients = 0;\n", 4, "out of range");
	expect_error(BASE "max_message_size = -1;\n", 4, "out of range");
	expect_error(BASE "max_message_size = 2.5;\n", 4, "whole number");
	expect_error(BASE "spool = 5;\n", 4, "must be a string");
	expect_error(BASE "spool = \"\";\n", 4, "must not be empty");
	expect_error(BASE "log_level = \"loud\";\n", 4, "log_level");
	expect_error(BASE "hostname = \"x\"\n", 4, "");	/* syntax */
	expect_error("hostname = \"mx.example.test\";\n"
	    "listen = ( { address = \"127.0.0.1:25\"; } );\n", 0,
	    "postmaster: required");
	expect_error("hostname = \"mx.example.test\";\n"
	    "postmaster = \"admin@example.test\";\n", 0, "listen: required");
	expect_error("hostname = \"mx\";\npostmaster = \"a@b.test\";\n", 1,
	    "fully-qualified");
	expect_error("postmaster = \"nobody\";\n", 1, "not an address");
	expect_error(BASE "listen = ();\n", 4, "duplicate setting");
	expect_error("hostname = \"mx.example.test\";\npostmaster = \"a@b.test\";\n"
	    "listen = ();\n", 3, "at least one");
	expect_error("hostname = \"mx.example.test\";\npostmaster = \"a@b.test\";\n"
	    "listen = (\n { address = \"127.0.0.1:25\"; },\n"
	    " { address = \"127.0.0.1:25\"; }\n);\n", 5, "listed twice");
	expect_error("hostname = \"mx.example.test\";\npostmaster = \"a@b.test\";\n"
	    "listen = (\n { address = \"localhost:25\"; }\n);\n", 4, "ADDR:PORT");
	expect_error("hostname = \"mx.example.test\";\npostmaster = \"a@b.test\";\n"
	    "listen = (\n { address = \"127.0.0.1:25\";\n   role = \"relay\"; }\n);\n",
	    5, "role");
	expect_error("hostname = \"mx.example.test\";\npostmaster = \"a@b.test\";\n"
	    "listen = (\n { address = \"127.0.0.1:25\"; tls = \"starttls\"; }\n);\n",
	    4, "no tls");
	expect_error("hostname = \"mx.example.test\";\npostmaster = \"a@b.test\";\n"
	    "listen = (\n { address = \"127.0.0.1:25\"; port = 25; }\n);\n",
	    4, "unknown setting \"listen[0].port\"");
	expect_error(BASE "relay_networks = (\n \"127.0.0.0/8\",\n \"10.0.0.0/33\"\n);\n",
	    6, "10.0.0.0/33");
	expect_error(BASE "dns = { nameserver = \"127.0.0.1@99999\"; };\n", 4,
	    "IP@PORT");
	expect_error(BASE "dns = { client_timeout = 0; };\n", 4, "out of range");
	expect_error(BASE "dns = { delivery_timeout = 301; };\n", 4,
	    "out of range");
	expect_error(BASE "dns = { timeout = 5; };\n", 4, "dns.timeout");
	expect_error(BASE "queue = {\n retry_min = 100;\n retry_max = 10;\n};\n",
	    4, "retry_max");
	expect_error(BASE "delivery = { smtp_port = 0; };\n", 4, "out of range");
	expect_error(BASE "recipient_delimiter = \"a\";\n", 4, "delimiter");
	snprintf(text, sizeof(text), BASE "tls = {\n cert = \"%s/nope.pem\";\n"
	    " key = \"nope.pem\";\n};\n", tmpdir);
	expect_error(text, 5, "nope.pem");
	expect_error(BASE "tls = { cert = \"a\"; };\n", 4, "cert and key");
}

static void
test_missing_file(void **state)
{
	struct config cfg;
	struct config_error err;

	(void)state;
	assert_int_equal(config_load("/nonexistent/decorum.conf", &cfg, &err),
	    -1);
	assert_string_equal(err.file, "/nonexistent/decorum.conf");
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.message, "No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test(test_missing_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
