/*
 * Placeholder until the milter client is built (issue 11): every scan
 * fails, so the scanner's default_action applies.  Replaced wholesale.
 */
#include "scan/milter_client.h"

#include <event2/event.h>
#include <stdlib.h>

#include "common/xmalloc.h"

struct milter_client {
	struct event *ev;
	struct scan_result *res;
	scan_done_fn *done;
	void *arg;
};

static void
fire(evutil_socket_t fd, short what, void *p)
{
	struct milter_client *c = p;

	(void)fd;
	(void)what;
	scan_result_fail(c->res, "milter client not built");
	event_free(c->ev);
	c->done(c->arg, c->res);
	free(c);
}

struct milter_client *
milter_client_start(struct event_base *base, const struct milter_conf *mc,
    size_t max_body, const struct scan_message *msg, struct scan_result *res,
    scan_done_fn *done, void *arg)
{
	struct milter_client *c = xcalloc(1, sizeof(*c));

	(void)mc; (void)max_body;
	(void)msg;
	scan_result_init(res, "milter");
	c->res = res;
	c->done = done;
	c->arg = arg;
	c->ev = event_new(base, -1, 0, fire, c);
	event_active(c->ev, EV_TIMEOUT, 1);
	return c;
}

void
milter_client_cancel(struct milter_client *c)
{
	event_free(c->ev);
	free(c);
}
