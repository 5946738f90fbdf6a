/*
 * One SMTP session: RFC 5321 server side, with PIPELINING (RFC 2920),
 * SIZE (RFC 1870), 8BITMIME (RFC 6152), ENHANCEDSTATUSCODES (RFC 2034)
 * and SMTPUTF8 (RFC 6531).
 *
 * Called by the listener for each accepted connection.  Trusts nothing the
 * client sends: every line is bounded (SMTP_COMMAND_LINE_MAX), every
 * state has a timeout, every error counts towards max_errors.
 *
 * Shape: a state enum plus a transaction object.  Command handlers
 * (commands.c) return a reply; this file frames input into lines or DATA
 * bytes, sends replies, counts errors and owns the connection's life.
 * The transaction lives from MAIL to the end of DATA or RSET and is freed
 * in one place (session_reset_tx).
 *
 * Input is processed only while the output buffer is small and no spool
 * commit is in flight, so a client that pipelines without reading replies
 * cannot make us buffer without bound.
 *
 * Admission (with listener.c and admission.c): with greet_delay the 220
 * waits that long, and a client that speaks before it gets 554 and is
 * closed (RFC 5321 3.1: the client waits for the greeting; spam engines
 * that do not are the ones caught).  Junk commands are capped per
 * session (junk_command_limit), on top of max_errors, so that no client
 * can make the log grow without bound with NOOPs.  Under stress
 * (server.h) command and handshake timeouts shrink.
 */
#include "smtpd/session_internal.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/throttle.h"
#include "common/config.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/pidcache.h"
#include "common/xmalloc.h"
#include "dns/fcrdns.h"
#include "policy/policy.h"
#include "queue/spool.h"
#include "smtpd/admission.h"
#include "smtpd/server.h"

/* Stop reading input while this much output waits for the client. */
#define OUTPUT_HIGH_WATER	(64 * 1024)

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_handshaken(struct session *s);

static const char *state_names[] = {
	[SESSION_CONNECTED] = "connected",
	[SESSION_READY] = "ready",
	[SESSION_MAIL] = "mail",
	[SESSION_RCPT] = "rcpt",
	[SESSION_POLICY] = "policy",
	[SESSION_DATA] = "data",
	[SESSION_SCAN] = "scan",
	[SESSION_COMMIT] = "commit",
	[SESSION_AUTH] = "auth",
	[SESSION_AUTH_CHECK] = "auth-check",
	[SESSION_STARTTLS] = "starttls",
	[SESSION_CLOSING] = "closing",
};

void
session_set_state(struct session *s, enum session_state state)
{
	const struct config *cfg = s->srv->cfg;
	struct timeval tv = { 0, 0 };

	if (cfg->debug && s->state != state)
		/* old=/new=: from= and to= name addresses in other lines. */
		log_debug("event=state session=%s old=%s new=%s", s->id,
		    state_names[s->state], state_names[state]);
	s->state = state;
	/* RFC 5321 4.5.3.2: the server waits at least 5 minutes for a
	 * command and 10 minutes between data blocks; both configurable. */
	tv.tv_sec = state == SESSION_DATA ? cfg->timeout_data :
	    server_command_timeout(s->srv);
	/* Before the 220 a delay is no fault of the client's. */
	if (s->greet_waiting)
		tv.tv_sec += cfg->greet_delay;
	session_input_timeouts(s, &tv);
	/* These states wait for something other than the client, and
	 * read nothing: what the client sends meanwhile (and its EOF)
	 * stays in the socket until session_resume. */
	if (state == SESSION_SCAN || state == SESSION_COMMIT ||
	    state == SESSION_AUTH_CHECK || state == SESSION_STARTTLS ||
	    state == SESSION_CLOSING)
		session_input_off(s);
}

void
session_stress(struct session *s)
{
	switch (s->state) {
	case SESSION_CONNECTED:
	case SESSION_READY:
	case SESSION_MAIL:
	case SESSION_RCPT:
	case SESSION_AUTH:
	case SESSION_STARTTLS:
		session_set_state(s, s->state);	/* re-arms the timeout */
		break;
	default:
		break;
	}
}

