/*
 * Routing: see route.h.  One function from (address, config, tables) to
 * destinations, so the RCPT check, the delivery agent and `decorum route`
 * can never disagree.
 *
 * Called by the SMTP session at RCPT time, by the queue manager before
 * delivery and by the CLI.  Trusts the address only to be a NUL-terminated
 * string (it is re-split here); trusts cfg and the tables (domains.c has
 * validated them).  No I/O of its own besides the table lookups.
 *
 * Order for a local address (first match wins), applied at every level of
 * alias expansion:
 *   user "local" → alias "local" → (with the recipient delimiter removed)
 *   user "base" → alias "base" → postmaster/abuse/security → unknown.
 * The result is all-or-nothing: one bad alias target (a pipe, a file,
 * unknown user, unreadable table) refuses the whole address with a reason,
 * because accepting and then bouncing part of it is backscatter.
 *
 * Kinds: ROUTE_LOCAL means "the address is ours" (a local domain, bare
 * "postmaster", a valid address at our SRS domain); each destination's
 * own kind then says whether it is a mailbox here or remote: a forward
 * (an alias target, the postmaster living elsewhere) or what an SRS
 * address stands for (returned as is: reverse.h).
 * A destination's domain is canonical (domains_canon: lower-case A-label
 * form), whatever form the address had: a local one names the Maildir,
 * a remote one is what DNS is asked (RFC 5891 5), what the outbound
 * destination is keyed by and what RCPT TO names on the wire.  A domain
 * with no canonical form (not IDNA2008) is refused with that reason
 * (ROUTE_INVALID), never left to fail later as "no such domain".
 * Limits: ALIAS_DEPTH_MAX levels, ALIAS_TARGETS_MAX destinations, and
 * 4 x ALIAS_TARGETS_MAX lookups in all (bounds exponential fan-out).
 */
#include "route/route.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/bounds.h"
#include "common/config.h"
#include "common/xmalloc.h"
#include "route/domains.h"
#include "route/reverse.h"
#include "srs/srs.h"

#define ROUTE_VISITS_MAX (4 * ALIAS_TARGETS_MAX)

struct rctx {
	const struct config *cfg;
	struct domains *d;
	struct route_result *out;
	bool failed;
	bool top;		/* the next resolve_addr is the address asked */
	bool top_local;		/* and its domain is local */
	bool back;		/* resolving what an SRS address stands for */
	time_t now;		/* for SRS stamps */
	unsigned visits;
	size_t depth;
	char stack[ALIAS_DEPTH_MAX + 2][SMTP_ADDRESS_MAX + 1];
};

