/*
 * Placeholder until the clamd client is built (issue 11): every scan
 * fails, so the scanner's default_action applies.  Replaced wholesale.
 */
#include "scan/clamd_client.h"

#include <event2/event.h>
#include <stdlib.h>

#include "common/xmalloc.h"

struct clamd_client {
	struct event *ev;
	struct scan_result *res;
	scan_done_fn *done;
	void *arg;
};

static void
fire(evutil_socket_t fd, short what, void *p)
{
	struct clamd_client *c = p;

	(void)fd;
	(void)what;
	scan_result_fail(c->res, "clamd client not built");
	event_free(c->ev);
	c->done(c->arg, c->res);
	free(c);
}

struct clamd_client *
clamd_client_start(struct event_base *base, const struct clamd_conf *cc,
    const struct scan_message *msg, struct scan_result *res,
    scan_done_fn *done, void *arg)
{
	struct clamd_client *c = xcalloc(1, sizeof(*c));

	(void)cc;
	(void)msg;
	scan_result_init(res, "clamd");
	c->res = res;
	c->done = done;
	c->arg = arg;
	c->ev = event_new(base, -1, 0, fire, c);
	event_active(c->ev, EV_TIMEOUT, 1);
	return c;
}

void
clamd_client_cancel(struct clamd_client *c)
{
	event_free(c->ev);
	free(c);
}
