/*
 * `decorum route ADDRESS`: where mail to ADDRESS goes and why, computed by
 * the same route_resolve() the daemon uses at RCPT time and at delivery.
 *
 * Prints the decision, the reason (the whole decision path) and, for each
 * destination, the Maildir folder or the remote domain.  Exit 0 when mail
 * to ADDRESS would be taken (local, or remote: relayed for relay clients
 * and authenticated users), 1 when refused (unknown, unsupported, tables
 * unreadable), 2 on usage or config errors.  Read-only: creates nothing.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "common/bounds.h"
#include "common/config.h"
#include "common/log.h"
#include "route/domains.h"
#include "route/route.h"

static void
route_print(const struct config *cfg, const char *addr,
    const struct route_result *r)
{
	printf("address: %s\n", addr);
	printf("decision: %s\n", route_kind_name(r->kind));
	printf("reason: %s\n", r->reason);
	for (size_t i = 0; i < r->n_dests; i++) {
		const struct route_dest *d = &r->dests[i];

		if (d->kind == ROUTE_LOCAL)
			printf("mailbox: %s/%s/%s/\n", cfg->mailboxes,
			    d->domain, d->local);
		else
			printf("remote: %s@%s (SMTP to the MX of %s)\n",
			    d->local, d->domain, d->domain);
	}
	if (r->kind == ROUTE_REMOTE)
		printf("relay: only for clients in relay_networks and "
		    "authenticated users\n");
}

int
cmd_route(const char *config_path, int argc, char **argv)
{
	struct config cfg;
	struct config_error err;
	struct route_result r;
	struct domains *d;
	int rc;

	if (argc != 2 || argv[1][0] == '\0') {
		fprintf(stderr, "usage: decorum [-c FILE] route ADDRESS\n");
		return 2;
	}
	if (strlen(argv[1]) > SMTP_ADDRESS_MAX + 2) {
		fprintf(stderr, "decorum: address longer than %d octets\n",
		    SMTP_ADDRESS_MAX);
		return 1;
	}
	if (config_load(config_path, &cfg, &err) < 0) {
		config_error_print(&err);
		return 2;
	}
	log_set_level(LOG_LEVEL_WARN);
	d = domains_open(cfg.domains);
	route_resolve(&cfg, d, argv[1], &r);
	route_print(&cfg, argv[1], &r);
	rc = r.kind == ROUTE_LOCAL || r.kind == ROUTE_REMOTE ? 0 : 1;
	route_result_free(&r);
	domains_free(d);
	config_free(&cfg);
	return rc;
}
