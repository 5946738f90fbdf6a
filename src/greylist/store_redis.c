/*
 * The Redis greylist backend (backend.h, "redis://..." URLs): one
 * asynchronous hiredis connection on the caller's libevent loop, shared
 * by every session of the process, so several Decorum nodes pointed at
 * one Redis share one greylist (docs/policy.md, "Greylisting with
 * Redis").  Each check is one EVALSHA of redis_script.c, which applies
 * the greylist's rules atomically on the server.
 *
 * Called by store.c on the smtpd's loop.  Trusts Redis for nothing but
 * the shape of its replies, which are checked.  The triplet's bytes go
 * to Redis as arguments, never into a command line or a key name.
 *
 * Invariants:
 * - The owner's callback runs only from this file's own timer events,
 *   never from inside a hiredis callback nor from inside a call, so an
 *   owner may start, cancel or close anything in it.
 * - A query hiredis holds (in_redis) stays allocated until hiredis
 *   gives it back (a reply, or NULL when the context is freed), even
 *   when its owner cancelled it or its timeout answered: hiredis calls
 *   back with the pointer it was given.
 * - At most REDIS_INFLIGHT_MAX queries exist at once (counting the ones
 *   hiredis still holds for a gone owner); beyond that, and whenever the
 *   connection is down, a check answers GREYLIST_TROUBLE on the next
 *   loop turn.  Nothing queues up while Redis is away.
 * Limits: a connect takes at most REDIS_CONNECT_TIMEOUT_MS, a command
 * REDIS_COMMAND_TIMEOUT_MS; a command that times out drops the
 * connection (a Redis that stopped answering would otherwise collect
 * commands), and reconnects back off from 100 ms to 5 s.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "greylist/backend.h"
#include "greylist/redis_admin.h"
#include "greylist/redis_keys.h"
#include "greylist/redis_script.h"
#include "common/redis_url.h"

#define REDIS_CONNECT_TIMEOUT_MS	2000
#define REDIS_COMMAND_TIMEOUT_MS	2000
#define REDIS_BACKOFF_MIN_MS		100
#define REDIS_BACKOFF_MAX_MS		5000
#define REDIS_INFLIGHT_MAX		512

enum rstate { RS_DOWN, RS_CONNECTING, RS_UP };

struct rquery {
	struct greylist_query base;	/* first: store.c cancels through it */
	struct rstore *s;
	TAILQ_ENTRY(rquery) link;
	struct event *ev;		/* the answer's turn, or the command timeout */
	greylist_cb cb;			/* NULL: the owner is gone or answered */
	void *arg;
	bool in_redis;			/* hiredis will call rquery_reply() */
	bool retried;			/* NOSCRIPT: sent again as EVAL */
	struct greylist_reply reply;
	struct greylist_triplet t;
	char tkey[REDIS_KEY_MAX], nkey[REDIS_KEY_MAX];
	char now[24];
};

TAILQ_HEAD(rquery_list, rquery);

struct rstore {
	struct event_base *base;
	struct redis_url url;
	char addr[INET6_ADDRSTRLEN];	/* the host resolved at open */
	char params[4][16];		/* delay, window, lifetime, auto_allow */
	char sha[41];
	redisAsyncContext *ac;		/* NULL when down */
	enum rstate state;
	bool was_up;			/* for logging each change once */
	unsigned backoff_ms;
	struct event *retry_ev;		/* reconnect after backoff_ms */
	struct event *connect_ev;	/* connect timeout */
	struct event *drop_ev;		/* drop the connection on the next turn */
	struct rquery_list queries;	/* every live query */
	unsigned inflight;
	bool full_logged;		/* the bound was hit: logged once */
	bool error_logged;		/* an error reply: logged once */
};

static void rstore_connect(struct rstore *s);

static void
rstore_log_down(struct rstore *s, const char *why)
{
	char b1[LOG_SAFE_SIZE(64)];

	/* One line per outage, not per reconnect attempt. */
	if (s->was_up)
		log_warn("event=greylist-redis state=down server=[%s]:%u reason=\"%s\"",
		    s->addr, s->url.port, log_safe(why, b1, sizeof(b1)));
	s->was_up = false;
}

