/*
 * The outbound SMTP/LMTP client connection (see smtp_client.h); the
 * transactions it carries are in smtp_client_tx.c, what both share in
 * smtp_client_priv.h.
 *
 * A state machine driven by bufferevent callbacks.  Setup: CONNECTING →
 * GREETING → EHLO (→ HELO when EHLO is refused) → STARTTLS → HANDSHAKE →
 * EHLO again → AUTH → IDLE.  From IDLE, smtp_conn_send() starts a
 * transaction (TX, DATA, RSET): this file still frames the input and
 * takes the events, and hands each reply, a drained socket and a broken
 * connection to the transaction's smtp_tx_ functions.  Every reply passes
 * through the pure reader in smtp/client_proto.c first.
 *
 * Trusts nothing the server says: lines and replies are bounded by the
 * reader, a malformed reply or a reply in the wrong state ends the
 * connection, and every wait has its RFC 5321 4.5.3.2 timeout.  A
 * failure never loses a recipient: whatever has no final answer when the
 * connection dies is a temporary failure, so the queue tries again.
 *
 * Under tls = "verify" (every relay with a login) the TLS handshake
 * fails unless the certificate chains to the context's CAs and names the
 * host we connected to (tls/tls_client.c); the connection then ends
 * before another byte is sent, AUTH above all, and the mail waits
 * (4.7.5).  The socket is bound to params.source when it is set (the
 * address whose PTR names us), before the connect.
 */
#include "deliver/smtp_client.h"

#include <errno.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/bounds.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "deliver/smtp_client_priv.h"
#include "smtp/client_proto.h"
#include "tls/tls.h"

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

/* -- small helpers (the transaction uses them too) -------------------- */

void
smtpc_timeout(struct smtp_conn *c, unsigned seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	bufferevent_set_timeouts(c->bev, seconds > 0 ? &tv : NULL,
	    seconds > 0 ? &tv : NULL);
}

void
smtpc_line(struct smtp_conn *c, const char *line)
{
	evbuffer_add_printf(bufferevent_get_output(c->bev), "%s\r\n", line);
}

static void
conn_free(struct smtp_conn *c)
{
	if (c->later != NULL)
		event_free(c->later);
	if (c->data_wait != NULL)
		event_free(c->data_wait);
	/* A read of the data still in flight frees itself when done. */
	smtp_data_release(c->data);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c->x);
	free(c->accepted);
	free(c);
}

/* snprintf for texts that may be cut: a cut is marked, never silent. */
void
smtpc_textf(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= outlen && outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
}

void
smtpc_result(struct deliver_result *res, enum deliver_status st,
    const char *code, const char *text)
{
	res->status = st;
	res->reply_code = 0;
	snprintf(res->code, sizeof(res->code), "%s", code);
	smtpc_textf(res->text, sizeof(res->text), "%s", text);
}

/* A reply as a result: its class decides, its enhanced code is kept
 * when it agrees with the class (else x.0.0). */
void
smtpc_reply_result(struct smtp_conn *c,
    const struct smtp_client_reply *r, const char *in_reply_to,
    struct deliver_result *res)
{
	char line[DELIVER_TEXT_MAX], text[DELIVER_TEXT_MAX + 128];
	char code[16];
	int cls = r->code / 100;

	smtp_client_reply_line(r, line, sizeof(line));
	if (r->enhanced[0] - '0' == cls)
		snprintf(code, sizeof(code), "%s", r->enhanced);
	else
		snprintf(code, sizeof(code), "%d.0.0", cls == 2 ? 2 :
		    cls == 5 ? 5 : 4);
	smtpc_textf(text, sizeof(text),
	    "host %s[%s] said: %s (in reply to %s)", c->name, c->ip, line,
	    in_reply_to);
	smtpc_result(res, cls == 2 ? DELIVER_OK :
	    cls == 5 ? DELIVER_PERMFAIL : DELIVER_TEMPFAIL, code, text);
	res->reply_code = r->code;
}

/* -- setup -------------------------------------------------------------- */