static void reason_add(struct route_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Append one step of the decision path; steps are separated by "; ".
 * On overflow the reason ends in "..." rather than being cut silently. */
static void
reason_add(struct route_result *out, const char *fmt, ...)
{
	size_t len = strlen(out->reason), cap = sizeof(out->reason);
	va_list ap;
	int n;

	if (len + 4 >= cap)
		return;
	if (len > 0) {
		memcpy(out->reason + len, "; ", 3);
		len += 2;
	}
	va_start(ap, fmt);
	n = vsnprintf(out->reason + len, cap - len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap - len)
		memcpy(out->reason + cap - 4, "...", 4);
}

static void
route_fail(struct rctx *c, enum route_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
route_fail(struct rctx *c, enum route_kind kind, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (c->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reason_add(c->out, "%s", msg);
	c->out->kind = kind;
	c->failed = true;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

static void
add_dest(struct rctx *c, enum route_kind kind, bool forward,
    const char *local, const char *domain)
{
	struct route_result *out = c->out;

	for (size_t i = 0; i < out->n_dests; i++)
		if (out->dests[i].kind == kind &&
		    strcmp(out->dests[i].local, local) == 0 &&
		    strcmp(out->dests[i].domain, domain) == 0)
			return;		/* duplicates dropped */
	if (out->n_dests >= ALIAS_TARGETS_MAX) {
		route_fail(c, ROUTE_UNSUPPORTED, "more than %d destinations",
		    ALIAS_TARGETS_MAX);
		return;
	}
	out->dests = xreallocarray(out->dests, out->n_dests + 1,
	    sizeof(*out->dests));
	out->dests[out->n_dests].kind = kind;
	out->dests[out->n_dests].forward = forward;
	out->dests[out->n_dests].local = xstrdup(local);
	out->dests[out->n_dests].domain = xstrdup(domain);
	out->n_dests++;
}

static bool
is_role_mailbox(const char *local)
{
	/* RFC 2142 section 4/5 (and the BCP): these exist on every domain. */
	return strcmp(local, "postmaster") == 0 ||
	    strcmp(local, "abuse") == 0 || strcmp(local, "security") == 0;
}

static void resolve_addr(struct rctx *c, const char *addr,
    const char *default_domain);

static void
route_postmaster(struct rctx *c, const char *why)
{
	if (c->cfg->postmaster == NULL) {
		route_fail(c, ROUTE_UNKNOWN, "%s: no postmaster configured",
		    why);
		return;
	}
	reason_add(c->out, "%s: goes to the postmaster %s", why,
	    c->cfg->postmaster);
	resolve_addr(c, c->cfg->postmaster, NULL);
}

static void
expand_alias(struct rctx *c, const char *name, const char *domain,
    char *const *targets, size_t n)
{
	char **copy = xcalloc(n, sizeof(char *));
	char list[300];
	size_t used = 0;

	/* Copied: the table may be reloaded by a lookup during recursion. */
	list[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		copy[i] = xstrdup(targets[i]);
		if (used < sizeof(list)) {
			int w = snprintf(list + used, sizeof(list) - used,
			    "%s%s", i ? ", " : "", targets[i]);

			used += w > 0 ? (size_t)w : 0;
		}
	}
	if (used >= sizeof(list))
		memcpy(list + sizeof(list) - 4, "...", 4);
	reason_add(c->out, "%s@%s: alias -> %s", name, domain, list);
	for (size_t i = 0; i < n && !c->failed; i++) {
		switch (domains_target_kind(copy[i])) {
		case DOMAINS_TARGET_PIPE:
			route_fail(c, ROUTE_UNSUPPORTED, "alias %s@%s: pipes "
			    "to commands are not supported", name, domain);
			break;
		case DOMAINS_TARGET_FILE:
			route_fail(c, ROUTE_UNSUPPORTED, "alias %s@%s: "
			    "delivery to files is not supported", name, domain);
			break;
		case DOMAINS_TARGET_INCLUDE:
			route_fail(c, ROUTE_UNSUPPORTED, "alias %s@%s: "
			    ":include: is not supported", name, domain);
			break;
		case DOMAINS_TARGET_ADDRESS:
			resolve_addr(c, copy[i], domain);
			break;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(copy[i]);
	free(copy);
}

/* User, then alias, under one name.  1 found (handled), 0 not, -1 failed. */
static int
try_name(struct rctx *c, const char *name, const char *domain)
{
	char *const *targets;
	size_t n;
	int r;

	r = domains_user(c->d, name, domain, NULL);
	if (r < 0) {
		route_fail(c, ROUTE_TEMPFAIL, "the users table of %s cannot "
		    "be read, try later", domain);
		return -1;
	}
	if (r == 1) {
		reason_add(c->out, "%s@%s: local user", name, domain);
		add_dest(c, ROUTE_LOCAL, false, name, domain);
		return 1;
	}
	r = domains_alias(c->d, name, domain, &targets, &n);
	if (r < 0) {
		route_fail(c, ROUTE_TEMPFAIL, "the aliases table of %s cannot "
		    "be read, try later", domain);
		return -1;
	}
	if (r == 1) {
		expand_alias(c, name, domain, targets, n);
		return 1;
	}
	return 0;
}

static void
resolve_local(struct rctx *c, const char *local, const char *domain)
{
	char key[SMTP_LOCAL_PART_MAX + 1], base[SMTP_LOCAL_PART_MAX + 1];
	char *here = c->stack[c->depth];
	const char *delim = c->cfg->recipient_delimiter;
	size_t cut;
	int r;

	/* The wire allows longer local parts (SRS); no name of ours is
	 * longer, so it is unknown here, never cut to a name that is. */
	if (strlen(local) > SMTP_LOCAL_PART_MAX) {
		route_fail(c, ROUTE_UNKNOWN, "%.64s...@%s: a local part "
		    "longer than %d octets names no mailbox", local, domain,
		    SMTP_LOCAL_PART_MAX);
		return;
	}
	snprintf(key, sizeof(key), "%s", local);
	lower(key);
	snprintf(here, SMTP_ADDRESS_MAX + 1, "%s@%s", key, domain);
	for (size_t i = 0; i < c->depth; i++) {
		if (strcmp(c->stack[i], here) == 0) {
			/* An alias that reaches itself: that branch adds
			 * nothing (sendmail's rule), the others stand. */
			reason_add(c->out, "%s: alias loop, branch dropped",
			    here);
			return;
		}
	}
	c->depth++;
	if ((r = try_name(c, key, domain)) != 0)
		goto out;
	/* RFC 5233 subaddress: "user+tag" is "user" when no mailbox of the
	 * full name exists. */
	cut = delim != NULL && delim[0] != '\0' ? strcspn(key, delim) : 0;
	base[0] = '\0';
	if (cut > 0 && key[cut] != '\0') {
		snprintf(base, sizeof(base), "%.*s", (int)cut, key);
		reason_add(c->out, "%s: no such name, extension \"%s\" "
		    "dropped", here, key + cut);
		if ((r = try_name(c, base, domain)) != 0)
			goto out;
	}
	if (is_role_mailbox(key) || (base[0] != '\0' &&
	    is_role_mailbox(base))) {
		route_postmaster(c, here);
		goto out;
	}
	route_fail(c, ROUTE_UNKNOWN, "%s: %s is a local domain but has no "
	    "user or alias %s", here, domain, key);
out:
	c->depth--;
}

/*
 * An address at our SRS domain (reverse.h).  A valid SRS0/SRS1 address is
 * ours, and stands for the one it was made from, which routes as if
 * asked; a remote one is returned as is (a bounce finding its sender),
 * never forwarded again.  Any other name there is a mailbox only when
 * the SRS domain is also a local domain; else only the role mailboxes
 * exist (RFC 2142), and nothing is ever relayed.
 */
static void
resolve_srs(struct rctx *c, const char *local, const char *canon)
{
	char orig[SRS_ADDRESS_MAX + 1], why[64];
	char key[SMTP_LOCAL_PART_WIRE_MAX + 1], here[SMTP_ADDRESS_MAX + 1];
	bool back = c->back;
	int r;

	switch (route_srs_reverse(c->cfg, local, canon, c->now, orig,
	    sizeof(orig), why, sizeof(why))) {
	case ROUTE_SRS_OK:
		reason_add(c->out, "%s@%s: SRS address of %s", local, canon,
		    orig);
		c->top_local = true;
		c->back = true;
		resolve_addr(c, orig, NULL);
		c->back = back;
		return;
	case ROUTE_SRS_INVALID:
		route_fail(c, ROUTE_UNKNOWN, "%s@%s: SRS address: %s", local,
		    canon, why);
		return;
	case ROUTE_SRS_NOKEY:
		route_fail(c, ROUTE_TEMPFAIL, "%s@%s: SRS address: %s, try "
		    "later", local, canon, why);
		return;
	case ROUTE_SRS_NONE:
		break;
	}
	if ((r = domains_is_local(c->d, canon)) < 0) {
		route_fail(c, ROUTE_TEMPFAIL, "the domain folder of %s cannot "
		    "be read, try later", canon);
		return;
	}
	c->top_local = true;
	if (r == 1) {
		resolve_local(c, local, canon);
		return;
	}
	snprintf(key, sizeof(key), "%s", local);
	lower(key);
	if (is_role_mailbox(key)) {
		snprintf(here, sizeof(here), "%s@%s", key, canon);
		route_postmaster(c, here);
		return;
	}
	route_fail(c, ROUTE_UNKNOWN, "%s@%s: the SRS domain has only SRS "
	    "addresses and postmaster, abuse, security", key, canon);
}

/*
 * The canonical form of a domain (domains_canon: lower-case A-label),
 * into canon: one name for every spelling, which the tables, DNS
 * (RFC 5891 5: lookups use the A-label), the outbound destination and
 * the RCPT TO we send all use.  An address literal (RFC 5321 4.1.3)
 * stays as written: it is never local and names its host.  -1 when the
 * domain has no canonical form (route_fail'ed).
 */
static int
canon_domain(struct rctx *c, const char *domain, bool top,
    char canon[SMTP_DOMAIN_MAX + 1])
{
	if (domain[0] == '[') {
		snprintf(canon, SMTP_DOMAIN_MAX + 1, "%s", domain);
		return 0;
	}
	if (domains_canon(domain, canon) == 0)
		return 0;
	/* The address itself: the sender's mistake, refused for good.  An
	 * alias target or the postmaster: ours to fix, try later. */
	route_fail(c, top ? ROUTE_INVALID : ROUTE_UNSUPPORTED, "%.100s is "
	    "not a valid domain name (IDNA2008, RFC 5891): no DNS lookup "
	    "can find it", domain);
	return -1;
}

/* addr: "local@domain", or a bare local part in default_domain (alias
 * targets: canonical).  A foreign domain is a remote destination: the
 * address asked itself (relay, decided by the caller), or a forward. */
static void
resolve_addr(struct rctx *c, const char *addr, const char *default_domain)
{
	char local[SMTP_LOCAL_PART_WIRE_MAX + 1], domain[SMTP_DOMAIN_MAX + 1];
	char canon[SMTP_DOMAIN_MAX + 1], raw[SMTP_ADDRESS_MAX + 1];
	const char *at;
	bool top = c->top;
	int r;

	c->top = false;
	if (c->failed)
		return;
	if (c->depth > ALIAS_DEPTH_MAX) {
		route_fail(c, ROUTE_UNSUPPORTED, "%s: aliases nested deeper "
		    "than %d levels", addr, ALIAS_DEPTH_MAX);
		return;
	}
	if (++c->visits > ROUTE_VISITS_MAX) {
		route_fail(c, ROUTE_UNSUPPORTED, "alias expansion larger than "
		    "%d lookups", ROUTE_VISITS_MAX);
		return;
	}
	if (domains_split_address(addr, local, domain) < 0) {
		route_fail(c, c->depth == 0 ? ROUTE_UNKNOWN :
		    ROUTE_UNSUPPORTED, "\"%.100s\" is not a valid address",
		    addr);
		return;
	}
	if (domain[0] == '\0') {
		if (default_domain == NULL) {
			route_fail(c, ROUTE_UNKNOWN, "\"%.100s\" has no domain",
			    addr);
			return;
		}
		snprintf(domain, sizeof(domain), "%s", default_domain);
	}
	/* One name per domain, whichever form the address used
	 * (bücher.example, BÜCHER.example, xn--bcher-kva.example): so mail
	 * to all of them shares one Maildir, or one remote destination. */
	if (canon_domain(c, domain, top, canon) < 0)
		return;
	if (route_srs_domain(c->cfg, canon)) {
		resolve_srs(c, local, canon);
		return;
	}
	/* An address literal is never local (and needs no tables). */
	r = canon[0] == '[' ? 0 : domains_is_local(c->d, canon);
	if (r < 0) {
		route_fail(c, ROUTE_TEMPFAIL, "the domain folder of %s cannot "
		    "be read, try later", canon);
		return;
	}
	c->top_local = c->top_local || (top && r == 1);
	if (r == 0) {
		/* RFC 5321 2.4: a foreign local part is case-sensitive and
		 * kept exactly as written, quotes included. */
		at = strrchr(addr, '@');
		snprintf(raw, sizeof(raw), "%.*s", (int)(at != NULL ?
		    (size_t)(at - addr) : strlen(addr)), addr);
		/* RCPT TO must fit a path (RFC 5321 4.5.3.1.3), also once
		 * the domain is an A-label or an alias target is long. */
		if (strlen(raw) + 1 + strlen(canon) > SMTP_PATH_MAX - 2) {
			route_fail(c, top ? ROUTE_INVALID : ROUTE_UNSUPPORTED,
			    "%.64s...@%s: longer than %d octets, the most a "
			    "path carries", raw, canon, SMTP_PATH_MAX - 2);
			return;
		}
		/* Reached through an address of ours (an alias, the
		 * postmaster living elsewhere): a forward. */
		reason_add(c->out, "%s: not a local domain, %s", canon,
		    top ? "remote" : c->back ? "returned as is" :
		    "forwarded");
		add_dest(c, ROUTE_REMOTE, !top && !c->back, raw, canon);
		return;
	}
	resolve_local(c, local, canon);
}

void
route_resolve(const struct config *cfg, struct domains *d, const char *addr,
    struct route_result *out)
{
	route_resolve_at(cfg, d, addr, time(NULL), out);
}

void
route_resolve_at(const struct config *cfg, struct domains *d,
    const char *addr, time_t now, struct route_result *out)
{
	struct rctx *c = xcalloc(1, sizeof(*c));
	bool ours;

	memset(out, 0, sizeof(*out));
	c->now = now;
	c->cfg = cfg;
	c->d = d;
	c->out = out;
	if (strcasecmp(addr, "postmaster") == 0) {
		/* RFC 5321 4.5.1: <postmaster> with no domain is always
		 * accepted. */
		ours = true;
		route_postmaster(c, "postmaster");
	} else {
		c->top = true;
		resolve_addr(c, addr, NULL);
		ours = !c->failed && c->top_local;
	}
	if (!c->failed && out->n_dests == 0)
		route_fail(c, ROUTE_UNSUPPORTED, "aliases loop without "
		    "reaching a mailbox");
	if (c->failed) {
		for (size_t i = 0; i < out->n_dests; i++) {
			free(out->dests[i].local);
			free(out->dests[i].domain);
		}
		free(out->dests);
		out->dests = NULL;
		out->n_dests = 0;
	} else {
		out->kind = ours ? ROUTE_LOCAL : ROUTE_REMOTE;
	}
	free(c);
}

void
route_result_free(struct route_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_dests; i++) {
		free(r->dests[i].local);
		free(r->dests[i].domain);
	}
	free(r->dests);
	r->dests = NULL;
	r->n_dests = 0;
}

const char *
route_kind_name(enum route_kind kind)
{
	switch (kind) {
	case ROUTE_LOCAL:
		return "local";
	case ROUTE_REMOTE:
		return "remote";
	case ROUTE_UNKNOWN:
		return "unknown";
	case ROUTE_TEMPFAIL:
		return "tempfail";
	case ROUTE_UNSUPPORTED:
		return "unsupported";
	case ROUTE_INVALID:
		return "invalid";
	}
	return "?";
}
