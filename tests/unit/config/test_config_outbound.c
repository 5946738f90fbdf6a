/*
 * Unit tests of the outbound configuration (issue 4): the transports
 * table (every via and match form, tls, relay authentication and its
 * password file) and the keys delivery { max_connections,
 * destination_concurrency, connect_timeout, connection_cache_time } and
 * queue.delay_warning: values, defaults, ranges, and each error with the
 * line it must name.  Each test writes its files into its own temporary
 * folder.
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

#include "common/bounds.h"
#include "common/config.h"
#include "config_fixture.h"
#include "testutil.h"

static int
setup(void **state)
{
	(void)state;
	return config_fixture_setup("/tmp/decorum-config4-XXXXXX");
}

/* Three lines: whatever a test appends starts on line 4. */
#define BASE \
	"hostname = \"mx.example.test\";\n" \
	"postmaster = \"admin@example.test\";\n" \
	"listen = ( { address = \"127.0.0.1:2525\"; } );\n"

/* The table's entry for match (as stored, lower case); fails if none. */
static const struct transport_conf *
entry(const struct config *cfg, const char *match)
{
	for (size_t i = 0; i < cfg->n_transports; i++)
		if (strcmp(cfg->transports[i].match, match) == 0)
			return &cfg->transports[i];
	fail_msg("no transport with match \"%s\"", match);
	return NULL;
}

/* Writes a password file in the test's folder; returns its full path. */
static const char *
secret(const char *name, const char *text)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	tu_spit(path, text);
	return path;
}

static void
test_via_forms(void **state)
{
	struct config cfg;
	const struct transport_conf *t;

	(void)state;
	load_ok(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\"; },\n"
	    "  { match = \"b.test\"; via = \"maildir\"; },\n"
	    "  { match = \"c.test\"; via = \"lmtp:127.0.0.1:8024\"; },\n"
	    "  { match = \"d.test\"; via = \"lmtp:[::1]:24\"; },\n"
	    "  { match = \"e.test\"; via = \"lmtp:unix:/run/dovecot/lmtp\"; },\n"
	    "  { match = \"f.test\"; via = \"relay:[smtp.isp.example]:587\"; },\n"
	    "  { match = \"g.test\"; via = \"relay:[192.0.2.1]\"; },\n"
	    "  { match = \"h.test\"; via = \"relay:mx.isp.example:25\"; },\n"
	    "  { match = \"i.test\"; via = \"relay:mx.isp.example\"; },\n"
	    "  { match = \"j.test\"; via = \"lmtp:lmtp.example.test:2424\"; },\n"
	    "  { match = \"k.test\"; via = \"relay:[2001:db8::1]:2525\"; },\n"
	    "  { match = \"l.test\"; via = \"relay:192.0.2.7:2525\"; }\n"
	    ");\n", &cfg);
	assert_int_equal(cfg.n_transports, 12);
	/* File order is kept. */
	assert_string_equal(cfg.transports[0].match, "a.test");
	assert_string_equal(cfg.transports[11].match, "l.test");

	t = entry(&cfg, "a.test");
	assert_int_equal(t->kind, TRANSPORT_SMTP);
	assert_string_equal(t->via, "smtp");
	assert_null(t->host);
	assert_null(t->path);
	assert_int_equal(t->tls, TRANSPORT_TLS_MAY);
	assert_null(t->auth_user);
	assert_null(t->auth_password);

	t = entry(&cfg, "b.test");
	assert_int_equal(t->kind, TRANSPORT_MAILDIR);
	assert_null(t->host);

	t = entry(&cfg, "c.test");
	assert_int_equal(t->kind, TRANSPORT_LMTP);
	assert_string_equal(t->host, "127.0.0.1");
	assert_int_equal(t->port, 8024);
	assert_null(t->path);
	assert_string_equal(t->via, "lmtp:127.0.0.1:8024");

	t = entry(&cfg, "d.test");
	assert_int_equal(t->kind, TRANSPORT_LMTP);
	assert_string_equal(t->host, "::1");
	assert_int_equal(t->port, 24);

	t = entry(&cfg, "e.test");
	assert_int_equal(t->kind, TRANSPORT_LMTP);
	assert_null(t->host);
	assert_string_equal(t->path, "/run/dovecot/lmtp");

	t = entry(&cfg, "f.test");
	assert_int_equal(t->kind, TRANSPORT_RELAY);
	assert_string_equal(t->host, "smtp.isp.example");
	assert_int_equal(t->port, 587);
	assert_false(t->mx);
	assert_int_equal(t->tls, TRANSPORT_TLS_MAY);

	t = entry(&cfg, "g.test");
	assert_int_equal(t->kind, TRANSPORT_RELAY);
	assert_string_equal(t->host, "192.0.2.1");
	assert_int_equal(t->port, 25);
	assert_false(t->mx);

	t = entry(&cfg, "h.test");
	assert_int_equal(t->kind, TRANSPORT_RELAY);
	assert_string_equal(t->host, "mx.isp.example");
	assert_int_equal(t->port, 25);
	assert_true(t->mx);

	t = entry(&cfg, "i.test");
	assert_string_equal(t->host, "mx.isp.example");
	assert_int_equal(t->port, 25);
	assert_true(t->mx);

	t = entry(&cfg, "j.test");
	assert_int_equal(t->kind, TRANSPORT_LMTP);
	assert_string_equal(t->host, "lmtp.example.test");
	assert_int_equal(t->port, 2424);

	t = entry(&cfg, "k.test");
	assert_string_equal(t->host, "2001:db8::1");
	assert_int_equal(t->port, 2525);
	assert_false(t->mx);

	/* An IP address has no MX records: brackets or not, it is the host. */
	t = entry(&cfg, "l.test");
	assert_string_equal(t->host, "192.0.2.7");
	assert_int_equal(t->port, 2525);
	assert_false(t->mx);
	config_free(&cfg);
	config_free(&cfg);	/* safe twice */

	/* An empty table, and no table at all. */
	load_ok(BASE "transports = ();\n", &cfg);
	assert_int_equal(cfg.n_transports, 0);
	config_free(&cfg);
	load_ok(BASE, &cfg);
	assert_int_equal(cfg.n_transports, 0);
	assert_null(cfg.transports);
	config_free(&cfg);
}

