/*
 * Reverse SRS for routing: see reverse.h.  Trusts cfg (srs.domain is an
 * A-label name, config_srs.c) and the keys; trusts nothing in the
 * address, which comes from a remote RCPT TO: the codec (src/srs) bounds
 * and checks it.
 */
#include "route/reverse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"
#include "srs/srs.h"

bool
route_srs_domain(const struct config *cfg, const char *canon)
{
	return cfg->srs.enabled && cfg->srs.domain != NULL &&
	    strcasecmp(cfg->srs.domain, canon) == 0;
}

/* "SRS0" or "SRS1" in any case, then a separator libsrs2 accepts: the
 * same test as the codec's, so no address the codec would reverse is
 * taken for a mailbox name. */
static bool
srs_tagged(const char *local)
{
	return strncasecmp(local, "srs", 3) == 0 &&
	    (local[3] == '0' || local[3] == '1') && local[4] != '\0' &&
	    strchr("=+-", local[4]) != NULL;
}

static enum route_srs
why_set(enum route_srs r, char *why, size_t whylen, const char *text)
{
	if (why != NULL)
		snprintf(why, whylen, "%s", text);
	return r;
}

enum route_srs
route_srs_reverse(const struct config *cfg, const char *local,
    const char *canon, time_t now, char *out, size_t outlen, char *why,
    size_t whylen)
{
	char addr[SRS_ADDRESS_MAX + 2];
	enum srs_result r;

	if (outlen > 0)
		out[0] = '\0';
	if (!srs_tagged(local))
		return why_set(ROUTE_SRS_NONE, why, whylen, "not SRS");
	if (cfg->srs.keys == NULL)
		return why_set(ROUTE_SRS_NOKEY, why, whylen, "the SRS key "
		    "file was not read");
	/* One octet over the codec's limit still reaches it, as
	 * SRS_ETOOLONG: "address too long", never a cut address. */
	snprintf(addr, sizeof(addr), "%s@%s", local, canon);
	r = srs_reverse(cfg->srs.keys, addr, now, cfg->srs.max_age, out,
	    outlen);
	switch (r) {
	case SRS_OK:
		return why_set(ROUTE_SRS_OK, why, whylen, "SRS");
	case SRS_ENOKEY:
	case SRS_ECRYPTO:
		return why_set(ROUTE_SRS_NOKEY, why, whylen, srs_strerror(r));
	default:
		return why_set(ROUTE_SRS_INVALID, why, whylen,
		    srs_strerror(r));
	}
}
