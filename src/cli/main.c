/*
 * `decorum [-c FILE] COMMAND [ARGS]`: the operator's command-line tool.
 *
 * Run by people and scripts (often as root), so it trusts its arguments
 * no more than a network peer: each sub-command validates its own.  This
 * file only finds the config path (-c, else $DECORUM_CONFIG, else
 * /etc/decorum/decorum.conf), picks the sub-command from a table and
 * returns its exit status.  Exit status 2 means a usage error; each
 * sub-command documents its own 0 and 1.
 *
 * Called as `sendmail` or `mailq` (links to decorum, for cron, PHP and
 * scripts: the name is argv[0]'s basename), it is `decorum sendmail ...`
 * or `decorum mailq`, with the config from $DECORUM_CONFIG or the
 * default: those callers pass sendmail(1)'s options, not ours.
 *
 * `decorum --help`, `-h` and `decorum help` print the usage on stdout
 * and exit 0; an unknown option prints it on stderr and exits 2.
 *
 * Logs go to stderr (log_init with to_stderr), so table warnings show up
 * where the operator is looking.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/log.h"

#define DEFAULT_CONFIG "/etc/decorum/decorum.conf"

static int cmd_version(const char *config_path, int argc, char **argv);
static int cmd_help(const char *config_path, int argc, char **argv);

static const struct {
	const char *name;
	int (*fn)(const char *, int, char **);
	const char *usage;
} commands[] = {
	{ "check-config", cmd_check_config, "check-config" },
	{ "route", cmd_route, "route [-f SENDER] [-a] ADDRESS" },
	{ "sendmail", cmd_sendmail,
	    "sendmail [-t] [-i] [-f SENDER] [-F NAME] [RCPT...] < MESSAGE" },
	{ "mailq", cmd_mailq, "mailq" },
	{ "user", cmd_user, "user add [--no-login]|passwd|del USER@DOMAIN" },
	{ "queue", cmd_queue,
	    "queue list|show ID|flush|delete ID|hold ID|release ID" },
	{ "greylist", cmd_greylist, "greylist list|allow NETWORK|purge" },
	{ "srs", cmd_srs, "srs keygen [-f] [FILE]|forward ADDRESS|reverse ADDRESS" },
	{ "version", cmd_version, "version" },
	{ "help", cmd_help, "help" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: decorum [-c FILE] COMMAND [ARGS]\n"
	    "  FILE defaults to $DECORUM_CONFIG, else " DEFAULT_CONFIG "\n"
	    "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  decorum %s\n", commands[i].usage);
}

static int
cmd_version(const char *config_path, int argc, char **argv)
{
	(void)config_path;
	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	printf("decorum %s\n", DECORUM_VERSION);
	return 0;
}

static int
cmd_help(const char *config_path, int argc, char **argv)
{
	(void)config_path;
	(void)argc;
	(void)argv;
	usage(stdout);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *config_path = getenv("DECORUM_CONFIG");
	const char *self = argc > 0 ? strrchr(argv[0], '/') : NULL;
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	log_init("decorum", true);
	if (config_path == NULL || config_path[0] == '\0')
		config_path = DEFAULT_CONFIG;
	self = self != NULL ? self + 1 : argc > 0 ? argv[0] : "";
	if (strcmp(self, "sendmail") == 0)
		return cmd_sendmail(config_path, argc, argv);
	if (strcmp(self, "mailq") == 0)
		return cmd_mailq(config_path, argc, argv);
	/* "+": stop at the sub-command, its options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("decorum %s\n", DECORUM_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].name) == 0) {
			/* Sub-commands parse their own options with getopt. */
			optind = 1;
			return commands[i].fn(config_path, argc, argv);
		}
	}
	fprintf(stderr, "decorum: unknown command \"%s\"\n", argv[0]);
	usage(stderr);
	return 2;
}
