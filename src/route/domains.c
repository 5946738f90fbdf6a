/*
 * Local domain tables: see domains.h.  This file is struct domains and
 * its lookups (is_local, user, alias, senders), which read the current
 * snapshot, and the CLI's on-demand loading of one domain.  Snapshots are
 * built by domains_snap.c and, in the daemons, kept fresh by
 * domains_live.c; tables are read by domains_table.c, names checked by
 * domains_syntax.c and domains_idn.c; check-config is domains_check.c.
 *
 * Called by route.c (for RCPT checks, delivery and `decorum route`),
 * senders.c (sender ownership on submission) and smtpd's AUTH (hashes).
 * Trusts the snapshots (valid lower-case keys, sorted); trusts nothing in
 * the names it is asked about: a domain is reduced to its canonical form
 * (domains_canon) before anything else, so no "..", "/" or odd octet ever
 * reaches a path or a comparison.  Live, a plain ASCII name (what route.c
 * passes, canonical already) is only lower-cased and syntax-checked: its
 * canonical form is that or none, and the snapshot holds only canonical
 * names, so libidn2 runs once per address, in route.c, not per lookup.
 * Live (daemon) lookups make no system call: a binary search in memory.
 * CLI lookups read a domain's folder the first time it is asked for (and
 * wait up to about a second for a file just written), then keep it.
 * An unreadable folder or table, a table never read whole, or two folders
 * for one domain is a tempfail (-1), never "no such user", because a 550
 * for a real user loses mail.
 */
#include "route/domains.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "route/domains_priv.h"

struct domains *
domains_open(const char *dir)
{
	struct domains *d = xcalloc(1, sizeof(*d));

	d->dir = xstrdup(dir);
	d->snap = domains_snap_new();
	return d;
}

void
domains_free(struct domains *d)
{
	if (d == NULL)
		return;
	domains_live_stop(d);
	domains_snap_unref(d->snap);
	free(d->dir);
	free(d);
}

/* CLI: the folders that may hold canon: its own spelling and, for an
 * international name, the U-label one.  Fills found (up to 2); returns
 * their number, or -1 when a folder cannot be examined. */
static int
cli_folders(const struct domains *d, const char *canon,
    char found[2][DOMAINS_UNICODE_MAX + 1])
{
	char names[2][DOMAINS_UNICODE_MAX + 1], path[4096 + DOMAINS_UNICODE_MAX];
	size_t n_names = 1;
	struct stat st;
	int n = 0;

	snprintf(names[0], sizeof(names[0]), "%s", canon);
	if (domains_unicode(canon, names[1], sizeof(names[1])) == 0 &&
	    strcmp(names[1], canon) != 0)
		n_names = 2;
	for (size_t i = 0; i < n_names; i++) {
		int w = snprintf(path, sizeof(path), "%s/%s", d->dir, names[i]);

		if (w < 0 || (size_t)w >= sizeof(path))
			return -1;
		if (stat(path, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				memcpy(found[n++], names[i], sizeof(names[i]));
		} else if (errno != ENOENT && errno != ENOTDIR) {
			return -1;
		}
	}
	return n;
}

/* Sleep until settle_at (wall clock), at most a little over
 * DOMAINS_STILL_MS: start-up and CLI only. */
void
domains_wait_until(const struct timespec *settle_at)
{
	struct timespec now, nap;
	long long ms;

	clock_gettime(CLOCK_REALTIME, &now);
	ms = ((long long)settle_at->tv_sec - now.tv_sec) * 1000 +
	    (settle_at->tv_nsec - now.tv_nsec) / 1000000 + 10;
	if (ms <= 0)
		return;
	if (ms > 2 * DOMAINS_STILL_MS)
		ms = 2 * DOMAINS_STILL_MS;
	nap.tv_sec = ms / 1000;
	nap.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&nap, &nap) < 0 && errno == EINTR)
		;
}

/* CLI: read the domain now; NULL when it has no folder (*err when that
 * cannot be told). */
