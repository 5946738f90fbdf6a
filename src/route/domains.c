/*
 * Local domain tables: see domains.h.
 *
 * Called by route.c (for RCPT checks, delivery and `decorum route`) and by
 * `decorum check-config`.  The files are the operator's, but are checked as
 * untrusted text: bounded file size, line length and entry count, so a
 * runaway script that fills "aliases" gives a logged error and a tempfail
 * (451) instead of a crash or an out-of-memory.  Any syntax error makes the
 * whole table unreadable (tempfail) rather than silently dropping a line,
 * because a dropped line would turn into 550 "no such user" for a real user;
 * check-config names the line.
 *
 * Invariants: every key in memory is a valid lower-case local part (so it is
 * safe as a Maildir folder name); tables are sorted for bsearch; a domain
 * name is validated before it is ever joined to a path (no "..", no "/").
 * Freshness: each domain's folder and files are stat'ed at most once a
 * second; a change of inode, size or mtime reloads the file.
 */
#include "route/domains.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define DOMAINS_FILE_MAX	(64 * 1024 * 1024)	/* octets per file */
#define DOMAINS_LINE_MAX	4096			/* octets per line */
#define DOMAINS_ENTRY_MAX	(64 * 1024)		/* alias + continuations */
#define DOMAINS_ENTRIES_MAX	1000000			/* lines per file */
#define DOMAINS_CACHE_MAX	100000			/* domains remembered */
#define DOMAINS_RECHECK_MS	1000

struct entry {
	char *key;		/* lower case */
	char *hash;		/* users: crypt(3) string, "" for no login */
	char **targets;		/* aliases: as written */
	size_t n_targets;
	unsigned line;
};

struct table {
	char *path;
	bool present;		/* file exists (a missing file is empty) */
	bool broken;		/* unreadable or invalid: lookups tempfail */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct entry *e;
	size_t n;
};

struct domain {
	char *name;
	bool local;
	bool dir_error;		/* the folder could not be stat'ed */
	long long checked_ms;
	struct table users;
	struct table aliases;
};

struct domains {
	char *dir;
	struct domain *v;
	size_t n;
};

/* Where parse problems go: the log at run time, check-config's report
 * at check time. */
struct sink {
	domains_report_fn *report;
	void *arg;
	unsigned errors;
};

static void sink_error(struct sink *k, const char *file, unsigned line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
sink_error(struct sink *k, const char *file, unsigned line,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	k->errors++;
	if (k->report != NULL) {
		k->report(k->arg, file, (int)line, msg);
	} else {
		char sf[256], sm[600];

		log_error("event=table-error file=\"%s\" line=%u error=\"%s\"",
		    log_safe(file, sf, sizeof(sf)), line,
		    log_safe(msg, sm, sizeof(sm)));
	}
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

bool
domains_valid_local(const char *s)
{
	size_t len = strlen(s);

	/* No leading dot: "." and ".." must never become folder names. */
	if (len == 0 || len > SMTP_LOCAL_PART_MAX || s[0] == '.')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch <= ' ' || ch == 0x7f || strchr(":/@\"\\,#", ch) != NULL)
			return false;
	}
	return true;
}

bool
domains_valid_domain(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		/* RFC 1035 2.3.1 letters, digits, hyphen; UTF-8 for U-labels. */
		if (!(ch >= 0x80 || isalnum(ch) || ch == '-') || ++label > 63)
			return false;
	}
	return label != 0;
}

