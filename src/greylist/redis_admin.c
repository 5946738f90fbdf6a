/*
 * `decorum greylist list|allow|purge` on a Redis greylist (redis_admin.h).
 * Blocking hiredis calls, each bounded by ADMIN_TIMEOUT; called by the
 * CLI through store.c, never by a daemon.  Keys are walked with SCAN,
 * never KEYS, so a large greylist does not stall a Redis that other
 * nodes are using (SCAN may return a key twice while Redis resizes its
 * table; the listing may then show it twice).
 *
 * purge: Redis removes expired keys itself (EXPIRE, redis_script.c), a
 * second after the rules give them up, so purge has little to do; it
 * removes what is over by the caller's `now`, as SQLite's purge does
 * (greylist_record_expired(), a network past its `until`), with one
 * small script per key so a node's concurrent update is never lost.
 *
 * Trusts Redis for nothing but the shape of its replies; every string
 * from it is copied bounded, and errors quote it through log_safe().
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "greylist/redis_admin.h"
#include "greylist/redis_keys.h"
#include "common/redis_url.h"

#define ADMIN_TIMEOUT		{ 5, 0 }
#define ADMIN_CURSOR_MAX	32

/* greylist_net_allow() (record.c). */
static const char admin_allow_script[] =
	"local now, life = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
	"redis.call('HSET', KEYS[1], 'allowed', 1, 'until', now + life)\n"
	"return redis.call('EXPIRE', KEYS[1], life + 1)\n";

/* greylist_record_expired() (record.c) for a triplet, `until` passed
 * for a network: what SQLite's purge deletes. */
static const char admin_purge_script[] =
	"local now, window, life = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
	"local gone\n"
	"if ARGV[4] == 'n' then\n"
	"  local u = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')\n"
	"  gone = now > u\n"
	"else\n"
	"  local t = redis.call('HMGET', KEYS[1], 'first', 'last', 'passed')\n"
	"  local first, last = tonumber(t[1] or '0'), tonumber(t[2] or '0')\n"
	"  if t[3] == '1' then gone = now > last + life else gone = now > first + window end\n"
	"end\n"
	"if gone then return redis.call('DEL', KEYS[1]) end\n"
	"return 0\n";

