/*
 * The one growable byte buffer.  Every buffer has a hard maximum chosen by
 * its owner; appends past it fail (return -1) and leave the contents as
 * they were, so a hostile peer can never grow a buffer without bound.
 * The data is always NUL-terminated (not counted in len) for convenience.
 */
#ifndef DECORUM_COMMON_BUF_H
#define DECORUM_COMMON_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remove the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
