/*
 * Unit tests of the SMTP command line parser (src/smtp/command.c):
 * verbs, arguments, the MAIL FROM:/RCPT TO: units and syntax errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/command.h"

static enum smtp_parse_result
parse(const char *line, struct smtp_command *cmd)
{
	return smtp_command_parse(line, strlen(line), cmd);
}

static void
assert_cmd(const char *line, enum smtp_verb verb, const char *arg)
{
	struct smtp_command cmd;

	assert_int_equal(parse(line, &cmd), SMTP_PARSE_OK);
	assert_int_equal(cmd.verb, verb);
	assert_int_equal(cmd.arg_len, strlen(arg));
	assert_memory_equal(cmd.arg, arg, cmd.arg_len);
}

static void
assert_result(const char *line, enum smtp_parse_result want)
{
	struct smtp_command cmd;

	assert_int_equal(parse(line, &cmd), want);
}

static void
test_verbs_case_insensitive(void **state)
{
	(void)state;
	assert_cmd("DATA", SMTP_VERB_DATA, "");
	assert_cmd("data", SMTP_VERB_DATA, "");
	assert_cmd("DaTa", SMTP_VERB_DATA, "");
	assert_cmd("RSET", SMTP_VERB_RSET, "");
	assert_cmd("quit", SMTP_VERB_QUIT, "");
	assert_cmd("StartTLS", SMTP_VERB_STARTTLS, "");
	assert_cmd("NOOP", SMTP_VERB_NOOP, "");
	assert_cmd("help", SMTP_VERB_HELP, "");
	assert_cmd("VRFY", SMTP_VERB_VRFY, "");
	assert_cmd("EXPN", SMTP_VERB_EXPN, "");
}

static void
test_helo_ehlo(void **state)
{
	(void)state;
	assert_cmd("HELO mx.example.org", SMTP_VERB_HELO, "mx.example.org");
	assert_cmd("ehlo client.example", SMTP_VERB_EHLO, "client.example");
	assert_cmd("EHLO [192.0.2.1]", SMTP_VERB_EHLO, "[192.0.2.1]");
	assert_cmd("EHLO   spaced.example   ", SMTP_VERB_EHLO, "spaced.example");
	/* The session judges the argument; the parser passes it on. */
	assert_cmd("EHLO two words", SMTP_VERB_EHLO, "two words");
	assert_result("HELO", SMTP_PARSE_SYNTAX);
	assert_result("EHLO", SMTP_PARSE_SYNTAX);
	assert_result("EHLO ", SMTP_PARSE_SYNTAX);
	assert_result("EHLO    ", SMTP_PARSE_SYNTAX);
}

static void
test_mail_rcpt(void **state)
{
	(void)state;
	assert_cmd("MAIL FROM:<a@b.example>", SMTP_VERB_MAIL, "<a@b.example>");
	assert_cmd("mail from:<>", SMTP_VERB_MAIL, "<>");
	assert_cmd("MAIL FROM: <a@b.example>", SMTP_VERB_MAIL, "<a@b.example>");
	assert_cmd("MAIL FROM:   <a@b.example> SIZE=10", SMTP_VERB_MAIL,
	    "<a@b.example> SIZE=10");
	assert_cmd("MAIL FROM:<a@b.example>  ", SMTP_VERB_MAIL, "<a@b.example>");
	assert_cmd("RCPT TO:<c@d.example>", SMTP_VERB_RCPT, "<c@d.example>");
	assert_cmd("Rcpt To: <postmaster>", SMTP_VERB_RCPT, "<postmaster>");
	assert_cmd("rcpt to:<x@y>", SMTP_VERB_RCPT, "<x@y>");
}

static void
test_mail_rcpt_slack(void **state)
{
	(void)state;
	/* Only spaces after the colon are tolerated. */
	assert_result("MAIL  FROM:<a@b>", SMTP_PARSE_SYNTAX);
	assert_result("MAIL FROM :<a@b>", SMTP_PARSE_SYNTAX);
	assert_result("MAIL FROM<a@b>", SMTP_PARSE_SYNTAX);
	assert_result("MAIL FROM", SMTP_PARSE_SYNTAX);
	assert_result("MAIL FROM:", SMTP_PARSE_SYNTAX);
	assert_result("MAIL FROM:   ", SMTP_PARSE_SYNTAX);
	assert_result("MAIL", SMTP_PARSE_SYNTAX);
	assert_result("MAIL TO:<a@b>", SMTP_PARSE_SYNTAX);
	assert_result("MAIL\tFROM:<a@b>", SMTP_PARSE_UNKNOWN);
	assert_result("RCPT TO :<a@b>", SMTP_PARSE_SYNTAX);
	assert_result("RCPT  TO:<a@b>", SMTP_PARSE_SYNTAX);
	assert_result("RCPT FROM:<a@b>", SMTP_PARSE_SYNTAX);
	assert_result("RCPT", SMTP_PARSE_SYNTAX);
	assert_result("RCPT TO:", SMTP_PARSE_SYNTAX);
}

static void
test_no_argument_verbs(void **state)
{
	(void)state;
	assert_result("DATA x", SMTP_PARSE_SYNTAX);
	assert_result("RSET now", SMTP_PARSE_SYNTAX);
	assert_result("QUIT please", SMTP_PARSE_SYNTAX);
	assert_result("STARTTLS x", SMTP_PARSE_SYNTAX);
	/* Trailing spaces are not an argument. */
	assert_cmd("DATA ", SMTP_VERB_DATA, "");
	assert_cmd("QUIT   ", SMTP_VERB_QUIT, "");
}

