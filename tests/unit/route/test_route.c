/*
 * Unit tests of the domain tables and route_resolve(): users, aliases,
 * recursion, loops, the recipient delimiter, quoted local parts, the role
 * mailboxes, unknown and remote addresses, refused targets, broken tables
 * and reload after a change.  Each test builds its own domains folder.
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
#include "common/log.h"
#include "route/domains.h"
#include "route/route.h"
#include "route_fixture.h"

static int
setup(void **state)
{
	struct fixture *fx = route_fixture_new("route");

	if (fx == NULL)
		return -1;
	tu_put(fx->dir, "example.test/users",
	    "# people\n"
	    "admin:$y$j9T$abc\n"
	    "Ann:{CRYPT}$6$salt$hash\n"
	    "\n"
	    "bob:\n"
	    "carol+x:\n");
	tu_put(fx->dir, "example.test/aliases",
	    "sales: ann, bob@example.test,\n"
	    "   Carol+X\n"
	    "team: sales, ann\n"
	    "loop1: loop2\n"
	    "loop2: loop1, bob\n"
	    "ring1: ring2\n"
	    "ring2: ring1\n"
	    "deep0: deep1\ndeep1: deep2\ndeep2: deep3\ndeep3: deep4\n"
	    "deep4: deep5\ndeep5: deep6\ndeep6: deep7\ndeep7: deep8\n"
	    "deep8: deep9\ndeep9: deep10\ndeep10: deep11\ndeep11: ann\n"
	    "out: ann, friend@elsewhere.example\n"
	    "pipe: \"|/usr/bin/true\"\n"
	    "dangling: nobody\n"
	    "abuse: ann\n"
	    "other: dave@other.test\n"
	    "boss: admin@example.test\n");
	tu_put(fx->dir, "other.test/users", "dave:\n");
	route_fixture_open(fx);
	*state = fx;
	return 0;
}

/* Route addr; expect kind and, for each dest, "local@domain" in order. */
static void
expect(struct fixture *fx, const char *addr, enum route_kind kind,
    const char *const *dests, const char *reason_part)
{
	struct route_result r;
	size_t n = 0;

	route_resolve(&fx->cfg, fx->d, addr, &r);
	if (r.kind != kind)
		fail_msg("%s: kind %s, want %s (%s)", addr,
		    route_kind_name(r.kind), route_kind_name(kind), r.reason);
	while (dests != NULL && dests[n] != NULL)
		n++;
	if (r.n_dests != n)
		fail_msg("%s: %zu dests, want %zu (%s)", addr, r.n_dests, n,
		    r.reason);
	for (size_t i = 0; i < n; i++) {
		char got[400];

		snprintf(got, sizeof(got), "%s%s@%s",
		    r.dests[i].kind == ROUTE_REMOTE ? "remote:" : "",
		    r.dests[i].local, r.dests[i].domain);
		if (strcmp(got, dests[i]) != 0)
			fail_msg("%s: dest %zu is %s, want %s (%s)", addr, i,
			    got, dests[i], r.reason);
	}
	if (reason_part != NULL && strstr(r.reason, reason_part) == NULL)
		fail_msg("%s: reason \"%s\" lacks \"%s\"", addr, r.reason,
		    reason_part);
	route_result_free(&r);
}

#define D(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
test_tables(void **state)
{
	struct fixture *fx = *state;
	const char *hash = NULL;
	char *const *t;
	size_t n;

	assert_int_equal(domains_is_local(fx->d, "example.test"), 1);
	assert_int_equal(domains_is_local(fx->d, "EXAMPLE.Test"), 1);
	assert_int_equal(domains_is_local(fx->d, "elsewhere.example"), 0);
	assert_int_equal(domains_is_local(fx->d, "../example.test"), 0);
	assert_int_equal(domains_is_local(fx->d, "[192.0.2.1]"), 0);
	assert_int_equal(domains_user(fx->d, "ANN", "example.test", &hash), 1);
	assert_string_equal(hash, "$6$salt$hash");
	assert_int_equal(domains_user(fx->d, "bob", "example.test", &hash), 1);
	assert_string_equal(hash, "");
	assert_int_equal(domains_user(fx->d, "zed", "example.test", &hash), 0);
	assert_int_equal(domains_alias(fx->d, "sales", "example.test", &t, &n),
	    1);
	assert_int_equal(n, 3);
	assert_string_equal(t[0], "ann");
	assert_string_equal(t[1], "bob@example.test");
	assert_string_equal(t[2], "Carol+X");
	assert_int_equal(domains_target_kind("|cmd"), DOMAINS_TARGET_PIPE);
	assert_int_equal(domains_target_kind("\"|cmd x\""), DOMAINS_TARGET_PIPE);
	assert_int_equal(domains_target_kind("/var/x"), DOMAINS_TARGET_FILE);
	assert_int_equal(domains_target_kind(":include:/x"),
	    DOMAINS_TARGET_INCLUDE);
}

