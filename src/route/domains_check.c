/*
 * `decorum check-config` for the domain tables: read every domain folder
 * and report each problem with FILE:LINE.  See domains_check() in
 * domains.h.
 *
 * Called only by the CLI's check-config, never by the daemon.  Reads the
 * same files with the same parser as the lookups (domains_table.c), so a
 * table that checks clean is one the daemon will load; then it goes
 * further than a lookup does: every alias target must be deliverable
 * (no pipes, files or :include:) and no alias may be hidden by a user
 * of the same name; an alias to foreign domains (a forward) is fine,
 * but warned about when it fans out to more than alias_fanout_warn of
 * them (a list: mailing list software's job) or when no srs group is
 * configured (the copies keep their sender and may fail SPF);
 * every senders line must name a user of the domain and list addresses
 * (local@domain) or whole domains (@domain).
 * Folder names must be a domain in one of its two canonical spellings
 * (lower-case A-label or U-label form, domains_folder_canon), and two
 * folders must not name the same domain (bücher.example and
 * xn--bcher-kva.example): the daemon would answer "try later" for it.
 * Reports in file order, not key order.  The only I/O is reading the
 * folder and its files; tables are read as they are, changing or not.
 * An entry that cannot be examined, or a listing that an error cut
 * short, is reported, never skipped: an unchecked domain would pass, and
 * aliases to it would be called foreign.
 */
#include "route/domains_priv.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/config.h"
#include "common/xmalloc.h"

static int
entry_line_cmp(const void *a, const void *b)
{
	const struct domains_entry *x = *(const struct domains_entry *const *)a;
	const struct domains_entry *y = *(const struct domains_entry *const *)b;

	return x->line < y->line ? -1 : x->line > y->line;
}

/* What check-config says of a target kind we cannot deliver to (it goes
 * before "not supported"), or NULL for an address. */
static const char *
unsupported(const char *target)
{
	switch (domains_target_kind(target)) {
	case DOMAINS_TARGET_PIPE:
		return "pipes to commands are";
	case DOMAINS_TARGET_FILE:
		return "delivery to files is";
	case DOMAINS_TARGET_INCLUDE:
		return ":include: is";
	case DOMAINS_TARGET_ADDRESS:
		break;
	}
	return NULL;
}

/* The folders under <domains>: name and canonical domain. */
struct folder {
	char *name;
	char canon[SMTP_DOMAIN_MAX + 1];
};

struct folders {
	struct folder *v;
	size_t n;
};

static int
folder_cmp(const void *a, const void *b)
{
	const struct folder *x = a, *y = b;
	int c = strcmp(x->canon, y->canon);

	return c != 0 ? c : strcmp(x->name, y->name);
}

