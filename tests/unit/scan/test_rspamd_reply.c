/*
 * Unit tests for src/scan/rspamd_reply.c: rspamd 3.4's real /checkv2
 * replies (../shared/TEST-PEERS-SCANNERS.md), every action, the milter
 * headers in each form rspamd writes them, and every limit on both
 * sides (size, depth, symbols, headers, names, values, subject).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scan/rspamd_reply.h"

static struct rspamd_result *res;

static int
setup(void **state)
{
	(void)state;
	res = malloc(sizeof(*res));
	return res == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	free(res);
	return 0;
}

static enum rspamd_error
parse(const char *json)
{
	return rspamd_reply_parse(json, strlen(json), res);
}

/* A reply with action "no action" and the given extra members. */
static enum rspamd_error
parse_with(const char *extra)
{
	char buf[8192];

	snprintf(buf, sizeof(buf), "{\"action\":\"no action\",\"score\":1,"
	    "\"required_score\":15%s}", extra);
	return parse(buf);
}

static void
test_gtube(void **state)
{
	(void)state;
	assert_int_equal(parse("{\"is_skipped\":true,\"score\":15.0,"
	    "\"required_score\":15.0,\"action\":\"reject\",\"symbols\":"
	    "{\"GTUBE\":{\"name\":\"GTUBE\",\"score\":0.0,\"metric_score\":0.0}},"
	    "\"messages\":{\"smtp_message\":\"Gtube pattern\"},"
	    "\"message-id\":\"gtube1@example.org\",\"time_real\":0.076308}"),
	    RSPAMD_OK);
	assert_int_equal(res->action, RSPAMD_REJECT);
	assert_true(res->score == 15.0);
	assert_true(res->required_score == 15.0);
	assert_int_equal(res->n_symbols, 1);
	assert_int_equal(res->symbols_total, 1);
	assert_string_equal(res->symbols[0], "GTUBE");
	assert_string_equal(res->message, "Gtube pattern");
	assert_int_equal(res->n_add, 0);
	assert_string_equal(res->subject, "");
}

static void
test_actions(void **state)
{
	static const struct {
		const char *name;
		enum rspamd_action a;
	} v[] = {
		{ "no action", RSPAMD_NO_ACTION },
		{ "greylist", RSPAMD_GREYLIST },
		{ "add header", RSPAMD_ADD_HEADER },
		{ "rewrite subject", RSPAMD_REWRITE_SUBJECT },
		{ "soft reject", RSPAMD_SOFT_REJECT },
		{ "reject", RSPAMD_REJECT },
	};
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(buf, sizeof(buf), "{\"action\":\"%s\",\"score\":-2,"
		    "\"required_score\":15}", v[i].name);
		assert_int_equal(parse(buf), RSPAMD_OK);
		assert_int_equal(res->action, v[i].a);
		assert_true(res->score == -2.0);
		assert_string_equal(rspamd_action_name(v[i].a), v[i].name);
	}
	/* Worse verdicts compare larger. */
	assert_true(RSPAMD_REJECT > RSPAMD_SOFT_REJECT);
	assert_true(RSPAMD_SOFT_REJECT > RSPAMD_ADD_HEADER);
	assert_int_equal(parse("{\"action\":\"discard\",\"score\":1,"
	    "\"required_score\":1}"), RSPAMD_EACTION);
	assert_int_equal(parse("{\"action\":\"Reject\",\"score\":1,"
	    "\"required_score\":1}"), RSPAMD_EACTION);
	assert_int_equal(parse("{\"action\":\"reject\\u0000\",\"score\":1,"
	    "\"required_score\":1}"), RSPAMD_EACTION);
	assert_int_equal(parse("{\"action\":5,\"score\":1,"
	    "\"required_score\":1}"), RSPAMD_EACTION);
	assert_int_equal(parse("{\"score\":1,\"required_score\":1}"),
	    RSPAMD_EACTION);
}

