/*
 * Internals shared by the domain tables' files; not for other modules
 * (route.c and the CLI use domains.h).
 *
 *   domains.c          struct domains, its lookups (domains.h), the CLI's
 *                      on-demand loading
 *   domains_live.c     the daemons' refresh: a timer on the loop, the
 *                      snapshot built in a worker thread, swapped on the loop
 *   domains_snap.c     building a snapshot: the folder listing, and each
 *                      domain's tables, re-read only when whole and changed
 *   domains_table.c    one users, aliases or senders file: read (whole or
 *                      not at all), parse (senders has the aliases syntax)
 *   domains_syntax.c   local parts, domain names, addresses, alias targets
 *   domains_idn.c      the canonical (A-label) form of a domain name
 *   domains_check.c    `decorum check-config` over every domain folder
 *
 * A table is a sorted array of entries with lower-case keys.  Tables,
 * domains and snapshots that have been published are immutable and
 * reference-counted: a new snapshot shares every domain and table that
 * did not change with the one before.  Reference counts are plain
 * integers: they change only in the one refresh job in flight (which
 * takes references on what it shares) or on the loop while no job runs
 * (which drops them), never both at once (domains_live.c).
 */
#ifndef DECORUM_ROUTE_DOMAINS_PRIV_H
#define DECORUM_ROUTE_DOMAINS_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "route/domains.h"

/* A table file that changed less than this long ago may still be being
 * written (an editor, `echo >>`): it is not read until it is older. */
#define DOMAINS_STILL_MS	1000
/* Folders under <domains> taken into account. */
#define DOMAINS_MAX		100000
/* Bad lines of one file logged one by one at run time; the rest only
 * counted (event=table-invalid): a broken 100,000-line file must not
 * flood the log of both daemons.  check-config names every one. */
#define DOMAINS_ERRORS_LOGGED	5

struct domains_entry {
	char *key;		/* lower case */
	char *hash;		/* users: crypt(3) string, "" for no login */
	char **targets;		/* aliases: as written */
	size_t n_targets;
	unsigned line;
};

/* What a change of a file is judged by: any difference means "changed". */
struct domains_fileid {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
};

enum domains_state {
	DOMAINS_MISSING,	/* no such file: an empty table */
	DOMAINS_LOADED,		/* read whole, parsed without an error */
	DOMAINS_BROKEN,		/* unreadable or invalid: lookups tempfail */
	DOMAINS_UNSETTLED,	/* never read whole yet: lookups tempfail */
};

enum domains_kind { DOMAINS_USERS, DOMAINS_ALIASES, DOMAINS_SENDERS,
	DOMAINS_KINDS };

struct domains_table {
	char *path;
	bool senders;		/* a senders file: aliases syntax, own wording */
	/* Kept by the snapshot code (domains_snap.c): */
	unsigned refs;
	enum domains_state state;
	int err;		/* BROKEN: the errno, 0 for a syntax error */
	bool have_id;		/* id is the file's as it was read */
	struct domains_fileid id;
	struct domains_entry *e;
	size_t n, cap;
	struct domains_table *next_garbage;	/* domains_snap_release */
};

/* One local domain as a snapshot holds it. */
struct domains_dom {
	unsigned refs;
	char *name;		/* canonical: lower-case A-label form */
	char *folder;		/* the folder's name under <domains> */
	bool clash;		/* two folders name this domain: tempfail */
	int err;		/* its folder could not be examined (errno):
				 * the tables read before stay, or, with
				 * none (t[] NULL), tempfail */
	struct domains_table *t[DOMAINS_KINDS];	/* all NULL: tempfail */
};

/* Every local domain, as one refresh found them. */
struct domains_snap {
	unsigned refs;
	int list_err;		/* <domains> could not be listed: tempfail */
	bool listed;		/* it has been listed once: from then on a
				 * missing <domains> is list_err too */
	bool truncated;		/* more than DOMAINS_MAX folders */
	struct domains_dom **v;	/* sorted by name */
	size_t n;
	char **ignored;		/* folder names that are no domain (sorted) */
	size_t n_ignored;
};

/* Where parse problems go: the log at run time (the first
 * DOMAINS_ERRORS_LOGGED of them), check-config's report at check time
 * (all). */
struct domains_sink {
	domains_report_fn *report;	/* NULL: log_error() */
	domains_report_fn *warn;	/* check-config's warnings; NULL: none */
	void *arg;
	unsigned errors;
};

/* domains_syntax.c */
void domains_lower(char *s);
/* Copy s into out (truncating to outlen - 1 octets) in lower case. */
void domains_lower_copy(char *out, size_t outlen, const char *s);

/* domains_idn.c */
/* Is folder a domain folder's name: a domain in its canonical (A-label)
 * or its U-label form, lower case?  0 with canon set, or -1. */
int domains_folder_canon(const char *folder,
    char canon[SMTP_DOMAIN_MAX + 1]);

