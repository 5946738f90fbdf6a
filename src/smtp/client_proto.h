/*
 * The client side of the SMTP/LMTP protocol core: reading the server's
 * replies (RFC 5321 4.2, multi-line, RFC 3463 enhanced codes), its EHLO
 * or LHLO capabilities, and dot-stuffing the message data (RFC 5321
 * 4.5.2).  Pure code, no I/O: the delivery agent (deliver/smtp_client.c)
 * feeds it the lines a remote server sent, so everything a hostile server
 * can say goes through here first; unit-tested and fuzzed.
 */
#ifndef DECORUM_SMTP_CLIENT_PROTO_H
#define DECORUM_SMTP_CLIENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest reply line we take (RFC 5321 4.5.3.1.5 says 512; be lenient). */
#define SMTP_CLIENT_LINE_MAX	2048
/* Most lines in one reply (a long EHLO list is ~20). */
#define SMTP_CLIENT_LINES_MAX	100
/* Room for the text of all lines of one reply, joined with '\n'. */
#define SMTP_CLIENT_TEXT_MAX	4096

struct smtp_client_reply {
	int code;			/* 200..599 */
	/* "5.1.1" from the first line when its class is the code's first
	 * digit (RFC 3463 class 2, 4 or 5), or "" */
	char enhanced[16];
	/* The text of every line after the code and separator (and after
	 * the enhanced code, on the first line and on every later line
	 * that repeats it), joined with '\n'; cut at SMTP_CLIENT_TEXT_MAX
	 * - 1, never inside a UTF-8 sequence (further lines still counted,
	 * not appended). */
	char text[SMTP_CLIENT_TEXT_MAX];
	unsigned n_lines;
};

enum smtp_client_feed {
	SMTP_CLIENT_MORE,	/* a continuation line: feed the next one */
	SMTP_CLIENT_DONE,	/* the reply is complete in rd->reply */
	SMTP_CLIENT_BAD,	/* malformed: not "ddd[ -]", code out of
				 * 200..599, codes differ between lines,
				 * a line over SMTP_CLIENT_LINE_MAX, too
				 * many lines; the connection is unusable */
};

struct smtp_client_reader {
	struct smtp_client_reply reply;
	size_t text_len;
	/* private state of the reader */
	bool in_reply;
	bool text_cut;		/* a line did not fit: append no more */
};

/* Ready for the first line of a reply; call again after each DONE or BAD
 * (a feed after DONE or BAD starts a new reply anyway). */
void smtp_client_reader_init(struct smtp_client_reader *rd);
/* Lines of a reply were fed and its last line has not come yet. */
bool smtp_client_reader_partial(const struct smtp_client_reader *rd);

/*
 * One line as received, without its line end ("\r\n" or a bare "\n" were
 * already cut; a trailing "\r" is tolerated and dropped).  len may be up
 * to SMTP_CLIENT_LINE_MAX; a longer line is BAD.  NUL bytes and other
 * control characters in the text become '?', so the text is safe for
 * logs and DSNs after log_safe.
 */
enum smtp_client_feed smtp_client_reader_feed(struct smtp_client_reader *rd,
    const char *line, size_t len);

/* What a server announced in its EHLO (or LHLO) reply. */
struct smtp_caps {
	bool pipelining;	/* RFC 2920 */
	bool size;		/* RFC 1870 */
	uint64_t size_max;	/* SIZE n, 0 when no limit was given */
	bool eightbitmime;	/* RFC 6152 */
	bool smtputf8;		/* RFC 6531 */
	bool starttls;		/* RFC 3207 */
	bool enhancedstatuscodes;	/* RFC 2034 */
	bool auth_plain;	/* AUTH ... PLAIN ... (RFC 4954) */
	bool auth_login;	/* AUTH ... LOGIN ... */
};

/* Parses the keyword lines (every line after the first) of a 250 reply
 * to EHLO/LHLO; keywords are case-insensitive, unknown ones ignored, a
 * malformed SIZE value counts as SIZE with no limit. */
void smtp_caps_parse(const struct smtp_client_reply *r, struct smtp_caps *caps);

/*
 * One line for logs, queue files and DSN Diagnostic-Code: "550 5.1.1
 * text" with the lines of the text joined by ' ', at most outlen - 1
 * octets (cut, never split inside a multi-byte UTF-8 sequence).
 */
void smtp_client_reply_line(const struct smtp_client_reply *r, char *out,
    size_t outlen);

/* Streaming dot-stuffer for the message data: a '.' at the start of a
 * line is doubled (after CRLF, and defensively after a bare CR or LF,
 * see client_proto.c).  Line starts are tracked across calls. */
struct smtp_dot_stuffer {
	bool at_line_start;	/* at the start of the data or after CRLF */
	char last;		/* last octet emitted, '\0' before any */
};

void smtp_dot_stuffer_init(struct smtp_dot_stuffer *ds);
/* Copies len octets of in to out, stuffing dots; out needs 2 * len
 * octets of room.  Returns the octets written. */
size_t smtp_dot_stuff(struct smtp_dot_stuffer *ds, const char *in, size_t len,
    char *out);
/* The end of data: "\r\n.\r\n" when the data did not end with "\r\n"
 * (so the final line is closed), else ".\r\n" (also for empty data).
 * out needs 5 octets.
 * Returns the octets written. */
size_t smtp_dot_end(const struct smtp_dot_stuffer *ds, char *out);

#endif
