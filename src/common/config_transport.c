/*
 * The transports table (docs/configuration.md): a list of
 *   { match = "..."; via = "..."; [tls = "may"|"require"|"verify";]
 *     [tls_ca = "...";] [source_address = ...;]
 *     [auth_user = "..."; auth_password_file = "...";] }
 * mapping an address, a domain, its subdomains (".domain") or every
 * remote destination ("*") to a delivery method.  This file checks each
 * entry and turns `via` into its parts; route/transport.c looks entries
 * up.  A relay password is read here, by whoever loads the config (the
 * master does so as root, before any child drops privileges), so the
 * secret file can stay readable by root only; so is tls_ca
 * (config_outbound.c).  Both are opened by the rules of
 * common/rootfile.h (cfg_root_files, after every key): a link to
 * /etc/shadow planted where the workers' account can write would
 * otherwise send root's hash to the relay as the password.
 *
 * A relay login implies tls = "verify", whatever tls says: a password
 * goes only to a server whose certificate proves it is the relay, never
 * to whoever sits on the path (issue 8).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "common/bounds.h"
#include "common/config_priv.h"
#include "common/rootfile.h"
#include "common/safedir.h"
#include "common/xmalloc.h"

/* Longest relay password we read. */
#define TRANSPORT_PASSWORD_MAX	1024

static int
parse_port(const char *s, unsigned *port)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

static bool
is_ip_literal(const char *h)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, h, buf) == 1 ||
	    inet_pton(AF_INET6, h, buf) == 1;
}

/* A host in a via: a domain name, an IPv4 literal, or an IPv6 literal
 * (given without brackets here). */
static bool
valid_host(const char *h)
{
	return is_ip_literal(h) || cfg_valid_domain(h, false);
}

/*
 * "HOST:PORT", "[HOST]:PORT", "[HOST]" or "HOST" (port optional only
 * when def_port != 0).  bracketed tells whether brackets were used.
 * An IPv6 address needs them: in "::1:25" the port cannot be told apart.
 */
static int
parse_hostport(const char *s, unsigned def_port, char **host,
    unsigned *port, bool *bracketed)
{
	const char *end, *colon;
	char *h;

	*bracketed = s[0] == '[';
	if (*bracketed) {
		end = strchr(s, ']');
		if (end == NULL)
			return -1;
		h = xstrndup(s + 1, (size_t)(end - s - 1));
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL) {
			free(h);
			return -1;
		}
	} else {
		colon = strrchr(s, ':');
		h = colon != NULL ? xstrndup(s, (size_t)(colon - s)) : xstrdup(s);
	}
	*port = def_port;
	if ((colon == NULL && def_port == 0) ||
	    (colon != NULL && parse_port(colon + 1, port) < 0) ||
	    h[0] == '\0' || !valid_host(h) ||
	    (!*bracketed && strchr(h, ':') != NULL)) {
		free(h);
		return -1;
	}
	*host = h;
	return 0;
}

static int
parse_via(struct cfg_ctx *c, const config_setting_t *s, const char *via,
    struct transport_conf *t)
{
	bool br;

	if (strcmp(via, "smtp") == 0) {
		t->kind = TRANSPORT_SMTP;
		return 0;
	}
	if (strcmp(via, "maildir") == 0) {
		t->kind = TRANSPORT_MAILDIR;
		return 0;
	}
	if (strncmp(via, "lmtp:unix:", 10) == 0) {
		t->kind = TRANSPORT_LMTP;
		if (via[10] != '/' ||
		    strlen(via + 10) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			cfg_error(c, s, "transports: via \"%.64s\": the socket "
			    "path must be absolute and at most %zu characters",
			    via, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
			return -1;
		}
		t->path = xstrdup(via + 10);
		return 0;
	}
	if (strncmp(via, "lmtp:", 5) == 0) {
		t->kind = TRANSPORT_LMTP;
		if (parse_hostport(via + 5, 0, &t->host, &t->port, &br) == 0)
			return 0;
		cfg_error(c, s, "transports: via \"%.64s\": expected "
		    "lmtp:HOST:PORT, lmtp:[IPV6]:PORT or lmtp:unix:/PATH", via);
		return -1;
	}
	if (strncmp(via, "relay:", 6) == 0) {
		t->kind = TRANSPORT_RELAY;
		if (parse_hostport(via + 6, 25, &t->host, &t->port, &br) == 0) {
			/* An IP address has no MX records to look up. */
			t->mx = !br && !is_ip_literal(t->host);
			return 0;
		}
		cfg_error(c, s, "transports: via \"%.64s\": expected "
		    "relay:[HOST]:PORT (no MX lookup) or relay:HOST:PORT", via);
		return -1;
	}
	cfg_error(c, s, "transports: via \"%.64s\" is not smtp, maildir, "
	    "lmtp:HOST:PORT, lmtp:unix:PATH or relay:[HOST]:PORT", via);
	return -1;
}

/* "*", "local@domain", "domain" or ".domain"; stored in lower case. */
static int
parse_match(struct cfg_ctx *c, const config_setting_t *s, const char *m,
    struct transport_conf *t)
{
	bool ok;

