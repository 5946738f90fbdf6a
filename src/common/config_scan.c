/*
 * The scan group of the configuration (docs/scanning.md,
 * docs/configuration.md): the content scanners asked at the end of DATA.
 *
 *   scan = {
 *     max_size = 26214400;              # octets; larger is not scanned
 *     score_authenticated = true;       # spam-score submission too
 *     milters = (
 *       { name = "rspamd"; address = "inet:127.0.0.1:11332";
 *         kind = "spam"; default_action = "tempfail";
 *         connect_timeout = 10; command_timeout = 30; eom_timeout = 60;
 *         reuse = false; }
 *     );
 *     rspamd = { address = "inet:127.0.0.1:11333"; timeout = 60;
 *                default_action = "tempfail"; };
 *     clamd = { address = "unix:/run/clamav/clamd.ctl"; timeout = 60;
 *               default_action = "tempfail"; };
 *   };
 *
 * Called by config.c for the "scan" key.  Trusts nothing in the file:
 * unknown keys, wrong types, timeouts out of range, addresses that are
 * not inet:IP:PORT or unix:/PATH, duplicate milter names are errors
 * with FILE:LINE.  No scan group: nothing is scanned.
 */
#include "common/config_priv.h"

#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

#define DEFAULT_SCAN_CONNECT_TIMEOUT	10
#define DEFAULT_SCAN_COMMAND_TIMEOUT	30
#define DEFAULT_SCAN_EOM_TIMEOUT	60
#define DEFAULT_SCAN_TIMEOUT		60

static const char *const failure_names[] = { "tempfail", "accept", NULL };
static const char *const kind_names[] = { "spam", "malware", "other", NULL };

void
cfg_scan_defaults(struct config *cfg)
{
	memset(&cfg->scan, 0, sizeof(cfg->scan));
	cfg->scan.score_authenticated = true;
}

static void
endpoint_free(struct scan_endpoint *ep)
{
	free(ep->address);
	ep->address = NULL;
}

void
cfg_scan_free(struct config *cfg)
{
	struct scan_conf *sc = &cfg->scan;

	for (size_t i = 0; i < sc->n_milters; i++) {
		free(sc->milters[i].name);
		endpoint_free(&sc->milters[i].ep);
	}
	free(sc->milters);
	endpoint_free(&sc->rspamd.ep);
	endpoint_free(&sc->clamd.ep);
	free(sc->spam_folder);
	memset(sc, 0, sizeof(*sc));
}

/* The required "address" of group g; inet only when inet_only. */
static int
cfg_scan_address(struct cfg_ctx *c, const config_setting_t *g,
    bool inet_only, struct scan_endpoint *ep)
{
	const config_setting_t *s = config_setting_get_member(g, "address");
	char err[200];
	const char *v;

	if (s == NULL) {
		cfg_error(c, g, "%s.address: required (inet:IP:PORT%s)",
		    config_setting_name(g) != NULL ? config_setting_name(g)
		    : "milter", inet_only ? "" : " or unix:/PATH");
		return -1;
	}
	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	if (scan_endpoint_parse(v, ep, err, sizeof(err)) < 0) {
		cfg_key_error(c, s, "%s", err);
		return -1;
	}
	if (inet_only && ep->addr.ss_family == AF_UNIX) {
		cfg_key_error(c, s, "rspamd is asked over HTTP on TCP: "
		    "expected inet:IP:PORT");
		return -1;
	}
	ep->address = xstrdup(v);
	return 0;
}

static int
cfg_scan_choice(struct cfg_ctx *c, const config_setting_t *g,
    const char *key, const char *const *names, const char *what, int *out)
{
	const config_setting_t *s = config_setting_get_member(g, key);

	return s == NULL ? 0 : cfg_choice(c, s, names, what, out);
}

static int
cfg_scan_failure(struct cfg_ctx *c, const config_setting_t *g,
    enum scan_on_failure *out)
{
	int v = (int)*out;

	if (cfg_scan_choice(c, g, "default_action", failure_names,
	    "default_action: must be \"tempfail\" or \"accept\"", &v) < 0)
		return -1;
	*out = (enum scan_on_failure)v;
	return 0;
}

