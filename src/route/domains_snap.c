/*
 * Building a snapshot of the domain tables (domains_priv.h): list the
 * folders under <domains>, and for each domain decide, file by file,
 * whether the table held so far still stands, must be read again, or must
 * wait because the file may still be being written.
 *
 * Called by the live refresh job in a worker thread and at start-up
 * (domains_live.c), and by the CLI's on-demand loading (domains.c).  The
 * snapshot it starts from is immutable and stays alive while it runs; what
 * it returns shares every unchanged domain and table with it.
 * Trusts nothing under <domains>: folder names must be a domain in one of
 * its two canonical spellings (domains_folder_canon), files are read
 * bounded by domains_table.c, at most DOMAINS_MAX folders are taken.
 *
 * The rule that keeps real users from being refused (issue 8, item 15): a
 * file is read only when its modification time is at least
 * DOMAINS_STILL_MS away from now (a file being written in place, by an
 * editor or `echo >>`, has a fresh one) and it stays exactly as stat()
 * saw it through the read.  Otherwise the table read before stays (or, if
 * there is none, the table is UNSETTLED: lookups answer "try later").  A
 * missing file counts as empty, unless its folder itself changed within
 * DOMAINS_STILL_MS (a domain folder being filled, or a file between an
 * unlink and its replacement), which is treated the same way.
 * Only a real "not local" may refuse mail: once <domains> has been
 * listed, a missing or unlistable <domains> keeps every table and makes
 * every domain "try later" until it is back; a listed domain folder
 * that cannot be stat'ed or opened keeps the tables read before (or,
 * with none, answers "try later").  Each refresh reads through one
 * descriptor of <domains> and one of each domain folder, so a rename
 * in the middle of it never shows a folder's files as missing.
 * Logs: table-load once per version read, table-error, domain-error and
 * domains-error when something breaks or changes how it is broken, not
 * on every pass; domains-recovered when <domains> can be listed again.
 */
#include "route/domains_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"

#define IGNORED_MAX	1000	/* odd folder names remembered for logging */

static const char *const file_names[DOMAINS_KINDS] = {
	"users", "aliases", "senders"
};

/* The folder a domain's files are in, stat'ed once when first needed. */
struct folder_state {
	int fd;			/* open: the folder, whatever its name now */
	bool done;
	bool fresh;
	struct timespec mtime;
};