/* A reply that is no error, or NULL with err filled; r is freed then. */
static redisReply *
admin_ok(redisContext *c, redisReply *r, char *err, size_t errlen)
{
	char b1[LOG_SAFE_SIZE(128)];

	if (r == NULL) {
		snprintf(err, errlen, "redis: %s", c->errstr);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "redis: %s", log_safe(r->str, b1, sizeof(b1)));
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

static int
admin_setup(redisContext *c, const struct redis_url *u, char *err, size_t errlen)
{
	redisReply *r = NULL;

	if (u->has_password && u->user[0] != '\0')
		r = redisCommand(c, "AUTH %s %s", u->user, u->password);
	else if (u->has_password)
		r = redisCommand(c, "AUTH %s", u->password);
	if (u->has_password && (r = admin_ok(c, r, err, errlen)) == NULL)
		return -1;
	freeReplyObject(r);
	r = NULL;
	if (u->db != 0 && (r = admin_ok(c, redisCommand(c, "SELECT %u", u->db),
	    err, errlen)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

static redisContext *
admin_connect(const char *url, char *err, size_t errlen)
{
	struct timeval tv = ADMIN_TIMEOUT;
	struct redis_url u;
	redisContext *c;

	if (redis_url_parse(url, &u, err, errlen) < 0)
		return NULL;
	c = redisConnectWithTimeout(u.host, (int)u.port, tv);
	if (c == NULL || c->err != 0) {
		snprintf(err, errlen, "redis %s:%u: %s", u.host, u.port,
		    c != NULL ? c->errstr : "out of memory");
		goto fail;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK || admin_setup(c, &u, err, errlen) < 0)
		goto fail;
	redis_url_clear(&u);
	return c;
fail:
	redis_url_clear(&u);
	if (c != NULL)
		redisFree(c);
	return NULL;
}

static void
admin_copy(char *dst, size_t len, const redisReply *r)
{
	snprintf(dst, len, "%s", r != NULL && r->type == REDIS_REPLY_STRING ? r->str : "");
}

static long long
admin_num(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

/* One key's entry: its fields and its time to live. */
static int
admin_entry(redisContext *c, const char *key, greylist_list_cb cb, void *arg,
    char *err, size_t errlen)
{
	struct greylist_entry e = { 0 };
	bool is_net = strncmp(key, REDIS_KEY_NET, strlen(REDIS_KEY_NET)) == 0;
	redisReply *f;

	f = admin_ok(c, is_net ?
	    redisCommand(c, "HMGET %s passes allowed until", key) :
	    redisCommand(c, "HMGET %s first last passed net sender rcpt until", key), err, errlen);
	if (f == NULL)
		return -1;
	if (f->type == REDIS_REPLY_ARRAY && f->elements == (is_net ? 3u : 7u) &&
	    f->element[is_net ? 2 : 0]->type == REDIS_REPLY_STRING) {	/* not gone */
		e.is_net = is_net;
		if (is_net) {
			snprintf(e.t.net, sizeof(e.t.net), "%s", key + strlen(REDIS_KEY_NET));
			e.passes = (unsigned)admin_num(f->element[0]);
			e.allowed = admin_num(f->element[1]) == 1;
			e.until = (time_t)admin_num(f->element[2]);
		} else {
			e.r.first = (time_t)admin_num(f->element[0]);
			e.r.last = (time_t)admin_num(f->element[1]);
			e.r.passed = admin_num(f->element[2]) == 1;
			admin_copy(e.t.net, sizeof(e.t.net), f->element[3]);
			admin_copy(e.t.sender, sizeof(e.t.sender), f->element[4]);
			admin_copy(e.t.rcpt, sizeof(e.t.rcpt), f->element[5]);
			e.until = (time_t)admin_num(f->element[6]);
		}
		cb(arg, &e);
	}
	freeReplyObject(f);
	return 0;
}

/* Calls each(c, key, ...) for every key matching pattern; 0 or -1. */
static int
admin_scan(redisContext *c, const char *pattern,
    int (*each)(redisContext *, const char *, void *, char *, size_t), void *arg,
    char *err, size_t errlen)
{
	char cursor[ADMIN_CURSOR_MAX] = "0";
	redisReply *r;
	size_t i;

	do {
		r = admin_ok(c, redisCommand(c, "SCAN %s MATCH %s COUNT 500", cursor,
		    pattern), err, errlen);
		if (r == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING ||
		    r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			snprintf(err, errlen, "redis: unexpected reply to SCAN");
			freeReplyObject(r);
			return -1;
		}
		snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
		for (i = 0; i < r->element[1]->elements; i++) {
			const redisReply *k = r->element[1]->element[i];

			if (k->type == REDIS_REPLY_STRING &&
			    each(c, k->str, arg, err, errlen) < 0) {
				freeReplyObject(r);
				return -1;
			}
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

struct list_ctx {
	greylist_list_cb cb;
	void *arg;
};

static int
list_each(redisContext *c, const char *key, void *arg, char *err, size_t errlen)
{
	struct list_ctx *l = arg;

	return admin_entry(c, key, l->cb, l->arg, err, errlen);
}

int
redis_admin_list(const char *url, const char *state_dir,
    greylist_list_cb cb, void *arg, char *err, size_t errlen)
{
	struct list_ctx l = { cb, arg };
	redisContext *c = admin_connect(url, err, errlen);
	int rc;

	(void)state_dir;
	if (c == NULL)
		return -1;
	rc = admin_scan(c, REDIS_KEY_PREFIX "*", list_each, &l, err, errlen);
	redisFree(c);
	return rc;
}

int
redis_admin_allow(const char *url, const char *state_dir,
    const struct greylist_params *p, const char *net, time_t now,
    char *err, size_t errlen)
{
	char key[REDIS_KEY_MAX];
	redisContext *c;
	redisReply *r;
	int rc;

	(void)state_dir;
	if (redis_key_net(net, key, sizeof(key)) < 0) {
		snprintf(err, errlen, "not a network: %s", net);
		return -1;
	}
	if ((c = admin_connect(url, err, errlen)) == NULL)
		return -1;
	r = admin_ok(c, redisCommand(c, "EVAL %s 1 %s %lld %u", admin_allow_script, key,
	    (long long)now, p->lifetime), err, errlen);
	rc = r != NULL ? 0 : -1;
	freeReplyObject(r);
	redisFree(c);
	return rc;
}

struct purge_ctx {
	const struct greylist_params *p;
	time_t now;
	unsigned removed;
};

static int
purge_each(redisContext *c, const char *key, void *arg, char *err, size_t errlen)
{
	struct purge_ctx *g = arg;
	bool is_net = strncmp(key, REDIS_KEY_NET, strlen(REDIS_KEY_NET)) == 0;
	redisReply *r = admin_ok(c, redisCommand(c, "EVAL %s 1 %s %lld %u %u %s",
	    admin_purge_script, key, (long long)g->now, g->p->retry_window,
	    g->p->lifetime, is_net ? "n" : "t"), err, errlen);

	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
		g->removed++;
	freeReplyObject(r);
	return 0;
}

int
redis_admin_purge(const char *url, const char *state_dir,
    const struct greylist_params *p, time_t now, unsigned *removed,
    char *err, size_t errlen)
{
	struct purge_ctx g = { p, now, 0 };
	redisContext *c = admin_connect(url, err, errlen);
	int rc;

	(void)state_dir;
	*removed = 0;
	if (c == NULL)
		return -1;
	rc = admin_scan(c, REDIS_KEY_PREFIX "*", purge_each, &g, err, errlen);
	*removed = g.removed;
	redisFree(c);
	return rc;
}
