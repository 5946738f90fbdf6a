/*
 * The policy group of the configuration (docs/configuration.md,
 * docs/policy.md):
 *
 *   policy = {
 *     fcrdns = "reject";          # one key per check: its action
 *     rdns_dynamic = "log";
 *     helo = { syntax = "reject"; resolves = "reject"; matches_ip = "reject"; };
 *     exempt = ( "postmaster", "abuse", "security" );
 *     abuse_url = "https://example.test/abuse";
 *     dnsbl = { ... }; dnswl = { ... };   # config_dnslist.c
 *   };
 *
 * Called by config.c for the "policy" key; read by src/policy.  Trusts
 * nothing in the file: an unknown key, a wrong type, an action that is
 * not one of the four words, an exempt entry that is no local part and
 * an abuse_url that could not stand in an SMTP reply are errors with
 * FILE:LINE.  abuse_url ends up in reply text (RFC 5321 4.2: printable
 * US-ASCII), so only visible ASCII is allowed, no spaces.
 */
#include "common/config_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bounds.h"
#include "common/xmalloc.h"

const char *const config_policy_checks[POLICY_CHECKS] = {
	[POLICY_CHECK_FCRDNS] = "fcrdns",
	[POLICY_CHECK_RDNS_DYNAMIC] = "rdns_dynamic",
	/* A dotted name is a key of a subgroup: policy.helo.syntax. */
	[POLICY_CHECK_HELO_SYNTAX] = "helo.syntax",
	[POLICY_CHECK_HELO_RESOLVES] = "helo.resolves",
	[POLICY_CHECK_HELO_MATCHES_IP] = "helo.matches_ip",
	[POLICY_CHECK_DNSBL] = "dnsbl",
	[POLICY_CHECK_DNSWL] = "dnswl",
};

/* The BCP's defaults: a client without valid reverse DNS is refused
 * (DESIGN.md), a pool-like name only logged, since many small sites
 * still send from one. */
static const enum policy_action policy_defaults[POLICY_CHECKS] = {
	[POLICY_CHECK_FCRDNS] = POLICY_REJECT,
	[POLICY_CHECK_RDNS_DYNAMIC] = POLICY_LOG,
	/* The BCP's "Valid HELO/EHLO", all three (docs/policy.md). */
	[POLICY_CHECK_HELO_SYNTAX] = POLICY_REJECT,
	[POLICY_CHECK_HELO_RESOLVES] = POLICY_REJECT,
	[POLICY_CHECK_HELO_MATCHES_IP] = POLICY_REJECT,
	/* Nothing is asked unless the operator names lists. */
	[POLICY_CHECK_DNSBL] = POLICY_REJECT,
	/* Never refuses: it only exempts (check.h, dnswl_exempt). */
	[POLICY_CHECK_DNSWL] = POLICY_LOG,
};

/* The BCP's "Common Mailbox Names". */
static const char *const default_exempt[] = { "postmaster", "abuse", "security" };

static const char *const action_names[] = {
	[POLICY_OFF] = "off",
	[POLICY_LOG] = "log",
	[POLICY_TEMPFAIL] = "tempfail",
	[POLICY_REJECT] = "reject",
	NULL
};
const char *const *const cfg_policy_action_words = action_names;

const char *
config_policy_action_name(enum policy_action a)
{
	return (unsigned)a < POLICY_REJECT + 1 ? action_names[a] : "?";
}

static void
exempt_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->policy.n_exempt; i++)
		free(cfg->policy.exempt[i]);
	free(cfg->policy.exempt);
	cfg->policy.exempt = NULL;
	cfg->policy.n_exempt = 0;
}

void
cfg_policy_defaults(struct config *cfg)
{
	size_t n = sizeof(default_exempt) / sizeof(*default_exempt);

	memcpy(cfg->policy.action, policy_defaults, sizeof(policy_defaults));
	cfg->policy.exempt = xcalloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		cfg->policy.exempt[i] = xstrdup(default_exempt[i]);
	cfg->policy.n_exempt = n;
	cfg_dnslist_defaults(cfg);
}

void
cfg_policy_free(struct config *cfg)
{
	exempt_free(cfg);
	free(cfg->policy.abuse_url);
	cfg->policy.abuse_url = NULL;
	cfg_dnslist_free(cfg);
}

/* A local part as RFC 5321 4.1.2 Dot-string writes it (no quoted
 * form: these are mailbox names an operator types), at most 64 octets. */
