/*
 * Privilege separation helpers: see privsep.h.  Only called at start-up
 * and right after fork, so failures are fatal: a child that could not
 * drop root must not run.
 */
#include "daemon/privsep.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

void
privsep_lookup(const char *user, struct privsep_user *pu)
{
	struct passwd *pw;

	memset(pu, 0, sizeof(*pu));
	if (geteuid() != 0) {
		if (user != NULL)
			log_warn("event=config-warning reason=\"not root: user %s ignored, running as uid %ld\"",
			    user, (long)geteuid());
		return;
	}
	if (user == NULL) {
		log_warn("event=config-warning reason=\"running as root: set user to an unprivileged account\"");
		return;
	}
	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL)
		fatal("user %s: no such account", user);
	if (pw->pw_uid == 0)
		fatal("user %s: must not be root", user);
	pu->set = true;
	pu->uid = pw->pw_uid;
	pu->gid = pw->pw_gid;
	snprintf(pu->name, sizeof(pu->name), "%s", user);
}

void
privsep_prepare_dir(const char *dir, const struct privsep_user *pu, unsigned mode)
{
	char path[4096];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(path))
		fatal("%s: bad directory name", dir);
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			fatal("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		fatal("mkdir %s: %s", path, strerror(errno));
	if (pu->set && chown(path, pu->uid, pu->gid) < 0)
		fatal("chown %s: %s", path, strerror(errno));
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
