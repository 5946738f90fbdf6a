/*
 * The greylist in SQLite (store.h, backend.h): <state>/greylist.db.
 *
 * For the smtpd: one connection, used by one worker thread of its own
 * (a workpool of one: every statement is serialised there and never
 * runs on the loop).  One check is one transaction (BEGIN IMMEDIATE:
 * read the network and the triplet, greylist_decide(), write, count the
 * network's passes), so two sessions, or two nodes on one file, cannot
 * both count one pass.  WAL: readers (`decorum greylist list`) do not
 * stop the daemon's writers.  The database is opened by the worker on
 * first use and again after it failed, so a missing, locked, corrupt or
 * full database makes checks answer GREYLIST_TROUBLE (the policy fails
 * open or tempfails, as configured) and the daemon never stops for it;
 * fix the file and the next check uses it.
 *
 * Expired rows are purged hourly (a timer on the loop submits the purge
 * to the same worker) and by `decorum greylist purge`.
 *
 * Cancelling a query only forgets its callback: the worker may already
 * be in it, and the try it records did happen.  Closing cancels every
 * query, then waits for the worker (shutdown only).
 *
 * Trusts the triplets (the policy normalised them; they are bound as
 * parameters, never spliced into SQL).  Limits: SQLITE_BUSY_MS on a
 * locked database, then TROUBLE; the queries out are bounded by the
 * sessions and their recipients.
 */
#include "greylist/backend.h"

#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/workpool.h"
#include "common/xmalloc.h"

#define SQLITE_FILE		"greylist.db"
#define SQLITE_BUSY_MS		2000	/* a locked database, then TROUBLE */
#define SQLITE_PURGE_SECONDS	3600
#define SQLITE_TROUBLE_LOG	60	/* seconds between trouble lines */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS triplets (net TEXT NOT NULL, "
    "sender TEXT NOT NULL, rcpt TEXT NOT NULL, first INTEGER NOT NULL, "
    "last INTEGER NOT NULL, passed INTEGER NOT NULL, "
    "PRIMARY KEY (net, sender, rcpt)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS nets (net TEXT PRIMARY KEY NOT NULL, "
    "passes INTEGER NOT NULL, allowed INTEGER NOT NULL, "
    "until INTEGER NOT NULL) WITHOUT ROWID;";

enum { Q_NET_GET, Q_NET_PUT, Q_TRIP_GET, Q_TRIP_PUT, Q_COUNT };

static const char *const stmt_sql[Q_COUNT] = {
	[Q_NET_GET] = "SELECT passes, allowed, until FROM nets WHERE net = ?1",
	[Q_NET_PUT] = "INSERT OR REPLACE INTO nets (net, passes, allowed, until) "
	    "VALUES (?1, ?2, ?3, ?4)",
	[Q_TRIP_GET] = "SELECT first, last, passed FROM triplets "
	    "WHERE net = ?1 AND sender = ?2 AND rcpt = ?3",
	[Q_TRIP_PUT] = "INSERT OR REPLACE INTO triplets "
	    "(net, sender, rcpt, first, last, passed) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};

/* One connection and its prepared statements. */
struct conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[Q_COUNT];
};

struct sqlite_query;
LIST_HEAD(query_list, sqlite_query);

struct sqlite_store {
	struct event_base *base;
	struct workpool *pool;		/* one thread: the only user of c */
	struct conn c;
	char path[PATH_MAX];
	struct greylist_params p;
	struct query_list out;		/* submitted, done() not yet run */
	struct event *purge_timer;
	bool purging;
	unsigned purged;		/* by the worker, for done() */
	char purge_err[256];
	time_t last_trouble_log;
};

struct sqlite_query {
	struct greylist_query q;	/* first: store.c cancels through it */
	LIST_ENTRY(sqlite_query) entry;
	struct sqlite_store *st;
	struct greylist_triplet t;
	time_t now;
	greylist_cb cb;			/* NULL: cancelled */
	void *arg;
	struct greylist_reply reply;	/* written by the worker */
	char err[256];			/* TROUBLE: why */
};

