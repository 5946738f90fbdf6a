/*
 * SMTP replies (RFC 5321 4.2, RFC 2034 enhanced status codes, RFC 3463).
 * Pure: formats into a buffer, never writes to a socket.
 *
 * Command handlers return a struct smtp_reply instead of writing one, so
 * they can be tested without a socket.  The enhanced code is sent on every
 * reply except the greeting, the EHLO lines and 354 (RFC 2034 3).
 * Text may hold '\n' to make a multi-line reply; control characters are
 * replaced by '?' so a reply can never inject a line of its own.
 */
#ifndef DECORUM_SMTP_REPLY_H
#define DECORUM_SMTP_REPLY_H

#include "common/buf.h"

#define SMTP_REPLY_TEXT_MAX 480

struct smtp_reply {
	int code;				/* 0: no reply (yet) */
	char enhanced[12];			/* "2.1.0", or "" for none */
	char text[SMTP_REPLY_TEXT_MAX];
};

void smtp_reply_set(struct smtp_reply *r, int code, const char *enhanced,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Append the wire form ("250-..\r\n250 ..\r\n") to out.  -1 if out is full. */
int smtp_reply_format(const struct smtp_reply *r, struct buf *out);

/* 1 for 2xx/3xx, 4 for 4xx, 5 for 5xx: the class, for logs and counters. */
int smtp_reply_class(const struct smtp_reply *r);

#endif
