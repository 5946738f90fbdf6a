/*
 * Internals shared by the domain tables' files; not for other modules
 * (route.c and the CLI use domains.h).
 *
 *   domains.c          the per-domain cache and the lookups (domains.h)
 *   domains_syntax.c   local parts, domain names, addresses, alias targets
 *   domains_table.c    one users, aliases or senders file: read, parse,
 *                      reload (senders has the aliases syntax)
 *   domains_check.c    `decorum check-config` over every domain folder
 *
 * A table is a sorted array of entries with lower-case keys; it is owned
 * by whoever holds the struct and emptied with domains_table_clear().
 */
#ifndef DECORUM_ROUTE_DOMAINS_PRIV_H
#define DECORUM_ROUTE_DOMAINS_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "route/domains.h"

struct domains_entry {
	char *key;		/* lower case */
	char *hash;		/* users: crypt(3) string, "" for no login */
	char **targets;		/* aliases: as written */
	size_t n_targets;
	unsigned line;
};

struct domains_table {
	char *path;
	bool present;		/* file exists (a missing file is empty) */
	bool broken;		/* unreadable or invalid: lookups tempfail */
	bool senders;		/* a senders file: aliases syntax, own wording */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct domains_entry *e;
	size_t n;
};

/* Where parse problems go: the log at run time, check-config's report
 * at check time. */
struct domains_sink {
	domains_report_fn *report;	/* NULL: log_error() */
	void *arg;
	unsigned errors;
};

/* domains_syntax.c */
void domains_lower(char *s);
/* Copy s into out (truncating to outlen - 1 octets) in lower case. */
void domains_lower_copy(char *out, size_t outlen, const char *s);

/* domains_table.c */
void domains_sink_error(struct domains_sink *k, const char *file,
    unsigned line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Empty t (entries only: path and file identity stay). */
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
/* Read t->path (bounded) and parse it into t.  Returns 0 (parsed, st
 * filled), 1 when the file does not exist, -1 when it could not be read
 * (reported to k). */
int domains_table_load(struct domains_sink *k, struct domains_table *t,
    bool aliases, struct stat *st);
/* Reload t if its file changed since the last load (errors are logged;
 * a broken file leaves t empty and broken). */
void domains_table_refresh(struct domains_table *t, bool aliases);

#endif