static void
test_scores(void **state)
{
	(void)state;
	assert_int_equal(parse("{\"action\":\"reject\",\"required_score\":1}"),
	    RSPAMD_ESCORE);
	assert_int_equal(parse("{\"action\":\"reject\",\"score\":1}"),
	    RSPAMD_ESCORE);
	assert_int_equal(parse("{\"action\":\"reject\",\"score\":\"15\","
	    "\"required_score\":1}"), RSPAMD_ESCORE);
	assert_int_equal(parse("{\"action\":\"reject\",\"score\":1e999,"
	    "\"required_score\":1}"), RSPAMD_ESCORE);
	assert_int_equal(parse("{\"action\":\"reject\",\"score\":null,"
	    "\"required_score\":1}"), RSPAMD_ESCORE);
}

static void
test_not_json(void **state)
{
	(void)state;
	assert_int_equal(parse(""), RSPAMD_EJSON);
	assert_int_equal(parse("pong\r\n"), RSPAMD_EJSON);
	assert_int_equal(parse("[1,2]"), RSPAMD_EJSON);
	assert_int_equal(parse("\"reject\""), RSPAMD_EJSON);
	assert_int_equal(parse("{\"action\":\"reject\""), RSPAMD_EJSON);
	/* One object, then more: refused; white space after it: fine. */
	assert_int_equal(parse_with("}{"), RSPAMD_EJSON);
	assert_int_equal(parse("{\"action\":\"reject\",\"score\":1,"
	    "\"required_score\":1} x"), RSPAMD_EJSON);
	assert_int_equal(parse("{\"action\":\"reject\",\"score\":1,"
	    "\"required_score\":1}\r\n "), RSPAMD_OK);
	assert_int_equal(rspamd_reply_parse(NULL, 0, res), RSPAMD_EJSON);
	/* rspamd's own error object. */
	assert_int_equal(parse("{\"error\":\"cannot parse\\ninput\"}"),
	    RSPAMD_ESERVER);
	assert_string_equal(res->message, "cannot parse?input");
}

/* Nesting of depth levels inside the root object, in an ignored member. */
static enum rspamd_error
parse_depth(int levels)
{
	char buf[256] = "{\"action\":\"reject\",\"score\":1,\"required_score\":1,"
	    "\"x\":";
	size_t n = strlen(buf);

	for (int i = 0; i < levels; i++)
		buf[n++] = '[';
	for (int i = 0; i < levels; i++)
		buf[n++] = ']';
	buf[n++] = '}';
	buf[n] = '\0';
	return parse(buf);
}

static void
test_limits_size_depth(void **state)
{
	size_t max = RSPAMD_REPLY_MAX;
	char *big = malloc(max + 2);
	const char *obj = "{\"action\":\"reject\",\"score\":1,\"required_score\":1}";

	(void)state;
	assert_non_null(big);
	/* The root object is one level. */
	assert_int_equal(parse_depth(RSPAMD_DEPTH_MAX - 1), RSPAMD_OK);
	assert_int_equal(parse_depth(RSPAMD_DEPTH_MAX), RSPAMD_EJSON);
	/* Exactly RSPAMD_REPLY_MAX octets (padded with spaces), and one more. */
	memset(big, ' ', max + 1);
	memcpy(big, obj, strlen(obj));
	assert_int_equal(rspamd_reply_parse(big, max, res), RSPAMD_OK);
	assert_int_equal(rspamd_reply_parse(big, max + 1, res), RSPAMD_ETOOBIG);
	free(big);
}

static void
test_symbols(void **state)
{
	char extra[8192] = ",\"symbols\":{";
	size_t n = strlen(extra);
	char name[RSPAMD_SYMBOL_MAX + 2];

	(void)state;
	for (int i = 0; i < RSPAMD_SYMBOLS_MAX; i++)
		n += (size_t)snprintf(extra + n, sizeof(extra) - n,
		    "%s\"S%d\":{\"score\":1}", i ? "," : "", i);
	strcpy(extra + n, "}");
	assert_int_equal(parse_with(extra), RSPAMD_OK);
	assert_int_equal(res->n_symbols, RSPAMD_SYMBOLS_MAX);
	assert_int_equal(res->symbols_total, RSPAMD_SYMBOLS_MAX);
	/* One more: counted, not kept. */
	snprintf(extra + n, sizeof(extra) - n, ",\"LAST\":{}}");
	assert_int_equal(parse_with(extra), RSPAMD_OK);
	assert_int_equal(res->n_symbols, RSPAMD_SYMBOLS_MAX);
	assert_int_equal(res->symbols_total, RSPAMD_SYMBOLS_MAX + 1);
	/* A name of RSPAMD_SYMBOL_MAX octets, one more (cut), controls. */
	memset(name, 'N', RSPAMD_SYMBOL_MAX);
	name[RSPAMD_SYMBOL_MAX] = '\0';
	snprintf(extra, sizeof(extra), ",\"symbols\":{\"%s\":{}}", name);
	assert_int_equal(parse_with(extra), RSPAMD_OK);
	assert_string_equal(res->symbols[0], name);
	snprintf(extra, sizeof(extra), ",\"symbols\":{\"%sX\":{}}", name);
	assert_int_equal(parse_with(extra), RSPAMD_OK);
	assert_string_equal(res->symbols[0], name);
	assert_int_equal(parse_with(",\"symbols\":{\"A\\u001bB\\u00e9\":{}}"),
	    RSPAMD_OK);
	assert_string_equal(res->symbols[0], "A?B??");
}

