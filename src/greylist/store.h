/*
 * Where the greylist keeps its triplets (docs/policy.md, "Greylisting";
 * the BCP's "greylisting done right"): SQLite under `state`
 * (store_sqlite.c: WAL, every statement in a worker thread, never on the
 * loop) or Redis (store_redis.c: hiredis with its libevent adapter on the
 * caller's loop, so several nodes share one greylist), chosen by
 * greylist.backend.  Both apply the same rules, greylist_decide()
 * (record.c, pure, unit-tested), so both pass the same tests.
 *
 * A triplet is (client network, envelope sender, recipient), normalised
 * by the caller: the network as "192.0.2.0/24" or "2001:db8::/64"
 * (common/netkey.h), addresses lower-cased, "" for the null sender.
 *
 * Asynchronous: greylist_store_check() answers later, on the caller's
 * loop, never from inside the call, and never after
 * greylist_query_cancel() or greylist_store_close().  A backend that
 * cannot answer (down, slow, full disk) answers GREYLIST_TROUBLE within
 * its timeout; the caller decides whether that fails open.
 */
#ifndef DECORUM_GREYLIST_STORE_H
#define DECORUM_GREYLIST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct event_base;
struct greylist_store;
struct greylist_query;

#define GREYLIST_NET_MAX	64	/* "ffff:...:ffff/128" and NUL */
#define GREYLIST_ADDR_MAX	520	/* a path (RFC 5321 4.5.3.1.3) lower-cased */

/* The rules, in seconds and counts (greylist group of the config). */
struct greylist_params {
	unsigned delay;		/* a retry passes this long after the first try */
	unsigned retry_window;	/* ...and until this long after it */
	unsigned lifetime;	/* a passed triplet / allowed network lives this long after its last use */
	unsigned auto_allow;	/* passed triplets that allow the whole network; 0: never */
};

struct greylist_triplet {
	char net[GREYLIST_NET_MAX];
	char sender[GREYLIST_ADDR_MAX];
	char rcpt[GREYLIST_ADDR_MAX];
};

enum greylist_answer {
	GREYLIST_PASS,		/* known and old enough, or the network is allowed */
	GREYLIST_DEFER,		/* new, too early, or its window expired: 451 */
	GREYLIST_TROUBLE,	/* the backend could not answer */
};

struct greylist_reply {
	enum greylist_answer answer;
	time_t retry_at;	/* DEFER: the first moment a retry passes */
	bool net_allowed;	/* PASS because the network is auto-allowed */
};

/*
 * One triplet's record as both backends store it; first == 0: none.
 * greylist_decide() applies one try at `now` to it and says what to
 * answer; the backend writes back *r (and counts a first pass towards
 * the network's auto-allow when *newly_passed) in one transaction.
 */
struct greylist_record {
	time_t first;		/* the try that started the wait */
	time_t last;		/* the last try */
	bool passed;		/* a retry passed once: no more waiting */
};
enum greylist_answer greylist_decide(struct greylist_record *r, time_t now,
    const struct greylist_params *p, time_t *retry_at, bool *newly_passed);

/*
 * A client network's record, as both backends store it (until == 0:
 * none): the triplets that passed from it, and whether every triplet
 * from it passes (auto_allow reached, or an operator's `allow`) until
 * `until`.  record.c, pure, like greylist_decide().
 */
struct greylist_net_record {
	unsigned passes;
	bool allowed;
	time_t until;
};
/* Does the network pass every triplet at now? */
bool greylist_net_allows(const struct greylist_net_record *n, time_t now);
/* It did (a triplet passed through it): it lives lifetime from now. */
void greylist_net_use(struct greylist_net_record *n, time_t now,
    const struct greylist_params *p);
/* A triplet from it passed for the first time: count it, allow the
 * network at auto_allow, and restart an expired count from zero. */
void greylist_net_pass(struct greylist_net_record *n, time_t now,
    const struct greylist_params *p);
/* The operator allowed it (`decorum greylist allow`). */
void greylist_net_allow(struct greylist_net_record *n, time_t now,
    const struct greylist_params *p);
/* A triplet's record that purge may drop at now (a passed one unused
 * for lifetime, a waiting one whose retry window is over). */
bool greylist_record_expired(const struct greylist_record *r, time_t now,
    const struct greylist_params *p);

typedef void (*greylist_cb)(void *arg, const struct greylist_reply *reply);

/*
 * Open the backend named by url ("sqlite:" for <state>/greylist.db, or
 * "redis://HOST:PORT/DB").  NULL with err filled when it cannot start
 * (a bad URL, an unusable state folder); a Redis that is down is not an
 * error here: queries answer TROUBLE until it is back.
 */
struct greylist_store *greylist_store_open(const char *url, const char *state_dir,
    const struct greylist_params *p, struct event_base *base,
    char *err, size_t errlen);
/* Cancels every query out (no callback runs after it).  NULL is fine. */
void greylist_store_close(struct greylist_store *s);

/* One try of t at now; the answer comes through cb(arg) on the loop. */
struct greylist_query *greylist_store_check(struct greylist_store *s,
    const struct greylist_triplet *t, time_t now, greylist_cb cb, void *arg);
/* The callback will not run.  q is freed. */
void greylist_query_cancel(struct greylist_query *q);

/*
 * The operator's commands (`decorum greylist list|allow NETWORK|purge`),
 * synchronous: the CLI has no loop to keep.  Each returns 0, or -1 with
 * err filled.  A network entry counts the triplets that passed from it;
 * it is allowed (every triplet passes) once that reaches auto_allow or
 * an operator allowed it, until `until`.
 */
struct greylist_entry {
	bool is_net;			/* a network, not a triplet */
	struct greylist_triplet t;	/* is_net: only t.net */
	struct greylist_record r;	/* a triplet's record */
	unsigned passes;		/* a network's passed triplets */
	time_t until;			/* when the entry expires */
	bool allowed;			/* a network every triplet passes from */
};
typedef void (*greylist_list_cb)(void *arg, const struct greylist_entry *e);
int greylist_admin_list(const char *url, const char *state_dir,
    greylist_list_cb cb, void *arg, char *err, size_t errlen);
/* net: a normalised network ("192.0.2.0/24"), allowed for p->lifetime. */
int greylist_admin_allow(const char *url, const char *state_dir,
    const struct greylist_params *p, const char *net, time_t now,
    char *err, size_t errlen);
/* Removes what expired at now; *removed counts it. */
int greylist_admin_purge(const char *url, const char *state_dir,
    const struct greylist_params *p, time_t now, unsigned *removed,
    char *err, size_t errlen);

#endif
