/*
 * Configuration loading: see config.h and docs/configuration.md.
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

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/bounds.h"
#include "common/xmalloc.h"

/* Parsing context: the libconfig tree, where errors go, and the folder
 * against which relative paths resolve. */
struct cfg_ctx {
	const char *path;
	char *dir;
	struct config *cfg;
	struct config_error *err;
};

/*
 * libconfig 1.5 gives a list's last scalar element the line of the
 * closing ")" (the lexer has looked ahead).  Find the element's own line:
 * the nearest line at or before that one, and not before the list, that
 * holds the quoted value.
 */
static int
cfg_elem_line(const char *file, const char *value, int first, int last)
{
	char needle[300], line[1024];
	int n = 0, found = last;
	FILE *f;

	if (snprintf(needle, sizeof(needle), "\"%s\"", value) >=
	    (int)sizeof(needle) || (f = fopen(file, "r")) == NULL)
		return last;
	while (n < last && fgets(line, sizeof(line), f) != NULL) {
		if (strchr(line, '\n') == NULL && !feof(f))
			break;	/* a long line: keep libconfig's answer */
		if (++n >= first && strstr(line, needle) != NULL)
			found = n;
	}
	fclose(f);
	return found;
}

static void cfg_error(struct cfg_ctx *c, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
cfg_error(struct cfg_ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = NULL;
	va_list ap;

	if (s != NULL)
		file = config_setting_source_file(s);
	if (file == NULL)
		file = c->path;
	snprintf(c->err->file, sizeof(c->err->file), "%s", file);
	c->err->line = s != NULL ? (int)config_setting_source_line(s) : 0;
	if (s != NULL && s->name == NULL &&
	    config_setting_type(s) == CONFIG_TYPE_STRING)
		c->err->line = cfg_elem_line(file, config_setting_get_string(s),
		    (int)config_setting_source_line(config_setting_parent(s)),
		    c->err->line);
	va_start(ap, fmt);
	vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
	va_end(ap);
}

/* The dotted name of a setting ("timeouts.command", "listen[1].role")
 * for error messages. */
static void
cfg_name(const config_setting_t *s, char *out, size_t outlen)
{
	const config_setting_t *parent = config_setting_parent(s);
	char up[128];

	if (parent == NULL || config_setting_is_root(parent)) {
		snprintf(out, outlen, "%s", s->name ? s->name : "?");
		return;
	}
	cfg_name(parent, up, sizeof(up));
	if (s->name != NULL)
		snprintf(out, outlen, "%s.%s", up, s->name);
	else
		snprintf(out, outlen, "%s[%d]", up, config_setting_index(s));
}

static int
cfg_string(struct cfg_ctx *c, const config_setting_t *s, const char **out)
{
	char name[160];

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		cfg_name(s, name, sizeof(name));
		cfg_error(c, s, "%s: must be a string in double quotes", name);
		return -1;
	}
	*out = config_setting_get_string(s);
	return 0;
}

static int
cfg_nonempty(struct cfg_ctx *c, const config_setting_t *s, const char **out)
{
	char name[160];

	if (cfg_string(c, s, out) < 0)
		return -1;
	if (**out == '\0') {
		cfg_name(s, name, sizeof(name));
		cfg_error(c, s, "%s: must not be empty", name);
		return -1;
	}
	return 0;
}

/* A whole number in [min, max].  Floats, strings and booleans are type
 * errors rather than being converted: "25M" must not become 25. */
