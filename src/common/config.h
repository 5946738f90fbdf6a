/*
 * The configuration, parsed once by whoever starts (decorumd's master or
 * the decorum CLI) and then read-only.  The file is libconfig syntax; every
 * key, its default and an example are in docs/configuration.md.
 *
 * config_load() validates everything it can without touching the network:
 * on error it fills err with the file, the line and a message, so
 * `decorum check-config` can print "FILE:LINE: message".
 */
#ifndef DECORUM_COMMON_CONFIG_H
#define DECORUM_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/iprange.h"
#include "common/netaddr.h"

enum listen_role { ROLE_MX, ROLE_SUBMISSION };
enum tls_mode { TLS_MODE_NONE, TLS_MODE_STARTTLS, TLS_MODE_IMPLICIT };

struct listen_conf {
	char *address;			/* as written, for logs */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	enum listen_role role;
	enum tls_mode tls;
};

/* Where a key was written, for problems found after loading: the TLS
 * files, the user account and the folders are checked against the
 * system by the daemon and check-config (config_system.c, tls_config.c).
 * file NULL and line 0: the key was left out and its default applies. */
struct config_where {
	char *file;
	int line;
};

struct tls_cert_conf {
	char *cert;
	char *key;
	struct config_where cert_at, key_at;
};

/* One entry of the transports table (config_transport.c; looked up by
 * route/transport.c): where the mailboxes matching `match` are delivered. */
enum transport_kind {
	TRANSPORT_MAILDIR,	/* "maildir": local Maildir (default for local) */
	TRANSPORT_SMTP,		/* "smtp": MX of the recipient's domain */
	TRANSPORT_RELAY,	/* "relay:[HOST]:PORT" or "relay:HOST:PORT" */
	TRANSPORT_LMTP,		/* "lmtp:HOST:PORT" or "lmtp:unix:PATH" */
};

enum transport_tls {
	TRANSPORT_TLS_MAY,	/* STARTTLS when offered (opportunistic) */
	TRANSPORT_TLS_REQUIRE,	/* never send without TLS */
	TRANSPORT_TLS_VERIFY,	/* TLS with a certificate that chains to a
				 * trusted CA and names the host */
};

/* The local addresses outbound connections bind to, one per family
 * (delivery.source_address, a transport's source_address).  A family
 * whose sin_family / sin6_family is 0 is not set: the kernel chooses. */
struct source_address {
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
};

struct transport_conf {
	char *match;		/* "local@domain", "domain", ".domain" or "*" */
	char *via;		/* as written, for logs and `decorum route` */
	enum transport_kind kind;
	char *host;		/* relay/lmtp host or IP literal, no brackets */
	char *path;		/* lmtp:unix:PATH, else NULL */
	unsigned port;
	bool mx;		/* relay:HOST without brackets: MX lookup of HOST */
	enum transport_tls tls;
	char *auth_user;	/* AUTH PLAIN to a relay, or NULL */
	char *auth_password;	/* read from auth_password_file; wiped on free */
	char *tls_ca;		/* tls_ca (absolute path), or NULL: the system
				 * store */
	char *tls_ca_pem;	/* its certificates, read at load time */
	size_t tls_ca_len;
	struct source_address source;	/* overrides delivery.source_address
					 * for the families it sets */
};

/*
 * The inbound policy (src/policy, docs/policy.md).  Each check's action
 * is one key of the policy group; the checks are named here, in the
 * order their verdicts are weighed, so the loader can refuse a name it
 * does not know.  A new check adds its row to the enum and to
 * config_policy_checks[] (config_policy.c), with its default.
 */
enum policy_action {
	POLICY_OFF,		/* not run, nothing logged */
	POLICY_LOG,		/* run, a refusal is logged and the mail accepted */
	POLICY_TEMPFAIL,	/* a refusal becomes 4xx */
	POLICY_REJECT,		/* the check's own verdict: 5xx, or 4xx when
				 * the check could not decide (DNS trouble) */
};

