/*
 * Unit tests of the outbound connection keys of issue 8 (items 4 and
 * 14): a transport's tls = "verify" and tls_ca (a PEM file or a hashed
 * folder, read at load time), the login that implies verification, and
 * source_address in delivery and per transport: values, defaults, both
 * sides of every limit, and each error with the line it must name.
 * Each test writes its files into its own temporary folder.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "config_fixture.h"
#include "testutil.h"

/* Two self-signed certificates (100 years), hashes 992231ee, cb38c878. */
#define CERT_A \
	"-----BEGIN CERTIFICATE-----\n" \
	"MIIBmTCCAT+gAwIBAgIUFMjHPiJqlAQ95kXPsg2tfBwFyTYwCgYIKoZIzj0EAwIw\n" \
	"ITEfMB0GA1UEAwwWRGVjb3J1bSB1bml0IHRlc3QgQ0EgYTAgFw0yNjEyMDIwMTA0\n" \
	"MjBaGA8yMTI2MTEwODAxMDQyMFowITEfMB0GA1UEAwwWRGVjb3J1bSB1bml0IHRl\n" \
	"c3QgQ0EgYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFxDTreXObmjf4Wrxxjk\n" \
	"mJkg2EeubKhYumxhW1YN+b78cAeuoCH+dVFldPnvoh6fhR40/o2rk+ByShhG6QKe\n" \
	"9kijUzBRMB0GA1UdDgQWBBSs2ZfLCMpjwbPARxpf4KNIZFx/ITAfBgNVHSMEGDAW\n" \
	"gBSs2ZfLCMpjwbPARxpf4KNIZFx/ITAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n" \
	"BAMCA0gAMEUCIEGJ3ajWu8HbsEYFn+15h6JfRuUOyyoZZvmHhywkAfFyAiEA45pH\n" \
	"7KnP9IbGCSxWkPbEcI7NaN3u6dX43izStf++05I=\n" \
	"-----END CERTIFICATE-----\n"
#define CERT_B \
	"-----BEGIN CERTIFICATE-----\n" \
	"MIIBmDCCAT+gAwIBAgIUGpq0NNqZ5sFMdL5r87jIQhDo4GAwCgYIKoZIzj0EAwIw\n" \
	"ITEfMB0GA1UEAwwWRGVjb3J1bSB1bml0IHRlc3QgQ0EgYjAgFw0yNjEyMDIwMTA0\n" \
	"MjBaGA8yMTI2MTEwODAxMDQyMFowITEfMB0GA1UEAwwWRGVjb3J1bSB1bml0IHRl\n" \
	"c3QgQ0EgYjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABKUnIBUgfcv+JHv/LmTS\n" \
	"Ocss1iE7w3KIjvH4uquxLI4r4RQ1aQ7cOs7ZQ/ugOOLyAGnwwY+ib7bTlGK4Ev/2\n" \
	"1SKjUzBRMB0GA1UdDgQWBBQONDWFc1thGfrbbbXdu6t3e1cMcjAfBgNVHSMEGDAW\n" \
	"gBQONDWFc1thGfrbbbXdu6t3e1cMcjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n" \
	"BAMCA0cAMEQCIFn6iy3ORCrcfeIKepa7jZbG6Arn/UDQVLlm3OXJK2wNAiBvwLpD\n" \
	"vn/J+5FfMtifopqv6jRQTgC6qYgEjFMfqdt5bw==\n" \
	"-----END CERTIFICATE-----\n"

static int
setup(void **state)
{
	(void)state;
	return config_fixture_setup("/tmp/decorum-config8-XXXXXX");
}

/* Three lines: whatever a test appends starts on line 4. */
#define BASE \
	"hostname = \"mx.example.test\";\n" \
	"postmaster = \"admin@example.test\";\n" \
	"listen = ( { address = \"127.0.0.1:2525\"; } );\n"

static const struct transport_conf *
entry(const struct config *cfg, const char *match)
{
	for (size_t i = 0; i < cfg->n_transports; i++)
		if (strcmp(cfg->transports[i].match, match) == 0)
			return &cfg->transports[i];
	fail_msg("no transport with match \"%s\"", match);
	return NULL;
}

