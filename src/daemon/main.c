/*
 * decorumd: the mail server daemon.
 *
 *   decorumd [-c FILE] [-f]
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

#include "common/config.h"
#include "common/log.h"
#include "daemon/master.h"

#define DEFAULT_CONFIG "/etc/decorum/decorum.conf"

static _Noreturn void
usage(void)
{
	fprintf(stderr, "usage: decorumd [-c FILE] [-f]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *path = getenv("DECORUM_CONFIG");
	bool foreground = false;
	struct config cfg;
	struct config_error err;
	int ch, status;

	while ((ch = getopt(argc, argv, "c:fhV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'V':
			printf("decorumd %s\n", DECORUM_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (path == NULL)
		path = DEFAULT_CONFIG;
	log_init("master", foreground);
	if (config_load(path, &cfg, &err) < 0) {
		config_error_print(&err);
		return 1;
	}
	if (cfg.debug)
		log_set_level(LOG_LEVEL_DEBUG);
	status = master_run(&cfg, foreground);
	config_free(&cfg);
	return status;
}
