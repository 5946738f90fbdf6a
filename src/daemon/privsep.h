/*
 * Dropping root: the master keeps root to bind ports and read keys; every
 * child that talks to the network or touches mail runs as the configured
 * unprivileged user.  Who that is, and that it may have the folders, is
 * decided by config_user_lookup() and config_folders_prepare()
 * (common/config_system.c), which check-config shares.
 */
#ifndef DECORUM_DAEMON_PRIVSEP_H
#define DECORUM_DAEMON_PRIVSEP_H

#include <stdbool.h>
#include <sys/types.h>

struct config;
struct safedir_owner;

struct privsep_user {
	bool set;		/* a user is configured and we are root */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* The account the children become: o as config_user_lookup() found it.
 * Warns when root runs with no user, or a user is set but we are not
 * root (then it cannot be used). */
void privsep_setup(const struct config *cfg, const struct safedir_owner *o,
    struct privsep_user *pu);
/* setgroups/setgid/setuid, then verify root cannot be regained. */
void privsep_drop(const struct privsep_user *pu);

#endif