enum policy_check_id {
	POLICY_CHECK_FCRDNS,		/* "fcrdns": RFC 1912 2.1 */
	POLICY_CHECK_RDNS_DYNAMIC,	/* "rdns_dynamic": pool-like names */
	POLICY_CHECK_HELO_SYNTAX,	/* "helo.syntax": an FQDN or a literal */
	POLICY_CHECK_HELO_RESOLVES,	/* "helo.resolves": it has A/AAAA */
	POLICY_CHECK_HELO_MATCHES_IP,	/* "helo.matches_ip": the client's among them */
	POLICY_CHECK_DNSBL,		/* "dnsbl": DNS block lists (a group) */
	POLICY_CHECK_DNSWL,		/* "dnswl": DNS allow lists (a group) */
	POLICY_CHECKS
};

/* The key of each check in the policy group, by enum policy_check_id. */
extern const char *const config_policy_checks[POLICY_CHECKS];
/* "off", "log", "tempfail", "reject", by enum policy_action. */
const char *config_policy_action_name(enum policy_action a);

#define POLICY_EXEMPT_MAX	32	/* entries of policy.exempt */
#define POLICY_ABUSE_URL_MAX	200	/* octets of policy.abuse_url */

/*
 * DNS lists (RFC 5782), policy.dnsbl and policy.dnswl: each list is a
 * zone asked for the client's reversed address.  A zone leaves room in
 * a 253-octet name for the 64 octets of an IPv6 client's nibbles.
 */
#define DNSLIST_MAX		16	/* lists in policy.dnsbl, in policy.dnswl */
#define DNSLIST_ZONE_MAX	180	/* octets of a list's zone */
#define DNSBL_WEIGHT_MAX	100	/* a list's weight */
#define DNSBL_THRESHOLD_MAX	1000	/* policy.dnsbl.threshold */
#define DNSLIST_TIMEOUT_MAX	60	/* seconds: policy.dnsbl/dnswl.timeout */
#define DEFAULT_DNSLIST_TIMEOUT	5
#define DEFAULT_DNSBL_THRESHOLD	1

struct dnslist_conf {
	char *zone;		/* lower case, no root dot */
	unsigned weight;	/* dnsbl: added to the sum when listed */
	struct iprange_set codes;	/* dnsbl: the answers that count;
					 * n == 0: any in 127.0.0.0/8 */
	unsigned min_level;	/* dnswl: the least trust level (last octet) */
};

struct dnslist_group {
	struct dnslist_conf *lists;	/* none: nothing is asked */
	size_t n_lists;
	unsigned threshold;	/* dnsbl: the summed weight that refuses */
	unsigned timeout;	/* seconds for all the group's queries */
};

struct policy_conf {
	enum policy_action action[POLICY_CHECKS];
	char **exempt;		/* local parts, lower case: postmaster... */
	size_t n_exempt;
	char *abuse_url;	/* NULL: none */
	struct dnslist_group dnsbl;	/* its action: action[POLICY_CHECK_DNSBL] */
	struct dnslist_group dnswl;	/* no action: it only exempts */
};

/*
 * Greylisting (src/policy/greylist.c, src/greylist, docs/policy.md): the
 * greylist group.  action is POLICY_OFF, POLICY_LOG or POLICY_TEMPFAIL.
 */
#define GREYLIST_ALLOW_DOMAINS_MAX	256	/* entries of allow_domains */
#define GREYLIST_BACKEND_MAX		200	/* octets of backend */

struct greylist_conf {
	enum policy_action action;	/* default POLICY_OFF */
	char *backend;			/* "sqlite:" or "redis://..." */
	unsigned delay;			/* seconds: a retry passes after it */
	unsigned retry_window;		/* seconds: ...and until then */
	unsigned lifetime;		/* seconds a passed record lives unused */
	unsigned auto_allow;		/* passed triplets allow the network; 0 never */
	unsigned prefix_v4, prefix_v6;	/* a triplet's client network */
	char **allow_domains;		/* lower case; FCrDNS names in or under */
	size_t n_allow_domains;
	bool trouble_tempfail;		/* on_trouble = "tempfail" (not "accept") */
};

/* alias_fanout_warn's default: past ten foreign targets an alias is a
 * list, and lists belong in list software (docs/delivery.md). */
#define DEFAULT_ALIAS_FANOUT_WARN	10

/*
 * The Sender Rewriting Scheme (src/srs, docs/forwarding.md): the srs
 * group.  Off (enabled false) when the group is absent.
 */
