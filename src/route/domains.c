/*
 * Local domain tables: see domains.h.  This file is the per-domain cache
 * and the lookups (is_local, user, alias, senders); the users, aliases and
 * senders files are read, parsed and reloaded by domains_table.c, names
 * are checked by domains_syntax.c, and check-config lives in domains_check.c.
 *
 * Called by route.c (for RCPT checks, delivery and `decorum route`) and
 * senders.c (sender ownership on submission).
 * Trusts the tables it gets from domains_table.c (valid lower-case keys,
 * sorted); trusts nothing in the names it is asked about: a domain name
 * is validated before it is ever joined to a path (no "..", no "/"), and
 * only domains whose folder exists are cached, at most DOMAINS_CACHE_MAX.
 * Freshness: each domain's folder and files are stat'ed at most once a
 * second; a change of inode, size or mtime reloads the file.
 * An unreadable folder or a broken table is a tempfail (-1), never "no
 * such user", because a 550 for a real user loses mail.
 */
#include "route/domains.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "route/domains_priv.h"

#define DOMAINS_CACHE_MAX	100000			/* domains remembered */
#define DOMAINS_RECHECK_MS	1000

struct domain {
	char *name;
	bool local;
	bool dir_error;		/* the folder could not be stat'ed */
	long long checked_ms;
	struct domains_table users;
	struct domains_table aliases;
	struct domains_table senders;
};

struct domains {
	char *dir;
	struct domain *v;
	size_t n;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct domains *
domains_open(const char *dir)
{
	struct domains *d = xcalloc(1, sizeof(*d));

	d->dir = xstrdup(dir);
	return d;
}

static void
domain_free(struct domain *dom)
{
	domains_table_free(&dom->users);
	domains_table_free(&dom->aliases);
	domains_table_free(&dom->senders);
	free(dom->name);
}

void
domains_free(struct domains *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		domain_free(&d->v[i]);
	free(d->v);
	free(d->dir);
	free(d);
}

/* The domain's entry, fresh to within a second, or NULL when it is not
 * local (*err set on a stat error).  Entries are only made for domains
 * that exist, so a flood of RCPT TO random domains cannot grow the cache. */
static struct domain *
domain_get(struct domains *d, const char *name, bool *err)
{
	char key[SMTP_DOMAIN_MAX + 1], path[4096];
	struct domain *dom = NULL;
	long long now = now_ms();
	struct stat st;
	int n, sr;

	*err = false;
	domains_lower_copy(key, sizeof(key), name);
	if (strlen(name) > SMTP_DOMAIN_MAX || !domains_valid_domain(key))
		return NULL;	/* literals, junk: never local */
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, key) == 0)
			dom = &d->v[i];
	if (dom != NULL && now - dom->checked_ms < DOMAINS_RECHECK_MS) {
		*err = dom->dir_error;
		return dom->local ? dom : NULL;
	}
	n = snprintf(path, sizeof(path), "%s/%s", d->dir, key);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		*err = true;
		return NULL;
	}
	sr = stat(path, &st);
	if (sr < 0 || !S_ISDIR(st.st_mode)) {
		bool missing = sr == 0 || errno == ENOENT || errno == ENOTDIR;

		if (dom != NULL) {
			dom->local = false;
			dom->dir_error = !missing;
			dom->checked_ms = now;
			domains_table_clear(&dom->users);
			domains_table_clear(&dom->aliases);
			domains_table_clear(&dom->senders);
			dom->users.present = dom->aliases.present = false;
			dom->senders.present = false;
		}
		*err = !missing;
		return NULL;
	}
	if (dom == NULL) {
		if (d->n >= DOMAINS_CACHE_MAX) {
			log_error("event=table-error error=\"too many domains\" "
			    "max=%d", DOMAINS_CACHE_MAX);
			*err = true;
			return NULL;
		}
		d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
		dom = &d->v[d->n++];
		memset(dom, 0, sizeof(*dom));
		dom->name = xstrdup(key);
		dom->users.path = xasprintf("%s/users", path);
		dom->aliases.path = xasprintf("%s/aliases", path);
		dom->senders.path = xasprintf("%s/senders", path);
		dom->senders.senders = true;
	}
	dom->local = true;
	dom->dir_error = false;
	dom->checked_ms = now;
	domains_table_refresh(&dom->users, false);
	domains_table_refresh(&dom->aliases, true);
	domains_table_refresh(&dom->senders, true);
	return dom;
}

int
domains_is_local(struct domains *d, const char *domain)
{
	bool err;
	struct domain *dom;

	dom = domain_get(d, domain, &err);
	if (err)
		return -1;
	return dom != NULL;
}

enum table_kind { TABLE_USERS, TABLE_ALIASES, TABLE_SENDERS };

static int
lookup(struct domains *d, const char *local, const char *domain,
    enum table_kind kind, const struct domains_entry **out)
{
	char key[SMTP_LOCAL_PART_MAX + 1];
	struct domain *dom;
	struct domains_table *t;
	bool err;

	*out = NULL;
	dom = domain_get(d, domain, &err);
	if (err)
		return -1;
	if (dom == NULL)
		return 0;
	t = kind == TABLE_ALIASES ? &dom->aliases :
	    kind == TABLE_SENDERS ? &dom->senders : &dom->users;
	if (t->broken)
		return -1;
	if (strlen(local) > SMTP_LOCAL_PART_MAX)
		return 0;
	domains_lower_copy(key, sizeof(key), local);
	*out = domains_table_find(t, key);
	return *out != NULL;
}

int
domains_user(struct domains *d, const char *local, const char *domain,
    const char **hash)
{
	const struct domains_entry *e;
	int r = lookup(d, local, domain, TABLE_USERS, &e);

	if (r == 1 && hash != NULL)
		*hash = e->hash;
	return r;
}

int
domains_alias(struct domains *d, const char *local, const char *domain,
    char *const **targets, size_t *n)
{
	const struct domains_entry *e;
	int r = lookup(d, local, domain, TABLE_ALIASES, &e);

	if (r == 1) {
		*targets = e->targets;
		*n = e->n_targets;
	}
	return r;
}

int
domains_senders(struct domains *d, const char *local, const char *domain,
    char *const **addrs, size_t *n)
{
	const struct domains_entry *e;
	int r = lookup(d, local, domain, TABLE_SENDERS, &e);

	if (r == 1) {
		*addrs = e->targets;
		*n = e->n_targets;
	}
	return r;
}
