/*
 * decorumd: the mail server daemon.
 *
 *   decorumd [-c FILE] [-f]
 *   decorumd -h | --help        usage on stdout, exit 0
 *   decorumd -V | --version
 *
 * Loads and validates the configuration (exiting with FILE:LINE: message
 * when it is wrong), then hands over to the master (master.c).  -f keeps
 * it in the foreground with logs on stderr; otherwise it detaches and
 * logs to syslog (facility mail).
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/safedir.h"
#include "daemon/master.h"
#include "srs/srs_keyfile.h"

#define DEFAULT_CONFIG "/etc/decorum/decorum.conf"

/* On request (-h) on stdout with status 0; after a mistake on stderr
 * with status 2, so a script sees the difference. */
static _Noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: decorumd [-c FILE] [-f]\n"
	    "  -c FILE  configuration (default $DECORUM_CONFIG, else "
	    DEFAULT_CONFIG ")\n"
	    "  -f       stay in the foreground, log to stderr\n"
	    "  -h       this help;  -V  the version\n");
	exit(status);
}

/*
 * The SRS secrets, read as root by the rules of common/rootfile.h (the
 * account the children run as must not be able to choose what root
 * reads for them), before any child forks: both children inherit them.
 * A key file that cannot be read stops the start with its FILE:LINE,
 * as a TLS key does.  Rotation takes a restart, as with postsrsd.
 */
static int
load_srs_keys(struct config *cfg, struct srs_keys *keys)
{
	struct safedir_owner o;
	struct config_error err;
	char why[512];
	int fd, rc;

	if (!cfg->srs.enabled)
		return 0;
	/* No such account: the master stops on it with its own message. */
	if (config_user_lookup(cfg, &o, &err) < 0)
		return 0;
	if ((fd = config_srs_key_open(cfg, &o, &err)) < 0) {
		config_error_print(&err);
		return -1;
	}
	rc = srs_keyfile_read(fd, cfg->srs.key_file, keys, why, sizeof(why));
	close(fd);
	if (rc < 0) {
		config_print(cfg->srs.key_file_at.file,
		    cfg->srs.key_file_at.line, why);
		return -1;
	}
	cfg->srs.keys = keys;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = getenv("DECORUM_CONFIG");
	bool foreground = false;
	struct config cfg;
	struct config_error err;
	static struct srs_keys srs_keys;
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, status;

	while ((ch = getopt_long(argc, argv, "c:fhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'h':
			usage(stdout, 0);
		case 'V':
			printf("decorumd %s\n", DECORUM_VERSION);
			return 0;
		default:
			usage(stderr, 2);
		}
	}
	if (optind != argc)
		usage(stderr, 2);
	if (path == NULL)
		path = DEFAULT_CONFIG;
	log_init("master", foreground);
	if (config_load(path, &cfg, &err) < 0) {
		config_error_print(&err);
		return 1;
	}
	if (cfg.debug)
		log_set_level(LOG_LEVEL_DEBUG);
	if (load_srs_keys(&cfg, &srs_keys) < 0) {
		config_free(&cfg);
		return 1;
	}
	status = master_run(&cfg, foreground);
	srs_keys_clear(&srs_keys);
	config_free(&cfg);
	return status;
}