/* rel under the test's folder, written with text; returns the path. */
static const char *
put(const char *rel, const char *text)
{
	static char path[PATH_MAX + 64];

	tu_put(tmpdir, rel, text);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	return path;
}

static void
assert_v4(const struct sockaddr_in *a, const char *want)
{
	char got[INET_ADDRSTRLEN];

	assert_int_equal(a->sin_family, AF_INET);
	assert_int_equal(a->sin_port, 0);
	assert_non_null(inet_ntop(AF_INET, &a->sin_addr, got, sizeof(got)));
	assert_string_equal(got, want);
}

static void
assert_v6(const struct sockaddr_in6 *a, const char *want)
{
	char got[INET6_ADDRSTRLEN];

	assert_int_equal(a->sin6_family, AF_INET6);
	assert_int_equal(a->sin6_port, 0);
	assert_non_null(inet_ntop(AF_INET6, &a->sin6_addr, got, sizeof(got)));
	assert_string_equal(got, want);
}

/* -- tls = "verify" and what implies it ----------------------------------- */

static void
test_verify_mode(void **state)
{
	struct config cfg;
	const struct transport_conf *t;

	(void)state;
	put("relay.secret", "pw\n");
	load_ok(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"relay:[h.test]\"; tls = \"verify\"; },\n"
	    "  { match = \"b.test\"; via = \"smtp\"; tls = \"verify\"; },\n"
	    "  { match = \"c.test\"; via = \"lmtp:127.0.0.1:24\"; tls = \"verify\"; },\n"
	    "  { match = \"d.test\"; via = \"relay:h.test\"; tls = \"require\";\n"
	    "    auth_user = \"me\"; auth_password_file = \"relay.secret\"; },\n"
	    "  { match = \"e.test\"; via = \"relay:[h.test]\";\n"
	    "    auth_user = \"me\"; auth_password_file = \"relay.secret\"; },\n"
	    "  { match = \"f.test\"; via = \"relay:[h.test]\"; tls = \"require\"; }\n"
	    ");\n", &cfg);
	assert_int_equal(entry(&cfg, "a.test")->tls, TRANSPORT_TLS_VERIFY);
	assert_int_equal(entry(&cfg, "b.test")->tls, TRANSPORT_TLS_VERIFY);
	assert_int_equal(entry(&cfg, "c.test")->tls, TRANSPORT_TLS_VERIFY);
	/* A login implies verification, whatever tls says. */
	assert_int_equal(entry(&cfg, "d.test")->tls, TRANSPORT_TLS_VERIFY);
	assert_int_equal(entry(&cfg, "e.test")->tls, TRANSPORT_TLS_VERIFY);
	/* Without one, require stays require. */
	t = entry(&cfg, "f.test");
	assert_int_equal(t->tls, TRANSPORT_TLS_REQUIRE);
	/* No tls_ca: the system store. */
	assert_null(t->tls_ca);
	assert_null(t->tls_ca_pem);
	assert_null(entry(&cfg, "a.test")->tls_ca);
	config_free(&cfg);

	/* A unix socket has no name a certificate could show. */
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"lmtp:unix:/run/lmtp\";\n"
	    "    tls = \"verify\"; }\n"
	    ");\n", 5, "tls = \"verify\" needs a host name or address");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"maildir\";\n"
	    "    tls = \"verify\"; }\n"
	    ");\n", 6, "tls makes no sense with maildir");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\";\n"
	    "    tls = \"Verify\"; }\n"
	    ");\n", 6, "tls must be \"may\", \"require\" or \"verify\"");
}

/* -- tls_ca ---------------------------------------------------------------- */

