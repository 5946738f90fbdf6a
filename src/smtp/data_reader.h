/*
 * The DATA reader (RFC 5321 4.1.1.4, 4.5.2): turns the bytes a client sends
 * after "354" into the message, and finds the end of data.  Pure: no I/O.
 *
 * Strict by design, to close SMTP smuggling (CVE-2023-51764 family):
 *  - the only end of data is <CRLF>.<CRLF> (the reader starts as if a
 *    CRLF had just been seen, so ".\r\n" as the first line ends it);
 *  - a bare LF or a bare CR anywhere in the message sets an error flag;
 *    the bytes are still consumed and reading goes on to the real end, so
 *    the session stays in sync and answers 5xx;
 *  - a leading dot on a line is removed (dot-unstuffing);
 *  - a line longer than max_line octets sets an error; the count is of
 *    the line after unstuffing, CRLF included (RFC 5321 4.5.3.1.6: "not
 *    counting the leading dot duplicated for transparency");
 *  - past max_size octets of message, the flag is set and no more output
 *    is produced (input is still consumed to the end); the output then
 *    holds exactly the first max_size octets, however the input was split.
 * A max_size or max_line of 0 means no limit.
 * Output is the message with CRLF line ends, without the final ".\r\n".
 */
#ifndef DECORUM_SMTP_DATA_READER_H
#define DECORUM_SMTP_DATA_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum data_error {
	DATA_ERR_NONE = 0,
	DATA_ERR_TOO_BIG = 1 << 0,	/* 552 5.3.4 */
	DATA_ERR_BARE_LF = 1 << 1,	/* 550 5.6.0 bare LF not allowed */
	DATA_ERR_BARE_CR = 1 << 2,	/* 550 5.6.0 bare CR not allowed */
	DATA_ERR_LINE_TOO_LONG = 1 << 3,/* 550 5.6.0 line too long */
	DATA_ERR_NUL = 1 << 4,		/* 550 5.6.0 NUL in message */
};

enum data_status { DATA_MORE, DATA_END };

struct data_reader {
	int state;		/* private */
	size_t max_size;
	size_t max_line;
	size_t line_len;	/* private */
	uint64_t size;		/* message octets produced (or that would be) */
	unsigned errors;	/* enum data_error bits */
	bool eight_bit;		/* a byte >= 0x80 was seen */
};

void data_reader_init(struct data_reader *r, size_t max_size, size_t max_line);

/*
 * Feed in[0..len).  Appends message bytes to out (which the caller
 * drains as it likes; out's own maximum must be at least len + 2).
 * Sets *consumed to the number of input bytes used: on DATA_END, the rest
 * of the input belongs to the next pipelined command.
 */
enum data_status data_reader_feed(struct data_reader *r, const char *in,
    size_t len, size_t *consumed, struct buf *out);

#endif
