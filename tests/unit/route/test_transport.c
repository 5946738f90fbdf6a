/*
 * Unit tests of transport_lookup(): which entry of the transports table
 * carries mail to one destination.  The exact address beats the exact
 * domain, which beats the longest ".parent", which beats "*"; "*" never
 * takes a local mailbox from its Maildir; without a match local mail
 * goes to maildir and remote mail to smtp.  The tables are loaded from
 * small config files, as the daemon loads them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "route/transport.h"
#include "testutil.h"

static char tmpdir[PATH_MAX];

#define BASE \
	"hostname = \"mx.example.test\";\n" \
	"postmaster = \"admin@example.test\";\n" \
	"listen = ( { address = \"127.0.0.1:2525\"; } );\n"

/*
 * Every kind of entry, deliberately in the reverse of precedence order
 * (and the shorter parent first) so that file order cannot be what
 * decides.
 */
#define TABLE \
	BASE "transports = (\n" \
	"  { match = \"*\"; via = \"relay:[smarthost.test]:587\"; },\n" \
	"  { match = \".example.com\"; via = \"lmtp:127.0.0.1:1\"; },\n" \
	"  { match = \".b.example.com\"; via = \"lmtp:127.0.0.1:2\"; },\n" \
	"  { match = \"example.com\"; via = \"lmtp:127.0.0.1:3\"; },\n" \
	"  { match = \"a.b.example.com\"; via = \"lmtp:127.0.0.1:4\"; },\n" \
	"  { match = \"Bob@Example.com\"; via = \"lmtp:127.0.0.1:5\"; },\n" \
	"  { match = \"carol@x.b.example.com\"; via = \"lmtp:127.0.0.1:6\"; },\n" \
	"  { match = \"local.test\"; via = \"lmtp:unix:/run/lmtp\"; },\n" \
	"  { match = \"maildir.remote.test\"; via = \"maildir\"; }\n" \
	");\n"

/* The same entries in precedence order. */
#define TABLE_FORWARD \
	BASE "transports = (\n" \
	"  { match = \"carol@x.b.example.com\"; via = \"lmtp:127.0.0.1:6\"; },\n" \
	"  { match = \"Bob@Example.com\"; via = \"lmtp:127.0.0.1:5\"; },\n" \
	"  { match = \"a.b.example.com\"; via = \"lmtp:127.0.0.1:4\"; },\n" \
	"  { match = \"example.com\"; via = \"lmtp:127.0.0.1:3\"; },\n" \
	"  { match = \".b.example.com\"; via = \"lmtp:127.0.0.1:2\"; },\n" \
	"  { match = \".example.com\"; via = \"lmtp:127.0.0.1:1\"; },\n" \
	"  { match = \"local.test\"; via = \"lmtp:unix:/run/lmtp\"; },\n" \
	"  { match = \"maildir.remote.test\"; via = \"maildir\"; },\n" \
	"  { match = \"*\"; via = \"relay:[smarthost.test]:587\"; }\n" \
	");\n"

static void
load(const char *text, struct config *cfg)
{
	char conf[PATH_MAX + 32];
	struct config_error err;

	snprintf(conf, sizeof(conf), "%s/decorum.conf", tmpdir);
	tu_spit(conf, text);
	if (config_load(conf, cfg, &err) < 0)
		fail_msg("%s:%d: %s", err.file, err.line, err.message);
}

static int
setup(void **state)
{
	(void)state;
	return tu_mkdtemp_real(tmpdir, sizeof(tmpdir),
	    "/tmp/decorum-transport-XXXXXX");
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmtree(tmpdir);
}

/* The via of the entry that carries local@domain. */
static const char *
via(const struct config *cfg, const char *local, const char *domain,
    bool is_local)
{
	const struct transport_conf *t;

	t = transport_lookup(cfg, local, domain, is_local);
	assert_non_null(t);
	return t->via;
}

