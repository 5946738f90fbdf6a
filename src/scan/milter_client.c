/*
 * The milter client's connection (milter_client.h): the socket to the
 * milter, the timer of each wait, the read loop that feeds the decoder,
 * and the one end of every conversation (done, or cancel), which hands a
 * cleanly ended connection to the pool (milter_pool.h) when reuse is on;
 * and the one retry of a pooled connection found closed.  What to send
 * is milter_client_steps.c's; what a reply means, milter_client_reply.c's.
 *
 * Trusts the caller's message and configuration; trusts nothing the
 * milter sends (the decoder bounds and checks every packet).
 */
#include "scan/milter_client_int.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "scan/milter_pool.h"

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void retry(struct milter_client *c);

bool
mcl_send(struct milter_client *c, size_t len, const char *what)
{
	if (len == 0) {
		mcl_fail(c, "%s does not fit in a milter packet", what);
		return false;
	}
	evbuffer_add(bufferevent_get_output(c->bev), c->pkt, len);
	return true;
}

void
mcl_arm(struct milter_client *c, unsigned secs)
{
	struct timeval tv = { (time_t)secs, 0 };

	/* 0 fires at once, never "no limit": a wait without end would
	 * hold the SMTP client's DATA reply forever. */
	evtimer_add(c->timer, &tv);
}

void
mcl_wait(struct milter_client *c, enum milter_step s, unsigned secs)
{
	c->waiting = true;
	c->wstep = s;
	c->wait_secs = secs;
	mcl_arm(c, secs);
}

void
mcl_fail(struct milter_client *c, const char *fmt, ...)
{
	char why[SCAN_DETAIL_MAX + 1];
	va_list ap;

	if (c->phase == MCL_OVER)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	scan_result_fail(c->res, "%s", why);
	c->phase = MCL_OVER;
}

/* The QUIT (or ABORT and QUIT) of a conversation we leave without
 * waiting for anything (milter_goodbye). */
static void
say_goodbye(struct milter_client *c, bool abort_first)
{
	if (!c->connected || c->bev == NULL)
		return;
	milter_goodbye(c->bev, abort_first);
	c->bev = NULL;
}

static void
client_free(struct milter_client *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->later != NULL)
		event_free(c->later);
	free(c);
}

/* The end of a conversation whose result is final: done runs last, so
 * nothing of c is touched after it. */
static void
conclude(struct milter_client *c)
{
	scan_done_fn *done = c->done;
	struct scan_result *res = c->res;
	void *arg = c->arg;

	if (res->verdict != SCAN_FAILED && c->pool != NULL && c->eob_replied &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
		milter_pool_put(c->pool, &c->mc->ep, c->bev, &c->agreed);
		c->bev = NULL;
	} else if (res->verdict != SCAN_FAILED)
		say_goodbye(c, false);
	client_free(c);
	done(arg, res);
}

/* Every callback ends here: the conversation goes on or is concluded. */
static void
settle(struct milter_client *c)
{
	if (c->phase != MCL_OVER && !c->waiting)
		mcl_advance(c);
	if (c->phase == MCL_OVER)
		conclude(c);
}

const char *
mcl_doing(const struct milter_client *c)
{
	static const char *const names[] = {
		[MCL_CONNECTING] = "the connection",
		[MCL_OPTNEG] = "the option negotiation",
	};
	static const char *const steps[] = {
		[MILTER_STEP_CONNECT] = "CONNECT", [MILTER_STEP_HELO] = "HELO",
		[MILTER_STEP_MAIL] = "MAIL", [MILTER_STEP_RCPT] = "RCPT",
		[MILTER_STEP_DATA] = "DATA", [MILTER_STEP_HEADER] = "a header",
		[MILTER_STEP_EOH] = "end of header", [MILTER_STEP_BODY] = "BODY",
		[MILTER_STEP_EOB] = "end of body",
	};

	if (c->phase <= MCL_OPTNEG)
		return names[c->phase];
	if (c->waiting)
		return steps[c->wstep];
	return "the milter to read the message";
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct milter_client *c = arg;

	(void)fd;
	(void)what;
	mcl_fail(c, "%s: timed out waiting for %s", c->mc->ep.address,
	    mcl_doing(c));
	settle(c);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct milter_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v;
	struct milter_reply r;
	enum milter_error err;
	size_t used;

	while (c->phase != MCL_OVER && evbuffer_peek(in, -1, NULL, &v, 1) > 0 &&
	    v.iov_len > 0) {
		switch (milter_decode(&c->dec, v.iov_base, v.iov_len, &used,
		    &r, &err)) {
		case MILTER_DEC_MORE:
			break;
		case MILTER_DEC_REPLY:
			c->replied = true;
			mcl_reply(c, &r);
			break;
		case MILTER_DEC_ERROR:
			mcl_fail(c, "%s: protocol error: %s",
			    c->mc->ep.address, milter_strerror(err));
			break;
		}
		evbuffer_drain(in, used);
		/* The rest of the body may go once a reply let it. */
		if (c->phase != MCL_OVER && !c->waiting)
			mcl_advance(c);
	}
	settle(c);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct milter_client *c = arg;

	(void)bev;
	/* The body waits for room, not for a reply: go on. */
	if (c->phase == MCL_BODY && !c->waiting)
		settle(c);
}

