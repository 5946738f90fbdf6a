/*
 * Unit tests of forwarding's two routing halves: the sender a forwarded
 * copy carries (route_forward_sender: kept or SRS, and why) and mail to
 * our SRS domain (route_resolve_at: a valid SRS0/SRS1 address routed to
 * what it stands for, returned as is; forged, expired, future and
 * malformed ones refused; other names there).  Addresses are made with
 * the codec and the same secret at a fixed clock, and judged at clocks
 * on both sides of srs.max_age.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "route/domains.h"
#include "route/forward.h"
#include "route/route.h"
#include "srs/srs.h"
#include "route_fixture.h"

#define NOW	1709294400	/* 2024-03-01 12:00:00 UTC */
#define DAYS	86400
#define SRSDOM	"srs.example.test"

static struct srs_keys keys;

static int
setup(void **state)
{
	struct fixture *fx = route_fixture_new("srsroute");
	char err[128];

	if (fx == NULL)
		return -1;
	tu_put(fx->dir, "example.test/users", "admin:\nann:\n");
	tu_put(fx->dir, "example.test/aliases", "fwd: friend@far.example\n");
	route_fixture_open(fx);
	if (srs_keys_parse(&keys, "tops3cr3t\nolds3cr3t\n", 20, err,
	    sizeof(err)) < 0)
		return -1;
	fx->cfg.srs.enabled = true;
	fx->cfg.srs.domain = strdup(SRSDOM);
	fx->cfg.srs.max_age = 21;
	fx->cfg.srs.keys = &keys;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	free(fx->cfg.srs.domain);
	srs_keys_clear(&keys);
	return route_fixture_teardown(state);
}

/* The SRS form of addr made at t, as our forwarding would make it. */
static void
make(const char *addr, time_t t, char out[SRS_ADDRESS_MAX + 1])
{
	assert_int_equal(srs_forward(&keys, SRSDOM, addr, t, out,
	    SRS_ADDRESS_MAX + 1), SRS_OK);
}

/* Route addr at now: kind, and for a one-destination result its
 * "[remote:]local@domain" and forward flag; reason_part in the reason. */
static void
expect(struct fixture *fx, const char *addr, time_t now, enum route_kind kind,
    const char *dest, const char *reason_part)
{
	struct route_result r;

	route_resolve_at(&fx->cfg, fx->d, addr, now, &r);
	route_fixture_check(addr, &r, kind, dest, true);
	/* What an SRS address stands for is returned as is, never
	 * forwarded. */
	if (dest != NULL)
		assert_false(r.dests[0].forward);
	else if (kind != ROUTE_LOCAL && kind != ROUTE_REMOTE)
		assert_int_equal(r.n_dests, 0);
	if (reason_part != NULL && strstr(r.reason, reason_part) == NULL)
		fail_msg("%s: reason \"%s\" lacks \"%s\"", addr, r.reason,
		    reason_part);
	route_result_free(&r);
}

/* -- the sender of a forwarded copy ---------------------------------------- */

static enum forward_sender
fwd(struct fixture *fx, const char *sender, bool auth, char *out,
    char *why)
{
	return route_forward_sender(&fx->cfg, fx->d, sender, auth, NOW, out,
	    FORWARD_SENDER_MAX + 1, why, 128);
}

static void
kept(struct fixture *fx, const char *sender, bool auth, const char *why_part)
{
	char out[FORWARD_SENDER_MAX + 1], why[128];

	assert_int_equal(fwd(fx, sender, auth, out, why), FORWARD_KEPT);
	assert_string_equal(out, sender);
	if (strstr(why, why_part) == NULL)
		fail_msg("%s: why \"%s\" lacks \"%s\"", sender, why, why_part);
}

static void
test_sender_kept(void **state)
{
	struct fixture *fx = *state;
	char srs[SRS_ADDRESS_MAX + 1];

	kept(fx, "", false, "null sender");
	kept(fx, "ann@example.test", false, "the sender's domain is local");
	kept(fx, "Ann@EXAMPLE.Test", false, "the sender's domain is local");
	kept(fx, "user@example.org", true, "authenticated user");
	make("user@example.org", NOW, srs);
	kept(fx, srs, false, "already an address in the SRS domain");
	fx->cfg.srs.keys = NULL;
	kept(fx, "user@example.org", false, "the SRS key file was not read");
	fx->cfg.srs.keys = &keys;
	fx->cfg.srs.enabled = false;
	kept(fx, "user@example.org", false, "no srs group configured");
}