/*
 * Setup failed: tell the owner, then free (the owner must not keep c).
 * These return -1, "c is gone", for the reader loop; become_ready too,
 * since the owner may already have started a transaction.
 */
static int
setup_fail(struct smtp_conn *c, enum deliver_status st, const char *code,
    const char *text)
{
	struct deliver_result res;

	smtpc_result(&res, st, code, text);
	c->usable = false;
	c->ops->ready(c->arg, c, &res);
	conn_free(c);
	return -1;
}

static int
setup_fail_reply(struct smtp_conn *c, const char *in_reply_to)
{
	struct deliver_result res;

	smtpc_reply_result(c, &c->reply, in_reply_to, &res);
	/*
	 * Before MAIL, a refusal is about this host or our set-up (a 554
	 * greeting, a wrong relay password), not about the message or its
	 * recipients: another host or a later try may work, so it is never
	 * permanent.  The enhanced code keeps its detail as a 4.x.x.
	 */
	if (res.code[0] == '5' || res.code[0] == '2')
		res.code[0] = '4';
	return setup_fail(c, DELIVER_TEMPFAIL, res.code, res.text);
}

static int
become_ready(struct smtp_conn *c)
{
	c->state = C_IDLE;
	c->usable = true;
	/* The owner's cache timer bounds idling. */
	smtpc_timeout(c, 0);
	c->ops->ready(c->arg, c, NULL);
	return -1;
}

static void
send_hello(struct smtp_conn *c)
{
	char line[SMTP_DOMAIN_MAX + 8];

	snprintf(line, sizeof(line), "%s %s", c->p.lmtp ? "LHLO" : "EHLO",
	    c->p.helo);
	smtpc_line(c, line);
	c->state = C_EHLO;
	smtpc_timeout(c, c->p.timeout_command);
}

/* AUTH PLAIN with an initial response (RFC 4954, RFC 4616). */
static int
send_auth(struct smtp_conn *c)
{
	size_t ul = strlen(c->p.auth_user), pl = strlen(c->p.auth_password);
	size_t rawlen = ul + pl + 2;
	unsigned char *raw = xmalloc(rawlen), *b64;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int n;

	raw[0] = '\0';
	memcpy(raw + 1, c->p.auth_user, ul);
	raw[ul + 1] = '\0';
	memcpy(raw + ul + 2, c->p.auth_password, pl);
	b64 = xmalloc(4 * ((rawlen + 2) / 3) + 1);
	n = EVP_EncodeBlock(b64, raw, (int)rawlen);
	evbuffer_add_printf(out, "AUTH PLAIN %.*s\r\n", n, (char *)b64);
	explicit_bzero(raw, rawlen);
	explicit_bzero(b64, (size_t)n);
	free(raw);
	free(b64);
	c->state = C_AUTH;
	smtpc_timeout(c, c->p.timeout_command);
	return 0;
}

/* require and verify: never a transaction in clear. */
static bool
tls_required(const struct smtp_conn *c)
{
	return c->p.tls != TRANSPORT_TLS_MAY;
}

static bool
tls_verified(const struct smtp_conn *c)
{
	char why[128];

	return c->tls_on && tls_client_verify_result(
	    bufferevent_openssl_get_ssl(c->bev), why, sizeof(why)) == 1;
}

/* After EHLO (and TLS, when there is some): authenticate or be ready. */
static int
after_hello(struct smtp_conn *c)
{
	char text[256];

	if (c->p.auth_user == NULL)
		return become_ready(c);
	/* The handshake already refused an unverified server; this is the
	 * last line before the password leaves. */
	if (c->p.tls != TRANSPORT_TLS_VERIFY || !tls_verified(c)) {
		smtpc_textf(text, sizeof(text), "host %s[%s] is not verified, "
		    "and this relay is configured with a login", c->name,
		    c->ip);
		return setup_fail(c, DELIVER_TEMPFAIL, "4.7.5", text);
	}
	if (!c->tls_on || !c->caps.auth_plain) {
		smtpc_textf(text, sizeof(text), "host %s[%s] offers no "
		    "AUTH PLAIN over TLS, and this relay is configured with "
		    "a login", c->name, c->ip);
		return setup_fail(c, DELIVER_TEMPFAIL, "4.7.0", text);
	}
	return send_auth(c);
}