static void
test_add_headers(void **state)
{
	(void)state;
	/* Each form rspamd writes: a string, {value, order}, an array. */
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"X-Spam\":\"Yes\","
	    "\"X-Spamd-Result\":{\"value\":\"default: False [6.00 / 15.00];\\r\\n"
	    "\\tGTUBE(6.00)\",\"order\":0},"
	    "\"X-Rspamd-Tag\":[{\"value\":\"a\",\"order\":1},\"b\"]},"
	    "\"remove_headers\":{\"X-Spam\":1,\"X-Spamd-Bar\":0}}"), RSPAMD_OK);
	assert_int_equal(res->n_add, 4);
	assert_string_equal(res->add[0].name, "X-Spam");
	assert_string_equal(res->add[0].value, "Yes");
	assert_string_equal(res->add[1].name, "X-Spamd-Result");
	assert_string_equal(res->add[1].value,
	    "default: False [6.00 / 15.00];\n\tGTUBE(6.00)");
	assert_string_equal(res->add[2].value, "a");
	assert_string_equal(res->add[3].name, "X-Rspamd-Tag");
	assert_string_equal(res->add[3].value, "b");
	assert_int_equal(res->n_remove, 2);
	assert_string_equal(res->remove[0], "X-Spam");
	assert_string_equal(res->remove[1], "X-Spamd-Bar");
}

static void
test_bad_headers(void **state)
{
	(void)state;
	/* Forged fields, controls, NULs, bad names, wrong types. */
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"X-A\":\"1\\r\\nBcc: victim@example.org\"}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"X-A\":\"1\\r\"}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"X-A\":\"1\\u0000\"}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"X-A\":\"\\u0007\"}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"X A\":\"1\"}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"X:A\":\"1\"}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"\":\"1\"}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"X-A\":1}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":{"
	    "\"X-A\":{\"order\":1}}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"add_headers\":[]}"),
	    RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"remove_headers\":{"
	    "\"X A\":1}}"), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":{\"remove_headers\":1}"),
	    RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"milter\":\"x\""), RSPAMD_EHEADER);
}

/* n headers named H0.. added (or removed) in one reply. */
static enum rspamd_error
parse_n_headers(const char *member, int n)
{
	char extra[4096];
	size_t o;

	o = (size_t)snprintf(extra, sizeof(extra), ",\"milter\":{\"%s\":{",
	    member);
	for (int i = 0; i < n; i++)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o,
		    "%s\"H%d\":\"v\"", i ? "," : "", i);
	snprintf(extra + o, sizeof(extra) - o, "}}");
	return parse_with(extra);
}

