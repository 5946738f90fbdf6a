/*
 * Unit tests for src/scan/scan_headers.c: each change on a real header
 * section, in order, folded fields kept whole, names without regard to
 * case, the documented edge cases (change of a missing field adds it,
 * insert past the end appends) and the field limit on both sides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "scan/scan_headers.h"

#define SECTION \
	"Received: from a\r\n\tby b; Wed, 2 Dec 2026\r\n" \
	"From: alice@example.org\r\n" \
	"Subject: hello\r\n" \
	"X-Tag: one\r\n" \
	"x-tag: two\r\n"

static struct scan_result res;
static struct buf out;

static int
setup(void **state)
{
	(void)state;
	scan_result_init(&res, "test");
	buf_init(&out, 1 << 20);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	scan_result_clear(&res);
	buf_free(&out);
	return 0;
}

static const char *
apply(const char *in)
{
	buf_reset(&out);
	assert_int_equal(scan_headers_apply(in, strlen(in), res.mods, &out), 0);
	return out.data != NULL ? out.data : "";
}

static void
mod(enum scan_mod_type t, uint32_t index, const char *name, const char *value)
{
	assert_true(scan_result_add_mod(&res, t, index, name, value, NULL));
}

static void
test_nothing_changes_nothing(void **state)
{
	(void)state;
	assert_string_equal(apply(SECTION), SECTION);
	mod(SCAN_MOD_ADD_RCPT, 0, NULL, NULL);	/* not a header change */
	assert_string_equal(apply(SECTION), SECTION);
}

static void
test_add_and_insert(void **state)
{
	(void)state;
	mod(SCAN_MOD_ADD_HEADER, 0, "X-Spam", "Yes");
	mod(SCAN_MOD_INSERT_HEADER, 0, "Authentication-Results",
	    "mx; spf=pass\n\tsmtp.mailfrom=example.org");
	mod(SCAN_MOD_INSERT_HEADER, 999, "X-Last", " leading space kept");
	assert_string_equal(apply(SECTION),
	    "Authentication-Results: mx; spf=pass\r\n\tsmtp.mailfrom=example.org\r\n"
	    SECTION "X-Spam: Yes\r\nX-Last: leading space kept\r\n");
}

static void
test_insert_counts_folded_fields_once(void **state)
{
	(void)state;
	mod(SCAN_MOD_INSERT_HEADER, 1, "X-Second", "2");
	assert_string_equal(apply(SECTION),
	    "Received: from a\r\n\tby b; Wed, 2 Dec 2026\r\nX-Second: 2\r\n"
	    "From: alice@example.org\r\nSubject: hello\r\nX-Tag: one\r\n"
	    "x-tag: two\r\n");
}

static void
test_change_by_index_any_case(void **state)
{
	(void)state;
	mod(SCAN_MOD_CHANGE_HEADER, 2, "X-TAG", "deux");
	mod(SCAN_MOD_CHANGE_HEADER, 1, "subject", "*** SPAM *** hello");
	assert_string_equal(apply(SECTION),
	    "Received: from a\r\n\tby b; Wed, 2 Dec 2026\r\n"
	    "From: alice@example.org\r\nsubject: *** SPAM *** hello\r\n"
	    "X-Tag: one\r\nX-TAG: deux\r\n");
}

static void
test_change_empty_deletes_missing_adds(void **state)
{
	(void)state;
	mod(SCAN_MOD_CHANGE_HEADER, 1, "Received", "");
	mod(SCAN_MOD_CHANGE_HEADER, 3, "X-Tag", "");	/* no third: nothing */
	mod(SCAN_MOD_CHANGE_HEADER, 1, "X-New", "added");
	assert_string_equal(apply(SECTION),
	    "From: alice@example.org\r\nSubject: hello\r\nX-Tag: one\r\n"
	    "x-tag: two\r\nX-New: added\r\n");
}

static void
test_remove_all_and_prefix_names(void **state)
{
	(void)state;
	mod(SCAN_MOD_REMOVE_HEADER, 0, "x-tag", NULL);
	mod(SCAN_MOD_REMOVE_HEADER, 0, "From", NULL);
	/* "Subjec" is not "Subject"; white space before ':' is. */
	mod(SCAN_MOD_REMOVE_HEADER, 0, "Subjec", NULL);
	assert_string_equal(apply(SECTION "From : obsolete\r\n"),
	    "Received: from a\r\n\tby b; Wed, 2 Dec 2026\r\nSubject: hello\r\n");
}

static void
test_in_order(void **state)
{
	(void)state;
	mod(SCAN_MOD_ADD_HEADER, 0, "X-A", "1");
	mod(SCAN_MOD_CHANGE_HEADER, 1, "X-A", "2");
	mod(SCAN_MOD_REMOVE_HEADER, 0, "Subject", NULL);
	mod(SCAN_MOD_ADD_HEADER, 0, "Subject", "new");
	assert_string_equal(apply("Subject: old\r\n"), "X-A: 2\r\nSubject: new\r\n");
}

static void
test_empty_and_odd_sections(void **state)
{
	(void)state;
	assert_string_equal(apply(""), "");
	/* A continuation at the very top and a last line without CRLF are
	 * kept as they are. */
	assert_string_equal(apply("\tstray\r\nA: b"), "\tstray\r\nA: b");
	mod(SCAN_MOD_ADD_HEADER, 0, "X", "y");
	assert_string_equal(apply(""), "X: y\r\n");
}

static void
test_field_limit_both_sides(void **state)
{
	size_t n = SCAN_HEADER_FIELDS_MAX - 1;
	char *in = malloc(n * 6 + 1), *p = in;

	(void)state;
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "A: b\r\n");
	mod(SCAN_MOD_ADD_HEADER, 0, "X", "1");
	buf_reset(&out);
	assert_int_equal(scan_headers_apply(in, strlen(in), res.mods, &out), 0);
	mod(SCAN_MOD_ADD_HEADER, 0, "X", "2");
	buf_reset(&out);
	assert_int_equal(scan_headers_apply(in, strlen(in), res.mods, &out), -1);
	free(in);
}

static void
test_output_limit(void **state)
{
	struct buf small;

	(void)state;
	buf_init(&small, 8);
	assert_int_equal(scan_headers_apply(SECTION, strlen(SECTION), NULL,
	    &small), -1);
	buf_free(&small);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nothing_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_and_insert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_counts_folded_fields_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_by_index_any_case, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_empty_deletes_missing_adds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_all_and_prefix_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_odd_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_field_limit_both_sides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_limit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
