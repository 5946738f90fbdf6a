/*
 * TLS for a session: implicit TLS from the first byte (RFC 8314) and the
 * STARTTLS upgrade (RFC 3207), through libevent's OpenSSL bufferevents.
 *
 * STARTTLS hygiene (CVE-2011-0411 class): whatever the client sent after
 * the STARTTLS line and before the handshake is plaintext that an
 * attacker in the path may have injected; it is discarded, never read as
 * commands inside the TLS session.  After the handshake every bit of
 * SMTP state is forgotten (RFC 3207 4.2): the client starts with EHLO.
 *
 * Every orderly close (QUIT, and each 421: shutdown, timeout, too many
 * errors, a blocked client) ends with close_notify after the last reply
 * (RFC 8446 6.1), so a strict client sees an end rather than a truncation
 * attack.  libevent frees the SSL without SSL_shutdown, so we send it: the
 * bufferevent's output is empty by then (all records written), the
 * bufferevent is switched off, and SSL_shutdown writes the alert straight
 * to the socket.  We do not wait for the client's close_notify (6.1 does
 * not ask us to); when the socket is full we wait for room, at most
 * timeouts.command, as for the reply before it.
 */
#include "smtpd/session_internal.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "smtpd/server.h"
#include "tls/tls.h"

static SSL *
new_ssl(struct session *s)
{
	SSL *ssl = s->srv->tls != NULL ? tls_server_ssl(s->srv->tls) : NULL;

	if (ssl == NULL)
		log_error("event=tls-error session=%s client=[%s] reason=\"no TLS context\"",
		    s->id, s->ip);
	return ssl;
}

int
session_tls_start(struct session *s, int fd)
{
	SSL *ssl = new_ssl(s);

	if (ssl == NULL)
		return -1;
	s->bev = bufferevent_openssl_socket_new(s->srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		SSL_free(ssl);
		return -1;
	}
	/* Clients that close without close_notify are not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	s->tls = true;
	return 0;
}

/*
 * The 220 to STARTTLS has reached the kernel: switch the connection to
 * TLS.  Reading stopped right after the STARTTLS line, so the client's
 * handshake is still in the socket; what we did read past that line was
 * sent before our 220 and is dropped.  The TLS bufferevent takes over a
 * duplicate of the socket, because freeing the plaintext one closes its
 * own descriptor.
 */
void
session_starttls(struct session *s)
{
	struct bufferevent *plain = s->bev;
	struct evbuffer *in = bufferevent_get_input(plain);
	size_t injected = evbuffer_get_length(in);
	SSL *ssl = new_ssl(s);
	struct smtp_reply r;
	int fd;

	if (injected > 0)
		log_info("event=starttls-injection session=%s client=[%s] discarded=%zu",
		    s->id, s->ip, injected);
	if (ssl == NULL)
		goto fail;
	fd = dup(bufferevent_getfd(plain));
	if (fd < 0 || evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_socket_closeonexec(fd) < 0) {
		if (fd >= 0)
			close(fd);
		SSL_free(ssl);
		goto fail;
	}
	session_input_free(s);	/* its descriptor closes with plain */
	bufferevent_free(plain);
	s->bev = bufferevent_openssl_socket_new(s->srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		panic("cannot create a TLS bufferevent");
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	s->tls = true;
	session_setcb(s);
	/* RFC 3207 4.2: discard all knowledge obtained from the client. */
	session_reset_tx(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	session_set_state(s, SESSION_CONNECTED);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	return;
fail:
	smtp_reply_set(&r, 421, "4.7.0", "%s TLS not available, closing connection",
	    s->srv->cfg->hostname);
	session_close(s, &r);
}

void
session_tls_connected(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	char safe[LOG_SAFE_SIZE(TLSEXT_MAXLEN_host_name)];
	const char *sni;

	if (ssl == NULL)
		return;
	tls_describe(ssl, s->tls_info, sizeof(s->tls_info));
	/* The client's bytes (OpenSSL refuses only NUL in them): a name
	 * with a line end must not start a line of its own.  No SNI, no
	 * field. */
	sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	if (sni == NULL)
		log_info("event=tls session=%s client=[%s] tls=\"%s\"",
		    s->id, s->ip, s->tls_info);
	else
		log_info("event=tls session=%s client=[%s] tls=\"%s\" sni=\"%s\"",
		    s->id, s->ip, s->tls_info, log_safe(sni, safe, sizeof(safe)));
}

/* On a connection error: if the handshake never completed, log why. */
bool
session_tls_failed(struct session *s)
{
	char why[256] = "", safe[LOG_SAFE_SIZE(256)];
	unsigned long e;
	size_t o = 0;

	if (!s->tls || s->tls_info[0] != '\0')
		return false;
	while ((e = bufferevent_get_openssl_error(s->bev)) != 0 && o + 2 < sizeof(why)) {
		if (o > 0)
			why[o++] = ';';
		ERR_error_string_n(e, why + o, sizeof(why) - o);
		o = strlen(why);
	}
	log_info("event=tls-failed session=%s client=[%s] reason=\"%s\"",
	    s->id, s->ip, why[0] != '\0' ? log_safe(why, safe, sizeof(safe)) :
	    "connection closed during handshake");
	return true;
}

/*
 * One SSL_shutdown: sends close_notify, or finishes sending it.  True
 * when the socket had no room for all of it (call again when writable);
 * false when it is out, or cannot be (the client is gone).
 */
static bool
close_notify_pending(SSL *ssl)
{
	int r;

	ERR_clear_error();	/* SSL_get_error reads the queue */
	r = SSL_shutdown(ssl);
	if (r >= 0)
		return false;
	if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_WRITE)
		return true;
	ERR_clear_error();
	return false;
}

static void
tls_close_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct timeval tv = { (time_t)s->srv->cfg->timeout_command, 0 };

	(void)fd;
	if ((what & EV_TIMEOUT) == 0 &&
	    close_notify_pending(bufferevent_openssl_get_ssl(s->bev))) {
		event_add(s->tls_close, &tv);
		return;
	}
	session_closed(s);
}

/*
 * The last reply is out: send close_notify.  False when that is done (or
 * there is no TLS session to end: the handshake never finished); true
 * when it waits for room in the socket, and then tls_close_cb calls
 * session_closed.
 */
bool
session_tls_close(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	struct timeval tv = { (time_t)s->srv->cfg->timeout_command, 0 };

	if (s->tls_close != NULL)
		return true;	/* already waiting */
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return false;
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	if (!close_notify_pending(ssl))
		return false;
	s->tls_close = event_new(s->srv->base, bufferevent_getfd(s->bev),
	    EV_WRITE, tls_close_cb, s);
	if (s->tls_close == NULL)
		return false;
	event_add(s->tls_close, &tv);
	return true;
}
