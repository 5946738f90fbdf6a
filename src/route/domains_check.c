/*
 * `decorum check-config` for the domain tables: read every domain folder
 * and report each problem with FILE:LINE.  See domains_check() in
 * domains.h.
 *
 * Called only by the CLI's check-config, never by the daemon.  Reads the
 * same files with the same parser as the lookups (domains_table.c), so a
 * table that checks clean is one the daemon will load; then it goes
 * further than a lookup does: every alias target must be deliverable
 * (no pipes, files or :include:, no foreign domain unless it is the
 * postmaster) and no alias may be hidden by a user of the same name;
 * every senders line must name a user of the domain and list addresses
 * (local@domain) or whole domains (@domain).
 * Reports in file order, not key order.  The only I/O is reading the
 * folder and its files, and stat() of target domains' folders.
 */
#include "route/domains_priv.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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

/* check-config: every alias target must be something we can deliver. */
static void
check_targets(struct domains_sink *k, const char *dir, const char *domain,
    const struct domains_table *users, const struct domains_table *aliases,
    const char *postmaster)
{
	char local[SMTP_LOCAL_PART_MAX + 1], tdom[SMTP_DOMAIN_MAX + 1];
	char path[4096];
	struct stat st;

	const struct domains_entry **byline = xcalloc(aliases->n,
	    sizeof(*byline));

	/* Report in file order, not key order. */
	for (size_t i = 0; i < aliases->n; i++)
		byline[i] = &aliases->e[i];
	qsort(byline, aliases->n, sizeof(*byline), entry_line_cmp);
	for (size_t i = 0; i < aliases->n; i++) {
		const struct domains_entry *e = byline[i];

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
			    (tdom[0] != '\0' && !domains_valid_domain(tdom))) {
				domains_sink_error(k, aliases->path, e->line,
				    "alias %s: \"%.100s\" is not an address",
				    e->key, t);
				continue;
			}
			if (postmaster != NULL && strcasecmp(t, postmaster) == 0)
				continue;
			if (tdom[0] == '\0' || strcmp(tdom, domain) == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, tdom);
			if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
				domains_sink_error(k, aliases->path, e->line,
				    "alias %s: %.100s: forwarding to foreign "
				    "domains is not supported yet", e->key, t);
		}
	}
	free(byline);
}

/* check-config: the senders file (issue 3). */
static void
check_senders(struct domains_sink *k, const struct domains_table *users,
    const struct domains_table *senders)
{
	char local[SMTP_LOCAL_PART_MAX + 1], tdom[SMTP_DOMAIN_MAX + 1];
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

			if (t[0] == '@' ? !domains_valid_domain(t + 1) :
			    domains_split_address(t, local, tdom) < 0 ||
			    tdom[0] == '\0' || !domains_valid_domain(tdom))
				domains_sink_error(k, senders->path, e->line,
				    "senders of %s: \"%.100s\" is not "
				    "local@domain or @domain", e->key, t);
		}
	}
	free(byline);
}

int
domains_check(const char *dir, const char *postmaster,
    domains_report_fn *report, void *arg)
{
	struct domains_sink k = { .report = report, .arg = arg };
	struct dirent *de;
	DIR *dp = opendir(dir);

	if (dp == NULL) {
		domains_sink_error(&k, dir, 0, "cannot open the domains "
		    "folder: %s", strerror(errno));
		return (int)k.errors;
	}
	while ((de = readdir(dp)) != NULL) {
		struct domains_table users = { 0 }, aliases = { 0 };
		struct domains_table senders = { .senders = true };
		char lname[SMTP_DOMAIN_MAX + 1];
		struct stat st;
		char *path;

		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
			free(path);
			continue;
		}
		domains_lower_copy(lname, sizeof(lname), de->d_name);
		if (!domains_valid_domain(de->d_name) ||
		    strcmp(lname, de->d_name) != 0) {
			domains_sink_error(&k, path, 0, "folder name is not a "
			    "lower-case domain name");
			free(path);
			continue;
		}
		users.path = xasprintf("%s/users", path);
		aliases.path = xasprintf("%s/aliases", path);
		senders.path = xasprintf("%s/senders", path);
		(void)domains_table_load(&k, &users, false, &st);
		(void)domains_table_load(&k, &aliases, true, &st);
		(void)domains_table_load(&k, &senders, true, &st);
		check_targets(&k, dir, de->d_name, &users, &aliases,
		    postmaster);
		check_senders(&k, &users, &senders);
		domains_table_free(&users);
		domains_table_free(&aliases);
		domains_table_free(&senders);
		free(path);
	}
	closedir(dp);
	return (int)k.errors;
}
