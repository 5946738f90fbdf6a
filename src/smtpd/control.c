/*
 * The control channel: see control.h.  The smtpd reads frames with a
 * bufferevent; a complete frame of keys replaces the TLS contexts for new
 * connections (sessions already in TLS keep theirs: OpenSSL refcounts the
 * old context).  Bad keys keep the old contexts and are logged.  The
 * master is trusted, but frames are still bounds-checked.
 */
#include "smtpd/control.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "smtpd/server.h"
#include "tls/tls.h"

struct control {
	struct server *srv;
	struct bufferevent *bev;
};

static void
control_apply(struct server *srv, const char *data, size_t len)
{
	struct tls_keypair *kps = NULL;
	struct tls_server *ts;
	size_t n = 0;
	char err[256];

	if (tls_keypairs_decode(data, len, &kps, &n) < 0) {
		log_error("event=tls-reload-failed reason=\"malformed key frame\"");
		return;
	}
	ts = tls_server_new(kps, n, err, sizeof(err));
	tls_keypairs_free(kps, n);
	if (ts == NULL) {
		log_error("event=tls-reload-failed reason=\"%s\" effect=\"old certificates kept\"", err);
		return;
	}
	tls_server_free(srv->tls);
	srv->tls = ts;
	log_info("event=tls-reloaded certificates=%zu", n);
}

static void
control_read_cb(struct bufferevent *bev, void *arg)
{
	struct control *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint32_t len;

	while (evbuffer_get_length(in) >= 4) {
		evbuffer_copyout(in, &len, 4);
		len = ntohl(len);
		if (len > CONTROL_FRAME_MAX) {
			log_error("event=control-error reason=\"frame too large\"");
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		if (evbuffer_get_length(in) < 4 + (size_t)len)
			return;
		evbuffer_drain(in, 4);
		control_apply(c->srv, (const char *)evbuffer_pullup(in, len), len);
		evbuffer_drain(in, len);
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

void
control_free(struct control *c)
{
	if (c == NULL)
		return;
	bufferevent_free(c->bev);
	free(c);
}

int
control_send(int fd, const void *payload, size_t len)
{
	uint32_t n = htonl((uint32_t)len);
	const char *p;
	size_t left;

	if (len > CONTROL_FRAME_MAX)
		return -1;
	for (int part = 0; part < 2; part++) {
		p = part == 0 ? (const char *)&n : payload;
		left = part == 0 ? 4 : len;
		while (left > 0) {
			ssize_t w = write(fd, p, left);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
			p += w;
			left -= (size_t)w;
		}
	}
	return 0;
}
