/*
 * Configuration loading: see config.h and docs/configuration.md.  This
 * file holds the entry points, the key table and the top-level keys; the
 * typed value readers are in config_values.c and the network keys in
 * config_listen.c (config_priv.h lists what they share).
 *
 * Called once at start-up by decorumd's master and by each `decorum`
 * sub-command; the result is read-only afterwards.  The file is trusted
 * as the operator's word but not as well-formed: every key is checked for
 * its name, type and range, and every error carries FILE:LINE so that
 * `decorum check-config` can point at it.  Unknown keys are errors, because
 * a typo that silently falls back to a default (say "relay_network") is
 * how open relays happen.
 *
 * Invariants: a successful load fills every field (defaults included);
 * a failed one leaves cfg zeroed with nothing allocated.  Relative paths
 * are made absolute against the folder of the config file, so a config
 * works the same from any working directory.  No network access: the only
 * I/O is reading the file, resolving its folder and checking that TLS
 * files are readable.
 */
#include "common/config.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/bounds.h"
#include "common/config_priv.h"
#include "common/log.h"
#include "common/xmalloc.h"

/* auth.* defaults (docs/configuration.md): five wrong passwords, then ten
 * minutes out.  Here rather than in bounds.h, which another module owns. */
#define DEFAULT_AUTH_MAX_FAILURES	5
#define DEFAULT_AUTH_BLOCK_TIME		600
/* Admission control: a network is an IPv4 address or an IPv6 /64 (RFC
 * 6177); Postfix's smtpd_junk_command_limit; stress as Postfix's
 * smtpd_timeout under stress. */
#define DEFAULT_CLIENT_PREFIX_V4	32
#define DEFAULT_CLIENT_PREFIX_V6	64
#define DEFAULT_JUNK_COMMAND_LIMIT	100
#define DEFAULT_STRESS_TIMEOUT		10

static int
cfg_hostname_default(struct cfg_ctx *c)
{
	char host[256];
	struct addrinfo hints, *res = NULL;

	if (gethostname(host, sizeof(host)) < 0) {
		cfg_error(c, NULL, "hostname: not set and gethostname failed: %s",
		    strerror(errno));
		return -1;
	}
	host[sizeof(host) - 1] = '\0';
	if (strchr(host, '.') == NULL) {
		/* The canonical name from /etc/hosts (or DNS), as
		 * `hostname -f` does. */
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_CANONNAME;
		hints.ai_family = AF_UNSPEC;
		if (getaddrinfo(host, NULL, &hints, &res) == 0 && res != NULL &&
		    res->ai_canonname != NULL)
			snprintf(host, sizeof(host), "%s", res->ai_canonname);
		if (res != NULL)
			freeaddrinfo(res);
	}
	if (!cfg_valid_domain(host, true)) {
		cfg_error(c, NULL, "hostname: not set, and the system name "
		    "\"%.64s\" is not a fully-qualified domain name; "
		    "set hostname", host);
		return -1;
	}
	c->cfg->hostname = xstrdup(host);
	return 0;
}

static int
cfg_hostname(struct cfg_ctx *c, const config_setting_t *s)
{
	const char *v;

	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	/* RFC 5321 4.1.1.1: the EHLO argument is our FQDN. */
	if (!cfg_valid_domain(v, true)) {
		cfg_error(c, s, "hostname: \"%.64s\" is not a fully-qualified "
		    "domain name", v);
		return -1;
	}
	c->cfg->hostname = xstrdup(v);
	return 0;
}

static int
cfg_postmaster(struct cfg_ctx *c, const config_setting_t *s)
{
	const char *v;

	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	if (strlen(v) > SMTP_ADDRESS_MAX || !cfg_valid_address(v)) {
		cfg_error(c, s, "postmaster: \"%.64s\" is not an address "
		    "(local@domain)", v);
		return -1;
	}
	c->cfg->postmaster = xstrdup(v);
	return 0;
}

static int
cfg_user(struct cfg_ctx *c, const config_setting_t *s)
{
	const char *v;

	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	c->cfg->user = xstrdup(v);
	cfg_where(c, s, &c->cfg->user_at);
	return 0;
}