static void
test_tls_ca_file(void **state)
{
	struct config cfg;
	const struct transport_conf *t;
	char text[2 * PATH_MAX], want[PATH_MAX + 64];
	const char *abs;

	(void)state;
	put("one.pem", CERT_A);
	put("two.pem", "comments before are fine\n" CERT_A "between\n" CERT_B);
	put("relay.secret", "pw\n");
	load_ok(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"relay:[h.test]\"; tls = \"verify\";\n"
	    "    tls_ca = \"one.pem\"; },\n"
	    "  { match = \"b.test\"; via = \"relay:[h.test]\";\n"
	    "    auth_user = \"me\"; auth_password_file = \"relay.secret\";\n"
	    "    tls_ca = \"two.pem\"; }\n"
	    ");\n", &cfg);
	t = entry(&cfg, "a.test");
	/* Relative to the config's folder, and read now (as root, in the
	 * master): the bytes are in the config. */
	snprintf(want, sizeof(want), "%s/one.pem", tmpdir);
	assert_string_equal(t->tls_ca, want);
	assert_non_null(t->tls_ca_pem);
	assert_non_null(strstr(t->tls_ca_pem, CERT_A));
	assert_int_equal(t->tls_ca_len, strlen(t->tls_ca_pem));
	t = entry(&cfg, "b.test");
	assert_int_equal(t->tls, TRANSPORT_TLS_VERIFY);
	assert_non_null(strstr(t->tls_ca_pem, CERT_B));
	config_free(&cfg);

	/* An absolute path, and a file without a final newline. */
	abs = put("noeol.pem", "-----BEGIN CERTIFICATE-----\n"
	    "MIIBmTCCAT+gAwIBAgIUFMjHPiJqlAQ95kXPsg2tfBwFyTYwCgYIKoZIzj0EAwIw\n"
	    "ITEfMB0GA1UEAwwWRGVjb3J1bSB1bml0IHRlc3QgQ0EgYTAgFw0yNjEyMDIwMTA0\n"
	    "MjBaGA8yMTI2MTEwODAxMDQyMFowITEfMB0GA1UEAwwWRGVjb3J1bSB1bml0IHRl\n"
	    "c3QgQ0EgYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFxDTreXObmjf4Wrxxjk\n"
	    "mJkg2EeubKhYumxhW1YN+b78cAeuoCH+dVFldPnvoh6fhR40/o2rk+ByShhG6QKe\n"
	    "9kijUzBRMB0GA1UdDgQWBBSs2ZfLCMpjwbPARxpf4KNIZFx/ITAfBgNVHSMEGDAW\n"
	    "gBSs2ZfLCMpjwbPARxpf4KNIZFx/ITAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49\n"
	    "BAMCA0gAMEUCIEGJ3ajWu8HbsEYFn+15h6JfRuUOyyoZZvmHhywkAfFyAiEA45pH\n"
	    "7KnP9IbGCSxWkPbEcI7NaN3u6dX43izStf++05I=\n"
	    "-----END CERTIFICATE-----");
	snprintf(text, sizeof(text), BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\"; tls = \"verify\";\n"
	    "    tls_ca = \"%s\"; }\n"
	    ");\n", abs);
	load_ok(text, &cfg);
	assert_string_equal(cfg.transports[0].tls_ca, abs);
	config_free(&cfg);
}

#define CA_ERR(ca) \
	BASE "transports = (\n" \
	"  { match = \"a.test\"; via = \"relay:[h.test]\"; tls = \"verify\";\n" \
	"    tls_ca = " ca "; }\n" \
	");\n"

