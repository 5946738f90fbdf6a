/*
 * The commands that work on the spool (`queue`, `mailq`, `sendmail`) run
 * as the spool's owner.  Run as root with `user` set, they become that
 * account right after reading the config, as Postfix's postsuper works
 * as the mail owner: the spool is that account's, so root acting on a
 * name in it would act on whatever that account (a worker broken into)
 * put there, a link to /etc included; and every file such a command
 * makes is the daemon's to read.
 */
#ifndef DECORUM_CLI_RUNAS_H
#define DECORUM_CLI_RUNAS_H

struct config;

/* Become cfg->user when root and it is set (setgroups, setresgid,
 * setresuid, then a check that root is gone); otherwise nothing.  0, or
 * -1 after a message on stderr prefixed with prog (nothing is done). */
int runas_spool_owner(const struct config *cfg, const char *prog);

#endif