static int
db_path(const char *state_dir, char *out, size_t outlen, char *err, size_t errlen)
{
	int n = snprintf(out, outlen, "%s/%s", state_dir, SQLITE_FILE);

	if (n < 0 || (size_t)n >= outlen) {
		snprintf(err, errlen, "greylist: state path too long");
		return -1;
	}
	return 0;
}

static void
conn_close(struct conn *c)
{
	for (int i = 0; i < Q_COUNT; i++) {
		sqlite3_finalize(c->stmt[i]);
		c->stmt[i] = NULL;
	}
	sqlite3_close(c->db);
	c->db = NULL;
}

static int
conn_fail(struct conn *c, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what,
	    c->db != NULL ? sqlite3_errmsg(c->db) : "out of memory");
	conn_close(c);
	return -1;
}

/* Open (creating it when create) and prepare; WAL and the schema. */
static int
conn_open(struct conn *c, const char *path, bool create, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);

	if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK)
		return conn_fail(c, path, err, errlen);
	sqlite3_busy_timeout(c->db, SQLITE_BUSY_MS);
	/* WAL: the CLI reads while the daemon writes.  NORMAL: a power
	 * cut may lose the last tries, which only means one more 451. */
	if (sqlite3_exec(c->db, "PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = NORMAL;", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(c->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		return conn_fail(c, path, err, errlen);
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v2(c->db, stmt_sql[i], -1, &c->stmt[i],
		    NULL) != SQLITE_OK)
			return conn_fail(c, path, err, errlen);
	return 0;
}

static void
bind_triplet(sqlite3_stmt *st, const struct greylist_triplet *t)
{
	sqlite3_bind_text(st, 1, t->net, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, t->sender, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t->rcpt, -1, SQLITE_STATIC);
}

/* Run a statement that returns at most one row: 1 (row), 0, -1. */
static int
step_one(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
net_get(struct conn *c, const char *net, struct greylist_net_record *n)
{
	sqlite3_stmt *st = c->stmt[Q_NET_GET];
	int rc;

	memset(n, 0, sizeof(*n));
	sqlite3_bind_text(st, 1, net, -1, SQLITE_STATIC);
	rc = step_one(st);
	if (rc == 1) {
		sqlite3_int64 passes = sqlite3_column_int64(st, 0);

		n->passes = passes < 0 ? 0 : passes > UINT_MAX ? UINT_MAX :
		    (unsigned)passes;
		n->allowed = sqlite3_column_int(st, 1) != 0;
		n->until = (time_t)sqlite3_column_int64(st, 2);
	}
	sqlite3_reset(st);
	return rc < 0 ? -1 : 0;
}

static int
net_put(struct conn *c, const char *net, const struct greylist_net_record *n)
{
	sqlite3_stmt *st = c->stmt[Q_NET_PUT];
	int rc;

	sqlite3_bind_text(st, 1, net, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, n->passes);
	sqlite3_bind_int(st, 3, n->allowed);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)n->until);
	rc = step_one(st);
	sqlite3_reset(st);
	return rc < 0 ? -1 : 0;
}

static int
trip_get(struct conn *c, const struct greylist_triplet *t, struct greylist_record *r)
{
	sqlite3_stmt *st = c->stmt[Q_TRIP_GET];
	int rc;

	memset(r, 0, sizeof(*r));
	bind_triplet(st, t);
	rc = step_one(st);
	if (rc == 1) {
		r->first = (time_t)sqlite3_column_int64(st, 0);
		r->last = (time_t)sqlite3_column_int64(st, 1);
		r->passed = sqlite3_column_int(st, 2) != 0;
	}
	sqlite3_reset(st);
	return rc < 0 ? -1 : 0;
}

static int
trip_put(struct conn *c, const struct greylist_triplet *t,
    const struct greylist_record *r)
{
	sqlite3_stmt *st = c->stmt[Q_TRIP_PUT];
	int rc;

	bind_triplet(st, t);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)r->first);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)r->last);
	sqlite3_bind_int(st, 6, r->passed);
	rc = step_one(st);
	sqlite3_reset(st);
	return rc < 0 ? -1 : 0;
}