static int
cfg_number(struct cfg_ctx *c, const config_setting_t *s,
    long long min, long long max, long long *out)
{
	char name[160];
	long long v;

	cfg_name(s, name, sizeof(name));
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		v = config_setting_get_int(s);
		break;
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		break;
	default:
		cfg_error(c, s, "%s: must be a whole number", name);
		return -1;
	}
	if (v < min || v > max) {
		cfg_error(c, s, "%s: %lld is out of range (%lld to %lld)",
		    name, v, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int
cfg_unsigned(struct cfg_ctx *c, const config_setting_t *s,
    long long min, long long max, unsigned *out)
{
	long long v;

	if (cfg_number(c, s, min, max, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Absolute paths as written; relative ones joined to the config's
 * folder.  No normalisation beyond that: the path need not exist yet. */
static int
cfg_path(struct cfg_ctx *c, const config_setting_t *s, char **out)
{
	const char *v;

	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	free(*out);
	if (v[0] == '/')
		*out = xstrdup(v);
	else
		*out = xasprintf("%s/%s", c->dir, v);
	if (strlen(*out) >= PATH_MAX) {
		char name[160];

		cfg_name(s, name, sizeof(name));
		cfg_error(c, s, "%s: path too long", name);
		return -1;
	}
	return 0;
}

/* RFC 1035 2.3.1 preferred name syntax (letters, digits, hyphens; labels
 * of 1-63 octets; 253 in all), also allowing UTF-8 octets for RFC 6531
 * U-labels.  A trailing dot is not accepted: we compare names as strings. */
static bool
cfg_valid_domain(const char *s, bool need_dot)
{
	size_t len = strlen(s), label = 0;
	bool dot = false;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			dot = true;
			continue;
		}
		if (!(ch >= 0x80 || (ch >= 'a' && ch <= 'z') ||
		    (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    ch == '-'))
			return false;
		if (ch == '-' && label == 0)
			return false;
		if (++label > 63)
			return false;
	}
	if (label == 0 || s[len - 1] == '-')
		return false;
	return !need_dot || dot;
}

/* "local@domain": a dot-atom or quoted local part (RFC 5321 4.1.2) of at
 * most 64 octets and a domain name.  Kept simple on purpose: the routing
 * code does the rest when mail actually flows. */
static bool
cfg_valid_address(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t llen;

	if (at == NULL || at == s)
		return false;
	llen = (size_t)(at - s);
	if (llen > SMTP_LOCAL_PART_MAX)
		return false;
	if (s[0] != '"') {
		for (const char *p = s; p < at; p++) {
			unsigned char ch = (unsigned char)*p;

			if (ch <= ' ' || ch == 0x7f || strchr("\"(),:;<>@[\\]", ch))
				return false;
		}
		if (s[0] == '.' || at[-1] == '.' || memmem(s, llen, "..", 2))
			return false;
	} else if (llen < 2 || at[-1] != '"') {
		return false;
	}
	return cfg_valid_domain(at + 1, false);
}

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

static int
cfg_relay_networks(struct cfg_ctx *c, const config_setting_t *s)
{
	struct config *cfg = c->cfg;
	int n;

	if (!config_setting_is_aggregate(s) || config_setting_is_group(s)) {
		cfg_error(c, s, "relay_networks: must be a list of strings, "
		    "e.g. ( \"127.0.0.0/8\", \"::1/128\" )");
		return -1;
	}
	n = config_setting_length(s);
	free(cfg->relay_networks);
	cfg->relay_networks = xcalloc((size_t)n, sizeof(*cfg->relay_networks));
	cfg->n_relay_networks = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v;

		if (cfg_string(c, e, &v) < 0)
			return -1;
		if (netaddr_parse_mask(v, &cfg->relay_networks[i]) < 0) {
			cfg_error(c, e, "relay_networks: \"%.64s\" is not an "
			    "address or network (ADDR/PREFIX)", v);
			return -1;
		}
		cfg->n_relay_networks++;
	}
	return 0;
}

/* Reject any member of group s whose name is not in allowed. */
static int
cfg_known_keys(struct cfg_ctx *c, const config_setting_t *s,
    const char *const *allowed)
{
	int n = config_setting_length(s);
	char name[160];

	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		bool ok = false;

		for (size_t k = 0; allowed[k] != NULL; k++)
			if (e->name != NULL && strcmp(e->name, allowed[k]) == 0)
				ok = true;
		if (!ok) {
			cfg_name(e, name, sizeof(name));
			cfg_error(c, e, "unknown setting \"%s\"", name);
			return -1;
		}
	}
	return 0;
}

static int
cfg_need_group(struct cfg_ctx *c, const config_setting_t *s,
    const char *const *allowed)
{
	char name[160];

	if (!config_setting_is_group(s)) {
		cfg_name(s, name, sizeof(name));
		cfg_error(c, s, "%s: must be a group { ... }", name);
		return -1;
	}
	return cfg_known_keys(c, s, allowed);
}

static int
cfg_listen_one(struct cfg_ctx *c, const config_setting_t *g, size_t idx)
{
	static const char *const keys[] = { "address", "role", "tls", NULL };
	struct listen_conf *l = &c->cfg->listen[idx];
	const config_setting_t *s;
	const char *v;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "address")) == NULL) {
		cfg_error(c, g, "listen: every listener needs an address "
		    "(\"ADDR:PORT\")");
		return -1;
	}
	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	if (netaddr_parse_hostport(v, &l->addr, &l->addrlen) < 0) {
		cfg_error(c, s, "listen: \"%.64s\" is not ADDR:PORT or "
		    "[ADDR6]:PORT", v);
		return -1;
	}
	l->address = xstrdup(v);
	for (size_t i = 0; i < idx; i++) {
		const struct listen_conf *o = &c->cfg->listen[i];

		if (o->addrlen == l->addrlen &&
		    memcmp(&o->addr, &l->addr, l->addrlen) == 0) {
			cfg_error(c, s, "listen: address %.64s is listed twice",
			    v);
			return -1;
		}
	}
	l->role = ROLE_MX;
	if ((s = config_setting_get_member(g, "role")) != NULL) {
		if (cfg_string(c, s, &v) < 0)
			return -1;
		if (strcmp(v, "mx") == 0)
			l->role = ROLE_MX;
		else if (strcmp(v, "submission") == 0)
			l->role = ROLE_SUBMISSION;
		else {
			cfg_error(c, s, "listen: role must be \"mx\" or "
			    "\"submission\", not \"%.32s\"", v);
			return -1;
		}
	}
	l->tls = TLS_MODE_NONE;
	if ((s = config_setting_get_member(g, "tls")) != NULL) {
		if (cfg_string(c, s, &v) < 0)
			return -1;
		if (strcmp(v, "none") == 0)
			l->tls = TLS_MODE_NONE;
		else if (strcmp(v, "starttls") == 0)
			l->tls = TLS_MODE_STARTTLS;
		else if (strcmp(v, "implicit") == 0)
			l->tls = TLS_MODE_IMPLICIT;
		else {
			cfg_error(c, s, "listen: tls must be \"none\", "
			    "\"starttls\" or \"implicit\", not \"%.32s\"", v);
			return -1;
		}
	}
	return 0;
}