/* -1 always: the old bufferevent is gone, the new one reads. */
static int
start_tls(struct smtp_conn *c)
{
	struct bufferevent *plain = c->bev;
	SSL *ssl = tls_client_ssl(c->p.tls_ctx, c->name,
	    c->p.tls == TRANSPORT_TLS_VERIFY);
	char text[256];
	int fd;

	fd = ssl != NULL ? dup(bufferevent_getfd(plain)) : -1;
	if (fd < 0 || evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_socket_closeonexec(fd) < 0) {
		if (fd >= 0)
			close(fd);
		SSL_free(ssl);
		smtpc_textf(text, sizeof(text), "TLS with %s[%s] could "
		    "not be started", c->name, c->ip);
		c->tls_failed = true;
		return setup_fail(c, DELIVER_TEMPFAIL, "4.7.0", text);
	}
	/* Whatever the server sent after its 220 belongs to nobody
	 * (RFC 3207 5): it goes with the plaintext bufferevent. */
	bufferevent_free(plain);
	c->bev = bufferevent_openssl_socket_new(c->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		panic("cannot create a TLS bufferevent");
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, DATA_LOW_WATER, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->state = C_HANDSHAKE;
	smtpc_timeout(c, c->p.timeout_command);
	return -1;
}

/*
 * The certificate did not pass under tls = "verify": not another byte
 * on this connection (no AUTH, no envelope), and the mail waits: 4.7.5,
 * RFC 3463 3.8's "cryptographic failure", as Postfix defers a server it
 * cannot verify.  Not tls_failed: an untrusted server is no broken TLS
 * stack, and plaintext is no answer to it.
 */
static int
verify_failed(struct smtp_conn *c, const char *why)
{
	char text[384], sname[LOG_SAFE_SIZE(sizeof(c->name))], swhy[256];
	char relay[LOG_SAFE_SIZE(sizeof(c->relay))];

	log_info("event=tls relay=\"%s\" verified=no name=\"%s\" "
	    "reason=\"%s\"", log_safe(c->relay, relay, sizeof(relay)),
	    log_safe(c->name, sname, sizeof(sname)),
	    log_safe(why, swhy, sizeof(swhy)));
	ERR_clear_error();
	smtpc_textf(text, sizeof(text), "certificate of %s[%s] not verified "
	    "(%s), and this destination requires a verified certificate",
	    c->name, c->ip, why);
	return setup_fail(c, DELIVER_TEMPFAIL, "4.7.5", text);
}

static void
tls_established(struct smtp_conn *c)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	char desc[128], why[128], swhy[256];
	char relay[LOG_SAFE_SIZE(sizeof(c->relay))];
	int v = tls_client_verify_result(ssl, why, sizeof(why));

	/* SSL_VERIFY_PEER made the handshake fail already; should it not
	 * have, nothing goes on here either. */
	if (v != 1 && c->p.tls == TRANSPORT_TLS_VERIFY) {
		verify_failed(c, why);
		return;
	}
	c->tls_on = true;
	snprintf(c->tls_version, sizeof(c->tls_version), "%s",
	    SSL_get_version(ssl));
	tls_describe(ssl, desc, sizeof(desc));
	log_safe(c->relay, relay, sizeof(relay));
	if (v == 1)
		log_info("event=tls relay=\"%s\" tls=\"%s\" verified=yes",
		    relay, desc);
	else
		log_info("event=tls relay=\"%s\" tls=\"%s\" verified=no "
		    "reason=\"%s\"", relay, desc,
		    log_safe(why, swhy, sizeof(swhy)));
	/* RFC 3207 4.2: forget everything learnt before TLS. */
	memset(&c->caps, 0, sizeof(c->caps));
	send_hello(c);
}