#define VIA_ERR(via) \
	BASE "transports = (\n" \
	"  { match = \"ok.test\"; via = \"smtp\"; },\n" \
	"  { match = \"x.test\";\n" \
	"    via = \"" via "\"; }\n" \
	");\n"

static void
test_via_errors(void **state)
{
	char longpath[200];
	char text[1024];

	(void)state;
	/* lmtp */
	expect_error(VIA_ERR("lmtp:127.0.0.1"), 7, "expected lmtp:HOST:PORT");
	expect_error(VIA_ERR("lmtp:[::1]"), 7, "expected lmtp:HOST:PORT");
	expect_error(VIA_ERR("lmtp:host.test:"), 7, "expected lmtp:HOST:PORT");
	expect_error(VIA_ERR("lmtp:host.test:0"), 7, "expected lmtp:HOST:PORT");
	expect_error(VIA_ERR("lmtp:host.test:65536"), 7,
	    "expected lmtp:HOST:PORT");
	expect_error(VIA_ERR("lmtp:host.test:-24"), 7,
	    "expected lmtp:HOST:PORT");
	expect_error(VIA_ERR("lmtp::24"), 7, "expected lmtp:HOST:PORT");
	expect_error(VIA_ERR("lmtp:bad_host!:24"), 7,
	    "expected lmtp:HOST:PORT");
	expect_error(VIA_ERR("lmtp:unix:run/lmtp"), 7,
	    "the socket path must be absolute");
	expect_error(VIA_ERR("lmtp:unix:"), 7,
	    "the socket path must be absolute");
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	snprintf(text, sizeof(text), VIA_ERR("lmtp:unix:%s"), longpath);
	expect_error(text, 7, "the socket path must be absolute");
	/* relay */
	expect_error(VIA_ERR("relay:[x"), 7, "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("relay:[h.test]:0"), 7,
	    "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("relay:[h.test]:70000"), 7,
	    "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("relay:[h.test]:25x"), 7,
	    "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("relay:[h.test]x"), 7,
	    "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("relay:[]:25"), 7, "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("relay:"), 7, "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("relay:h.test:"), 7,
	    "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("relay:-h.test:25"), 7,
	    "expected relay:[HOST]:PORT");
	/* An IPv6 address needs its brackets: "::1:25" could be either. */
	expect_error(VIA_ERR("relay:::1"), 7, "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("relay:2001:db8::1:25"), 7,
	    "expected relay:[HOST]:PORT");
	expect_error(VIA_ERR("lmtp:::1:24"), 7, "expected lmtp:HOST:PORT");
	/* unknown schemes, and the known ones in the wrong case */
	expect_error(VIA_ERR("esmtp:h.test"), 7,
	    "is not smtp, maildir, lmtp:HOST:PORT");
	expect_error(VIA_ERR("SMTP"), 7, "is not smtp, maildir");
	expect_error(VIA_ERR("smtp:h.test"), 7, "is not smtp, maildir");
	expect_error(VIA_ERR("lmtp"), 7, "is not smtp, maildir");
	/* not a string, empty */
	expect_error(BASE "transports = (\n  { match = \"x.test\";\n"
	    "    via = 25; }\n);\n", 6, "must be a string");
	expect_error(BASE "transports = (\n  { match = \"x.test\";\n"
	    "    via = \"\"; }\n);\n", 6, "must not be empty");
}