static long long
ms_of(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

/* Changed within DOMAINS_STILL_MS of now, before or after: a clock a
 * little behind the file system's must not make a write look old. */
static bool
too_fresh(const struct timespec *mtime, const struct timespec *now)
{
	long long d = ms_of(now) - ms_of(mtime);

	return d < DOMAINS_STILL_MS && d > -DOMAINS_STILL_MS;
}

/* A file changed at mtime may be read from mtime + DOMAINS_STILL_MS. */
static void
settle_later(struct timespec *settle_at, const struct timespec *mtime)
{
	struct timespec t = *mtime;

	t.tv_sec += DOMAINS_STILL_MS / 1000;
	t.tv_nsec += (DOMAINS_STILL_MS % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	if (t.tv_sec > settle_at->tv_sec || (t.tv_sec == settle_at->tv_sec &&
	    t.tv_nsec > settle_at->tv_nsec))
		*settle_at = t;
}

static struct domains_table *
table_ref(struct domains_table *t)
{
	t->refs++;
	return t;
}

/* Drop a reference; the last one frees t, or, with garbage, only puts
 * it on that list: a big table is freed in a worker, not on the loop. */
static void
table_release(struct domains_table *t, struct domains_table **garbage)
{
	if (t == NULL || --t->refs > 0)
		return;
	if (garbage != NULL) {
		t->next_garbage = *garbage;
		*garbage = t;
		return;
	}
	domains_table_free(t);
	free(t);
}

static void
table_unref(struct domains_table *t)
{
	table_release(t, NULL);
}

void
domains_garbage_free(struct domains_table *list)
{
	while (list != NULL) {
		struct domains_table *next = list->next_garbage;

		domains_table_free(list);
		free(list);
		list = next;
	}
}

static struct domains_table *
table_new(const char *path, enum domains_kind kind, enum domains_state state)
{
	struct domains_table *t = xcalloc(1, sizeof(*t));

	t->path = xstrdup(path);
	t->senders = kind == DOMAINS_SENDERS;
	t->refs = 1;
	t->state = state;
	return t;
}

/* The file cannot be used now: keep what we had, or say "not yet". */
static struct domains_table *
table_hold(struct domains_table *old, const char *path, enum domains_kind kind,
    const char *why)
{
	char sp[512];

	log_debug("event=table-wait file=\"%s\" reason=%s",
	    log_safe(path, sp, sizeof(sp)), why);
	return old != NULL ? table_ref(old) :
	    table_new(path, kind, DOMAINS_UNSETTLED);
}

/* Unreadable (err), known by id when stat worked.  Logged when it was
 * not broken the same way before. */
static struct domains_table *
table_broken(struct domains_table *old, const char *path,
    enum domains_kind kind, int err, const struct domains_fileid *id)
{
	struct domains_table *t;
	char sp[512];

	if (old != NULL && old->state == DOMAINS_BROKEN && old->err == err &&
	    id == NULL && !old->have_id)
		return table_ref(old);
	log_error("event=table-error file=\"%s\" error=\"%s\"",
	    log_safe(path, sp, sizeof(sp)), strerror(err));
	t = table_new(path, kind, DOMAINS_BROKEN);
	t->err = err;
	if (id != NULL) {
		t->have_id = true;
		t->id = *id;
	}
	return t;
}

static bool
folder_fresh(struct folder_state *fs, const struct timespec *now)
{
	struct stat st;

	if (!fs->done) {
		fs->done = true;
		if (fstat(fs->fd, &st) == 0) {
			fs->mtime = st.st_mtim;
			fs->fresh = too_fresh(&st.st_mtim, now);
		}
	}
	return fs->fresh;
}

/* Read and parse the file (name in the folder dirfd, path for
 * messages) that stat described as st (and id). */
static struct domains_table *
table_read(int dirfd, const char *name, const char *path,
    enum domains_kind kind, struct domains_table *old, const struct stat *st,
    const struct domains_fileid *id, const struct timespec *now,
    struct timespec *settle_at)
{
	struct domains_sink k = { 0 };
	struct domains_table *t;
	enum domains_read r;
	char *data, sp[512];
	size_t size;
	int err;

	r = domains_table_read_whole(dirfd, name, st, &data, &size, &err);
	if (r == DOMAINS_READ_CHANGED) {
		settle_later(settle_at, now);
		return table_hold(old, path, kind, "changed-while-read");
	}
	if (r == DOMAINS_READ_ERROR)
		return table_broken(old, path, kind, err, id);
	t = table_new(path, kind, DOMAINS_LOADED);
	t->have_id = true;
	t->id = *id;
	domains_table_parse(&k, path, t, kind != DOMAINS_USERS, data, size);
	free(data);
	if (k.errors != 0) {
		/* The first errors were logged with their lines, the count
		 * here; one bad line makes the whole table "try later",
		 * never a silent 550. */
		log_error("event=table-invalid file=\"%s\" errors=%u "
		    "logged=%u effect=\"the domain answers try later\"",
		    log_safe(path, sp, sizeof(sp)), k.errors,
		    k.errors < DOMAINS_ERRORS_LOGGED ? k.errors :
		    DOMAINS_ERRORS_LOGGED);
		domains_table_clear(t);
		t->state = DOMAINS_BROKEN;
		return t;
	}
	log_info("event=table-load file=\"%s\" entries=%zu",
	    log_safe(path, sp, sizeof(sp)), t->n);
	return t;
}

/* The table for name in the folder fs (path for messages) as it is
 * now; old is the one held so far (NULL: none).  Returns a table with a
 * reference for the caller. */
static struct domains_table *
table_refresh(const char *name, const char *path, enum domains_kind kind,
    struct domains_table *old, struct folder_state *fs,
    const struct timespec *now, struct timespec *settle_at)
{
	struct domains_fileid id;
	struct stat st;

	if (fstatat(fs->fd, name, &st, 0) < 0) {
		int err = errno;

		if (err != ENOENT)
			return table_broken(old, path, kind, err, NULL);
		if (folder_fresh(fs, now)) {
			settle_later(settle_at, &fs->mtime);
			return table_hold(old, path, kind, "folder-changing");
		}
		if (old != NULL && old->state == DOMAINS_MISSING)
			return table_ref(old);
		return table_new(path, kind, DOMAINS_MISSING);
	}
	domains_fileid_of(&id, &st);
	if (old != NULL && old->have_id && domains_fileid_equal(&old->id, &id))
		return table_ref(old);
	if (too_fresh(&st.st_mtim, now)) {
		settle_later(settle_at, &st.st_mtim);
		return table_hold(old, path, kind, "recently-modified");
	}
	return table_read(fs->fd, name, path, kind, old, &st, &id, now,
	    settle_at);
}

static struct domains_dom *
dom_new(const char *canon, const char *folder)
{
	struct domains_dom *dom = xcalloc(1, sizeof(*dom));

	dom->refs = 1;
	dom->name = xstrdup(canon);
	dom->folder = xstrdup(folder);
	return dom;
}

struct domains_dom *
domains_dom_clash(const char *canon, const char *folder)
{
	struct domains_dom *dom = dom_new(canon, folder);

	dom->clash = true;
	return dom;
}

static void
dom_release(struct domains_dom *dom, struct domains_table **garbage)
{
	if (dom == NULL || --dom->refs > 0)
		return;
	for (int k = 0; k < DOMAINS_KINDS; k++)
		table_release(dom->t[k], garbage);
	free(dom->name);
	free(dom->folder);
	free(dom);
}

void
domains_dom_unref(struct domains_dom *dom)
{
	dom_release(dom, NULL);
}

bool
domains_dom_usable(const struct domains_dom *dom)
{
	return !dom->clash && dom->t[DOMAINS_USERS] != NULL;
}

bool
domains_dom_unsettled(const struct domains_dom *dom)
{
	for (int k = 0; k < DOMAINS_KINDS; k++)
		if (dom->t[k] != NULL && dom->t[k]->state == DOMAINS_UNSETTLED)
			return true;
	return false;
}

/* What a domain held so far may be built on: not a clash, nor another
 * folder (renamed to the other spelling: nothing is shared then). */
static struct domains_dom *
dom_base(struct domains_dom *old, const char *folder)
{
	if (old != NULL && (old->clash || strcmp(old->folder, folder) != 0))
		return NULL;
	return old;
}

/*
 * The folder of a listed domain cannot be examined now (err: EACCES,
 * ELOOP, EIO, ...): a moment's trouble must not make the domain
 * foreign.  The tables read before stay, so its users keep their 250;
 * with none, the domain answers "try later".  Logged when it was not
 * so before.
 */
static struct domains_dom *
dom_unreadable(const char *dir, const char *folder, const char *canon,
    struct domains_dom *old, int err)
{
	struct domains_dom *dom;
	char path[PATH_MAX], sp[LOG_SAFE_SIZE(PATH_MAX)];
	bool keep;

	old = dom_base(old, folder);
	if (old != NULL && old->err == err) {
		old->refs++;
		return old;
	}
	keep = old != NULL && domains_dom_usable(old);
	snprintf(path, sizeof(path), "%s/%s", dir, folder);
	log_error("event=domain-error folder=\"%s\" error=\"%s\" "
	    "effect=\"%s\"", log_safe(path, sp, sizeof(sp)), strerror(err),
	    keep ? "the tables read before stay" :
	    "the domain answers try later");
	dom = dom_new(canon, folder);
	dom->err = err;
	for (int k = 0; keep && k < DOMAINS_KINDS; k++)
		dom->t[k] = table_ref(old->t[k]);
	return dom;
}

struct domains_dom *
domains_dom_refresh(int dfd, const char *dir, const char *folder,
    const char *canon, struct domains_dom *old, const struct timespec *now,
    struct timespec *settle_at)
{
	struct domains_table *t[DOMAINS_KINDS];
	struct folder_state fs = { 0 };
	struct domains_dom *dom;
	char fpath[PATH_MAX], path[PATH_MAX + 16];
	bool same;

	old = dom_base(old, folder);
	/* Everything below is read through the folder's descriptor: should
	 * <domains> be renamed meanwhile, the files are still the ones of
	 * this folder, never "missing" (an empty table: 550 for real
	 * users).  The paths are for messages only. */
	fs.fd = openat(dfd, folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs.fd < 0)
		return dom_unreadable(dir, folder, canon, old, errno);
	same = old != NULL && old->err == 0;
	snprintf(fpath, sizeof(fpath), "%s/%s", dir, folder);
	for (int k = 0; k < DOMAINS_KINDS; k++) {
		struct domains_table *o = old != NULL ? old->t[k] : NULL;

		snprintf(path, sizeof(path), "%s/%s", fpath, file_names[k]);
		t[k] = table_refresh(file_names[k], path, (enum domains_kind)k,
		    o, &fs, now, settle_at);
		same = same && t[k] == o;
	}
	close(fs.fd);
	if (same) {
		for (int k = 0; k < DOMAINS_KINDS; k++)
			table_unref(t[k]);
		old->refs++;
		return old;
	}
	dom = dom_new(canon, folder);
	memcpy(dom->t, t, sizeof(t));
	return dom;
}

struct domains_snap *
domains_snap_new(void)
{
	struct domains_snap *s = xcalloc(1, sizeof(*s));

	s->refs = 1;
	return s;
}

void
domains_snap_unref(struct domains_snap *s)
{
	domains_snap_release(s, NULL);
}

void
domains_snap_release(struct domains_snap *s, struct domains_table **garbage)
{
	if (s == NULL || --s->refs > 0)
		return;
	for (size_t i = 0; i < s->n; i++)
		dom_release(s->v[i], garbage);
	for (size_t i = 0; i < s->n_ignored; i++)
		free(s->ignored[i]);
	free(s->ignored);
	free(s->v);
	free(s);
}

struct domains_dom *
domains_snap_find(const struct domains_snap *s, const char *canon)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s->v[mid]->name, canon);

		if (c == 0)
			return s->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
snap_push(struct domains_snap *s, struct domains_dom *dom)
{
	if (s->n % 64 == 0)
		s->v = xreallocarray(s->v, s->n + 64, sizeof(*s->v));
	s->v[s->n++] = dom;
}

void
domains_snap_insert(struct domains_snap *s, struct domains_dom *dom)
{
	size_t i = 0;

	while (i < s->n && strcmp(s->v[i]->name, dom->name) < 0)
		i++;
	snap_push(s, dom);
	memmove(&s->v[i + 1], &s->v[i], (s->n - 1 - i) * sizeof(*s->v));
	s->v[i] = dom;
}

/* The folders under <domains>: name and canonical domain, sorted by
 * domain, then name (so a clash is two neighbours). */
struct folder {
	char *name;
	char *canon;
	int err;		/* it could not be stat'ed: why */
};

struct listing {
	struct folder *v;
	size_t n;
	char **ignored;
	size_t n_ignored;
	bool truncated;
};

static int
folder_cmp(const void *a, const void *b)
{
	const struct folder *x = a, *y = b;
	int c = strcmp(x->canon, y->canon);

	return c != 0 ? c : strcmp(x->name, y->name);
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].canon);
	}
	free(l->v);
	for (size_t i = 0; i < l->n_ignored; i++)
		free(l->ignored[i]);
	free(l->ignored);
	memset(l, 0, sizeof(*l));
}