static void
test_users_aliases(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "ann@example.test", ROUTE_LOCAL, D("ann@example.test"),
	    "local user");
	expect(fx, "ANN@Example.TEST", ROUTE_LOCAL, D("ann@example.test"), NULL);
	expect(fx, "sales@example.test", ROUTE_LOCAL,
	    D("ann@example.test", "bob@example.test", "carol+x@example.test"),
	    "alias -> ann, bob@example.test, Carol+X");
	/* Recursion with duplicates dropped. */
	expect(fx, "team@example.test", ROUTE_LOCAL,
	    D("ann@example.test", "bob@example.test", "carol+x@example.test"),
	    NULL);
	expect(fx, "deep0@example.test", ROUTE_UNSUPPORTED, NULL,
	    "deeper than 10");
	expect(fx, "dave@other.test", ROUTE_LOCAL, D("dave@other.test"), NULL);
	expect(fx, "other@example.test", ROUTE_LOCAL, D("dave@other.test"),
	    NULL);
}

static void
test_loops(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "loop1@example.test", ROUTE_LOCAL, D("bob@example.test"),
	    "alias loop");
	expect(fx, "ring1@example.test", ROUTE_UNSUPPORTED, NULL,
	    "without reaching a mailbox");
}

static void
test_delimiter(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "ann+lists@example.test", ROUTE_LOCAL, D("ann@example.test"),
	    "extension \"+lists\" dropped");
	expect(fx, "sales+x@example.test", ROUTE_LOCAL,
	    D("ann@example.test", "bob@example.test", "carol+x@example.test"),
	    NULL);
	/* A user whose name holds the delimiter wins over the cut. */
	expect(fx, "carol+x@example.test", ROUTE_LOCAL,
	    D("carol+x@example.test"), NULL);
	expect(fx, "zed+x@example.test", ROUTE_UNKNOWN, NULL, NULL);
	free(fx->cfg.recipient_delimiter);
	fx->cfg.recipient_delimiter = strdup("");
	expect(fx, "ann+lists@example.test", ROUTE_UNKNOWN, NULL, NULL);
	free(fx->cfg.recipient_delimiter);
	fx->cfg.recipient_delimiter = strdup("-+");
	expect(fx, "ann-x@example.test", ROUTE_LOCAL, D("ann@example.test"),
	    NULL);
}

static void
test_quoted(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "\"ann\"@example.test", ROUTE_LOCAL, D("ann@example.test"),
	    NULL);
	expect(fx, "\"a\\nn\"@example.test", ROUTE_LOCAL,
	    D("ann@example.test"), NULL);
	expect(fx, "\"a n\"@example.test", ROUTE_UNKNOWN, NULL, NULL);
	expect(fx, "\"unterminated@example.test", ROUTE_UNKNOWN, NULL, NULL);
	/* Remote local parts are kept exactly as written. */
	expect(fx, "\"John Doe\"@elsewhere.example", ROUTE_REMOTE,
	    D("remote:\"John Doe\"@elsewhere.example"), NULL);
}

static void
test_postmaster(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "postmaster", ROUTE_LOCAL, D("admin@example.test"),
	    "postmaster: goes to the postmaster admin@example.test");
	expect(fx, "PostMaster", ROUTE_LOCAL, D("admin@example.test"), NULL);
	expect(fx, "postmaster@example.test", ROUTE_LOCAL,
	    D("admin@example.test"), NULL);
	expect(fx, "security@other.test", ROUTE_LOCAL, D("admin@example.test"),
	    NULL);
	/* An alias of that name wins. */
	expect(fx, "abuse@example.test", ROUTE_LOCAL, D("ann@example.test"),
	    NULL);
	expect(fx, "abuse@other.test", ROUTE_LOCAL, D("admin@example.test"),
	    NULL);
	/* The postmaster may live elsewhere: the address is still ours. */
	free(fx->cfg.postmaster);
	fx->cfg.postmaster = strdup("Hostmaster@Provider.example");
	expect(fx, "postmaster", ROUTE_LOCAL,
	    D("remote:Hostmaster@provider.example"), NULL);
	expect(fx, "abuse@other.test", ROUTE_LOCAL,
	    D("remote:Hostmaster@provider.example"), NULL);
	/* A postmaster that is itself a role name with no user loops. */
	free(fx->cfg.postmaster);
	fx->cfg.postmaster = strdup("postmaster@other.test");
	expect(fx, "postmaster", ROUTE_UNSUPPORTED, NULL, NULL);
}