static void
test_header_limits(void **state)
{
	char *extra = malloc(RSPAMD_HDR_VALUE_MAX + 512);
	char name[RSPAMD_HDR_NAME_MAX + 2];
	char value[RSPAMD_HDR_VALUE_MAX + 2];

	(void)state;
	assert_non_null(extra);
	assert_int_equal(parse_n_headers("add_headers", RSPAMD_HEADERS_MAX),
	    RSPAMD_OK);
	assert_int_equal(res->n_add, RSPAMD_HEADERS_MAX);
	assert_int_equal(parse_n_headers("add_headers", RSPAMD_HEADERS_MAX + 1),
	    RSPAMD_ETOOMANY);
	assert_int_equal(parse_n_headers("remove_headers", RSPAMD_HEADERS_MAX),
	    RSPAMD_OK);
	assert_int_equal(res->n_remove, RSPAMD_HEADERS_MAX);
	assert_int_equal(parse_n_headers("remove_headers",
	    RSPAMD_HEADERS_MAX + 1), RSPAMD_ETOOMANY);
	/* Name and value at their limits, and one octet over. */
	memset(name, 'N', RSPAMD_HDR_NAME_MAX);
	name[RSPAMD_HDR_NAME_MAX] = '\0';
	memset(value, 'v', RSPAMD_HDR_VALUE_MAX);
	value[RSPAMD_HDR_VALUE_MAX] = '\0';
	sprintf(extra, ",\"milter\":{\"add_headers\":{\"%s\":\"%s\"}}", name,
	    value);
	assert_int_equal(parse_with(extra), RSPAMD_OK);
	assert_int_equal(strlen(res->add[0].name), RSPAMD_HDR_NAME_MAX);
	assert_int_equal(strlen(res->add[0].value), RSPAMD_HDR_VALUE_MAX);
	sprintf(extra, ",\"milter\":{\"add_headers\":{\"%sN\":\"v\"}}", name);
	assert_int_equal(parse_with(extra), RSPAMD_EHEADER);
	sprintf(extra, ",\"milter\":{\"remove_headers\":{\"%sN\":1}}", name);
	assert_int_equal(parse_with(extra), RSPAMD_EHEADER);
	sprintf(extra, ",\"milter\":{\"add_headers\":{\"X\":\"%sv\"}}", value);
	assert_int_equal(parse_with(extra), RSPAMD_EHEADER);
	free(extra);
}

static void
test_subject(void **state)
{
	char extra[RSPAMD_SUBJECT_MAX + 64];
	char subject[RSPAMD_SUBJECT_MAX + 2];

	(void)state;
	assert_int_equal(parse("{\"action\":\"rewrite subject\",\"score\":7,"
	    "\"required_score\":15,\"subject\":\"*** SPAM *** hello\"}"),
	    RSPAMD_OK);
	assert_int_equal(res->action, RSPAMD_REWRITE_SUBJECT);
	assert_string_equal(res->subject, "*** SPAM *** hello");
	memset(subject, 's', RSPAMD_SUBJECT_MAX);
	subject[RSPAMD_SUBJECT_MAX] = '\0';
	snprintf(extra, sizeof(extra), ",\"subject\":\"%s\"", subject);
	assert_int_equal(parse_with(extra), RSPAMD_OK);
	assert_int_equal(strlen(res->subject), RSPAMD_SUBJECT_MAX);
	snprintf(extra, sizeof(extra), ",\"subject\":\"%ss\"", subject);
	assert_int_equal(parse_with(extra), RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"subject\":\"a\\r\\nBcc: x\""),
	    RSPAMD_EHEADER);
	assert_int_equal(parse_with(",\"subject\":\"a\\u0000b\""),
	    RSPAMD_EHEADER);
}

static void
test_message(void **state)
{
	char extra[RSPAMD_MESSAGE_MAX + 64];
	char msg[RSPAMD_MESSAGE_MAX + 2];

	(void)state;
	memset(msg, 'm', RSPAMD_MESSAGE_MAX + 1);
	msg[RSPAMD_MESSAGE_MAX + 1] = '\0';
	snprintf(extra, sizeof(extra),
	    ",\"messages\":{\"smtp_message\":\"%s\"}", msg);
	assert_int_equal(parse_with(extra), RSPAMD_OK);
	assert_int_equal(strlen(res->message), RSPAMD_MESSAGE_MAX);
	assert_int_equal(parse_with(",\"messages\":{\"smtp_message\":"
	    "\"a\\r\\n550 b\"}"), RSPAMD_OK);
	assert_string_equal(res->message, "a??550 b");
	assert_string_equal(rspamd_strerror(RSPAMD_ETOOMANY),
	    "reply has too many headers");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gtube),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_scores),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_limits_size_depth),
		cmocka_unit_test(test_symbols),
		cmocka_unit_test(test_add_headers),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_header_limits),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_message),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
