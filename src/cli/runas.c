/*
 * Becoming the spool's owner (runas.h), for the commands that open the
 * spool: cmd_queue (and so mailq) and cmd_sendmail, right after their
 * config is read and before anything in the spool is touched.
 *
 * Trusts: the config (cfg->user, validated by the config loader) and the
 * password database.  The same steps as the daemon's privsep_drop() in
 * src/daemon/privsep.c, which is the daemon's (it dies on failure, this
 * reports and lets the command fail); both end by checking that root
 * cannot be regained.  Nothing is done for a caller that is not root, or
 * when no user is configured (then root owns the spool itself).
 */
#include "cli/runas.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/safedir.h"

int
runas_spool_owner(const struct config *cfg, const char *prog)
{
	struct safedir_owner o;
	char safe[LOG_SAFE_SIZE(64)];

	if (geteuid() != 0 || cfg->user == NULL)
		return 0;
	log_safe(cfg->user, safe, sizeof(safe));
	if (safedir_owner_lookup(cfg->user, &o) < 0) {
		fprintf(stderr, "%s: user \"%s\": no such account; the spool "
		    "is not touched as root\n", prog, safe);
		return -1;
	}
	if (o.uid == 0)
		return 0;
	if (setgroups(1, &o.gid) < 0 || setresgid(o.gid, o.gid, o.gid) < 0 ||
	    setresuid(o.uid, o.uid, o.uid) < 0) {
		fprintf(stderr, "%s: cannot become \"%s\": %s\n", prog, safe,
		    strerror(errno));
		return -1;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		fprintf(stderr, "%s: root could be regained after becoming "
		    "\"%s\"\n", prog, safe);
		return -1;
	}
	return 0;
}