static void
check_precedence(const struct config *cfg)
{
	/* The exact address beats its domain ... */
	assert_string_equal(via(cfg, "bob", "example.com", false),
	    "lmtp:127.0.0.1:5");
	assert_string_equal(via(cfg, "bob", "example.com", true),
	    "lmtp:127.0.0.1:5");
	/* ... and the address's domain's parents. */
	assert_string_equal(via(cfg, "carol", "x.b.example.com", false),
	    "lmtp:127.0.0.1:6");
	/* Another mailbox of that domain gets the domain. */
	assert_string_equal(via(cfg, "alice", "example.com", false),
	    "lmtp:127.0.0.1:3");
	assert_string_equal(via(cfg, "alice", "x.b.example.com", false),
	    "lmtp:127.0.0.1:2");
	/* An address entry is for that domain only. */
	assert_string_equal(via(cfg, "bob", "a.example.com", false),
	    "lmtp:127.0.0.1:1");
	/* The exact domain beats every parent. */
	assert_string_equal(via(cfg, "x", "a.b.example.com", false),
	    "lmtp:127.0.0.1:4");
	/* The longest parent wins. */
	assert_string_equal(via(cfg, "x", "c.b.example.com", false),
	    "lmtp:127.0.0.1:2");
	assert_string_equal(via(cfg, "x", "d.c.b.example.com", false),
	    "lmtp:127.0.0.1:2");
	/* ".b.example.com" is not b.example.com itself: ".example.com" is. */
	assert_string_equal(via(cfg, "x", "b.example.com", false),
	    "lmtp:127.0.0.1:1");
	assert_string_equal(via(cfg, "x", "z.example.com", false),
	    "lmtp:127.0.0.1:1");
	/* A parent beats "*". */
	assert_string_equal(via(cfg, "x", "deep.z.example.com", false),
	    "lmtp:127.0.0.1:1");
	/* Nothing else: "*". */
	assert_string_equal(via(cfg, "x", "elsewhere.test", false),
	    "relay:[smarthost.test]:587");
	assert_string_equal(via(cfg, "x", "com", false),
	    "relay:[smarthost.test]:587");
	/* A maildir entry for a domain is used as written. */
	assert_string_equal(via(cfg, "x", "maildir.remote.test", false),
	    "maildir");
}

static void
test_precedence(void **state)
{
	struct config cfg;

	(void)state;
	load(TABLE, &cfg);
	check_precedence(&cfg);
	config_free(&cfg);
	load(TABLE_FORWARD, &cfg);
	check_precedence(&cfg);
	config_free(&cfg);
}

static void
test_parent_boundary(void **state)
{
	struct config cfg;
	const struct transport_conf *t;

	(void)state;
	load(BASE "transports = (\n"
	    "  { match = \".example.com\"; via = \"lmtp:127.0.0.1:1\"; }\n"
	    ");\n", &cfg);
	/* ".example.com" covers its subdomains only ... */
	assert_string_equal(via(&cfg, "x", "a.example.com", false),
	    "lmtp:127.0.0.1:1");
	assert_string_equal(via(&cfg, "x", "a.b.example.com", false),
	    "lmtp:127.0.0.1:1");
	/* ... not example.com itself, nor a name that merely ends so. */
	assert_string_equal(via(&cfg, "x", "example.com", false), "smtp");
	assert_string_equal(via(&cfg, "x", "badexample.com", false), "smtp");
	assert_string_equal(via(&cfg, "x", "a.badexample.com", false), "smtp");
	assert_string_equal(via(&cfg, "x", "example.com.evil.test", false),
	    "smtp");
	assert_string_equal(via(&cfg, "x", "com", false), "smtp");
	assert_string_equal(via(&cfg, "x", "", false), "smtp");
	t = transport_lookup(&cfg, "x", "example.com", true);
	assert_int_equal(t->kind, TRANSPORT_MAILDIR);
	config_free(&cfg);
}

static void
test_local_and_star(void **state)
{
	struct config cfg;
	const struct transport_conf *t;

	(void)state;
	load(TABLE, &cfg);
	/* "*" never takes a local mailbox away from its Maildir. */
	t = transport_lookup(&cfg, "x", "elsewhere.test", true);
	assert_int_equal(t->kind, TRANSPORT_MAILDIR);
	assert_string_equal(t->via, "maildir");
	assert_null(t->host);
	assert_null(t->auth_user);
	/* The same destination when remote takes "*". */
	t = transport_lookup(&cfg, "x", "elsewhere.test", false);
	assert_int_equal(t->kind, TRANSPORT_RELAY);
	assert_string_equal(t->host, "smarthost.test");
	assert_int_equal(t->port, 587);
	/* An entry naming a local domain does apply (LMTP to Dovecot). */
	t = transport_lookup(&cfg, "x", "local.test", true);
	assert_int_equal(t->kind, TRANSPORT_LMTP);
	assert_string_equal(t->path, "/run/lmtp");
	/* So do a parent and an address. */
	assert_string_equal(via(&cfg, "x", "q.example.com", true),
	    "lmtp:127.0.0.1:1");
	assert_string_equal(via(&cfg, "bob", "example.com", true),
	    "lmtp:127.0.0.1:5");
	config_free(&cfg);
}

