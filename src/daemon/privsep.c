/*
 * Privilege separation helpers: see privsep.h.  Only called at start-up
 * and right after fork, so failures are fatal: a child that could not
 * drop root must not run.  The user's config values reach the log through
 * log_safe: the file is the operator's, but a log line stays one line.
 */
#include "daemon/privsep.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/safedir.h"

void
privsep_setup(const struct config *cfg, const struct safedir_owner *o,
    struct privsep_user *pu)
{
	char safe[160];

	memset(pu, 0, sizeof(*pu));
	if (geteuid() != 0) {
		if (cfg->user != NULL)
			log_warn("event=config-warning reason=\"not root: user "
			    "ignored, running as uid %ld\" user=\"%s\"",
			    (long)geteuid(), log_safe(cfg->user, safe,
			    sizeof(safe)));
		return;
	}
	if (!o->guard) {
		log_warn("event=config-warning reason=\"running as root: set "
		    "user to an unprivileged account\"");
		return;
	}
	pu->set = true;
	pu->uid = o->uid;
	pu->gid = o->gid;
	snprintf(pu->name, sizeof(pu->name), "%s", cfg->user);
}

void
privsep_drop(const struct privsep_user *pu)
{
	if (!pu->set)
		return;
	if (setgroups(1, &pu->gid) < 0 || setresgid(pu->gid, pu->gid, pu->gid) < 0 ||
	    setresuid(pu->uid, pu->uid, pu->uid) < 0)
		fatal("cannot drop privileges to %s: %s", pu->name, strerror(errno));
	if (setuid(0) == 0 || geteuid() == 0)
		fatal("privileges could be regained after dropping to %s", pu->name);
}