static int
cfg_delimiter(struct cfg_ctx *c, const config_setting_t *s)
{
	const char *v;

	if (cfg_string(c, s, &v) < 0)
		return -1;
	/* Each character is a delimiter (as Postfix does); letters, digits,
	 * "@", quotes and spaces would make addresses ambiguous. */
	for (const char *p = v; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= ' ' || ch >= 0x7f || ch == '@' || ch == '"' ||
		    ch == '\\' || ch == '.' ||
		    (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z')) {
			cfg_error(c, s, "recipient_delimiter: '%c' cannot be a "
			    "delimiter (use characters such as + - _ =)",
			    ch >= ' ' && ch < 0x7f ? ch : '?');
			return -1;
		}
	}
	if (strlen(v) > 8) {
		cfg_error(c, s, "recipient_delimiter: at most 8 characters");
		return -1;
	}
	free(c->cfg->recipient_delimiter);
	c->cfg->recipient_delimiter = xstrdup(v);
	return 0;
}

/* delivery.timeouts: what the SMTP/LMTP client waits for each reply. */
static int
cfg_delivery_timeouts(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "greeting", "command",
	    "data_init", "data_block", "data_end", NULL };
	struct config *cfg = c->cfg;

	if (g == NULL)
		return 0;
	if (cfg_need_group(c, g, keys) < 0 ||
	    cfg_member_unsigned(c, g, "greeting", 1, 3600,
	    &cfg->out_timeout_greeting) < 0 ||
	    cfg_member_unsigned(c, g, "command", 1, 3600,
	    &cfg->out_timeout_command) < 0 ||
	    cfg_member_unsigned(c, g, "data_init", 1, 3600,
	    &cfg->out_timeout_data_init) < 0 ||
	    cfg_member_unsigned(c, g, "data_block", 1, 3600,
	    &cfg->out_timeout_data_block) < 0 ||
	    cfg_member_unsigned(c, g, "data_end", 1, 3600,
	    &cfg->out_timeout_data_end) < 0)
		return -1;
	return 0;
}

/* delivery: the outbound side (SMTP and LMTP clients, scheduler). */
static int
cfg_delivery(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "smtp_port", "max_connections",
	    "destination_concurrency", "connect_timeout",
	    "connection_cache_time", "connection_reuse_limit", "timeouts",
	    "source_address", NULL };
	struct config *cfg = c->cfg;
	const config_setting_t *src;

	if (cfg_need_group(c, g, keys) < 0 ||
	    cfg_member_unsigned(c, g, "smtp_port", 1, 65535,
	    &cfg->smtp_port) < 0 ||
	    cfg_member_unsigned(c, g, "max_connections", 1, 10000,
	    &cfg->out_max_connections) < 0 ||
	    cfg_member_unsigned(c, g, "destination_concurrency", 1, 10000,
	    &cfg->out_dest_concurrency) < 0 ||
	    cfg_member_unsigned(c, g, "connect_timeout", 1, 600,
	    &cfg->out_connect_timeout) < 0 ||
	    cfg_member_unsigned(c, g, "connection_cache_time", 0, 300,
	    &cfg->out_cache_time) < 0 ||
	    cfg_member_unsigned(c, g, "connection_reuse_limit", 1, 10000,
	    &cfg->out_reuse_limit) < 0 ||
	    cfg_delivery_timeouts(c, config_setting_get_member(g,
	    "timeouts")) < 0)
		return -1;
	/* Where SMTP and relay connections leave from (the address whose
	 * PTR names us, for receivers that check it). */
	if ((src = config_setting_get_member(g, "source_address")) != NULL &&
	    cfg_source_address(c, src, &cfg->out_source) < 0)
		return -1;
	return 0;
}

static int
cfg_timeouts(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "command", "data", NULL };

	if (cfg_need_group(c, g, keys) < 0 ||
	    cfg_member_unsigned(c, g, "command", 1, 86400,
	    &c->cfg->timeout_command) < 0 ||
	    cfg_member_unsigned(c, g, "data", 1, 86400,
	    &c->cfg->timeout_data) < 0)
		return -1;
	return 0;
}