/*
 * Replies on a plaintext connection are written straight to the socket,
 * once per loop pass for all the replies of that pass (the flush event,
 * so pipelined replies still leave in one write): a reply costs one
 * writev and no epoll changes.  Only what the socket does not take at
 * once goes through the bufferevent's write event, which then stays on
 * until the output is empty (session_write_cb turns it off again) and
 * keeps its timeout and error handling.  TLS output always goes through
 * its bufferevent, which owns the record layer.
 */
static void
session_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	int n;

	(void)fd;
	(void)what;
	if (s->dead || s->tls || evbuffer_get_length(out) == 0 ||
	    (bufferevent_get_enabled(s->bev) & EV_WRITE))
		return;
	/* The bufferevent keeps its output's start frozen to everyone but
	 * itself; thawed for this one write.  An error or a full socket:
	 * libevent retries, reports, times out. */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, bufferevent_getfd(s->bev));
	evbuffer_freeze(out, 1);
	if (n < 0 || evbuffer_get_length(out) != 0) {
		bufferevent_enable(s->bev, EV_WRITE);
		return;
	}
	session_write_cb(s->bev, s);	/* may free s */
}

void
session_reply(struct session *s, const struct smtp_reply *r)
{
	struct buf out;

	buf_init(&out, 8192);
	if (smtp_reply_format(r, &out) == 0)
		evbuffer_add(bufferevent_get_output(s->bev), out.data, out.len);
	buf_free(&out);
	if (!s->tls)
		event_active(s->flush, 0, 0);
}

/* Send a last reply, then close once the output has been flushed (on
 * TLS, with close_notify after it: session_tls_close). */