int
domains_split_address(const char *addr, char local[SMTP_LOCAL_PART_MAX + 1],
    char domain[SMTP_DOMAIN_MAX + 1])
{
	const char *at = strrchr(addr, '@');
	const char *end = at != NULL ? at : addr + strlen(addr);
	size_t o = 0;

	local[0] = domain[0] = '\0';
	if (at != NULL) {
		if (strlen(at + 1) > SMTP_DOMAIN_MAX || at[1] == '\0')
			return -1;
		snprintf(domain, SMTP_DOMAIN_MAX + 1, "%s", at + 1);
		lower(domain);
	}
	if (end == addr)
		return -1;
	if (addr[0] == '"') {
		/* RFC 5321 4.1.2 Quoted-string: qtext or "\" + any ASCII. */
		const char *p = addr + 1;

		if (end - addr < 2 || end[-1] != '"')
			return -1;
		for (; p < end - 1; p++) {
			if (*p == '"')
				return -1;
			if (*p == '\\' && ++p >= end - 1)
				return -1;
			if (o >= SMTP_LOCAL_PART_MAX)
				return -1;
			local[o++] = *p;
		}
	} else {
		for (const char *p = addr; p < end; p++) {
			unsigned char ch = (unsigned char)*p;

			if (ch <= ' ' || ch == 0x7f ||
			    strchr("\"(),:;<>@[\\]", ch) != NULL)
				return -1;
			if (o >= SMTP_LOCAL_PART_MAX)
				return -1;
			local[o++] = *p;
		}
	}
	local[o] = '\0';
	return o == 0 ? -1 : 0;
}

enum domains_target
domains_target_kind(const char *t)
{
	if (t[0] == '|' || (t[0] == '"' && t[1] == '|'))
		return DOMAINS_TARGET_PIPE;
	if (t[0] == '/' || (t[0] == '"' && t[1] == '/'))
		return DOMAINS_TARGET_FILE;
	if (strncasecmp(t, ":include:", 9) == 0)
		return DOMAINS_TARGET_INCLUDE;
	return DOMAINS_TARGET_ADDRESS;
}

static void
table_clear(struct table *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->e[i].key);
		free(t->e[i].hash);
		for (size_t j = 0; j < t->e[i].n_targets; j++)
			free(t->e[i].targets[j]);
		free(t->e[i].targets);
	}
	free(t->e);
	t->e = NULL;
	t->n = 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static struct entry *
