/*
 * SMTP command line parser (RFC 5321 4.1.1, 2.4).  Pure: no I/O.
 *
 * Input is one command line WITHOUT its CRLF.  The parser recognises the
 * verb case-insensitively and returns the argument text; it never
 * allocates.  A line holding a NUL, CR or LF is a syntax error (those
 * bytes can only come from a client trying to smuggle a second line).
 */
#ifndef DECORUM_SMTP_COMMAND_H
#define DECORUM_SMTP_COMMAND_H

#include <stddef.h>

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,		/* arg starts after "FROM:" */
	SMTP_VERB_RCPT,		/* arg starts after "TO:" */
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_COUNT
};

enum smtp_parse_result {
	SMTP_PARSE_OK = 0,
	SMTP_PARSE_UNKNOWN,	/* 500 5.5.1 command unrecognized */
	SMTP_PARSE_SYNTAX,	/* 501 5.5.4 / 500 5.5.2 syntax error */
};

struct smtp_command {
	enum smtp_verb verb;
	const char *arg;	/* points into the line; "" when none */
	size_t arg_len;		/* trailing spaces stripped */
};

/*
 * Parse one line.  "MAIL FROM:" and "RCPT TO:" are recognised as a whole
 * (optional spaces after the colon are tolerated, as deployed clients
 * send them); for them, arg is the text after the colon.
 * Verbs that take no argument (DATA, RSET, QUIT, STARTTLS) with one
 * present → SMTP_PARSE_SYNTAX; NOOP/HELP/VRFY/EXPN accept any argument.
 */
enum smtp_parse_result smtp_command_parse(const char *line, size_t len,
    struct smtp_command *cmd);

/* "MAIL", "RCPT", ...: for logs. */
const char *smtp_verb_name(enum smtp_verb verb);

#endif
