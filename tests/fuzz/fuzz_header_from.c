/*
 * libFuzzer harness: the From: reader (src/smtp/header_from.c), on the
 * input as a whole header section plus body.  Invariants checked:
 *  - the result is -1, 0, or 1..max;
 *  - each address is NUL-terminated within SMTP_ADDRESS_MAX, non-empty,
 *    has an "@" that is neither first nor last, and holds no CR, LF,
 *    NUL, "<", ">" or "," outside quotes (so it cannot smuggle a second
 *    address into the ownership check);
 *  - the answer does not depend on the caller's array beyond max (a run
 *    with max 1 agrees with the run with max 4 whenever that found 1).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bounds.h"
#include "smtp/header_from.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXA 4

static void
check_addr(const char *a)
{
	size_t len = strnlen(a, SMTP_ADDRESS_MAX + 1);
	bool quoted = false;

	if (len == 0 || len > SMTP_ADDRESS_MAX)
		abort();
	if (a[0] == '@' || a[len - 1] == '@' || strchr(a, '@') == NULL)
		abort();
	for (size_t i = 0; i < len; i++) {
		char c = a[i];

		if (c == '\r' || c == '\n')
			abort();
		if (c == '\\' && quoted) {
			i++;
			continue;
		}
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == '<' || c == '>' || c == ','))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char addrs[MAXA][SMTP_ADDRESS_MAX + 1];
	static char one[1][SMTP_ADDRESS_MAX + 1];
	int n = header_from_addresses((const char *)data, size, addrs, MAXA);
	int m;

	if (n < -1 || n > MAXA)
		abort();
	for (int i = 0; i < n; i++)
		check_addr(addrs[i]);
	m = header_from_addresses((const char *)data, size, one, 1);
	if (n == 1 && (m != 1 || strcmp(one[0], addrs[0]) != 0))
		abort();
	if (n == 0 && m != 0)
		abort();
	if (n == -1 && m != -1)
		abort();
	return 0;
}