/* The rules applied to one try, inside the caller's transaction. */
static int
check_in_tx(struct conn *c, const struct greylist_params *p,
    const struct greylist_triplet *t, time_t now, struct greylist_reply *out)
{
	struct greylist_net_record n;
	struct greylist_record r;
	bool newly_passed;

	if (net_get(c, t->net, &n) < 0)
		return -1;
	if (greylist_net_allows(&n, now)) {
		greylist_net_use(&n, now, p);
		out->answer = GREYLIST_PASS;
		out->net_allowed = true;
		return net_put(c, t->net, &n);
	}
	if (trip_get(c, t, &r) < 0)
		return -1;
	out->answer = greylist_decide(&r, now, p, &out->retry_at, &newly_passed);
	if (trip_put(c, t, &r) < 0)
		return -1;
	if (!newly_passed)
		return 0;
	greylist_net_pass(&n, now, p);
	return net_put(c, t->net, &n);
}

static int
conn_check(struct conn *c, const struct greylist_params *p,
    const struct greylist_triplet *t, time_t now, struct greylist_reply *out,
    char *err, size_t errlen)
{
	bool began;
	int code;

	began = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
	if (began && check_in_tx(c, p, t, now, out) == 0 &&
	    sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	code = sqlite3_errcode(c->db);
	snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
	if (began)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	/* A corrupt, replaced or unwritable file: open it afresh next time
	 * (the operator may have fixed it); busy or full stay open. */
	switch (code & 0xff) {
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
		conn_close(c);
		break;
	default:
		break;
	}
	return -1;
}

/* --- the smtpd's side: a worker of its own ------------------------------ */

static void
query_work(void *arg)
{
	struct sqlite_query *q = arg;
	struct sqlite_store *st = q->st;

	q->reply.answer = GREYLIST_TROUBLE;
	if (st->c.db == NULL &&
	    conn_open(&st->c, st->path, true, q->err, sizeof(q->err)) < 0)
		return;
	if (conn_check(&st->c, &st->p, &q->t, q->now, &q->reply, q->err,
	    sizeof(q->err)) < 0)
		q->reply.answer = GREYLIST_TROUBLE;
}

/* Trouble lines at most once a minute: a dead disk must not flood. */
static void
log_trouble(struct sqlite_store *st, const char *what, const char *err)
{
	char safe[LOG_SAFE_SIZE(256)];
	time_t now = time(NULL);

	if (st->last_trouble_log != 0 && now - st->last_trouble_log < SQLITE_TROUBLE_LOG)
		return;
	st->last_trouble_log = now;
	log_warn("event=greylist-trouble backend=sqlite op=%s reason=\"%s\"",
	    what, log_safe(err, safe, sizeof(safe)));
}

static void
query_done(void *arg)
{
	struct sqlite_query *q = arg;

	LIST_REMOVE(q, entry);
	if (q->reply.answer == GREYLIST_TROUBLE)
		log_trouble(q->st, "check", q->err);
	if (q->cb != NULL)
		q->cb(q->arg, &q->reply);
	else
		log_debug("event=greylist-cancelled backend=sqlite answer=%s",
		    q->reply.answer == GREYLIST_PASS ? "pass" :
		    q->reply.answer == GREYLIST_DEFER ? "defer" : "trouble");
	free(q);
}

static struct greylist_query *
sqlite_check(void *impl, const struct greylist_triplet *t, time_t now,
    greylist_cb cb, void *arg)
{
	struct sqlite_store *st = impl;
	struct sqlite_query *q = xcalloc(1, sizeof(*q));

	q->q.backend = &greylist_backend_sqlite;
	q->st = st;
	q->t = *t;
	q->now = now;
	q->cb = cb;
	q->arg = arg;
	LIST_INSERT_HEAD(&st->out, q, entry);
	workpool_submit(st->pool, query_work, query_done, q);
	return &q->q;
}

static void
sqlite_cancel(struct greylist_query *gq)
{
	struct sqlite_query *q = (struct sqlite_query *)gq;

	q->cb = NULL;
}

static int conn_purge(struct conn *c, const struct greylist_params *p,
    time_t now, unsigned *removed, char *err, size_t errlen);

static void
purge_work(void *arg)
{
	struct sqlite_store *st = arg;

	st->purge_err[0] = '\0';
	st->purged = 0;
	if (st->c.db == NULL && conn_open(&st->c, st->path, true,
	    st->purge_err, sizeof(st->purge_err)) < 0)
		return;
	(void)conn_purge(&st->c, &st->p, time(NULL), &st->purged,
	    st->purge_err, sizeof(st->purge_err));
}

static void
purge_done(void *arg)
{
	struct sqlite_store *st = arg;

	st->purging = false;
	if (st->purge_err[0] != '\0')
		log_trouble(st, "purge", st->purge_err);
	else
		log_info("event=greylist-purge backend=sqlite removed=%u", st->purged);
}

static void
purge_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sqlite_store *st = arg;

	(void)fd;
	(void)what;
	if (st->purging)
		return;
	st->purging = true;
	workpool_submit(st->pool, purge_work, purge_done, st);
}

