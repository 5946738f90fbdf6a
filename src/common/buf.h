/*
 * The one growable byte buffer.  Every buffer has a hard maximum chosen by
 * its owner; appends past it fail (return -1) and leave the contents as
 * they were, so a hostile peer can never grow a buffer without bound.
 * The data is always NUL-terminated (not counted in len) for convenience.
 */
#ifndef DECORUM_COMMON_BUF_H
#define DECORUM_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

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
/* buf_free for a buffer that held a secret (private keys): every octet
 * it had room for is wiped first.  The maximum stays. */
void buf_wipe(struct buf *b);

/* 32-bit big-endian integers of the wire formats (control frames, key
 * sets): put returns p + 4. */
static inline uint8_t *
buf_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static inline uint32_t
buf_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

#endif
