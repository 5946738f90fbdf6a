/*
 * One users, aliases or senders file of a local domain: read it whole
 * (bounded, and only as the stat the caller judged it by describes it)
 * and parse it into a sorted table.  See domains.h for the file formats
 * and domains_priv.h for the table.
 *
 * Called by domains_snap.c (the lookups' snapshots, in a worker thread or
 * at start-up) and domains_check.c (check-config); the parser is also
 * fuzzed on its own.
 * The files are the operator's, but are parsed as untrusted text: bounded
 * file size, line length and entry count, so a runaway script that fills
 * "aliases" gives a logged error and a tempfail (451) instead of a crash
 * or an out-of-memory.  Any syntax error makes the whole table unreadable
 * (tempfail) rather than silently dropping a line, because a dropped line
 * would turn into 550 "no such user" for a real user; check-config names
 * the line.
 *
 * Invariants: every key in a table is a valid lower-case local part (so
 * it is safe as a Maildir folder name); tables are sorted for bsearch,
 * duplicate keys by line.  A read is whole or returns nothing: the file
 * must keep its device, inode, size, mtime and ctime from the caller's
 * stat to after the last read (domains_table_read_whole).
 */
#include "route/domains_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define DOMAINS_FILE_MAX	(64 * 1024 * 1024)	/* octets per file */
#define DOMAINS_LINE_MAX	4096			/* octets per line */
#define DOMAINS_ENTRY_MAX	(64 * 1024)		/* alias + continuations */
#define DOMAINS_ENTRIES_MAX	1000000			/* lines per file */

void
domains_sink_error(struct domains_sink *k, const char *file, unsigned line,
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
	} else if (k->errors <= DOMAINS_ERRORS_LOGGED) {
		char sf[256], sm[600];

		log_error("event=table-error file=\"%s\" line=%u error=\"%s\"",
		    log_safe(file, sf, sizeof(sf)), line,
		    log_safe(msg, sm, sizeof(sm)));
	}
}

void
domains_table_clear(struct domains_table *t)
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
	t->n = t->cap = 0;
}

void
domains_table_free(struct domains_table *t)
{
	domains_table_clear(t);
	free(t->path);
	t->path = NULL;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct domains_entry *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

struct domains_entry *
domains_table_find(const struct domains_table *t, const char *key)
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

static struct domains_entry *
table_add(struct domains_table *t, const char *key, size_t keylen,
    unsigned line)
{
	struct domains_entry *e;

	/* Doubling: a 100,000-line file must not cost n/64 copies. */
	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 64 : 2 * t->cap;
		t->e = xreallocarray(t->e, t->cap, sizeof(*t->e));
	}
	e = &t->e[t->n++];
	memset(e, 0, sizeof(*e));
	e->key = xstrndup(key, keylen);
	domains_lower(e->key);
	e->line = line;
	return e;
}

/* What an aliases-syntax entry is called in errors. */
static const char *
entry_noun(const struct domains_table *t)
{
	return t->senders ? "senders of" : "alias";
}

/* Split an alias value at commas outside double quotes (aliases(5)). */
static void
alias_targets(struct domains_sink *k, const char *file,
    const struct domains_table *t, struct domains_entry *e, const char *v,
    size_t len)
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
			domains_sink_error(k, file, e->line, "%s %s: "
			    "unbalanced quote", entry_noun(t), e->key);
			return;
		}
		if (e->n_targets >= ALIAS_TARGETS_MAX) {
			domains_sink_error(k, file, e->line, "%s %s: more "
			    "than %d targets", entry_noun(t), e->key,
			    ALIAS_TARGETS_MAX);
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
parse_entry(struct domains_sink *k, const char *file, struct domains_table *t,
    bool aliases, const char *s, size_t len, unsigned line)
{
	const char *colon = memchr(s, ':', len);
	char key[SMTP_LOCAL_PART_MAX + 2];
	const char *v;
	size_t klen, vlen, cut;
	unsigned before;
	struct domains_entry *e;

	if (colon == NULL) {
		domains_sink_error(k, file, line, "expected \"%s\"",
		    t->senders ? "local: address, @domain" : aliases ?
		    "local: target, target" : "local:HASH or local:");
		return;
	}
	klen = (size_t)(colon - s);
	while (klen > 0 && (s[klen - 1] == ' ' || s[klen - 1] == '\t'))
		klen--;
	/* A line holds no NUL (domains_table_parse refused it): a plain
	 * copy, not snprintf, which was a tenth of a big file's parse. */
	cut = klen < sizeof(key) - 1 ? klen : sizeof(key) - 1;
	memcpy(key, s, cut);
	key[cut] = '\0';
	if (klen >= sizeof(key) - 1 || !domains_valid_local(key)) {
		domains_sink_error(k, file, line, "\"%.*s\" is not a valid "
		    "local part", (int)(klen > 64 ? 64 : klen), s);
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
				domains_sink_error(k, file, line, "user %s: "
				    "the hash contains white space", key);
				return;
			}
		}
		e = table_add(t, s, klen, line);
		e->hash = xstrndup(v, vlen);
		return;
	}
	e = table_add(t, s, klen, line);
	before = k->errors;
	alias_targets(k, file, t, e, v, vlen);
	if (e->n_targets == 0 && k->errors == before)
		domains_sink_error(k, file, line, "%s %s: no %s",
		    entry_noun(t), e->key, t->senders ? "addresses" : "targets");
}