static void
test_match(void **state)
{
	struct config cfg;
	const struct transport_conf *t;

	(void)state;
	load_ok(BASE "transports = (\n"
	    "  { match = \"Bob@Example.TEST\"; via = \"lmtp:127.0.0.1:24\"; },\n"
	    "  { match = \"Example.test\"; via = \"smtp\"; },\n"
	    "  { match = \".Corp.Example\"; via = \"smtp\"; },\n"
	    "  { match = \"\\\"odd local\\\"@example.test\"; via = \"smtp\"; },\n"
	    "  { match = \"*\"; via = \"relay:[smtp.isp.example]:587\"; }\n"
	    ");\n", &cfg);
	assert_int_equal(cfg.n_transports, 5);
	/* Stored in lower case, the local part too (lookups ignore case). */
	assert_string_equal(cfg.transports[0].match, "bob@example.test");
	assert_string_equal(cfg.transports[1].match, "example.test");
	assert_string_equal(cfg.transports[2].match, ".corp.example");
	assert_string_equal(cfg.transports[3].match,
	    "\"odd local\"@example.test");
	t = entry(&cfg, "*");
	assert_int_equal(t->kind, TRANSPORT_RELAY);
	config_free(&cfg);

#define MATCH_ERR(m) \
	BASE "transports = (\n" \
	"  { match = \"ok.test\"; via = \"smtp\"; },\n" \
	"  { via = \"smtp\";\n" \
	"    match = \"" m "\"; }\n" \
	");\n"
	expect_error(MATCH_ERR("**"), 7, "is not an address, a domain");
	expect_error(MATCH_ERR("*.example.test"), 7, "is not an address");
	expect_error(MATCH_ERR(".."), 7, "is not an address");
	expect_error(MATCH_ERR("."), 7, "is not an address");
	expect_error(MATCH_ERR("..example.test"), 7, "is not an address");
	expect_error(MATCH_ERR("example.test."), 7, "is not an address");
	expect_error(MATCH_ERR("-example.test"), 7, "is not an address");
	expect_error(MATCH_ERR("exa mple.test"), 7, "is not an address");
	expect_error(MATCH_ERR("@example.test"), 7, "is not an address");
	expect_error(MATCH_ERR("bob@"), 7, "is not an address");
	expect_error(MATCH_ERR("bob@.example.test"), 7, "is not an address");
	expect_error(MATCH_ERR("a..b@example.test"), 7, "is not an address");
	expect_error(MATCH_ERR("<bob@example.test>"), 7, "is not an address");
	expect_error(MATCH_ERR(""), 7, "must not be empty");
	expect_error(BASE "transports = (\n  { via = \"smtp\";\n"
	    "    match = [ \"a.test\" ]; }\n);\n", 6, "must be a string");
	/* Duplicates, also when they differ only in case: the second entry. */
	expect_error(BASE "transports = (\n"
	    "  { match = \"example.test\"; via = \"smtp\"; },\n"
	    "  { match = \"a.test\"; via = \"smtp\"; },\n"
	    "  { match = \"EXAMPLE.test\"; via = \"lmtp:127.0.0.1:24\"; }\n"
	    ");\n", 7, "match \"example.test\" appears twice");
	expect_error(BASE "transports = (\n"
	    "  { match = \"*\"; via = \"smtp\"; },\n"
	    "  { match = \"*\"; via = \"relay:[h.test]\"; }\n"
	    ");\n", 6, "match \"*\" appears twice");
	expect_error(BASE "transports = (\n"
	    "  { match = \".example.test\"; via = \"smtp\"; },\n"
	    "  { match = \".Example.Test\"; via = \"smtp\"; }\n"
	    ");\n", 6, "appears twice");
	/* A domain and its ".domain" are two different entries. */
	load_ok(BASE "transports = (\n"
	    "  { match = \"example.test\"; via = \"smtp\"; },\n"
	    "  { match = \".example.test\"; via = \"smtp\"; },\n"
	    "  { match = \"bob@example.test\"; via = \"smtp\"; }\n"
	    ");\n", &cfg);
	assert_int_equal(cfg.n_transports, 3);
	config_free(&cfg);
}

