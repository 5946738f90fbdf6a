/*
 * The milter option negotiation (milter_proto.h): what the milter's
 * OPTNEG reply lets us send, which replies to wait for, and which
 * replies it may give at each step.  Trusts the reply's fields to be
 * decoded (milter_decode.c) but not their meaning: a milter asking for
 * what we did not offer is refused here, before the first SMTP step.
 */
#include "scan/milter_proto.h"

#include <string.h>

/* The NO (skip the step) and NR (no reply to it) bit of each step. */
static const struct {
	uint32_t no, nr;
} step_bits[] = {
	[MILTER_STEP_CONNECT] = { MILTER_P_NOCONNECT, MILTER_P_NR_CONN },
	[MILTER_STEP_HELO] = { MILTER_P_NOHELO, MILTER_P_NR_HELO },
	[MILTER_STEP_MAIL] = { MILTER_P_NOMAIL, MILTER_P_NR_MAIL },
	[MILTER_STEP_RCPT] = { MILTER_P_NORCPT, MILTER_P_NR_RCPT },
	[MILTER_STEP_DATA] = { MILTER_P_NODATA, MILTER_P_NR_DATA },
	[MILTER_STEP_HEADER] = { MILTER_P_NOHDRS, MILTER_P_NR_HDR },
	[MILTER_STEP_EOH] = { MILTER_P_NOEOH, MILTER_P_NR_EOH },
	[MILTER_STEP_BODY] = { MILTER_P_NOBODY, MILTER_P_NR_BODY },
	[MILTER_STEP_EOB] = { 0, 0 },	/* always sent, always answered */
};

enum milter_neg
milter_negotiate(uint32_t our_actions, uint32_t our_proto,
    const struct milter_reply *optneg, struct milter_agreed *out)
{
	uint32_t proto;

	memset(out, 0, sizeof(*out));
	if (optneg->type != MILTER_R_OPTNEG)
		return MILTER_NEG_VERSION;
	if (optneg->version < MILTER_VERSION_MIN ||
	    optneg->version > MILTER_VERSION)
		return MILTER_NEG_VERSION;
	if ((optneg->actions & ~our_actions) != 0)
		return MILTER_NEG_ACTIONS;
	proto = optneg->proto & ~(MILTER_P_MDS_256K | MILTER_P_MDS_1M);
	if ((proto & ~our_proto) != 0)
		return MILTER_NEG_PROTO;
	out->version = optneg->version;
	out->actions = optneg->actions;
	out->proto = proto;
	out->offered = our_proto;
	for (size_t i = 0; i < MILTER_STAGE_COUNT; i++) {
		const char *l = optneg->symlist[i];
		size_t len;

		/* The decoder bounded it to MILTER_SYMLIST_MAX. */
		if (l != NULL && (len = strlen(l)) <= MILTER_SYMLIST_MAX) {
			out->has_symlist[i] = true;
			memcpy(out->symlist[i], l, len + 1);
		}
	}
	return MILTER_NEG_OK;
}

const char *
milter_neg_strerror(enum milter_neg n)
{
	switch (n) {
	case MILTER_NEG_OK:
		return "agreed";
	case MILTER_NEG_VERSION:
		return "milter protocol version not supported";
	case MILTER_NEG_ACTIONS:
		return "milter asks for actions not offered";
	case MILTER_NEG_PROTO:
		return "milter asks for protocol options not offered";
	}
	return "unknown negotiation result";
}

static bool
step_ok(enum milter_step s)
{
	return (size_t)s < sizeof(step_bits) / sizeof(step_bits[0]);
}

bool
milter_step_sent(const struct milter_agreed *a, enum milter_step s)
{
	return step_ok(s) && (a->proto & step_bits[s].no) == 0;
}

bool
milter_step_replied(const struct milter_agreed *a, enum milter_step s)
{
	return milter_step_sent(a, s) && (a->proto & step_bits[s].nr) == 0;
}

/* The action a modification needs (libmilter: smfi_insheader needs
 * ADDHDRS, smfi_chgheader CHGHDRS); 0 for a reply that is no change. */
static uint32_t
action_of(enum milter_reply_type t)
{
	switch (t) {
	case MILTER_R_ADDHEADER:
	case MILTER_R_INSHEADER:
		return MILTER_F_ADDHDRS;
	case MILTER_R_CHGHEADER:
		return MILTER_F_CHGHDRS;
	case MILTER_R_REPLBODY:
		return MILTER_F_CHGBODY;
	case MILTER_R_ADDRCPT:
		return MILTER_F_ADDRCPT;
	case MILTER_R_ADDRCPT_PAR:
		return MILTER_F_ADDRCPT_PAR;
	case MILTER_R_DELRCPT:
		return MILTER_F_DELRCPT;
	case MILTER_R_CHGFROM:
		return MILTER_F_CHGFROM;
	case MILTER_R_QUARANTINE:
		return MILTER_F_QUARANTINE;
	default:
		return 0;
	}
}

bool
milter_reply_allowed(const struct milter_agreed *a, enum milter_step s,
    enum milter_reply_type t)
{
	uint32_t need;

	if (!milter_step_replied(a, s))
		return false;
	switch (t) {
	case MILTER_R_ACCEPT:
	case MILTER_R_CONTINUE:
	case MILTER_R_REJECT:
	case MILTER_R_TEMPFAIL:
	case MILTER_R_DISCARD:
	case MILTER_R_REPLYCODE:
	case MILTER_R_PROGRESS:
		return true;
	case MILTER_R_SKIP:
		return s == MILTER_STEP_BODY && (a->offered & MILTER_P_SKIP) != 0;
	case MILTER_R_OPTNEG:
	case MILTER_R_SETSYMLIST:
		return false;
	default:
		need = action_of(t);
		return need != 0 && s == MILTER_STEP_EOB &&
		    (a->actions & need) != 0;
	}
}

enum milter_cmd
milter_stage_cmd(enum milter_stage stage)
{
	static const enum milter_cmd cmd[MILTER_STAGE_COUNT] = {
		[MILTER_STAGE_CONNECT] = MILTER_C_CONNECT,
		[MILTER_STAGE_HELO] = MILTER_C_HELO,
		[MILTER_STAGE_MAIL] = MILTER_C_MAIL,
		[MILTER_STAGE_RCPT] = MILTER_C_RCPT,
		[MILTER_STAGE_DATA] = MILTER_C_DATA,
		[MILTER_STAGE_EOM] = MILTER_C_EOB,
		[MILTER_STAGE_EOH] = MILTER_C_EOH,
	};

	return (size_t)stage < MILTER_STAGE_COUNT ? cmd[stage] : MILTER_C_EOB;
}
