/*
 * Unit tests of international domain names in the tables (issue 8, item
 * 18; src/route/domains_idn.c and its users): the canonical A-label form
 * (case folding, U-labels, A-labels in any case, ß kept, width mapping),
 * names refused (bad punycode, disallowed characters, broken UTF-8, empty
 * labels, too long), the U-label form back, folder names, routing of
 * both spellings to one mailbox (aliases and loops across spellings),
 * sender ownership and transports matching either form, and check-config
 * on odd and duplicate folders.
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
#include "common/log.h"
#include "route/domains.h"
#include "route/domains_priv.h"
#include "route/route.h"
#include "route/senders.h"
#include "route/transport.h"
#include "route_fixture.h"

static int
setup(void **state)
{
	struct fixture *fx = route_fixture_new("idn");

	if (fx == NULL)
		return -1;
	/* One folder in each spelling. */
	tu_put(fx->dir, "bücher.example/users", "anna:\nadmin:\n");
	tu_put(fx->dir, "bücher.example/aliases",
	    "team: anna, bob@café.example\n"
	    "l1: l2@xn--bcher-kva.example\n"
	    "l2: l1@BÜCHER.example, anna\n");
	tu_put(fx->dir, "bücher.example/senders", "anna: @CAFÉ.example\n");
	tu_put(fx->dir, "xn--caf-dma.example/users", "bob:\n");
	route_fixture_open(fx);
	*state = fx;
	return 0;
}

static void
canon_is(const char *in, const char *want)
{
	char out[SMTP_DOMAIN_MAX + 1];

	if (domains_canon(in, out) != 0)
		fail_msg("domains_canon(\"%s\") refused, want %s", in, want);
	if (strcmp(out, want) != 0)
		fail_msg("domains_canon(\"%s\") = %s, want %s", in, out, want);
}

static void
canon_refused(const char *in)
{
	char out[SMTP_DOMAIN_MAX + 1];

	if (domains_canon(in, out) != -1)
		fail_msg("domains_canon(\"%s\") = %s, want refused", in, out);
	assert_string_equal(out, "");
}

static void
test_canon(void **state)
{
	char big[300];

	(void)state;
	canon_is("bücher.example", "xn--bcher-kva.example");
	canon_is("BÜCHER.example", "xn--bcher-kva.example");
	canon_is("BüCHER.EXAMPLE", "xn--bcher-kva.example");
	canon_is("xn--bcher-kva.example", "xn--bcher-kva.example");
	canon_is("XN--BCHER-KVA.Example", "xn--bcher-kva.example");
	canon_is("Example.TEST", "example.test");
	canon_is("example.test", "example.test");
	/* Non-transitional: ß is its own letter (IDNA2008), not "ss". */
	canon_is("straße.de", "xn--strae-oqa.de");
	canon_is("strasse.de", "strasse.de");
	/* NFC: u + combining diaeresis is ü. */
	canon_is("bu\xcc\x88" "cher.example", "xn--bcher-kva.example");
	/* UTS #46 maps full-width letters. */
	canon_is("\xef\xbc\xa1.example", "a.example");
	/* Plain ASCII names keep the old rules (no IDNA2008 hyphen rule). */
	canon_is("ab--cd.example", "ab--cd.example");
	canon_refused("xn--zz.example");		/* bad punycode */
	/* Good punycode, but its U-label ("ph-" and a spacing diaeresis)
	 * is disallowed: found by fuzz_domain. */
	canon_refused("xn--ph--xea.example");
	canon_refused("re.x--ba.p.xn--ph--xea");
	canon_refused("\xe2\x98\x83.example");		/* a snowman */
	canon_refused("xn--n3h.example");		/* the same, A-label */
	canon_refused("bad\xff.example");		/* not UTF-8 */
	canon_refused("a..example");
	canon_refused("example.test.");
	canon_refused("");
	canon_refused("[192.0.2.1]");
	canon_refused("a_b.example");
	canon_refused("bü_cher.example");
	canon_refused("../example.test");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	canon_refused(big);
}