	if (strcmp(m, "*") == 0)
		ok = true;
	else if (strchr(m, '@') != NULL)
		ok = strlen(m) <= SMTP_ADDRESS_MAX && cfg_valid_address(m);
	else if (m[0] == '.')
		ok = cfg_valid_domain(m + 1, false);
	else
		ok = cfg_valid_domain(m, false);
	if (!ok) {
		cfg_error(c, s, "transports: match \"%.64s\" is not an address, "
		    "a domain, .domain (its subdomains) or *", m);
		return -1;
	}
	t->match = xstrdup(m);
	for (char *p = t->match; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return 0;
}

static int
read_password(struct cfg_ctx *c, const config_setting_t *s, const char *path,
    struct transport_conf *t, const struct rootfile_rules *rules)
{
	char buf[TRANSPORT_PASSWORD_MAX + 2], why[256];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd;

	/* Non-blocking, regular files only: a FIFO must not hang the
	 * start-up; it is refused. */
	fd = rootfile_open(path, rules, NULL, 0, why, sizeof(why));
	if (fd < 0) {
		cfg_error(c, s, "transports: auth_password_file %.200s: %s",
		    path, fd == -1 ? strerror(errno) : why);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		cfg_error(c, s, "transports: auth_password_file %.200s: not "
		    "a regular file", path);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		cfg_error(c, s, "transports: auth_password_file %.200s: %s",
		    path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	if (len == 0 || len > TRANSPORT_PASSWORD_MAX) {
		explicit_bzero(buf, sizeof(buf));
		cfg_error(c, s, "transports: auth_password_file %.200s: the "
		    "first line must hold the password (1 to %d octets)", path,
		    TRANSPORT_PASSWORD_MAX);
		return -1;
	}
	t->auth_password = xstrndup(buf, len);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static int
string_member(struct cfg_ctx *c, const config_setting_t *g, const char *key,
    const char **out)
{
	const config_setting_t *m = config_setting_get_member(g, key);

	*out = NULL;
	if (m == NULL)
		return 0;
	return cfg_nonempty(c, m, out);
}

static int
parse_auth(struct cfg_ctx *c, const config_setting_t *g,
    struct transport_conf *t)
{
	const char *user, *file;
	char *path = NULL;
	const config_setting_t *fs;

	if (string_member(c, g, "auth_user", &user) < 0 ||
	    string_member(c, g, "auth_password_file", &file) < 0)
		return -1;
	if (user == NULL && file == NULL)
		return 0;
	if (user == NULL || file == NULL || t->kind != TRANSPORT_RELAY) {
		cfg_error(c, g, "transports: auth_user and auth_password_file "
		    "go together, and only with a relay: transport");
		return -1;
	}
	/* The file itself is read by cfg_root_files(), once the rules for
	 * it are known. */
	fs = config_setting_get_member(g, "auth_password_file");
	if (cfg_path(c, fs, &path) < 0)
		return -1;
	free(path);
	t->auth_user = xstrdup(user);
	/* A password never travels in clear, nor to a server that is not
	 * the relay (RFC 4954 4: it must be protected by TLS; unverified
	 * TLS protects it only from those who merely listen). */
	t->tls = TRANSPORT_TLS_VERIFY;
	return 0;
}

/* tls_ca and source_address, once tls (and auth) are known. */
static int
parse_connection(struct cfg_ctx *c, const config_setting_t *g,
    struct transport_conf *t)
{
	const config_setting_t *m;

	if ((m = config_setting_get_member(g, "tls_ca")) != NULL) {
		if (t->tls != TRANSPORT_TLS_VERIFY) {
			cfg_error(c, m, "transports: tls_ca is used only with "
			    "tls = \"verify\" (or auth_user, which implies it)");
			return -1;
		}
		if (cfg_tls_ca(c, m, t) < 0)
			return -1;
	}
	if (t->tls == TRANSPORT_TLS_VERIFY && t->path != NULL) {
		cfg_error(c, g, "transports: tls = \"verify\" needs a host "
		    "name or address to check; lmtp:unix: has none");
		return -1;
	}
	if ((m = config_setting_get_member(g, "source_address")) != NULL) {
		if (t->kind == TRANSPORT_MAILDIR || t->path != NULL) {
			cfg_error(c, m, "transports: source_address needs a "
			    "TCP transport (smtp, relay or lmtp:HOST:PORT)");
			return -1;
		}
		if (cfg_source_address(c, m, &t->source) < 0)
			return -1;
	}
	return 0;
}

static int
parse_entry(struct cfg_ctx *c, const config_setting_t *g,
    struct transport_conf *t)
{
	static const char *const keys[] = { "match", "via", "tls", "tls_ca",
	    "source_address", "auth_user", "auth_password_file", NULL };
	static const char *const tls_modes[] = { "may", "require", "verify",
	    NULL };
	static const enum transport_tls tls_values[] = { TRANSPORT_TLS_MAY,
	    TRANSPORT_TLS_REQUIRE, TRANSPORT_TLS_VERIFY };
	const config_setting_t *m;
	const char *v;
	int mode;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "match")) == NULL ||
	    config_setting_get_member(g, "via") == NULL) {
		cfg_error(c, g, "transports: every entry needs match and via");
		return -1;
	}
	if (cfg_nonempty(c, m, &v) < 0 || parse_match(c, m, v, t) < 0)
		return -1;
	m = config_setting_get_member(g, "via");
	if (cfg_nonempty(c, m, &v) < 0)
		return -1;
	t->via = xstrdup(v);
	if (parse_via(c, m, v, t) < 0)
		return -1;
	if ((m = config_setting_get_member(g, "tls")) != NULL) {
		if (cfg_choice(c, m, tls_modes, "transports: tls must be "
		    "\"may\", \"require\" or \"verify\"", &mode) < 0)
			return -1;
		t->tls = tls_values[mode];
		if (t->kind == TRANSPORT_MAILDIR) {
			cfg_error(c, m, "transports: tls makes no sense with "
			    "maildir");
			return -1;
		}
	}
	if (t->kind == TRANSPORT_MAILDIR && strcmp(t->match, "*") == 0) {
		cfg_error(c, g, "transports: \"*\" covers remote mail, which "
		    "cannot go to a local Maildir");
		return -1;
	}
	if (parse_auth(c, g, t) < 0)
		return -1;
	return parse_connection(c, g, t);
}

int
cfg_transports(struct cfg_ctx *c, const config_setting_t *s)
{
	struct config *cfg = c->cfg;
	int n;

	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		cfg_error(c, s, "transports: must be a list ( { match = ...; "
		    "via = ...; }, ... )");
		return -1;
	}
	n = config_setting_length(s);
	if (n > TRANSPORTS_MAX) {
		cfg_error(c, s, "transports: more than %d entries",
		    TRANSPORTS_MAX);
		return -1;
	}
	cfg_transports_free(cfg);
	cfg->transports = xcalloc((size_t)n + 1, sizeof(*cfg->transports));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s,
		    (unsigned)i);
		struct transport_conf *t = &cfg->transports[cfg->n_transports++];