static void
listing_add(struct listing *l, const char *name, const char *canon, int err)
{
	if (l->n >= DOMAINS_MAX) {
		l->truncated = true;
		return;
	}
	if (l->n % 256 == 0)
		l->v = xreallocarray(l->v, l->n + 256, sizeof(*l->v));
	l->v[l->n].name = xstrdup(name);
	l->v[l->n].canon = xstrdup(canon);
	l->v[l->n].err = err;
	l->n++;
}

static void
listing_ignore(struct listing *l, const char *name)
{
	if (l->n_ignored >= IGNORED_MAX)
		return;
	if (l->n_ignored % 16 == 0)
		l->ignored = xreallocarray(l->ignored, l->n_ignored + 16,
		    sizeof(char *));
	l->ignored[l->n_ignored++] = xstrdup(name);
}

/*
 * Read the folder names under the folder dfd.  0, or the errno that
 * stopped us.  An entry that cannot be stat'ed (but for ENOENT: gone
 * since it was listed) is kept with its error when its name is a
 * domain's: "cannot tell" must never read as "not local".
 */
static int
list_folders(int dfd, struct listing *l)
{
	char canon[SMTP_DOMAIN_MAX + 1];
	struct dirent *de;
	struct stat st;
	DIR *dp;
	int fd, err = 0, serr;

	memset(l, 0, sizeof(*l));
	/* A descriptor of its own: readdir moves its offset, not dfd's. */
	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno;
	if ((dp = fdopendir(fd)) == NULL) {
		err = errno;
		close(fd);
		return err;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(dp)) == NULL) {
			err = errno;
			break;
		}
		/* Hidden entries are ours (.lock) or an editor's. */
		if (de->d_name[0] == '.')
			continue;
		serr = 0;
		if (fstatat(dfd, de->d_name, &st, 0) < 0) {
			if (errno == ENOENT)
				continue;
			serr = errno;
		} else if (!S_ISDIR(st.st_mode)) {
			continue;
		}
		if (domains_folder_canon(de->d_name, canon) == 0)
			listing_add(l, de->d_name, canon, serr);
		else if (serr == 0)
			listing_ignore(l, de->d_name);
	}
	closedir(dp);
	if (err != 0) {
		listing_free(l);
		return err;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), folder_cmp);
	if (l->n_ignored > 1)
		qsort(l->ignored, l->n_ignored, sizeof(char *), str_cmp);
	return 0;
}

