/*
 * libFuzzer harness: the command line parser, and behind it the path
 * parsers and HELO check, fed exactly what a session would feed them.
 * Checks that results point inside the line and that every parsed path
 * is NUL-terminated within its fixed buffers.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/address.h"
#include "smtp/command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_path(const struct smtp_path *p)
{
	if (strnlen(p->local, sizeof(p->local)) == sizeof(p->local) ||
	    strnlen(p->domain, sizeof(p->domain)) == sizeof(p->domain) ||
	    strnlen(p->addr, sizeof(p->addr)) == sizeof(p->addr))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)data;
	struct smtp_command cmd;
	struct smtp_path path;
	struct smtp_mail_params params;
	enum smtp_parse_result rc;

	rc = smtp_command_parse(line, size, &cmd);
	if (smtp_verb_name(cmd.verb) == NULL)
		abort();
	if (rc != SMTP_PARSE_OK)
		return 0;
	if (cmd.verb == SMTP_VERB_UNKNOWN)
		abort();
	if (cmd.arg_len > 0 && (cmd.arg < line || cmd.arg + cmd.arg_len > line + size))
		abort();
	if (memchr(cmd.arg, '\r', cmd.arg_len) || memchr(cmd.arg, '\n', cmd.arg_len))
		abort();

	switch (cmd.verb) {
	case SMTP_VERB_MAIL:
		for (int u = 0; u < 2; u++) {
			if (smtp_parse_mail_from(cmd.arg, cmd.arg_len, u, &path,
			    &params) == SMTP_ADDR_OK && !u && params.smtputf8)
				abort();
			check_path(&path);
		}
		break;
	case SMTP_VERB_RCPT:
		for (int u = 0; u < 2; u++) {
			if (smtp_parse_rcpt_to(cmd.arg, cmd.arg_len, u, &path) ==
			    SMTP_ADDR_OK && path.null)
				abort();
			check_path(&path);
		}
		break;
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		(void)smtp_valid_helo(cmd.arg, cmd.arg_len);
		break;
	default:
		break;
	}
	return 0;
}