#define SRS_CONF_MAX_AGE_MAX	1000	/* days: below the 1024-day stamp wrap */

struct srs_keys;

struct srs_conf {
	bool enabled;			/* the srs group is present */
	char *domain;			/* the SRS addresses' domain */
	char *key_file;			/* first line signs, every line verifies */
	unsigned max_age;		/* days an SRS0 address stays valid */
	struct config_where key_file_at;
	/* The secrets, read from key_file by the program that loaded the
	 * config (decorumd as root, before the children fork; the CLI),
	 * which owns them: NULL until then, and config_free leaves them. */
	const struct srs_keys *keys;
};

/*
 * The scan group (docs/scanning.md): content scanners asked at the end
 * of DATA, before the reply.  Loaded by config_scan.c.
 */
#define SCAN_MILTERS_MAX	8	/* entries of scan.milters */
#define SCAN_NAME_MAX		32	/* octets of a milter's name */
#define SCAN_TIMEOUT_MAX	3600	/* seconds, any scanner timeout */
#define SCAN_FOLDER_MAX		64	/* octets of spam.folder */

/* What a scanner that cannot be asked (down, slow, broken) means. */
enum scan_on_failure {
	SCAN_FAIL_TEMPFAIL,	/* "tempfail": 451 4.7.1, the client retries */
	SCAN_FAIL_ACCEPT,	/* "accept": the message goes on unscanned */
};

/* What a milter's refusal is, for the exempt mailboxes (postmaster,
 * abuse): spam is delivered flagged to them, malware never is. */
enum scan_kind {
	SCAN_KIND_SPAM,		/* "spam" (rspamd, spamass-milter) */
	SCAN_KIND_MALWARE,	/* "malware" (clamav-milter) */
	SCAN_KIND_OTHER,	/* "other" (OpenDKIM, OpenDMARC): refusals stand */
};

/* Where a scanner listens: "inet:HOST:PORT" (HOST an IP address,
 * brackets allowed for IPv6) or "unix:/PATH". */
struct scan_endpoint {
	char *address;		/* as written, for logs */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/* Parses text into ep's addr (ep->address untouched): 0, or -1 with
 * the reason in err (common/scan_endpoint.c, pure). */
int scan_endpoint_parse(const char *text, struct scan_endpoint *ep,
    char *err, size_t errlen);

struct milter_conf {
	char *name;		/* for logs; unique */
	struct scan_endpoint ep;
	enum scan_kind kind;
	enum scan_on_failure default_action;
	unsigned connect_timeout;	/* seconds to connect and negotiate */
	unsigned command_timeout;	/* seconds for each reply before EOB */
	unsigned eom_timeout;		/* seconds for the end-of-body verdict */
	/* Keep the connection for the next message (SMFIC_QUIT_NC), for a
	 * milter that resets on it whatever its last reply (rspamd; not
	 * libmilter after a final verdict); false: one per message. */
	bool reuse;
};

struct rspamd_conf {
	bool enabled;		/* the scan.rspamd group is present */
	struct scan_endpoint ep;	/* inet only (its HTTP protocol) */
	unsigned timeout;	/* seconds for the whole request */
	enum scan_on_failure default_action;
};

struct clamd_conf {
	bool enabled;		/* the scan.clamd group is present */
	struct scan_endpoint ep;
	unsigned timeout;	/* seconds for the whole scan */
	enum scan_on_failure default_action;
};

struct scan_conf {
	struct milter_conf *milters;	/* asked in this order */
	size_t n_milters;
	struct rspamd_conf rspamd;
	struct clamd_conf clamd;
	/* Octets: a larger message is not scanned (logged); 0: the
	 * message size limit. */
	size_t max_size;
	/* scan.score_authenticated: ask the spam scanners (rspamd, milters
	 * of kind "spam") about authenticated submission too (rspamd then
	 * applies its user settings, the login sent as "User:"); malware
	 * scanning of it is never skipped. */
	bool score_authenticated;
	/* spam.folder: the Maildir++ folder (".Junk": "<maildir>/.Junk/")
	 * for mail accepted but flagged as spam; NULL: the inbox, flagged
	 * by its header only. */
	char *spam_folder;
};

struct config {
	char *path;			/* the file it was loaded from */
	char *hostname;			/* our FQDN */
	char *spool;			/* queue directory */
	char *state;			/* state directory (sqlite etc.) */
	char *domains;			/* one folder per local domain */
	char *mailboxes;		/* <mailboxes>/<domain>/<local>/ Maildirs */
	char *postmaster;		/* where postmaster/abuse/security go */
	char *user;			/* unprivileged account, NULL: keep ours */
	char *recipient_delimiter;	/* "+" by default, "" to disable */

