/*
 * The greylist group of the configuration (docs/configuration.md,
 * docs/policy.md "Greylisting"):
 *
 *   greylist = {
 *     action = "tempfail";        # "tempfail", "log" or "off" (default)
 *     backend = "sqlite:";        # or "redis://127.0.0.1:6379/0"
 *     delay = 300;                # seconds before a retry passes
 *     retry_window = 172800;      # ...and until when after the first try
 *     lifetime = 3024000;         # a passed triplet, an allowed network
 *     auto_allow = 5;             # passed triplets that allow a network
 *     network_v4 = 24;            # the client network of a triplet
 *     network_v6 = 64;
 *     allow_domains = ( "example.com" );  # FCrDNS names never greylisted
 *     on_trouble = "accept";      # or "tempfail" when the store fails
 *   };
 *
 * Called by config.c for the "greylist" key; read by src/policy and the
 * smtpd, which open the store.  Trusts nothing in the file: unknown
 * keys, wrong types, numbers out of range, a delay not below the retry
 * window, a lifetime shorter than the window, a domain that is no
 * A-label name and a backend of an unknown scheme are errors with
 * FILE:LINE.
 */
#include "common/config_priv.h"
#include "common/redis_url.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

#define DAY	86400

static const char *const action_names[] = { "off", "log", "tempfail", NULL };
static const enum policy_action actions[] = { POLICY_OFF, POLICY_LOG, POLICY_TEMPFAIL };
static const char *const trouble_names[] = { "accept", "tempfail", NULL };

void
cfg_greylist_defaults(struct config *cfg)
{
	struct greylist_conf *g = &cfg->greylist;

	/* Off: greylisting delays every first contact; the BCP says "when
	 * using greylisting", an operator opts in. */
	g->action = POLICY_OFF;
	g->backend = xstrdup("sqlite:");
	g->delay = 300;
	g->retry_window = 2 * DAY;
	g->lifetime = 35 * DAY;
	g->auto_allow = 5;
	g->prefix_v4 = 24;
	g->prefix_v6 = 64;
}

static void
domains_free(struct greylist_conf *g)
{
	for (size_t i = 0; i < g->n_allow_domains; i++)
		free(g->allow_domains[i]);
	free(g->allow_domains);
	g->allow_domains = NULL;
	g->n_allow_domains = 0;
}

void
cfg_greylist_free(struct config *cfg)
{
	domains_free(&cfg->greylist);
	free(cfg->greylist.backend);
	cfg->greylist.backend = NULL;
}

/* A Redis URL in full (common/redis_url.h), so a typo is FILE:LINE here
 * and not a daemon that cannot start, or talks to the wrong server. */
static int
cfg_redis_url(struct cfg_ctx *c, const config_setting_t *s, const char *v)
{
	struct redis_url u;
	char err[256];

	if (redis_url_parse(v, &u, err, sizeof(err)) < 0) {
		cfg_key_error(c, s, "%s", err);
		return -1;
	}
	redis_url_clear(&u);
	return 0;
}

/* "sqlite:" or "redis://HOST[:PORT][/DB]": visible ASCII, no spaces;
 * a Redis URL is checked whole. */
static int
cfg_backend(struct cfg_ctx *c, const config_setting_t *s)
{
	const char *v;

	if (cfg_token(c, s, GREYLIST_BACKEND_MAX, NULL, &v) < 0)
		return -1;
	if (strcmp(v, "sqlite:") != 0 &&
	    (strncmp(v, "redis://", 8) != 0 || v[8] == '\0')) {
		cfg_key_error(c, s, "must be \"sqlite:\" (<state>/greylist.db) "
		    "or \"redis://HOST:PORT/DB\", not \"%.64s\"", v);
		return -1;
	}
	if (strncmp(v, "redis://", 8) == 0 && cfg_redis_url(c, s, v) < 0)
		return -1;
	free(c->cfg->greylist.backend);
	c->cfg->greylist.backend = xstrdup(v);
	return 0;
}