static int
cfg_queue(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "retry_min", "retry_max",
	    "lifetime", "delay_warning", "local_concurrency", NULL };
	const long long year = 366LL * 86400;

	if (cfg_need_group(c, g, keys) < 0 ||
	    cfg_member_unsigned(c, g, "retry_min", 1, year,
	    &c->cfg->retry_min) < 0 ||
	    cfg_member_unsigned(c, g, "retry_max", 1, year,
	    &c->cfg->retry_max) < 0 ||
	    cfg_member_unsigned(c, g, "lifetime", 1, year,
	    &c->cfg->queue_lifetime) < 0 ||
	    cfg_member_unsigned(c, g, "delay_warning", 0, year,
	    &c->cfg->delay_warning) < 0 ||
	    cfg_member_unsigned(c, g, "local_concurrency", 1,
	    LOCAL_CONCURRENCY_MAX, &c->cfg->local_concurrency) < 0)
		return -1;
	if (c->cfg->retry_max < c->cfg->retry_min) {
		cfg_error(c, g, "queue: retry_max (%u) is below retry_min (%u)",
		    c->cfg->retry_max, c->cfg->retry_min);
		return -1;
	}
	return 0;
}

/* auth: the failure throttle (auth/throttle.h) and RFC 4616 authzid. */
static int
cfg_auth(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "max_failures", "block_time",
	    "allow_authzid", NULL };

	if (cfg_need_group(c, g, keys) < 0 ||
	    cfg_member_unsigned(c, g, "max_failures", 1, 1000,
	    &c->cfg->auth_max_failures) < 0 ||
	    cfg_member_unsigned(c, g, "block_time", 1, 366LL * 86400,
	    &c->cfg->auth_block_time) < 0 ||
	    cfg_member_bool(c, g, "allow_authzid",
	    &c->cfg->auth_allow_authzid) < 0)
		return -1;
	return 0;
}

/* submission: what authenticated submission checks and shows. */
static int
cfg_submission(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "check_from_header",
	    "hide_client_ip", NULL };

	if (cfg_need_group(c, g, keys) < 0 ||
	    cfg_member_bool(c, g, "check_from_header",
	    &c->cfg->submission_check_from) < 0 ||
	    cfg_member_bool(c, g, "hide_client_ip",
	    &c->cfg->submission_hide_ip) < 0)
		return -1;
	return 0;
}

static int
cfg_log_level(struct cfg_ctx *c, const config_setting_t *s)
{
	static const char *const levels[] = { "info", "debug", NULL };
	int i;

	if (cfg_choice(c, s, levels, "log_level: must be \"info\" or "
	    "\"debug\"", &i) < 0)
		return -1;
	c->cfg->debug = i == 1;
	return 0;
}

static int
cfg_limit(struct cfg_ctx *c, const config_setting_t *s)
{
	struct config *cfg = c->cfg;
	long long v;

	if (strcmp(s->name, "max_message_size") == 0) {
		/* At least what RFC 5321 4.5.3.1.7 asks of any server. */
		if (cfg_number(c, s, 65536, (long long)UINT32_MAX, &v) < 0)
			return -1;
		cfg->max_message_size = (size_t)v;
		return 0;
	}
	if (strcmp(s->name, "max_recipients") == 0)
		return cfg_unsigned(c, s, 1, 100000, &cfg->max_recipients);
	if (strcmp(s->name, "max_errors") == 0)
		return cfg_unsigned(c, s, 1, 1000, &cfg->max_errors);
	if (strcmp(s->name, "max_hops") == 0)
		return cfg_unsigned(c, s, 1, 1000, &cfg->max_hops);
	if (strcmp(s->name, "alias_fanout_warn") == 0)
		return cfg_unsigned(c, s, 0, 100000, &cfg->alias_fanout_warn);
	if (strcmp(s->name, "max_connections") == 0)
		return cfg_unsigned(c, s, 1, 1000000, &cfg->max_connections);
	return cfg_unsigned(c, s, 1, 1000000, &cfg->max_connections_per_ip);
}

/* Admission control: the client network and the limits on it. */
static int
cfg_admission(struct cfg_ctx *c, const config_setting_t *s)
{
	struct config *cfg = c->cfg;

	if (strcmp(s->name, "client_prefix_v4") == 0)
		return cfg_unsigned(c, s, 8, 32, &cfg->client_prefix_v4);
	if (strcmp(s->name, "client_prefix_v6") == 0)
		return cfg_unsigned(c, s, 16, 128, &cfg->client_prefix_v6);
	if (strcmp(s->name, "max_connection_rate") == 0)
		return cfg_unsigned(c, s, 0, 1000000, &cfg->max_connection_rate);
	if (strcmp(s->name, "junk_command_limit") == 0)
		return cfg_unsigned(c, s, 1, 100000, &cfg->junk_command_limit);
	if (strcmp(s->name, "greet_delay") == 0)
		return cfg_unsigned(c, s, 0, 300, &cfg->greet_delay);
	return cfg_unsigned(c, s, 1, 3600, &cfg->stress_timeout);
}

