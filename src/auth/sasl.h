/*
 * SMTP AUTH mechanisms PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-
 * login), as a pure state machine (RFC 4954): no I/O, no password
 * checking.  The session feeds it the AUTH argument and each response
 * line and sends the challenges it returns ("334 <challenge>").
 *
 * Responses are base64 (RFC 4648, padding required, no whitespace);
 * "*" cancels (RFC 4954 4); "=" is an empty initial response.  Decoded
 * credentials are bounded (SASL_FIELD_MAX) and may not contain NUL
 * except as PLAIN's separators.  Everything secret is wiped by
 * sasl_clear().
 */
#ifndef DECORUM_AUTH_SASL_H
#define DECORUM_AUTH_SASL_H

#include <stddef.h>

#define SASL_FIELD_MAX 512

enum sasl_mech { SASL_MECH_UNKNOWN, SASL_MECH_PLAIN, SASL_MECH_LOGIN };

enum sasl_status {
	SASL_CONTINUE,		/* send "334 " + challenge, wait for a line */
	SASL_DONE,		/* authcid/password (and authzid) are ready */
	SASL_CANCELLED,		/* client sent "*": 501 5.0.0 */
	SASL_BAD_BASE64,	/* 501 5.5.2 */
	SASL_MALFORMED,		/* decoded but unusable (empty user, too long, NUL): 535 5.7.8 */
};

struct sasl_exchange {
	enum sasl_mech mech;
	int step;				/* private */
	char authzid[SASL_FIELD_MAX + 1];	/* "" when none given */
	char authcid[SASL_FIELD_MAX + 1];	/* the login */
	char password[SASL_FIELD_MAX + 1];
};

/* Case-insensitive mechanism name → mech. */
enum sasl_mech sasl_mech_parse(const char *name, size_t len);

/* Start: initial may be NULL (no initial response).  On SASL_CONTINUE,
 * challenge holds the base64 text to send after "334 ". */
enum sasl_status sasl_start(struct sasl_exchange *x, enum sasl_mech mech,
    const char *initial, size_t initial_len, char *challenge, size_t chlen);
/* One response line (without CRLF). */
enum sasl_status sasl_step(struct sasl_exchange *x, const char *line, size_t len,
    char *challenge, size_t chlen);
void sasl_clear(struct sasl_exchange *x);

#endif
