/*
 * Placeholder until the rspamd client is built (issue 11): every scan
 * fails, so the scanner's default_action applies.  Replaced wholesale.
 */
#include "scan/rspamd_client.h"

#include <event2/event.h>
#include <stdlib.h>

#include "common/xmalloc.h"

struct rspamd_client {
	struct event *ev;
	struct scan_result *res;
	scan_done_fn *done;
	void *arg;
};

static void
fire(evutil_socket_t fd, short what, void *p)
{
	struct rspamd_client *c = p;

	(void)fd;
	(void)what;
	scan_result_fail(c->res, "rspamd client not built");
	event_free(c->ev);
	c->done(c->arg, c->res);
	free(c);
}

struct rspamd_client *
rspamd_client_start(struct event_base *base, const struct rspamd_conf *rc,
    const struct scan_message *msg, struct scan_result *res,
    scan_done_fn *done, void *arg)
{
	struct rspamd_client *c = xcalloc(1, sizeof(*c));

	(void)rc;
	(void)msg;
	scan_result_init(res, "rspamd");
	c->res = res;
	c->done = done;
	c->arg = arg;
	c->ev = event_new(base, -1, 0, fire, c);
	event_active(c->ev, EV_TIMEOUT, 1);
	return c;
}

void
rspamd_client_cancel(struct rspamd_client *c)
{
	event_free(c->ev);
	free(c);
}