static void
test_table_shape(void **state)
{
	(void)state;
	expect_error(BASE "transports = { match = \"*\"; via = \"smtp\"; };\n",
	    4, "transports: must be a list");
	expect_error(BASE "transports = \"smtp\";\n", 4,
	    "transports: must be a list");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\"; },\n"
	    "  \"b.test\"\n"
	    ");\n", 6, "entry 2 is not a group");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\"; },\n"
	    "  { match = \"b.test\"; }\n"
	    ");\n", 6, "every entry needs match and via");
	expect_error(BASE "transports = (\n"
	    "  { via = \"smtp\"; }\n"
	    ");\n", 5, "every entry needs match and via");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\";\n"
	    "    port = 25; }\n"
	    ");\n", 6, "unknown setting \"transports[0].port\"");
}

static void
test_tls(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"relay:[h.test]\"; tls = \"may\"; },\n"
	    "  { match = \"b.test\"; via = \"relay:[h.test]\"; tls = \"require\"; },\n"
	    "  { match = \"c.test\"; via = \"smtp\"; tls = \"require\"; },\n"
	    "  { match = \"d.test\"; via = \"lmtp:127.0.0.1:24\"; tls = \"may\"; },\n"
	    "  { match = \"e.test\"; via = \"relay:[h.test]\"; }\n"
	    ");\n", &cfg);
	assert_int_equal(entry(&cfg, "a.test")->tls, TRANSPORT_TLS_MAY);
	assert_int_equal(entry(&cfg, "b.test")->tls, TRANSPORT_TLS_REQUIRE);
	assert_int_equal(entry(&cfg, "c.test")->tls, TRANSPORT_TLS_REQUIRE);
	assert_int_equal(entry(&cfg, "d.test")->tls, TRANSPORT_TLS_MAY);
	assert_int_equal(entry(&cfg, "e.test")->tls, TRANSPORT_TLS_MAY);
	config_free(&cfg);

	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"relay:[h.test]\";\n"
	    "    tls = \"yes\"; }\n"
	    ");\n", 6, "tls must be \"may\", \"require\" or \"verify\", "
	    "not \"yes\"");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"relay:[h.test]\";\n"
	    "    tls = \"Require\"; }\n"
	    ");\n", 6, "tls must be \"may\", \"require\" or \"verify\"");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"relay:[h.test]\";\n"
	    "    tls = true; }\n"
	    ");\n", 6, "must be a string");
	/* tls with maildir: the tls line. */
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"maildir\";\n"
	    "    tls = \"may\"; }\n"
	    ");\n", 6, "tls makes no sense with maildir");
	/* "*" to maildir: the entry's line. */
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\"; },\n"
	    "  { match = \"*\"; via = \"maildir\"; }\n"
	    ");\n", 6, "cannot go to a local Maildir");
}