static void *
sqlite_open(const char *url, const char *state_dir,
    const struct greylist_params *p, struct event_base *base,
    char *err, size_t errlen)
{
	struct sqlite_store *st;
	struct timeval hour = { SQLITE_PURGE_SECONDS, 0 };
	struct stat sb;

	if (strcmp(url, "sqlite:") != 0) {
		snprintf(err, errlen, "greylist backend \"%.200s\": the SQLite "
		    "backend is \"sqlite:\" (<state>/" SQLITE_FILE ")", url);
		return NULL;
	}
	if (stat(state_dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "greylist: state folder %.200s: %s", state_dir,
		    errno != 0 ? strerror(errno) : "not a folder");
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	if (db_path(state_dir, st->path, sizeof(st->path), err, errlen) < 0) {
		free(st);
		return NULL;
	}
	st->base = base;
	st->p = *p;
	LIST_INIT(&st->out);
	st->pool = workpool_new(base, 1);
	st->purge_timer = event_new(base, -1, EV_PERSIST, purge_cb, st);
	evtimer_add(st->purge_timer, &hour);
	return st;
}

static void
sqlite_close(void *impl)
{
	struct sqlite_store *st = impl;
	struct sqlite_query *q;

	LIST_FOREACH(q, &st->out, entry)
		q->cb = NULL;
	event_free(st->purge_timer);
	/* Waits for the statement in progress; runs every done(). */
	workpool_free(st->pool);
	conn_close(&st->c);
	free(st);
}

/* --- the operator's side: synchronous, a connection of its own ------------ */

/* Run sql with ?1, ?2 bound to a and b; the rows it changed, or -1. */
static int
exec_two(sqlite3 *db, const char *sql, sqlite3_int64 a, sqlite3_int64 b)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? sqlite3_changes(db) : -1;
}

static int
conn_purge(struct conn *c, const struct greylist_params *p, time_t now,
    unsigned *removed, char *err, size_t errlen)
{
	int trips, nets;

	/* The rows greylist_record_expired() and greylist_net_allows()
	 * give up on: a passed triplet unused for lifetime, a waiting one
	 * past its window, a network past its `until`. */
	trips = exec_two(c->db, "DELETE FROM triplets WHERE "
	    "(passed != 0 AND last < ?1) OR (passed = 0 AND first < ?2)",
	    (sqlite3_int64)now - p->lifetime, (sqlite3_int64)now - p->retry_window);
	nets = trips < 0 ? -1 : exec_two(c->db, "DELETE FROM nets WHERE until < ?1",
	    (sqlite3_int64)now, 0);
	if (nets < 0) {
		snprintf(err, errlen, "purge: %s", sqlite3_errmsg(c->db));
		return -1;
	}
	*removed = (unsigned)trips + (unsigned)nets;
	return 0;
}