static struct domains_dom *
cli_load(struct domains *d, const char *canon, bool *err)
{
	char found[2][DOMAINS_UNICODE_MAX + 1];
	struct domains_dom *dom, *again;
	struct timespec now, settle = { 0, 0 };
	int n = cli_folders(d, canon, found), dfd;

	if (n <= 0) {
		*err = n < 0;
		return NULL;
	}
	if (d->snap->n >= DOMAINS_MAX ||
	    (dfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		*err = true;
		return NULL;
	}
	if (n == 2) {
		dom = domains_dom_clash(canon, found[0]);
	} else {
		clock_gettime(CLOCK_REALTIME, &now);
		dom = domains_dom_refresh(dfd, d->dir, found[0], canon, NULL,
		    &now, &settle);
		if (domains_dom_unsettled(dom)) {
			/* Just written: wait until it may be read whole. */
			domains_wait_until(&settle);
			clock_gettime(CLOCK_REALTIME, &now);
			again = domains_dom_refresh(dfd, d->dir, found[0],
			    canon, dom, &now, &settle);
			domains_dom_unref(dom);
			dom = again;
		}
	}
	close(dfd);
	domains_snap_insert(d->snap, dom);
	return dom;
}

/*
 * An ASCII name in lower case, into out: true, or false when name has a
 * non-ASCII octet or is too long.  For ASCII, that is the canonical form
 * or there is none (UTS #46 maps ASCII by case alone, and an A-label
 * must come back unchanged: domains_idn.c), so the snapshot, which holds
 * canonical names only, can be searched with it without libidn2.
 * route.c canonicalises an address's domain once and passes that form
 * to every lookup: this keeps it from being done again in each.
 */
static bool
ascii_lower(const char *name, char out[SMTP_DOMAIN_MAX + 1])
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch >= 0x80 || i >= SMTP_DOMAIN_MAX)
			return false;
		out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
	}
	out[i] = '\0';
	return true;
}

/* The domain's entry, or NULL when it is not local (*err set when that
 * cannot be told now: try later). */
static struct domains_dom *
domain_get(struct domains *d, const char *name, bool *err)
{
	char canon[SMTP_DOMAIN_MAX + 1];
	struct domains_dom *dom;
	bool ascii = ascii_lower(name, canon);

	*err = false;
	/* Live, an ASCII name needs only the syntax check (a bad A-label is
	 * simply not found); the CLI, which reads folders by name, and
	 * non-ASCII names take the whole IDNA check. */
	if (ascii && d->live ? !domains_valid_domain(canon) :
	    domains_canon(name, canon) < 0)
		return NULL;	/* literals, junk: never local */
	if (d->snap->list_err != 0) {
		*err = true;
		return NULL;
	}
	dom = domains_snap_find(d->snap, canon);
	if (dom == NULL && !d->live)
		dom = cli_load(d, canon, err);
	if (dom != NULL && !domains_dom_usable(dom)) {
		*err = true;	/* two folders, or one not examined yet */
		return NULL;
	}
	return dom;
}

int
domains_is_local(struct domains *d, const char *domain)
{
	bool err;
	struct domains_dom *dom;

	dom = domain_get(d, domain, &err);
	if (err)
		return -1;
	return dom != NULL;
}

static int
lookup(struct domains *d, const char *local, const char *domain,
    enum domains_kind kind, const struct domains_entry **out)
{
	char key[SMTP_LOCAL_PART_MAX + 1];
	struct domains_dom *dom;
	const struct domains_table *t;
	bool err;

	*out = NULL;
	dom = domain_get(d, domain, &err);
	if (err)
		return -1;
	if (dom == NULL)
		return 0;
	t = dom->t[kind];
	if (t->state != DOMAINS_LOADED && t->state != DOMAINS_MISSING)
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
	int r = lookup(d, local, domain, DOMAINS_USERS, &e);

	if (r == 1 && hash != NULL)
		*hash = e->hash;
	return r;
}

int
domains_alias(struct domains *d, const char *local, const char *domain,
    char *const **targets, size_t *n)
{
	const struct domains_entry *e;
	int r = lookup(d, local, domain, DOMAINS_ALIASES, &e);

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
	int r = lookup(d, local, domain, DOMAINS_SENDERS, &e);

	if (r == 1) {
		*addrs = e->targets;
		*n = e->n_targets;
	}
	return r;
}