/* Parse a whole file image.  Errors go to k; the caller decides what an
 * error means (tempfail at run time, a report in check-config). */
void
domains_table_parse(struct domains_sink *k, const char *file,
    struct domains_table *t, bool aliases, const char *data, size_t size)
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
			domains_sink_error(k, file, line, "line longer than %d "
			    "octets", DOMAINS_LINE_MAX);
			continue;
		}
		if (memchr(s, '\0', len) != NULL) {
			domains_sink_error(k, file, line, "NUL octet in line");
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
				domains_sink_error(k, file, line, "line starts "
				    "with white space");
				continue;
			}
			if (buf_append(&logical, ",", 1) < 0 ||
			    buf_append(&logical, s + i, len - i) < 0) {
				domains_sink_error(k, file, logical_line,
				    "entry longer than %d octets",
				    DOMAINS_ENTRY_MAX);
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
			domains_sink_error(k, file, line, "more than %d "
			    "entries", DOMAINS_ENTRIES_MAX);
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
			domains_sink_error(k, file, t->e[i].line, "%s is "
			    "already defined on line %u", t->e[i].key,
			    t->e[i - 1].line);
}

void
domains_fileid_of(struct domains_fileid *id, const struct stat *st)
{
	memset(id, 0, sizeof(*id));
	id->dev = st->st_dev;
	id->ino = st->st_ino;
	id->size = st->st_size;
	id->mtime = st->st_mtim;
	id->ctime = st->st_ctim;
}

bool
domains_fileid_equal(const struct domains_fileid *a,
    const struct domains_fileid *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	    a->mtime.tv_sec == b->mtime.tv_sec &&
	    a->mtime.tv_nsec == b->mtime.tv_nsec &&
	    a->ctime.tv_sec == b->ctime.tv_sec &&
	    a->ctime.tv_nsec == b->ctime.tv_nsec;
}

static bool
same_file(const struct stat *a, const struct stat *b)
{
	struct domains_fileid x, y;

	domains_fileid_of(&x, a);
	domains_fileid_of(&y, b);
	return domains_fileid_equal(&x, &y);
}

/* Read fd to its end into a buffer of want + 1 octets: the spare octet
 * detects a file that grew.  Returns the length, or -1 (errno set). */
static ssize_t
read_all(int fd, char *p, size_t want)
{
	size_t len = 0;

	for (;;) {
		ssize_t r = read(fd, p + len, want + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return (ssize_t)len;
		len += (size_t)r;
		if (len > want)
			return (ssize_t)len;
	}
}

enum domains_read
domains_table_read_whole(int dirfd, const char *name, const struct stat *st,
    char **data, size_t *size, int *err)
{
	struct stat before, after;
	enum domains_read rc = DOMAINS_READ_ERROR;
	char *p = NULL;
	ssize_t len;
	int fd;

	*data = NULL;
	*size = 0;
	*err = 0;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		*err = errno;
		return errno == ENOENT ? DOMAINS_READ_CHANGED :
		    DOMAINS_READ_ERROR;
	}
	if (fstat(fd, &before) < 0) {
		*err = errno;
		goto out;
	}
	if (!S_ISREG(before.st_mode) || before.st_size > DOMAINS_FILE_MAX) {
		*err = S_ISREG(before.st_mode) ? EFBIG : EINVAL;
		goto out;
	}
	if (!same_file(&before, st)) {
		rc = DOMAINS_READ_CHANGED;	/* replaced since the stat */
		goto out;
	}
	p = xmalloc((size_t)before.st_size + 1);
	len = read_all(fd, p, (size_t)before.st_size);
	if (len < 0) {
		*err = errno;
		goto out;
	}
	/* Whole means: the same size, mtime and ctime after the last read
	 * as before the first, and exactly that many octets read. */
	if ((size_t)len != (size_t)before.st_size || fstat(fd, &after) < 0 ||
	    !same_file(&before, &after)) {
		rc = DOMAINS_READ_CHANGED;
		goto out;
	}
	*data = p;
	*size = (size_t)len;
	p = NULL;
	rc = DOMAINS_READ_OK;
out:
	free(p);
	close(fd);
	return rc;
}

int
domains_table_load(struct domains_sink *k, struct domains_table *t,
    bool aliases)
{
	enum domains_read r;
	struct stat st;
	char *data;
	size_t size;
	int err;

	if (stat(t->path, &st) < 0) {
		if (errno == ENOENT)
			return 1;
		domains_sink_error(k, t->path, 0, "cannot read: %s",
		    strerror(errno));
		return -1;
	}
	r = domains_table_read_whole(AT_FDCWD, t->path, &st, &data, &size,
	    &err);
	if (r == DOMAINS_READ_CHANGED && err == ENOENT)
		return 1;
	if (r == DOMAINS_READ_CHANGED) {
		domains_sink_error(k, t->path, 0, "changed while being read");
		return -1;
	}
	if (r == DOMAINS_READ_ERROR) {
		if (err == EFBIG || err == EINVAL)
			domains_sink_error(k, t->path, 0, "not a regular file "
			    "of at most %d octets", DOMAINS_FILE_MAX);
		else
			domains_sink_error(k, t->path, 0, "cannot read: %s",
			    strerror(err));
		return -1;
	}
	domains_table_parse(k, t->path, t, aliases, data, size);
	free(data);
	return 0;
}