static int
cfg_path_key(struct cfg_ctx *c, const config_setting_t *s)
{
	struct config *cfg = c->cfg;
	char **dst = strcmp(s->name, "spool") == 0 ? &cfg->spool :
	    strcmp(s->name, "state") == 0 ? &cfg->state :
	    strcmp(s->name, "domains") == 0 ? &cfg->domains : &cfg->mailboxes;
	struct config_where *at = dst == &cfg->spool ? &cfg->spool_at :
	    dst == &cfg->state ? &cfg->state_at :
	    dst == &cfg->mailboxes ? &cfg->mailboxes_at : &cfg->domains_at;

	if (cfg_path(c, s, dst) < 0)
		return -1;
	/* The folders the master walks (config_system.c) are kept clean,
	 * so the walk and the nesting check see one form. */
	cfg_clean_path(*dst);
	cfg_where(c, s, at);
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(struct cfg_ctx *, const config_setting_t *);
} cfg_keys[] = {
	{ "hostname", cfg_hostname },
	{ "spool", cfg_path_key },
	{ "state", cfg_path_key },
	{ "domains", cfg_path_key },
	{ "mailboxes", cfg_path_key },
	{ "postmaster", cfg_postmaster },
	{ "user", cfg_user },
	{ "recipient_delimiter", cfg_delimiter },
	{ "relay_networks", cfg_relay_networks },
	{ "listen", cfg_listen },
	{ "tls", cfg_tls },
	{ "dns", cfg_dns },
	{ "delivery", cfg_delivery },
	{ "transports", cfg_transports },
	{ "max_message_size", cfg_limit },
	{ "max_recipients", cfg_limit },
	{ "max_errors", cfg_limit },
	{ "max_hops", cfg_limit },
	{ "alias_fanout_warn", cfg_limit },
	{ "max_connections", cfg_limit },
	{ "max_connections_per_ip", cfg_limit },
	{ "client_prefix_v4", cfg_admission },
	{ "client_prefix_v6", cfg_admission },
	{ "max_connection_rate", cfg_admission },
	{ "junk_command_limit", cfg_admission },
	{ "greet_delay", cfg_admission },
	{ "stress_timeout", cfg_admission },
	{ "timeouts", cfg_timeouts },
	{ "queue", cfg_queue },
	{ "auth", cfg_auth },
	{ "submission", cfg_submission },
	{ "policy", cfg_policy },
	{ "greylist", cfg_greylist },
	{ "srs", cfg_srs },
	{ "scan", cfg_scan },
	{ "spam", cfg_spam },
	{ "log_level", cfg_log_level },
};

