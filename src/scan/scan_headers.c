/*
 * Header changes (scan_headers.h): the section split into fields (a
 * field is its first line and the folded lines after it), the changes
 * applied to that list, the list written out.  Fields left alone are
 * copied octet for octet; new ones are written "Name: value" with the
 * folds made CRLF again.
 */
#include "scan/scan_headers.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/xmalloc.h"

struct field {
	const char *text;	/* the whole field, CRLF after each line */
	size_t len;
	char *own;		/* text, when we made it */
};

struct fields {
	struct field *v;
	size_t n, cap;
};

static bool
fields_insert(struct fields *f, size_t at, const char *text, size_t len,
    char *own)
{
	if (f->n >= SCAN_HEADER_FIELDS_MAX) {
		free(own);
		return false;
	}
	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 32 : f->cap * 2;
		f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
	}
	if (at > f->n)
		at = f->n;
	memmove(&f->v[at + 1], &f->v[at], (f->n - at) * sizeof(*f->v));
	f->v[at] = (struct field){ text, len, own };
	f->n++;
	return true;
}

static void
fields_delete(struct fields *f, size_t at)
{
	free(f->v[at].own);
	memmove(&f->v[at], &f->v[at + 1], (f->n - at - 1) * sizeof(*f->v));
	f->n--;
}

/* Splits in into fields; a line that starts with SP or HTAB continues
 * the field before it (one at the very top is a field of its own, as
 * nothing precedes it). */
static bool
fields_split(struct fields *f, const char *in, size_t len)
{
	size_t start = 0, pos = 0;

	while (pos < len) {
		const char *nl = memchr(in + pos, '\n', len - pos);
		size_t next = nl != NULL ? (size_t)(nl - in) + 1 : len;

		if (next < len && in[next] != ' ' && in[next] != '\t') {
			if (!fields_insert(f, f->n, in + start, next - start, NULL))
				return false;
			start = next;
		}
		pos = next;
	}
	if (start < len)
		return fields_insert(f, f->n, in + start, len - start, NULL);
	return true;
}

/* Whether field x is called name (the name ends at ':', white space
 * before it allowed by RFC 5322's obsolete syntax). */
static bool
field_is(const struct field *x, const char *name)
{
	size_t n = strlen(name), i = n;

	if (x->len < n + 1 || strncasecmp(x->text, name, n) != 0)
		return false;
	while (i < x->len && (x->text[i] == ' ' || x->text[i] == '\t'))
		i++;
	return i < x->len && x->text[i] == ':';
}

/* "Name: value\r\n", the value's "\n" folds as CRLF. */
static char *
field_make(const char *name, const char *value, size_t *len)
{
	size_t nlen = strlen(name), vlen = strlen(value);
	char *out = xmalloc(nlen + 2 + 2 * vlen + 3), *p = out;

	memcpy(p, name, nlen);
	p += nlen;
	*p++ = ':';
	if (value[0] != ' ' && value[0] != '\t')
		*p++ = ' ';
	for (size_t i = 0; i < vlen; i++) {
		if (value[i] == '\n')
			*p++ = '\r';
		*p++ = value[i];
	}
	*p++ = '\r';
	*p++ = '\n';
	*p = '\0';
	*len = (size_t)(p - out);
	return out;
}

static bool
add_at(struct fields *f, size_t at, const struct scan_mod *m)
{
	size_t len;
	char *text = field_make(m->name, m->value != NULL ? m->value : "", &len);

	return fields_insert(f, at, text, len, text);
}

static bool
change(struct fields *f, const struct scan_mod *m)
{
	uint32_t seen = 0;
	bool del = m->value == NULL || m->value[0] == '\0';

	for (size_t i = 0; i < f->n; i++) {
		if (!field_is(&f->v[i], m->name) || ++seen != m->index)
			continue;
		fields_delete(f, i);
		return del || add_at(f, i, m);
	}
	return del || add_at(f, f->n, m);
}

static void
remove_all(struct fields *f, const char *name)
{
	for (size_t i = f->n; i > 0; i--)
		if (field_is(&f->v[i - 1], name))
			fields_delete(f, i - 1);
}

static bool
apply_one(struct fields *f, const struct scan_mod *m)
{
	switch (m->type) {
	case SCAN_MOD_ADD_HEADER:
		return add_at(f, f->n, m);
	case SCAN_MOD_INSERT_HEADER:
		return add_at(f, m->index, m);
	case SCAN_MOD_CHANGE_HEADER:
		return change(f, m);
	case SCAN_MOD_REMOVE_HEADER:
		remove_all(f, m->name);
		return true;
	default:
		return true;
	}
}

int
scan_headers_apply(const char *in, size_t inlen, const struct scan_mod *mods,
    struct buf *out)
{
	struct fields f = { 0 };
	bool ok = fields_split(&f, in, inlen);

	for (const struct scan_mod *m = mods; ok && m != NULL; m = m->next)
		if (m->name != NULL)
			ok = apply_one(&f, m);
	for (size_t i = 0; ok && i < f.n; i++)
		ok = buf_append(out, f.v[i].text, f.v[i].len) == 0;
	for (size_t i = 0; i < f.n; i++)
		free(f.v[i].own);
	free(f.v);
	return ok ? 0 : -1;
}
