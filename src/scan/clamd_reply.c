/*
 * clamd's zINSTREAM framing and verdict (clamd_reply.h).  Trusts the
 * caller to pass the reply it read, bounded by CLAMD_REPLY_MAX; trusts
 * nothing in it: the verdict is CLEAN only for the exact "stream: OK".
 */
#include "scan/clamd_reply.h"
#include "scan/scan_text.h"

#include <stdbool.h>
#include <string.h>

static void
put_be32(uint8_t head[CLAMD_FRAME_HEAD], uint32_t v)
{
	head[0] = (uint8_t)(v >> 24);
	head[1] = (uint8_t)(v >> 16);
	head[2] = (uint8_t)(v >> 8);
	head[3] = (uint8_t)v;
}

size_t
clamd_frame_head(uint8_t head[CLAMD_FRAME_HEAD], size_t len)
{
	/* A chunk of 0 would end the stream early: the scan would miss the
	 * rest of the message. */
	if (len == 0 || len > CLAMD_CHUNK_MAX)
		return 0;
	put_be32(head, (uint32_t)len);
	return CLAMD_FRAME_HEAD;
}

size_t
clamd_frame_end(uint8_t head[CLAMD_FRAME_HEAD])
{
	put_be32(head, 0);
	return CLAMD_FRAME_HEAD;
}

static bool
ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* len octets of s into res->name, for the log. */
static void
set_name(struct clamd_result *res, const char *s, size_t len)
{
	scan_copy_printable(res->name, sizeof(res->name), s, len);
}

static void
set_error(struct clamd_result *res, const char *s, size_t len)
{
	res->verdict = CLAMD_ERROR;
	set_name(res, s, len);
}

void
clamd_reply_parse(const char *reply, size_t len, struct clamd_result *res)
{
	static const char prefix[] = "stream: ";
	const size_t plen = sizeof(prefix) - 1;
	const char *rest;
	size_t rlen;

	res->name[0] = '\0';
	if (reply == NULL) {
		set_error(res, "no reply", 8);
		return;
	}
	if (len > CLAMD_REPLY_MAX) {
		set_error(res, "reply too long", 14);
		return;
	}
	while (len > 0 && (reply[len - 1] == '\n' || reply[len - 1] == '\r' ||
	    reply[len - 1] == '\0'))
		len--;
	/* "stream: ... ERROR", "INSTREAM size limit exceeded. ERROR" */
	if (ends_with(reply, len, " ERROR") || len < plen ||
	    memcmp(reply, prefix, plen) != 0) {
		set_error(res, reply, len);
		return;
	}
	rest = reply + plen;
	rlen = len - plen;
	if (rlen == 2 && memcmp(rest, "OK", 2) == 0) {
		res->verdict = CLAMD_CLEAN;
		return;
	}
	if (ends_with(rest, rlen, " FOUND") && rlen > 6) {
		res->verdict = CLAMD_INFECTED;
		set_name(res, rest, rlen - 6);
		return;
	}
	set_error(res, reply, len);
}
