/*
 * Sharing the outbound connection slots between destinations when
 * delivery.max_connections is full: the line of destinations that want
 * a connection, the list of idle connections, and line_grant(), which
 * hands the free slots out.  Called by outbound.c (dest_kick() puts a
 * destination in line and grants; the sweep prunes the line) and by
 * outbound_slot.c (a connection that ended a message or has nothing to
 * do asks line_others_waiting(); one that gave its slot up sends its
 * destination to the back of the line; idle ones join and leave the
 * idle list).  Bookkeeping on the loop only: no I/O and no event of its
 * own; line_grant() starts slots (slot_start) and closes idle
 * connections (slot_free).
 *
 * Invariants: a destination is in the line at most once (d->in_line),
 * a slot on the idle list at most once (s->idle); both lists are
 * sys/queue.h tail queues linked through their members, so joining and
 * leaving cost no memory.
 */
#include "queue/outbound_priv.h"

#include <stddef.h>

#include "deliver/smtp_client.h"

/*
 * The total limit (delivery.max_connections) is shared by turns: a
 * destination that wants another connection queues up in ob's line, and
 * each free slot goes to the first in line, which goes to the back if it
 * wants more (round robin).  A connection that ends a message gives its
 * slot up, instead of taking its destination's next, when someone in line
 * has a better claim to it: no connection at all, or two fewer than its
 * destination has (so shares settle within one of each other, and then
 * connections are reused rather than churned); an idle connection gives
 * its slot up to anyone in line.  So one destination with a backlog, or a
 * slow one, cannot hold every slot while mail for others waits.  Without
 * contention a connection carries up to delivery.connection_reuse_limit
 * messages of its destination.
 */

void
line_push(struct outbound *ob, struct dest *d)
{
	if (d->in_line)
		return;
	d->in_line = true;
	TAILQ_INSERT_TAIL(&ob->line, d, line_entry);
}

void
line_remove(struct outbound *ob, struct dest *d)
{
	if (!d->in_line)
		return;
	TAILQ_REMOVE(&ob->line, d, line_entry);
	d->in_line = false;
}

/* The first in line that still wants a slot (the others leave it). */
static struct dest *
line_first(struct outbound *ob)
{
	struct dest *d;

	while ((d = TAILQ_FIRST(&ob->line)) != NULL && !dest_wants_slot(d))
		line_remove(ob, d);
	return d;
}

/* Drops every destination that no longer wants a slot, so the sweep
 * can free them. */
void
line_prune(struct outbound *ob)
{
	struct dest *d = TAILQ_FIRST(&ob->line), *next;

	for (; d != NULL; d = next) {
		next = TAILQ_NEXT(d, line_entry);
		if (!dest_wants_slot(d))
			line_remove(ob, d);
	}
}

/*
 * The total limit is reached and a destination other than d waits for a
 * slot; with fair set, only one with a better claim than d (none, or at
 * least two fewer connections than d has).
 */
bool
line_others_waiting(struct outbound *ob, const struct dest *d, bool fair)
{
	if (ob->n_slots < ob->cfg->out_max_connections)
		return false;
	for (struct dest *e = line_first(ob); e != NULL;
	    e = TAILQ_NEXT(e, line_entry))
		if (e != d && dest_wants_slot(e) && (!fair || e->n_slots == 0 ||
		    e->n_slots + 1 < d->n_slots))
			return true;
	return false;
}

void
idle_add(struct outbound *ob, struct conn_slot *s)
{
	if (s->idle)
		return;
	s->idle = true;
	TAILQ_INSERT_TAIL(&ob->idle, s, idle_entry);
}

void
idle_del(struct outbound *ob, struct conn_slot *s)
{
	if (!s->idle)
		return;
	TAILQ_REMOVE(&ob->idle, s, idle_entry);
	s->idle = false;
}

/*
 * Free slots go to the destinations in line, in turn: one each, and
 * back to the end of the line for one that wants more.  At the total
 * limit, the longest-idle connection gives its slot up for the first
 * in line; with none idle, the line waits for a slot to end.
 */
void
line_grant(struct outbound *ob)
{
	struct conn_slot *idle;
	struct dest *d;

	while ((d = line_first(ob)) != NULL) {
		if (ob->n_slots >= ob->cfg->out_max_connections) {
			if ((idle = TAILQ_FIRST(&ob->idle)) == NULL)
				return;
			/* An idle slot belongs to a destination with no
			 * waiting job: closing it starts nothing there. */
			smtp_conn_close(idle->conn);
			idle->conn = NULL;
			slot_free(idle);
			continue;
		}
		line_remove(ob, d);
		slot_start(ob, d);
		if (dest_wants_slot(d))
			line_push(ob, d);
	}
}