static bool
valid_local(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > SMTP_LOCAL_PART_MAX || s[0] == '.' || s[len - 1] == '.' ||
	    strstr(s, "..") != NULL)
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(".!#$%&'*+-/=?^_`{|}~", *p)))
			return false;
	return true;
}

static int
cfg_exempt(struct cfg_ctx *c, const config_setting_t *s)
{
	struct config *cfg = c->cfg;
	int n;

	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		cfg_key_error(c, s, "must be a list ( \"postmaster\", ... ), "
		    "( ) for none");
		return -1;
	}
	n = config_setting_length(s);
	if (n > POLICY_EXEMPT_MAX) {
		cfg_key_error(c, s, "at most %d mailboxes", POLICY_EXEMPT_MAX);
		return -1;
	}
	exempt_free(cfg);
	cfg->policy.exempt = xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v;
		char *low;

		if (cfg_string(c, e, &v) < 0)
			return -1;
		if (!valid_local(v)) {
			cfg_error(c, e, "policy.exempt: \"%.64s\" is not a local "
			    "part (a mailbox name such as \"abuse\")", v);
			return -1;
		}
		low = xstrdup(v);
		for (char *p = low; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		cfg->policy.exempt[cfg->policy.n_exempt++] = low;
	}
	return 0;
}

static int
cfg_abuse_url(struct cfg_ctx *c, const config_setting_t *s)
{
	const char *v;

	if (cfg_token(c, s, POLICY_ABUSE_URL_MAX, "it is sent in SMTP replies",
	    &v) < 0)
		return -1;
	if (strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) {
		cfg_key_error(c, s, "must be an http:// or https:// address "
		    "(a contact web form)");
		return -1;
	}
	free(c->cfg->policy.abuse_url);
	c->cfg->policy.abuse_url = xstrdup(v);
	return 0;
}

/*
 * policy.helo = { syntax = "reject"; resolves = "reject"; matches_ip =
 * "reject"; }: the checks named "helo.KEY" (docs/policy.md, HELO/EHLO).
 */
static int
cfg_policy_helo(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "syntax", "resolves", "matches_ip",
	    NULL };
	const config_setting_t *s;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	for (int i = 0; i < POLICY_CHECKS; i++) {
		const char *name = config_policy_checks[i];
		char what[96];
		int a;

		if (strncmp(name, "helo.", 5) != 0 ||
		    (s = config_setting_get_member(g, name + 5)) == NULL)
			continue;
		snprintf(what, sizeof(what), "policy.%s: must be \"reject\", "
		    "\"tempfail\", \"log\" or \"off\"", name);
		if (cfg_choice(c, s, action_names, what, &a) < 0)
			return -1;
		c->cfg->policy.action[i] = (enum policy_action)a;
	}
	return 0;
}

int
cfg_policy(struct cfg_ctx *c, const config_setting_t *g)
{
	const char *keys[POLICY_CHECKS + 4];
	const config_setting_t *s;
	size_t k = 0;

	for (int i = 0; i < POLICY_CHECKS; i++)
		keys[k++] = config_policy_checks[i];
	keys[k++] = "exempt";
	keys[k++] = "abuse_url";
	keys[k++] = "helo";
	keys[k] = NULL;
	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	for (int i = 0; i < POLICY_CHECKS; i++) {
		char what[96];
		int a;

		/* "helo.syntax" is policy.helo's (libconfig would match
		 * the dotted name to "helo" itself). */
		if (strchr(config_policy_checks[i], '.') != NULL)
			continue;
		if ((s = config_setting_get_member(g, config_policy_checks[i])) == NULL)
			continue;
		/* Groups of their own (config_dnslist.c), read below. */
		if (i == POLICY_CHECK_DNSBL || i == POLICY_CHECK_DNSWL)
			continue;
		snprintf(what, sizeof(what), "policy.%s: must be \"reject\", "
		    "\"tempfail\", \"log\" or \"off\"", config_policy_checks[i]);
		if (cfg_choice(c, s, action_names, what, &a) < 0)
			return -1;
		c->cfg->policy.action[i] = (enum policy_action)a;
	}
	if ((s = config_setting_get_member(g, "exempt")) != NULL &&
	    cfg_exempt(c, s) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "abuse_url")) != NULL &&
	    cfg_abuse_url(c, s) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "helo")) != NULL &&
	    cfg_policy_helo(c, s) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "dnsbl")) != NULL &&
	    cfg_dnsbl(c, s) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "dnswl")) != NULL &&
	    cfg_dnswl(c, s) < 0)
		return -1;
	return 0;
}
