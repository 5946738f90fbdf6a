/*
 * libFuzzer harness: iprange_parse() (src/common/iprange.c), the return
 * codes of a DNS list as the operator writes them in the config.
 *
 * Input: the text.  Checks: a parse either fails with an error message
 * or gives 1..IPRANGE_MAX ranges, each low <= high, each matching its
 * own ends; iprange_within agrees with the ranges; and parsing is
 * deterministic.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/iprange.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[IPRANGE_TEXT_MAX + 64], err[128];
	struct iprange_set a, b;
	int rc;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	rc = iprange_parse(text, &a, err, sizeof(err));
	if (rc != 0) {
		if (rc != -1 || err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	if (a.n == 0 || a.n > IPRANGE_MAX)
		abort();
	for (size_t i = 0; i < a.n; i++) {
		if (a.r[i].lo > a.r[i].hi || !iprange_match(&a, a.r[i].lo) ||
		    !iprange_match(&a, a.r[i].hi))
			abort();
	}
	if (!iprange_within(&a, 0, UINT32_MAX))
		abort();
	if (iprange_parse(text, &b, err, sizeof(err)) != 0 || b.n != a.n ||
	    memcmp(a.r, b.r, a.n * sizeof(*a.r)) != 0)
		abort();
	return 0;
}
