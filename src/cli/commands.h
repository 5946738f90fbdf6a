/*
 * The sub-commands of `decorum`.  Each takes the config path and its own
 * arguments (argv[0] is the sub-command name) and returns the exit status.
 */
#ifndef DECORUM_CLI_COMMANDS_H
#define DECORUM_CLI_COMMANDS_H

int cmd_check_config(const char *config_path, int argc, char **argv);
int cmd_greylist(const char *config_path, int argc, char **argv);
int cmd_mailq(const char *config_path, int argc, char **argv);
int cmd_queue(const char *config_path, int argc, char **argv);
int cmd_route(const char *config_path, int argc, char **argv);
int cmd_srs(const char *config_path, int argc, char **argv);
int cmd_sendmail(const char *config_path, int argc, char **argv);
int cmd_user(const char *config_path, int argc, char **argv);

struct config;

/* "A message is queued" to a running queue manager, through
 * <spool>/qmgr.sock (QMGR_SOCKET_NAME).  Best effort: a lost notice only
 * delays delivery to the queue manager's next scan.  (sendmail.c) */

#endif