static int
cfg_listen(struct cfg_ctx *c, const config_setting_t *s)
{
	int n;

	if (!config_setting_is_aggregate(s) || config_setting_is_group(s)) {
		cfg_error(c, s, "listen: must be a list of groups, e.g. "
		    "( { address = \"0.0.0.0:25\"; role = \"mx\"; "
		    "tls = \"starttls\"; } )");
		return -1;
	}
	n = config_setting_length(s);
	if (n == 0) {
		cfg_error(c, s, "listen: at least one listener is needed");
		return -1;
	}
	c->cfg->listen = xcalloc((size_t)n, sizeof(*c->cfg->listen));
	for (int i = 0; i < n; i++) {
		c->cfg->n_listen = (size_t)i + 1;
		if (cfg_listen_one(c, config_setting_get_elem(s, (unsigned)i),
		    (size_t)i) < 0)
			return -1;
	}
	return 0;
}

/* Open the file as the daemon will, so a missing or unreadable key is
 * reported now and by name, not at the first STARTTLS. */
static int
cfg_readable(struct cfg_ctx *c, const config_setting_t *s, const char *path)
{
	char name[160];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		cfg_name(s, name, sizeof(name));
		cfg_error(c, s, "%s: cannot read %.160s: %s", name, path,
		    strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

static int
cfg_tls(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "cert", "key", NULL };
	const config_setting_t *cert, *key;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	cert = config_setting_get_member(g, "cert");
	key = config_setting_get_member(g, "key");
	if (cert == NULL || key == NULL) {
		cfg_error(c, g, "tls: needs both cert and key");
		return -1;
	}
	if (cfg_path(c, cert, &c->cfg->tls_cert) < 0 ||
	    cfg_readable(c, cert, c->cfg->tls_cert) < 0 ||
	    cfg_path(c, key, &c->cfg->tls_key) < 0 ||
	    cfg_readable(c, key, c->cfg->tls_key) < 0)
		return -1;
	return 0;
}

/* "IP" or "IP@PORT", as libunbound's ub_ctx_set_fwd takes it. */
static int
cfg_dns(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "nameserver", NULL };
	const config_setting_t *s;
	unsigned char tmp[16];
	char ip[64];
	const char *v, *at;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "nameserver")) == NULL)
		return 0;
	if (cfg_nonempty(c, s, &v) < 0)
		return -1;
	at = strchr(v, '@');
	snprintf(ip, sizeof(ip), "%.*s", (int)(at ? (size_t)(at - v) :
	    strlen(v)), v);
	if ((inet_pton(AF_INET, ip, tmp) != 1 &&
	    inet_pton(AF_INET6, ip, tmp) != 1) ||
	    (at != NULL && (strspn(at + 1, "0123456789") != strlen(at + 1) ||
	    at[1] == '\0' || strlen(at + 1) > 5 || atoi(at + 1) < 1 ||
	    atoi(at + 1) > 65535))) {
		cfg_error(c, s, "dns.nameserver: \"%.64s\" is not IP or "
		    "IP@PORT", v);
		return -1;
	}
	c->cfg->dns_nameserver = xstrdup(v);
	return 0;
}