/* The connection is gone (ac already freed or being freed by hiredis). */
static void
rstore_lost(struct rstore *s, const char *why)
{
	struct timeval tv;

	rstore_log_down(s, why);
	s->ac = NULL;
	s->state = RS_DOWN;
	evtimer_del(s->connect_ev);
	tv.tv_sec = s->backoff_ms / 1000;
	tv.tv_usec = (s->backoff_ms % 1000) * 1000;
	evtimer_add(s->retry_ev, &tv);
	s->backoff_ms = s->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ?
	    REDIS_BACKOFF_MAX_MS : s->backoff_ms * 2;
}

/* Frees the context from our own event, never from inside hiredis:
 * every query it holds comes back through rquery_reply() with NULL. */
static void
rstore_drop(struct rstore *s, const char *why)
{
	redisAsyncContext *ac = s->ac;

	if (ac == NULL)
		return;
	rstore_lost(s, why);
	ac->data = NULL;	/* its disconnect callback is ours no more */
	redisAsyncFree(ac);
}

static void
rstore_drop_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rstore_drop(arg, "server refused AUTH or SELECT");
}

static void
rstore_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rstore_connect(arg);
}

static void
rstore_connect_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rstore *s = arg;

	(void)fd;
	(void)what;
	if (s->state == RS_CONNECTING)
		rstore_drop(s, "connect timeout");
}

static void
rstore_on_connect(const redisAsyncContext *ac, int status)
{
	struct rstore *s = ac->data;

	if (s == NULL)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees ac when this returns. */
		rstore_lost(s, ac->errstr);
		return;
	}
	evtimer_del(s->connect_ev);
	s->state = RS_UP;
}

static void
rstore_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rstore *s = ac->data;

	(void)status;
	if (s != NULL && s->ac == ac)
		rstore_lost(s, ac->err != 0 ? ac->errstr : "connection closed");
}

/* AUTH and SELECT: a refusal is a configuration error; say it and retry
 * later, so a password fixed on the server is picked up. */
static void
rstore_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	redisReply *reply = r;
	struct rstore *s = privdata;
	char b1[LOG_SAFE_SIZE(128)];

	if (reply == NULL || ac->data == NULL || reply->type != REDIS_REPLY_ERROR)
		return;
	event_active(s->drop_ev, EV_TIMEOUT, 1);
	if (s->error_logged)	/* once until a check succeeds again */
		return;
	s->error_logged = true;
	log_warn("event=greylist-redis state=refused server=[%s]:%u reason=\"%s\"",
	    s->addr, s->url.port, log_safe(reply->str, b1, sizeof(b1)));
}

static void
rstore_connect(struct rstore *s)
{
	struct timeval tv = { REDIS_CONNECT_TIMEOUT_MS / 1000,
	    (REDIS_CONNECT_TIMEOUT_MS % 1000) * 1000 };
	redisAsyncContext *ac = redisAsyncConnect(s->addr, (int)s->url.port);

	if (ac == NULL || ac->err != 0) {
		rstore_lost(s, ac != NULL ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		return;
	}
	ac->data = s;
	s->ac = ac;
	s->state = RS_CONNECTING;
	if (redisLibeventAttach(ac, s->base) != REDIS_OK) {
		rstore_drop(s, "cannot attach to the loop");
		return;
	}
	redisAsyncSetConnectCallback(ac, rstore_on_connect);
	redisAsyncSetDisconnectCallback(ac, rstore_on_disconnect);
	/* Queued before any check: Redis answers a connection's commands
	 * in order, so every check runs authenticated, in its database. */
	if (s->url.has_password && s->url.user[0] != '\0')
		redisAsyncCommand(ac, rstore_setup_reply, s, "AUTH %s %s",
		    s->url.user, s->url.password);
	else if (s->url.has_password)
		redisAsyncCommand(ac, rstore_setup_reply, s, "AUTH %s", s->url.password);
	if (s->url.db != 0)
		redisAsyncCommand(ac, rstore_setup_reply, s, "SELECT %u", s->url.db);
	evtimer_add(s->connect_ev, &tv);
}

static void
rquery_free(struct rquery *q)
{
	TAILQ_REMOVE(&q->s->queries, q, link);
	q->s->inflight--;
	event_free(q->ev);
	free(q);
}

/* The answer hiredis gave, checked: { 0|1, retry_at, net_allowed }. */
static void
rquery_parse(struct rquery *q, const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER ||
	    r->element[2]->type != REDIS_REPLY_INTEGER ||
	    r->element[0]->integer < 0 || r->element[0]->integer > 1)
		return;		/* stays GREYLIST_TROUBLE */
	q->reply.answer = r->element[0]->integer == 0 ? GREYLIST_PASS : GREYLIST_DEFER;
	q->reply.retry_at = (time_t)r->element[1]->integer;
	q->reply.net_allowed = r->element[2]->integer != 0;
	q->s->backoff_ms = REDIS_BACKOFF_MIN_MS;
	q->s->error_logged = false;
	if (!q->s->was_up)
		log_info("event=greylist-redis state=up server=[%s]:%u",
		    q->s->addr, q->s->url.port);
	q->s->was_up = true;
}