static void
test_tls_ca_errors(void **state)
{
	char want[PATH_MAX + 128], *big;
	size_t n;

	(void)state;
	put("one.pem", CERT_A);
	/* Only where verification happens. */
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"relay:[h.test]\";\n"
	    "    tls_ca = \"one.pem\"; }\n"
	    ");\n", 6, "tls_ca is used only with tls = \"verify\"");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"relay:[h.test]\"; tls = \"require\";\n"
	    "    tls_ca = \"one.pem\"; }\n"
	    ");\n", 6, "tls_ca is used only with tls = \"verify\"");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"maildir\";\n"
	    "    tls_ca = \"one.pem\"; }\n"
	    ");\n", 6, "tls_ca is used only with tls = \"verify\"");
	/* Missing, named with its full path. */
	snprintf(want, sizeof(want), "transports[0].tls_ca: %s/missing.pem: "
	    "No such file or directory", tmpdir);
	expect_error(CA_ERR("\"missing.pem\""), 6, want);
	/* Not a string, empty. */
	expect_error(CA_ERR("1"), 6, "transports[0].tls_ca: must be a string");
	expect_error(CA_ERR("\"\""), 6, "must not be empty");
	/* Empty, text without certificates, a broken certificate. */
	put("empty.pem", "");
	expect_error(CA_ERR("\"empty.pem\""), 6, "no PEM certificate");
	put("text.pem", "just words\n");
	expect_error(CA_ERR("\"text.pem\""), 6, "no PEM certificate");
	put("key.pem", "-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n"
	    "-----END PRIVATE KEY-----\n");
	expect_error(CA_ERR("\"key.pem\""), 6, "no PEM certificate");
	put("broken.pem", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n"
	    "-----END CERTIFICATE-----\n");
	expect_error(CA_ERR("\"broken.pem\""), 6, "broken.pem: error:");
	/* A good certificate followed by a broken one is still broken. */
	put("half.pem", CERT_A "-----BEGIN CERTIFICATE-----\nbm90\n"
	    "-----END CERTIFICATE-----\n");
	expect_error(CA_ERR("\"half.pem\""), 6, "half.pem: error:");
	/* 4 MiB at most: the certificate padded with comments to exactly
	 * the limit loads (with the newline the reader adds after each
	 * file), one octet more does not. */
	n = 4 * 1024 * 1024;
	big = malloc(n + 2);
	assert_non_null(big);
	memset(big, '#', n + 1);
	memcpy(big, CERT_A, strlen(CERT_A));
	big[n] = '\0';
	put("max.pem", big);
	{
		struct config cfg;

		load_ok(CA_ERR("\"max.pem\""), &cfg);
		assert_int_equal(cfg.transports[0].tls_ca_len, n + 1);
		config_free(&cfg);
	}
	big[n] = '#';
	big[n + 1] = '\0';
	put("over.pem", big);
	free(big);
	expect_error(CA_ERR("\"over.pem\""), 6, "more than 4 MiB");
	/* A FIFO is refused, without hanging. */
	snprintf(want, sizeof(want), "%s/fifo.pem", tmpdir);
	assert_int_equal(mkfifo(want, 0600), 0);
	expect_error(CA_ERR("\"fifo.pem\""), 6, "not a regular file");
}

static void
test_tls_ca_folder(void **state)
{
	struct config cfg;
	const struct transport_conf *t;
	char link[PATH_MAX + 64];

	(void)state;
	/* Hashed names are read (a file and a symbolic link, as `openssl
	 * rehash` makes them); everything else is left alone, even if it
	 * is no certificate at all. */
	put("cas/a.pem", CERT_A);
	put("cas/cb38c878.0", CERT_B);
	snprintf(link, sizeof(link), "%s/cas/992231ee.0", tmpdir);
	assert_int_equal(symlink("a.pem", link), 0);
	put("cas/README", "not a certificate\n");
	put("cas/992231ee.r0", "a CRL would be here\n");
	put("cas/992231ee.pem", "not read either\n");
	put("cas/992231ee0", "nor this\n");
	load_ok(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\"; tls = \"verify\";\n"
	    "    tls_ca = \"cas\"; }\n"
	    ");\n", &cfg);
	t = entry(&cfg, "a.test");
	assert_non_null(strstr(t->tls_ca_pem, CERT_A));
	assert_non_null(strstr(t->tls_ca_pem, CERT_B));
	assert_null(strstr(t->tls_ca_pem, "not"));
	config_free(&cfg);

	/* A folder with no hashed name. */
	put("plain/a.pem", CERT_A);
	expect_error(CA_ERR("\"plain\""), 6, "plain: no certificate under "
	    "a hashed name");
	/* A hashed name that is a folder, or a broken certificate. */
	put("odd/README", "x");
	put("odd/992231ee.0/x", "x");
	expect_error(CA_ERR("\"odd\""), 6, "odd/992231ee.0: not a regular file");
	put("bad/992231ee.0", "-----BEGIN CERTIFICATE-----\nbm90\n"
	    "-----END CERTIFICATE-----\n");
	expect_error(CA_ERR("\"bad\""), 6, "bad: error:");
	/* A dangling link. */
	put("dangling/cb38c878.0", CERT_B);
	snprintf(link, sizeof(link), "%s/dangling/992231ee.0", tmpdir);
	assert_int_equal(symlink("gone.pem", link), 0);
	expect_error(CA_ERR("\"dangling\""), 6,
	    "dangling/992231ee.0: No such file or directory");
}

