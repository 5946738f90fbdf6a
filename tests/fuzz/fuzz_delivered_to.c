/*
 * libFuzzer harness: the Delivered-To: reader (src/smtp/delivered_to.c).
 * Byte 0 picks a split position; the rest is a message.  Invariants:
 *  - fed whole, split in two at that position, and one octet at a time,
 *    it gives the same values and the same dropped count;
 *  - at most DELIVERED_TO_MAX values, each non-empty, NUL-terminated
 *    within DELIVERED_TO_VALUE_MAX, with no LF (a value never spans a
 *    line break it did not unfold) and no white space at either end.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/delivered_to.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct delivered_to whole, split, bytes;

static void
check(const struct delivered_to *d)
{
	if (d->n > DELIVERED_TO_MAX)
		abort();
	for (unsigned i = 0; i < d->n; i++) {
		const char *v = d->values[i];
		size_t len = strnlen(v, DELIVERED_TO_VALUE_MAX + 1);

		if (len == 0 || len > DELIVERED_TO_VALUE_MAX ||
		    memchr(v, '\n', len) != NULL)
			abort();
		if (v[0] == ' ' || v[0] == '\t' || v[len - 1] == ' ' ||
		    v[len - 1] == '\t')
			abort();
	}
}

static void
same(const struct delivered_to *a, const struct delivered_to *b)
{
	if (a->n != b->n || a->dropped != b->dropped)
		abort();
	for (unsigned i = 0; i < a->n; i++)
		if (strcmp(a->values[i], b->values[i]) != 0)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	size_t len, cut;

	if (size < 1)
		return 0;
	len = size - 1;
	cut = len > 0 ? data[0] % (len + 1) : 0;
	delivered_to_init(&whole);
	delivered_to_feed(&whole, in, len);
	delivered_to_end(&whole);
	check(&whole);
	delivered_to_init(&split);
	delivered_to_feed(&split, in, cut);
	delivered_to_feed(&split, in + cut, len - cut);
	delivered_to_end(&split);
	same(&whole, &split);
	delivered_to_init(&bytes);
	for (size_t i = 0; i < len; i++)
		delivered_to_feed(&bytes, in + i, 1);
	delivered_to_end(&bytes);
	same(&whole, &bytes);
	return 0;
}
