/*
 * Listeners: accept connections on the sockets the master opened and
 * enforce the connection limits before a session exists.
 *
 * Over max_connections, max_connections_per_ip or max_connection_rate
 * (the last two per client network: admission.h), the client gets one
 * 421 line written straight to the new socket (a fresh socket's send
 * buffer always has room for it, so this never blocks) and is closed.
 * A network over either of its limits is logged once per minute, not
 * once per connection, so a client hammering the port cannot grow the
 * log.
 * While shutting down, listeners are gone: new connections queue in the
 * kernel until the next start.
 */
#include "smtpd/listener.h"

#include <errno.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/throttle.h"
#include "common/config.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/netkey.h"
#include "common/xmalloc.h"
#include "smtpd/admission.h"
#include "smtpd/server.h"
#include "smtpd/session.h"

struct listener {
	struct server *srv;
	const struct listen_conf *lc;
	struct evconnlistener *evl;
};

/* Over a limit: one plaintext 421 line, or on implicit TLS (where
 * plaintext is garbage and a handshake is the cost we are refusing) just
 * the close. */
static void
refuse_quietly(struct server *srv, const struct listen_conf *lc, int fd,
    const char *why)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "421 4.7.0 %s %s, try again later\r\n",
	    srv->cfg->hostname, why);
	if (lc->tls != TLS_MODE_IMPLICIT && n > 0 && (size_t)n < sizeof(line) &&
	    send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* The client is gone already; nothing to tell it. */
	}
	close(fd);
}

static void
refuse(struct server *srv, const struct listen_conf *lc, int fd,
    const struct sockaddr *sa, const char *why)
{
	char ip[64];

	log_info("event=refused client=[%s] reason=\"%s\"",
	    netaddr_ip(sa, ip, sizeof(ip)), why);
	refuse_quietly(srv, lc, fd, why);
}

/* Over its connection rate: one line per network and minute. */
static void
refuse_rate(struct server *srv, const struct listen_conf *lc, int fd,
    const struct sockaddr *sa, bool first)
{
	const struct netkey_prefixes p = { srv->cfg->client_prefix_v4,
	    srv->cfg->client_prefix_v6 };
	struct netkey k;
	char ip[64], net[64];

	if (first) {
		netkey_from(sa, &p, &k);
		log_info("event=rate-limited client=[%s] network=%s limit=%u "
		    "reason=\"Too many connections per minute\"",
		    netaddr_ip(sa, ip, sizeof(ip)), netkey_format(&k, net,
		    sizeof(net)), srv->cfg->max_connection_rate);
	}
	refuse_quietly(srv, lc, fd, "Too many connections from your network, "
	    "slow down");
}

/* The per-network limits: true when the connection may go on, with
 * *client counted for it. */
static bool
admit(struct listener *l, int fd, const struct sockaddr *sa,
    struct admission_client **client)
{
	struct server *srv = l->srv;
	bool first;

	switch (admission_enter(srv->admission, sa, auth_throttle_now(),
	    client, &first)) {
	case ADMISSION_OK:
		return true;
	case ADMISSION_RATE:
		refuse_rate(srv, l->lc, fd, sa, first);
		return false;
	case ADMISSION_CONCURRENCY:
		if (first)
			refuse(srv, l->lc, fd, sa, "Too many connections from your network");
		else
			refuse_quietly(srv, l->lc, fd, "Too many connections from your network");
		return false;
	default:
		refuse(srv, l->lc, fd, sa, "Too many connections");
		return false;
	}
}

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener *l = arg;
	struct server *srv = l->srv;
	const struct config *cfg = srv->cfg;
	struct admission_client *client;

	(void)evl;
	if (srv->n_sessions >= cfg->max_connections) {
		refuse(srv, l->lc, fd, sa, "Too many connections");
		return;
	}
	if (!admit(l, fd, sa, &client))
		return;
	/* Password guessers are kept out for auth.block_time.  On implicit
	 * TLS a plaintext 421 would be garbage: say it inside TLS (the
	 * per-IP limit above bounds what that costs). */
	if (auth_throttle_blocked(srv->throttle, sa, auth_throttle_now())) {
		if (l->lc->tls == TLS_MODE_IMPLICIT) {
			session_start(srv, l->lc, fd, sa, (socklen_t)salen,
			    client, "Too many authentication failures");
		} else {
			admission_leave(srv->admission, client, auth_throttle_now());
			refuse(srv, l->lc, fd, sa, "Too many authentication failures");
		}
		return;
	}
	session_start(srv, l->lc, fd, sa, (socklen_t)salen, client, NULL);
}

static void
accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	char safe[LOG_SAFE_SIZE(64)];

	/* EMFILE/ENFILE/ENOBUFS pass; the next accept retries. */
	(void)evl;
	log_warn("event=accept-error listener=\"%s\" reason=\"%s\"",
	    log_safe(l->lc->address, safe, sizeof(safe)), strerror(err));
}

struct listener *
listener_new(struct server *srv, const struct listen_conf *lc, int fd)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->srv = srv;
	l->lc = lc;
	/* backlog 0: the master already called listen(). */
	l->evl = evconnlistener_new(srv->base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->evl == NULL)
		fatal("cannot listen on %s", lc->address);
	evconnlistener_set_error_cb(l->evl, accept_error_cb);
	return l;
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	evconnlistener_free(l->evl);
	free(l);
}