static void
test_unknown_remote_refused(void **state)
{
	struct fixture *fx = *state;

	expect(fx, "zed@example.test", ROUTE_UNKNOWN, NULL,
	    "has no user or alias zed");
	expect(fx, "dangling@example.test", ROUTE_UNKNOWN, NULL, "nobody");
	expect(fx, "someone@elsewhere.example", ROUTE_REMOTE,
	    D("remote:someone@elsewhere.example"), "remote");
	expect(fx, "out@example.test", ROUTE_LOCAL,
	    D("ann@example.test", "remote:friend@elsewhere.example"),
	    "elsewhere.example: not a local domain, forwarded");
	expect(fx, "pipe@example.test", ROUTE_UNSUPPORTED, NULL, "pipes");
	expect(fx, "boss@example.test", ROUTE_LOCAL, D("admin@example.test"),
	    NULL);
	expect(fx, "nobody", ROUTE_UNKNOWN, NULL, "no domain");
	expect(fx, "@example.test", ROUTE_UNKNOWN, NULL, NULL);
	expect(fx, "", ROUTE_UNKNOWN, NULL, NULL);
}

/* n copies of ch then tail, into out (at most 300 octets). */
static const char *
longname(char *out, size_t n, char ch, const char *tail)
{
	memset(out, ch, n);
	snprintf(out + n, 300 - n, "%s", tail);
	return out;
}

/* Local parts over 64 octets come from the wire (SRS): no mailbox has
 * such a name, and none is found by cutting one; remote ones pass. */
static void
test_long_local(void **state)
{
	struct fixture *fx = *state;
	char a[300], b[300], want[310];

	/* A user of 64 octets: the 65-octet name is not him, cut. */
	tu_put(fx->dir, "example.test/users",
	    longname(a, 64, 'u', ":\nann:\n"));
	tu_put(fx->dir, "example.test/aliases",
	    longname(b, 200, 'f', "@far.example\n"));
	memmove(b + 9, b, strlen(b) + 1);
	memcpy(b, "longfwd: ", 9);
	tu_put(fx->dir, "example.test/aliases", b);
	route_fixture_refresh(fx);
	snprintf(want, sizeof(want), "%s@example.test",
	    longname(b, 64, 'u', ""));
	expect(fx, longname(a, 64, 'u', "@example.test"), ROUTE_LOCAL,
	    D(want), "local user");
	expect(fx, longname(a, 65, 'u', "@example.test"), ROUTE_UNKNOWN, NULL,
	    "longer than 64 octets names no mailbox");
	expect(fx, longname(a, 65, 'z', "@example.test"), ROUTE_UNKNOWN, NULL,
	    "longer than 64");
	/* Not even with the extension cut off (no name of ours is long). */
	expect(fx, longname(a, 70, 'x', "@example.test"), ROUTE_UNKNOWN, NULL,
	    NULL);
	memcpy(a, "ann+", 4);
	expect(fx, a, ROUTE_UNKNOWN, NULL, "longer than 64");
	/* Remote: kept as written, up to the path's 254 octets. */
	longname(a, 200, 'r', "@elsewhere.example");
	snprintf(want, sizeof(want), "remote:%s", a);
	expect(fx, a, ROUTE_REMOTE, D(want), "remote");
	longname(a, 254 - 18, 'R', "@elsewhere.example");
	snprintf(want, sizeof(want), "remote:%s", a);
	expect(fx, a, ROUTE_REMOTE, D(want), "remote");
	/* A long foreign alias target is a forward like any other. */
	snprintf(want, sizeof(want), "remote:%s",
	    longname(b, 200, 'f', "@far.example"));
	expect(fx, "longfwd@example.test", ROUTE_LOCAL, D(want), "forwarded");
	/* 251 octets as written, 257 once the domain is an A-label: RCPT
	 * TO could not carry it, so it is refused now. */
	expect(fx, longname(a, 235, 'i', "@b\xc3\xbc" "cher.example"),
	    ROUTE_INVALID, NULL, "the most a path carries");
	snprintf(want, sizeof(want), "remote:%s",
	    longname(b, 230, 'i', "@xn--bcher-kva.example"));
	expect(fx, longname(a, 230, 'i', "@b\xc3\xbc" "cher.example"),
	    ROUTE_REMOTE, D(want), "remote");
}

static void
test_broken_table(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 64];

	tu_put(fx->dir, "bad.test/users", "ann:$y$x\nthis line has no colon\n");
	tu_put(fx->dir, "bad2.test/aliases", "a: b\na: c\n");
	snprintf(path, sizeof(path), "%s/bad3.test/users", fx->dir);
	tu_put(fx->dir, "bad3.test/users", "ann:\n");
	chmod(path, 0);
	route_fixture_refresh(fx);
	expect(fx, "ann@bad.test", ROUTE_TEMPFAIL, NULL, "cannot be read");
	expect(fx, "a@bad2.test", ROUTE_TEMPFAIL, NULL, NULL);
	if (access(path, R_OK) != 0)	/* root reads anything */
		expect(fx, "ann@bad3.test", ROUTE_TEMPFAIL, NULL, NULL);
}