static void
test_defaults(void **state)
{
	struct config cfg;
	const struct transport_conf *t;

	(void)state;
	/* No table: maildir for local mail, smtp for the rest. */
	load(BASE, &cfg);
	t = transport_lookup(&cfg, "x", "example.com", true);
	assert_int_equal(t->kind, TRANSPORT_MAILDIR);
	assert_string_equal(t->via, "maildir");
	assert_string_equal(transport_kind_name(t->kind), "maildir");
	t = transport_lookup(&cfg, "x", "example.com", false);
	assert_int_equal(t->kind, TRANSPORT_SMTP);
	assert_string_equal(t->via, "smtp");
	assert_null(t->host);
	assert_int_equal(t->tls, TRANSPORT_TLS_MAY);
	assert_null(t->auth_user);
	assert_string_equal(transport_kind_name(t->kind), "smtp");
	config_free(&cfg);

	/* A table without "*": remote mail still defaults to smtp. */
	load(BASE "transports = (\n"
	    "  { match = \"lists.example.test\"; via = \"lmtp:127.0.0.1:8024\"; }\n"
	    ");\n", &cfg);
	t = transport_lookup(&cfg, "x", "other.test", false);
	assert_int_equal(t->kind, TRANSPORT_SMTP);
	t = transport_lookup(&cfg, "x", "other.test", true);
	assert_int_equal(t->kind, TRANSPORT_MAILDIR);
	t = transport_lookup(&cfg, "x", "lists.example.test", true);
	assert_int_equal(t->kind, TRANSPORT_LMTP);
	assert_string_equal(t->host, "127.0.0.1");
	assert_int_equal(t->port, 8024);
	assert_string_equal(transport_kind_name(t->kind), "lmtp");
	config_free(&cfg);

	load(BASE "transports = ( { match = \"*\"; via = \"relay:h.test\"; } );\n",
	    &cfg);
	t = transport_lookup(&cfg, "x", "other.test", false);
	assert_string_equal(transport_kind_name(t->kind), "relay");
	assert_true(t->mx);
	config_free(&cfg);
}

static void
test_case(void **state)
{
	struct config cfg;
	char local[400];

	(void)state;
	load(TABLE, &cfg);
	/* Domains and addresses compare without regard to case. */
	assert_string_equal(via(&cfg, "BOB", "EXAMPLE.COM", false),
	    "lmtp:127.0.0.1:5");
	assert_string_equal(via(&cfg, "Alice", "Example.Com", false),
	    "lmtp:127.0.0.1:3");
	assert_string_equal(via(&cfg, "x", "C.B.Example.COM", false),
	    "lmtp:127.0.0.1:2");
	assert_string_equal(via(&cfg, "x", "A.B.EXAMPLE.COM", false),
	    "lmtp:127.0.0.1:4");
	assert_string_equal(via(&cfg, "Carol", "X.b.example.com", false),
	    "lmtp:127.0.0.1:6");
	/* A local part too long to form an address still finds its domain. */
	memset(local, 'b', sizeof(local) - 1);
	local[sizeof(local) - 1] = '\0';
	assert_string_equal(via(&cfg, local, "example.com", false),
	    "lmtp:127.0.0.1:3");
	/* A local part that only starts like an entry's does not match. */
	assert_string_equal(via(&cfg, "bobby", "example.com", false),
	    "lmtp:127.0.0.1:3");
	assert_string_equal(via(&cfg, "bo", "example.com", false),
	    "lmtp:127.0.0.1:3");
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_precedence, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_parent_boundary, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_local_and_star, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_case, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