/* At most 1000 files: both sides of the limit. */
static void
test_tls_ca_folder_limit(void **state)
{
	struct config cfg;
	char name[64];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "many/%08x.0", i);
		put(name, CERT_A);
	}
	load_ok(CA_ERR("\"many\""), &cfg);
	config_free(&cfg);
	put("many/000003e8.0", CERT_A);
	expect_error(CA_ERR("\"many\""), 6, "more than 1000 certificate files");
}

/* -- source_address ------------------------------------------------------ */

static void
test_source_delivery(void **state)
{
	struct config cfg;

	(void)state;
	/* Unset by default: the kernel chooses. */
	load_ok(BASE, &cfg);
	assert_int_equal(cfg.out_source.v4.sin_family, 0);
	assert_int_equal(cfg.out_source.v6.sin6_family, 0);
	config_free(&cfg);

	load_ok(BASE "delivery = { source_address = \"192.0.2.10\"; };\n", &cfg);
	assert_v4(&cfg.out_source.v4, "192.0.2.10");
	assert_int_equal(cfg.out_source.v6.sin6_family, 0);
	config_free(&cfg);

	load_ok(BASE "delivery = { source_address = \"2001:DB8::10\"; };\n",
	    &cfg);
	assert_int_equal(cfg.out_source.v4.sin_family, 0);
	assert_v6(&cfg.out_source.v6, "2001:db8::10");
	config_free(&cfg);

	load_ok(BASE "delivery = { source_address = ( \"192.0.2.10\", "
	    "\"2001:db8::10\" ); };\n", &cfg);
	assert_v4(&cfg.out_source.v4, "192.0.2.10");
	assert_v6(&cfg.out_source.v6, "2001:db8::10");
	config_free(&cfg);

	/* Either order, list or array, one entry in a list. */
	load_ok(BASE "delivery = { source_address = [ \"::1\", "
	    "\"127.0.0.45\" ]; };\n", &cfg);
	assert_v4(&cfg.out_source.v4, "127.0.0.45");
	assert_v6(&cfg.out_source.v6, "::1");
	config_free(&cfg);
	load_ok(BASE "delivery = { source_address = ( \"127.0.0.45\" ); };\n",
	    &cfg);
	assert_v4(&cfg.out_source.v4, "127.0.0.45");
	assert_int_equal(cfg.out_source.v6.sin6_family, 0);
	config_free(&cfg);
}

#define SRC_ERR(v) \
	BASE "delivery = {\n" \
	"  smtp_port = 25;\n" \
	"  source_address = " v ";\n" \
	"};\n"

