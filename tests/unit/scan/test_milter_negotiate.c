/*
 * Unit tests for src/scan/milter_negotiate.c: the OPTNEG replies of
 * rspamd 3.4 and clamav-milter 1.4.6 (../shared/TEST-PEERS-SCANNERS.md)
 * give the steps and replies those milters expect; a milter asking for
 * what we did not offer is refused; replies allowed per step.
 */
#include "scan_fixture.h"

static struct milter_agreed a;

static struct milter_reply
optneg(uint32_t version, uint32_t actions, uint32_t proto)
{
	struct milter_reply r;

	memset(&r, 0, sizeof(r));
	r.type = MILTER_R_OPTNEG;
	r.version = version;
	r.actions = actions;
	r.proto = proto;
	return r;
}

static enum milter_neg
neg(uint32_t version, uint32_t actions, uint32_t proto)
{
	struct milter_reply r = optneg(version, actions, proto);

	return milter_negotiate(MILTER_F_ALL, MILTER_P_OFFER, &r, &a);
}

/* rspamd forces every NR bit: it answers only at end of body. */
static void
test_rspamd(void **state)
{
	(void)state;
	assert_int_equal(neg(6, 0x1ff, 0xff080), MILTER_NEG_OK);
	for (int s = MILTER_STEP_CONNECT; s <= MILTER_STEP_EOB; s++)
		assert_true(milter_step_sent(&a, s));
	for (int s = MILTER_STEP_CONNECT; s < MILTER_STEP_EOB; s++)
		assert_false(milter_step_replied(&a, s));
	assert_true(milter_step_replied(&a, MILTER_STEP_EOB));
	assert_true(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_REPLYCODE));
	assert_true(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_ADDHEADER));
	/* Nothing may answer a step that gets no reply. */
	assert_false(milter_reply_allowed(&a, MILTER_STEP_RCPT,
	    MILTER_R_CONTINUE));
}

/* clamav-milter skips HELO, EOH, DATA (and UNKNOWN), answers the rest. */
static void
test_clamav(void **state)
{
	(void)state;
	assert_int_equal(neg(6, 0x31, 0x342), MILTER_NEG_OK);
	assert_false(milter_step_sent(&a, MILTER_STEP_HELO));
	assert_false(milter_step_sent(&a, MILTER_STEP_EOH));
	assert_false(milter_step_sent(&a, MILTER_STEP_DATA));
	assert_false(milter_step_replied(&a, MILTER_STEP_HELO));
	for (int s = MILTER_STEP_CONNECT; s <= MILTER_STEP_EOB; s++)
		if (s != MILTER_STEP_HELO && s != MILTER_STEP_EOH &&
		    s != MILTER_STEP_DATA) {
			assert_true(milter_step_sent(&a, s));
			assert_true(milter_step_replied(&a, s));
		}
	/* It may add and change headers and quarantine, nothing else. */
	assert_true(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_ADDHEADER));
	assert_true(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_INSHEADER));
	assert_true(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_CHGHEADER));
	assert_true(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_QUARANTINE));
	assert_false(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_ADDRCPT));
	assert_false(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_REPLBODY));
	assert_false(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_CHGFROM));
	assert_false(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_DELRCPT));
	/* Modifications only at the end of the body. */
	assert_false(milter_reply_allowed(&a, MILTER_STEP_RCPT,
	    MILTER_R_ADDHEADER));
	assert_true(milter_reply_allowed(&a, MILTER_STEP_RCPT,
	    MILTER_R_REPLYCODE));
	assert_true(milter_reply_allowed(&a, MILTER_STEP_RCPT,
	    MILTER_R_PROGRESS));
}

static void
test_version(void **state)
{
	(void)state;
	assert_int_equal(neg(MILTER_VERSION_MIN - 1, 0, 0), MILTER_NEG_VERSION);
	assert_int_equal(neg(MILTER_VERSION_MIN, 0, 0), MILTER_NEG_OK);
	assert_int_equal(a.version, 2);
	assert_int_equal(neg(MILTER_VERSION, 0, 0), MILTER_NEG_OK);
	assert_int_equal(neg(MILTER_VERSION + 1, 0, 0), MILTER_NEG_VERSION);
	{
		struct milter_reply r = optneg(6, 0, 0);

		r.type = MILTER_R_ACCEPT;
		assert_int_equal(milter_negotiate(MILTER_F_ALL, MILTER_P_OFFER,
		    &r, &a), MILTER_NEG_VERSION);
	}
	assert_string_equal(milter_neg_strerror(MILTER_NEG_VERSION),
	    "milter protocol version not supported");
}

