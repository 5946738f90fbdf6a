/* The daemon's event loops: see evloop.h. */
#include "common/evloop.h"

#include <event2/event.h>

#include "common/log.h"

struct event_base *
evloop_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		return NULL;
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static void
evloop_log_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_flush();
}

static void
evloop_log_wake(void *ev)
{
	event_active(ev, EV_TIMEOUT, 0);
}

int
evloop_run(struct event_base *base)
{
	struct event *ev = event_new(base, -1, 0, evloop_log_flush_cb, NULL);
	bool batched = ev != NULL && log_batch_start(evloop_log_wake, ev) == 0;
	int rc;

	/* Without a batch (no event, none free) lines go out one by one,
	 * as they always may. */
	rc = event_base_dispatch(base);
	if (batched)
		log_batch_stop();
	if (ev != NULL)
		event_free(ev);
	return rc;
}
