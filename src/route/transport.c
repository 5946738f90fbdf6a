/*
 * Transport lookup (see transport.h).  A linear scan: the table is read
 * once per recipient per attempt and holds a handful of entries on a
 * real host; TRANSPORTS_MAX bounds the worst case.
 */
#include "route/transport.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/bounds.h"

static const struct transport_conf default_maildir = {
	.match = "", .via = "maildir", .kind = TRANSPORT_MAILDIR,
};
static const struct transport_conf default_smtp = {
	.match = "", .via = "smtp", .kind = TRANSPORT_SMTP,
};

/* Is domain a proper subdomain of parent (".parent" entries)? */
static bool
is_subdomain(const char *domain, const char *parent)
{
	size_t dl = strlen(domain), pl = strlen(parent);

	return dl > pl && domain[dl - pl - 1] == '.' &&
	    strcasecmp(domain + dl - pl, parent) == 0;
}

const struct transport_conf *
transport_lookup(const struct config *cfg, const char *local,
    const char *domain, bool is_local)
{
	const struct transport_conf *by_domain = NULL, *by_parent = NULL;
	const struct transport_conf *any = NULL;
	char addr[SMTP_ADDRESS_MAX + 2];
	size_t best = 0;

	if (snprintf(addr, sizeof(addr), "%s@%s", local, domain) >=
	    (int)sizeof(addr))
		addr[0] = '\0';
	for (size_t i = 0; i < cfg->n_transports; i++) {
		const struct transport_conf *t = &cfg->transports[i];

		if (strchr(t->match, '@') != NULL) {
			if (strcasecmp(t->match, addr) == 0)
				return t;
		} else if (t->match[0] == '.') {
			if (is_subdomain(domain, t->match + 1) &&
			    strlen(t->match) > best) {
				best = strlen(t->match);
				by_parent = t;
			}
		} else if (strcmp(t->match, "*") == 0) {
			any = t;
		} else if (strcasecmp(t->match, domain) == 0) {
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