static bool
ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static int
cfg_allow_domains(struct cfg_ctx *c, const config_setting_t *s)
{
	struct greylist_conf *g = &c->cfg->greylist;
	int n;

	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		cfg_key_error(c, s, "must be a list ( \"example.com\", ... )");
		return -1;
	}
	n = config_setting_length(s);
	if (n > GREYLIST_ALLOW_DOMAINS_MAX) {
		cfg_key_error(c, s, "at most %d domains", GREYLIST_ALLOW_DOMAINS_MAX);
		return -1;
	}
	domains_free(g);
	g->allow_domains = xcalloc((size_t)n + 1, sizeof(char *));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v;
		char *low;

		if (cfg_string(c, e, &v) < 0)
			return -1;
		/* Compared with a verified PTR name: ASCII (A-labels). */
		if (!cfg_valid_domain(v, true) || !ascii(v)) {
			cfg_error(c, e, "greylist.allow_domains: \"%.64s\" is not a "
			    "domain name in A-label form (such as \"example.com\")", v);
			return -1;
		}
		low = xstrdup(v);
		for (char *p = low; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		g->allow_domains[g->n_allow_domains++] = low;
	}
	return 0;
}

static int
cfg_greylist_numbers(struct cfg_ctx *c, const config_setting_t *g)
{
	struct greylist_conf *gl = &c->cfg->greylist;
	const config_setting_t *s;

	if (cfg_member_unsigned(c, g, "delay", 0, DAY, &gl->delay) < 0 ||
	    cfg_member_unsigned(c, g, "retry_window", 1, 30 * DAY,
	    &gl->retry_window) < 0 ||
	    cfg_member_unsigned(c, g, "lifetime", 1, 366 * DAY, &gl->lifetime) < 0 ||
	    cfg_member_unsigned(c, g, "auto_allow", 0, 1000, &gl->auto_allow) < 0 ||
	    cfg_member_unsigned(c, g, "network_v4", 8, 32, &gl->prefix_v4) < 0 ||
	    cfg_member_unsigned(c, g, "network_v6", 16, 128, &gl->prefix_v6) < 0)
		return -1;
	/* A window that closes before the delay ends never lets a retry
	 * pass; a triplet forgotten before its window closes never either. */
	if (gl->delay >= gl->retry_window) {
		s = config_setting_get_member(g, "delay");
		cfg_error(c, s != NULL ? s : g, "greylist.delay (%u) must be below "
		    "greylist.retry_window (%u)", gl->delay, gl->retry_window);
		return -1;
	}
	if (gl->lifetime < gl->retry_window) {
		s = config_setting_get_member(g, "lifetime");
		cfg_error(c, s != NULL ? s : g, "greylist.lifetime (%u) must be at "
		    "least greylist.retry_window (%u)", gl->lifetime, gl->retry_window);
		return -1;
	}
	return 0;
}

int
cfg_greylist(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "action", "backend", "delay",
	    "retry_window", "lifetime", "auto_allow", "network_v4", "network_v6",
	    "allow_domains", "on_trouble", NULL };
	struct greylist_conf *gl = &c->cfg->greylist;
	const config_setting_t *s;
	int i;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "action")) != NULL) {
		if (cfg_choice(c, s, action_names, "greylist.action: must be "
		    "\"tempfail\", \"log\" or \"off\"", &i) < 0)
			return -1;
		gl->action = actions[i];
	}
	if ((s = config_setting_get_member(g, "on_trouble")) != NULL) {
		if (cfg_choice(c, s, trouble_names, "greylist.on_trouble: must be "
		    "\"accept\" or \"tempfail\"", &i) < 0)
			return -1;
		gl->trouble_tempfail = i == 1;
	}
	if ((s = config_setting_get_member(g, "backend")) != NULL &&
	    cfg_backend(c, s) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "allow_domains")) != NULL &&
	    cfg_allow_domains(c, s) < 0)
		return -1;
	return cfg_greylist_numbers(c, g);
}