static bool
was_ignored(const struct domains_snap *base, const char *name)
{
	return base != NULL && base->n_ignored > 0 &&
	    bsearch(&name, base->ignored, base->n_ignored, sizeof(char *),
	    str_cmp) != NULL;
}

/* The listing's odd folder names pass to s; new ones are logged.  Returns
 * whether they differ from base's. */
static bool
take_ignored(struct domains_snap *s, const struct domains_snap *base,
    struct listing *l)
{
	bool changed = base == NULL || base->n_ignored != l->n_ignored;
	char sn[600];

	for (size_t i = 0; i < l->n_ignored; i++) {
		if (was_ignored(base, l->ignored[i]))
			continue;
		changed = true;
		log_warn("event=domain-folder-ignored folder=\"%s\" reason=\"not "
		    "a lower-case domain name in A-label or U-label form\"",
		    log_safe(l->ignored[i], sn, sizeof(sn)));
	}
	s->ignored = l->ignored;
	s->n_ignored = l->n_ignored;
	l->ignored = NULL;
	l->n_ignored = 0;
	return changed;
}

/* <domains> cannot be listed (or, once listed, is missing: renamed away
 * for a moment, being restored): every domain answers "try later" until
 * it can, never "not local", which would refuse real users with 554 and
 * send local mail out as remote.  The tables stay, so that they need not
 * be read again then. */
