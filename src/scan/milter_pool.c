/*
 * The idle milter connections of one loop (milter_pool.h): a list, most
 * recently used first, searched by address (at most SCAN_MILTERS_MAX
 * addresses times MILTER_POOL_PER_ADDRESS entries).  While idle, a
 * connection belongs to the pool: its callbacks are the pool's, and
 * anything the milter does on it ends it.
 *
 * Keyed by the address, not by the milter_conf: a connection only ever
 * serves the address it was opened to, whatever configuration asks.
 */
#include "scan/milter_pool.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "common/config.h"
#include "common/log.h"
#include "common/xmalloc.h"

struct idle {
	TAILQ_ENTRY(idle) link;
	struct milter_pool *pool;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char address[128];	/* for the debug log */
	struct bufferevent *bev;
	struct milter_agreed agreed;
};

TAILQ_HEAD(idle_list, idle);

struct milter_pool {
	struct idle_list idle;
};

void
milter_goodbye(struct bufferevent *bev, bool abort_first)
{
	uint8_t out[2 * MILTER_HEAD_LEN];
	size_t n = 0;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		if (abort_first)
			n += milter_enc_simple(out, sizeof(out),
			    MILTER_C_ABORT);
		n += milter_enc_simple(out + n, sizeof(out) - n,
		    MILTER_C_QUIT);
		(void)send(bufferevent_getfd(bev), out, n,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	bufferevent_free(bev);
}

static bool
same_address(const struct idle *i, const struct scan_endpoint *ep)
{
	return i->addrlen == ep->addrlen &&
	    memcmp(&i->addr, &ep->addr, ep->addrlen) == 0;
}

/* Ends an idle connection: with a QUIT when the milter is still there
 * to read it (our idle timeout, the cap, the pool's end). */
static void
drop(struct idle *i, bool quit, const char *why)
{
	log_debug("event=milter-idle-closed address=%s reason=\"%s\"",
	    i->address, why);
	TAILQ_REMOVE(&i->pool->idle, i, link);
	if (quit)
		milter_goodbye(i->bev, false);
	else
		bufferevent_free(i->bev);
	free(i);
}

static void
idle_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	/* Nothing is awaited: a milter that speaks now is not in the
	 * state QUIT_NC promised. */
	drop(arg, false, "the milter sent data while idle");
}

static void
idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & BEV_EVENT_TIMEOUT)
		drop(arg, true, "idle timeout");
	else
		drop(arg, false, what & BEV_EVENT_EOF ?
		    "the milter closed the connection" : "connection error");
}

struct milter_pool *
milter_pool_new(void)
{
	struct milter_pool *p = xcalloc(1, sizeof(*p));

	TAILQ_INIT(&p->idle);
	return p;
}

void
milter_pool_free(struct milter_pool *p)
{
	struct idle *i;

	if (p == NULL)
		return;
	while ((i = TAILQ_FIRST(&p->idle)) != NULL)
		drop(i, true, "stopping");
	free(p);
}

bool
milter_pool_take(struct milter_pool *p, const struct scan_endpoint *ep,
    struct bufferevent **bev, struct milter_agreed *agreed)
{
	struct idle *i, *next;

	if (p == NULL)
		return false;
	for (i = TAILQ_FIRST(&p->idle); i != NULL; i = next) {
		next = TAILQ_NEXT(i, link);
		if (!same_address(i, ep))
			continue;
		/* Octets whose (deferred) callback has not run yet. */
		if (evbuffer_get_length(bufferevent_get_input(i->bev)) != 0) {
			drop(i, false, "the milter sent data while idle");
			continue;
		}
		TAILQ_REMOVE(&p->idle, i, link);
		*bev = i->bev;
		*agreed = i->agreed;
		free(i);
		bufferevent_setcb(*bev, NULL, NULL, NULL, NULL);
		bufferevent_set_timeouts(*bev, NULL, NULL);
		bufferevent_enable(*bev, EV_READ | EV_WRITE);
		return true;
	}
	return false;
}

static size_t
count(const struct milter_pool *p, const struct scan_endpoint *ep)
{
	const struct idle *i;
	size_t n = 0;

	TAILQ_FOREACH(i, &p->idle, link)
		n += same_address(i, ep);
	return n;
}

void
milter_pool_put(struct milter_pool *p, const struct scan_endpoint *ep,
    struct bufferevent *bev, const struct milter_agreed *agreed)
{
	const struct timeval idle_tv = { MILTER_POOL_IDLE_SECS, 0 };
	uint8_t out[MILTER_HEAD_LEN];
	struct idle *i;

	if (p == NULL || count(p, ep) >= MILTER_POOL_PER_ADDRESS) {
		milter_goodbye(bev, false);
		return;
	}
	i = xcalloc(1, sizeof(*i));
	i->pool = p;
	memcpy(&i->addr, &ep->addr, ep->addrlen);
	i->addrlen = ep->addrlen;
	snprintf(i->address, sizeof(i->address), "%s",
	    ep->address != NULL ? ep->address : "-");
	i->bev = bev;
	i->agreed = *agreed;
	evbuffer_add(bufferevent_get_output(bev), out,
	    milter_enc_simple(out, sizeof(out), MILTER_C_QUIT_NC));
	bufferevent_setcb(bev, idle_read_cb, NULL, idle_event_cb, i);
	bufferevent_set_timeouts(bev, &idle_tv, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_HEAD(&p->idle, i, link);
}
