/*
 * Internals shared by the configuration loader's files; not for other
 * modules (they read struct config from config.h).
 *
 *   config.c          config_load(): the key table, top-level keys,
 *                     defaults and the cross-key checks
 *   config_values.c   typed readers for one setting (string, number,
 *                     path, group) and the FILE:LINE error they report
 *   config_listen.c   the network keys: listen, relay_networks, tls, dns
 *   config_transport.c  the transports table (delivery routes)
 *   config_outbound.c   what outbound connections use: source_address
 *                     (delivery and transports), a transport's tls_ca
 *   config_check.c    checks across keys (folders that nest, queue
 *                     timings that contradict), errors and warnings
 *   config_system.c   the loaded config against this machine (user,
 *                     folders), for the daemon and check-config
 *
 * The prefix is cfg_, not config_, because libconfig owns config_*.
 * Every reader returns 0, or -1 after filling c->err through cfg_error().
 */
#ifndef DECORUM_COMMON_CONFIG_PRIV_H
#define DECORUM_COMMON_CONFIG_PRIV_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

/* Parsing context: the libconfig tree, where errors go, and the folder
 * against which relative paths resolve. */
struct cfg_ctx {
	const char *path;
	char *dir;
	struct config *cfg;
	struct config_error *err;
};

/* config_values.c */
void cfg_error(struct cfg_ctx *c, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* cfg_error() with the setting's dotted name and ": " before the text:
 * "timeouts.command: must be a whole number". */
void cfg_key_error(struct cfg_ctx *c, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int cfg_string(struct cfg_ctx *c, const config_setting_t *s,
    const char **out);
int cfg_nonempty(struct cfg_ctx *c, const config_setting_t *s,
    const char **out);
/* cfg_nonempty(), at most max characters, printable ASCII without
 * spaces (a URL, a word); why, when not NULL, says why in the error. */
int cfg_token(struct cfg_ctx *c, const config_setting_t *s, size_t max,
    const char *why, const char **out);
int cfg_number(struct cfg_ctx *c, const config_setting_t *s,
    long long min, long long max, long long *out);
int cfg_unsigned(struct cfg_ctx *c, const config_setting_t *s,
    long long min, long long max, unsigned *out);
/* Member key of group g through cfg_unsigned(); 0 with *out untouched
 * when the key is absent. */
int cfg_member_unsigned(struct cfg_ctx *c, const config_setting_t *g,
    const char *key, long long min, long long max, unsigned *out);
/* Member key of group g, which must be true or false (not 0/1, not a
 * string); 0 with *out untouched when the key is absent. */
int cfg_member_bool(struct cfg_ctx *c, const config_setting_t *g,
    const char *key, bool *out);
/* A string that must be one of names (NULL-terminated): *out is its
 * index.  Otherwise the error is what + ", not \"VALUE\"", so what names
 * the choices: "log_level: must be \"info\" or \"debug\"". */
int cfg_choice(struct cfg_ctx *c, const config_setting_t *s,
    const char *const *names, const char *what, int *out);
int cfg_path(struct cfg_ctx *c, const config_setting_t *s, char **out);
int cfg_need_group(struct cfg_ctx *c, const config_setting_t *s,
    const char *const *allowed);
bool cfg_valid_domain(const char *s, bool need_dot);
bool cfg_valid_address(const char *s);

/* Record where s was written (for config_error_at after the load). */
void cfg_where(struct cfg_ctx *c, const config_setting_t *s,
    struct config_where *w);
/* A warning at s (NULL: the file) in cfg->warnings; past
 * CONFIG_WARNINGS_MAX they are dropped. */
void cfg_warn(struct cfg_ctx *c, const config_setting_t *s,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* config_check.c: the checks across keys, once every key is read. */
int cfg_cross_check(struct cfg_ctx *c, const config_setting_t *root);
/* Drop ".", "..", and repeated or trailing slashes, in place. */
void cfg_clean_path(char *path);

/* config_listen.c: one handler per top-level key. */
int cfg_relay_networks(struct cfg_ctx *c, const config_setting_t *s);
int cfg_listen(struct cfg_ctx *c, const config_setting_t *s);
int cfg_tls(struct cfg_ctx *c, const config_setting_t *g);
int cfg_dns(struct cfg_ctx *c, const config_setting_t *g);

/* config_transport.c: the transports list; then, with root_files, the
 * files it names that only root reads (passwords, tls_ca). */
int cfg_transports(struct cfg_ctx *c, const config_setting_t *s);
int cfg_root_files(struct cfg_ctx *c, const config_setting_t *root);
void cfg_transports_free(struct config *cfg);

/* config_outbound.c: a source_address setting (a string, or a list of
 * one IPv4 and one IPv6 literal) into out; the path of a tls_ca setting
 * into t->tls_ca (cfg_tls_ca), and later its file (or hashed folder)
 * into t->tls_ca_pem and t->tls_ca_len (cfg_tls_ca_read, by rules). */
int cfg_source_address(struct cfg_ctx *c, const config_setting_t *s,
    struct source_address *out);
int cfg_tls_ca(struct cfg_ctx *c, const config_setting_t *s,
    struct transport_conf *t);
struct rootfile_rules;
int cfg_tls_ca_read(struct cfg_ctx *c, const config_setting_t *s,
    struct transport_conf *t, const struct rootfile_rules *rules);

/* config_policy.c: the policy group (checks' actions, exempt mailboxes,
 * abuse_url), its defaults and its memory. */
int cfg_policy(struct cfg_ctx *c, const config_setting_t *g);
void cfg_policy_defaults(struct config *cfg);
void cfg_policy_free(struct config *cfg);
/* "off", "log", "tempfail", "reject", NULL: by enum policy_action. */
extern const char *const *const cfg_policy_action_words;

/* config_dnslist.c: policy.dnsbl and policy.dnswl, their defaults and
 * their memory (called by config_policy.c). */
int cfg_dnsbl(struct cfg_ctx *c, const config_setting_t *g);
int cfg_dnswl(struct cfg_ctx *c, const config_setting_t *g);
void cfg_dnslist_defaults(struct config *cfg);
void cfg_dnslist_free(struct config *cfg);

/* config_greylist.c: the greylist group, its defaults and its memory. */
int cfg_greylist(struct cfg_ctx *c, const config_setting_t *g);
void cfg_greylist_defaults(struct config *cfg);
void cfg_greylist_free(struct config *cfg);

/* config_srs.c: the srs group, its defaults and its memory. */
int cfg_srs(struct cfg_ctx *c, const config_setting_t *g);
void cfg_srs_defaults(struct config *cfg);
void cfg_srs_free(struct config *cfg);

/* config_scan.c: the scan group (content scanners). */
int cfg_scan(struct cfg_ctx *c, const config_setting_t *g);
void cfg_scan_defaults(struct config *cfg);
void cfg_scan_free(struct config *cfg);

/* config_spam.c: the spam group (the folder for mail judged unwanted);
 * no defaults (no folder: the inbox).  Its value lives in struct
 * scan_conf, so cfg_scan_free() releases it with the rest. */
int cfg_spam(struct cfg_ctx *c, const config_setting_t *g);

#endif
