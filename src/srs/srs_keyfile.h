/*
 * The SRS key file from disk (docs/forwarding.md "The key file"): read
 * whole, bounded, then parsed by srs_keys_parse().  Blocking file I/O:
 * for the CLI and start-up, never an event loop.
 */
#ifndef DECORUM_SRS_SRS_KEYFILE_H
#define DECORUM_SRS_SRS_KEYFILE_H

#include <stddef.h>

#include "srs/srs.h"

/* The largest key file read: every secret at its longest, "\r\n" each. */
#define SRS_KEYFILE_MAX		(SRS_KEYS_MAX * (SRS_KEY_MAX + 2))

/* 0 with keys filled, or -1 with "PATH: why" in err (unreadable, not a
 * regular file, too big, empty, a bad line). */
int srs_keyfile_load(const char *path, struct srs_keys *keys, char *err,
    size_t errlen);
/* The same for a descriptor the caller opened (the daemon opens it as
 * root by the rules of common/rootfile.h); path only names it in err.
 * fd is left open. */
int srs_keyfile_read(int fd, const char *path, struct srs_keys *keys,
    char *err, size_t errlen);

#endif