		if (!config_setting_is_group(g)) {
			cfg_error(c, g, "transports: entry %d is not a group "
			    "{ match = ...; via = ...; }", i + 1);
			return -1;
		}
		if (parse_entry(c, g, t) < 0)
			return -1;
		for (size_t k = 0; k + 1 < cfg->n_transports; k++) {
			if (strcmp(cfg->transports[k].match, t->match) == 0) {
				cfg_error(c, g, "transports: match \"%.64s\" "
				    "appears twice", t->match);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * The files only root reads (config_load, not config_load_unprivileged):
 * each relay's auth_password_file and each tls_ca, by the rules of
 * common/rootfile.h.  Run once every key is read, since the rules need
 * spool, state, mailboxes and user wherever the file puts them.
 */
int
cfg_root_files(struct cfg_ctx *c, const config_setting_t *root)
{
	const config_setting_t *list = config_setting_get_member(root,
	    "transports");
	struct rootfile_rules rules;
	struct safedir_owner o;
	struct config_error ignored;

	if (list == NULL)
		return 0;
	/* No such account guards nothing; the daemon and check-config
	 * stop on its line anyway (config_user_lookup again). */
	if (config_user_lookup(c->cfg, &o, &ignored) < 0)
		memset(&o, 0, sizeof(o));
	config_root_rules(c->cfg, &o, &rules);
	for (size_t i = 0; i < c->cfg->n_transports; i++) {
		const config_setting_t *g = config_setting_get_elem(list,
		    (unsigned)i);
		struct transport_conf *t = &c->cfg->transports[i];
		const config_setting_t *m;
		char *path = NULL;
		int rc;

		if (t->auth_user != NULL && (m = config_setting_get_member(g,
		    "auth_password_file")) != NULL) {
			if (cfg_path(c, m, &path) < 0)
				return -1;
			rc = read_password(c, m, path, t, &rules);
			free(path);
			if (rc < 0)
				return -1;
		}
		if (t->tls_ca != NULL && (m = config_setting_get_member(g,
		    "tls_ca")) != NULL && cfg_tls_ca_read(c, m, t, &rules) < 0)
			return -1;
	}
	return 0;
}

void
cfg_transports_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_transports; i++) {
		struct transport_conf *t = &cfg->transports[i];

		free(t->match);
		free(t->via);
		free(t->host);
		free(t->path);
		free(t->auth_user);
		free(t->tls_ca);
		free(t->tls_ca_pem);
		if (t->auth_password != NULL) {
			explicit_bzero(t->auth_password,
			    strlen(t->auth_password));
			free(t->auth_password);
		}
	}
	free(cfg->transports);
	cfg->transports = NULL;
	cfg->n_transports = 0;
}