static int
cfg_delivery(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "smtp_port", NULL };
	const config_setting_t *s;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "smtp_port")) != NULL &&
	    cfg_unsigned(c, s, 1, 65535, &c->cfg->smtp_port) < 0)
		return -1;
	return 0;
}

static int
cfg_timeouts(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "command", "data", NULL };
	const config_setting_t *s;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "command")) != NULL &&
	    cfg_unsigned(c, s, 1, 86400, &c->cfg->timeout_command) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "data")) != NULL &&
	    cfg_unsigned(c, s, 1, 86400, &c->cfg->timeout_data) < 0)
		return -1;
	return 0;
}

static int
cfg_queue(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "retry_min", "retry_max",
	    "lifetime", NULL };
	const long long year = 366LL * 86400;
	const config_setting_t *s;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "retry_min")) != NULL &&
	    cfg_unsigned(c, s, 1, year, &c->cfg->retry_min) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "retry_max")) != NULL &&
	    cfg_unsigned(c, s, 1, year, &c->cfg->retry_max) < 0)
		return -1;
	if ((s = config_setting_get_member(g, "lifetime")) != NULL &&
	    cfg_unsigned(c, s, 1, year, &c->cfg->queue_lifetime) < 0)
		return -1;
	if (c->cfg->retry_max < c->cfg->retry_min) {
		cfg_error(c, g, "queue: retry_max (%u) is below retry_min (%u)",
		    c->cfg->retry_max, c->cfg->retry_min);
		return -1;
	}
	return 0;
}

static int
cfg_log_level(struct cfg_ctx *c, const config_setting_t *s)
{
	const char *v;

	if (cfg_string(c, s, &v) < 0)
		return -1;
	if (strcmp(v, "debug") == 0)
		c->cfg->debug = true;
	else if (strcmp(v, "info") == 0)
		c->cfg->debug = false;
	else {
		cfg_error(c, s, "log_level: must be \"info\" or \"debug\", "
		    "not \"%.32s\"", v);
		return -1;
	}
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
	if (strcmp(s->name, "max_connections") == 0)
		return cfg_unsigned(c, s, 1, 1000000, &cfg->max_connections);
	return cfg_unsigned(c, s, 1, 1000000, &cfg->max_connections_per_ip);
}

static int
cfg_path_key(struct cfg_ctx *c, const config_setting_t *s)
{
	struct config *cfg = c->cfg;
	char **dst = strcmp(s->name, "spool") == 0 ? &cfg->spool :
	    strcmp(s->name, "state") == 0 ? &cfg->state :
	    strcmp(s->name, "domains") == 0 ? &cfg->domains : &cfg->mailboxes;

	return cfg_path(c, s, dst);
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
	{ "max_message_size", cfg_limit },
	{ "max_recipients", cfg_limit },
	{ "max_errors", cfg_limit },
	{ "max_connections", cfg_limit },
	{ "max_connections_per_ip", cfg_limit },
	{ "timeouts", cfg_timeouts },
	{ "queue", cfg_queue },
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
	cfg->max_message_size = DEFAULT_MAX_MESSAGE_SIZE;
	cfg->max_recipients = DEFAULT_MAX_RECIPIENTS;
	cfg->max_errors = DEFAULT_MAX_ERRORS;
	cfg->max_connections = DEFAULT_MAX_CONNECTIONS;
	cfg->max_connections_per_ip = DEFAULT_MAX_CONNECTIONS_PER_IP;
	cfg->timeout_command = DEFAULT_TIMEOUT_COMMAND;
	cfg->timeout_data = DEFAULT_TIMEOUT_DATA;
	cfg->retry_min = DEFAULT_RETRY_MIN;
	cfg->retry_max = DEFAULT_RETRY_MAX;
	cfg->queue_lifetime = DEFAULT_QUEUE_LIFETIME;
	cfg->relay_networks = xcalloc(2, sizeof(*cfg->relay_networks));
	if (netaddr_parse_mask("127.0.0.0/8", &cfg->relay_networks[0]) < 0 ||
	    netaddr_parse_mask("::1/128", &cfg->relay_networks[1]) < 0)
		abort();	/* constant strings: cannot fail */
	cfg->n_relay_networks = 2;
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
	return 0;
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

int
config_load(const char *path, struct config *cfg, struct config_error *err)
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
out:
	config_destroy(&lc);
	free(c.dir);
	if (rc < 0)
		config_free(cfg);
	return rc;
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
	free(cfg->dns_nameserver);
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
