/*
 * SMTP AUTH for a session (RFC 4954): runs the SASL exchange
 * (auth/sasl.c), checks the password in a worker thread (yescrypt is
 * deliberately slow; the loop must not wait for it), and holds guessing
 * to the policy of auth/throttle.h, per client network.
 *
 * An attempt goes SASL (the exchange) → WAITING (its network's turn has
 * not come: another of its checks, or a failure delay, runs) → CHECKING
 * (the worker) → DELAY (a failure: the wait before 535), or it is refused
 * with 421 and no check when the network is blocked, at any step: at the
 * AUTH command, when the credentials are complete, and when a waiting
 * attempt's turn comes.  Waiting attempts are woken from the loop when a
 * check ends (at once after a success or a block, after the delay after
 * a failure), never from inside another session's code; each gives up
 * after timeouts.command with 454 4.7.0.  The throttle sees the end of
 * every check it started, also when the client left meanwhile: check_done
 * always runs, and records before it looks at the session.
 *
 * No oracle: an unknown user is checked against a dummy hash of the same
 * cost, and every failure gets the same reply after the same delay, so
 * neither the reply nor its timing says whether the user exists.  The
 * password lives only in the sasl_exchange and is wiped as soon as the
 * check is done; it is never logged.
 */
#include "smtpd/session_internal.h"

#include <ctype.h>
#include <pthread.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth/password.h"
#include "auth/sasl.h"
#include "auth/throttle.h"
#include "common/config.h"
#include "common/log.h"
#include "common/workpool.h"
#include "common/xmalloc.h"
#include "route/domains.h"
#include "smtpd/server.h"

enum auth_phase {
	AUTH_SASL,		/* the exchange: waiting for the client */
	AUTH_WAITING,		/* credentials complete, the network's turn not */
	AUTH_CHECKING,		/* the worker checks the password */
	AUTH_DELAY,		/* a failure: waiting before 535 or 421 */
};

struct auth_attempt {
	struct session *s;
	struct sasl_exchange x;
	char hash[256];		/* the user's crypt(3) hash, "" for none */
	bool refuse;		/* fail whatever the password (e.g. authzid) */
	bool malformed;		/* the exchange failed: a failure, no check */
	bool ok;		/* the worker's verdict */
	bool blocked;		/* this failure blocked the client's network */
	unsigned delay_ms;	/* before 535 */
	uint64_t answer_at;	/* auth_throttle_now() when the delay ends */
	enum auth_phase phase;
	struct event *timer;	/* WAITING: give up; DELAY: answer */
};

static void auth_turn(struct session *s);

static const char *
mech_name(enum sasl_mech m)
{
	return m == SASL_MECH_PLAIN ? "PLAIN" : m == SASL_MECH_LOGIN ? "LOGIN" : "?";
}

static const struct sockaddr *
peer(const struct session *s)
{
	return (const struct sockaddr *)&s->peer;
}

/* Never while CHECKING: the worker's job pins the session until then. */
void
session_auth_free(struct session *s)
{
	struct auth_attempt *a = s->auth;

	if (a == NULL)
		return;
	if (a->timer != NULL)
		event_free(a->timer);
	sasl_clear(&a->x);
	explicit_bzero(a, sizeof(*a));
	free(a);
	s->auth = NULL;
}

/*
 * The session is closing: an attempt still in the exchange, waiting for
 * its network's turn or in its failure delay ends now, so neither its
 * timer (454, 535) nor a wake-up (a password check) acts after the last
 * reply.  One in its password check is pinned by the worker's job and
 * ends in check_done, which sees SESSION_CLOSING; the throttle hears of
 * that check either way.
 */
void
session_auth_abandon(struct session *s)
{
	if (s->auth != NULL && s->auth->phase != AUTH_CHECKING)
		session_auth_free(s);
}

bool
session_auth_waiting(const struct session *s)
{
	return s->auth != NULL && s->auth->phase == AUTH_WAITING;
}

/* The exchange is over, one way or the other: back to commands. */
static void
auth_end(struct session *s, const struct smtp_reply *r)
{
	session_auth_free(s);
	session_set_state(s, SESSION_READY);
	session_reply(s, r);
	session_count_reply(s, r);
}

/* After a reply that came late (the check, a delay): go on with input,
 * unless that reply was one error too many. */