static void
send_optneg(struct milter_client *c)
{
	size_t n = milter_enc_optneg(c->pkt, sizeof(c->pkt), MILTER_VERSION,
	    MILTER_F_ALL, MILTER_P_OFFER);

	c->connected = true;
	c->phase = MCL_OPTNEG;
	c->waiting = true;
	/* connect_timeout covers the connection and the negotiation: the
	 * timer armed at the start runs on. */
	mcl_send(c, n, "OPTNEG");
}

/*
 * Every write of ours is a whole batch (the packets one pass of the
 * conversation queued), and the milter answers only at its end.  Under
 * Nagle's algorithm a batch written while an earlier write is not yet
 * acknowledged (the QUIT_NC that ended a kept connection's last
 * conversation, which the milter never answers) would wait for the
 * milter's delayed ACK, up to 40 ms on Linux.  A unix socket has no
 * such delay.
 */
static void
no_delay(struct milter_client *c)
{
	sa_family_t af = c->mc->ep.addr.ss_family;

	if (af == AF_INET || af == AF_INET6)
		(void)setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP,
		    TCP_NODELAY, &(int){ 1 }, sizeof(int));
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct milter_client *c = arg;
	int e = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		no_delay(c);
		send_optneg(c);
		settle(c);
		return;
	}
	if (c->reused && !c->replied) {
		retry(c);
		return;
	}
	if (!c->connected)
		mcl_fail(c, "cannot connect to %s: %s", c->mc->ep.address,
		    e != 0 ? strerror(e) : "connection closed");
	else if (what & BEV_EVENT_EOF)
		mcl_fail(c, "%s: the milter closed the connection during %s",
		    c->mc->ep.address, mcl_doing(c));
	else
		mcl_fail(c, "%s: %s during %s", c->mc->ep.address,
		    e != 0 ? strerror(e) : "connection error", mcl_doing(c));
	settle(c);
}

/* A connect() that failed at once (no such socket file), or the first
 * step on a pooled connection: from the loop, never from inside start. */
static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct milter_client *c = arg;

	(void)fd;
	(void)what;
	if (c->connect_errno != 0)
		mcl_fail(c, "cannot connect to %s: %s", c->mc->ep.address,
		    strerror(c->connect_errno));
	settle(c);
}

/* The callbacks of a conversation on bev, fresh or pooled. */
static void
attach(struct milter_client *c, struct bufferevent *bev)
{
	c->bev = bev;
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(bev, EV_WRITE, MCL_OUT_MAX, 0);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* A new connection; the negotiation follows (event_cb). */
static void
open_fresh(struct milter_client *c)
{
	const struct milter_conf *mc = c->mc;
	struct bufferevent *bev = bufferevent_socket_new(c->base, -1,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);

	if (bev == NULL)
		panic("cannot create the milter connection");
	c->phase = MCL_CONNECTING;
	attach(c, bev);
	mcl_arm(c, mc->connect_timeout);
	if (bufferevent_socket_connect(c->bev,
	    (const struct sockaddr *)&mc->ep.addr, (int)mc->ep.addrlen) < 0) {
		c->connect_errno = errno != 0 ? errno : ECONNREFUSED;
		event_active(c->later, EV_TIMEOUT, 1);
	}
}

/*
 * A pooled connection failed before any reply of this conversation: the
 * milter closed it while idle, and what we sent went nowhere.  Nothing
 * of it is in the result; the conversation starts over, once, on a
 * fresh connection (reused is false from here on).
 */
static void
retry(struct milter_client *c)
{
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->reused = false;
	c->connected = false;
	c->waiting = false;
	c->rcpt_i = 0;
	c->hdr_off = 0;
	c->body_off = 0;
	memset(&c->agreed, 0, sizeof(c->agreed));
	milter_decoder_init(&c->dec);
	scan_result_clear(c->res);
	open_fresh(c);
}

struct milter_client *
milter_client_start(struct event_base *base, struct milter_pool *pool,
    const struct milter_conf *mc, size_t max_body,
    const struct scan_message *msg, struct scan_result *res,
    scan_done_fn *done, void *arg)
{
	struct milter_client *c = xcalloc(1, sizeof(*c));
	struct bufferevent *bev;

	scan_result_init(res, "milter");
	c->base = base;
	c->pool = mc->reuse ? pool : NULL;
	c->mc = mc;
	c->max_body = max_body;
	c->msg = msg;
	c->res = res;
	c->done = done;
	c->arg = arg;
	milter_decoder_init(&c->dec);
	c->timer = evtimer_new(base, timer_cb, c);
	c->later = event_new(base, -1, 0, later_cb, c);
	if (c->timer == NULL || c->later == NULL)
		panic("cannot create the milter connection");
	if (milter_pool_take(c->pool, &mc->ep, &bev, &c->agreed)) {
		/* Negotiated already: the conversation starts at CONNECT,
		 * each step under its own timeout. */
		c->reused = true;
		c->connected = true;
		c->phase = MCL_CONNECT;
		attach(c, bev);
		event_active(c->later, EV_TIMEOUT, 1);
	} else
		open_fresh(c);
	return c;
}

void
milter_client_cancel(struct milter_client *c)
{
	if (c == NULL)
		return;
	say_goodbye(c, true);
	client_free(c);
}