static int
on_hello_reply(struct smtp_conn *c)
{
	const struct smtp_client_reply *r = &c->reply;
	bool want_tls;
	char text[256];

	if (r->code / 100 != 2) {
		/* RFC 5321 3.2: a server that does not know EHLO gets HELO. */
		if (c->state == C_EHLO && !c->p.lmtp && !c->tls_on &&
		    (r->code == 500 || r->code == 502) && !c->tried_helo) {
			char line[SMTP_DOMAIN_MAX + 8];

			c->tried_helo = true;
			snprintf(line, sizeof(line), "HELO %s", c->p.helo);
			smtpc_line(c, line);
			c->state = C_HELO;
			return 0;
		}
		return setup_fail_reply(c, c->p.lmtp ? "LHLO" :
		    c->state == C_HELO ? "HELO" : "EHLO");
	}
	if (c->state == C_EHLO)
		smtp_caps_parse(r, &c->caps);
	want_tls = !c->tls_on && !c->p.no_tls && c->p.tls_ctx != NULL &&
	    (c->caps.starttls || tls_required(c));
	if (want_tls && c->caps.starttls) {
		smtpc_line(c, "STARTTLS");
		c->state = C_STARTTLS;
		return 0;
	}
	if (!c->tls_on && tls_required(c)) {
		smtpc_textf(text, sizeof(text), "host %s[%s] offers no "
		    "STARTTLS, and TLS is required for this destination",
		    c->name, c->ip);
		return setup_fail(c, DELIVER_TEMPFAIL, "4.7.4", text);
	}
	return after_hello(c);
}

/* -- input and events --------------------------------------------------- */

/* The connection failed (EOF, error, timeout, garbage): what that means
 * depends on where we were. */
static void
conn_broken(struct smtp_conn *c, const char *why)
{
	static const char *const during[] = {
		"while connecting", "while waiting for the greeting",
		"after EHLO", "after HELO", "after STARTTLS",
		"in the TLS handshake", "after AUTH", "while idle",
		"in the transaction", "while sending the message",
		"after RSET", "at the end of the transaction",
	};
	struct deliver_result res;
	char text[384];

	/* "connect to mx[192.0.2.1]:25: Connection refused", or
	 * "lost connection with mx[192.0.2.1] while sending the message". */
	if (c->state == C_CONNECTING)
		smtpc_textf(text, sizeof(text), "connect to %s: %s",
		    c->relay, why);
	else
		smtpc_textf(text, sizeof(text), "%s with %s[%s] %s", why,
		    c->name, c->ip, during[c->state]);
	c->usable = false;
	switch (c->state) {
	case C_CONNECTING:
	case C_GREETING:
	case C_EHLO:
	case C_HELO:
	case C_STARTTLS:
	case C_HANDSHAKE:
	case C_AUTH:
		if (c->state == C_HANDSHAKE)
			c->tls_failed = true;
		setup_fail(c, DELIVER_TEMPFAIL, c->state == C_CONNECTING ?
		    "4.4.1" : "4.4.2", text);
		return;
	case C_IDLE:
		c->ops->lost(c->arg, c);
		conn_free(c);
		return;
	case C_TX:
	case C_DATA:
	case C_RSET:
		smtpc_result(&res, DELIVER_TEMPFAIL, "4.4.2", text);
		smtp_tx_fill_unfinished(c, &res);
		smtp_tx_done(c);
		return;
	case C_FAILING:
		c->usable = false;
		return;		/* tx_fail_later_cb (tx file) reports */
	}
}