static void
test_source_errors(void **state)
{
	(void)state;
	/* Literals only: no names, no ports, no brackets, no prefixes. */
	expect_error(SRC_ERR("\"mx.example.test\""), 6,
	    "delivery.source_address: \"mx.example.test\" is not an IPv4 or "
	    "IPv6 address");
	expect_error(SRC_ERR("\"192.0.2.10:25\""), 6, "is not an IPv4 or IPv6");
	expect_error(SRC_ERR("\"[2001:db8::10]\""), 6, "is not an IPv4 or IPv6");
	expect_error(SRC_ERR("\"192.0.2.0/24\""), 6, "is not an IPv4 or IPv6");
	expect_error(SRC_ERR("\"192.0.2.256\""), 6, "is not an IPv4 or IPv6");
	expect_error(SRC_ERR("\" 192.0.2.10\""), 6, "is not an IPv4 or IPv6");
	expect_error(SRC_ERR("\"\""), 6,
	    "delivery.source_address: must not be empty");
	/* Addresses no connection can come from. */
	expect_error(SRC_ERR("\"0.0.0.0\""), 6, "is the unspecified address");
	expect_error(SRC_ERR("\"::\""), 6, "is the unspecified address");
	expect_error(SRC_ERR("\"224.0.0.1\""), 6, "is a multicast address");
	expect_error(SRC_ERR("\"239.255.255.255\""), 6, "multicast");
	expect_error(SRC_ERR("\"ff02::1\""), 6, "is a multicast address");
	expect_error(SRC_ERR("\"255.255.255.255\""), 6,
	    "is the broadcast address");
	expect_error(SRC_ERR("\"::ffff:192.0.2.10\""), 6,
	    "is an IPv4-mapped address");
	expect_error(SRC_ERR("\"fe80::1\""), 6, "is a link-local address");
	/* The edges next to them are fine. */
	{
		struct config cfg;

		load_ok(SRC_ERR("( \"223.255.255.255\", \"fec0::1\" )"), &cfg);
		assert_v4(&cfg.out_source.v4, "223.255.255.255");
		config_free(&cfg);
		load_ok(SRC_ERR("( \"240.0.0.1\", \"fe7f::1\" )"), &cfg);
		assert_v4(&cfg.out_source.v4, "240.0.0.1");
		assert_v6(&cfg.out_source.v6, "fe7f::1");
		config_free(&cfg);
	}
	expect_error(SRC_ERR("\"febf::1\""), 6, "is a link-local address");
	/* One per family, two at most. */
	expect_error(SRC_ERR("( \"192.0.2.10\", \"192.0.2.11\" )"), 6,
	    "delivery.source_address[1]: \"192.0.2.11\" is a second IPv4");
	expect_error(SRC_ERR("( \"::1\", \"2001:db8::1\" )"), 6,
	    "\"2001:db8::1\" is a second IPv6");
	expect_error(SRC_ERR("( \"192.0.2.10\", \"::1\", \"::2\" )"), 6,
	    "must be an address, or a list of one IPv4 and one IPv6");
	expect_error(SRC_ERR("( )"), 6, "must be an address, or a list");
	/* Wrong types. */
	expect_error(SRC_ERR("1"), 6, "must be an address, or a list");
	expect_error(SRC_ERR("{ v4 = \"192.0.2.10\"; }"), 6,
	    "must be an address, or a list");
	expect_error(SRC_ERR("( 1 )"), 6,
	    "delivery.source_address[0]: must be a string");
	/* A list element on its own line is named by that line. */
	expect_error(BASE "delivery = {\n  source_address = (\n"
	    "    \"192.0.2.10\",\n    \"bad\"\n  );\n};\n", 7,
	    "\"bad\" is not an IPv4 or IPv6 address");
}

static void
test_source_transport(void **state)
{
	struct config cfg;
	const struct transport_conf *t;

	(void)state;
	load_ok(BASE "delivery = { source_address = \"192.0.2.10\"; };\n"
	    "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\";\n"
	    "    source_address = \"192.0.2.20\"; },\n"
	    "  { match = \"b.test\"; via = \"relay:[h.test]\";\n"
	    "    source_address = ( \"2001:db8::20\", \"192.0.2.21\" ); },\n"
	    "  { match = \"c.test\"; via = \"lmtp:127.0.0.1:24\";\n"
	    "    source_address = \"127.0.0.2\"; },\n"
	    "  { match = \"d.test\"; via = \"relay:[h.test]\"; }\n"
	    ");\n", &cfg);
	assert_v4(&cfg.out_source.v4, "192.0.2.10");
	t = entry(&cfg, "a.test");
	assert_v4(&t->source.v4, "192.0.2.20");
	assert_int_equal(t->source.v6.sin6_family, 0);
	t = entry(&cfg, "b.test");
	assert_v4(&t->source.v4, "192.0.2.21");
	assert_v6(&t->source.v6, "2001:db8::20");
	assert_v4(&entry(&cfg, "c.test")->source.v4, "127.0.0.2");
	/* Unset here: delivery.source_address applies when connecting. */
	t = entry(&cfg, "d.test");
	assert_int_equal(t->source.v4.sin_family, 0);
	assert_int_equal(t->source.v6.sin6_family, 0);
	config_free(&cfg);

	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"maildir\";\n"
	    "    source_address = \"192.0.2.20\"; }\n"
	    ");\n", 6, "source_address needs a TCP transport");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"lmtp:unix:/run/lmtp\";\n"
	    "    source_address = \"192.0.2.20\"; }\n"
	    ");\n", 6, "source_address needs a TCP transport");
	expect_error(BASE "transports = (\n"
	    "  { match = \"a.test\"; via = \"smtp\";\n"
	    "    source_address = \"h.test\"; }\n"
	    ");\n", 6, "transports[0].source_address: \"h.test\" is not an "
	    "IPv4 or IPv6 address");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verify_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_ca_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_ca_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_ca_folder, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_ca_folder_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_source_delivery, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_source_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_source_transport, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