static struct domains_snap *
snap_unlisted(const char *dir, const struct domains_snap *base, int err)
{
	struct domains_snap *s;
	char sd[512];

	if (base != NULL && base->list_err == err)
		return NULL;
	log_error("event=domains-error dir=\"%s\" error=\"%s\" "
	    "effect=\"every domain answers try later; the tables read "
	    "before are kept\"", log_safe(dir, sd, sizeof(sd)),
	    strerror(err));
	s = domains_snap_new();
	s->list_err = err;
	s->listed = base != NULL && base->listed;
	for (size_t i = 0; base != NULL && i < base->n; i++) {
		base->v[i]->refs++;
		snap_push(s, base->v[i]);
	}
	return s;
}

/* Two or more folders, l->v[i] up to (not including) l->v[*end], name
 * one domain. */
static struct domains_dom *
clash_dom(const struct listing *l, size_t i, size_t end,
    struct domains_dom *old)
{
	char sd[600], sa[600], sb[600];

	if (old != NULL && old->clash) {
		old->refs++;
		return old;
	}
	log_error("event=domain-clash domain=\"%s\" folder=\"%s\" "
	    "other=\"%s\" effect=\"the domain answers try later\"",
	    log_safe(l->v[i].canon, sd, sizeof(sd)),
	    log_safe(l->v[i].name, sa, sizeof(sa)),
	    log_safe(l->v[end - 1].name, sb, sizeof(sb)));
	return domains_dom_clash(l->v[i].canon, l->v[i].name);
}

