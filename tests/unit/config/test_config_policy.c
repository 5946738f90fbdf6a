/*
 * Unit tests of the policy group (issue 9): defaults, every action word,
 * the exempt list and abuse_url, and each error with its line.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "common/config.h"
#include "config_fixture.h"
#include "testutil.h"

static int
setup(void **state)
{
	(void)state;
	return config_fixture_setup("/tmp/decorum-config-policy-XXXXXX");
}

#define BASE \
	"hostname = \"mx.example.test\";\n" \
	"postmaster = \"admin@example.test\";\n" \
	"listen = ( { address = \"127.0.0.1:2525\"; } );\n"

static void
test_defaults(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(BASE, &cfg);
	assert_int_equal(cfg.policy.action[POLICY_CHECK_FCRDNS], POLICY_REJECT);
	assert_int_equal(cfg.policy.action[POLICY_CHECK_RDNS_DYNAMIC], POLICY_LOG);
	assert_int_equal(cfg.policy.action[POLICY_CHECK_HELO_SYNTAX], POLICY_REJECT);
	assert_int_equal(cfg.policy.action[POLICY_CHECK_HELO_RESOLVES], POLICY_REJECT);
	assert_int_equal(cfg.policy.action[POLICY_CHECK_HELO_MATCHES_IP],
	    POLICY_REJECT);
	assert_int_equal(cfg.policy.n_exempt, 3);
	assert_string_equal(cfg.policy.exempt[0], "postmaster");
	assert_string_equal(cfg.policy.exempt[1], "abuse");
	assert_string_equal(cfg.policy.exempt[2], "security");
	assert_null(cfg.policy.abuse_url);
	config_free(&cfg);
}

static void
test_values(void **state)
{
	static const char *const words[] = { "off", "log", "tempfail", "reject" };
	struct config cfg;
	char text[512];

	(void)state;
	for (int a = 0; a < 4; a++) {
		snprintf(text, sizeof(text), BASE "policy = { fcrdns = \"%s\"; "
		    "rdns_dynamic = \"%s\"; };\n", words[a], words[3 - a]);
		load_ok(text, &cfg);
		assert_int_equal(cfg.policy.action[POLICY_CHECK_FCRDNS], a);
		assert_int_equal(cfg.policy.action[POLICY_CHECK_RDNS_DYNAMIC], 3 - a);
		assert_string_equal(config_policy_action_name(a), words[a]);
		config_free(&cfg);
	}
	load_ok(BASE "policy = { exempt = ( \"Hostmaster\", \"a.b+c\" );\n"
	    "abuse_url = \"https://example.test/abuse?x=1\"; };\n", &cfg);
	assert_int_equal(cfg.policy.n_exempt, 2);
	assert_string_equal(cfg.policy.exempt[0], "hostmaster");
	assert_string_equal(cfg.policy.exempt[1], "a.b+c");
	assert_string_equal(cfg.policy.abuse_url, "https://example.test/abuse?x=1");
	config_free(&cfg);
	load_ok(BASE "policy = { exempt = ( ); };\n", &cfg);
	assert_int_equal(cfg.policy.n_exempt, 0);
	config_free(&cfg);
	/* Each HELO check its own action; one left out keeps its default. */
	load_ok(BASE "policy = { helo = { syntax = \"tempfail\"; "
	    "matches_ip = \"log\"; }; };\n", &cfg);
	assert_int_equal(cfg.policy.action[POLICY_CHECK_HELO_SYNTAX], POLICY_TEMPFAIL);
	assert_int_equal(cfg.policy.action[POLICY_CHECK_HELO_RESOLVES], POLICY_REJECT);
	assert_int_equal(cfg.policy.action[POLICY_CHECK_HELO_MATCHES_IP], POLICY_LOG);
	config_free(&cfg);
}

static void
test_errors(void **state)
{
	char text[4096];
	size_t o;

	(void)state;
	expect_error(BASE "policy = \"reject\";\n", 4, "policy: must be a group");
	expect_error(BASE "policy = {\n fcrdns = \"maybe\"; };\n", 5,
	    "policy.fcrdns: must be \"reject\", \"tempfail\", \"log\" or \"off\", "
	    "not \"maybe\"");
	expect_error(BASE "policy = { rdns_dynamic = 1; };\n", 4,
	    "policy.rdns_dynamic: must be a string");
	expect_error(BASE "policy = {\n\n dnsbl_x = \"reject\"; };\n", 6,
	    "unknown");
	/* The HELO checks are a group of their own. */
	expect_error(BASE "policy = {\n\n helo = \"reject\"; };\n", 6,
	    "policy.helo: must be a group");
	expect_error(BASE "policy = { helo = {\n syntax = \"no\"; }; };\n", 5,
	    "policy.helo.syntax: must be \"reject\", \"tempfail\", \"log\" "
	    "or \"off\", not \"no\"");
	expect_error(BASE "policy = { helo = { matches = \"log\"; }; };\n", 4,
	    "unknown setting \"policy.helo.matches\"");
	expect_error(BASE "policy = { exempt = \"abuse\"; };\n", 4,
	    "policy.exempt: must be a list");
	expect_error(BASE "policy = { exempt = ( \"abuse\",\n \"ab use\" ); };\n", 5,
	    "\"ab use\" is not a local part");
	expect_error(BASE "policy = { exempt = ( \"abuse@example.test\" ); };\n", 4,
	    "is not a local part");
	expect_error(BASE "policy = { exempt = ( \".abuse\" ); };\n", 4,
	    "is not a local part");
	expect_error(BASE "policy = { exempt = ( 1 ); };\n", 4, "must be a string");
	expect_error(BASE "policy = { abuse_url = \"\"; };\n", 4,
	    "policy.abuse_url: must not be empty");
	expect_error(BASE "policy = { abuse_url = \"ftp://example.test/\"; };\n", 4,
	    "policy.abuse_url: must be an http:// or https:// address");
	expect_error(BASE "policy = { abuse_url = \"https://x/ y\"; };\n", 4,
	    "policy.abuse_url: must be printable ASCII without spaces");
	expect_error(BASE "policy = { abuse_url = \"https://x/\\r\\n250 ok\"; };\n", 4,
	    "printable ASCII");
	/* The limits, both sides. */
	o = (size_t)snprintf(text, sizeof(text), BASE "policy = { abuse_url = \"https://");
	memset(text + o, 'a', POLICY_ABUSE_URL_MAX - 8);
	o += POLICY_ABUSE_URL_MAX - 8;
	snprintf(text + o, sizeof(text) - o, "\"; };\n");
	{
		struct config cfg;

		load_ok(text, &cfg);
		assert_int_equal(strlen(cfg.policy.abuse_url), POLICY_ABUSE_URL_MAX);
		config_free(&cfg);
	}
	snprintf(text + o, sizeof(text) - o, "a\"; };\n");
	expect_error(text, 4, "policy.abuse_url: at most 200 characters");
	o = (size_t)snprintf(text, sizeof(text), BASE "policy = { exempt = ( ");
	for (int i = 0; i < POLICY_EXEMPT_MAX; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o, "%s\"m%d\"",
		    i ? ", " : "", i);
	snprintf(text + o, sizeof(text) - o, " ); };\n");
	{
		struct config cfg;

		load_ok(text, &cfg);
		assert_int_equal(cfg.policy.n_exempt, POLICY_EXEMPT_MAX);
		config_free(&cfg);
	}
	snprintf(text + o, sizeof(text) - o, ", \"one-more\" ); };\n");
	expect_error(text, 4, "policy.exempt: at most 32 mailboxes");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