/* One complete reply.  -1 when c is gone or no longer ours to read. */
static int
on_reply(struct smtp_conn *c)
{
	const struct smtp_client_reply *r = &c->reply;
	int rc;

	switch (c->state) {
	case C_GREETING:
		if (r->code / 100 != 2)
			return setup_fail_reply(c, "the greeting");
		send_hello(c);
		return 0;
	case C_EHLO:
	case C_HELO:
		return on_hello_reply(c);
	case C_STARTTLS:
		if (r->code == 220)
			return start_tls(c);
		if (tls_required(c))
			return setup_fail_reply(c, "STARTTLS");
		return after_hello(c);
	case C_AUTH:
		if (r->code != 235)
			return setup_fail_reply(c, "AUTH");
		return become_ready(c);
	case C_TX:
	case C_DATA:
		rc = smtp_tx_reply(c);
		if (rc == -2)
			break;
		return rc;
	case C_RSET:
		if (r->code / 100 != 2)
			c->usable = false;
		smtp_tx_done(c);
		return -1;
	case C_FAILING:
		/* The transaction has failed without a word to the server
		 * (a check before MAIL), and the server speaks anyway: a
		 * 421, or anything it was not asked for.  Never reused. */
		c->usable = false;
		return -1;
	case C_CONNECTING:
	case C_HANDSHAKE:
	case C_IDLE:
		break;
	}
	/* A reply out of turn (e.g. 421 while idle): the server is leaving. */
	conn_broken(c, "unexpected reply");
	return -1;
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	for (;;) {
		line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > SMTP_CLIENT_LINE_MAX) {
				conn_broken(c, "over-long reply line");
				return;
			}
			return;
		}
		switch (smtp_client_reader_feed(&c->rd, line, len)) {
		case SMTP_CLIENT_MORE:
			free(line);
			continue;
		case SMTP_CLIENT_BAD:
			free(line);
			conn_broken(c, "malformed reply");
			return;
		case SMTP_CLIENT_DONE:
			free(line);
			break;
		}
		c->reply = c->rd.reply;
		smtp_client_reader_init(&c->rd);
		if (on_reply(c) < 0)
			return;
	}
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_conn *c = arg;

	(void)bev;
	if (c->state == C_DATA)
		smtp_tx_stream_data(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_conn *c = arg;
	char why[160];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == C_HANDSHAKE) {
			tls_established(c);
			return;
		}
		c->state = C_GREETING;
		smtpc_timeout(c, c->p.timeout_greeting);
		return;
	}
	/* A handshake that failed because the certificate did (only
	 * SSL_VERIFY_PEER, tls = "verify", fails it for that). */
	if (c->state == C_HANDSHAKE && c->p.tls == TRANSPORT_TLS_VERIFY &&
	    tls_client_verify_result(bufferevent_openssl_get_ssl(c->bev), why,
	    sizeof(why)) == 0) {
		verify_failed(c, why);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		snprintf(why, sizeof(why), c->state == C_CONNECTING ?
		    "timed out" : "conversation timed out");
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "lost connection");
	else if (c->state == C_HANDSHAKE)
		snprintf(why, sizeof(why), "TLS handshake failed (%s)",
		    tls_error_text((char[160]){ 0 }, 160));
	else if (c->state == C_CONNECTING)
		/* libevent left SO_ERROR's value in errno (0 when lost). */
		snprintf(why, sizeof(why), "%s", errno != 0 ? strerror(errno) :
		    "connection failed");
	else
		snprintf(why, sizeof(why), "connection error");
	conn_broken(c, why);
}

/* -- the public part ---------------------------------------------------- */

static void
describe_peer(struct smtp_conn *c, const struct sockaddr *sa, const char *name)
{
	snprintf(c->name, sizeof(c->name), "%s", name);
	if (sa->sa_family == AF_UNIX) {
		snprintf(c->ip, sizeof(c->ip), "unix");
		snprintf(c->relay, sizeof(c->relay), "unix:%s", c->name);
		return;
	}
	netaddr_ip(sa, c->ip, sizeof(c->ip));
	snprintf(c->relay, sizeof(c->relay), "%s[%s]:%u", c->name, c->ip,
	    netaddr_port(sa));
}

static void
connect_failed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;

	(void)fd;
	(void)what;
	conn_broken(c, strerror(c->connect_errno));
}

/* Our own side of the connection could not be set up: 4.4.0, not the
 * 4.4.1 of a host that does not answer (RFC 3463 3.5). */
static void
bind_failed_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;
	char src[INET6_ADDRSTRLEN], text[384];

	(void)fd;
	(void)what;
	netaddr_ip((const struct sockaddr *)&c->p.source, src, sizeof(src));
	smtpc_textf(text, sizeof(text), "connect to %s: cannot bind to the "
	    "source address %s: %s", c->relay, src,
	    strerror(c->connect_errno));
	setup_fail(c, DELIVER_TEMPFAIL, "4.4.0", text);
}