table_find(const struct table *t, const char *key)
{
	size_t lo = 0, hi = t->n;

	/* Lower bound, so that of duplicate keys the first line wins. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(t->e[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n && strcmp(t->e[lo].key, key) == 0 ? &t->e[lo] : NULL;
}

static struct entry *
table_add(struct table *t, const char *key, size_t keylen, unsigned line)
{
	struct entry *e;

	if (t->n % 64 == 0)
		t->e = xreallocarray(t->e, t->n + 64, sizeof(*t->e));
	e = &t->e[t->n++];
	memset(e, 0, sizeof(*e));
	e->key = xstrndup(key, keylen);
	lower(e->key);
	e->line = line;
	return e;
}

/* Split an alias value at commas outside double quotes (aliases(5)). */
static void
alias_targets(struct sink *k, const char *file, struct entry *e,
    const char *v, size_t len)
{
	size_t i = 0;

	while (i <= len) {
		size_t start, end;
		bool quoted = false;

		while (i < len && (v[i] == ' ' || v[i] == '\t'))
			i++;
		start = i;
		while (i < len && (quoted || v[i] != ',')) {
			if (v[i] == '"')
				quoted = !quoted;
			else if (v[i] == '\\' && quoted && i + 1 < len)
				i++;
			i++;
		}
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		i++;
		if (end == start)
			continue;	/* "a,,b" and joins of continuations */
		if (quoted) {
			sink_error(k, file, e->line, "alias %s: unbalanced "
			    "quote", e->key);
			return;
		}
		if (e->n_targets >= ALIAS_TARGETS_MAX) {
			sink_error(k, file, e->line, "alias %s: more than %d "
			    "targets", e->key, ALIAS_TARGETS_MAX);
			return;
		}
		if (e->n_targets % 16 == 0)
			e->targets = xreallocarray(e->targets,
			    e->n_targets + 16, sizeof(char *));
		e->targets[e->n_targets++] = xstrndup(v + start, end - start);
	}
}

/* One logical line: "key:value".  Aliases values may have been joined
 * from continuation lines. */
static void
parse_entry(struct sink *k, const char *file, struct table *t, bool aliases,
    const char *s, size_t len, unsigned line)
{
	const char *colon = memchr(s, ':', len);
	char key[SMTP_LOCAL_PART_MAX + 2];
	const char *v;
	size_t klen, vlen;
	unsigned before;
	struct entry *e;

	if (colon == NULL) {
		sink_error(k, file, line, "expected \"%s\"", aliases ?
		    "local: target, target" : "local:HASH or local:");
		return;
	}
	klen = (size_t)(colon - s);
	while (klen > 0 && (s[klen - 1] == ' ' || s[klen - 1] == '\t'))
		klen--;
	snprintf(key, sizeof(key), "%.*s", (int)(klen < sizeof(key) - 1 ?
	    klen : sizeof(key) - 1), s);
	if (klen >= sizeof(key) - 1 || !domains_valid_local(key)) {
		sink_error(k, file, line, "\"%.*s\" is not a valid local part",
		    (int)(klen > 64 ? 64 : klen), s);
		return;
	}
	v = colon + 1;
	vlen = len - (size_t)(v - s);
	if (!aliases) {
		const char *end = memchr(v, ':', vlen);

		/* Dovecot passwd-file extra fields (uid:gid:...) are
		 * allowed after the hash and ignored. */
		if (end != NULL)
			vlen = (size_t)(end - v);
		if (vlen >= 7 && strncasecmp(v, "{CRYPT}", 7) == 0) {
			v += 7;
			vlen -= 7;
		}
		for (size_t i = 0; i < vlen; i++) {
			if ((unsigned char)v[i] <= ' ' || v[i] == 0x7f) {
				sink_error(k, file, line, "user %s: the hash "
				    "contains white space", key);
				return;
			}
		}
		e = table_add(t, s, klen, line);
		e->hash = xstrndup(v, vlen);
		return;
	}
	e = table_add(t, s, klen, line);
	before = k->errors;
	alias_targets(k, file, e, v, vlen);
	if (e->n_targets == 0 && k->errors == before)
		sink_error(k, file, line, "alias %s: no targets", e->key);
}

/* Parse a whole file image.  Errors go to k; the caller decides what an
 * error means (tempfail at run time, a report in check-config). */
static void
parse_table(struct sink *k, const char *file, struct table *t, bool aliases,
    const char *data, size_t size)
{
	struct buf logical;
	unsigned line = 0, logical_line = 0;
	size_t pos = 0;

	buf_init(&logical, DOMAINS_ENTRY_MAX);
	while (pos < size) {
		const char *nl = memchr(data + pos, '\n', size - pos);
		size_t len = (nl != NULL ? (size_t)(nl - data) : size) - pos;
		const char *s = data + pos;
		size_t i = 0;

		pos += len + 1;
		line++;
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (len > DOMAINS_LINE_MAX) {
			sink_error(k, file, line, "line longer than %d octets",
			    DOMAINS_LINE_MAX);
			continue;
		}
		if (memchr(s, '\0', len) != NULL) {
			sink_error(k, file, line, "NUL octet in line");
			continue;
		}
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len || s[i] == '#')
			continue;
		if (i > 0) {
			/* aliases(5): a line starting with white space
			 * continues the previous entry. */
			if (!aliases || logical_line == 0) {
				sink_error(k, file, line, "line starts with "
				    "white space");
				continue;
			}
			if (buf_append(&logical, ",", 1) < 0 ||
			    buf_append(&logical, s + i, len - i) < 0) {
				sink_error(k, file, logical_line, "entry "
				    "longer than %d octets", DOMAINS_ENTRY_MAX);
				buf_reset(&logical);
				logical_line = 0;
			}
			continue;
		}
		if (logical_line != 0)
			parse_entry(k, file, t, aliases, logical.data,
			    logical.len, logical_line);
		buf_reset(&logical);
		logical_line = 0;
		if (t->n >= DOMAINS_ENTRIES_MAX) {
			sink_error(k, file, line, "more than %d entries",
			    DOMAINS_ENTRIES_MAX);
			break;
		}
		if (aliases) {
			logical_line = line;
			if (buf_append(&logical, s, len) < 0)
				logical_line = 0;	/* cannot happen: len small */
		} else {
			parse_entry(k, file, t, aliases, s, len, line);
		}
	}
	if (logical_line != 0)
		parse_entry(k, file, t, aliases, logical.data, logical.len,
		    logical_line);
	buf_free(&logical);
	if (t->n > 1)
		qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
	for (size_t i = 1; i < t->n; i++)
		if (strcmp(t->e[i - 1].key, t->e[i].key) == 0)
			sink_error(k, file, t->e[i].line, "%s is already "
			    "defined on line %u", t->e[i].key,
			    t->e[i - 1].line);
}