static void
cfg_defaults(struct cfg_ctx *c)
{
	struct config *cfg = c->cfg;

	cfg->spool = xstrdup("/var/spool/decorum");
	cfg->state = xstrdup("/var/lib/decorum");
	cfg->domains = xstrdup("/etc/decorum/domains");
	cfg->mailboxes = xstrdup("/var/mail/decorum");
	cfg->recipient_delimiter = xstrdup("+");
	cfg->smtp_port = 25;
	cfg->dns_client_timeout = DEFAULT_DNS_CLIENT_TIMEOUT;
	cfg->dns_delivery_timeout = DEFAULT_DNS_DELIVERY_TIMEOUT;
	cfg->out_max_connections = DEFAULT_OUT_MAX_CONNECTIONS;
	cfg->out_dest_concurrency = DEFAULT_OUT_DEST_CONCURRENCY;
	cfg->out_connect_timeout = DEFAULT_OUT_CONNECT_TIMEOUT;
	cfg->out_cache_time = DEFAULT_OUT_CACHE_TIME;
	cfg->out_reuse_limit = DEFAULT_OUT_REUSE_LIMIT;
	cfg->out_timeout_greeting = DEFAULT_OUT_TIMEOUT_GREETING;
	cfg->out_timeout_command = DEFAULT_OUT_TIMEOUT_COMMAND;
	cfg->out_timeout_data_init = DEFAULT_OUT_TIMEOUT_DATA_INIT;
	cfg->out_timeout_data_block = DEFAULT_OUT_TIMEOUT_DATA_BLOCK;
	cfg->out_timeout_data_end = DEFAULT_OUT_TIMEOUT_DATA_END;
	cfg->max_message_size = DEFAULT_MAX_MESSAGE_SIZE;
	cfg->max_recipients = DEFAULT_MAX_RECIPIENTS;
	cfg->max_errors = DEFAULT_MAX_ERRORS;
	cfg->max_hops = DEFAULT_MAX_HOPS;
	cfg->alias_fanout_warn = DEFAULT_ALIAS_FANOUT_WARN;
	cfg->max_connections = DEFAULT_MAX_CONNECTIONS;
	cfg->max_connections_per_ip = DEFAULT_MAX_CONNECTIONS_PER_IP;
	cfg->client_prefix_v4 = DEFAULT_CLIENT_PREFIX_V4;
	cfg->client_prefix_v6 = DEFAULT_CLIENT_PREFIX_V6;
	cfg->junk_command_limit = DEFAULT_JUNK_COMMAND_LIMIT;
	cfg->stress_timeout = DEFAULT_STRESS_TIMEOUT;
	cfg->timeout_command = DEFAULT_TIMEOUT_COMMAND;
	cfg->timeout_data = DEFAULT_TIMEOUT_DATA;
	cfg->retry_min = DEFAULT_RETRY_MIN;
	cfg->retry_max = DEFAULT_RETRY_MAX;
	cfg->queue_lifetime = DEFAULT_QUEUE_LIFETIME;
	cfg->local_concurrency = DEFAULT_LOCAL_CONCURRENCY;
	cfg->auth_max_failures = DEFAULT_AUTH_MAX_FAILURES;
	cfg->auth_block_time = DEFAULT_AUTH_BLOCK_TIME;
	cfg->relay_networks = xcalloc(2, sizeof(*cfg->relay_networks));
	if (netaddr_parse_mask("127.0.0.0/8", &cfg->relay_networks[0]) < 0 ||
	    netaddr_parse_mask("::1/128", &cfg->relay_networks[1]) < 0)
		abort();	/* constant strings: cannot fail */
	cfg->n_relay_networks = 2;
	cfg_policy_defaults(cfg);
	cfg_greylist_defaults(cfg);
	cfg_srs_defaults(cfg);
	cfg_scan_defaults(cfg);
}

static int
cfg_root(struct cfg_ctx *c, const config_setting_t *root)
{
	int n = config_setting_length(root);
	bool tls_needed = false;
	size_t tls_listener = 0;

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root,
		    (unsigned)i);
		size_t k;

		for (k = 0; k < sizeof(cfg_keys) / sizeof(cfg_keys[0]); k++)
			if (strcmp(s->name, cfg_keys[k].name) == 0)
				break;
		if (k == sizeof(cfg_keys) / sizeof(cfg_keys[0])) {
			cfg_error(c, s, "unknown setting \"%s\"", s->name);
			return -1;
		}
		if (cfg_keys[k].fn(c, s) < 0)
			return -1;
	}
	if (c->cfg->hostname == NULL && cfg_hostname_default(c) < 0)
		return -1;
	if (c->cfg->postmaster == NULL) {
		cfg_error(c, NULL, "postmaster: required (the address where "
		    "postmaster, abuse and security mail goes)");
		return -1;
	}
	if (c->cfg->n_listen == 0) {
		cfg_error(c, NULL, "listen: required (at least one listener)");
		return -1;
	}
	for (size_t i = 0; i < c->cfg->n_listen; i++) {
		if (c->cfg->listen[i].tls != TLS_MODE_NONE && !tls_needed) {
			tls_needed = true;
			tls_listener = i;
		}
	}
	if (tls_needed && c->cfg->tls_cert == NULL) {
		const config_setting_t *l = config_setting_get_elem(
		    config_setting_get_member(root, "listen"),
		    (unsigned)tls_listener);

		cfg_error(c, l, "listen: %.64s uses TLS but there is no "
		    "tls { cert = ...; key = ...; } group",
		    c->cfg->listen[tls_listener].address);
		return -1;
	}
	return cfg_cross_check(c, root);
}