static void
test_auth(void **state)
{
	struct config cfg;
	const struct transport_conf *t;
	char text[2 * PATH_MAX];
	const char *path;

	(void)state;
	/* Only the first line is the password; CRLF and LF both end it. */
	secret("relay.secret", "s3cr3t pass\nsecond line\n");
	secret("crlf.secret", "p\xc3\xa4ss\r\nx");
	secret("noeol.secret", "noeol");
	load_ok(BASE "transports = (\n"
	    "  { match = \"*\"; via = \"relay:[smtp.isp.example]:587\";\n"
	    "    tls = \"may\";\n"
	    "    auth_user = \"me@isp.example\";\n"
	    "    auth_password_file = \"relay.secret\"; },\n"
	    "  { match = \"a.test\"; via = \"relay:mx.isp.example\";\n"
	    "    auth_user = \"a\"; auth_password_file = \"crlf.secret\"; },\n"
	    "  { match = \"b.test\"; via = \"relay:[h.test]\";\n"
	    "    auth_user = \"b\"; auth_password_file = \"noeol.secret\"; }\n"
	    ");\n", &cfg);
	t = entry(&cfg, "*");
	assert_string_equal(t->auth_user, "me@isp.example");
	assert_string_equal(t->auth_password, "s3cr3t pass");
	/* A password goes only to a verified server: tls = "may" is
	 * overridden (issue 8). */
	assert_int_equal(t->tls, TRANSPORT_TLS_VERIFY);
	t = entry(&cfg, "a.test");
	assert_string_equal(t->auth_user, "a");
	assert_string_equal(t->auth_password, "p\xc3\xa4ss");
	assert_int_equal(t->tls, TRANSPORT_TLS_VERIFY);
	assert_true(t->mx);
	assert_string_equal(entry(&cfg, "b.test")->auth_password, "noeol");
	config_free(&cfg);

	/* An absolute path works the same. */
	path = secret("abs.secret", "abs\n");
	snprintf(text, sizeof(text), BASE "transports = (\n"
	    "  { match = \"*\"; via = \"relay:[h.test]\";\n"
	    "    auth_user = \"u\"; auth_password_file = \"%s\"; }\n"
	    ");\n", path);
	load_ok(text, &cfg);
	assert_string_equal(cfg.transports[0].auth_password, "abs");
	config_free(&cfg);

	/* The pair goes together: the entry's line. */
	expect_error(BASE "transports = (\n"
	    "  { match = \"*\"; via = \"relay:[h.test]\";\n"
	    "    auth_user = \"me\"; }\n"
	    ");\n", 5, "auth_user and auth_password_file go together");
	expect_error(BASE "transports = (\n"
	    "  { match = \"*\"; via = \"relay:[h.test]\";\n"
	    "    auth_password_file = \"relay.secret\"; }\n"
	    ");\n", 5, "go together");
	/* and only with a relay. */
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\"; },\n"
	    "  { match = \"b.test\"; via = \"lmtp:127.0.0.1:24\";\n"
	    "    auth_user = \"me\"; auth_password_file = \"relay.secret\"; }\n"
	    ");\n", 6, "only with a relay: transport");
	expect_error(BASE "transports = (\n"
	    "  { match = \"b.test\"; via = \"smtp\";\n"
	    "    auth_user = \"me\"; auth_password_file = \"relay.secret\"; }\n"
	    ");\n", 5, "only with a relay: transport");
	expect_error(BASE "transports = (\n"
	    "  { match = \"*\"; via = \"relay:[h.test]\";\n"
	    "    auth_user = \"\"; auth_password_file = \"relay.secret\"; }\n"
	    ");\n", 6, "must not be empty");

	/* The file: missing (named with its full path), empty, no first line. */
	snprintf(text, sizeof(text), "auth_password_file %s/missing.secret: "
	    "No such file or directory", tmpdir);
	expect_error(BASE "transports = (\n"
	    "  { match = \"*\"; via = \"relay:[h.test]\"; auth_user = \"me\";\n"
	    "    auth_password_file = \"missing.secret\"; }\n"
	    ");\n", 6, text);
	secret("empty.secret", "");
	expect_error(BASE "transports = (\n"
	    "  { match = \"*\"; via = \"relay:[h.test]\"; auth_user = \"me\";\n"
	    "    auth_password_file = \"empty.secret\"; }\n"
	    ");\n", 6, "the first line must hold the password");
	secret("blank.secret", "\nlater\n");
	expect_error(BASE "transports = (\n"
	    "  { match = \"*\"; via = \"relay:[h.test]\"; auth_user = \"me\";\n"
	    "    auth_password_file = \"blank.secret\"; }\n"
	    ");\n", 6, "the first line must hold the password");
	/* Longer than the 1024 octets we read. */
	{
		char big[1100];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		secret("big.secret", big);
		expect_error(BASE "transports = (\n"
		    "  { match = \"*\"; via = \"relay:[h.test]\"; "
		    "auth_user = \"me\";\n"
		    "    auth_password_file = \"big.secret\"; }\n"
		    ");\n", 6, "1 to 1024 octets");
		big[1024] = '\n';
		secret("max.secret", big);
		load_ok(BASE "transports = (\n"
		    "  { match = \"*\"; via = \"relay:[h.test]\"; "
		    "auth_user = \"me\";\n"
		    "    auth_password_file = \"max.secret\"; }\n"
		    ");\n", &cfg);
		assert_int_equal(strlen(cfg.transports[0].auth_password), 1024);
		config_free(&cfg);
	}
	/* A folder is no password file. */
	expect_error(BASE "transports = (\n"
	    "  { match = \"*\"; via = \"relay:[h.test]\"; auth_user = \"me\";\n"
	    "    auth_password_file = \".\"; }\n"
	    ");\n", 6, "auth_password_file");
}