/* Read the whole file into memory, bounded.  Returns 0 (data, size set,
 * st filled), 1 when the file does not exist, -1 on error. */
static int
read_file(struct sink *k, const char *path, char **data, size_t *size,
    struct stat *st)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	char *p;

	*data = NULL;
	*size = 0;
	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		sink_error(k, path, 0, "cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) ||
	    st->st_size > DOMAINS_FILE_MAX) {
		sink_error(k, path, 0, "not a regular file of at most %d "
		    "octets", DOMAINS_FILE_MAX);
		close(fd);
		return -1;
	}
	/* One spare octet detects a file that grew after fstat. */
	p = xmalloc((size_t)st->st_size + 1);
	for (;;) {
		ssize_t r = read(fd, p + len, (size_t)st->st_size + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sink_error(k, path, 0, "read: %s", strerror(errno));
			free(p);
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > (size_t)st->st_size) {
			sink_error(k, path, 0, "changed while being read");
			free(p);
			close(fd);
			return -1;
		}
	}
	close(fd);
	*data = p;
	*size = len;
	return 0;
}

static bool
table_same(const struct table *t, const struct stat *st)
{
	return t->present && t->dev == st->st_dev && t->ino == st->st_ino &&
	    t->size == st->st_size &&
	    t->mtime.tv_sec == st->st_mtim.tv_sec &&
	    t->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void
table_refresh(struct table *t, bool aliases)
{
	struct sink k = { 0 };
	struct stat st;
	char *data;
	size_t size;
	int r;

	if (stat(t->path, &st) < 0) {
		if (errno == ENOENT) {
			table_clear(t);
			t->present = t->broken = false;
			return;
		}
	} else if (table_same(t, &st) && !t->broken) {
		return;
	}
	table_clear(t);
	t->present = false;
	r = read_file(&k, t->path, &data, &size, &st);
	if (r == 1) {
		t->broken = false;
		return;
	}
	if (r == 0)
		parse_table(&k, t->path, t, aliases, data, size);
	free(data);
	t->broken = k.errors != 0;
	if (t->broken) {
		table_clear(t);
		return;
	}
	t->present = true;
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->size = st.st_size;
	t->mtime = st.st_mtim;
	log_info("event=table-load file=%s entries=%zu", t->path, t->n);
}

struct domains *
domains_open(const char *dir)
{
	struct domains *d = xcalloc(1, sizeof(*d));

	d->dir = xstrdup(dir);
	return d;
}

static void
domain_free(struct domain *dom)
{
	table_clear(&dom->users);
	table_clear(&dom->aliases);
	free(dom->users.path);
	free(dom->aliases.path);
	free(dom->name);
}

void
domains_free(struct domains *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		domain_free(&d->v[i]);
	free(d->v);
	free(d->dir);
	free(d);
}

/* The domain's entry, fresh to within a second, or NULL when it is not
 * local (*err set on a stat error).  Entries are only made for domains
 * that exist, so a flood of RCPT TO random domains cannot grow the cache. */
static struct domain *
domain_get(struct domains *d, const char *name, bool *err)
{
	char key[SMTP_DOMAIN_MAX + 1], path[4096];
	struct domain *dom = NULL;
	long long now = now_ms();
	struct stat st;
	int n, sr;

	*err = false;
	snprintf(key, sizeof(key), "%s", name);
	lower(key);
	if (strlen(name) > SMTP_DOMAIN_MAX || !domains_valid_domain(key))
		return NULL;	/* literals, junk: never local */
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, key) == 0)
			dom = &d->v[i];
	if (dom != NULL && now - dom->checked_ms < DOMAINS_RECHECK_MS) {
		*err = dom->dir_error;
		return dom->local ? dom : NULL;
	}
	n = snprintf(path, sizeof(path), "%s/%s", d->dir, key);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		*err = true;
		return NULL;
	}
	sr = stat(path, &st);
	if (sr < 0 || !S_ISDIR(st.st_mode)) {
		bool missing = sr == 0 || errno == ENOENT || errno == ENOTDIR;

		if (dom != NULL) {
			dom->local = false;
			dom->dir_error = !missing;
			dom->checked_ms = now;
			table_clear(&dom->users);
			table_clear(&dom->aliases);
			dom->users.present = dom->aliases.present = false;
		}
		*err = !missing;
		return NULL;
	}
	if (dom == NULL) {
		if (d->n >= DOMAINS_CACHE_MAX) {
			log_error("event=table_error error=too_many_domains "
			    "max=%d", DOMAINS_CACHE_MAX);
			*err = true;
			return NULL;
		}
		d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
		dom = &d->v[d->n++];
		memset(dom, 0, sizeof(*dom));
		dom->name = xstrdup(key);
		dom->users.path = xasprintf("%s/users", path);
		dom->aliases.path = xasprintf("%s/aliases", path);
	}
	dom->local = true;
	dom->dir_error = false;
	dom->checked_ms = now;
	table_refresh(&dom->users, false);
	table_refresh(&dom->aliases, true);
	return dom;
}

