/*
 * The srs group of the configuration (docs/configuration.md,
 * docs/forwarding.md):
 *
 *   srs = {
 *     domain = "srs.example.net";         # required: SRS addresses' domain
 *     key_file = "/etc/decorum/srs.key";  # required: the secrets
 *     max_age = 21;                       # days, 1 to 1000
 *   };
 *
 * Called by config.c for the "srs" key; read by `decorum srs` and
 * check-config, which read the key file itself (src/srs/srs_keyfile.c):
 * the loader only checks the path's syntax, so that a config without
 * the key file's permissions still loads.  Trusts nothing in the file:
 * unknown keys, wrong types, a max_age out of range and a domain that
 * is no A-label name are errors with FILE:LINE.  No srs group: SRS off.
 */
#include "common/config_priv.h"

#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

#define SRS_DEFAULT_MAX_AGE	21	/* days, as libsrs2 and postsrsd */

void
cfg_srs_defaults(struct config *cfg)
{
	cfg->srs.enabled = false;
	cfg->srs.max_age = SRS_DEFAULT_MAX_AGE;
}

void
cfg_srs_free(struct config *cfg)
{
	free(cfg->srs.domain);
	free(cfg->srs.key_file);
	free(cfg->srs.key_file_at.file);
	cfg->srs.domain = NULL;
	cfg->srs.key_file = NULL;
	cfg->srs.key_file_at.file = NULL;
}

/* The SRS domain goes after '@' in MAIL FROM: a host name in A-label
 * form (the hash covers no domain of ours, so no case folding). */
static int
cfg_srs_domain(struct cfg_ctx *c, const config_setting_t *s)
{
	const char *v;

	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	for (const char *p = v; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80) {
			cfg_key_error(c, s, "must be in A-label form (xn--...)");
			return -1;
		}
	}
	if (!cfg_valid_domain(v, true)) {
		cfg_key_error(c, s, "\"%.64s\" is not a domain name such as "
		    "\"srs.example.net\"", v);
		return -1;
	}
	c->cfg->srs.domain = xstrdup(v);
	return 0;
}

int
cfg_srs(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "domain", "key_file", "max_age",
	    NULL };
	struct srs_conf *srs = &c->cfg->srs;
	const config_setting_t *s;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "domain")) == NULL) {
		cfg_error(c, g, "srs.domain: required (the domain of the "
		    "rewritten senders, such as \"srs.example.net\")");
		return -1;
	}
	if (cfg_srs_domain(c, s) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "key_file")) == NULL) {
		cfg_error(c, g, "srs.key_file: required (the file of secrets, "
		    "made by `decorum srs keygen FILE`)");
		return -1;
	}
	if (cfg_path(c, s, &srs->key_file) < 0)
		return -1;
	cfg_where(c, s, &srs->key_file_at);
	if (cfg_member_unsigned(c, g, "max_age", 1, SRS_CONF_MAX_AGE_MAX,
	    &srs->max_age) < 0)
		return -1;
	srs->enabled = true;
	return 0;
}
