/*
 * What a milter's reply means for the scan result (milter_client.h):
 * the negotiation, the verdicts, and the changes asked at the end of the
 * body, each checked against what was agreed before it is kept.
 *
 * Trusts the decoder (milter_decode.c) to have bounded and checked every
 * field; trusts nothing about when the milter sends what.
 */
#include "scan/milter_client_int.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

static enum scan_finding
finding_of(enum scan_kind k)
{
	switch (k) {
	case SCAN_KIND_MALWARE: return SCAN_FOUND_MALWARE;
	case SCAN_KIND_OTHER: return SCAN_FOUND_OTHER;
	case SCAN_KIND_SPAM: break;
	}
	return SCAN_FOUND_SPAM;
}

static void
verdict(struct milter_client *c, enum scan_verdict v)
{
	c->res->verdict = v;
	c->eob_replied = c->wstep == MILTER_STEP_EOB;
	if (v == SCAN_REJECT || v == SCAN_TEMPFAIL)
		c->res->finding = finding_of(c->mc->kind);
	c->phase = MCL_OVER;
}

static void
replycode(struct milter_client *c, const struct smtp_client_reply *rp)
{
	struct scan_result *res = c->res;
	size_t len;

	res->code = rp->code;
	snprintf(res->enhanced, sizeof(res->enhanced), "%s", rp->enhanced);
	/* Cut to our limit; the decoder already made it safe ('\n'
	 * between lines, controls as '?'). */
	len = strnlen(rp->text, sizeof(res->text) - 1);
	memcpy(res->text, rp->text, len);
	res->text[len] = '\0';
	verdict(c, rp->code < 500 ? SCAN_TEMPFAIL : SCAN_REJECT);
}

static void
optneg(struct milter_client *c, const struct milter_reply *r)
{
	enum milter_neg n;

	if (r->type != MILTER_R_OPTNEG) {
		mcl_fail(c, "%s: reply '%c' instead of the option negotiation",
		    c->mc->ep.address, (char)r->type);
		return;
	}
	n = milter_negotiate(MILTER_F_ALL, MILTER_P_OFFER, r, &c->agreed);
	if (n != MILTER_NEG_OK) {
		mcl_fail(c, "%s: %s (version %u, actions 0x%x, protocol 0x%x)",
		    c->mc->ep.address, milter_neg_strerror(n),
		    (unsigned)r->version, (unsigned)r->actions,
		    (unsigned)r->proto);
		return;
	}
	c->waiting = false;
	c->phase = MCL_CONNECT;
}

static void
new_body(struct milter_client *c, const struct milter_reply *r)
{
	struct scan_result *res = c->res;

	if (res->body == NULL)
		res->body = evbuffer_new();
	if (r->len > c->max_body - evbuffer_get_length(res->body)) {
		mcl_fail(c, "%s: replaced body over %zu octets",
		    c->mc->ep.address, c->max_body);
		return;
	}
	evbuffer_add(res->body, r->data, r->len);
}

/* A change asked at the end of the body, as a scan_mod. */
static void
change(struct milter_client *c, const struct milter_reply *r)
{
	struct scan_result *res = c->res;
	bool ok = true;

	switch (r->type) {
	case MILTER_R_ADDHEADER:
		ok = scan_result_add_mod(res, SCAN_MOD_ADD_HEADER, 0, r->name,
		    r->value, NULL);
		break;
	case MILTER_R_INSHEADER:
		ok = scan_result_add_mod(res, SCAN_MOD_INSERT_HEADER, r->index,
		    r->name, r->value, NULL);
		break;
	case MILTER_R_CHGHEADER:
		ok = scan_result_add_mod(res, SCAN_MOD_CHANGE_HEADER, r->index,
		    r->name, r->value, NULL);
		break;
	case MILTER_R_ADDRCPT:
	case MILTER_R_ADDRCPT_PAR:
		ok = scan_result_add_mod(res, SCAN_MOD_ADD_RCPT, 0, NULL, NULL,
		    r->path.addr);
		break;
	case MILTER_R_DELRCPT:
		ok = scan_result_add_mod(res, SCAN_MOD_DEL_RCPT, 0, NULL, NULL,
		    r->path.addr);
		break;
	case MILTER_R_CHGFROM:
		ok = scan_result_add_mod(res, SCAN_MOD_CHANGE_FROM, 0, NULL,
		    NULL, r->path.null ? "" : r->path.addr);
		break;
	case MILTER_R_QUARANTINE:
		ok = scan_result_add_mod(res, SCAN_MOD_QUARANTINE, 0, NULL,
		    r->reason, NULL);
		break;
	case MILTER_R_REPLBODY:
		new_body(c, r);
		break;
	default:
		break;
	}
	if (!ok)
		mcl_fail(c, "%s: more than %d changes or %d octets of them",
		    c->mc->ep.address, SCAN_MODS_MAX, SCAN_MODS_BYTES_MAX);
}

void
mcl_reply(struct milter_client *c, const struct milter_reply *r)
{
	if (!c->waiting) {
		mcl_fail(c, "%s: reply '%c' when none was awaited",
		    c->mc->ep.address, (char)r->type);
		return;
	}
	if (c->phase == MCL_OPTNEG) {
		optneg(c, r);
		return;
	}
	if (!milter_reply_allowed(&c->agreed, c->wstep, r->type)) {
		mcl_fail(c, "%s: reply '%c' not allowed after %s",
		    c->mc->ep.address, (char)r->type, mcl_doing(c));
		return;
	}
	switch (r->type) {
	case MILTER_R_PROGRESS:
		mcl_arm(c, c->wait_secs);
		return;
	case MILTER_R_CONTINUE:
		c->waiting = false;
		if (c->wstep == MILTER_STEP_EOB)
			verdict(c, SCAN_ACCEPT);
		return;
	case MILTER_R_SKIP:
		c->waiting = false;
		c->body_off = c->msg->size;
		return;
	case MILTER_R_ACCEPT:
		verdict(c, SCAN_ACCEPT);
		return;
	case MILTER_R_REJECT:
		verdict(c, SCAN_REJECT);
		return;
	case MILTER_R_TEMPFAIL:
		verdict(c, SCAN_TEMPFAIL);
		return;
	case MILTER_R_DISCARD:
		verdict(c, SCAN_DISCARD);
		return;
	case MILTER_R_REPLYCODE:
		replycode(c, &r->reply);
		return;
	default:
		change(c, r);
		return;
	}
}
