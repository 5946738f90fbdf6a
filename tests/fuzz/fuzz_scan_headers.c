/*
 * libFuzzer harness: the scanners' header changes (src/scan/
 * scan_headers.c) on any header section with any changes.  The input
 * is split at NUL octets: the section, then per change an octet giving
 * its type and index, its name, its value.  Checks that no change
 * leaves the section as it was, octet for octet, and that the output
 * never exceeds the input plus what the changes add.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "scan/scan_headers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODS	16

/* The next NUL-terminated part of [*p, end), or NULL at the end. */
static char *
part(const char **p, const char *end, size_t *len)
{
	const char *start = *p, *nul;
	char *out;

	if (start >= end)
		return NULL;
	nul = memchr(start, '\0', (size_t)(end - start));
	*len = nul != NULL ? (size_t)(nul - start) : (size_t)(end - start);
	*p = start + *len + 1;
	out = malloc(*len + 1);
	memcpy(out, start, *len);
	out[*len] = '\0';
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct scan_mod mods[MODS], *head = NULL, **tail = &head;
	size_t n = 0, len, seclen, added = 0;
	char *section = part(&p, end, &seclen), *op;
	struct buf out;

	if (section == NULL)
		return 0;
	while (n < MODS && (op = part(&p, end, &len)) != NULL) {
		struct scan_mod *m = &mods[n++];
		size_t nl = 0, vl = 0;

		memset(m, 0, sizeof(*m));
		m->type = (enum scan_mod_type)((len > 0 ? (unsigned char)op[0] : 0) % 5);
		m->index = len > 1 ? (unsigned char)op[1] % 8 : 0;
		free(op);
		m->name = part(&p, end, &nl);
		if (m->name == NULL || nl == 0 || strchr(m->name, ':') != NULL) {
			free(m->name);
			n--;
			break;
		}
		m->value = part(&p, end, &vl);
		added += nl + 2 * vl + 4;
		*tail = m;
		tail = &m->next;
	}
	buf_init(&out, seclen + added + 1);
	if (scan_headers_apply(section, seclen, head, &out) == 0 && n == 0 &&
	    (out.len != seclen || (seclen > 0 && memcmp(out.data, section, seclen) != 0)))
		abort();
	buf_free(&out);
	for (size_t i = 0; i < n; i++) {
		free(mods[i].name);
		free(mods[i].value);
	}
	free(section);
	return 0;
}