static void
test_reload(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX + 64], tmp[PATH_MAX + 64];

	expect(fx, "new@example.test", ROUTE_UNKNOWN, NULL, NULL);
	/* Replace by rename, as `decorum user add` does. */
	tu_put(fx->dir, "example.test/users.new", "new:\nann:\n");
	snprintf(tmp, sizeof(tmp), "%s/example.test/users.new", fx->dir);
	snprintf(path, sizeof(path), "%s/example.test/users", fx->dir);
	assert_int_equal(rename(tmp, path), 0);
	/* Until the next refresh, the table read before answers. */
	expect(fx, "new@example.test", ROUTE_UNKNOWN, NULL, NULL);
	route_fixture_refresh(fx);
	expect(fx, "new@example.test", ROUTE_LOCAL, D("new@example.test"),
	    NULL);
	expect(fx, "bob@example.test", ROUTE_UNKNOWN, NULL, NULL);
	/* A new domain folder is local after the next refresh. */
	tu_put(fx->dir, "fresh.test/users", "eve:\n");
	expect(fx, "eve@fresh.test", ROUTE_REMOTE, D("remote:eve@fresh.test"),
	    NULL);
	route_fixture_refresh(fx);
	expect(fx, "eve@fresh.test", ROUTE_LOCAL, D("eve@fresh.test"), NULL);
}

struct check_counts {
	int errors, warnings;
	char last[512];
};

static void
count_error(void *arg, const char *file, int line, const char *message)
{
	struct check_counts *n = arg;

	(void)file;
	(void)line;
	snprintf(n->last, sizeof(n->last), "%s", message);
	n->errors++;
}

static void
count_warning(void *arg, const char *file, int line, const char *message)
{
	struct check_counts *n = arg;

	(void)file;
	(void)line;
	snprintf(n->last, sizeof(n->last), "%s", message);
	n->warnings++;
}

static struct check_counts
check_now(struct fixture *fx)
{
	struct check_counts n = { 0 };
	int errors = domains_check(fx->dir, &fx->cfg, count_error,
	    count_warning, &n);

	assert_int_equal(errors, n.errors);
	return n;
}

static void
test_check(void **state)
{
	struct fixture *fx = *state;
	struct check_counts n;
	char aliases[4096], *p = aliases;

	/* The pipe is the one problem; "out" forwards (allowed), warned
	 * about while no srs group is configured; dangling is left to
	 * route. */
	n = check_now(fx);
	assert_int_equal(n.errors, 1);
	assert_int_equal(n.warnings, 1);
	fx->cfg.srs.enabled = true;
	n = check_now(fx);
	assert_int_equal(n.warnings, 0);

	/* alias_fanout_warn: ten foreign targets pass, eleven are a list
	 * (local targets and the same domain do not count). */
	p += sprintf(p, "ten: ann, bob@example.test, dave@other.test");
	for (int i = 0; i < 10; i++)
		p += sprintf(p, ", u%d@far%d.example", i, i);
	p += sprintf(p, "\neleven: ann");
	for (int i = 0; i < 11; i++)
		p += sprintf(p, ", u%d@far%d.example", i, i);
	sprintf(p, "\n");
	tu_put(fx->dir, "example.test/aliases", aliases);
	fx->cfg.alias_fanout_warn = 10;
	n = check_now(fx);
	assert_int_equal(n.errors, 0);
	assert_int_equal(n.warnings, 1);
	assert_non_null(strstr(n.last, "warning: alias eleven forwards to 11 "
	    "foreign addresses"));
	assert_non_null(strstr(n.last, "docs/delivery.md, Group forwards and "
	    "mailing lists"));
	fx->cfg.alias_fanout_warn = 11;
	assert_int_equal(check_now(fx).warnings, 0);
	fx->cfg.alias_fanout_warn = 0;		/* never */
	assert_int_equal(check_now(fx).warnings, 0);
	/* Without srs: both forward, both warned; eleven twice. */
	fx->cfg.alias_fanout_warn = 10;
	fx->cfg.srs.enabled = false;
	assert_int_equal(check_now(fx).warnings, 3);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, route_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_tables),
		T(test_users_aliases),
		T(test_loops),
		T(test_delimiter),
		T(test_quoted),
		T(test_postmaster),
		T(test_unknown_remote_refused),
		T(test_long_local),
		T(test_broken_table),
		T(test_reload),
		T(test_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
