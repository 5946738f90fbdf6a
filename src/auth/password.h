/*
 * Password hashes in crypt(3) format (libxcrypt): yescrypt for new hashes,
 * any hash libxcrypt knows ($y$, $6$, $2b$, ...) for verification, with an
 * optional "{CRYPT}" prefix as Dovecot writes it.
 */
#ifndef DECORUM_AUTH_PASSWORD_H
#define DECORUM_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

/* 0 and out filled with a new yescrypt hash, or -1. */
int password_hash(const char *password, char *out, size_t outlen);
/* Constant-time comparison of crypt(password, hash) against hash.  An
 * empty or malformed hash never verifies; the work done is the same. */
bool password_verify(const char *password, const char *hash);

#endif