/* As Postfix: what was not offered is refused, never obeyed quietly. */
static void
test_not_offered(void **state)
{
	struct milter_reply r;

	(void)state;
	assert_int_equal(neg(6, MILTER_F_ALL, 0), MILTER_NEG_OK);
	assert_int_equal(neg(6, 0x200, 0), MILTER_NEG_ACTIONS);
	assert_int_equal(neg(6, 0, MILTER_P_OFFER), MILTER_NEG_OK);
	assert_int_equal(neg(6, 0, MILTER_P_RCPT_REJ), MILTER_NEG_PROTO);
	assert_int_equal(neg(6, 0, 0x200000), MILTER_NEG_PROTO);
	/* The size bits only say the milter could take more: ignored. */
	assert_int_equal(neg(6, 0, MILTER_P_MDS_256K | MILTER_P_MDS_1M |
	    MILTER_P_NR_BODY), MILTER_NEG_OK);
	assert_int_equal(a.proto, MILTER_P_NR_BODY);
	/* A narrower offer: the milter's wish beyond it is refused. */
	r = optneg(6, MILTER_F_ADDHDRS | MILTER_F_CHGHDRS, 0xff080);
	assert_int_equal(milter_negotiate(MILTER_F_ADDHDRS, 0xff080, &r, &a),
	    MILTER_NEG_ACTIONS);
	r = optneg(6, MILTER_F_ADDHDRS, 0xff080);
	assert_int_equal(milter_negotiate(MILTER_F_ADDHDRS, 0xff000, &r, &a),
	    MILTER_NEG_PROTO);
	assert_int_equal(milter_negotiate(MILTER_F_ADDHDRS, 0xff080, &r, &a),
	    MILTER_NEG_OK);
}

static void
test_skip(void **state)
{
	struct milter_reply r = optneg(6, 0, 0);

	(void)state;
	/* Offered: a filter may skip the rest of the body, only there. */
	assert_int_equal(milter_negotiate(0, MILTER_P_OFFER, &r, &a),
	    MILTER_NEG_OK);
	assert_true(milter_reply_allowed(&a, MILTER_STEP_BODY, MILTER_R_SKIP));
	assert_false(milter_reply_allowed(&a, MILTER_STEP_HEADER,
	    MILTER_R_SKIP));
	assert_false(milter_reply_allowed(&a, MILTER_STEP_EOB, MILTER_R_SKIP));
	assert_int_equal(milter_negotiate(0, MILTER_P_OFFER & ~MILTER_P_SKIP,
	    &r, &a), MILTER_NEG_OK);
	assert_false(milter_reply_allowed(&a, MILTER_STEP_BODY, MILTER_R_SKIP));
	/* Never a second negotiation. */
	assert_false(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_OPTNEG));
	assert_false(milter_reply_allowed(&a, MILTER_STEP_EOB,
	    MILTER_R_SETSYMLIST));
}

static void
test_symlists(void **state)
{
	struct milter_reply r = optneg(6, MILTER_F_SETSYMLIST, 0);
	char full[MILTER_SYMLIST_MAX + 1];

	(void)state;
	memset(full, 'm', MILTER_SYMLIST_MAX);
	full[MILTER_SYMLIST_MAX] = '\0';
	r.symlist[MILTER_STAGE_MAIL] = "{mail_addr} i";
	r.symlist[MILTER_STAGE_EOH] = full;
	assert_int_equal(milter_negotiate(MILTER_F_ALL, MILTER_P_OFFER, &r, &a),
	    MILTER_NEG_OK);
	assert_true(a.has_symlist[MILTER_STAGE_MAIL]);
	assert_string_equal(a.symlist[MILTER_STAGE_MAIL], "{mail_addr} i");
	assert_true(a.has_symlist[MILTER_STAGE_EOH]);
	assert_string_equal(a.symlist[MILTER_STAGE_EOH], full);
	assert_false(a.has_symlist[MILTER_STAGE_CONNECT]);
	assert_string_equal(a.symlist[MILTER_STAGE_CONNECT], "");
}

static void
test_stage_cmd(void **state)
{
	(void)state;
	assert_int_equal(milter_stage_cmd(MILTER_STAGE_CONNECT), 'C');
	assert_int_equal(milter_stage_cmd(MILTER_STAGE_HELO), 'H');
	assert_int_equal(milter_stage_cmd(MILTER_STAGE_MAIL), 'M');
	assert_int_equal(milter_stage_cmd(MILTER_STAGE_RCPT), 'R');
	assert_int_equal(milter_stage_cmd(MILTER_STAGE_DATA), 'T');
	assert_int_equal(milter_stage_cmd(MILTER_STAGE_EOM), 'E');
	assert_int_equal(milter_stage_cmd(MILTER_STAGE_EOH), 'N');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rspamd),
		cmocka_unit_test(test_clamav),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_not_offered),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_symlists),
		cmocka_unit_test(test_stage_cmd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
