/*
 * The DNS list groups of the policy (docs/configuration.md,
 * docs/policy.md "DNSBL and DNSWL"):
 *
 *   policy = {
 *     dnsbl = { action = "reject"; threshold = 2; timeout = 5;
 *               lists = ( { zone = "zen.spamhaus.org"; weight = 2;
 *                           codes = "127.0.0.2-127.0.0.11"; } ); };
 *     dnswl = { timeout = 5;
 *               lists = ( { zone = "list.dnswl.org"; min_level = 1; } ); };
 *   };
 *
 * Called by config_policy.c for those two keys.  Trusts nothing in the
 * file: unknown keys, wrong types, numbers out of range, a zone that is
 * no ASCII host name or is named twice, return codes that do not parse
 * or leave 127.0.0.0/8 are errors with FILE:LINE.  Bounded: at most
 * DNSLIST_MAX lists per group, zones of DNSLIST_ZONE_MAX octets (an
 * IPv6 client's 64 octets of nibbles must still fit in a DNS name).
 */
#include "common/config_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

/* 127.0.0.0/8: where RFC 5782 2.1 puts a list's answers. */
#define LOOPBACK_LO	0x7f000000u
#define LOOPBACK_HI	0x7fffffffu

static void
group_free(struct dnslist_group *g)
{
	for (size_t i = 0; i < g->n_lists; i++)
		free(g->lists[i].zone);
	free(g->lists);
	g->lists = NULL;
	g->n_lists = 0;
}

void
cfg_dnslist_defaults(struct config *cfg)
{
	cfg->policy.dnsbl.threshold = DEFAULT_DNSBL_THRESHOLD;
	cfg->policy.dnsbl.timeout = DEFAULT_DNSLIST_TIMEOUT;
	cfg->policy.dnswl.threshold = 1;	/* unused: one hit is enough */
	cfg->policy.dnswl.timeout = DEFAULT_DNSLIST_TIMEOUT;
}

void
cfg_dnslist_free(struct config *cfg)
{
	group_free(&cfg->policy.dnsbl);
	group_free(&cfg->policy.dnswl);
}

/* An ASCII host name (a list's zone is asked as is: no IDNA here). */
static int
list_zone(struct cfg_ctx *c, const config_setting_t *s,
    const struct dnslist_group *g, char **out)
{
	const char *v;
	size_t len;
	char *low;

	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	len = strlen(v);
	if (len > 0 && v[len - 1] == '.')
		len--;
	if (len > DNSLIST_ZONE_MAX) {
		cfg_key_error(c, s, "at most %d characters", DNSLIST_ZONE_MAX);
		return -1;
	}
	low = xstrndup(v, len);
	for (char *p = low; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	for (const char *p = low; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80) {
			free(low);
			cfg_key_error(c, s, "must be an ASCII host name "
			    "(an international zone in its xn-- form)");
			return -1;
		}
	}
	if (!cfg_valid_domain(low, true)) {
		free(low);
		cfg_key_error(c, s, "must be a host name such as \"bl.example.org\"");
		return -1;
	}
	for (size_t i = 0; i < g->n_lists; i++) {
		if (strcmp(g->lists[i].zone, low) == 0) {
			free(low);
			cfg_key_error(c, s, "the zone is already listed");
			return -1;
		}
	}
	*out = low;
	return 0;
}

static int
list_codes(struct cfg_ctx *c, const config_setting_t *s, struct iprange_set *out)
{
	char why[128];
	const char *v;

	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	if (iprange_parse(v, out, why, sizeof(why)) < 0) {
		cfg_key_error(c, s, "%s (e.g. \"127.0.0.2-127.0.0.11, "
		    "127.0.0.20\")", why);
		return -1;
	}
	if (!iprange_within(out, LOOPBACK_LO, LOOPBACK_HI)) {
		cfg_key_error(c, s, "a list answers in 127.0.0.0/8 "
		    "(RFC 5782 2.1): codes must be inside it");
		return -1;
	}
	return 0;
}

/* One element of lists: bl says which group (its keys differ). */
static int
list_one(struct cfg_ctx *c, const config_setting_t *e, struct dnslist_group *g,
    bool bl)
{
	static const char *const bl_keys[] = { "zone", "weight", "codes", NULL };
	static const char *const wl_keys[] = { "zone", "min_level", NULL };
	struct dnslist_conf l = { .weight = 1 };
	const config_setting_t *s;

	if (cfg_need_group(c, e, bl ? bl_keys : wl_keys) < 0)
		return -1;
	if ((s = config_setting_get_member(e, "zone")) == NULL) {
		cfg_error(c, e, "policy.%s.lists: every list needs a zone",
		    bl ? "dnsbl" : "dnswl");
		return -1;
	}
	if (list_zone(c, s, g, &l.zone) < 0)
		return -1;
	if (cfg_member_unsigned(c, e, "weight", 0, DNSBL_WEIGHT_MAX, &l.weight) < 0 ||
	    cfg_member_unsigned(c, e, "min_level", 0, 255, &l.min_level) < 0 ||
	    ((s = config_setting_get_member(e, "codes")) != NULL &&
	    list_codes(c, s, &l.codes) < 0)) {
		free(l.zone);
		return -1;
	}
	g->lists[g->n_lists++] = l;
	return 0;
}

static int
lists(struct cfg_ctx *c, const config_setting_t *s, struct dnslist_group *g,
    bool bl)
{
	int n;

	if (!config_setting_is_list(s)) {
		cfg_key_error(c, s, "must be a list ( { zone = \"...\"; }, ... ), "
		    "( ) for none");
		return -1;
	}
	n = config_setting_length(s);
	if (n > DNSLIST_MAX) {
		cfg_key_error(c, s, "at most %d lists", DNSLIST_MAX);
		return -1;
	}
	group_free(g);
	g->lists = xcalloc((size_t)n + 1, sizeof(*g->lists));
	for (int i = 0; i < n; i++)
		if (list_one(c, config_setting_get_elem(s, (unsigned)i), g, bl) < 0)
			return -1;
	return 0;
}

int
cfg_dnsbl(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "action", "threshold", "timeout",
	    "lists", NULL };
	struct dnslist_group *d = &c->cfg->policy.dnsbl;
	const config_setting_t *s;
	int a;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "action")) != NULL) {
		if (cfg_choice(c, s, cfg_policy_action_words, "policy.dnsbl.action: must be "
		    "\"reject\", \"tempfail\", \"log\" or \"off\"", &a) < 0)
			return -1;
		c->cfg->policy.action[POLICY_CHECK_DNSBL] = (enum policy_action)a;
	}
	if (cfg_member_unsigned(c, g, "threshold", 1, DNSBL_THRESHOLD_MAX,
	    &d->threshold) < 0 ||
	    cfg_member_unsigned(c, g, "timeout", 1, DNSLIST_TIMEOUT_MAX,
	    &d->timeout) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "lists")) != NULL &&
	    lists(c, s, d, true) < 0)
		return -1;
	return 0;
}

int
cfg_dnswl(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "timeout", "lists", NULL };
	struct dnslist_group *d = &c->cfg->policy.dnswl;
	const config_setting_t *s;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if (cfg_member_unsigned(c, g, "timeout", 1, DNSLIST_TIMEOUT_MAX,
	    &d->timeout) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "lists")) != NULL &&
	    lists(c, s, d, false) < 0)
		return -1;
	return 0;
}
