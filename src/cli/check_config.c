/*
 * `decorum check-config`: load the config file and every domain folder the
 * way the daemon will, and name each problem as FILE:LINE: message.
 *
 * Exit 0 and "FILE: ok" on stdout when everything is valid; otherwise
 * every problem on stderr and exit 1.  Runs no network I/O; reads the
 * config, the TLS files (readable?) and the domains folder.  The config
 * error stops the check (nothing else can be trusted after it); the
 * domain tables are all checked so one run lists every problem.
 */
#include <stdio.h>

#include "cli/commands.h"
#include "common/config.h"
#include "common/log.h"
#include "route/domains.h"
#include "route/route.h"

static void
check_report(void *arg, const char *file, int line, const char *message)
{
	int *count = arg;

	if (line > 0)
		fprintf(stderr, "%s:%d: %s\n", file, line, message);
	else
		fprintf(stderr, "%s: %s\n", file, message);
	(*count)++;
}

/* RFC 5321 4.5.1: postmaster must work, so its route must exist.  Only
 * checked when the tables themselves are fine. */
static void
check_postmaster(const struct config *cfg, int *problems)
{
	struct domains *d;
	struct route_result r;
	char msg[700];

	if (*problems != 0)
		return;
	d = domains_open(cfg->domains);
	route_resolve(cfg, d, "postmaster", &r);
	if (r.kind != ROUTE_LOCAL) {
		snprintf(msg, sizeof(msg), "postmaster %s cannot receive mail: "
		    "%s", cfg->postmaster, r.reason);
		check_report(problems, cfg->path, 0, msg);
	}
	route_result_free(&r);
	domains_free(d);
}

int
cmd_check_config(const char *config_path, int argc, char **argv)
{
	struct config cfg;
	struct config_error err;
	int problems = 0;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: decorum [-c FILE] check-config\n");
		return 2;
	}
	if (config_load(config_path, &cfg, &err) < 0) {
		check_report(&problems, err.file, err.line, err.message);
		return 1;
	}
	log_set_level(LOG_LEVEL_WARN);
	domains_check(cfg.domains, cfg.postmaster, check_report, &problems);
	check_postmaster(&cfg, &problems);
	if (problems == 0)
		printf("%s: ok\n", config_path);
	config_free(&cfg);
	return problems == 0 ? 0 : 1;
}