static void
test_free_argument_verbs(void **state)
{
	(void)state;
	assert_cmd("NOOP anything at all", SMTP_VERB_NOOP, "anything at all");
	assert_cmd("HELP MAIL", SMTP_VERB_HELP, "MAIL");
	assert_cmd("VRFY user", SMTP_VERB_VRFY, "user");
	assert_cmd("EXPN list", SMTP_VERB_EXPN, "list");
}

static void
test_needed_argument_verbs(void **state)
{
	(void)state;
	assert_cmd("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", SMTP_VERB_AUTH,
	    "PLAIN dGVzdAB0ZXN0AHRlc3Q=");
	assert_cmd("BDAT 100 LAST", SMTP_VERB_BDAT, "100 LAST");
	assert_result("AUTH", SMTP_PARSE_SYNTAX);
	assert_result("BDAT", SMTP_PARSE_SYNTAX);
}

static void
test_unknown(void **state)
{
	(void)state;
	assert_result("", SMTP_PARSE_UNKNOWN);
	assert_result(" ", SMTP_PARSE_UNKNOWN);
	assert_result(" DATA", SMTP_PARSE_UNKNOWN);
	assert_result("DATAX", SMTP_PARSE_UNKNOWN);
	assert_result("DAT", SMTP_PARSE_UNKNOWN);
	assert_result("HELOmx.example", SMTP_PARSE_UNKNOWN);
	assert_result("MAILFROM:<a@b>", SMTP_PARSE_UNKNOWN);
	assert_result("GET / HTTP/1.1", SMTP_PARSE_UNKNOWN);
	assert_result("TURN", SMTP_PARSE_UNKNOWN);
	assert_result("STARTTLSX", SMTP_PARSE_UNKNOWN);
	assert_result("\xc3\xa9HLO x", SMTP_PARSE_UNKNOWN);
}

static void
test_control_bytes(void **state)
{
	struct smtp_command cmd;

	(void)state;
	assert_result("DATA\r", SMTP_PARSE_SYNTAX);
	assert_result("NOOP a\rb", SMTP_PARSE_SYNTAX);
	assert_result("NOOP a\nRSET", SMTP_PARSE_SYNTAX);
	assert_result("MAIL FROM:<a@b>\nRCPT TO:<c@d>", SMTP_PARSE_SYNTAX);
	assert_result("\r", SMTP_PARSE_SYNTAX);
	/* NUL inside the counted length, even in an unknown verb. */
	assert_int_equal(smtp_command_parse("NOOP a\0b", 8, &cmd),
	    SMTP_PARSE_SYNTAX);
	assert_int_equal(smtp_command_parse("XX\0", 3, &cmd), SMTP_PARSE_SYNTAX);
	/* Length, not NUL, bounds the line. */
	assert_int_equal(smtp_command_parse("QUITXXX", 4, &cmd), SMTP_PARSE_OK);
	assert_int_equal(cmd.verb, SMTP_VERB_QUIT);
}

static void
test_unknown_clears_cmd(void **state)
{
	struct smtp_command cmd;

	(void)state;
	cmd.verb = SMTP_VERB_DATA;
	cmd.arg = NULL;
	cmd.arg_len = 99;
	assert_int_equal(parse("BOGUS", &cmd), SMTP_PARSE_UNKNOWN);
	assert_int_equal(cmd.verb, SMTP_VERB_UNKNOWN);
	assert_non_null(cmd.arg);
	assert_int_equal(cmd.arg_len, 0);
	/* A syntax error still names the verb, for the reply and logs. */
	assert_int_equal(parse("DATA now", &cmd), SMTP_PARSE_SYNTAX);
	assert_int_equal(cmd.verb, SMTP_VERB_DATA);
}

static void
test_verb_names(void **state)
{
	(void)state;
	assert_string_equal(smtp_verb_name(SMTP_VERB_MAIL), "MAIL");
	assert_string_equal(smtp_verb_name(SMTP_VERB_RCPT), "RCPT");
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_AUTH), "AUTH");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
	assert_string_equal(smtp_verb_name(SMTP_VERB_COUNT), "UNKNOWN");
	assert_string_equal(smtp_verb_name((enum smtp_verb)-1), "UNKNOWN");
	for (int v = 0; v < SMTP_VERB_COUNT; v++)
		assert_non_null(smtp_verb_name((enum smtp_verb)v));
}

static void
test_every_verb_round_trips(void **state)
{
	(void)state;
	for (int v = 1; v < SMTP_VERB_COUNT; v++) {
		char line[64];
		struct smtp_command cmd;
		const char *name = smtp_verb_name((enum smtp_verb)v);
		const char *arg = "";

		if (v == SMTP_VERB_MAIL)
			arg = " FROM:<a@b>";
		else if (v == SMTP_VERB_RCPT)
			arg = " TO:<a@b>";
		else if (v == SMTP_VERB_HELO || v == SMTP_VERB_EHLO ||
		    v == SMTP_VERB_AUTH || v == SMTP_VERB_BDAT)
			arg = " x";
		snprintf(line, sizeof(line), "%s%s", name, arg);
		assert_int_equal(parse(line, &cmd), SMTP_PARSE_OK);
		assert_int_equal(cmd.verb, v);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs_case_insensitive),
		cmocka_unit_test(test_helo_ehlo),
		cmocka_unit_test(test_mail_rcpt),
		cmocka_unit_test(test_mail_rcpt_slack),
		cmocka_unit_test(test_no_argument_verbs),
		cmocka_unit_test(test_free_argument_verbs),
		cmocka_unit_test(test_needed_argument_verbs),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_control_bytes),
		cmocka_unit_test(test_unknown_clears_cmd),
		cmocka_unit_test(test_verb_names),
		cmocka_unit_test(test_every_verb_round_trips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