/* domains_table.c */
void domains_sink_error(struct domains_sink *k, const char *file,
    unsigned line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Empty t (entries only: path and state stay). */
void domains_table_clear(struct domains_table *t);
/* Empty t and free its path. */
void domains_table_free(struct domains_table *t);
/* The entry with key (lower case), the first line of duplicates, or NULL. */
struct domains_entry *domains_table_find(const struct domains_table *t,
    const char *key);
/*
 * Parse a whole file image (data, size: need not be NUL-terminated) into
 * t, which must be empty.  Errors go to k, named as file; entries are
 * sorted afterwards.  Pure: no I/O besides k's reporting.  Fuzzed.
 */
void domains_table_parse(struct domains_sink *k, const char *file,
    struct domains_table *t, bool aliases, const char *data, size_t size);
/* check-config: read t->path (bounded) as it is now and parse it into t.
 * Returns 0 (parsed), 1 when the file does not exist, -1 when it could
 * not be read (reported to k). */
int domains_table_load(struct domains_sink *k, struct domains_table *t,
    bool aliases);

/* How domains_table_read_whole went. */
enum domains_read {
	DOMAINS_READ_OK,	/* *data holds the file as st describes it */
	DOMAINS_READ_CHANGED,	/* it changed before or while we read it */
	DOMAINS_READ_ERROR,	/* *err set: cannot open, not a regular file,
				 * too large, read error */
};
/*
 * Read name (relative to the folder dirfd, or a path with AT_FDCWD)
 * whole, for a file stat() just described as st: the file opened must
 * still be st (same device, inode, size, mtime and ctime), and still be
 * so after the last read, or it is CHANGED and nothing is returned.
 * *data is malloc'd (free it), *size its length.
 */
enum domains_read domains_table_read_whole(int dirfd, const char *name,
    const struct stat *st, char **data, size_t *size, int *err);
void domains_fileid_of(struct domains_fileid *id, const struct stat *st);
bool domains_fileid_equal(const struct domains_fileid *a,
    const struct domains_fileid *b);

/* domains_snap.c */
/*
 * One refresh of the domain tables under dir, compared with base (NULL:
 * none yet), "still" judged against the wall clock now.  Returns a new
 * snapshot that shares every domain and table that did not change with
 * base (taking references), or NULL when nothing changed.  *settle_at is
 * raised to the time a file found too fresh to read becomes readable
 * (left alone when there is none).  Blocking I/O: a worker thread, start-up
 * or the CLI only.
 */
struct domains_snap *domains_snap_refresh(const char *dir,
    const struct domains_snap *base, const struct timespec *now,
    struct timespec *settle_at);
/* An empty snapshot (no domains yet), one reference. */
struct domains_snap *domains_snap_new(void);
/* The domain with this canonical name, or NULL. */
struct domains_dom *domains_snap_find(const struct domains_snap *s,
    const char *canon);
/* CLI: add dom (whose reference passes to s) in name order. */
void domains_snap_insert(struct domains_snap *s, struct domains_dom *dom);
void domains_snap_unref(struct domains_snap *s);
/* The same, but the tables whose last reference goes are put on the list
 * *garbage instead of being freed (their entries may be many: the loop
 * hands them to the next refresh job, which frees them in a worker). */
void domains_snap_release(struct domains_snap *s,
    struct domains_table **garbage);
void domains_garbage_free(struct domains_table *list);
/*
 * One domain's folder and tables as they are now, read through dfd (the
 * <domains> folder dir names, opened by the caller): old (may be NULL)
 * is returned, with a new reference, when nothing changed.
 */
struct domains_dom *domains_dom_refresh(int dfd, const char *dir,
    const char *folder, const char *canon, struct domains_dom *old,
    const struct timespec *now, struct timespec *settle_at);
/* A domain that two folders name (both NULL-free); one reference. */
struct domains_dom *domains_dom_clash(const char *canon, const char *folder);
void domains_dom_unref(struct domains_dom *dom);
/* Can dom's tables answer (no clash, tables held)?  Else tempfail. */
bool domains_dom_usable(const struct domains_dom *dom);
/* Does any table of dom answer "try later" because it was never read
 * whole? */
bool domains_dom_unsettled(const struct domains_dom *dom);

/* domains.c */
/* Sleep until settle_at (wall clock), at most 2 x DOMAINS_STILL_MS:
 * start-up and CLI only. */
void domains_wait_until(const struct timespec *settle_at);

/* domains_live.c */
/* A refresh in the caller's thread, as the live job does it: swaps in a
 * new snapshot when something changed (start-up, and tests, which pass
 * their own clock).  Never while a job is in flight.  Returns true when
 * it swapped; *settle_at as domains_snap_refresh. */
bool domains_refresh_now(struct domains *d, const struct timespec *now,
    struct timespec *settle_at);
/* Tell a job in flight that d is gone, free the timer (domains_free). */
void domains_live_stop(struct domains *d);

/* The structure behind struct domains (domains.c, domains_live.c). */
struct domains_job;
struct domains {
	char *dir;
	struct domains_snap *snap;	/* what lookups read */
	bool live;			/* snap is the whole listing */
	/* Live mode only (domains_live.c): */
	struct event_base *base;
	struct workpool *pool;
	struct event *timer;
	struct domains_job *job;	/* in flight, or NULL */
	struct domains_table *garbage;	/* for the next job to free */
};

#endif
