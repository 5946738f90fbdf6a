/*
 * libFuzzer harness: log_safe_len(), the one escaping routine of the
 * logs (src/common/log.c, docs/logging.md).  The first byte is the size
 * of a small output buffer; the rest is the value.
 *
 * Checks what docs/logging.md promises a log reader: with room enough,
 * the output holds no control byte, DEL or '"', every '\\' starts an
 * \xHH escape, undoing the escapes gives the input back byte for byte,
 * and escaping the output again changes nothing but its backslashes
 * (so every byte left as it is was printable UTF-8).  Cut short, the
 * output fits, ends with "...", and what comes before is the uncut
 * output up to a whole character or escape.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define IN_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Undo the escapes of out into dec; the decoded length, or abort. */
static size_t
decode(const char *out, unsigned char *dec)
{
	size_t i = 0, n = 0;

	while (out[i] != '\0') {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f || c == '"')
			abort();
		if (c != '\\') {
			dec[n++] = c;
			i++;
			continue;
		}
		if (out[i + 1] != 'x' || hexval(out[i + 2]) < 0 ||
		    hexval(out[i + 3]) < 0)
			abort();
		dec[n++] = (unsigned char)(hexval(out[i + 2]) << 4 |
		    hexval(out[i + 3]));
		i += 4;
	}
	return n;
}

/* Escaping out again only turns each '\\' into \x5c. */
static void
check_fixed_point(const char *out, size_t olen)
{
	static char again[LOG_SAFE_SIZE(LOG_SAFE_SIZE(IN_MAX))];
	size_t i, j = 0;

	log_safe_len(out, olen, again, sizeof(again));
	for (i = 0; i < olen; i++) {
		if (out[i] == '\\') {
			if (memcmp(again + j, "\\x5c", 4) != 0)
				abort();
			j += 4;
		} else if (again[j++] != out[i]) {
			abort();
		}
	}
	if (again[j] != '\0')
		abort();
}

/* p is a unit boundary of out: not inside \xHH nor a UTF-8 sequence. */
static bool
boundary(const char *out, size_t p)
{
	for (size_t k = 1; k <= 3 && k <= p; k++)
		if (out[p - k] == '\\')
			return false;
	return ((unsigned char)out[p] & 0xc0) != 0x80;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char full[LOG_SAFE_SIZE(IN_MAX)], small[256];
	static unsigned char dec[IN_MAX];
	const char *in = (const char *)data + 1;
	size_t n, flen, slen, outlen;

	if (size < 1 || size - 1 > IN_MAX)
		return 0;
	n = size - 1;
	outlen = data[0] == 0 ? 1 : data[0];

	log_safe_len(in, n, full, sizeof(full));
	flen = strlen(full);
	if (decode(full, dec) != n || memcmp(dec, in, n) != 0)
		abort();
	check_fixed_point(full, flen);

	memset(small, 'Z', sizeof(small));
	log_safe_len(in, n, small, outlen);
	slen = strnlen(small, sizeof(small));
	if (slen >= outlen)
		abort();
	if (flen < outlen) {
		if (strcmp(small, full) != 0)
			abort();
		return 0;
	}
	if (outlen < 4) {
		if (slen != outlen - 1 || memcmp(small, "...", slen) != 0)
			abort();
		return 0;
	}
	if (slen < 3 || memcmp(small + slen - 3, "...", 3) != 0 ||
	    memcmp(small, full, slen - 3) != 0 || !boundary(full, slen - 3))
		abort();
	return 0;
}
