/*
 * The greylist's rules (store.h), in one pure place both backends call,
 * so SQLite and Redis decide alike and the rules are unit-tested at
 * every edge (tests/unit/greylist).
 *
 * BCP, "greylisting done right", and the usual practice (Postgrey,
 * RFC 6647 2.2 and 6): a new triplet waits `delay`; a retry from then
 * until `retry_window` after the first try passes, and the triplet
 * passes without waiting for `lifetime` after its last use; a retry
 * after the window starts the wait again.  A network with `auto_allow`
 * passed triplets (or allowed by the operator) passes whole, until
 * `lifetime` after its last use.
 *
 * Edges, all inclusive: a retry at first + delay passes, one at
 * first + retry_window still passes, one a second later waits again; a
 * passed triplet used at last + lifetime still passes, a second later
 * it is new.  An early retry does not move `first` (the client cannot
 * push its own deadline away by retrying often).
 *
 * Pure: no I/O, no clock (now is given).  Trusts the record to be what
 * the backend stored; a clock that went back (now < first) is "too
 * early", never a pass.
 */
#include "greylist/store.h"

#include <limits.h>

/* Start the wait: the try at now is the first. */
static enum greylist_answer
restart(struct greylist_record *r, time_t now, const struct greylist_params *p,
    time_t *retry_at)
{
	r->first = now;
	r->last = now;
	r->passed = false;
	*retry_at = now + (time_t)p->delay;
	return GREYLIST_DEFER;
}

enum greylist_answer
greylist_decide(struct greylist_record *r, time_t now,
    const struct greylist_params *p, time_t *retry_at, bool *newly_passed)
{
	*newly_passed = false;
	*retry_at = 0;
	if (r->first == 0)
		return restart(r, now, p, retry_at);
	if (r->passed) {
		if (now > r->last + (time_t)p->lifetime)
			return restart(r, now, p, retry_at);
		r->last = now;
		return GREYLIST_PASS;
	}
	if (now > r->first + (time_t)p->retry_window)
		return restart(r, now, p, retry_at);
	r->last = now;
	if (now < r->first + (time_t)p->delay) {
		*retry_at = r->first + (time_t)p->delay;
		return GREYLIST_DEFER;
	}
	r->passed = true;
	*newly_passed = true;
	return GREYLIST_PASS;
}

bool
greylist_net_allows(const struct greylist_net_record *n, time_t now)
{
	return n->allowed && now <= n->until;
}

void
greylist_net_use(struct greylist_net_record *n, time_t now,
    const struct greylist_params *p)
{
	n->until = now + (time_t)p->lifetime;
}

void
greylist_net_pass(struct greylist_net_record *n, time_t now,
    const struct greylist_params *p)
{
	/* An expired entry counts from zero: its passes are old news. */
	if (n->until != 0 && now > n->until) {
		n->passes = 0;
		n->allowed = false;
	}
	if (n->passes < UINT_MAX)
		n->passes++;
	if (p->auto_allow != 0 && n->passes >= p->auto_allow)
		n->allowed = true;
	n->until = now + (time_t)p->lifetime;
}

void
greylist_net_allow(struct greylist_net_record *n, time_t now,
    const struct greylist_params *p)
{
	n->allowed = true;
	n->until = now + (time_t)p->lifetime;
}

bool
greylist_record_expired(const struct greylist_record *r, time_t now,
    const struct greylist_params *p)
{
	if (r->passed)
		return now > r->last + (time_t)p->lifetime;
	return now > r->first + (time_t)p->retry_window;
}
