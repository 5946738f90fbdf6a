/*
 * The sender a forwarded copy carries: see forward.h.  Trusts cfg and
 * the tables; the sender is re-split here, and any sender that cannot
 * be read as an address is kept as it is (the copy goes as it would
 * without SRS; nothing is lost).
 */
#include "route/forward.h"

#include <stdio.h>
#include <string.h>

#include "common/bounds.h"
#include "common/config.h"
#include "route/domains.h"
#include "srs/srs.h"

static enum forward_sender
kept(const char *sender, char *out, size_t outlen, char *why, size_t whylen,
    const char *reason)
{
	snprintf(out, outlen, "%s", sender);
	if (why != NULL)
		snprintf(why, whylen, "%s", reason);
	return FORWARD_KEPT;
}

/* 1 the sender's domain is one of ours, 0 not (or no domain we can
 * name), -1 the tables cannot say now. */
static int
sender_is_ours(struct domains *d, const char *sender)
{
	char local[SMTP_LOCAL_PART_WIRE_MAX + 1], domain[SMTP_DOMAIN_MAX + 1];
	char canon[SMTP_DOMAIN_MAX + 1];

	if (domains_split_address(sender, local, domain) < 0 ||
	    domain[0] == '\0' || domain[0] == '[' ||
	    domains_canon(domain, canon) < 0)
		return 0;
	return domains_is_local(d, canon);
}

enum forward_sender
route_forward_sender(const struct config *cfg, struct domains *d,
    const char *sender, bool authenticated, time_t now, char *out,
    size_t outlen, char *why, size_t whylen)
{
	char reason[128];
	enum srs_result r;
	int ours;

	if (sender[0] == '\0')
		return kept(sender, out, outlen, why, whylen, "null sender");
	if (authenticated)
		return kept(sender, out, outlen, why, whylen,
		    "submitted by an authenticated user");
	if ((ours = sender_is_ours(d, sender)) < 0) {
		snprintf(out, outlen, "%s", sender);
		if (why != NULL)
			snprintf(why, whylen, "the domain tables cannot be "
			    "read, try later");
		return FORWARD_TEMPFAIL;
	}
	if (ours == 1)
		return kept(sender, out, outlen, why, whylen,
		    "the sender's domain is local");
	if (!cfg->srs.enabled)
		return kept(sender, out, outlen, why, whylen,
		    "no srs group configured");
	if (cfg->srs.keys == NULL)
		return kept(sender, out, outlen, why, whylen,
		    "the SRS key file was not read");
	r = srs_forward(cfg->srs.keys, cfg->srs.domain, sender, now, out,
	    outlen);
	switch (r) {
	case SRS_OK:
		if (why != NULL)
			snprintf(why, whylen, "SRS");
		return FORWARD_SRS;
	case SRS_UNCHANGED:
		return kept(sender, out, outlen, why, whylen,
		    "already an address in the SRS domain");
	default:
		snprintf(reason, sizeof(reason), "cannot be rewritten: %s",
		    srs_strerror(r));
		return kept(sender, out, outlen, why, whylen, reason);
	}
}

const char *
forward_sender_name(enum forward_sender f)
{
	switch (f) {
	case FORWARD_KEPT:
		return "kept";
	case FORWARD_SRS:
		return "srs";
	case FORWARD_TEMPFAIL:
		return "tempfail";
	}
	return "?";
}
