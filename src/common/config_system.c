/*
 * A loaded config against this machine: does the `user` account exist,
 * may the spool, state and mailbox folders be handed to it, and is the
 * domains tree out of its reach?  See config.h.  (The TLS files are the
 * other such check: tls_config.c; the rules for every file root reads
 * are config_root_rules().)
 *
 * Callers: decorumd's master before any port is open (it creates and
 * hands over the folders) and `decorum check-config` (it only looks), so
 * the daemon never stops on something check-config called fine, and both
 * name the same FILE:LINE.
 *
 * Trust: the config is the operator's word; the file system is not
 * trusted at all (common/safedir.c walks it).  getpwnam() may ask NSS,
 * which is why config_load() looks the account up only to read the
 * files only root reads (cfg_root_files, by config_root_rules()), and
 * leaves the rest to these functions.
 */
#include "common/config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/rootfile.h"
#include "common/safedir.h"

int
config_user_lookup(const struct config *cfg, struct safedir_owner *o,
    struct config_error *err)
{
	memset(o, 0, sizeof(*o));
	if (cfg->user == NULL)
		return 0;
	if (safedir_owner_lookup(cfg->user, o) < 0) {
		config_error_at(err, cfg, &cfg->user_at,
		    "user: no account named \"%.64s\" on this system",
		    cfg->user);
		return -1;
	}
	if (o->uid == 0) {
		config_error_at(err, cfg, &cfg->user_at,
		    "user: \"%.64s\" is root (uid 0); name an unprivileged "
		    "account for the workers", cfg->user);
		return -1;
	}
	/* Only root can switch to it; anyone else runs the workers as
	 * itself, and has nothing to guard the folders from. */
	if (geteuid() != 0)
		o->guard = false;
	return 0;
}

void
config_root_rules(const struct config *cfg, const struct safedir_owner *o,
    struct rootfile_rules *r)
{
	memset(r, 0, sizeof(*r));
	r->o = o;
	r->apart[0].name = "spool";
	r->apart[0].path = cfg->spool;
	r->apart[1].name = "state";
	r->apart[1].path = cfg->state;
	r->apart[2].name = "mailboxes";
	r->apart[2].path = cfg->mailboxes;
	r->n_apart = 3;
}

static void
describe(const struct safedir_change *ch, char *out, size_t len)
{
	int n = 0;

	out[0] = '\0';
	if (ch->chowned)
		n = snprintf(out, len, "owner uid %ld", (long)ch->old_uid);
	if (ch->chmoded && n >= 0 && (size_t)n < len)
		snprintf(out + n, len - (size_t)n, "%smode %04o -> %04o",
		    n > 0 ? ", " : "", (unsigned)ch->old_mode,
		    (unsigned)ch->new_mode);
}

int
config_folders_prepare(const struct config *cfg,
    const struct safedir_owner *o, bool create,
    config_folder_report *report, void *arg, struct config_error *err)
{
	/*
	 * The spool and state are the workers' alone (0700).  Mailboxes may
	 * keep group read and search (0750), so an IMAP server in the
	 * account's group can read the Maildirs; never group write, never
	 * anything for others.
	 */
	const struct {
		const char *what;
		const char *path;
		const struct config_where *at;
		mode_t keep;
	} f[] = {
		{ "spool", cfg->spool, &cfg->spool_at, 0 },
		{ "state", cfg->state, &cfg->state_at, 0 },
		{ "mailboxes", cfg->mailboxes, &cfg->mailboxes_at, 0050 },
	};
	struct safedir_change ch;
	char why[sizeof(err->message)], change[96];

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (safedir_prepare(f[i].path, o, 0700, f[i].keep, create, &ch,
		    why, sizeof(why)) < 0) {
			config_error_at(err, cfg, f[i].at, "%s %s: %s",
			    f[i].what, f[i].path, why);
			return -1;
		}
		if (report != NULL && !ch.created && (ch.chowned || ch.chmoded)) {
			describe(&ch, change, sizeof(change));
			report(arg, f[i].at, f[i].what, f[i].path, change);
		}
	}
	return 0;
}

/* "PATH: error"; when why is short, the path loses its start, never its
 * end (where the entry is named) nor the error. */
static void
walk_why(char *why, size_t whylen, const char *path, int e)
{
	const char *msg = strerror(e);
	size_t plen = strlen(path), room;

	room = whylen > strlen(msg) + 3 ? whylen - strlen(msg) - 3 : 0;
	if (plen > room)
		path += plen - room;
	snprintf(why, whylen, "%.*s: %s", (int)(plen > room ? room : plen),
	    path, msg);
}

/*
 * Every entry of the folder fd (path names it) but the hidden ones (our
 * .lock and temporary files), by the kept rules; with depth 1, each
 * sub-folder's entries too (a domain folder's users, aliases, senders).
 * 0, or -1 with why.  Bounded by what readdir gives: start-up only.
 */
static int
domains_walk(int fd, const char *path, const struct safedir_owner *o,
    int depth, char *why, size_t whylen)
{
	char sub_path[PATH_MAX];
	struct dirent *de;
	DIR *dp;
	int dup_fd, sub, rc = 0;

	/* A descriptor of its own for readdir: fd stays for openat. */
	if ((dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (dp = fdopendir(dup_fd)) == NULL) {
		walk_why(why, whylen, path, errno);
		if (dup_fd >= 0)
			close(dup_fd);
		return -1;
	}
	while (rc == 0) {
		errno = 0;
		if ((de = readdir(dp)) == NULL) {
			if (errno != 0) {
				walk_why(why, whylen, path, errno);
				rc = -1;
			}
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		rc = safedir_check_kept_at(fd, path, de->d_name, o,
		    depth > 0 ? &sub : NULL, why, whylen);
		if (rc < 0 || depth == 0 || sub < 0)
			continue;
		snprintf(sub_path, sizeof(sub_path), "%s/%s", path, de->d_name);
		rc = domains_walk(sub, sub_path, o, depth - 1, why, whylen);
		close(sub);
	}
	closedir(dp);
	return rc;
}

int
config_domains_check(const struct config *cfg, const struct safedir_owner *o,
    struct config_error *err)
{
	char why[sizeof(err->message)];
	int fd, rc;

	fd = safedir_open_kept(cfg->domains, o, why, sizeof(why));
	if (fd == -2)
		return 0;	/* none yet: `decorum user add` makes it */
	rc = fd < 0 ? -1 : domains_walk(fd, cfg->domains, o, 1, why,
	    sizeof(why));
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		config_error_at(err, cfg, &cfg->domains_at, "domains %s: %s",
		    cfg->domains, why);
	return rc;
}

int
config_srs_key_open(const struct config *cfg, const struct safedir_owner *o,
    struct config_error *err)
{
	struct rootfile_rules rules;
	char why[sizeof(err->message)];
	int fd;

	config_root_rules(cfg, o, &rules);
	fd = rootfile_open(cfg->srs.key_file, &rules, NULL, 0, why,
	    sizeof(why));
	if (fd < 0)
		config_error_at(err, cfg, &cfg->srs.key_file_at,
		    "cannot read the SRS key file: %s", why);
	return fd < 0 ? -1 : fd;
}
