/*
 * Configuration of the network side: listen (addresses, roles, TLS modes),
 * relay_networks, the tls key pair (and the extra pairs chosen by SNI)
 * and the dns forwarder.  See config.h
 * for the fields and docs/configuration.md for the syntax.
 *
 * Called by config.c's key table while a file is loaded.  Addresses are
 * parsed with netaddr.c, never resolved: no DNS at load time.  The TLS
 * files are opened (and closed) once, so a missing or unreadable key is
 * reported by name now rather than at the first STARTTLS.
 * Invariants: no two listeners share an address; n_listen and
 * n_relay_networks and n_tls_sni count only entries filled completely,
 * so config_free() is safe after an error half-way through a list.
 */
#include "common/config_priv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xmalloc.h"

int
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

static int
cfg_listen_one(struct cfg_ctx *c, const config_setting_t *g, size_t idx)
{
	static const char *const keys[] = { "address", "role", "tls", NULL };
	static const char *const roles[] = { "mx", "submission", NULL };
	static const char *const modes[] = { "none", "starttls", "implicit",
	    NULL };
	struct listen_conf *l = &c->cfg->listen[idx];
	const config_setting_t *s;
	const char *v;
	int choice;

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
		if (cfg_choice(c, s, roles, "listen: role must be \"mx\" or "
		    "\"submission\"", &choice) < 0)
			return -1;
		l->role = choice == 0 ? ROLE_MX : ROLE_SUBMISSION;
	}
	l->tls = TLS_MODE_NONE;
	if ((s = config_setting_get_member(g, "tls")) != NULL) {
		if (cfg_choice(c, s, modes, "listen: tls must be \"none\", "
		    "\"starttls\" or \"implicit\"", &choice) < 0)
			return -1;
		l->tls = choice == 0 ? TLS_MODE_NONE : choice == 1 ?
		    TLS_MODE_STARTTLS : TLS_MODE_IMPLICIT;
	}
	return 0;
}

int
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
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		cfg_key_error(c, s, "cannot read %.160s: %s", path,
		    strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* One cert/key pair of group g, both required and readable.  what names
 * the group in the "needs both" error ("tls", "tls.sni[0]"). */
static int
cfg_tls_pair(struct cfg_ctx *c, const config_setting_t *g, const char *what,
    struct tls_cert_conf *out)
{
	const config_setting_t *cert = config_setting_get_member(g, "cert");
	const config_setting_t *key = config_setting_get_member(g, "key");

	if (cert == NULL || key == NULL) {
		cfg_error(c, g, "%s: needs both cert and key", what);
		return -1;
	}
	if (cfg_path(c, cert, &out->cert) < 0 ||
	    cfg_readable(c, cert, out->cert) < 0 ||
	    cfg_path(c, key, &out->key) < 0 ||
	    cfg_readable(c, key, out->key) < 0)
		return -1;
	/* For the content checks after the load (tls/tls_config.c). */
	cfg_where(c, cert, &out->cert_at);
	cfg_where(c, key, &out->key_at);
	return 0;
}

/* tls.sni: a list of { cert; key; } groups, each chosen by the names in
 * its certificate (the TLS module reads them). */
static int
cfg_tls_sni(struct cfg_ctx *c, const config_setting_t *s)
{
	static const char *const keys[] = { "cert", "key", NULL };
	struct config *cfg = c->cfg;
	int n;

	if (!config_setting_is_list(s)) {
		cfg_error(c, s, "tls.sni: must be a list of groups, e.g. "
		    "( { cert = \"other.pem\"; key = \"other.key\"; } )");
		return -1;
	}
	n = config_setting_length(s);
	cfg->tls_sni = xcalloc((size_t)n + 1, sizeof(*cfg->tls_sni));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(s,
		    (unsigned)i);
		struct tls_cert_conf pair = { 0 };
		char what[32];
		int rc;

		if (cfg_need_group(c, g, keys) < 0)
			return -1;
		snprintf(what, sizeof(what), "tls.sni[%d]", i);
		rc = cfg_tls_pair(c, g, what, &pair);
		if (rc < 0) {
			free(pair.cert);
			free(pair.key);
			free(pair.cert_at.file);
			free(pair.key_at.file);
			return -1;
		}
		cfg->tls_sni[cfg->n_tls_sni++] = pair;
	}
	return 0;
}

int
cfg_tls(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "cert", "key", "sni", NULL };
	struct tls_cert_conf pair = { 0 };
	const config_setting_t *sni;
	int rc;

	if (cfg_need_group(c, g, keys) < 0)
		return -1;
	rc = cfg_tls_pair(c, g, "tls", &pair);
	c->cfg->tls_cert = pair.cert;
	c->cfg->tls_key = pair.key;
	c->cfg->tls_cert_at = pair.cert_at;
	c->cfg->tls_key_at = pair.key_at;
	if (rc < 0)
		return -1;
	if ((sni = config_setting_get_member(g, "sni")) != NULL)
		return cfg_tls_sni(c, sni);
	return 0;
}

/* "IP" or "IP@PORT", as libunbound's ub_ctx_set_fwd takes it. */
int
cfg_dns(struct cfg_ctx *c, const config_setting_t *g)
{
	static const char *const keys[] = { "nameserver", "client_timeout",
	    "delivery_timeout", NULL };
	const config_setting_t *s;
	unsigned char tmp[16];
	char ip[64];
	const char *v, *at;

	if (cfg_need_group(c, g, keys) < 0 ||
	    cfg_member_unsigned(c, g, "client_timeout", 1, 300,
	    &c->cfg->dns_client_timeout) < 0 ||
	    cfg_member_unsigned(c, g, "delivery_timeout", 1, 300,
	    &c->cfg->dns_delivery_timeout) < 0)
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
