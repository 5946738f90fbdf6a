/*
 * libFuzzer harness: clamd's reply (src/scan/clamd_reply.c).  Checks
 * what clamd_reply.h promises: CLEAN only for "stream: OK" and its line
 * end, a name of printable ASCII within CLAMD_NAME_MAX.
 */
#include <stdlib.h>
#include <string.h>

#include "scan/clamd_reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct clamd_result res;
	size_t n = size, len;

	clamd_reply_parse(s, size, &res);
	len = strlen(res.name);
	if (len > CLAMD_NAME_MAX)
		abort();
	for (size_t i = 0; i < len; i++)
		if (res.name[i] < 32 || res.name[i] > 126)
			abort();
	if (res.verdict == CLAMD_CLEAN) {
		while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' ||
		    s[n - 1] == '\0'))
			n--;
		if (n != 10 || memcmp(s, "stream: OK", 10) != 0)
			abort();
	}
	if (res.verdict == CLAMD_INFECTED && len == 0)
		abort();
	return 0;
}