static void
test_sender_srs(void **state)
{
	struct fixture *fx = *state;
	char out[FORWARD_SENDER_MAX + 1], why[128], back[SRS_ADDRESS_MAX + 1];
	char srs1[SRS_ADDRESS_MAX + 1];

	assert_int_equal(fwd(fx, "user@example.org", false, out, why),
	    FORWARD_SRS);
	assert_string_equal(why, "SRS");
	assert_memory_equal(out, "SRS0=", 5);
	assert_non_null(strstr(out, "=example.org=user@" SRSDOM));
	/* The same clock, the same sender: byte-identical (retries). */
	assert_int_equal(fwd(fx, "user@example.org", false, srs1, why),
	    FORWARD_SRS);
	assert_string_equal(out, srs1);
	assert_int_equal(srs_reverse(&keys, out, NOW, 21, back, sizeof(back)),
	    SRS_OK);
	assert_string_equal(back, "user@example.org");
	/* Another forwarder's SRS0: SRS1, which names its host. */
	assert_int_equal(fwd(fx, "SRS0=abcd=KH=example.org=user@hop.example",
	    false, srs1, why), FORWARD_SRS);
	assert_memory_equal(srs1, "SRS1=", 5);
	assert_non_null(strstr(srs1, "=hop.example==abcd=KH=example.org=user@"
	    SRSDOM));
}

/* -- mail to the SRS domain ------------------------------------------------- */

static void
test_reverse_valid(void **state)
{
	struct fixture *fx = *state;
	char a[SRS_ADDRESS_MAX + 1], srs1[SRS_ADDRESS_MAX + 1];
	char upper[SRS_ADDRESS_MAX + 1];

	make("user@example.org", NOW, a);
	expect(fx, a, NOW, ROUTE_LOCAL, "remote:user@example.org",
	    "SRS address of user@example.org");
	/* Any case: the tag, the hash (libsrs2), the domain. */
	for (size_t i = 0; i <= strlen(a); i++)
		upper[i] = (char)toupper((unsigned char)a[i]);
	expect(fx, upper, NOW, ROUTE_LOCAL, "remote:USER@example.org", NULL);
	for (size_t i = 0; i <= strlen(a); i++)
		upper[i] = (char)tolower((unsigned char)a[i]);
	expect(fx, upper, NOW, ROUTE_LOCAL, "remote:user@example.org", NULL);
	/* The original in a local domain: its mailbox, or its alias. */
	make("ann@example.test", NOW, a);
	expect(fx, a, NOW, ROUTE_LOCAL, "ann@example.test", NULL);
	/* SRS1 (we were the second hop): to the first hop's SRS0. */
	make("SRS0=abcd=KH=example.org=user@hop.example", NOW, srs1);
	expect(fx, srs1, NOW, ROUTE_LOCAL,
	    "remote:SRS0=abcd=KH=example.org=user@hop.example", NULL);
	/* A secret rotated out of first place still verifies. */
	srs_keys_parse(&keys, "news3cr3t\ntops3cr3t\n", 20, NULL, 0);
	make("user@example.org", NOW, a);
	expect(fx, a, NOW, ROUTE_LOCAL, "remote:user@example.org", NULL);
}

static void
test_reverse_age(void **state)
{
	struct fixture *fx = *state;
	char a[SRS_ADDRESS_MAX + 1];

	make("user@example.org", NOW, a);
	expect(fx, a, NOW + 21 * DAYS, ROUTE_LOCAL, "remote:user@example.org",
	    NULL);
	expect(fx, a, NOW + 22 * DAYS, ROUTE_UNKNOWN, NULL,
	    "SRS address: timestamp expired");
	/* Made tomorrow, read today: the future is no valid stamp. */
	make("user@example.org", NOW + DAYS, a);
	expect(fx, a, NOW, ROUTE_UNKNOWN, NULL, "timestamp expired");
	fx->cfg.srs.max_age = 30;
	make("user@example.org", NOW, a);
	expect(fx, a, NOW + 22 * DAYS, ROUTE_LOCAL, NULL, NULL);
}

static void
test_reverse_refused(void **state)
{
	struct fixture *fx = *state;
	char a[SRS_ADDRESS_MAX + 1], b[SRS_ADDRESS_MAX + 1];
	char *at;

	make("user@example.org", NOW, a);
	/* Tampered: one hash character, then the original's local part. */
	snprintf(b, sizeof(b), "%s", a);
	b[5] = b[5] == 'A' ? 'B' : 'A';
	expect(fx, b, NOW, ROUTE_UNKNOWN, NULL,
	    "SRS address: hash does not verify");
	snprintf(b, sizeof(b), "%s", a);
	at = strchr(b, '@');
	at[-1] = at[-1] == 'x' ? 'y' : 'x';
	expect(fx, b, NOW, ROUTE_UNKNOWN, NULL, "hash does not verify");
	/* Truncated: the local part of the original cut off, or more. */
	snprintf(b, sizeof(b), "%.*s@" SRSDOM, (int)(strstr(a, "=user@") - a),
	    a);
	expect(fx, b, NOW, ROUTE_UNKNOWN, NULL, "SRS address: malformed");
	expect(fx, "SRS0=@" SRSDOM, NOW, ROUTE_UNKNOWN, NULL, "SRS address: ");
	expect(fx, "SRS1-x@" SRSDOM, NOW, ROUTE_UNKNOWN, NULL, "malformed");
	/* No key read while srs is on: try later, never accepted. */
	fx->cfg.srs.keys = NULL;
	expect(fx, a, NOW, ROUTE_TEMPFAIL, NULL, "SRS key file was not read");
	fx->cfg.srs.keys = &keys;
}