	struct netmask *relay_networks;
	size_t n_relay_networks;

	struct listen_conf *listen;
	size_t n_listen;

	char *tls_cert;			/* NULL when no tls group */
	char *tls_key;
	struct tls_cert_conf *tls_sni;	/* tls.sni: extra certificates by SNI */
	size_t n_tls_sni;

	unsigned auth_max_failures;	/* auth.max_failures: then 421 and block */
	unsigned auth_block_time;	/* auth.block_time, seconds */
	bool auth_allow_authzid;	/* auth.allow_authzid: may act as another user */

	bool submission_check_from;	/* submission.check_from_header */
	bool submission_hide_ip;	/* submission.hide_client_ip */

	char *dns_nameserver;		/* "IP@PORT" or NULL: system resolver */
	unsigned dns_client_timeout;	/* dns.client_timeout, seconds */
	unsigned dns_delivery_timeout;	/* dns.delivery_timeout, seconds */

	unsigned smtp_port;		/* delivery.smtp_port, default 25 */
	unsigned out_max_connections;	/* delivery.max_connections */
	unsigned out_dest_concurrency;	/* delivery.destination_concurrency */
	unsigned out_connect_timeout;	/* delivery.connect_timeout, seconds */
	unsigned out_cache_time;	/* delivery.connection_cache_time, s */
	unsigned out_reuse_limit;	/* delivery.connection_reuse_limit */
	/* delivery.timeouts: RFC 5321 4.5.3.2, seconds */
	unsigned out_timeout_greeting, out_timeout_command;
	unsigned out_timeout_data_init, out_timeout_data_block;
	unsigned out_timeout_data_end;
	struct source_address out_source;	/* delivery.source_address */

	struct transport_conf *transports;	/* in file order */
	size_t n_transports;

	size_t max_message_size;	/* octets, SIZE extension */
	unsigned max_recipients;	/* per message */
	unsigned max_errors;		/* per session, then 421 */
	unsigned max_hops;		/* Received: fields, then 554 5.4.6 */
	/* check-config warns about an alias with more foreign targets
	 * than this (a group forward: mailing list software's job); 0:
	 * never. */
	unsigned alias_fanout_warn;
	unsigned max_connections;	/* total */
	unsigned max_connections_per_ip;	/* per client network */
	/* Admission control (smtpd/admission.h): the client network is the
	 * address cut to these prefixes; connections per minute per
	 * network (0: no limit); NOOP/RSET/VRFY/HELP/unknown commands per
	 * session; seconds before the 220 (0: none); the command and
	 * handshake timeout while over 80% of max_connections are in use. */
	unsigned client_prefix_v4, client_prefix_v6;
	unsigned max_connection_rate;
	unsigned junk_command_limit;
	unsigned greet_delay;
	unsigned stress_timeout;

	unsigned timeout_command;	/* seconds, waiting for a command */
	unsigned timeout_data;		/* seconds, between data blocks */

	unsigned retry_min;		/* queue.retry_min, seconds */
	unsigned retry_max;		/* queue.retry_max, seconds */
	unsigned queue_lifetime;	/* queue.lifetime, seconds */
	unsigned delay_warning;		/* queue.delay_warning, s; 0: never */
	unsigned local_concurrency;	/* queue.local_concurrency */

	struct policy_conf policy;	/* the policy group */
	struct greylist_conf greylist;	/* the greylist group */
	struct srs_conf srs;		/* the srs group */
	struct scan_conf scan;		/* the scan group */

	bool debug;			/* log_level = "debug" */