/*
 * A name of `ascii` letters after three labels of 57 "中" (171 octets in
 * UTF-8, 63 as the A-label xn--fiqaaa...): 3 * 63 + 3 + ascii octets as
 * A-labels, 3 * 171 + 3 + ascii as U-labels.  In the form `utf8`.
 */
static void
cjk_name(char *out, size_t outlen, bool utf8, size_t ascii)
{
	static const char han[] = "\xe4\xb8\xad";	/* 中 */
	size_t n = 0;

	for (int l = 0; l < 3; l++) {
		if (utf8) {
			for (int i = 0; i < 57; i++)
				n += (size_t)snprintf(out + n, outlen - n, "%s",
				    han);
		} else {
			n += (size_t)snprintf(out + n, outlen - n, "xn--fiq");
			for (int i = 0; i < 56; i++)
				out[n++] = 'a';
		}
		out[n++] = '.';
	}
	memset(out + n, 'b', ascii);
	out[n + ascii] = '\0';
	assert_true(n + ascii < outlen);
}

/* The length limit is on the A-label form (RFC 5890 2.3.2.1): a name of
 * 577 octets in UTF-8 is 253 as A-labels and valid; one more letter and
 * it is refused.  Refusing by UTF-8 length made canon(unicode(x)) fail
 * for a valid x: found by fuzz_domain. */
static void
test_canon_length_of_alabels(void **state)
{
	char u[DOMAINS_UNICODE_MAX + 2], a[SMTP_DOMAIN_MAX + 2];
	char back[DOMAINS_UNICODE_MAX + 1];

	(void)state;
	cjk_name(u, sizeof(u), true, 61);
	cjk_name(a, sizeof(a), false, 61);
	assert_int_equal(strlen(a), 253);
	assert_int_equal(strlen(u), 577);
	canon_is(u, a);
	canon_is(a, a);
	assert_int_equal(domains_unicode(a, back, sizeof(back)), 0);
	assert_string_equal(back, u);
	assert_true(domains_same_domain(u, a));
	cjk_name(u, sizeof(u), true, 62);
	cjk_name(a, sizeof(a), false, 62);
	canon_refused(u);
	canon_refused(a);
	/* Past DOMAINS_UNICODE_MAX octets, refused before libidn2. */
	memset(u, 'a', sizeof(u) - 1);
	memcpy(u, "\xc3\xbc.", 3);
	u[sizeof(u) - 1] = '\0';
	canon_refused(u);
}

