/*
 * Unit tests for src/scan/scan_decide.c: every row of the decision
 * table, the order between them, the exempt mailboxes (spam flagged,
 * malware still refused), default_action, and replies that never name
 * a malware signature.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "scan/scan_decide.h"

#define N	4

static struct scan_result r[N];
static struct scan_vote v[N];
static struct scan_decision d;

static int
setup(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++) {
		scan_result_init(&r[i], i == 0 ? "s0" : i == 1 ? "s1" :
		    i == 2 ? "s2" : "s3");
		v[i].res = &r[i];
		v[i].on_failure = SCAN_FAIL_TEMPFAIL;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++)
		scan_result_clear(&r[i]);
	return 0;
}

static void
set(int i, enum scan_verdict verdict, enum scan_finding f)
{
	r[i].verdict = verdict;
	r[i].finding = f;
}

static void
test_all_accept(void **state)
{
	(void)state;
	scan_decide(v, N, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_ACCEPT);
	assert_null(d.by);
	scan_decide(v, 0, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_ACCEPT);
}

static void
test_malware_wins_and_is_not_named(void **state)
{
	(void)state;
	set(0, SCAN_REJECT, SCAN_FOUND_SPAM);
	set(1, SCAN_TEMPFAIL, SCAN_FOUND_NOTHING);
	set(2, SCAN_REJECT, SCAN_FOUND_MALWARE);
	snprintf(r[2].text, sizeof(r[2].text), "Virus Eicar-Test found");
	set(3, SCAN_FAILED, SCAN_FOUND_NOTHING);
	scan_decide(v, N, true, &d);	/* exempt: malware still refused */
	assert_int_equal(d.outcome, SCAN_OUT_REJECT);
	assert_int_equal(d.code, 554);
	assert_string_equal(d.enhanced, "5.7.1");
	assert_null(strstr(d.text, "Eicar"));
	assert_ptr_equal(d.by, &r[2]);
}

static void
test_spam_550_with_scanner_text(void **state)
{
	(void)state;
	set(1, SCAN_REJECT, SCAN_FOUND_SPAM);
	r[1].code = 554;
	snprintf(r[1].text, sizeof(r[1].text), "Gtube pattern");
	scan_decide(v, N, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_REJECT);
	assert_int_equal(d.code, 550);
	assert_string_equal(d.text, "Gtube pattern");
	set(1, SCAN_REJECT, SCAN_FOUND_SPAM);
	r[1].text[0] = '\0';
	scan_decide(v, N, false, &d);
	assert_string_equal(d.text, "Message refused as spam");
}

static void
test_exempt_spam_is_flagged(void **state)
{
	(void)state;
	set(0, SCAN_REJECT, SCAN_FOUND_SPAM);
	scan_decide(v, N, true, &d);
	assert_int_equal(d.outcome, SCAN_OUT_FLAG);
	set(0, SCAN_TEMPFAIL, SCAN_FOUND_SPAM);	/* soft reject, greylist */
	scan_decide(v, N, true, &d);
	assert_int_equal(d.outcome, SCAN_OUT_FLAG);
	scan_decide(v, N, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_TEMPFAIL);
	assert_int_equal(d.code, 451);
	assert_string_equal(d.enhanced, "4.7.1");
}

static void
test_other_kind_keeps_its_reply_also_for_exempt(void **state)
{
	(void)state;
	set(0, SCAN_REJECT, SCAN_FOUND_OTHER);
	r[0].code = 550;
	snprintf(r[0].enhanced, sizeof(r[0].enhanced), "5.7.1");
	snprintf(r[0].text, sizeof(r[0].text), "DMARC policy reject");
	set(1, SCAN_REJECT, SCAN_FOUND_SPAM);
	scan_decide(v, N, true, &d);
	assert_int_equal(d.outcome, SCAN_OUT_REJECT);
	assert_int_equal(d.code, 550);
	assert_string_equal(d.text, "DMARC policy reject");
	/* A REJECT without a code: 550 5.7.1 of our own. */
	r[0].code = 0;
	r[0].text[0] = '\0';
	scan_decide(v, N, false, &d);
	assert_int_equal(d.code, 550);
	assert_string_equal(d.text, "Message refused");
}

static void
test_failed_per_default_action(void **state)
{
	(void)state;
	set(3, SCAN_FAILED, SCAN_FOUND_NOTHING);
	scan_decide(v, N, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_TEMPFAIL);
	assert_int_equal(d.code, 451);
	assert_ptr_equal(d.by, &r[3]);
	v[3].on_failure = SCAN_FAIL_ACCEPT;
	scan_decide(v, N, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_ACCEPT);
	assert_int_equal(d.failed_accepted, 1);
	/* A scanner's own tempfail beats nothing, a failure beats it. */
	set(0, SCAN_TEMPFAIL, SCAN_FOUND_NOTHING);
	v[3].on_failure = SCAN_FAIL_TEMPFAIL;
	scan_decide(v, N, false, &d);
	assert_ptr_equal(d.by, &r[3]);
}

static void
test_discard_and_flag(void **state)
{
	(void)state;
	set(0, SCAN_FLAG, SCAN_FOUND_SPAM);
	scan_decide(v, N, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_FLAG);
	set(1, SCAN_DISCARD, SCAN_FOUND_NOTHING);
	scan_decide(v, N, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_DISCARD);
	set(2, SCAN_TEMPFAIL, SCAN_FOUND_NOTHING);
	scan_decide(v, N, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_TEMPFAIL);
}

static void
test_quarantine(void **state)
{
	(void)state;
	assert_true(scan_result_add_mod(&r[1], SCAN_MOD_QUARANTINE, 0, NULL,
	    "held for review", NULL));
	scan_decide(v, N, false, &d);
	assert_int_equal(d.outcome, SCAN_OUT_ACCEPT);
	assert_true(d.quarantine);
	assert_string_equal(d.quarantine_reason, "held for review");
}

static void
test_mod_limits_both_sides(void **state)
{
	(void)state;
	for (int i = 0; i < SCAN_MODS_MAX; i++)
		assert_true(scan_result_add_mod(&r[0], SCAN_MOD_ADD_HEADER, 0,
		    "X", "y", NULL));
	assert_false(scan_result_add_mod(&r[0], SCAN_MOD_ADD_HEADER, 0, "X",
	    "y", NULL));
	scan_result_clear(&r[0]);
	static char big[SCAN_MODS_BYTES_MAX];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';	/* with "X": exactly the limit */
	assert_true(scan_result_add_mod(&r[0], SCAN_MOD_ADD_HEADER, 0, "X",
	    big, NULL));
	assert_false(scan_result_add_mod(&r[0], SCAN_MOD_ADD_HEADER, 0, "X",
	    "", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_accept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malware_wins_and_is_not_named, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spam_550_with_scanner_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exempt_spam_is_flagged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_kind_keeps_its_reply_also_for_exempt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_per_default_action, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_and_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mod_limits_both_sides, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
