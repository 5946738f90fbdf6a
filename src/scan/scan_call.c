/*
 * The life every scanner client shares (scan_call.h).
 */
#include "scan/scan_call.h"

#include <event2/event.h>
#include <stdlib.h>

static void
end_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	scan_call_end(arg);
}

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct scan_call *k = arg;

	(void)fd;
	(void)what;
	scan_result_fail(k->res, "timed out after %u s", k->timeout);
	scan_call_end(k);
}

void
scan_call_init(struct scan_call *k, struct event_base *base,
    const char *scanner, unsigned timeout, struct scan_result *res,
    scan_done_fn *done, void *arg, void (*free_client)(void *),
    void *client)
{
	scan_result_init(res, scanner);
	k->timeout = timeout;
	k->res = res;
	k->done = done;
	k->arg = arg;
	k->free_client = free_client;
	k->client = client;
	k->end = event_new(base, -1, 0, end_cb, k);
	k->timer = evtimer_new(base, timeout_cb, k);
	if (k->end == NULL || k->timer == NULL)
		abort();	/* only out of memory, as xmalloc */
}

void
scan_call_arm(struct scan_call *k, const char *why)
{
	struct timeval tv = { (time_t)k->timeout, 0 };

	if (why == NULL) {
		evtimer_add(k->timer, &tv);
		return;
	}
	scan_result_fail(k->res, "%s", why);
	event_active(k->end, EV_TIMEOUT, 1);
}

void
scan_call_end(struct scan_call *k)
{
	scan_done_fn *done = k->done;
	struct scan_result *res = k->res;
	void *arg = k->arg;

	k->free_client(k->client);	/* k goes with it */
	done(arg, res);
}

void
scan_call_end_later(struct scan_call *k)
{
	evtimer_del(k->timer);
	event_active(k->end, EV_TIMEOUT, 1);
}

void
scan_call_free(struct scan_call *k)
{
	if (k->timer != NULL)
		event_free(k->timer);
	if (k->end != NULL)
		event_free(k->end);
}