	/* Where the keys checked against the system were written. */
	struct config_where spool_at, state_at, mailboxes_at, user_at;
	struct config_where domains_at;
	struct config_where tls_cert_at, tls_key_at;
	/* Contradictions that do not stop the daemon (queue.lifetime below
	 * queue.retry_min, ...): check-config prints them as
	 * "FILE:LINE: warning: ...", the daemon logs them.  At most
	 * CONFIG_WARNINGS_MAX. */
	struct config_error *warnings;
	size_t n_warnings;
};

#define CONFIG_WARNINGS_MAX	16

struct config_error {
	char file[256];
	int line;			/* 0 when not tied to a line */
	char message[256];
};

/* Returns 0 and fills cfg, or -1 and fills err (cfg is then empty). */
int config_load(const char *path, struct config *cfg, struct config_error *err);
/*
 * The same for commands that never deliver (sendmail, mailq, queue,
 * route, user): the files only the daemon reads, as root, are not opened
 * (a relay's auth_password_file, a transport's tls_ca), so whoever may
 * read the config may run them.  Their paths are checked for syntax; the
 * fields read from them (auth_password, tls_ca_pem) stay NULL.
 */
int config_load_unprivileged(const char *path, struct config *cfg,
    struct config_error *err);
void config_free(struct config *cfg);
/* Print err to stderr as "FILE:LINE: message" (or "FILE: message"). */
void config_error_print(const struct config_error *err);
/* The same for any config report (line 0: none), every caller's one
 * way out: file and message (at most CONFIG_PRINT_MAX bytes shown) are
 * escaped (log_safe_text), so no text in them can add a line. */
#define CONFIG_PRINT_MAX	1024
void config_print(const char *file, int line, const char *message);

/* err = "FILE:LINE: message" for the key written at w (the config file
 * itself, line 0, when w is NULL or the key was left out). */
void config_error_at(struct config_error *err, const struct config *cfg,
    const struct config_where *w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Each warning to stderr as "FILE:LINE: warning: message". */
void config_warnings_print(const struct config *cfg);

/*
 * Checks of a loaded config against this machine, shared by decorumd's
 * master (before any port is open) and `decorum check-config`, so both
 * stop on the same problems with the same FILE:LINE (config_system.c).
 */
struct safedir_owner;

/* `user`: the account must exist and must not be root.  0 and o filled
 * (o->guard false when no user is set, or when we are not root and so
 * cannot switch to it), or -1 and err at the user line. */
int config_user_lookup(const struct config *cfg, struct safedir_owner *o,
    struct config_error *err);
/* What config_folders_prepare() changed (or, checking only, would
 * change) in an existing folder: what is "spool", "state" or
 * "mailboxes", change a phrase such as "mode 0777 -> 0700". */
typedef void config_folder_report(void *arg, const struct config_where *w,
    const char *what, const char *path, const char *change);
/* spool, state, mailboxes: walk each by the rules of common/safedir.h.
 * create: make them and give them to o (the master); otherwise only
 * check (check-config).  report (may be NULL) hears of every owner or
 * mode change of a folder that existed.  0, or -1 and err at the key of
 * the first folder that is refused. */
int config_folders_prepare(const struct config *cfg,
    const struct safedir_owner *o, bool create,
    config_folder_report *report, void *arg, struct config_error *err);

/* domains: root's tree, never `user`'s (common/safedir.h, kept
 * folders): the path to it by the rules of the other folders; it, each
 * folder in it and each file in those owned by root (or the caller),
 * writable by none of o's identities nor everyone, and no symbolic link
 * (hidden entries, ours, are left out).  A missing folder is fine.  0,
 * or -1 and err at the domains line. */
int config_domains_check(const struct config *cfg,
    const struct safedir_owner *o, struct config_error *err);

/* The rules of common/rootfile.h for the files root reads for the
 * daemon (TLS keys, relay passwords, tls_ca): apart from spool, state
 * and mailboxes, and out of o's reach (o may be NULL: only apart). */
struct rootfile_rules;
void config_root_rules(const struct config *cfg,
    const struct safedir_owner *o, struct rootfile_rules *r);

/* The SRS key file (srs.key_file), opened as root by the rules above
 * (o may be NULL), for decorumd at start-up and check-config alike: a
 * descriptor for srs_keyfile_read(), or -1 and err at the key_file
 * line. */
int config_srs_key_open(const struct config *cfg,
    const struct safedir_owner *o, struct config_error *err);

/* Is the client address in relay_networks? */
bool config_is_relay_client(const struct config *cfg, const struct sockaddr *sa);

#endif
