/*
 * Allocation that cannot silently fail.
 *
 * Every x* function aborts the process (via fatal) when memory is
 * exhausted, so callers never test for NULL.  Sizes are overflow-checked.
 * One rule of ownership: whoever allocates frees, through the object's own
 * *_free(), which is safe to call with NULL.
 */
#ifndef DECORUM_COMMON_XMALLOC_H
#define DECORUM_COMMON_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wipe a secret so the compiler cannot elide it, then free it. */
void xfree_secret(void *p, size_t size);

#endif
