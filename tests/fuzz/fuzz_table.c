/*
 * libFuzzer harness: the users/aliases file parser (route/domains_table.c,
 * through domains_table_parse(), the in-memory entry point that reloads
 * and check-config also use).  Byte 0's low bit picks users (0) or
 * aliases (1); the rest is the file image.  Invariants checked:
 *  - every key is a valid lower-case local part (a safe folder name);
 *  - the table is sorted by key, then by line, and lookups find the
 *    first line of each key;
 *  - users entries have a hash without white space and no targets;
 *    aliases entries have no hash and at most ALIAS_TARGETS_MAX targets;
 *  - with no error reported: no duplicate key, every alias has targets,
 *    each non-empty and without surrounding blanks;
 *  - every report names the file and a line within the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bounds.h"
#include "route/domains_priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_file[] = "fuzz/aliases";

struct reports {
	unsigned n;
	unsigned max_line;
};

static void
report(void *arg, const char *file, int line, const char *message)
{
	struct reports *r = arg;

	if (strcmp(file, fuzz_file) != 0 || line < 1 ||
	    (unsigned)line > r->max_line || message[0] == '\0')
		abort();
	r->n++;
}

static bool
blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
check_entry(const struct domains_entry *e, bool aliases, bool clean)
{
	if (!domains_valid_local(e->key))
		abort();
	for (const char *p = e->key; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			abort();
	if (!aliases) {
		if (e->hash == NULL || e->n_targets != 0)
			abort();
		for (const char *p = e->hash; *p != '\0'; p++)
			if ((unsigned char)*p <= ' ' || *p == 0x7f)
				abort();
		return;
	}
	if (e->hash != NULL || e->n_targets > ALIAS_TARGETS_MAX)
		abort();
	if (!clean)
		return;
	if (e->n_targets == 0)
		abort();
	for (size_t j = 0; j < e->n_targets; j++) {
		const char *t = e->targets[j];
		size_t len = strlen(t);

		if (len == 0 || blank(t[0]) || blank(t[len - 1]))
			abort();
		(void)domains_target_kind(t);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct domains_table t = { 0 };
	struct reports r = { 0, 1 };
	struct domains_sink k = { .report = report, .arg = &r };
	bool aliases;

	if (size < 1)
		return 0;
	aliases = data[0] & 1;
	for (size_t i = 1; i < size; i++)
		if (data[i] == '\n')
			r.max_line++;
	domains_table_parse(&k, fuzz_file, &t, aliases, (const char *)data + 1,
	    size - 1);
	if (k.errors != r.n)
		abort();
	for (size_t i = 0; i < t.n; i++) {
		const struct domains_entry *e = &t.e[i];

		check_entry(e, aliases, k.errors == 0);
		if (e->line < 1 || e->line > r.max_line)
			abort();
		if (i > 0) {
			int c = strcmp(t.e[i - 1].key, e->key);

			if (c > 0 || (c == 0 && t.e[i - 1].line >= e->line))
				abort();
			if (c == 0 && k.errors == 0)
				abort();
		}
		if (domains_table_find(&t, e->key) == NULL ||
		    domains_table_find(&t, e->key)->line > e->line)
			abort();
	}
	domains_table_clear(&t);
	domains_table_clear(&t);
	if (t.e != NULL || t.n != 0)
		abort();
	return 0;
}