/* List <domains> into l through *dfd (opened here, -1 when it could
 * not be).  0, or the errno that stopped the listing.  A folder missing
 * before it was ever listed is no local domain yet, not an error (a
 * fresh install): *listed says which. */
static int
snap_list(const char *dir, const struct domains_snap *base, int *dfd,
    struct listing *l, bool *listed)
{
	int err;

	memset(l, 0, sizeof(*l));
	*listed = false;
	*dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	err = *dfd < 0 ? errno : list_folders(*dfd, l);
	if (err == ENOENT && (base == NULL || !base->listed))
		return 0;
	*listed = err == 0;
	return err;
}

struct domains_snap *
domains_snap_refresh(const char *dir, const struct domains_snap *base,
    const struct timespec *now, struct timespec *settle_at)
{
	struct domains_snap *s;
	struct listing l;
	bool changed, listed;
	char sd[512];
	int err, dfd;

	if ((err = snap_list(dir, base, &dfd, &l, &listed)) != 0) {
		if (dfd >= 0)
			close(dfd);
		return snap_unlisted(dir, base, err);
	}
	s = domains_snap_new();
	s->truncated = l.truncated;
	s->listed = listed;
	changed = base == NULL || base->list_err != 0 ||
	    base->listed != listed || base->truncated != l.truncated;
	if (l.truncated && (base == NULL || !base->truncated))
		log_error("event=domains-error error=\"more than %d domain "
		    "folders\" effect=\"the others are not local\"",
		    DOMAINS_MAX);
	if (take_ignored(s, base, &l))
		changed = true;
	for (size_t i = 0, end; i < l.n; i = end) {
		struct domains_dom *old, *dom;

		old = base != NULL ? domains_snap_find(base, l.v[i].canon) :
		    NULL;
		for (end = i + 1; end < l.n &&
		    strcmp(l.v[end].canon, l.v[i].canon) == 0; end++)
			;
		if (end - i > 1)
			dom = clash_dom(&l, i, end, old);
		else if (l.v[i].err != 0)
			dom = dom_unreadable(dir, l.v[i].name, l.v[i].canon,
			    old, l.v[i].err);
		else
			dom = domains_dom_refresh(dfd, dir, l.v[i].name,
			    l.v[i].canon, old, now, settle_at);
		snap_push(s, dom);
		changed = changed || dom != old;
	}
	listing_free(&l);
	if (dfd >= 0)
		close(dfd);
	if (base != NULL && base->list_err != 0)
		log_info("event=domains-recovered dir=\"%s\" domains=%zu",
		    log_safe(dir, sd, sizeof(sd)), s->n);
	if (!changed && base != NULL && s->n == base->n) {
		domains_snap_unref(s);
		return NULL;
	}
	return s;
}