int
domains_is_local(struct domains *d, const char *domain)
{
	bool err;
	struct domain *dom;

	dom = domain_get(d, domain, &err);
	if (err)
		return -1;
	return dom != NULL;
}

static int
lookup(struct domains *d, const char *local, const char *domain,
    bool aliases, const struct entry **out)
{
	char key[SMTP_LOCAL_PART_MAX + 1];
	struct domain *dom;
	struct table *t;
	bool err;

	*out = NULL;
	dom = domain_get(d, domain, &err);
	if (err)
		return -1;
	if (dom == NULL)
		return 0;
	t = aliases ? &dom->aliases : &dom->users;
	if (t->broken)
		return -1;
	if (strlen(local) > SMTP_LOCAL_PART_MAX)
		return 0;
	snprintf(key, sizeof(key), "%s", local);
	lower(key);
	*out = table_find(t, key);
	return *out != NULL;
}

int
domains_user(struct domains *d, const char *local, const char *domain,
    const char **hash)
{
	const struct entry *e;
	int r = lookup(d, local, domain, false, &e);

	if (r == 1 && hash != NULL)
		*hash = e->hash;
	return r;
}

int
domains_alias(struct domains *d, const char *local, const char *domain,
    char *const **targets, size_t *n)
{
	const struct entry *e;
	int r = lookup(d, local, domain, true, &e);

	if (r == 1) {
		*targets = e->targets;
		*n = e->n_targets;
	}
	return r;
}

static int
entry_line_cmp(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	return x->line < y->line ? -1 : x->line > y->line;
}

