/*
 * The milter client's connection (milter_client.h): the socket to the
 * milter, the timer of each wait, the read loop that feeds the decoder,
 * and the one end of every conversation (done, or cancel).  What to send
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/xmalloc.h"

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

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

/*
 * A packet of our own straight to the socket, only when nothing else is
 * queued before it: the QUIT (or ABORT and QUIT) of a conversation we
 * leave without waiting for anything.  A milter that does not read it
 * sees the connection close, which means the same to libmilter.
 */
static void
say_goodbye(struct milter_client *c, bool abort_first)
{
	uint8_t out[2 * MILTER_HEAD_LEN];
	size_t n = 0;

	if (!c->connected || c->bev == NULL ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
		return;
	if (abort_first)
		n += milter_enc_simple(out, sizeof(out), MILTER_C_ABORT);
	n += milter_enc_simple(out + n, sizeof(out) - n, MILTER_C_QUIT);
	(void)send(bufferevent_getfd(c->bev), out, n,
	    MSG_DONTWAIT | MSG_NOSIGNAL);
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

	if (res->verdict != SCAN_FAILED)
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

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct milter_client *c = arg;
	int e = EVUTIL_SOCKET_ERROR();

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		send_optneg(c);
		settle(c);
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

/* A connect() that failed at once (no such socket file): reported from
 * the loop, never from inside start. */
static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct milter_client *c = arg;

	(void)fd;
	(void)what;
	mcl_fail(c, "cannot connect to %s: %s", c->mc->ep.address,
	    strerror(c->connect_errno));
	settle(c);
}

struct milter_client *
milter_client_start(struct event_base *base, const struct milter_conf *mc,
    size_t max_body, const struct scan_message *msg, struct scan_result *res,
    scan_done_fn *done, void *arg)
{
	struct milter_client *c = xcalloc(1, sizeof(*c));

	scan_result_init(res, "milter");
	c->base = base;
	c->mc = mc;
	c->max_body = max_body;
	c->msg = msg;
	c->res = res;
	c->done = done;
	c->arg = arg;
	c->phase = MCL_CONNECTING;
	milter_decoder_init(&c->dec);
	c->timer = evtimer_new(base, timer_cb, c);
	c->bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->timer == NULL || c->bev == NULL)
		panic("cannot create the milter connection");
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, MCL_OUT_MAX, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	mcl_arm(c, mc->connect_timeout);
	if (bufferevent_socket_connect(c->bev,
	    (const struct sockaddr *)&mc->ep.addr, (int)mc->ep.addrlen) < 0) {
		c->connect_errno = errno != 0 ? errno : ECONNREFUSED;
		c->later = event_new(base, -1, 0, later_cb, c);
		event_active(c->later, EV_TIMEOUT, 1);
	}
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
