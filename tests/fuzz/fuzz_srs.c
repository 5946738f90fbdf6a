/*
 * libFuzzer harness: the SRS codec (src/srs/srs.c) and the key file's
 * text (srs_keys.c).  The first byte picks what is fuzzed; the next
 * eight give the clock.  Checks what srs.h promises: a result fits
 * SRS_ADDRESS_MAX and the caller's buffer, is empty after an error,
 * and whatever forward makes, reverse takes back to the input (SRS0
 * inputs come back as they were, through SRS1).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "srs/srs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct srs_keys keys;

static void
check_out(enum srs_result r, const char *out)
{
	if (r != SRS_OK && r != SRS_UNCHANGED && out[0] != '\0')
		abort();
	if (strlen(out) > SRS_ADDRESS_MAX)
		abort();
}

static void
round_trip(const char *in, time_t now)
{
	char out[SRS_ADDRESS_MAX + 1], back[SRS_ADDRESS_MAX + 1];
	enum srs_result r;

	r = srs_forward(&keys, "srs.example.test", in, now, out, sizeof(out));
	check_out(r, out);
	if (r != SRS_OK)
		return;
	r = srs_reverse(&keys, out, now, SRS_MAX_AGE_DEFAULT, back,
	    sizeof(back));
	check_out(r, back);
	/* An SRS1 input keeps only its first hop: not the same address. */
	if (strncasecmp(in, "SRS1", 4) == 0)
		return;
	if (r != SRS_OK)
		abort();
	/* A foreign "srs0=" comes back as "SRS0=", the rest as it was. */
	if (strncasecmp(in, "SRS0", 4) == 0 ? strncasecmp(back, in, 4) != 0 ||
	    strcmp(back + 4, in + 4) != 0 : strcmp(back, in) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[SRS_ADDRESS_MAX + 1], err[128], *s;
	uint64_t clock = 0;
	enum srs_result r;
	time_t now;

	if (size < 9)
		return 0;
	memcpy(&clock, data + 1, 8);
	now = (time_t)(clock % ((uint64_t)1 << 40));
	if (data[0] & 1) {
		struct srs_keys k;

		if (srs_keys_parse(&k, (const char *)data + 9, size - 9, err,
		    sizeof(err)) == 0 && (k.n == 0 || k.n > SRS_KEYS_MAX))
			abort();
		return 0;
	}
	if (keys.n == 0 && srs_keys_parse(&keys, "new\nold\n", 8, err,
	    sizeof(err)) < 0)
		abort();
	if ((s = malloc(size - 9 + 1)) == NULL)
		return 0;
	memcpy(s, data + 9, size - 9);
	s[size - 9] = '\0';
	r = srs_reverse(&keys, s, now, (unsigned)data[0] >> 1, out, sizeof(out));
	check_out(r, out);
	round_trip(s, now);
	free(s);
	return 0;
}