static void
test_delivery_keys(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(BASE, &cfg);
	assert_int_equal(cfg.smtp_port, 25);
	assert_int_equal(cfg.out_max_connections, DEFAULT_OUT_MAX_CONNECTIONS);
	assert_int_equal(cfg.out_dest_concurrency, DEFAULT_OUT_DEST_CONCURRENCY);
	assert_int_equal(cfg.out_connect_timeout, DEFAULT_OUT_CONNECT_TIMEOUT);
	assert_int_equal(cfg.out_cache_time, DEFAULT_OUT_CACHE_TIME);
	assert_int_equal(cfg.delay_warning, 0);
	/* The contract's numbers. */
	assert_int_equal(cfg.out_max_connections, 100);
	assert_int_equal(cfg.out_dest_concurrency, 20);
	assert_int_equal(cfg.out_connect_timeout, 30);
	assert_int_equal(cfg.out_cache_time, 2);
	config_free(&cfg);

	/* Empty groups keep the defaults. */
	load_ok(BASE "delivery = { };\nqueue = { };\n", &cfg);
	assert_int_equal(cfg.out_max_connections, DEFAULT_OUT_MAX_CONNECTIONS);
	assert_int_equal(cfg.out_cache_time, DEFAULT_OUT_CACHE_TIME);
	assert_int_equal(cfg.delay_warning, 0);
	config_free(&cfg);

	load_ok(BASE "delivery = {\n"
	    "  smtp_port = 2526;\n"
	    "  max_connections = 7;\n"
	    "  destination_concurrency = 3;\n"
	    "  connect_timeout = 5;\n"
	    "  connection_cache_time = 0;\n"
	    "};\n"
	    "queue = { delay_warning = 14400; };\n", &cfg);
	assert_int_equal(cfg.smtp_port, 2526);
	assert_int_equal(cfg.out_max_connections, 7);
	assert_int_equal(cfg.out_dest_concurrency, 3);
	assert_int_equal(cfg.out_connect_timeout, 5);
	assert_int_equal(cfg.out_cache_time, 0);
	assert_int_equal(cfg.delay_warning, 14400);
	/* The other queue keys keep their defaults. */
	assert_int_equal(cfg.retry_min, DEFAULT_RETRY_MIN);
	assert_int_equal(cfg.queue_lifetime, DEFAULT_QUEUE_LIFETIME);
	config_free(&cfg);

	/* The upper bounds are accepted. */
	load_ok(BASE "delivery = { max_connections = 10000; "
	    "destination_concurrency = 10000; connect_timeout = 600; "
	    "connection_cache_time = 300; };\n"
	    "queue = { delay_warning = 31622400; };\n", &cfg);
	assert_int_equal(cfg.out_max_connections, 10000);
	assert_int_equal(cfg.out_dest_concurrency, 10000);
	assert_int_equal(cfg.out_connect_timeout, 600);
	assert_int_equal(cfg.out_cache_time, 300);
	assert_int_equal(cfg.delay_warning, 366 * 86400);
	config_free(&cfg);
	load_ok(BASE "delivery = { max_connections = 1; "
	    "destination_concurrency = 1; connect_timeout = 1; };\n", &cfg);
	assert_int_equal(cfg.out_max_connections, 1);
	assert_int_equal(cfg.out_dest_concurrency, 1);
	assert_int_equal(cfg.out_connect_timeout, 1);
	config_free(&cfg);

	/* Each key out of range, on its own line. */
	expect_error(BASE "delivery = {\n  max_connections = 0;\n};\n", 5,
	    "delivery.max_connections: 0 is out of range (1 to 10000)");
	expect_error(BASE "delivery = {\n  smtp_port = 2525;\n"
	    "  max_connections = 10001;\n};\n", 6,
	    "delivery.max_connections: 10001 is out of range");
	expect_error(BASE "delivery = {\n  destination_concurrency = 0;\n};\n",
	    5, "delivery.destination_concurrency: 0 is out of range");
	expect_error(BASE "delivery = {\n  destination_concurrency = 10001;\n"
	    "};\n", 5, "delivery.destination_concurrency: 10001 is out");
	expect_error(BASE "delivery = {\n  connect_timeout = 0;\n};\n", 5,
	    "delivery.connect_timeout: 0 is out of range (1 to 600)");
	expect_error(BASE "delivery = {\n  connect_timeout = 601;\n};\n", 5,
	    "delivery.connect_timeout: 601 is out of range");
	expect_error(BASE "delivery = {\n  connection_cache_time = -1;\n};\n",
	    5, "delivery.connection_cache_time: -1 is out of range (0 to 300)");
	expect_error(BASE "delivery = {\n  connection_cache_time = 301;\n};\n",
	    5, "delivery.connection_cache_time: 301 is out of range");
	expect_error(BASE "delivery = {\n  connect_timeout = \"30s\";\n};\n",
	    5, "delivery.connect_timeout: must be a whole number");
	expect_error(BASE "delivery = {\n  connect_timeout = 2.5;\n};\n",
	    5, "delivery.connect_timeout: must be a whole number");
	expect_error(BASE "delivery = {\n  max_connection = 5;\n};\n", 5,
	    "unknown setting \"delivery.max_connection\"");
	/* queue.delay_warning: 0 to a year. */
	load_ok(BASE "queue = { delay_warning = 0; };\n", &cfg);
	assert_int_equal(cfg.delay_warning, 0);
	config_free(&cfg);
	expect_error(BASE "queue = {\n  retry_min = 60;\n"
	    "  delay_warning = -1;\n};\n", 6,
	    "queue.delay_warning: -1 is out of range (0 to 31622400)");
	expect_error(BASE "queue = {\n  delay_warning = 31622401;\n};\n", 5,
	    "queue.delay_warning: 31622401 is out of range");
	expect_error(BASE "queue = {\n  delay_warning = 9999999999999L;\n};\n",
	    5, "queue.delay_warning: 9999999999999 is out of range");
	expect_error(BASE "queue = {\n  delay_warning = true;\n};\n", 5,
	    "queue.delay_warning: must be a whole number");
	expect_error(BASE "queue = {\n  delay_warnings = 60;\n};\n", 5,
	    "unknown setting \"queue.delay_warnings\"");
}