void
session_close(struct session *s, const struct smtp_reply *last)
{
	if (last != NULL)
		session_reply(s, last);
	/* A transaction being committed is finished by commit_done, a
	 * password check by check_done; any other AUTH step ends here, or
	 * its timer would answer after this last reply. */
	if (s->pinned == 0)
		session_reset_tx(s);
	session_auth_abandon(s);
	session_set_state(s, SESSION_CLOSING);	/* reading stops */
	/* The write callback frees the session when output is empty. */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (s->tls)
		bufferevent_enable(s->bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_write_cb(s->bev, s);
}

static void
session_free(struct session *s)
{
	struct server *srv = s->srv;

	log_info("event=disconnect session=%s client=[%s] commands=%u errors=%u messages=%u",
	    s->id, s->ip, s->n_commands, s->errors, s->n_messages);
	session_reset_tx(s);
	session_auth_free(s);
	fcrdns_cancel(s->lookup);
	policy_free(s->policy);
	if (s->greet_timer != NULL)
		event_free(s->greet_timer);
	/* (auth_throttle_now: the monotonic ms clock admission.c counts in.) */
	admission_leave(srv->admission, s->client, auth_throttle_now());
	free(s->rdns);
	TAILQ_REMOVE(&srv->sessions, s, entry);
	if (s->tls_close != NULL)
		event_free(s->tls_close);
	event_free(s->flush);
	session_input_free(s);	/* before its descriptor is closed */
	bufferevent_free(s->bev);
	buf_free(&s->line);
	free(s);
	server_session_gone(srv);
}

void
session_abort(struct session *s)
{
	session_free(s);
}

/*
 * A worker job (spool commit, password check) that held the session has
 * finished.  If the client left meanwhile, free the session now and tell
 * the caller not to touch it.
 */
bool
session_drop_if_dead(struct session *s)
{
	s->pinned--;
	if (!s->dead)
		return false;
	if (s->pinned == 0)
		session_free(s);
	return true;
}

/* The client went away, or the connection failed. */
static void
session_drop(struct session *s, const char *why)
{
	if (s->pinned > 0) {
		/* A worker job holds a pointer to us: let it finish and free
		 * us then (a message being committed is queued; the client
		 * may send it again, a duplicate RFC 1047 accepts). */
		s->dead = true;
		session_input_off(s);
		bufferevent_disable(s->bev, EV_WRITE);
		log_info("event=lost session=%s client=[%s] reason=\"%s\" state=%s",
		    s->id, s->ip, why, state_names[s->state]);
		return;
	}
	if (s->state != SESSION_CLOSING)
		log_info("event=lost session=%s client=[%s] reason=\"%s\" state=%s",
		    s->id, s->ip, why, state_names[s->state]);
	session_free(s);
}

/* The last reply is out (and on TLS the close_notify after it): done. */
void
session_closed(struct session *s)
{
	if (s->pinned > 0)
		s->dead = true;	/* the worker job frees us */
	else
		session_free(s);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	/* Plaintext: the next replies are written directly again. */
	if (!s->tls)
		bufferevent_disable(bev, EV_WRITE);
	if (s->state == SESSION_CLOSING) {
		/* RFC 8446 6.1: TLS ends with close_notify, sent after the
		 * last reply; session_tls_close calls session_closed itself
		 * when the socket was too full to take it at once. */
		if (s->tls && session_tls_close(s))
			return;
		session_closed(s);
		return;
	}
	if (s->state == SESSION_STARTTLS) {
		session_starttls(s);
		return;
	}
	/* Output drained below the high-water mark: go on with input that
	 * was waiting (see session_process). */
	if (s->input_paused) {
		s->input_paused = false;
		session_resume(s);
	}
}

/* Take input again after a pause (commit, AUTH check, full output). */
void
session_resume(struct session *s)
{
	if (s->srv->stopping) {
		session_shutdown(s);
		if (s->state == SESSION_CLOSING)
			return;
	}
	session_input_on(s);
	session_process(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	session_event(arg, what);
}

void
session_event(struct session *s, short what)
{
	struct smtp_reply r;

	if (what & BEV_EVENT_CONNECTED) {
		session_tls_connected(s);
		session_handshaken(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == SESSION_CLOSING) {
			session_drop(s, "timeout");
			return;
		}
		log_info("event=timeout session=%s client=[%s] state=%s",
		    s->id, s->ip, state_names[s->state]);
		smtp_reply_set(&r, 421, "4.4.2", "%s Timeout, closing connection",
		    s->srv->cfg->hostname);
		session_close(s, &r);
		/* A client that does not read must not keep us: bounded wait. */
		return;
	}
	/* A failed handshake is logged with its reason, then we close. */
	if (session_tls_failed(s))
		s->state = SESSION_CLOSING;
	session_drop(s, (what & BEV_EVENT_EOF) ? "eof" : "error");
}

/*
 * The spool commit finished (in the loop thread).  Whatever became of the
 * client, a committed message is logged and handed to the qmgr now.
 */
void
session_commit_done(struct session *s, int err)
{
	struct smtp_reply r;
	bool gone = s->dead || s->state == SESSION_CLOSING;

	session_finish_data(s, err, &r);
	if (session_drop_if_dead(s) || gone)
		return;
	/* Mail moved: the RSETs and NOOPs around it were no junk (a client
	 * that reuses its connection sends an RSET per message). */
	if (r.code == 250)
		s->junk = 0;
	session_set_state(s, SESSION_READY);
	session_reply(s, &r);
	session_count_reply(s, &r);
	if (s->state == SESSION_CLOSING)
		return;
	session_resume(s);
}

/*
 * Count an error reply; past max_errors, say 421 and close (RFC 5321
 * 4.5.3.2 lets a server end a session that is going nowhere).
 */
void
session_count_reply(struct session *s, const struct smtp_reply *r)
{
	struct smtp_reply bye;

	if (r->code < 400 || s->state == SESSION_CLOSING)
		return;
	if (++s->errors < s->srv->cfg->max_errors)
		return;
	log_info("event=too-many-errors session=%s client=[%s] errors=%u",
	    s->id, s->ip, s->errors);
	smtp_reply_set(&bye, 421, "4.7.0", "%s Too many errors, closing connection",
	    s->srv->cfg->hostname);
	session_close(s, &bye);
}

bool
session_junk_over(struct session *s, bool junk)
{
	struct smtp_reply bye;

	if (!junk || ++s->junk <= s->srv->cfg->junk_command_limit)
		return false;
	log_info("event=too-much-junk session=%s client=[%s] junk=%u",
	    s->id, s->ip, s->junk);
	smtp_reply_set(&bye, 421, "4.7.0", "%s Too many junk commands, closing connection",
	    s->srv->cfg->hostname);
	session_close(s, &bye);
	return true;
}

/* Feed DATA bytes from the input buffer; true when the end was reached. */
static bool
session_feed_data(struct session *s, struct evbuffer *in)
{
	struct evbuffer_iovec vec;

	while (evbuffer_peek(in, -1, NULL, &vec, 1) > 0 && vec.iov_len > 0) {
		size_t chunk = vec.iov_len > DATA_CHUNK ? DATA_CHUNK : vec.iov_len;
		size_t used = 0;
		enum data_status st;

		st = data_reader_feed(&s->tx->reader, vec.iov_base, chunk,
		    &used, &s->tx->data);
		evbuffer_drain(in, used);
		session_spool_data(s, false);
		if (st == DATA_END)
			return true;
	}
	return false;
}

/* Take the next complete command line; false when none is complete yet. */
static bool
session_next_line(struct session *s, struct evbuffer *in, bool *too_long)
{
	struct evbuffer_ptr eol;
	size_t eol_len = 0, len;

	*too_long = false;
	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
	if (eol.pos < 0) {
		/* No CRLF yet.  A line past the limit is discarded as it comes,
		 * and answered once its CRLF arrives. */
		len = evbuffer_get_length(in);
		if (len > SMTP_COMMAND_LINE_MAX) {
			/* Keep the last byte: it may be the CR of the CRLF. */
			evbuffer_drain(in, len - 1);
			s->discarding = true;
		}
		return false;
	}
	len = (size_t)eol.pos;
	if (s->discarding || len + 2 > SMTP_COMMAND_LINE_MAX) {
		evbuffer_drain(in, len + eol_len);
		s->discarding = false;
		*too_long = true;
		return true;
	}
	buf_reset(&s->line);
	if (buf_append(&s->line, evbuffer_pullup(in, (ssize_t)len), len) < 0)
		panic("command line buffer smaller than its limit");
	evbuffer_drain(in, len + eol_len);
	return true;
}

/*
 * Process whatever input is buffered: command lines, AUTH responses, or
 * DATA bytes.  Stops when input runs out, when a worker job or timer is
 * pending, when the session closes, or when too much output is waiting.
 * The buffers are looked up on every round: STARTTLS replaces them.
 */
void
session_process(struct session *s)
{
	bool too_long;

	while (s->state != SESSION_CLOSING && s->state != SESSION_COMMIT &&
	    s->state != SESSION_SCAN && s->state != SESSION_AUTH_CHECK && s->state != SESSION_STARTTLS &&
	    s->state != SESSION_POLICY) {
		struct evbuffer *in = bufferevent_get_input(s->bev);

		if (evbuffer_get_length(bufferevent_get_output(s->bev)) > OUTPUT_HIGH_WATER) {
			s->input_paused = true;
			session_input_off(s);
			return;
		}
		if (s->state == SESSION_DATA) {
			if (!session_feed_data(s, in))
				return;
			session_end_data(s);
			continue;
		}
		if (!session_next_line(s, in, &too_long))
			return;
		if (too_long) {
			struct smtp_reply r;

			if (s->state == SESSION_AUTH) {
				/* RFC 4954 4: the exchange ends here. */
				session_auth_free(s);
				session_set_state(s, SESSION_READY);
				smtp_reply_set(&r, 500, "5.5.6",
				    "Authentication Exchange line is too long");
			} else {
				if (session_junk_over(s, true))
					return;
				smtp_reply_set(&r, 500, "5.5.2", "Line too long");
			}
			session_reply(s, &r);
			session_count_reply(s, &r);
			continue;
		}
		if (s->state == SESSION_AUTH)
			session_auth_line(s, s->line.data, s->line.len);
		else
			session_command(s, s->line.data, s->line.len);
	}
}

/* The client spoke before our 220 (only read while greet_delay runs). */
static void
session_early_talker(struct session *s)
{
	struct smtp_reply r;

	log_info("event=early-talker session=%s client=[%s] bytes=%zu",
	    s->id, s->ip, evbuffer_get_length(bufferevent_get_input(s->bev)));
	smtp_reply_set(&r, 554, "5.5.1", "%s Protocol error: talking before the greeting",
	    s->srv->cfg->hostname);
	session_close(s, &r);
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	session_readable(arg);
}

void
session_readable(struct session *s)
{
	if (!s->greeted) {
		if (s->state != SESSION_CLOSING &&
		    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
			session_early_talker(s);
		return;
	}
	session_process(s);
}

/* Send the greeting and start reading commands, once the client's name
 * and greet_delay are both in. */
static void
session_greet(struct session *s)
{
	struct smtp_reply r;

	/* A delay not started yet (implicit TLS: at the handshake) is
	 * pending as well. */
	if (s->lookup != NULL || s->greet_waiting || s->greeted ||
	    s->state == SESSION_CLOSING ||
	    (s->srv->cfg->greet_delay > 0 && s->greet_timer == NULL))
		return;
	s->greeted = true;
	session_set_state(s, s->state);	/* the timeout, without the delay */
	smtp_reply_set(&r, 220, "", "%s ESMTP Decorum", s->srv->cfg->hostname);
	session_reply(s, &r);
	session_input_on(s);
	/* Input that came while a delay ran would be an early talker; any
	 * other was never read.  Nothing waits in the buffer. */
}

static void
greet_delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	(void)fd;
	(void)what;
	s->greet_waiting = false;
	session_greet(s);
}

/* Start greet_delay; the client may speak meanwhile, and if it does it
 * is an early talker (session_read_cb). */
static void
session_greet_delay(struct session *s)
{
	struct timeval tv = { (time_t)s->srv->cfg->greet_delay, 0 };

	s->greet_timer = evtimer_new(s->srv->base, greet_delay_cb, s);
	if (s->greet_timer == NULL)
		panic("cannot create a timer");
	s->greet_waiting = true;
	session_set_state(s, s->state);	/* the timeout, with the delay */
	evtimer_add(s->greet_timer, &tv);
	session_input_on(s);
}

/* Implicit TLS is up: greet_delay starts now, so the client's
 * handshake time is not counted in it. */
static void
session_handshaken(struct session *s)
{
	if (s->lc->tls == TLS_MODE_IMPLICIT && s->srv->cfg->greet_delay > 0 &&
	    s->greet_timer == NULL && !s->greeted && s->state != SESSION_CLOSING)
		session_greet_delay(s);
}

/* (Re)attach our callbacks: at start, and to the TLS filter after
 * STARTTLS.  A plaintext bufferevent never reads (session_input.c). */
void
session_setcb(struct session *s)
{
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	if (s->input == NULL)
		bufferevent_setwatermark(s->bev, EV_READ, 0, INPUT_HIGH_WATER);
}

static void
client_name_cb(void *arg, const struct fcrdns_result *res)
{
	struct session *s = arg;
	enum dns_status st = res->status;
	const char *name = res->name;
	const char *status = st == DNS_OK ? "verified" :
	    st == DNS_NOTFOUND ? "none" : "tempfail";
	char safe[LOG_SAFE_SIZE(SMTP_DOMAIN_MAX)];

	s->lookup = NULL;
	if (s->policy != NULL)
		policy_client_name(s->policy, res);
	if (st == DNS_OK)
		s->rdns = xstrdup(name);
	/* The name is DNS's (fcrdns_wire_name allows only hostname bytes,
	 * but it is not ours): quoted, and no field when there is none. */
	if (name != NULL)
		log_info("event=client-name session=%s client=[%s] rdns=\"%s\" status=%s",
		    s->id, s->ip, log_safe(name, safe, sizeof(safe)), status);
	else
		log_info("event=client-name session=%s client=[%s] status=%s",
		    s->id, s->ip, status);
	session_greet(s);
}

void
session_start(struct server *srv, const struct listen_conf *lc, int fd,
    const struct sockaddr *peer, socklen_t peerlen,
    struct admission_client *client, const char *refusal)
{
	struct session *s = xcalloc(1, sizeof(*s));
	char safe[LOG_SAFE_SIZE(64)];

	s->srv = srv;
	s->lc = lc;
	memcpy(&s->peer, peer, peerlen);
	netaddr_ip(peer, s->ip, sizeof(s->ip));
	snprintf(s->id, sizeof(s->id), "%lx.%lx", (unsigned long)pidcache_get(),
	    ++srv->next_session);
	buf_init(&s->line, SMTP_COMMAND_LINE_MAX);
	if (lc->tls == TLS_MODE_IMPLICIT) {
		if (session_tls_start(s, fd) < 0) {
			close(fd);
			buf_free(&s->line);
			free(s);
			admission_leave(srv->admission, client, auth_throttle_now());
			return;
		}
	} else {
		s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (s->bev != NULL)
			session_input_init(s);
	}
	if (s->bev == NULL) {
		close(fd);
		buf_free(&s->line);
		free(s);
		admission_leave(srv->admission, client, auth_throttle_now());
		log_error("event=error reason=\"cannot create a bufferevent\"");
		return;
	}
	s->client = client;
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);
	srv->n_sessions++;
	server_session_added(srv);
	session_setcb(s);
	s->state = SESSION_CONNECTED;
	session_set_state(s, SESSION_CONNECTED);
	s->flush = event_new(srv->base, -1, 0, session_flush_cb, s);
	if (s->flush == NULL)
		panic("cannot create an event");
	/* Nothing the client sends before the greeting is read yet.  On
	 * plaintext, the write event is on only while output is stuck
	 * (libevent turns it on for a new bufferevent). */
	if (s->tls)
		bufferevent_enable(s->bev, EV_WRITE);
	else
		bufferevent_disable(s->bev, EV_WRITE);
	log_info("event=connect session=%s client=[%s] port=%u listener=\"%s\"",
	    s->id, s->ip, netaddr_port(peer), log_safe(lc->address, safe,
	    sizeof(safe)));
	if (refusal != NULL) {
		struct smtp_reply r;

		/* Only implicit TLS gets here: the 421 must go inside TLS. */
		smtp_reply_set(&r, 421, "4.7.0", "%s %s, try again later",
		    srv->cfg->hostname, refusal);
		session_close(s, &r);
		return;
	}
	/* The inbound policy (docs/policy.md); relay_networks skip it. */
	if (!config_is_relay_client(srv->cfg, peer))
		s->policy = policy_new(srv->cfg, srv->base, srv->resolver, peer, s->id);
	if (s->policy != NULL && srv->greylist != NULL)
		policy_set_greylist(s->policy, srv->greylist);
	/* On implicit TLS the delay starts after the handshake. */
	if (srv->cfg->greet_delay > 0 && lc->tls != TLS_MODE_IMPLICIT)
		session_greet_delay(s);
	if (srv->resolver == NULL) {
		if (s->policy != NULL)
			policy_client_name(s->policy, NULL);
		session_greet(s);
		return;
	}
	/* The greeting waits for the client's name, as the Received: header
	 * and the policy checks (fcrdns, rdns_dynamic) need it; bounded by
	 * a deadline.  The lookup runs during greet_delay, not after it. */
	s->lookup = fcrdns_start(srv->resolver, srv->base, peer,
	    srv->cfg->dns_client_timeout, client_name_cb, s);
}

void
session_shutdown(struct session *s)
{
	struct smtp_reply r;

	/* A transaction in progress finishes first (commit_done calls us
	 * again), and so does a password check with its delay; an idle
	 * session, or one whose AUTH still waits its turn, is told now
	 * (session_close ends that AUTH). */
	if (!session_auth_waiting(s) && (s->state == SESSION_DATA ||
	    s->state == SESSION_SCAN || s->state == SESSION_COMMIT || s->state == SESSION_AUTH_CHECK ||
	    s->state == SESSION_CLOSING))
		return;
	smtp_reply_set(&r, 421, "4.3.2", "%s Service shutting down, closing connection",
	    s->srv->cfg->hostname);
	session_close(s, &r);
}