static int
admin_open(struct conn *c, const char *state_dir, bool create, char *err,
    size_t errlen)
{
	char path[PATH_MAX];

	memset(c, 0, sizeof(*c));
	if (db_path(state_dir, path, sizeof(path), err, errlen) < 0)
		return -1;
	return conn_open(c, path, create, err, errlen);
}

static int
list_rows(sqlite3 *db, const char *sql, bool is_net, greylist_list_cb cb,
    void *arg)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct greylist_entry e;
		const unsigned char *net = sqlite3_column_text(st, 0);

		memset(&e, 0, sizeof(e));
		e.is_net = is_net;
		snprintf(e.t.net, sizeof(e.t.net), "%s", net ? (const char *)net : "");
		if (is_net) {
			e.passes = (unsigned)sqlite3_column_int64(st, 1);
			e.allowed = sqlite3_column_int(st, 2) != 0;
			e.until = (time_t)sqlite3_column_int64(st, 3);
		} else {
			const unsigned char *s = sqlite3_column_text(st, 1);
			const unsigned char *r = sqlite3_column_text(st, 2);

			snprintf(e.t.sender, sizeof(e.t.sender), "%s",
			    s ? (const char *)s : "");
			snprintf(e.t.rcpt, sizeof(e.t.rcpt), "%s",
			    r ? (const char *)r : "");
			e.r.first = (time_t)sqlite3_column_int64(st, 3);
			e.r.last = (time_t)sqlite3_column_int64(st, 4);
			e.r.passed = sqlite3_column_int(st, 5) != 0;
		}
		cb(arg, &e);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
sqlite_list(const char *url, const char *state_dir, greylist_list_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct conn c;
	int rc = 0;

	(void)url;
	if (admin_open(&c, state_dir, false, err, errlen) < 0) {
		char path[PATH_MAX];

		/* Nothing greylisted yet: an empty list, not an error. */
		if (db_path(state_dir, path, sizeof(path), err, errlen) == 0 &&
		    access(path, F_OK) < 0 && errno == ENOENT)
			return 0;
		return -1;
	}
	if (list_rows(c.db, "SELECT net, passes, allowed, until FROM nets "
	    "ORDER BY net", true, cb, arg) < 0 ||
	    list_rows(c.db, "SELECT net, sender, rcpt, first, last, passed "
	    "FROM triplets ORDER BY net, sender, rcpt", false, cb, arg) < 0) {
		snprintf(err, errlen, "list: %s", sqlite3_errmsg(c.db));
		rc = -1;
	}
	conn_close(&c);
	return rc;
}

static int
sqlite_allow(const char *url, const char *state_dir,
    const struct greylist_params *p, const char *net, time_t now,
    char *err, size_t errlen)
{
	struct greylist_net_record n;
	struct conn c;
	int rc = 0;

	(void)url;
	if (admin_open(&c, state_dir, true, err, errlen) < 0)
		return -1;
	if (sqlite3_exec(c.db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
	    net_get(&c, net, &n) < 0)
		rc = -1;
	if (rc == 0) {
		greylist_net_allow(&n, now, p);
		if (net_put(&c, net, &n) < 0 ||
		    sqlite3_exec(c.db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			rc = -1;
	}
	if (rc < 0)
		snprintf(err, errlen, "allow: %s", sqlite3_errmsg(c.db));
	conn_close(&c);
	return rc;
}

static int
sqlite_purge(const char *url, const char *state_dir,
    const struct greylist_params *p, time_t now, unsigned *removed,
    char *err, size_t errlen)
{
	struct conn c;
	int rc;

	(void)url;
	if (admin_open(&c, state_dir, true, err, errlen) < 0)
		return -1;
	rc = conn_purge(&c, p, now, removed, err, errlen);
	conn_close(&c);
	return rc;
}

const struct greylist_backend greylist_backend_sqlite = {
	.scheme = "sqlite:",
	.open = sqlite_open,
	.close = sqlite_close,
	.check = sqlite_check,
	.cancel = sqlite_cancel,
	.list = sqlite_list,
	.allow = sqlite_allow,
	.purge = sqlite_purge,
};