/* delivery.timeouts: the RFC 5321 4.5.3.2 waits of the SMTP client. */
static void
test_delivery_timeouts(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(BASE, &cfg);
	assert_int_equal(cfg.out_timeout_greeting, 300);
	assert_int_equal(cfg.out_timeout_command, 300);
	assert_int_equal(cfg.out_timeout_data_init, 120);
	assert_int_equal(cfg.out_timeout_data_block, 180);
	assert_int_equal(cfg.out_timeout_data_end, 600);
	config_free(&cfg);

	load_ok(BASE "delivery = { timeouts = { greeting = 2; command = 3; "
	    "data_init = 4; data_block = 5; data_end = 6; }; };\n", &cfg);
	assert_int_equal(cfg.out_timeout_greeting, 2);
	assert_int_equal(cfg.out_timeout_command, 3);
	assert_int_equal(cfg.out_timeout_data_init, 4);
	assert_int_equal(cfg.out_timeout_data_block, 5);
	assert_int_equal(cfg.out_timeout_data_end, 6);
	config_free(&cfg);

	/* One key given: the others keep their defaults. */
	load_ok(BASE "delivery = { timeouts = { data_end = 900; }; };\n", &cfg);
	assert_int_equal(cfg.out_timeout_data_end, 900);
	assert_int_equal(cfg.out_timeout_greeting, 300);
	config_free(&cfg);

	expect_error(BASE "delivery = {\n  timeouts = {\n    greeting = 0;\n"
	    "  };\n};\n", 6, "delivery.timeouts.greeting: 0 is out of range");
	expect_error(BASE "delivery = {\n  timeouts = {\n    data_end = 3601;\n"
	    "  };\n};\n", 6, "delivery.timeouts.data_end: 3601 is out of range");
	expect_error(BASE "delivery = {\n  timeouts = {\n    helo = 5;\n"
	    "  };\n};\n", 6, "unknown setting \"delivery.timeouts.helo\"");
	expect_error(BASE "delivery = {\n  timeouts = 5;\n};\n", 5,
	    "delivery.timeouts");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_via_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_via_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_shape, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_timeouts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delivery_keys, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
