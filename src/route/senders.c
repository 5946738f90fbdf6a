/*
 * Sender ownership for authenticated submission: see senders.h.
 *
 * Called by the submission session at MAIL FROM (and, when configured,
 * for each From: address at the end of DATA) after AUTH succeeded.
 * Trusts login to be the authenticated "local@domain" (a users-file key);
 * trusts nothing in sender, which the client chose.
 *
 * A sender is owned when:
 *  - it is the null sender <> (RFC 5321 4.5.5: DSNs must flow);
 *  - the login's line in <domains>/<login domain>/senders lists it, or
 *    lists "@" + its domain (the extras; checked first, no routing);
 *  - routing it (route_resolve, so the rules can never differ from RCPT)
 *    gives exactly one destination, the login's own mailbox.  That covers
 *    the user's own address, a +extension of it, and an alias that
 *    expands to the user alone.  An alias with two members is owned by
 *    neither: one of them must not be able to speak for the other.
 * A table that cannot be read is -1 (the caller answers 451), never "not
 * owned", so a transient error does not look like a forgery.
 */
#include "route/senders.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/bounds.h"
#include "common/config.h"
#include "route/domains.h"
#include "route/route.h"

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* The local part without its +extension (RFC 5233), or "" when it has
 * none or the delimiter is off. */
static void
base_local(const struct config *cfg, const char *local,
    char base[SMTP_LOCAL_PART_WIRE_MAX + 1])
{
	const char *delim = cfg->recipient_delimiter;
	size_t cut;

	base[0] = '\0';
	if (delim == NULL || delim[0] == '\0')
		return;
	cut = strcspn(local, delim);
	if (cut > 0 && local[cut] != '\0')
		snprintf(base, SMTP_LOCAL_PART_WIRE_MAX + 1, "%.*s", (int)cut,
		    local);
}

/* Is sender (split, local lower-cased) one of the login's extras? */
static int
listed(const struct config *cfg, struct domains *d, const char *llocal,
    const char *ldomain, const char *slocal, const char *sdomain)
{
	char tlocal[SMTP_LOCAL_PART_WIRE_MAX + 1];
	char base[SMTP_LOCAL_PART_WIRE_MAX + 1];
	char tdomain[SMTP_DOMAIN_MAX + 1];
	char *const *addrs;
	size_t n;
	int r;

	r = domains_senders(d, llocal, ldomain, &addrs, &n);
	if (r <= 0)
		return r;
	base_local(cfg, slocal, base);
	for (size_t i = 0; i < n; i++) {
		if (addrs[i][0] == '@') {
			if (domains_same_domain(addrs[i] + 1, sdomain))
				return 1;
			continue;
		}
		if (domains_split_address(addrs[i], tlocal, tdomain) < 0 ||
		    !domains_same_domain(tdomain, sdomain))
			continue;
		lower(tlocal);
		if (strcmp(tlocal, slocal) == 0 ||
		    (base[0] != '\0' && strcmp(tlocal, base) == 0))
			return 1;
	}
	return 0;
}

int
route_sender_owned(const struct config *cfg, struct domains *d,
    const char *login, const char *sender)
{
	char llocal[SMTP_LOCAL_PART_WIRE_MAX + 1];
	char slocal[SMTP_LOCAL_PART_WIRE_MAX + 1];
	char ldomain[SMTP_DOMAIN_MAX + 1], sdomain[SMTP_DOMAIN_MAX + 1];
	char lcanon[SMTP_DOMAIN_MAX + 1];
	struct route_result res;
	int r;

	if (sender[0] == '\0')
		return 1;
	if (domains_split_address(login, llocal, ldomain) < 0 ||
	    ldomain[0] == '\0' ||
	    domains_split_address(sender, slocal, sdomain) < 0 ||
	    sdomain[0] == '\0')
		return 0;
	lower(llocal);
	lower(slocal);
	if ((r = listed(cfg, d, llocal, ldomain, slocal, sdomain)) != 0)
		return r;
	/* Routing names a local mailbox by its canonical domain. */
	if (domains_canon(ldomain, lcanon) < 0)
		return 0;
	route_resolve(cfg, d, sender, &res);
	if (res.kind == ROUTE_TEMPFAIL) {
		r = -1;
	} else {
		r = res.kind == ROUTE_LOCAL && res.n_dests == 1 &&
		    res.dests[0].kind == ROUTE_LOCAL &&
		    strcmp(res.dests[0].local, llocal) == 0 &&
		    strcmp(res.dests[0].domain, lcanon) == 0;
	}
	route_result_free(&res);
	return r;
}