/* A non-blocking socket of sa's family bound to p->source (port 0), or
 * -1 with errno. */
static evutil_socket_t
bound_socket(const struct smtp_conn_params *p, const struct sockaddr *sa)
{
	int fd, e;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
#ifdef IP_BIND_ADDRESS_NO_PORT
	/* The port is picked at connect(), per destination: a bound source
	 * then costs no local port per connection (Linux 4.2).  Best
	 * effort: without it, bind picks the port. */
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT,
	    &(int){ 1 }, sizeof(int));
#endif
	if (bind(fd, (const struct sockaddr *)&p->source, p->source_len) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

void
smtpc_later(struct smtp_conn *c, event_callback_fn cb)
{
	struct timeval now = { 0, 0 };

	if (c->later != NULL)
		event_free(c->later);
	c->later = evtimer_new(c->base, cb, c);
	if (c->later == NULL)
		panic("cannot create a timer");
	evtimer_add(c->later, &now);
}

struct smtp_conn *
smtp_conn_open(struct event_base *base, const struct smtp_conn_params *p,
    const struct sockaddr *sa, socklen_t salen, const char *name,
    const struct smtp_conn_ops *ops, void *arg)
{
	struct smtp_conn *c = xcalloc(1, sizeof(*c));
	evutil_socket_t fd = -1;

	c->base = base;
	c->p = *p;
	c->ops = ops;
	c->arg = arg;
	c->state = C_CONNECTING;
	snprintf(c->tls_version, sizeof(c->tls_version), "none");
	describe_peer(c, sa, name);
	smtp_client_reader_init(&c->rd);
	/* Never for a unix socket: a source address is a TCP matter. */
	if (p->source_len > 0 && sa->sa_family != AF_UNIX &&
	    p->source.ss_family == sa->sa_family &&
	    (fd = bound_socket(p, sa)) < 0) {
		c->connect_errno = errno;
		smtpc_later(c, bind_failed_cb);
		return c;
	}
	c->bev = bufferevent_socket_new(base, fd,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL)
		panic("cannot create a bufferevent");
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, DATA_LOW_WATER, 0);
	smtpc_timeout(c, p->connect_timeout);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	/* libevent reports a refused connect() through the (deferred)
	 * event callback, but other immediate failures (no such socket
	 * file, no route) only by the return value: those are reported
	 * from the loop too, never from inside this call. */
	if (bufferevent_socket_connect(c->bev, sa, (int)salen) < 0) {
		c->connect_errno = errno;
		smtpc_later(c, connect_failed_cb);
	}
	return c;
}

void
smtp_conn_close(struct smtp_conn *c)
{
	if (c == NULL)
		return;
	/*
	 * QUIT goes out at once, straight to the socket (the output buffer
	 * of an idle connection is empty), and the connection is freed
	 * without waiting for the 221 (RFC 5321 4.1.1.10 SHOULD): nothing
	 * is left that its answer could change, and nothing outlives its
	 * owner.  Over TLS, close_notify follows it (RFC 8446 6.1): libevent
	 * frees the SSL without one, and a strict server would take the end
	 * for a truncation.  One SSL_shutdown, non-blocking, sends it; the
	 * server's close_notify is not waited for either.
	 */
	if (c->usable && c->state == C_IDLE &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		if (c->tls_on) {
			SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

			if (SSL_write(ssl, "QUIT\r\n", 6) > 0)
				(void)SSL_shutdown(ssl);
			ERR_clear_error();
		} else {
			(void)send(bufferevent_getfd(c->bev), "QUIT\r\n", 6,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		}
	}
	conn_free(c);
}

bool
smtp_conn_usable(const struct smtp_conn *c)
{
	return c->usable;
}

bool
smtp_conn_tls_failed(const struct smtp_conn *c)
{
	return c->tls_failed;
}

const char *
smtp_conn_relay(const struct smtp_conn *c)
{
	return c->relay;
}

const char *
smtp_conn_tls(const struct smtp_conn *c)
{
	return c->tls_version;
}