static void
test_unicode_and_folders(void **state)
{
	char out[DOMAINS_UNICODE_MAX + 1], canon[SMTP_DOMAIN_MAX + 1];

	(void)state;
	assert_int_equal(domains_unicode("xn--bcher-kva.example", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "bücher.example");
	assert_int_equal(domains_unicode("example.test", out, sizeof(out)), 0);
	assert_string_equal(out, "example.test");
	assert_int_equal(domains_unicode("xn--bcher-kva.example", out, 5), -1);
	assert_int_equal(domains_folder_canon("bücher.example", canon), 0);
	assert_string_equal(canon, "xn--bcher-kva.example");
	assert_int_equal(domains_folder_canon("xn--bcher-kva.example", canon),
	    0);
	assert_int_equal(domains_folder_canon("example.test", canon), 0);
	assert_int_equal(domains_folder_canon("Bücher.example", canon), -1);
	assert_int_equal(domains_folder_canon("Example.test", canon), -1);
	assert_int_equal(domains_folder_canon("XN--BCHER-KVA.example", canon),
	    -1);
	assert_int_equal(domains_folder_canon("bu\xcc\x88" "cher.example",
	    canon), -1);
	assert_true(domains_same_domain("bücher.example",
	    "XN--bcher-KVA.example"));
	assert_true(domains_same_domain("Example.test", "example.TEST"));
	assert_false(domains_same_domain("straße.de", "strasse.de"));
	assert_false(domains_same_domain("xn--zz.example", "zz.example"));
}

/* Route addr: want kind and one destination (or none). */
static void
route_is(struct fixture *fx, const char *addr, enum route_kind kind,
    const char *dest)
{
	struct route_result r;

	route_resolve(&fx->cfg, fx->d, addr, &r);
	route_fixture_check(addr, &r, kind, dest, false);
	route_result_free(&r);
}

static void
test_route_both_spellings(void **state)
{
	struct fixture *fx = *state;
	struct route_result r;

	assert_int_equal(domains_is_local(fx->d, "BÜCHER.example"), 1);
	assert_int_equal(domains_is_local(fx->d, "café.example"), 1);
	route_is(fx, "anna@bücher.example", ROUTE_LOCAL,
	    "anna@xn--bcher-kva.example");
	route_is(fx, "Anna@BÜCHER.example", ROUTE_LOCAL,
	    "anna@xn--bcher-kva.example");
	route_is(fx, "anna@xn--bcher-kva.example", ROUTE_LOCAL,
	    "anna@xn--bcher-kva.example");
	route_is(fx, "anna@XN--BCHER-KVA.EXAMPLE", ROUTE_LOCAL,
	    "anna@xn--bcher-kva.example");
	route_is(fx, "bob@café.example", ROUTE_LOCAL, "bob@xn--caf-dma.example");
	route_is(fx, "otto@bücher.example", ROUTE_UNKNOWN, NULL);
	route_is(fx, "postmaster@BÜCHER.example", ROUTE_LOCAL,
	    "admin@example.test");
	/* A look-alike that is another domain: ß is not ss. */
	route_is(fx, "anna@bucher.example", ROUTE_REMOTE, NULL);
	/* An alias across both spellings and domains. */
	route_resolve(&fx->cfg, fx->d, "team@bücher.example", &r);
	assert_int_equal(r.kind, ROUTE_LOCAL);
	assert_int_equal(r.n_dests, 2);
	assert_string_equal(r.dests[0].domain, "xn--bcher-kva.example");
	assert_string_equal(r.dests[1].local, "bob");
	assert_string_equal(r.dests[1].domain, "xn--caf-dma.example");
	route_result_free(&r);
	/* A loop through the other spelling is still a loop. */
	route_is(fx, "l1@bücher.example", ROUTE_LOCAL,
	    "anna@xn--bcher-kva.example");
}

/* A remote domain is named by its A-label too (RFC 5891 5: DNS is
 * asked for that form), so both spellings are one destination; a
 * domain with no A-label is refused with its reason, never sent to DNS
 * as it is. */
static void
test_route_remote_canonical(void **state)
{
	struct fixture *fx = *state;
	struct route_result r;

	route_is(fx, "u@BÜCHER.org", ROUTE_REMOTE, "u@xn--bcher-kva.org");
	route_is(fx, "u@xn--BCHER-kva.ORG", ROUTE_REMOTE,
	    "u@xn--bcher-kva.org");
	/* The local part of a foreign address is kept as written. */
	route_is(fx, "J\xc3\xbcrgen@Caf\xc3\xa9.org", ROUTE_REMOTE,
	    "J\xc3\xbcrgen@xn--caf-dma.org");
	route_is(fx, "u@[192.0.2.1]", ROUTE_REMOTE, "u@[192.0.2.1]");
	route_is(fx, "u@Example.ORG", ROUTE_REMOTE, "u@example.org");
	route_resolve(&fx->cfg, fx->d, "u@xn--zz.example", &r);
	assert_int_equal(r.kind, ROUTE_INVALID);
	assert_int_equal(r.n_dests, 0);
	assert_non_null(strstr(r.reason, "xn--zz.example is not a valid "
	    "domain name"));
	assert_string_equal(route_kind_name(r.kind), "invalid");
	route_result_free(&r);
	route_is(fx, "u@\xe2\x98\x83.example", ROUTE_INVALID, NULL);
	route_is(fx, "u@xn--ph--xea.example", ROUTE_INVALID, NULL);
	/* An alias target with such a domain is our configuration's
	 * problem: try later, not the sender's. */
	tu_put(fx->dir, "bücher.example/aliases", "bad: x@xn--zz.example\n");
	route_fixture_refresh(fx);
	route_is(fx, "bad@bücher.example", ROUTE_UNSUPPORTED, NULL);
	/* A postmaster with such a domain, the same. */
	free(fx->cfg.postmaster);
	fx->cfg.postmaster = strdup("admin@xn--zz.example");
	route_is(fx, "postmaster", ROUTE_UNSUPPORTED, NULL);
}

static void
test_senders_either_form(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(route_sender_owned(&fx->cfg, fx->d,
	    "anna@bücher.example", "anna@xn--bcher-kva.example"), 1);
	assert_int_equal(route_sender_owned(&fx->cfg, fx->d,
	    "anna@xn--bcher-kva.example", "Anna@BÜCHER.example"), 1);
	assert_int_equal(route_sender_owned(&fx->cfg, fx->d,
	    "anna@bücher.example", "x@xn--caf-dma.example"), 1);
	assert_int_equal(route_sender_owned(&fx->cfg, fx->d,
	    "anna@bücher.example", "x@other.example"), 0);
	assert_int_equal(route_sender_owned(&fx->cfg, fx->d,
	    "bob@café.example", "anna@bücher.example"), 0);
}

static void
test_transport_either_form(void **state)
{
	struct transport_conf entries[3];
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(entries, 0, sizeof(entries));
	entries[0].match = (char *)"bücher.example";
	entries[0].via = (char *)"lmtp:127.0.0.1:1";
	entries[0].kind = TRANSPORT_LMTP;
	entries[1].match = (char *)".xn--caf-dma.example";
	entries[1].via = (char *)"lmtp:127.0.0.1:2";
	entries[1].kind = TRANSPORT_LMTP;
	entries[2].match = (char *)"boss@café.example";
	entries[2].via = (char *)"maildir";
	entries[2].kind = TRANSPORT_MAILDIR;
	cfg.transports = entries;
	cfg.n_transports = 3;
	assert_string_equal(transport_lookup(&cfg, "anna",
	    "xn--bcher-kva.example", true)->via, "lmtp:127.0.0.1:1");
	assert_string_equal(transport_lookup(&cfg, "x",
	    "lists.café.example", false)->via, "lmtp:127.0.0.1:2");
	assert_string_equal(transport_lookup(&cfg, "Boss",
	    "xn--caf-dma.example", true)->via, "maildir");
	assert_string_equal(transport_lookup(&cfg, "x",
	    "a_b.xn--caf-dma.example", false)->via, "lmtp:127.0.0.1:2");
	assert_string_equal(transport_lookup(&cfg, "x",
	    "xn--caf-dma.example", false)->via, "smtp");
}

struct reports {
	char text[4096];
	int n;
};

static void
report(void *arg, const char *file, int line, const char *message)
{
	struct reports *r = arg;
	size_t len = strlen(r->text);
	const char *base = strrchr(file, '/');

	snprintf(r->text + len, sizeof(r->text) - len, "%s:%d: %s\n",
	    base ? base + 1 : file, line, message);
	r->n++;
}

static void
test_check_config(void **state)
{
	struct fixture *fx = *state;
	struct reports r = { .n = 0 };

	assert_int_equal(domains_check(fx->dir, &fx->cfg, report,
	    NULL, &r), 0);
	tu_put(fx->dir, "xn--bcher-kva.example/users", "otto:\n");
	tu_put(fx->dir, "Café.example/users", "x:\n");
	tu_put(fx->dir, "Upper.test/users", "x:\n");
	tu_put(fx->dir, "xn--zz.example/users", "x:\n");
	/* One that cannot be examined (a link loop) is named, not skipped. */
	{
		char loop[PATH_MAX + 32];

		snprintf(loop, sizeof(loop), "%s/loop.test", fx->dir);
		assert_int_equal(symlink("loop.test", loop), 0);
	}
	assert_int_equal(domains_check(fx->dir, &fx->cfg, report,
	    NULL, &r), 5);
	assert_non_null(strstr(r.text, "loop.test:0: cannot examine: Too many "
	    "levels of symbolic links"));
	assert_non_null(strstr(r.text, "folders bücher.example and "
	    "xn--bcher-kva.example are the same domain"));
	assert_non_null(strstr(r.text, "Café.example:0: folder name is not a "
	    "lower-case domain name: call it café.example or "
	    "xn--caf-dma.example"));
	assert_non_null(strstr(r.text, "Upper.test:0: folder name is not a "
	    "lower-case domain name: call it upper.test"));
	assert_non_null(strstr(r.text, "xn--zz.example:0: folder name is not "
	    "a valid domain name"));
}

/* The configured postmaster may live at an international domain, and an
 * alias may name it in the other spelling (routing, check-config); the
 * lookups find a domain in any ASCII case without libidn2, and no more
 * than before. */
static void
test_postmaster_either_spelling(void **state)
{
	struct fixture *fx = *state;
	struct reports rep = { .n = 0 };

	free(fx->cfg.postmaster);
	fx->cfg.postmaster = strdup("Chef@b\xc3\xbc" "cher.org");
	tu_put(fx->dir, "bücher.example/aliases",
	    "boss: chef@XN--BCHER-KVA.org\n"
	    "other: chef@bucher.org\n");
	route_fixture_refresh(fx);
	route_is(fx, "boss@bücher.example", ROUTE_LOCAL,
	    "chef@xn--bcher-kva.org");
	route_is(fx, "other@bücher.example", ROUTE_LOCAL, "chef@bucher.org");
	route_is(fx, "postmaster", ROUTE_LOCAL, "Chef@xn--bcher-kva.org");
	/* Both aliases forward (foreign targets are allowed now); with no
	 * srs group each gets a warning, through warn, not as an error. */
	assert_int_equal(domains_check(fx->dir, &fx->cfg, report,
	    report, &rep), 0);
	assert_int_equal(rep.n, 2);
	assert_non_null(strstr(rep.text, "aliases:1: warning: alias boss "
	    "forwards to foreign domains and no srs group is configured"));
	assert_non_null(strstr(rep.text, "aliases:2: warning: alias other "
	    "forwards to foreign domains"));
	assert_true(domains_same_address("\"chef\"@bücher.org",
	    "CHEF@xn--bcher-kva.ORG"));
	assert_false(domains_same_address("chef@bücher.org", "chef"));
	assert_false(domains_same_address("chef@bücher.org",
	    "chief@bücher.org"));
	/* Lookups: any ASCII case, junk never local. */
	assert_int_equal(domains_is_local(fx->d, "XN--BCHER-KVA.EXAMPLE"), 1);
	assert_int_equal(domains_is_local(fx->d, "xn--zz.example"), 0);
	assert_int_equal(domains_is_local(fx->d, "a_b.example"), 0);
	assert_int_equal(domains_is_local(fx->d, "[192.0.2.1]"), 0);
	assert_int_equal(domains_is_local(fx->d, "b\xc3\xbc" "cher.example."),
	    0);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, route_fixture_teardown)
	const struct CMUnitTest tests[] = {
		T(test_canon),
		T(test_canon_length_of_alabels),
		T(test_unicode_and_folders),
		T(test_route_both_spellings),
		T(test_route_remote_canonical),
		T(test_senders_either_form),
		T(test_transport_either_form),
		T(test_check_config),
		T(test_postmaster_either_spelling),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