static void rquery_reply(redisAsyncContext *ac, void *r, void *privdata);

static int
rquery_send(struct rquery *q, bool eval)
{
	struct rstore *s = q->s;
	const char *argv[13] = {
		eval ? "EVAL" : "EVALSHA", eval ? redis_script_check : s->sha, "2",
		q->tkey, q->nkey, q->now, s->params[0], s->params[1], s->params[2],
		s->params[3], q->t.net, q->t.sender, q->t.rcpt,
	};
	size_t argl[13];
	size_t i;

	for (i = 0; i < 13; i++)
		argl[i] = strlen(argv[i]);
	if (redisAsyncCommandArgv(s->ac, rquery_reply, q, 13, argv, argl) != REDIS_OK)
		return -1;
	q->in_redis = true;
	return 0;
}

/* hiredis gives the query back: with Redis's reply, or NULL when the
 * context goes (a drop, a lost connection, the store's close). */
static void
rquery_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct rquery *q = privdata;
	redisReply *reply = r;

	q->in_redis = false;
	/* A Redis restarted since we connected has lost its script cache. */
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !q->retried &&
	    strncmp(reply->str, "NOSCRIPT", 8) == 0 && ac->data != NULL) {
		q->retried = true;
		if (rquery_send(q, true) == 0)
			return;
	}
	if (q->cb == NULL) {		/* cancelled, or the timeout answered */
		rquery_free(q);
		return;
	}
	if (reply != NULL)
		rquery_parse(q, reply);
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR && !q->s->error_logged) {
		char b1[LOG_SAFE_SIZE(128)];

		/* Once until a check succeeds again: a refused AUTH makes
		 * every check an error. */
		q->s->error_logged = true;
		log_warn("event=greylist-redis state=error server=[%s]:%u reason=\"%s\"",
		    q->s->addr, q->s->url.port, log_safe(reply->str, b1, sizeof(b1)));
	}
	/* The owner hears it on its own turn of the loop, not inside hiredis. */
	evtimer_del(q->ev);
	event_active(q->ev, EV_TIMEOUT, 1);
}

/* The query's event: its answer's turn, or its command timeout.  The
 * owner is called last, once nothing here touches q or s any more. */
static void
rquery_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rquery *q = arg;
	greylist_cb cb = q->cb;
	void *cbarg = q->arg;
	struct greylist_reply reply = q->reply;

	(void)fd;
	(void)what;
	q->cb = NULL;
	if (q->in_redis) {
		/* Timed out.  A Redis that does not answer one command will
		 * not answer the next: drop it, which hands q (and every
		 * other query) back through rquery_reply(). */
		reply.answer = GREYLIST_TROUBLE;
		rstore_drop(q->s, "command timeout");
	} else {
		rquery_free(q);
	}
	if (cb != NULL)		/* NULL: cancelled while Redis held it */
		cb(cbarg, &reply);
}

static struct greylist_query *
redis_check(void *impl, const struct greylist_triplet *t, time_t now,
    greylist_cb cb, void *arg)
{
	struct rstore *s = impl;
	struct rquery *q = xcalloc(1, sizeof(*q));
	struct timeval tv = { REDIS_COMMAND_TIMEOUT_MS / 1000,
	    (REDIS_COMMAND_TIMEOUT_MS % 1000) * 1000 };
	bool full = s->inflight >= REDIS_INFLIGHT_MAX;

	q->base.backend = &greylist_backend_redis;
	q->s = s;
	q->cb = cb;
	q->arg = arg;
	q->t = *t;
	q->reply.answer = GREYLIST_TROUBLE;
	q->ev = evtimer_new(s->base, rquery_event_cb, q);
	if (q->ev == NULL)
		panic("greylist redis: cannot make an event");
	TAILQ_INSERT_TAIL(&s->queries, q, link);
	s->inflight++;
	snprintf(q->now, sizeof(q->now), "%lld", (long long)now);
	if (s->state == RS_DOWN || full ||
	    redis_key_triplet(t, q->tkey, sizeof(q->tkey)) < 0 ||
	    redis_key_net(t->net, q->nkey, sizeof(q->nkey)) < 0 ||
	    rquery_send(q, false) < 0) {
		if (full && !s->full_logged)
			log_warn("event=greylist-redis state=full server=[%s]:%u limit=%u",
			    s->addr, s->url.port, REDIS_INFLIGHT_MAX);
		s->full_logged = full;
		event_active(q->ev, EV_TIMEOUT, 1);	/* TROUBLE, on the next turn */
		return &q->base;
	}
	evtimer_add(q->ev, &tv);
	return &q->base;
}

