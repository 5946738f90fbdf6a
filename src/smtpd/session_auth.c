/*
 * SMTP AUTH for a session (RFC 4954): runs the SASL exchange
 * (auth/sasl.c), checks the password in a worker thread (yescrypt is
 * deliberately slow; the loop must not wait for it), and slows down
 * guessing per client IP (auth/throttle.c).
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

struct auth_attempt {
	struct session *s;
	struct sasl_exchange x;
	char hash[256];		/* the user's crypt(3) hash, "" for none */
	bool refuse;		/* fail whatever the password (e.g. authzid) */
	bool ok;		/* the worker's verdict */
	bool blocked;		/* this failure blocked the client */
	struct event *delay;	/* failure delay before 535 / 421 */
};

static const char *
mech_name(enum sasl_mech m)
{
	return m == SASL_MECH_PLAIN ? "PLAIN" : m == SASL_MECH_LOGIN ? "LOGIN" : "?";
}

void
session_auth_free(struct session *s)
{
	struct auth_attempt *a = s->auth;

	if (a == NULL)
		return;
	if (a->delay != NULL)
		event_free(a->delay);
	sasl_clear(&a->x);
	explicit_bzero(a, sizeof(*a));
	free(a);
	s->auth = NULL;
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

static void
delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct smtp_reply r;

	(void)fd;
	(void)what;
	if (s->auth->blocked) {
		session_auth_free(s);
		smtp_reply_set(&r, 421, "4.7.0", "%s Too many authentication failures, "
		    "closing connection", s->srv->cfg->hostname);
		session_close(s, &r);
		return;
	}
	smtp_reply_set(&r, 535, "5.7.8", "Authentication credentials invalid");
	auth_end(s, &r);
	session_resume(s);
}

/* A failure: log it, count it against the IP, answer after a delay. */
static void
auth_failed(struct session *s)
{
	struct auth_attempt *a = s->auth;
	unsigned delay = 0;
	struct timeval tv;
	char user[SASL_FIELD_MAX * 4 + 1];

	a->blocked = auth_throttle_fail(s->srv->throttle,
	    (const struct sockaddr *)&s->peer, time(NULL), &delay);
	log_info("event=auth-failed session=%s client=[%s] user=\"%s\" mechanism=%s%s",
	    s->id, s->ip, log_safe(a->x.authcid, user, sizeof(user)),
	    mech_name(a->x.mech), a->blocked ? " blocked=yes" : "");
	sasl_clear(&a->x);
	session_set_state(s, SESSION_AUTH_CHECK);
	bufferevent_disable(s->bev, EV_READ);
	/* A blocked client is cut off at once: waiting would only hold our
	 * resources, and its block runs from now. */
	tv.tv_sec = a->blocked ? 0 : delay;
	tv.tv_usec = 0;
	a->delay = evtimer_new(s->srv->base, delay_done, s);
	evtimer_add(a->delay, &tv);
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

static void
check_done(void *arg)
{
	struct auth_attempt *a = arg;
	struct session *s = a->s;
	struct smtp_reply r;
	char user[SASL_FIELD_MAX * 4 + 1];

	if (session_drop_if_dead(s))
		return;
	if (s->state == SESSION_CLOSING) {
		session_auth_free(s);	/* timed out meanwhile: no verdict */
		return;
	}
	if (!a->ok) {
		auth_failed(s);
		return;
	}
	s->authenticated = true;
	/* auth_check refused logins longer than an address: this fits. */
	for (size_t i = 0; i < sizeof(s->login); i++) {
		s->login[i] = (char)tolower((unsigned char)a->x.authcid[i]);
		if (s->login[i] == '\0')
			break;
	}
	s->login[sizeof(s->login) - 1] = '\0';
	auth_throttle_success(s->srv->throttle, (const struct sockaddr *)&s->peer);
	log_info("event=auth session=%s client=[%s] user=\"%s\" mechanism=%s",
	    s->id, s->ip, log_safe(s->login, user, sizeof(user)), mech_name(a->x.mech));
	smtp_reply_set(&r, 235, "2.7.0", "Authentication successful");
	auth_end(s, &r);
	session_resume(s);
}

/* The client gave its credentials: look the user up, check off-loop. */
static void
auth_check(struct session *s)
{
	struct auth_attempt *a = s->auth;
	const char *at = strrchr(a->x.authcid, '@'), *hash = NULL;
	char local[SMTP_LOCAL_PART_MAX + 1];

	/* RFC 4954 4: a different authorization identity is acting on
	 * someone else's behalf; refused unless the operator allows it. */
	if (a->x.authzid[0] != '\0' && strcasecmp(a->x.authzid, a->x.authcid) != 0 &&
	    !s->srv->cfg->auth_allow_authzid)
		a->refuse = true;
	/* A login is an address; anything longer names nobody. */
	if (strlen(a->x.authcid) >= sizeof(s->login))
		a->refuse = true;
	if (at != NULL && (size_t)(at - a->x.authcid) < sizeof(local)) {
		snprintf(local, sizeof(local), "%.*s", (int)(at - a->x.authcid), a->x.authcid);
		if (domains_user(s->srv->domains, local, at + 1, &hash) == 1 && hash != NULL)
			snprintf(a->hash, sizeof(a->hash), "%s", hash);
	}
	session_set_state(s, SESSION_AUTH_CHECK);
	bufferevent_disable(s->bev, EV_READ);
	s->pinned++;
	workpool_submit(s->srv->pool, check_work, check_done, a);
}

/* Act on what the SASL machine said; r gets the reply to send now
 * (code 0: none, the check runs). */
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
		auth_check(s);
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
		auth_failed(s);
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

	if (mech == SASL_MECH_UNKNOWN) {
		smtp_reply_set(r, 504, "5.5.4", "Unrecognized authentication type");
		return;
	}
	s->auth = xcalloc(1, sizeof(*s->auth));
	s->auth->s = s;
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
