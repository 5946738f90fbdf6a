/*
 * `decorum check-config`: load the config file and every domain folder the
 * way the daemon will, check the config against this machine the way the
 * daemon does before it opens a port, and name each problem as
 * FILE:LINE: message.
 *
 * Exit 0 and "FILE: ok" on stdout when everything is valid (warnings,
 * "FILE:LINE: warning: ...", may still be printed on stderr); otherwise
 * every problem on stderr and exit 1.  Runs no network I/O; reads the
 * config, the TLS certificates and keys (parsed, and each key matched to
 * its certificate: tls/tls_config.c, the master's own loader), the user
 * account, the folders on the way to spool, state and mailboxes (walked
 * by the master's rules, changing nothing: common/config_system.c), the
 * domains tree (root's, out of the daemon's account's reach: the same
 * file) and the domains' tables.  Run it as root, as the daemon runs, or the key
 * files may be unreadable and the folder rules are judged for the
 * invoking account.  The config error stops the check (nothing else can
 * be trusted after it); the other checks all run so one run lists every
 * problem.
 */
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/config.h"
#include "common/log.h"
#include "common/safedir.h"
#include "route/domains.h"
#include "route/route.h"
#include "srs/srs_keyfile.h"
#include "tls/tls.h"

static void
check_report(void *arg, const char *file, int line, const char *message)
{
	int *count = arg;

	config_print(file, line, message);
	(*count)++;
}

/* A warning: printed, not counted (exit 0 stays possible). */
static void
check_warn(void *arg, const char *file, int line, const char *message)
{
	(void)arg;
	config_print(file, line, message);
}

static void
check_error(int *problems, const struct config_error *err)
{
	check_report(problems, err->file, err->line, err->message);
}

/* A folder the daemon would change: worth knowing, not an error. */
static void
check_folder_note(void *arg, const struct config_where *w, const char *what,
    const char *path, const char *change)
{
	const struct config *cfg = arg;
	char text[CONFIG_PRINT_MAX];

	snprintf(text, sizeof(text), "warning: %s %s: the daemon will change "
	    "it: %s", what, path, change);
	config_print(w->file != NULL ? w->file : cfg->path, w->line, text);
}

/* What the master checks before it opens a port (master_prepare). */
static void
check_system(const struct config *cfg, int *problems)
{
	struct safedir_owner owner;
	struct tls_keypair *kps;
	struct config_error err;
	bool user_ok;
	size_t n;

	/* The rules for the TLS files and the folders depend on who the
	 * workers are; without that account, the TLS files are still read
	 * by the rest of the rules. */
	if (!(user_ok = config_user_lookup(cfg, &owner, &err) == 0))
		check_error(problems, &err);
	if (tls_config_load(cfg, user_ok ? &owner : NULL, &kps, &n, &err) < 0)
		check_error(problems, &err);
	else
		tls_keypairs_free(kps, n);
	if (!user_ok)
		return;
	if (config_folders_prepare(cfg, &owner, false, check_folder_note,
	    (void *)cfg, &err) < 0)
		check_error(problems, &err);
	if (config_domains_check(cfg, &owner, &err) < 0)
		check_error(problems, &err);
}

/* The SRS key file, as decorumd reads it at start-up (as root, out of
 * the workers' reach: config_srs_key_open), with the same FILE:LINE. */
static void
check_srs(const struct config *cfg, int *problems)
{
	struct safedir_owner owner;
	struct config_error err;
	struct srs_keys keys;
	char why[512];
	bool user_ok;
	int fd;

	if (!cfg->srs.enabled)
		return;
	user_ok = config_user_lookup(cfg, &owner, &err) == 0;
	if ((fd = config_srs_key_open(cfg, user_ok ? &owner : NULL,
	    &err)) < 0) {
		check_error(problems, &err);
		return;
	}
	if (srs_keyfile_read(fd, cfg->srs.key_file, &keys, why,
	    sizeof(why)) < 0)
		check_report(problems, cfg->srs.key_file_at.file != NULL ?
		    cfg->srs.key_file_at.file : cfg->path,
		    cfg->srs.key_file_at.line, why);
	srs_keys_clear(&keys);
	close(fd);
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
	config_warnings_print(&cfg);
	check_system(&cfg, &problems);
	check_srs(&cfg, &problems);
	domains_check(cfg.domains, &cfg, check_report, check_warn, &problems);
	check_postmaster(&cfg, &problems);
	if (problems == 0)
		printf("%s: ok\n", config_path);
	config_free(&cfg);
	return problems == 0 ? 0 : 1;
}