static void
redis_cancel(struct greylist_query *gq)
{
	struct rquery *q = (struct rquery *)gq;

	q->cb = NULL;
	if (!q->in_redis)
		rquery_free(q);
	/* else hiredis still holds q: rquery_reply() frees it.  Its
	 * timeout stays set, so a Redis that hangs is found and dropped
	 * even when every session waiting on it has gone. */
}

/* A name is resolved once, here, at start-up: hiredis would call the
 * blocking getaddrinfo() on the loop at every reconnect. */
static int
rstore_resolve(struct rstore *s, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rc = getaddrinfo(s->url.host, NULL, &hints, &res);
	const void *a;

	if (rc != 0 || res == NULL) {
		snprintf(err, errlen, "redis host %s: %s", s->url.host, gai_strerror(rc));
		return -1;
	}
	a = res->ai_family == AF_INET6 ?
	    (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr :
	    (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
	inet_ntop(res->ai_family, a, s->addr, sizeof(s->addr));
	freeaddrinfo(res);
	return 0;
}

static void redis_close(void *impl);

static void *
redis_open(const char *url, const char *state_dir, const struct greylist_params *p,
    struct event_base *base, char *err, size_t errlen)
{
	struct rstore *s = xcalloc(1, sizeof(*s));
	unsigned v[4] = { p->delay, p->retry_window, p->lifetime, p->auto_allow };
	size_t i;

	(void)state_dir;
	s->base = base;
	TAILQ_INIT(&s->queries);
	s->backoff_ms = REDIS_BACKOFF_MIN_MS;
	s->was_up = true;	/* so a Redis down at start is logged */
	for (i = 0; i < 4; i++)
		snprintf(s->params[i], sizeof(s->params[i]), "%u", v[i]);
	s->retry_ev = evtimer_new(base, rstore_retry_cb, s);
	s->connect_ev = evtimer_new(base, rstore_connect_timeout_cb, s);
	s->drop_ev = evtimer_new(base, rstore_drop_cb, s);
	if (s->retry_ev == NULL || s->connect_ev == NULL || s->drop_ev == NULL)
		panic("greylist redis: cannot make an event");
	if (redis_url_parse(url, &s->url, err, errlen) < 0 ||
	    rstore_resolve(s, err, errlen) < 0 || redis_script_sha1(s->sha) < 0) {
		redis_close(s);
		return NULL;
	}
	log_info("event=greylist-redis state=open server=[%s]:%u db=%u",
	    s->addr, s->url.port, s->url.db);
	rstore_connect(s);
	return s;
}

/* No callback runs after this; every query is freed, including the ones
 * hiredis hands back while its context is freed. */
static void
redis_close(void *impl)
{
	struct rstore *s = impl;
	struct rquery *q, *next;
	redisAsyncContext *ac = s->ac;

	for (q = TAILQ_FIRST(&s->queries); q != NULL; q = next) {
		next = TAILQ_NEXT(q, link);
		q->cb = NULL;
		evtimer_del(q->ev);
		if (!q->in_redis)
			rquery_free(q);
	}
	if (ac != NULL) {
		s->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	if (s->retry_ev != NULL)
		event_free(s->retry_ev);
	if (s->connect_ev != NULL)
		event_free(s->connect_ev);
	if (s->drop_ev != NULL)
		event_free(s->drop_ev);
	redis_url_clear(&s->url);
	free(s);
}

const struct greylist_backend greylist_backend_redis = {
	.scheme = "redis://",
	.open = redis_open,
	.close = redis_close,
	.check = redis_check,
	.cancel = redis_cancel,
	.list = redis_admin_list,
	.allow = redis_admin_allow,
	.purge = redis_admin_purge,
};