static void
test_reverse_elsewhere(void **state)
{
	struct fixture *fx = *state;
	char a[SRS_ADDRESS_MAX + 1], b[SRS_ADDRESS_MAX + 1];

	make("user@example.org", NOW, a);
	/* The same local part at another domain is not ours to reverse:
	 * remote (relay), or a local domain's unknown user. */
	snprintf(b, sizeof(b), "%.*s@other.example",
	    (int)(strchr(a, '@') - a), a);
	expect(fx, b, NOW, ROUTE_REMOTE, NULL, "remote");
	snprintf(b, sizeof(b), "%.*s@example.test", (int)(strchr(a, '@') - a),
	    a);
	expect(fx, b, NOW, ROUTE_UNKNOWN, NULL, "no user or alias");
	/* srs off: the SRS domain is a foreign domain like any other. */
	fx->cfg.srs.enabled = false;
	expect(fx, a, NOW, ROUTE_REMOTE, NULL, NULL);
}

/* SRS addresses of long originals have local parts over 64 octets
 * (RFC 5321 4.5.3.1 lets us take them): routed, forwarded, refused
 * like short ones, never cut. */
static void
test_long_srs(void **state)
{
	static const char orig[] = "firstname.lastname.department@"
	    "mail.some-long-company-name.example";
	static const char srs0[] = "SRS0=abcd=KH=mail.some-long-company-"
	    "name.example=firstname.lastname.department@hop.example";
	struct fixture *fx = *state;
	char a[SRS_ADDRESS_MAX + 1], b[SRS_ADDRESS_MAX + 1], want[300];
	char out[FORWARD_SENDER_MAX + 1], why[128], local[100];

	make(orig, NOW, a);
	assert_true(strchr(a, '@') - a > 64);
	snprintf(want, sizeof(want), "remote:%s", orig);
	expect(fx, a, NOW, ROUTE_LOCAL, want, "SRS address of");
	/* Tampered in its last octet before "@": refused, not cut. */
	snprintf(b, sizeof(b), "%s", a);
	strchr(b, '@')[-1] = 'X';
	expect(fx, b, NOW, ROUTE_UNKNOWN, NULL, "hash does not verify");
	expect(fx, a, NOW + 22 * DAYS, ROUTE_UNKNOWN, NULL, "expired");
	/* SRS1 of another forwarder's long SRS0, and back to it. */
	make(srs0, NOW, a);
	assert_memory_equal(a, "SRS1=", 5);
	snprintf(want, sizeof(want), "remote:%s", srs0);
	expect(fx, a, NOW, ROUTE_LOCAL, want, NULL);
	/* A long sender is forwarded as SRS1 ... */
	assert_int_equal(fwd(fx, srs0, false, out, why), FORWARD_SRS);
	assert_string_equal(out, a);
	/* ... kept when its domain is ours (no longer mistaken for a
	 * foreign one because it would not split) ... */
	memset(local, 'l', 70);
	snprintf(local + 70, sizeof(local) - 70, "@example.test");
	kept(fx, local, false, "the sender's domain is local");
	/* ... and kept, whole, when SRS0 cannot hold it. */
	snprintf(local + 70, sizeof(local) - 70, "@far.example");
	kept(fx, local, false, "cannot be rewritten: address too long");
}

static void
test_srs_domain_names(void **state)
{
	struct fixture *fx = *state;

	/* Only the role mailboxes exist at an SRS domain of its own. */
	expect(fx, "postmaster@" SRSDOM, NOW, ROUTE_LOCAL, "admin@example.test",
	    NULL);
	expect(fx, "Abuse@SRS.Example.TEST", NOW, ROUTE_LOCAL,
	    "admin@example.test", NULL);
	expect(fx, "ann@" SRSDOM, NOW, ROUTE_UNKNOWN, NULL,
	    "the SRS domain has only SRS addresses");
	expect(fx, "srs2=x=y@" SRSDOM, NOW, ROUTE_UNKNOWN, NULL, NULL);
	/* An SRS domain that is also local has its users as well. */
	tu_put(fx->dir, SRSDOM "/users", "bob:\n");
	route_fixture_refresh(fx);
	expect(fx, "bob@" SRSDOM, NOW, ROUTE_LOCAL, "bob@" SRSDOM, NULL);
	expect(fx, "ann@" SRSDOM, NOW, ROUTE_UNKNOWN, NULL, "no user or alias");
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_sender_kept),
		T(test_sender_srs),
		T(test_reverse_valid),
		T(test_reverse_age),
		T(test_reverse_refused),
		T(test_reverse_elsewhere),
		T(test_srs_domain_names),
		T(test_long_srs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