static int
cfg_milter(struct cfg_ctx *c, const config_setting_t *g,
    struct milter_conf *m)
{
	static const char *const keys[] = { "name", "address", "kind",
	    "default_action", "connect_timeout", "command_timeout",
	    "eom_timeout", "reuse", NULL };
	struct scan_conf *sc = &c->cfg->scan;
	const config_setting_t *s;
	const char *name;
	int kind = SCAN_KIND_SPAM;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "name")) == NULL) {
		cfg_error(c, g, "scan.milters: each milter needs a name "
		    "(for the logs), such as \"rspamd\"");
		return -1;
	}
	if (cfg_token(c, s, SCAN_NAME_MAX, "a short word for the logs",
	    &name) < 0)
		return -1;
	/* The ones before this entry (m is the last counted). */
	for (size_t i = 0; &sc->milters[i] != m; i++) {
		if (strcmp(sc->milters[i].name, name) == 0) {
			cfg_key_error(c, s, "\"%s\" names two milters", name);
			return -1;
		}
	}
	m->name = xstrdup(name);
	m->connect_timeout = DEFAULT_SCAN_CONNECT_TIMEOUT;
	m->command_timeout = DEFAULT_SCAN_COMMAND_TIMEOUT;
	m->eom_timeout = DEFAULT_SCAN_EOM_TIMEOUT;
	m->reuse = false;
	if (cfg_scan_address(c, g, false, &m->ep) < 0 ||
	    cfg_scan_choice(c, g, "kind", kind_names, "kind: must be "
	    "\"spam\", \"malware\" or \"other\"", &kind) < 0 ||
	    cfg_scan_failure(c, g, &m->default_action) < 0 ||
	    cfg_member_unsigned(c, g, "connect_timeout", 1, SCAN_TIMEOUT_MAX,
	    &m->connect_timeout) < 0 ||
	    cfg_member_unsigned(c, g, "command_timeout", 1, SCAN_TIMEOUT_MAX,
	    &m->command_timeout) < 0 ||
	    cfg_member_unsigned(c, g, "eom_timeout", 1, SCAN_TIMEOUT_MAX,
	    &m->eom_timeout) < 0 ||
	    cfg_member_bool(c, g, "reuse", &m->reuse) < 0)
		return -1;
	m->kind = (enum scan_kind)kind;
	return 0;
}

static int
cfg_milters(struct cfg_ctx *c, const config_setting_t *s)
{
	struct scan_conf *sc = &c->cfg->scan;
	int n = config_setting_length(s);

	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		cfg_key_error(c, s, "must be a list: ( { name = ...; address = ...; } )");
		return -1;
	}
	if (n > SCAN_MILTERS_MAX) {
		cfg_key_error(c, s, "at most %d milters", SCAN_MILTERS_MAX);
		return -1;
	}
	sc->milters = xcalloc((size_t)n + 1, sizeof(*sc->milters));
	for (int i = 0; i < n; i++) {
		/* Counted first: a half-read entry is freed with the rest. */
		sc->n_milters++;
		if (cfg_milter(c, config_setting_get_elem(s, (unsigned)i),
		    &sc->milters[i]) < 0)
			return -1;
	}
	return 0;
}

static int
cfg_rspamd(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "address", "timeout",
	    "default_action", NULL };
	struct rspamd_conf *r = &c->cfg->scan.rspamd;

	r->timeout = DEFAULT_SCAN_TIMEOUT;
	if (cfg_need_group(c, g, keys) < 0 ||
	    cfg_scan_address(c, g, true, &r->ep) < 0 ||
	    cfg_member_unsigned(c, g, "timeout", 1, SCAN_TIMEOUT_MAX,
	    &r->timeout) < 0 ||
	    cfg_scan_failure(c, g, &r->default_action) < 0)
		return -1;
	r->enabled = true;
	return 0;
}

static int
cfg_clamd(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "address", "timeout",
	    "default_action", NULL };
	struct clamd_conf *cl = &c->cfg->scan.clamd;

	cl->timeout = DEFAULT_SCAN_TIMEOUT;
	if (cfg_need_group(c, g, keys) < 0 ||
	    cfg_scan_address(c, g, false, &cl->ep) < 0 ||
	    cfg_member_unsigned(c, g, "timeout", 1, SCAN_TIMEOUT_MAX,
	    &cl->timeout) < 0 ||
	    cfg_scan_failure(c, g, &cl->default_action) < 0)
		return -1;
	cl->enabled = true;
	return 0;
}

int
cfg_scan(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "max_size", "score_authenticated",
	    "milters", "rspamd", "clamd", NULL };
	const config_setting_t *s;
	unsigned max_size = 0;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if (cfg_member_unsigned(c, g, "max_size", 0, 1LL << 30, &max_size) < 0)
		return -1;
	c->cfg->scan.max_size = max_size;
	if (cfg_member_bool(c, g, "score_authenticated",
	    &c->cfg->scan.score_authenticated) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "milters")) != NULL &&
	    cfg_milters(c, s) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "rspamd")) != NULL &&
	    cfg_rspamd(c, s) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "clamd")) != NULL &&
	    cfg_clamd(c, s) < 0)
		return -1;
	return 0;
}