/* check-config: every alias target must be something we can deliver. */
static void
check_targets(struct sink *k, const char *dir, const char *domain,
    const struct table *users, const struct table *aliases,
    const char *postmaster)
{
	char local[SMTP_LOCAL_PART_MAX + 1], tdom[SMTP_DOMAIN_MAX + 1];
	char path[4096];
	struct stat st;

	const struct entry **byline = xcalloc(aliases->n, sizeof(*byline));

	/* Report in file order, not key order. */
	for (size_t i = 0; i < aliases->n; i++)
		byline[i] = &aliases->e[i];
	qsort(byline, aliases->n, sizeof(*byline), entry_line_cmp);
	for (size_t i = 0; i < aliases->n; i++) {
		const struct entry *e = byline[i];

		if (table_find(users, e->key) != NULL)
			sink_error(k, aliases->path, e->line, "alias %s is "
			    "shadowed by the user of the same name (users "
			    "come first)", e->key);
		for (size_t j = 0; j < e->n_targets; j++) {
			const char *t = e->targets[j];

			switch (domains_target_kind(t)) {
			case DOMAINS_TARGET_PIPE:
				sink_error(k, aliases->path, e->line, "alias "
				    "%s: pipes to commands are not supported",
				    e->key);
				continue;
			case DOMAINS_TARGET_FILE:
				sink_error(k, aliases->path, e->line, "alias "
				    "%s: delivery to files is not supported",
				    e->key);
				continue;
			case DOMAINS_TARGET_INCLUDE:
				sink_error(k, aliases->path, e->line, "alias "
				    "%s: :include: is not supported", e->key);
				continue;
			case DOMAINS_TARGET_ADDRESS:
				break;
			}
			if (domains_split_address(t, local, tdom) < 0 ||
			    (tdom[0] != '\0' && !domains_valid_domain(tdom))) {
				sink_error(k, aliases->path, e->line, "alias "
				    "%s: \"%.100s\" is not an address", e->key,
				    t);
				continue;
			}
			if (postmaster != NULL && strcasecmp(t, postmaster) == 0)
				continue;
			if (tdom[0] == '\0' || strcmp(tdom, domain) == 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, tdom);
			if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
				sink_error(k, aliases->path, e->line, "alias "
				    "%s: %.100s: forwarding to foreign domains "
				    "is not supported yet", e->key, t);
		}
	}
	free(byline);
}

static void
check_file(struct sink *k, struct table *t, bool aliases)
{
	char *data;
	size_t size;
	struct stat st;

	if (read_file(k, t->path, &data, &size, &st) == 0)
		parse_table(k, t->path, t, aliases, data, size);
	free(data);
}

int
domains_check(const char *dir, const char *postmaster,
    domains_report_fn *report, void *arg)
{
	struct sink k = { .report = report, .arg = arg };
	struct dirent *de;
	DIR *dp = opendir(dir);

	if (dp == NULL) {
		sink_error(&k, dir, 0, "cannot open the domains folder: %s",
		    strerror(errno));
		return (int)k.errors;
	}
	while ((de = readdir(dp)) != NULL) {
		struct table users = { 0 }, aliases = { 0 };
		char lname[SMTP_DOMAIN_MAX + 1];
		struct stat st;
		char *path;

		if (de->d_name[0] == '.')
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
			free(path);
			continue;
		}
		snprintf(lname, sizeof(lname), "%s", de->d_name);
		lower(lname);
		if (!domains_valid_domain(de->d_name) ||
		    strcmp(lname, de->d_name) != 0) {
			sink_error(&k, path, 0, "folder name is not a "
			    "lower-case domain name");
			free(path);
			continue;
		}
		users.path = xasprintf("%s/users", path);
		aliases.path = xasprintf("%s/aliases", path);
		check_file(&k, &users, false);
		check_file(&k, &aliases, true);
		check_targets(&k, dir, de->d_name, &users, &aliases,
		    postmaster);
		table_clear(&users);
		table_clear(&aliases);
		free(users.path);
		free(aliases.path);
		free(path);
	}
	closedir(dp);
	return (int)k.errors;
}