static bool
is_local(const struct folders *f, const char *canon)
{
	struct folder key;

	snprintf(key.canon, sizeof(key.canon), "%s", canon);
	for (size_t lo = 0, hi = f->n; lo < hi; ) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(f->v[mid].canon, key.canon);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The forwards of one alias (its foreign targets, counted): warnings,
 * not errors: the daemon delivers them, but an operator should know. */
static void
warn_forwards(struct domains_sink *k, const struct config *cfg,
    const char *path, const struct domains_entry *e, unsigned foreign)
{
	char text[300];

	if (foreign == 0 || k->warn == NULL)
		return;
	if (cfg->alias_fanout_warn > 0 && foreign > cfg->alias_fanout_warn) {
		snprintf(text, sizeof(text), "warning: alias %s forwards to "
		    "%u foreign addresses (alias_fanout_warn %u): group "
		    "forwards belong in mailing list software: see "
		    "docs/delivery.md, Group forwards and mailing lists",
		    e->key, foreign, cfg->alias_fanout_warn);
		k->warn(k->arg, path, (int)e->line, text);
	}
	if (!cfg->srs.enabled) {
		snprintf(text, sizeof(text), "warning: alias %s forwards to "
		    "foreign domains and no srs group is configured: the "
		    "copies keep their sender and may fail SPF at the "
		    "target", e->key);
		k->warn(k->arg, path, (int)e->line, text);
	}
}

/* check-config: every alias target must be something we can deliver. */
static void
check_targets(struct domains_sink *k, const struct config *cfg,
    const struct folders *f, const char *domain,
    const struct domains_table *users, const struct domains_table *aliases)
{
	char local[SMTP_LOCAL_PART_WIRE_MAX + 1], tdom[SMTP_DOMAIN_MAX + 1];
	char canon[SMTP_DOMAIN_MAX + 1];

	const struct domains_entry **byline = xcalloc(aliases->n,
	    sizeof(*byline));

	/* Report in file order, not key order. */
	for (size_t i = 0; i < aliases->n; i++)
		byline[i] = &aliases->e[i];
	qsort(byline, aliases->n, sizeof(*byline), entry_line_cmp);
	for (size_t i = 0; i < aliases->n; i++) {
		const struct domains_entry *e = byline[i];
		unsigned foreign = 0;

		if (domains_table_find(users, e->key) != NULL)
			domains_sink_error(k, aliases->path, e->line,
			    "alias %s is shadowed by the user of the same "
			    "name (users come first)", e->key);
		for (size_t j = 0; j < e->n_targets; j++) {
			const char *t = e->targets[j];
			const char *refused = unsupported(t);

			if (refused != NULL) {
				domains_sink_error(k, aliases->path, e->line,
				    "alias %s: %s not supported", e->key,
				    refused);
				continue;
			}
			if (domains_split_address(t, local, tdom) < 0 ||
			    (tdom[0] != '\0' && domains_canon(tdom, canon) < 0)) {
				domains_sink_error(k, aliases->path, e->line,
				    "alias %s: \"%.100s\" is not an address",
				    e->key, t);
				continue;
			}
			if (tdom[0] != '\0' && strcmp(canon, domain) != 0 &&
			    !is_local(f, canon))
				foreign++;
		}
		warn_forwards(k, cfg, aliases->path, e, foreign);
	}
	free(byline);
}

/* check-config: the senders file (issue 3). */
static void
check_senders(struct domains_sink *k, const struct domains_table *users,
    const struct domains_table *senders)
{
	char local[SMTP_LOCAL_PART_WIRE_MAX + 1], tdom[SMTP_DOMAIN_MAX + 1];
	char canon[SMTP_DOMAIN_MAX + 1];
	const struct domains_entry **byline = xcalloc(senders->n,
	    sizeof(*byline));

	for (size_t i = 0; i < senders->n; i++)
		byline[i] = &senders->e[i];
	qsort(byline, senders->n, sizeof(*byline), entry_line_cmp);
	for (size_t i = 0; i < senders->n; i++) {
		const struct domains_entry *e = byline[i];

		if (domains_table_find(users, e->key) == NULL)
			domains_sink_error(k, senders->path, e->line,
			    "senders of %s: no such user in this domain",
			    e->key);
		for (size_t j = 0; j < e->n_targets; j++) {
			const char *t = e->targets[j];

			if (t[0] == '@' ? domains_canon(t + 1, canon) < 0 :
			    domains_split_address(t, local, tdom) < 0 ||
			    tdom[0] == '\0' || domains_canon(tdom, canon) < 0)
				domains_sink_error(k, senders->path, e->line,
				    "senders of %s: \"%.100s\" is not "
				    "local@domain or @domain", e->key, t);
		}
	}
	free(byline);
}

/* One entry of dir: a folder (1, e filled), or not one (0), or a
 * problem reported (-1). */
static int
folder_entry(struct domains_sink *k, const char *dir, DIR *dp,
    const char *name, struct folder *e)
{
	char unicode[DOMAINS_UNICODE_MAX + 1];
	char *path = xasprintf("%s/%s", dir, name);
	struct stat st;
	int rc = -1;

	if (fstatat(dirfd(dp), name, &st, 0) < 0) {
		if (errno == ENOENT)
			rc = 0;		/* gone since it was listed */
		else
			domains_sink_error(k, path, 0, "cannot examine: %s",
			    strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = 0;
		goto out;
	}
	if (domains_folder_canon(name, e->canon) == 0) {
		e->name = xstrdup(name);
		rc = 1;
	} else if (domains_canon(name, e->canon) == 0 &&
	    domains_unicode(e->canon, unicode, sizeof(unicode)) == 0 &&
	    strcmp(unicode, e->canon) != 0) {
		domains_sink_error(k, path, 0, "folder name is not a lower-case "
		    "domain name: call it %s or %s", unicode, e->canon);
	} else if (e->canon[0] != '\0') {
		domains_sink_error(k, path, 0, "folder name is not a lower-case "
		    "domain name: call it %s", e->canon);
	} else {
		domains_sink_error(k, path, 0, "folder name is not a valid "
		    "domain name");
	}
out:
	free(path);
	return rc;
}

/* Read the folder names under dir (sorted by domain); bad names and
 * clashes are reported.  0, or -1 when dir cannot be read (whole). */
static int
list_folders(struct domains_sink *k, const char *dir, struct folders *f)
{
	struct dirent *de;
	DIR *dp = opendir(dir);
	int rc = 0;

	memset(f, 0, sizeof(*f));
	if (dp == NULL) {
		domains_sink_error(k, dir, 0, "cannot open the domains "
		    "folder: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(dp)) == NULL) {
			/* A listing cut short would leave domains unchecked
			 * and call their aliases' targets foreign. */
			if (errno != 0) {
				domains_sink_error(k, dir, 0, "cannot read the "
				    "domains folder: %s", strerror(errno));
				rc = -1;
			}
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		f->v = xreallocarray(f->v, f->n + 1, sizeof(*f->v));
		if (folder_entry(k, dir, dp, de->d_name, &f->v[f->n]) == 1)
			f->n++;
	}
	closedir(dp);
	if (f->n > 1)
		qsort(f->v, f->n, sizeof(*f->v), folder_cmp);
	for (size_t i = 1; i < f->n; i++)
		if (strcmp(f->v[i - 1].canon, f->v[i].canon) == 0)
			domains_sink_error(k, dir, 0, "folders %s and %s are "
			    "the same domain (%s): keep one", f->v[i - 1].name,
			    f->v[i].name, f->v[i].canon);
	return rc;
}

int
domains_check(const char *dir, const struct config *cfg,
    domains_report_fn *report, domains_report_fn *warn, void *arg)
{
	struct domains_sink k = { .report = report, .warn = warn, .arg = arg };
	struct folders f;

	if (list_folders(&k, dir, &f) < 0) {
		for (size_t i = 0; i < f.n; i++)
			free(f.v[i].name);
		free(f.v);
		return (int)k.errors;
	}
	for (size_t i = 0; i < f.n; i++) {
		struct domains_table users = { 0 }, aliases = { 0 };
		struct domains_table senders = { .senders = true };
		char *path = xasprintf("%s/%s", dir, f.v[i].name);

		users.path = xasprintf("%s/users", path);
		aliases.path = xasprintf("%s/aliases", path);
		senders.path = xasprintf("%s/senders", path);
		(void)domains_table_load(&k, &users, false);
		(void)domains_table_load(&k, &aliases, true);
		(void)domains_table_load(&k, &senders, true);
		check_targets(&k, cfg, &f, f.v[i].canon, &users, &aliases);
		check_senders(&k, &users, &senders);
		domains_table_free(&users);
		domains_table_free(&aliases);
		domains_table_free(&senders);
		free(path);
	}
	for (size_t i = 0; i < f.n; i++)
		free(f.v[i].name);
	free(f.v);
	return (int)k.errors;
}
