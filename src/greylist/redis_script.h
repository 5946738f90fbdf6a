/*
 * The greylist's rules as one Lua script that Redis runs atomically
 * (EVALSHA, EVAL when the server does not have it), so several Decorum
 * nodes sharing one Redis can race on the same triplet without losing
 * or doubling an update.  It is greylist_decide() (record.c) written
 * for the server; redis_script.c sets the two side by side.
 *
 * KEYS[1] the triplet's key, KEYS[2] its network's (redis_keys.h).
 * ARGV: now, delay, retry_window, lifetime, auto_allow, net, sender,
 * rcpt.  Returns { answer, retry_at, net_allowed }, answer 0 for
 * GREYLIST_PASS and 1 for GREYLIST_DEFER.
 */
#ifndef DECORUM_GREYLIST_REDIS_SCRIPT_H
#define DECORUM_GREYLIST_REDIS_SCRIPT_H

#include <stddef.h>

extern const char redis_script_check[];

/* The script's SHA-1 in hex, as EVALSHA names it: 0, or -1. */
int redis_script_sha1(char out[41]);

#endif
