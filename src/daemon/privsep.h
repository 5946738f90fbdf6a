/*
 * Dropping root: the master keeps root to bind ports and read keys; every
 * child that talks to the network or touches mail runs as the configured
 * unprivileged user.
 */
#ifndef DECORUM_DAEMON_PRIVSEP_H
#define DECORUM_DAEMON_PRIVSEP_H

#include <stdbool.h>
#include <sys/types.h>

struct privsep_user {
	bool set;		/* a user is configured and we are root */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Resolve cfg's user (fatal when unknown).  Warns when root runs with no
 * user configured. */
void privsep_lookup(const char *user, struct privsep_user *pu);
/* Create dir (and parents) if missing, owned by pu when pu->set. */
void privsep_prepare_dir(const char *dir, const struct privsep_user *pu, unsigned mode);
/* setgroups/setgid/setuid, then verify root cannot be regained. */
void privsep_drop(const struct privsep_user *pu);

#endif
