/*
 * The message side of `sendmail`: reading a message from a local program
 * (stdin), making its line ends CRLF, and finding its header fields.
 * Used only by src/cli/sendmail.c.  No spool, no config: unit-testable.
 */
#ifndef DECORUM_CLI_SENDMAIL_MSG_H
#define DECORUM_CLI_SENDMAIL_MSG_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

enum sendmail_read { SENDMAIL_READ_OK, SENDMAIL_READ_TOO_BIG,
    SENDMAIL_READ_ERROR };

/*
 * Reads fd to EOF into out (whose max is the size limit): LF, CRLF and a
 * bare CR all end a line and become CRLF; a last line with no line end
 * gets one.  dot_ends (no -i / -oi): a line holding only "." ends the
 * message (it is not kept).  TOO_BIG when the limit is passed.
 */
enum sendmail_read sendmail_msg_read(int fd, bool dot_ends, struct buf *out);

/* One header field of the message: offset and length of its whole text,
 * continuation lines and the final CRLF included. */
struct sendmail_field {
	size_t off;
	size_t len;
};

struct sendmail_msg {
	struct sendmail_field *fields;
	size_t n_fields;
	size_t body_off;	/* where the body starts */
	bool separator;		/* the header had its empty line */
};

/*
 * Splits a CRLF message: the header is the run of header field lines at
 * the start (RFC 5322 2.2), ended by an empty line or by the first line
 * that is not a field (then separator is false and the caller must add
 * the empty line).  Always succeeds.
 */
void sendmail_msg_parse(const char *msg, size_t len, struct sendmail_msg *m);
void sendmail_msg_free(struct sendmail_msg *m);

/* Does the field have this name (case-insensitive, RFC 5322 1.2.2)? */
bool sendmail_field_is(const char *msg, const struct sendmail_field *f,
    const char *name);

/*
 * The addr-specs of an address-list field (To, Cc, Bcc: RFC 5322 3.4),
 * unfolded: "Name <a@b>", "a@b (comment)", quoted names with commas,
 * groups ("team: a@b, c@d;" and "undisclosed-recipients:;").  Calls
 * add(arg, addr) for each; stops and returns -1 when add does, or when
 * an address is longer than SMTP_ADDRESS_MAX.  Returns 0 otherwise.
 */
int sendmail_field_addresses(const char *msg, const struct sendmail_field *f,
    int (*add)(void *arg, const char *addr), void *arg);

#endif
