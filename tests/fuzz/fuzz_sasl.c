/*
 * libFuzzer harness: the SASL mechanisms (src/auth/sasl.c).  Byte 0 picks
 * the mechanism (bit 0: PLAIN or LOGIN) and whether the first line is an
 * initial response (bit 1); the rest is split at LF into response lines.
 * Invariants checked:
 *  - every challenge is "", "VXNlcm5hbWU6" or "UGFzc3dvcmQ6";
 *  - on SASL_DONE, authcid and password are non-empty, every field is
 *    NUL-terminated within SASL_FIELD_MAX and has no NUL inside;
 *  - on any failure (cancel, bad base64, malformed), every secret field
 *    is wiped to zero;
 *  - sasl_clear() leaves nothing behind.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
zero(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != 0)
			return false;
	return true;
}

static void
check(const struct sasl_exchange *x, enum sasl_status st, const char *ch)
{
	switch (st) {
	case SASL_CONTINUE:
		if (strcmp(ch, "") != 0 && strcmp(ch, "VXNlcm5hbWU6") != 0 &&
		    strcmp(ch, "UGFzc3dvcmQ6") != 0)
			abort();
		break;
	case SASL_DONE:
		if (strnlen(x->authzid, sizeof(x->authzid)) > SASL_FIELD_MAX ||
		    strnlen(x->authcid, sizeof(x->authcid)) > SASL_FIELD_MAX ||
		    strnlen(x->password, sizeof(x->password)) > SASL_FIELD_MAX ||
		    x->authcid[0] == '\0' || x->password[0] == '\0')
			abort();
		break;
	default:
		if (!zero(x->authzid, sizeof(x->authzid)) ||
		    !zero(x->authcid, sizeof(x->authcid)) ||
		    !zero(x->password, sizeof(x->password)))
			abort();
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_exchange x;
	enum sasl_status st;
	const char *p, *end;
	char ch[64];
	bool initial;

	if (size < 1)
		return 0;
	initial = (data[0] & 2) != 0;
	p = (const char *)data + 1;
	end = (const char *)data + size;
	if (initial) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		st = sasl_start(&x, data[0] & 1 ? SASL_MECH_LOGIN :
		    SASL_MECH_PLAIN, p, len, ch, sizeof(ch));
		p += len + (nl != NULL);
	} else {
		st = sasl_start(&x, data[0] & 1 ? SASL_MECH_LOGIN :
		    SASL_MECH_PLAIN, NULL, 0, ch, sizeof(ch));
	}
	check(&x, st, ch);
	while (st == SASL_CONTINUE && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		st = sasl_step(&x, p, len, ch, sizeof(ch));
		check(&x, st, ch);
		p += len + (nl != NULL);
	}
	sasl_clear(&x);
	if (!zero((const char *)&x.authzid, sizeof(x.authzid)) ||
	    !zero(x.password, sizeof(x.password)))
		abort();
	return 0;
}
