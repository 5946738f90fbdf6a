/*
 * A scanner's result (scan.h): its verdict and the changes it asked for,
 * kept within SCAN_MODS_MAX changes and SCAN_MODS_BYTES_MAX octets so a
 * scanner cannot make a session hold more than that.
 */
#include "scan/scan.h"

#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

void
scan_result_init(struct scan_result *r, const char *scanner)
{
	memset(r, 0, sizeof(*r));
	r->scanner = scanner;
	r->verdict = SCAN_ACCEPT;
	r->finding = SCAN_FOUND_NOTHING;
}

void
scan_result_clear(struct scan_result *r)
{
	struct scan_mod *m, *next;

	for (m = r->mods; m != NULL; m = next) {
		next = m->next;
		free(m->name);
		free(m->value);
		free(m->addr);
		free(m);
	}
	if (r->body != NULL)
		evbuffer_free(r->body);
	scan_result_init(r, r->scanner);
}

static size_t
len_or_0(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

bool
scan_result_add_mod(struct scan_result *r, enum scan_mod_type type,
    uint32_t index, const char *name, const char *value, const char *addr)
{
	size_t bytes = len_or_0(name) + len_or_0(value) + len_or_0(addr);
	struct scan_mod *m, **tail;

	if (r->n_mods >= SCAN_MODS_MAX ||
	    bytes > SCAN_MODS_BYTES_MAX - r->mod_bytes)
		return false;
	m = xcalloc(1, sizeof(*m));
	m->type = type;
	m->index = index;
	m->name = dup_or_null(name);
	m->value = dup_or_null(value);
	m->addr = dup_or_null(addr);
	for (tail = &r->mods; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = m;
	r->n_mods++;
	r->mod_bytes += bytes;
	return true;
}

void
scan_result_fail(struct scan_result *r, const char *fmt, ...)
{
	va_list ap;

	r->verdict = SCAN_FAILED;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}
