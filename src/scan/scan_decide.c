/*
 * The decision (scan_decide.h): each vote ranked, the most severe kept.
 */
#include "scan/scan_decide.h"

#include <stdio.h>
#include <string.h>

/* Ranks, from the least to the most severe. */
enum rank {
	RANK_ACCEPT,
	RANK_FLAG,
	RANK_DISCARD,
	RANK_TEMPFAIL,
	RANK_FAILED,		/* a tempfail we chose, not the scanner */
	RANK_SPAM,
	RANK_OTHER,
	RANK_MALWARE,
};

static enum rank
rank_of(const struct scan_vote *v, bool exempt)
{
	const struct scan_result *r = v->res;
	bool spam = r->finding == SCAN_FOUND_SPAM;

	switch (r->verdict) {
	case SCAN_ACCEPT:
		return RANK_ACCEPT;
	case SCAN_FLAG:
		return RANK_FLAG;
	case SCAN_DISCARD:
		return RANK_DISCARD;
	case SCAN_TEMPFAIL:
		return spam && exempt ? RANK_FLAG : RANK_TEMPFAIL;
	case SCAN_FAILED:
		return v->on_failure == SCAN_FAIL_ACCEPT ? RANK_ACCEPT
		    : RANK_FAILED;
	case SCAN_REJECT:
		if (r->finding == SCAN_FOUND_MALWARE)
			return RANK_MALWARE;
		if (spam)
			return exempt ? RANK_FLAG : RANK_SPAM;
		return RANK_OTHER;
	}
	return RANK_FAILED;
}

/* The scanner's own text when it gave one, else ours. */
static void
reply(struct scan_decision *d, const struct scan_result *r, int code,
    const char *enhanced, const char *fallback)
{
	d->code = code;
	snprintf(d->enhanced, sizeof(d->enhanced), "%s", enhanced);
	snprintf(d->text, sizeof(d->text), "%s",
	    r != NULL && r->text[0] != '\0' ? r->text : fallback);
}

static void
outcome(struct scan_decision *d, enum rank k, const struct scan_result *r)
{
	switch (k) {
	case RANK_ACCEPT:
		d->outcome = SCAN_OUT_ACCEPT;
		break;
	case RANK_FLAG:
		d->outcome = SCAN_OUT_FLAG;
		break;
	case RANK_DISCARD:
		d->outcome = SCAN_OUT_DISCARD;
		break;
	case RANK_TEMPFAIL:
		d->outcome = SCAN_OUT_TEMPFAIL;
		reply(d, r, 451, "4.7.1", "Message deferred by content "
		    "filter, try again later");
		break;
	case RANK_FAILED:
		d->outcome = SCAN_OUT_TEMPFAIL;
		reply(d, NULL, 451, "4.7.1", "Content scanner unavailable, "
		    "try again later");
		break;
	case RANK_SPAM:
		d->outcome = SCAN_OUT_REJECT;
		reply(d, r, 550, "5.7.1", "Message refused as spam");
		break;
	case RANK_OTHER:
		d->outcome = SCAN_OUT_REJECT;
		if (r->code >= 500 && r->code <= 599) {
			reply(d, r, r->code, r->enhanced[0] != '\0' ?
			    r->enhanced : "5.7.1", "Message refused");
		} else {
			reply(d, r, 550, "5.7.1", "Message refused");
		}
		break;
	case RANK_MALWARE:
		d->outcome = SCAN_OUT_REJECT;
		reply(d, NULL, 554, "5.7.1", "Message refused: malware "
		    "found");
		break;
	}
}

void
scan_decide(const struct scan_vote *votes, size_t n, bool exempt,
    struct scan_decision *out)
{
	enum rank worst = RANK_ACCEPT;
	const struct scan_result *by = NULL;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const struct scan_result *r = votes[i].res;
		enum rank k = rank_of(&votes[i], exempt);

		if (r->verdict == SCAN_FAILED &&
		    votes[i].on_failure == SCAN_FAIL_ACCEPT)
			out->failed_accepted++;
		if (k > worst) {
			worst = k;
			by = r;
		}
		for (const struct scan_mod *m = r->mods; m != NULL; m = m->next) {
			if (m->type == SCAN_MOD_QUARANTINE && !out->quarantine) {
				out->quarantine = true;
				snprintf(out->quarantine_reason,
				    sizeof(out->quarantine_reason), "%s",
				    m->value != NULL ? m->value : "");
			}
		}
	}
	out->by = by;
	outcome(out, worst, by);
}
