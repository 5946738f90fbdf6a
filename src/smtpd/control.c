/*
 * The control channel, smtpd side: see control.h.  Key frames
 * (control_frame.h) replace the TLS contexts for new connections;
 * sessions already in TLS keep theirs (OpenSSL refcounts the old
 * context).  Bad keys keep the old contexts and are logged.
 *
 * Trust: the master is trusted, its bytes are not taken on faith.  A
 * frame is applied only whole, with its check matching and a sequence
 * number above the last one applied.  Bytes that are not a frame are
 * dropped up to the next place one could start, and the master is asked
 * once (CONTROL_RESEND) to send the keys again, so the channel never
 * stays out of step.  Key bytes are wiped wherever they sat: in
 * libevent's buffers before they are drained, and in the copy a frame is
 * opened from.  A damaged length can make the reader wait for at most
 * CONTROL_FRAME_MAX octets.
 */
#include "smtpd/control.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "smtpd/control_frame.h"
#include "smtpd/server.h"
#include "tls/tls.h"

struct control {
	struct server *srv;
	struct bufferevent *bev;
	uint32_t applied;	/* seq of the last key frame applied; 0: none */
	bool lost;		/* dropping bytes that are not a frame */
	size_t dropped;		/* ... this many so far */
};

/* Drain n octets of in, wiping them first: they may hold private keys
 * and libevent frees its chains without clearing them. */
static void
drain_wiped(struct evbuffer *in, size_t n)
{
	struct evbuffer_iovec v[16];
	size_t left = n, wiped, k;
	int got;

	while (left > 0) {
		got = evbuffer_peek(in, (ev_ssize_t)left, NULL, v, 16);
		if (got <= 0)
			break;
		wiped = 0;
		for (int i = 0; i < got && i < 16 && wiped < left; i++) {
			k = v[i].iov_len < left - wiped ? v[i].iov_len :
			    left - wiped;
			explicit_bzero(v[i].iov_base, k);
			wiped += k;
		}
		evbuffer_drain(in, wiped);
		left -= wiped;
	}
}

static void
control_apply(struct control *c, const struct control_frame *f)
{
	struct tls_keypair *kps = NULL;
	struct tls_server *ts;
	size_t n = 0;
	char err[256], safe[LOG_SAFE_SIZE(256)];

	if (f->type != CONTROL_KEYS)
		return;		/* RESEND is the master's to read */
	if (f->seq <= c->applied) {
		log_warn("event=control-stale seq=%u applied=%u", f->seq,
		    c->applied);
		return;
	}
	c->applied = f->seq;
	if (tls_keypairs_decode((const char *)f->payload, f->len, &kps, &n) < 0) {
		log_error("event=tls-reload-failed seq=%u reason=\"malformed "
		    "key frame\"", f->seq);
		return;
	}
	ts = tls_server_new(kps, n, err, sizeof(err));
	tls_keypairs_free(kps, n);
	if (ts == NULL) {
		log_error("event=tls-reload-failed seq=%u reason=\"%s\" "
		    "effect=\"old certificates kept\"", f->seq,
		    log_safe(err, safe, sizeof(safe)));
		return;
	}
	tls_server_free(c->srv->tls);
	c->srv->tls = ts;
	log_info("event=tls-reloaded seq=%u certificates=%zu", f->seq, n);
}

/* Bytes that are not a frame: drop them; the first time, ask the
 * master for the keys again (once per loss, not once per octet). */
static void
control_lose(struct control *c, struct evbuffer *in, size_t n)
{
	struct buf req;

	drain_wiped(in, n);
	c->dropped += n;
	if (c->lost)
		return;
	c->lost = true;
	log_error("event=control-error reason=\"bytes that are not a frame\" "
	    "action=resend");
	buf_init(&req, CONTROL_HEADER_LEN + CONTROL_TRAILER_LEN);
	if (control_frame_encode(&req, CONTROL_RESEND, c->applied, NULL, 0) < 0 ||
	    bufferevent_write(c->bev, req.data, req.len) < 0)
		log_error("event=control-error reason=\"cannot ask for a resend\"");
	buf_free(&req);
}

/* A whole frame at the start of in: copy it out, wipe it there, check
 * it, apply it.  The copy is wiped too. */
static void
control_take(struct control *c, struct evbuffer *in, size_t total)
{
	uint8_t *copy = xmalloc(total);
	struct control_frame f;

	evbuffer_copyout(in, copy, total);
	if (control_frame_open(copy, total, &f) != CONTROL_SCAN_FRAME) {
		/* The header looked right, the frame is not: look for the
		 * next start one octet on. */
		control_lose(c, in, control_frame_resync(copy, total));
		xfree_secret(copy, total);
		return;
	}
	drain_wiped(in, total);
	if (c->lost) {
		log_info("event=control-resynced dropped=%zu", c->dropped);
		c->lost = false;
		c->dropped = 0;
	}
	control_apply(c, &f);
	xfree_secret(copy, total);
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t head[CONTROL_HEADER_LEN];
	size_t n, h, total;

	while ((n = evbuffer_get_length(in)) > 0) {
		h = n < sizeof(head) ? n : sizeof(head);
		evbuffer_copyout(in, head, h);
		switch (control_frame_header(head, h, &total)) {
		case CONTROL_SCAN_MORE:
			return;
		case CONTROL_SCAN_GARBAGE:
			control_lose(c, in, total);
			continue;
		case CONTROL_SCAN_FRAME:
			break;
		}
		if (n < total)
			return;		/* the rest of the frame is coming */
		control_take(c, in, total);
	}
}

static void
control_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)arg;
	(void)what;
	/* The master is gone; PR_SET_PDEATHSIG will stop us. */
	bufferevent_disable(bev, EV_READ);
}

struct control *
control_new(struct server *srv, int fd)
{
	struct control *c = xcalloc(1, sizeof(*c));

	c->srv = srv;
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatal("cannot watch the control channel");
	bufferevent_setcb(c->bev, control_read_cb, NULL, control_event_cb, c);
	bufferevent_enable(c->bev, EV_READ);
	return c;
}

uint32_t
control_seq(const struct control *c)
{
	return c->applied;
}

void
control_free(struct control *c)
{
	if (c == NULL)
		return;
	/* Half a frame may be waiting: it may hold keys. */
	drain_wiped(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	bufferevent_free(c->bev);
	free(c);
}