/* The absolute folder holding path, so relative paths in the file do not
 * depend on the working directory of whoever loads it. */
static char *
cfg_folder(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *real;

	if (slash == NULL)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	real = realpath(dir, NULL);
	if (real != NULL) {
		free(dir);
		return real;
	}
	return dir;
}

static int
cfg_load(const char *path, struct config *cfg, struct config_error *err,
    bool root_files)
{
	struct cfg_ctx c = { .path = path, .cfg = cfg, .err = err };
	config_t lc;
	int rc = -1;

	memset(cfg, 0, sizeof(*cfg));
	memset(err, 0, sizeof(*err));
	snprintf(err->file, sizeof(err->file), "%s", path);
	c.dir = cfg_folder(path);
	config_init(&lc);
	config_set_include_dir(&lc, c.dir);
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO) {
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			int e = fd < 0 ? errno : EIO;

			if (fd >= 0)
				close(fd);
			snprintf(err->message, sizeof(err->message),
			    "cannot read: %s", strerror(e));
		} else {
			const char *f = config_error_file(&lc);

			snprintf(err->file, sizeof(err->file), "%s",
			    f != NULL ? f : path);
			err->line = config_error_line(&lc);
			snprintf(err->message, sizeof(err->message), "%s",
			    config_error_text(&lc));
		}
		goto out;
	}
	cfg_defaults(&c);
	cfg->path = xstrdup(path);
	rc = cfg_root(&c, config_root_setting(&lc));
	if (rc == 0 && root_files)
		rc = cfg_root_files(&c, config_root_setting(&lc));
out:
	config_destroy(&lc);
	free(c.dir);
	if (rc < 0)
		config_free(cfg);
	return rc;
}

int
config_load(const char *path, struct config *cfg, struct config_error *err)
{
	return cfg_load(path, cfg, err, true);
}

int
config_load_unprivileged(const char *path, struct config *cfg,
    struct config_error *err)
{
	return cfg_load(path, cfg, err, false);
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->hostname);
	free(cfg->spool);
	free(cfg->state);
	free(cfg->domains);
	free(cfg->mailboxes);
	free(cfg->postmaster);
	free(cfg->user);
	free(cfg->recipient_delimiter);
	free(cfg->relay_networks);
	for (size_t i = 0; i < cfg->n_listen; i++)
		free(cfg->listen[i].address);
	free(cfg->listen);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	for (size_t i = 0; i < cfg->n_tls_sni; i++) {
		free(cfg->tls_sni[i].cert);
		free(cfg->tls_sni[i].key);
		free(cfg->tls_sni[i].cert_at.file);
		free(cfg->tls_sni[i].key_at.file);
	}
	free(cfg->spool_at.file);
	free(cfg->state_at.file);
	free(cfg->mailboxes_at.file);
	free(cfg->domains_at.file);
	free(cfg->user_at.file);
	free(cfg->tls_cert_at.file);
	free(cfg->tls_key_at.file);
	free(cfg->warnings);
	free(cfg->tls_sni);
	free(cfg->dns_nameserver);
	cfg_transports_free(cfg);
	cfg_policy_free(cfg);
	cfg_greylist_free(cfg);
	cfg_srs_free(cfg);
	cfg_scan_free(cfg);
	memset(cfg, 0, sizeof(*cfg));
}

bool
config_is_relay_client(const struct config *cfg, const struct sockaddr *sa)
{
	for (size_t i = 0; i < cfg->n_relay_networks; i++)
		if (netaddr_match(&cfg->relay_networks[i], sa))
			return true;
	return false;
}

/* Config text reaches the line escaped: a link's target, a path or a
 * value may hold a line end, and under -f stderr is the log. */
void
config_print(const char *file, int line, const char *message)
{
	char f[LOG_SAFE_SIZE(CONFIG_PRINT_MAX)];
	char m[LOG_SAFE_SIZE(CONFIG_PRINT_MAX)];

	log_safe_text(file, f, sizeof(f));
	log_safe_text(message, m, sizeof(m));
	if (line > 0)
		fprintf(stderr, "%s:%d: %s\n", f, line, m);
	else
		fprintf(stderr, "%s: %s\n", f, m);
}

void
config_error_print(const struct config_error *err)
{
	config_print(err->file, err->line, err->message);
}
