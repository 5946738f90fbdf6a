/*
 * Transport lookup (see transport.h).  A linear scan: the table is read
 * once per recipient per attempt and holds a handful of entries on a
 * real host; TRANSPORTS_MAX bounds the worst case.  Domains compare in
 * either IDNA form (domains_same_domain): routing gives a local mailbox's
 * domain as its A-label, and the operator may write the U-label.
 */
#include "route/transport.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/bounds.h"
#include "route/domains.h"

static const struct transport_conf default_maildir = {
	.match = "", .via = "maildir", .kind = TRANSPORT_MAILDIR,
};
static const struct transport_conf default_smtp = {
	.match = "", .via = "smtp", .kind = TRANSPORT_SMTP,
};

static bool
suffix_of(const char *domain, const char *parent)
{
	size_t dl = strlen(domain), pl = strlen(parent);

	return dl > pl && domain[dl - pl - 1] == '.' &&
	    strcasecmp(domain + dl - pl, parent) == 0;
}

/* Is domain a proper subdomain of parent (".parent" entries)?  Either
 * may be in U-label or A-label form; a name with no canonical form
 * ("a_b.example") compares as written. */
static bool
is_subdomain(const char *domain, const char *parent)
{
	char cd[SMTP_DOMAIN_MAX + 1], cp[SMTP_DOMAIN_MAX + 1];

	if (domains_canon(domain, cd) == 0 && domains_canon(parent, cp) == 0)
		return suffix_of(cd, cp);
	return suffix_of(domain, parent);
}

/* Does an address match (local part case-insensitively, the domain in
 * either form)? */
static bool
same_address(const char *match, const char *local, const char *domain)
{
	const char *at = strrchr(match, '@');

	return at != NULL && strlen(local) == (size_t)(at - match) &&
	    strncasecmp(match, local, (size_t)(at - match)) == 0 &&
	    domains_same_domain(at + 1, domain);
}

const struct transport_conf *
transport_lookup(const struct config *cfg, const char *local,
    const char *domain, bool is_local)
{
	const struct transport_conf *by_domain = NULL, *by_parent = NULL;
	const struct transport_conf *any = NULL;
	size_t best = 0;

	for (size_t i = 0; i < cfg->n_transports; i++) {
		const struct transport_conf *t = &cfg->transports[i];

		if (strchr(t->match, '@') != NULL) {
			if (same_address(t->match, local, domain))
				return t;
		} else if (t->match[0] == '.') {
			if (is_subdomain(domain, t->match + 1) &&
			    strlen(t->match) > best) {
				best = strlen(t->match);
				by_parent = t;
			}
		} else if (strcmp(t->match, "*") == 0) {
			any = t;
		} else if (domains_same_domain(t->match, domain)) {
			by_domain = t;
		}
	}
	if (by_domain != NULL)
		return by_domain;
	if (by_parent != NULL)
		return by_parent;
	if (is_local)
		return &default_maildir;
	return any != NULL ? any : &default_smtp;
}

const char *
transport_kind_name(enum transport_kind kind)
{
	switch (kind) {
	case TRANSPORT_MAILDIR:
		return "maildir";
	case TRANSPORT_SMTP:
		return "smtp";
	case TRANSPORT_RELAY:
		return "relay";
	case TRANSPORT_LMTP:
		return "lmtp";
	}
	return "?";
}