static void
auth_end_resume(struct session *s, const struct smtp_reply *r)
{
	auth_end(s, r);
	if (s->state != SESSION_CLOSING)
		session_resume(s);
}

/* The network is blocked: 421 and close, no password checked. */
static void
auth_refuse_blocked(struct session *s, bool after_failure)
{
	struct smtp_reply r;

	if (!after_failure)
		log_info("event=auth-refused session=%s client=[%s] reason=blocked",
		    s->id, s->ip);
	session_auth_free(s);
	smtp_reply_set(&r, 421, "4.7.0", "%s Too many authentication failures, "
	    "closing connection", s->srv->cfg->hostname);
	session_close(s, &r);
}

/* Wake the sessions waiting for their network's turn. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct session *s, *next;

	(void)fd;
	(void)what;
	/* auth_turn may close s (421), never another session. */
	for (s = TAILQ_FIRST(&srv->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (session_auth_waiting(s))
			auth_turn(s);
	}
}

static struct timeval
tv_ms(uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

static void
wake_later(struct server *srv, uint64_t ms)
{
	struct timeval tv = tv_ms(ms);

	if (event_base_once(srv->base, -1, EV_TIMEOUT, wake_cb, srv, &tv) < 0)
		log_error("event=error reason=\"cannot schedule the AUTH wake-up\"");
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct smtp_reply r;
	struct timeval tv;
	uint64_t now;

	(void)fd;
	(void)what;
	if (s->auth->phase == AUTH_WAITING) {
		/* RFC 4954 6: a temporary failure; the client may retry. */
		log_info("event=auth-wait-timeout session=%s client=[%s]", s->id, s->ip);
		smtp_reply_set(&r, 454, "4.7.0", "Temporary authentication failure, "
		    "try again later");
		auth_end_resume(s, &r);
		return;
	}
	if (s->auth->blocked) {
		auth_refuse_blocked(s, true);
		return;
	}
	/* The loop's timers count from when the loop woke, which may be a
	 * little before the throttle's clock started the delay: 535 goes
	 * only once the delay is out, so a client that retries at once
	 * finds its network's turn come and does not wait again. */
	now = auth_throttle_now();
	if (now < s->auth->answer_at) {
		tv = tv_ms(s->auth->answer_at - now);
		evtimer_add(s->auth->timer, &tv);
		return;
	}
	smtp_reply_set(&r, 535, "5.7.8", "Authentication credentials invalid");
	auth_end_resume(s, &r);
}

/*
 * The check is over: tell the throttle, log it, wake whoever waits.
 * Runs whatever became of the client, so a guess is never lost.
 */
static void
auth_record(struct session *s)
{
	struct auth_attempt *a = s->auth;
	char user[SASL_FIELD_MAX * 4 + 1];

	uint64_t now = auth_throttle_now();

	a->blocked = auth_throttle_end(s->srv->throttle, peer(s), now, a->ok,
	    &a->delay_ms);
	a->answer_at = now + a->delay_ms;
	if (a->ok) {
		/* auth_check refused logins longer than an address: this fits. */
		for (size_t i = 0; i < sizeof(s->login); i++) {
			s->login[i] = (char)tolower((unsigned char)a->x.authcid[i]);
			if (s->login[i] == '\0')
				break;
		}
		s->login[sizeof(s->login) - 1] = '\0';
		log_info("event=auth session=%s client=[%s] user=\"%s\" mechanism=%s",
		    s->id, s->ip, log_safe(s->login, user, sizeof(user)),
		    mech_name(a->x.mech));
	} else {
		log_info("event=auth-failed session=%s client=[%s] user=\"%s\" "
		    "mechanism=%s%s", s->id, s->ip,
		    log_safe(a->x.authcid, user, sizeof(user)),
		    mech_name(a->x.mech), a->blocked ? " blocked=yes" : "");
	}
	sasl_clear(&a->x);
	wake_later(s->srv, a->ok || a->blocked ? 0 : a->delay_ms);
}

/* Answer the client: 235 now, 535 after the delay, or 421 at once. */
static void
auth_answer(struct session *s)
{
	struct auth_attempt *a = s->auth;
	struct smtp_reply r;
	struct timeval tv;

	if (s->state == SESSION_CLOSING) {
		session_auth_free(s);	/* closed meanwhile: no verdict */
		return;
	}
	if (a->ok) {
		s->authenticated = true;
		smtp_reply_set(&r, 235, "2.7.0", "Authentication successful");
		auth_end_resume(s, &r);
		return;
	}
	/* A blocked client is cut off at once: waiting would only hold our
	 * resources, and its block runs from now. */
	a->phase = AUTH_DELAY;
	tv = tv_ms(a->blocked ? 0 : a->delay_ms);
	evtimer_add(a->timer, &tv);
}

static void
check_done(void *arg)
{
	struct auth_attempt *a = arg;
	struct session *s = a->s;

	auth_record(s);
	if (session_drop_if_dead(s))
		return;
	auth_answer(s);
}

/*
 * The hash an unknown user is checked against: same algorithm and cost
 * as real ones, so the check takes as long.  Made on first use, in a
 * worker thread: yescrypt needs megabytes for a moment, which a server
 * that never sees AUTH should not pay at start-up.
 */
static char dummy_hash[256];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void
dummy_make(void)
{
	if (password_hash("decorum: no such user", dummy_hash, sizeof(dummy_hash)) < 0)
		dummy_hash[0] = '\0';	/* verify then fails, as it must */
}

static void
check_work(void *arg)
{
	struct auth_attempt *a = arg;
	const char *hash;

	pthread_once(&dummy_once, dummy_make);
	hash = a->hash[0] != '\0' ? a->hash : dummy_hash;

	/* Same work for unknown users, refused authzids and real checks. */
	a->ok = password_verify(a->x.password, hash) && a->hash[0] != '\0' && !a->refuse;
}

/* Ask the throttle for the network's turn; check, wait, or refuse. */
static void
auth_turn(struct session *s)
{
	struct auth_attempt *a = s->auth;
	struct timeval tv = { (time_t)s->srv->cfg->timeout_command, 0 };
	uint64_t wait_ms;

	switch (auth_throttle_begin(s->srv->throttle, peer(s),
	    auth_throttle_now(), &wait_ms)) {
	case THROTTLE_BLOCKED:
		auth_refuse_blocked(s, false);
		return;
	case THROTTLE_WAIT:
		if (a->phase != AUTH_WAITING) {
			log_info("event=auth-wait session=%s client=[%s]", s->id, s->ip);
			a->phase = AUTH_WAITING;
			evtimer_add(a->timer, &tv);
		}
		/* A failure's delay holds the network: wake at its end.  The
		 * wake-up auth_record scheduled may come a little before it
		 * (the loop's timers count from when the loop woke, our
		 * clock from now) or before we started waiting. */
		if (wait_ms > 0)
			wake_later(s->srv, wait_ms);
		return;
	case THROTTLE_GO:
		break;
	}
	evtimer_del(a->timer);
	a->phase = AUTH_CHECKING;
	if (a->malformed) {
		a->ok = false;	/* nothing to check: a failure at once */
		auth_record(s);
		auth_answer(s);
		return;
	}
	s->pinned++;
	workpool_submit(s->srv->pool, check_work, check_done, a);
}

/* The user's hash into a->hash ("" for no such user: the dummy is
 * checked).  -1 when the tables cannot say (the domains folder missing
 * or unreadable, the users file never read whole): try later. */
static int
auth_lookup(struct auth_attempt *a, struct domains *domains)
{
	const char *at = strrchr(a->x.authcid, '@'), *hash = NULL;
	char local[SMTP_LOCAL_PART_MAX + 1];

	if (at == NULL || (size_t)(at - a->x.authcid) >= sizeof(local))
		return 0;
	snprintf(local, sizeof(local), "%.*s", (int)(at - a->x.authcid),
	    a->x.authcid);
	switch (domains_user(domains, local, at + 1, &hash)) {
	case 1:
		if (hash != NULL)
			snprintf(a->hash, sizeof(a->hash), "%s", hash);
		return 0;
	case 0:
		return 0;
	default:
		return -1;
	}
}

/*
 * The tables cannot say whether the user exists: no password is
 * checked, no failure counted (the client did nothing wrong, and a
 * guess that cannot be checked is no guess), and the client may retry
 * (RFC 4954 6: 454 4.7.0).  Whoever waits for the network's turn keeps
 * waiting: this attempt never took one.
 */
static void
auth_tempfail(struct session *s, struct smtp_reply *r)
{
	char user[SASL_FIELD_MAX * 4 + 1];

	log_warn("event=auth-tempfail session=%s client=[%s] user=\"%s\" "
	    "mechanism=%s reason=tables", s->id, s->ip,
	    log_safe(s->auth->x.authcid, user, sizeof(user)),
	    mech_name(s->auth->x.mech));
	session_auth_free(s);
	session_set_state(s, SESSION_READY);
	smtp_reply_set(r, 454, "4.7.0", "Temporary authentication failure");
}

/* The client gave its credentials (or botched them): look the user up,
 * then take the network's turn.  Input waits meanwhile; r gets a reply
 * only when the tables cannot answer. */
static void
auth_check(struct session *s, struct smtp_reply *r)
{
	struct auth_attempt *a = s->auth;

	if (!a->malformed) {
		/* RFC 4954 4: a different authorization identity is acting
		 * on someone else's behalf; refused unless allowed. */
		if (a->x.authzid[0] != '\0' &&
		    strcasecmp(a->x.authzid, a->x.authcid) != 0 &&
		    !s->srv->cfg->auth_allow_authzid)
			a->refuse = true;
		/* A login is an address; anything longer names nobody. */
		if (strlen(a->x.authcid) >= sizeof(s->login))
			a->refuse = true;
		if (auth_lookup(a, s->srv->domains) < 0) {
			auth_tempfail(s, r);
			return;
		}
	}
	session_set_state(s, SESSION_AUTH_CHECK);	/* reading stops */
	auth_turn(s);
}

/* Act on what the SASL machine said; r gets the reply to send now
 * (code 0: none, the check runs or the session closes). */
static void
auth_status(struct session *s, enum sasl_status st, const char *challenge,
    struct smtp_reply *r)
{
	r->code = 0;
	switch (st) {
	case SASL_CONTINUE:
		session_set_state(s, SESSION_AUTH);
		smtp_reply_set(r, 334, "", "%s", challenge);
		return;
	case SASL_DONE:
		auth_check(s, r);
		return;
	case SASL_CANCELLED:
		session_auth_free(s);
		session_set_state(s, SESSION_READY);
		smtp_reply_set(r, 501, "5.0.0", "Authentication cancelled");
		return;
	case SASL_BAD_BASE64:
		session_auth_free(s);
		session_set_state(s, SESSION_READY);
		smtp_reply_set(r, 501, "5.5.2", "Invalid base64 data");
		return;
	case SASL_MALFORMED:
	default:
		s->auth->malformed = true;
		auth_check(s, r);
		return;
	}
}

void
session_auth_begin(struct session *s, const char *arg, size_t len, struct smtp_reply *r)
{
	const char *sp = memchr(arg, ' ', len);
	size_t mlen = sp != NULL ? (size_t)(sp - arg) : len;
	enum sasl_mech mech = sasl_mech_parse(arg, mlen);
	char challenge[128];
	enum sasl_status st;

	/* A blocked network gets no exchange at all, on any connection. */
	if (auth_throttle_blocked(s->srv->throttle, peer(s),
	    auth_throttle_now())) {
		r->code = 0;
		auth_refuse_blocked(s, false);
		return;
	}
	if (mech == SASL_MECH_UNKNOWN) {
		smtp_reply_set(r, 504, "5.5.4", "Unrecognized authentication type");
		return;
	}
	s->auth = xcalloc(1, sizeof(*s->auth));
	s->auth->s = s;
	s->auth->phase = AUTH_SASL;
	s->auth->timer = evtimer_new(s->srv->base, timer_cb, s);
	if (s->auth->timer == NULL)
		panic("cannot create an event");
	st = sasl_start(&s->auth->x, mech, sp != NULL ? sp + 1 : NULL,
	    sp != NULL ? len - mlen - 1 : 0, challenge, sizeof(challenge));
	auth_status(s, st, challenge, r);
}

void
session_auth_line(struct session *s, const char *line, size_t len)
{
	char challenge[128];
	struct smtp_reply r;
	enum sasl_status st;

	st = sasl_step(&s->auth->x, line, len, challenge, sizeof(challenge));
	auth_status(s, st, challenge, &r);
	if (r.code == 0)
		return;
	session_reply(s, &r);
	session_count_reply(s, &r);
}
