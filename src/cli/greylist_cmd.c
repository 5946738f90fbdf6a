/*
 * `decorum [-c FILE] greylist list | allow NETWORK | purge`: the
 * operator's view of the greylist (docs/policy.md "Greylisting") in the
 * store greylist.backend names, through store.h's admin functions.
 *
 *   list            every network entry, then every triplet, one line
 *                   each, key=value, times in UTC
 *   allow NETWORK   every triplet from NETWORK passes for
 *                   greylist.lifetime (a partner's servers, say)
 *   purge           removes what expired (the smtpd also does it hourly)
 *
 * NETWORK is an address or a network, IPv4 or IPv6; it is cut to the
 * prefix the greylist counts clients by (greylist.network_v4/_v6,
 * common/netkey.h), so "192.0.2.77" allows 192.0.2.0/24; a prefix
 * other than that one is refused (no entry could ever match it).
 *
 * Exit 0 done, 1 failed (config, store), 2 usage.  Run as root with
 * `user` set, it becomes that account first (runas.h), so the database
 * files it creates are the daemon's.  Trusts the config; what the store
 * holds came from clients and is printed escaped (log_safe).
 */
#include "cli/commands.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/runas.h"
#include "common/config.h"
#include "common/log.h"
#include "common/netkey.h"
#include "greylist/store.h"

static int
greylist_usage(void)
{
	fprintf(stderr, "usage: decorum [-c FILE] greylist list | allow NETWORK | "
	    "purge\n");
	return 2;
}

static void
utc(time_t t, char *out, size_t outlen)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

static void
print_entry(void *arg, const struct greylist_entry *e)
{
	char net[LOG_SAFE_SIZE(GREYLIST_NET_MAX)];
	char a[32], b[32];

	(void)arg;
	log_safe(e->t.net, net, sizeof(net));
	if (e->is_net) {
		utc(e->until, a, sizeof(a));
		printf("network %s passes=%u allowed=%s until=%s\n", net, e->passes,
		    e->allowed ? "yes" : "no", a);
	} else {
		char s[LOG_SAFE_SIZE(GREYLIST_ADDR_MAX)];
		char r[LOG_SAFE_SIZE(GREYLIST_ADDR_MAX)];

		utc(e->r.first, a, sizeof(a));
		utc(e->r.last, b, sizeof(b));
		printf("triplet %s <%s> <%s> first=%s last=%s passed=%s\n", net,
		    log_safe(e->t.sender, s, sizeof(s)),
		    log_safe(e->t.rcpt, r, sizeof(r)), a, b,
		    e->r.passed ? "yes" : "no");
	}
}

/* "192.0.2.77", "192.0.2.0/24", "2001:db8::/64" into the store's key
 * form at the configured prefix; -1 after a message on stderr. */
static int
parse_network(const struct config *cfg, const char *arg, char *out, size_t outlen)
{
	const struct netkey_prefixes want = { cfg->greylist.prefix_v4,
	    cfg->greylist.prefix_v6 };
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char ip[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(arg, '/');
	size_t iplen = slash != NULL ? (size_t)(slash - arg) : strlen(arg);
	unsigned prefix;
	struct netkey k;

	memset(&ss, 0, sizeof(ss));
	if (iplen == 0 || iplen >= sizeof(ip))
		goto bad;
	memcpy(ip, arg, iplen);
	ip[iplen] = '\0';
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		ss.ss_family = AF_INET;
		prefix = want.v4;
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		ss.ss_family = AF_INET6;
		prefix = want.v6;
	} else {
		goto bad;
	}
	if (slash != NULL) {
		char *end;
		unsigned long n = strtoul(slash + 1, &end, 10);

		if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || n != prefix) {
			fprintf(stderr, "decorum: greylist: \"%s\": the greylist "
			    "counts %s clients by /%u networks (greylist.network_%s); "
			    "give an address or a /%u\n", arg,
			    ss.ss_family == AF_INET ? "IPv4" : "IPv6", prefix,
			    ss.ss_family == AF_INET ? "v4" : "v6", prefix);
			return -1;
		}
	}
	netkey_from((const struct sockaddr *)&ss, &want, &k);
	netkey_format(&k, out, outlen);
	return 0;
bad:
	fprintf(stderr, "decorum: greylist: \"%.80s\" is no IPv4 or IPv6 address "
	    "or network\n", arg);
	return -1;
}

static int
greylist_run(const struct config *cfg, char **argv)
{
	const struct greylist_conf *g = &cfg->greylist;
	const struct greylist_params p = { g->delay, g->retry_window,
	    g->lifetime, g->auto_allow };
	char err[512], net[GREYLIST_NET_MAX];
	unsigned removed;
	int rc;

	if (strcmp(argv[1], "list") == 0) {
		rc = greylist_admin_list(g->backend, cfg->state, print_entry, NULL,
		    err, sizeof(err));
	} else if (strcmp(argv[1], "purge") == 0) {
		rc = greylist_admin_purge(g->backend, cfg->state, &p, time(NULL),
		    &removed, err, sizeof(err));
		if (rc == 0)
			printf("removed %u\n", removed);
	} else {
		if (parse_network(cfg, argv[2], net, sizeof(net)) < 0)
			return 1;
		rc = greylist_admin_allow(g->backend, cfg->state, &p, net,
		    time(NULL), err, sizeof(err));
		if (rc == 0)
			printf("allowed %s for %u seconds\n", net, g->lifetime);
	}
	if (rc < 0) {
		char safe[LOG_SAFE_SIZE(512)];

		fprintf(stderr, "decorum: greylist: %s\n",
		    log_safe_text(err, safe, sizeof(safe)));
		return 1;
	}
	return 0;
}

int
cmd_greylist(const char *config_path, int argc, char **argv)
{
	struct config cfg;
	struct config_error cerr;
	int rc;

	if (argc < 2)
		return greylist_usage();
	if (strcmp(argv[1], "allow") == 0 ? argc != 3 :
	    (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "purge") != 0) ||
	    argc != 2)
		return greylist_usage();
	if (config_load_unprivileged(config_path, &cfg, &cerr) < 0) {
		config_error_print(&cerr);
		return 1;
	}
	if (runas_spool_owner(&cfg, "decorum") < 0) {
		config_free(&cfg);
		return 1;
	}
	rc = greylist_run(&cfg, argv);
	config_free(&cfg);
	return rc;
}
