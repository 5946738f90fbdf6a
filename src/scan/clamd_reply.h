/*
 * clamd's zINSTREAM (docs/scanning.md, "Protocol core"): the framing of
 * the message sent to clamd and the reading of its one-line verdict.
 *
 * Pure: no I/O, no allocation.  The asynchronous client sends
 * CLAMD_INSTREAM_CMD, then the message in chunks framed here, then the
 * end frame, and hands the reply it read (up to its NUL) to
 * clamd_reply_parse.  clamd is trusted to scan, not to write well-formed
 * replies: a signature name is bounded and made safe for the log here.
 */
#ifndef DECORUM_SCAN_CLAMD_REPLY_H
#define DECORUM_SCAN_CLAMD_REPLY_H

#include <stddef.h>
#include <stdint.h>

/* The command, with its NUL ('z' asks for NUL-terminated replies). */
#define CLAMD_INSTREAM_CMD	"zINSTREAM"
#define CLAMD_INSTREAM_CMD_LEN	10	/* with the NUL */
/* Octets of a chunk's length prefix (big-endian). */
#define CLAMD_FRAME_HEAD	4
/* Largest chunk we frame: clamd reads chunks of any size up to its
 * StreamMaxLength, smaller ones keep our buffers small. */
#define CLAMD_CHUNK_MAX		65536
/* Longest reply we read, NUL excluded ("stream: NAME FOUND"). */
#define CLAMD_REPLY_MAX		1024
/* Longest signature name kept, escaped for the log. */
#define CLAMD_NAME_MAX		200

/* The length prefix of a chunk of len (1..CLAMD_CHUNK_MAX) octets into
 * head; 0 when len is out of range, else CLAMD_FRAME_HEAD. */
size_t clamd_frame_head(uint8_t head[CLAMD_FRAME_HEAD], size_t len);
/* The end of the stream: a chunk of length 0.  Returns CLAMD_FRAME_HEAD. */
size_t clamd_frame_end(uint8_t head[CLAMD_FRAME_HEAD]);

enum clamd_verdict {
	CLAMD_CLEAN,		/* "stream: OK" */
	CLAMD_INFECTED,		/* "stream: NAME FOUND" */
	CLAMD_ERROR,		/* "... ERROR", size limit, anything else */
};

struct clamd_result {
	enum clamd_verdict verdict;
	/* INFECTED: the signature name, printable ASCII only (others are
	 * '?'), cut at CLAMD_NAME_MAX; ERROR: clamd's text treated the same
	 * way, or what was wrong with the reply */
	char name[CLAMD_NAME_MAX + 1];
};

/*
 * clamd's reply, len octets without its terminating NUL (a trailing
 * "\n" or "\r\n" is tolerated).  Anything that is not a clean "OK" nor a
 * well-formed "FOUND" is an ERROR: never clean by mistake.
 */
void clamd_reply_parse(const char *reply, size_t len, struct clamd_result *res);

#endif
