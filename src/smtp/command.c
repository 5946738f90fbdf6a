/*
 * SMTP command line parser: see command.h.  Pure, never allocates.
 *
 * Called by the session for every line it reads before DATA, with the
 * CRLF already removed.  Trusts nothing in the line: it is the first code
 * to look at client bytes.  The result points into the caller's line.
 *
 * Rules (RFC 5321 2.4, 4.1.1): verbs are case-insensitive and are
 * separated from their argument by SP.  "MAIL FROM:" and "RCPT TO:" are
 * one token each: exactly one SP between verb and keyword, then any
 * number of SP after the colon (deployed clients send "FROM: <a@b>"),
 * and no other slack, as Postfix does.  NUL, CR and LF anywhere are a
 * syntax error: a bare CR or LF inside a "line" is a smuggling attempt.
 * Trailing SP is stripped from the argument; HTAB is not SP (4.1.1).
 */
#include "smtp/command.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* How a verb treats its argument. */
enum arg_rule {
	ARG_NONE,	/* no argument allowed (DATA, RSET, QUIT, STARTTLS) */
	ARG_ANY,	/* optional, free text (NOOP, HELP, VRFY, EXPN) */
	ARG_NEEDED,	/* required (HELO, EHLO, BDAT, AUTH) */
	ARG_PATH,	/* "MAIL FROM:" / "RCPT TO:" then a path */
};

struct verb_def {
	const char *name;
	size_t name_len;
	enum smtp_verb verb;
	enum arg_rule rule;
	const char *keyword;	/* " FROM:" / " TO:" for ARG_PATH */
};

#define VERB(n, v, r, k) { n, sizeof(n) - 1, v, r, k }

static const struct verb_def verbs[] = {
	VERB("HELO", SMTP_VERB_HELO, ARG_NEEDED, NULL),
	VERB("EHLO", SMTP_VERB_EHLO, ARG_NEEDED, NULL),
	VERB("MAIL", SMTP_VERB_MAIL, ARG_PATH, "FROM:"),
	VERB("RCPT", SMTP_VERB_RCPT, ARG_PATH, "TO:"),
	VERB("DATA", SMTP_VERB_DATA, ARG_NONE, NULL),
	VERB("BDAT", SMTP_VERB_BDAT, ARG_NEEDED, NULL),
	VERB("RSET", SMTP_VERB_RSET, ARG_NONE, NULL),
	VERB("NOOP", SMTP_VERB_NOOP, ARG_ANY, NULL),
	VERB("QUIT", SMTP_VERB_QUIT, ARG_NONE, NULL),
	VERB("VRFY", SMTP_VERB_VRFY, ARG_ANY, NULL),
	VERB("EXPN", SMTP_VERB_EXPN, ARG_ANY, NULL),
	VERB("HELP", SMTP_VERB_HELP, ARG_ANY, NULL),
	VERB("STARTTLS", SMTP_VERB_STARTTLS, ARG_NONE, NULL),
	VERB("AUTH", SMTP_VERB_AUTH, ARG_NEEDED, NULL),
};

static const char *const verb_names[SMTP_VERB_COUNT] = {
	[SMTP_VERB_UNKNOWN] = "UNKNOWN",
	[SMTP_VERB_HELO] = "HELO",
	[SMTP_VERB_EHLO] = "EHLO",
	[SMTP_VERB_MAIL] = "MAIL",
	[SMTP_VERB_RCPT] = "RCPT",
	[SMTP_VERB_DATA] = "DATA",
	[SMTP_VERB_BDAT] = "BDAT",
	[SMTP_VERB_RSET] = "RSET",
	[SMTP_VERB_NOOP] = "NOOP",
	[SMTP_VERB_QUIT] = "QUIT",
	[SMTP_VERB_VRFY] = "VRFY",
	[SMTP_VERB_EXPN] = "EXPN",
	[SMTP_VERB_HELP] = "HELP",
	[SMTP_VERB_STARTTLS] = "STARTTLS",
	[SMTP_VERB_AUTH] = "AUTH",
};

const char *
smtp_verb_name(enum smtp_verb verb)
{
	if ((unsigned)verb >= SMTP_VERB_COUNT)
		return "UNKNOWN";
	return verb_names[verb];
}

static const struct verb_def *
verb_lookup(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const struct verb_def *v = &verbs[i];

		if (len == v->name_len && strncasecmp(line, v->name, len) == 0)
			return v;
	}
	return NULL;
}

/* The argument of MAIL / RCPT: "<sp>KEYWORD:" then optional SP. */
static enum smtp_parse_result
parse_path_arg(const struct verb_def *v, const char *rest, size_t len,
    struct smtp_command *cmd)
{
	size_t klen = strlen(v->keyword);
	size_t i;

	if (len < 1 + klen || rest[0] != ' ' ||
	    strncasecmp(rest + 1, v->keyword, klen) != 0)
		return SMTP_PARSE_SYNTAX;
	i = 1 + klen;
	while (i < len && rest[i] == ' ')
		i++;
	if (i == len)
		return SMTP_PARSE_SYNTAX;	/* "MAIL FROM:" with no path */
	cmd->arg = rest + i;
	cmd->arg_len = len - i;
	return SMTP_PARSE_OK;
}

enum smtp_parse_result
smtp_command_parse(const char *line, size_t len, struct smtp_command *cmd)
{
	const struct verb_def *v;
	const char *rest;
	size_t vlen, rlen;

	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->arg = "";
	cmd->arg_len = 0;

	/* One scan for the three bytes that can never be in a command. */
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL ||
	    memchr(line, '\n', len) != NULL)
		return SMTP_PARSE_SYNTAX;

	/* Trailing SP is not part of the argument (clients add it). */
	while (len > 0 && line[len - 1] == ' ')
		len--;

	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	v = verb_lookup(line, vlen);
	if (v == NULL)
		return SMTP_PARSE_UNKNOWN;
	cmd->verb = v->verb;
	rest = line + vlen;
	rlen = len - vlen;

	if (v->rule == ARG_PATH)
		return parse_path_arg(v, rest, rlen, cmd);

	/* rest is "" or starts with SP; the argument follows the SPs. */
	while (rlen > 0 && rest[0] == ' ') {
		rest++;
		rlen--;
	}
	switch (v->rule) {
	case ARG_NONE:
		if (rlen > 0)
			return SMTP_PARSE_SYNTAX;
		break;
	case ARG_NEEDED:
		if (rlen == 0)
			return SMTP_PARSE_SYNTAX;
		break;
	case ARG_ANY:
	case ARG_PATH:
		break;
	}
	cmd->arg = rest;
	cmd->arg_len = rlen;
	return SMTP_PARSE_OK;
}
