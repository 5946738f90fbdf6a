/*
 * Unit tests of the logger (src/common/log.c): log_safe() and
 * log_safe_len() escape every class of byte as docs/logging.md says
 * (controls, DEL, '"', '\\', malformed UTF-8, C1, line separators,
 * bidi controls) and keep printable UTF-8; a cut never splits an escape
 * or a UTF-8 sequence and ends with "..."; and the safety net of the
 * line itself: whatever a call site passes, the line written to stderr
 * is one line of printable UTF-8, cut after a whole field when too long.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

/* log_safe_len into a big buffer: the uncut escaping. */
static const char *
esc(const char *s, size_t len)
{
	static char out[4096];

	return log_safe_len(s, len, out, sizeof(out));
}

#define ESC(lit) esc((lit), sizeof(lit) - 1)

static void
test_printable_ascii_stays(void **state)
{
	char out[128];
	const char *in = "MAIL FROM:<a.b+c@example.org> SIZE=10 ~!#$%&'()*,-./:;<=>?@[]^_`{|}";

	(void)state;
	assert_ptr_equal(log_safe(in, out, sizeof(out)), out);
	assert_string_equal(out, in);
	assert_string_equal(log_safe("", out, sizeof(out)), "");
	assert_string_equal(log_safe(NULL, out, sizeof(out)), "");
	assert_string_equal(log_safe_len(NULL, 5, out, sizeof(out)), "");
}

static void
test_every_control_byte_escaped(void **state)
{
	char in[2], want[8];
	unsigned c;

	(void)state;
	for (c = 1; c < 0x20; c++) {
		in[0] = (char)c;
		snprintf(want, sizeof(want), "\\x%02x", c);
		assert_string_equal(esc(in, 1), want);
	}
	assert_string_equal(ESC("\x7f"), "\\x7f");
	assert_string_equal(ESC("a\r\nb"), "a\\x0d\\x0ab");
	assert_string_equal(ESC("\t \x1b[31m"), "\\x09 \\x1b[31m");
}

static void
test_quote_and_backslash_escaped(void **state)
{
	(void)state;
	assert_string_equal(ESC("\"x\" event=auth"), "\\x22x\\x22 event=auth");
	assert_string_equal(ESC("a\\b"), "a\\x5cb");
	/* An escape in the input is not an escape in the output. */
	assert_string_equal(ESC("\\x0a"), "\\x5cx0a");
}

static void
test_nul_needs_a_length(void **state)
{
	char out[64];

	(void)state;
	assert_string_equal(ESC("a\0b"), "a\\x00b");
	assert_string_equal(ESC("\0"), "\\x00");
	/* The string form stops at the NUL, as C strings do. */
	assert_string_equal(log_safe("a\0b", out, sizeof(out)), "a");
	/* A length shorter than the string takes only that much. */
	assert_string_equal(log_safe_len("abcdef", 3, out, sizeof(out)), "abc");
}

static void
test_valid_utf8_stays(void **state)
{
	static const char *const ok[] = {
		"\xc2\xa0",			/* U+00A0, the first after C1 */
		"\xc3\xbc",			/* ü */
		"\xdf\xbf",			/* U+07FF */
		"\xe0\xa0\x80",			/* U+0800, shortest 3-byte */
		"\xe2\x82\xac",			/* € */
		"\xe2\x80\x8d",			/* U+200D ZWJ (emoji) */
		"\xe2\x80\xaf",			/* U+202F, after the overrides */
		"\xe2\x81\xaa",			/* U+206A, after the isolates */
		"\xed\x9f\xbf",			/* U+D7FF, below surrogates */
		"\xee\x80\x80",			/* U+E000, above surrogates */
		"\xef\xbf\xbd",			/* U+FFFD */
		"\xf0\x90\x80\x80",		/* U+10000, shortest 4-byte */
		"\xf0\x9d\x84\x9e",		/* U+1D11E */
		"\xf4\x8f\xbf\xbf",		/* U+10FFFF, the last */
		"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_string_equal(esc(ok[i], strlen(ok[i])), ok[i]);
}

static void
test_malformed_utf8_escaped(void **state)
{
	static const char *const bad[][2] = {
		/* overlong forms */
		{ "\xc0\x80", "\\xc0\\x80" },
		{ "\xc1\xbf", "\\xc1\\xbf" },
		{ "\xe0\x80\x80", "\\xe0\\x80\\x80" },
		{ "\xe0\x9f\xbf", "\\xe0\\x9f\\xbf" },
		{ "\xf0\x80\x80\x80", "\\xf0\\x80\\x80\\x80" },
		{ "\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf" },
		/* UTF-16 surrogates */
		{ "\xed\xa0\x80", "\\xed\\xa0\\x80" },
		{ "\xed\xbf\xbf", "\\xed\\xbf\\xbf" },
		/* past U+10FFFF, and bytes that never start a character */
		{ "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
		{ "\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80" },
		{ "\xfe\xff", "\\xfe\\xff" },
		/* lone continuation bytes */
		{ "\x80", "\\x80" },
		{ "a\xbf" "b", "a\\xbfb" },
		/* cut sequences: at the end, and before ASCII */
		{ "\xe2\x82", "\\xe2\\x82" },
		{ "\xe2\x82" "A", "\\xe2\\x82A" },
		{ "\xf0\x9d\x84", "\\xf0\\x9d\\x84" },
		{ "\xc3", "\\xc3" },
		/* Latin-1, as an 8-bit client sends it */
		{ "M\xfcller", "M\\xfcller" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_string_equal(esc(bad[i][0], strlen(bad[i][0])), bad[i][1]);
}

static void
test_unprintable_code_points_escaped(void **state)
{
	static const char *const bad[][2] = {
		{ "\xc2\x80", "\\xc2\\x80" },			/* C1 start */
		{ "\xc2\x85", "\\xc2\\x85" },			/* NEL */
		{ "\xc2\x9b", "\\xc2\\x9b" },			/* CSI */
		{ "\xc2\x9f", "\\xc2\\x9f" },			/* C1 end */
		{ "\xe2\x80\xa8", "\\xe2\\x80\\xa8" },		/* LS */
		{ "\xe2\x80\xa9", "\\xe2\\x80\\xa9" },		/* PS */
		{ "\xd8\x9c", "\\xd8\\x9c" },			/* ALM */
		{ "\xe2\x80\x8e", "\\xe2\\x80\\x8e" },		/* LRM */
		{ "\xe2\x80\x8f", "\\xe2\\x80\\x8f" },		/* RLM */
		{ "\xe2\x80\xaa", "\\xe2\\x80\\xaa" },		/* LRE */
		{ "\xe2\x80\xae", "\\xe2\\x80\\xae" },		/* RLO */
		{ "\xe2\x81\xa6", "\\xe2\\x81\\xa6" },		/* LRI */
		{ "\xe2\x81\xa9", "\\xe2\\x81\\xa9" },		/* PDI */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_string_equal(esc(bad[i][0], strlen(bad[i][0])), bad[i][1]);
}

/* Where the next unit of an escaped string starts after p, and whether
 * p is a unit boundary (not inside \xHH nor inside a UTF-8 sequence). */
static size_t
unit_len(const char *e, size_t p)
{
	unsigned char c = (unsigned char)e[p];

	if (c == '\\')
		return 4;
	return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

static int
is_boundary(const char *e, size_t p)
{
	for (size_t k = 1; k <= 3 && k <= p; k++)
		if (e[p - k] == '\\')
			return 0;
	return ((unsigned char)e[p] & 0xc0) != 0x80;
}

/*
 * For every size from 1 up, the copy is the whole escaping when it fits;
 * otherwise the longest prefix cut at a unit boundary that leaves room
 * for "...", then "...".
 */
static void
check_cuts(const char *in, size_t len)
{
	char full[1024], out[1024];
	size_t flen, outlen, olen, plen;

	log_safe_len(in, len, full, sizeof(full));
	flen = strlen(full);
	for (outlen = 1; outlen <= flen + 2; outlen++) {
		memset(out, 'Z', sizeof(out));
		log_safe_len(in, len, out, outlen);
		olen = strlen(out);
		assert_true(olen < outlen);
		if (flen < outlen) {
			assert_string_equal(out, full);
			continue;
		}
		if (outlen < 4) {
			assert_int_equal(olen, outlen - 1);
			assert_memory_equal(out, "...", olen);
			continue;
		}
		assert_true(olen >= 3);
		assert_string_equal(out + olen - 3, "...");
		plen = olen - 3;
		assert_memory_equal(out, full, plen);
		assert_true(is_boundary(full, plen));
		/* Maximal: one more unit would not have fitted with "...". */
		assert_true(plen + unit_len(full, plen) + 4 > outlen);
	}
}

#define CHECK_CUTS(lit) check_cuts((lit), sizeof(lit) - 1)

static void
test_cut_never_splits(void **state)
{
	(void)state;
	CHECK_CUTS("abcdefgh");
	CHECK_CUTS("a\nb\"c\\d");
	CHECK_CUTS("\xc3\xbc\xe2\x82\xac\xf0\x9d\x84\x9ex\xff\x01");
	CHECK_CUTS("\xe2\x80\xa8\xc3\xa9\xc3\xa9\0\0z");
	CHECK_CUTS("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90");
}

static void
test_cut_examples(void **state)
{
	char out[16];

	(void)state;
	/* Exactly fits: no cut, even though "..." would not fit after it. */
	assert_string_equal(log_safe("abcd", out, 5), "abcd");
	assert_string_equal(log_safe("abcde", out, 5), "a...");
	/* An escape does not fit: it goes whole. */
	assert_string_equal(log_safe("ab\ncd", out, 8), "ab...");
	assert_string_equal(log_safe("ab\n", out, 8), "ab\\x0a");
	/* A byte count would cut after "a\xc3" or "a\x": never that. */
	assert_string_equal(log_safe("a\xc3\xbcxxxx", out, 6), "a...");
	assert_string_equal(log_safe("a\nxxxxx", out, 6), "a...");
	assert_string_equal(log_safe("a\xc3\xbcxxxx", out, 7), "a\xc3\xbc...");
	assert_string_equal(log_safe("ab\xc3\xbc" "cd", out, 7), "ab\xc3\xbc" "cd");
	assert_string_equal(log_safe("abcdef", out, 4), "...");
	assert_string_equal(log_safe("abcdef", out, 2), ".");
	assert_string_equal(log_safe("abcdef", out, 1), "");
	out[0] = 'Z';
	log_safe("abcdef", out, 0);
	assert_int_equal(out[0], 'Z');
}

/* -- the line: captured from stderr ---------------------------------------- */

static char captured[16384];

static int
capture_begin(void)
{
	FILE *f = tmpfile();
	int saved = dup(STDERR_FILENO);

	assert_non_null(f);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
	fclose(f);	/* fd 2 keeps the file */
	return saved;
}

/* Everything logged since capture_begin(). */
static const char *
capture_end(int saved)
{
	ssize_t n;
	off_t at = lseek(STDERR_FILENO, 0, SEEK_SET);

	assert_int_equal(at, 0);
	n = read(STDERR_FILENO, captured, sizeof(captured) - 1);
	assert_true(n >= 0);
	captured[n] = '\0';
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	return captured;
}

/* The message of the only line logged ("... test[PID] info: MSG\n"). */
static const char *
only_message(const char *log)
{
	const char *nl = strchr(log, '\n');
	const char *m = strstr(log, "] info: ");

	assert_non_null(nl);
	assert_null(strchr(nl + 1, '\n'));
	assert_int_equal(nl[1], '\0');
	assert_non_null(m);
	return m + strlen("] info: ");
}

/* Every byte of the line is printable: it escapes to itself, but for the
 * '"' and '\\' a line keeps. */
static void
assert_printable_line(const char *msg)
{
	size_t len = strcspn(msg, "\n");

	for (size_t i = 0; i < len; i++) {
		char one[2] = { msg[i], '\0' };

		if (msg[i] == '"' || msg[i] == '\\' || (msg[i] & 0x80))
			continue;
		assert_string_equal(esc(one, 1), one);
	}
	/* and the 8-bit bytes form printable UTF-8 */
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)msg[i] < 0x80)
			continue;
		size_t n = unit_len(msg, i);
		char seq[8] = { 0 };

		memcpy(seq, msg + i, n);
		assert_string_equal(esc(seq, n), seq);
		i += n - 1;
	}
}

static void
test_line_cannot_be_forged(void **state)
{
	int saved;
	const char *msg;

	(void)state;
	saved = capture_begin();
	/* A call site that forgot log_safe(): the value ends the line. */
	log_info("event=tls sni=%s", "x\nevent=auth user=\"root\"\r\x1b[2K");
	msg = only_message(capture_end(saved));
	assert_string_equal(msg, "event=tls sni=x\\x0aevent=auth "
	    "user=\"root\"\\x0d\\x1b[2K\n");
	assert_printable_line(msg);
}

static void
test_line_escapes_bad_utf8_keeps_good(void **state)
{
	int saved;
	const char *msg;

	(void)state;
	saved = capture_begin();
	log_info("event=x a=%s b=\"%s\" c=%s", "M\xfcller\x7f",
	    "\xc3\xbc \\ \xe2\x80\xa8", "\xed\xa0\x80\xc2\x85");
	msg = only_message(capture_end(saved));
	assert_string_equal(msg, "event=x a=M\\xfcller\\x7f "
	    "b=\"\xc3\xbc \\ \\xe2\\x80\\xa8\" c=\\xed\\xa0\\x80\\xc2\\x85\n");
	assert_printable_line(msg);
}

static void
test_line_safe_values_unchanged(void **state)
{
	char safe[64];
	int saved;
	const char *msg;

	(void)state;
	saved = capture_begin();
	log_info("event=auth user=\"%s\" n=%d",
	    log_safe("a\"b\\c\nd", safe, sizeof(safe)), 7);
	msg = only_message(capture_end(saved));
	/* Escaped once by log_safe, left alone by the line. */
	assert_string_equal(msg,
	    "event=auth user=\"a\\x22b\\x5cc\\x0ad\" n=7\n");
}

static void
test_long_line_cut_after_a_field(void **state)
{
	static char big[3000];
	int saved;
	const char *msg;
	size_t len, quotes = 0;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	saved = capture_begin();
	log_info("event=big id=ABC reason=\"%s\" after=1", big);
	msg = only_message(capture_end(saved));
	assert_string_equal(msg, "event=big id=ABC truncated=yes\n");

	/* Fits before escaping, not after: cut all the same. */
	memset(big, '\x01', 1000);
	big[1000] = '\0';
	saved = capture_begin();
	log_info("event=big id=ABC reason=\"%s\"", big);
	msg = only_message(capture_end(saved));
	assert_string_equal(msg, "event=big id=ABC truncated=yes\n");

	/* A long line of short fields keeps all that fit. */
	memset(big, 0, sizeof(big));
	for (len = 0; len + 13 < sizeof(big); len += 13)
		memcpy(big + len, " k=\"v  v\" x=1", 13);
	saved = capture_begin();
	log_info("event=many%s", big);
	msg = only_message(capture_end(saved));
	len = strlen(msg);
	assert_true(len <= 2047 + strlen(" truncated=yes\n"));
	assert_true(len > 2000);
	assert_string_equal(msg + len - strlen(" truncated=yes\n"),
	    " truncated=yes\n");
	for (size_t i = 0; i < len; i++)
		quotes += msg[i] == '"';
	assert_int_equal(quotes % 2, 0);
	assert_printable_line(msg);
}

/* fatal() in a child (it exits): its sentence becomes one event. */
static void
test_fatal_is_one_event(void **state)
{
	FILE *f = tmpfile();
	int status;
	ssize_t n;
	pid_t pid;

	(void)state;
	assert_non_null(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fileno(f), STDERR_FILENO);
		fatal("spool %s: %s", "/var/spool/x\"\nevent=auth", "No such file");
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
	assert_int_equal(lseek(fileno(f), 0, SEEK_SET), 0);
	n = read(fileno(f), captured, sizeof(captured) - 1);
	assert_true(n > 0);
	captured[n] = '\0';
	fclose(f);
	assert_non_null(strstr(captured, "] error: event=fatal reason=\"spool "
	    "/var/spool/x\\x22\\x0aevent=auth: No such file\"\n"));
	assert_ptr_equal(strchr(captured, '\n'), captured + n - 1);
}

/* The fields of a line may be 2047 bytes (docs/logging.md); 2048 are cut
 * after the last whole field. */
static void
test_line_limit_boundary(void **state)
{
	static char big[2100];
	const char *msg;
	int saved;

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[2047 - strlen("event=b x=")] = '\0';
	saved = capture_begin();
	log_info("event=b x=%s", big);
	msg = only_message(capture_end(saved));
	assert_int_equal(strlen(msg), 2047 + 1);
	assert_memory_equal(msg, "event=b x=aaa", 13);

	big[2047 - strlen("event=b x=")] = 'a';
	big[2048 - strlen("event=b x=")] = '\0';
	saved = capture_begin();
	log_info("event=b x=%s", big);
	msg = only_message(capture_end(saved));
	assert_string_equal(msg, "event=b truncated=yes\n");

	/* The same with escaping: 2047 bytes once escaped fit, 2048 not. */
	memset(big, 0, sizeof(big));
	memset(big, 'a', 2047 - strlen("event=b x=") - 4);
	big[strlen(big)] = '\n';
	saved = capture_begin();
	log_info("event=b x=%s", big);
	msg = only_message(capture_end(saved));
	assert_int_equal(strlen(msg), 2047 + 1);
	assert_memory_equal(msg + 2047 - 4, "\\x0a\n", 6);
	memmove(big + 1, big, strlen(big) + 1);
	saved = capture_begin();
	log_info("event=b x=%s", big);
	msg = only_message(capture_end(saved));
	assert_string_equal(msg, "event=b truncated=yes\n");
}

/* Sleeps into the next second of the clock. */
static void
next_second(void)
{
	struct timespec now, nap;

	clock_gettime(CLOCK_REALTIME, &now);
	nap.tv_sec = 0;
	nap.tv_nsec = 1000000000L - now.tv_nsec + 10000000L;
	if (nap.tv_nsec >= 1000000000L) {
		nap.tv_sec = 1;
		nap.tv_nsec -= 1000000000L;
	}
	nanosleep(&nap, NULL);
}

/* line's prefix is "YYYY-MM-DDTHH:MM:SS.mmmZ test[PID] info: event=E"
 * with a time of second `at' or the one after. */
static void
assert_prefix(const char *line, time_t at, char e)
{
	char want[64], stamp[32];
	struct tm tm;

	assert_true(strlen(line) > 24);
	assert_int_equal(line[19], '.');
	for (int d = 20; d < 23; d++)
		assert_true(line[d] >= '0' && line[d] <= '9');
	snprintf(want, sizeof(want), "Z test[%ld] info: event=%c\n",
	    (long)getpid(), e);
	assert_memory_equal(line + 23, want, strlen(want));
	memcpy(stamp, line, 19);
	stamp[19] = '\0';
	gmtime_r(&at, &tm);
	strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
	if (strcmp(stamp, want) != 0) {
		at++;
		gmtime_r(&at, &tm);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%S", &tm);
		assert_string_equal(stamp, want);
	}
}

/* The prefix carries now's time in UTC; the stamp a thread makes once
 * a second is not kept into the next one. */
static void
test_line_prefix(void **state)
{
	const char *line;
	time_t first, second;
	int saved;

	(void)state;
	saved = capture_begin();
	first = time(NULL);
	log_info("event=p");
	next_second();
	second = time(NULL);
	log_info("event=q");
	line = capture_end(saved);
	assert_prefix(line, first, 'p');
	assert_prefix(strchr(line, '\n') + 1, second, 'q');
	assert_true(memcmp(line, strchr(line, '\n') + 1, 19) != 0);
}

static void
test_level_and_errno(void **state)
{
	int saved;

	(void)state;
	saved = capture_begin();
	errno = EAGAIN;
	log_debug("event=hidden");
	log_info("event=shown");
	assert_int_equal(errno, EAGAIN);
	assert_null(strstr(capture_end(saved), "hidden"));
	assert_non_null(strstr(captured, "event=shown"));
}

/* A line of text of its own (config errors): quotes stay, line ends go. */
static void
test_text_keeps_quotes_not_line_ends(void **state)
{
	char out[128];

	(void)state;
	assert_string_equal(log_safe_text("unknown setting \"x\" a\\b", out,
	    sizeof(out)), "unknown setting \"x\" a\\b");
	assert_string_equal(log_safe_text("link (to x\nevent=auth\r)", out,
	    sizeof(out)), "link (to x\\x0aevent=auth\\x0d)");
	assert_string_equal(log_safe_text("\xe2\x80\xa8 \xff \xc3\xa9", out,
	    sizeof(out)), "\\xe2\\x80\\xa8 \\xff \xc3\xa9");
	assert_string_equal(log_safe_text(NULL, out, sizeof(out)), "");
	assert_string_equal(log_safe_text("abcdefgh\n", out, 8), "abcd...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable_ascii_stays),
		cmocka_unit_test(test_every_control_byte_escaped),
		cmocka_unit_test(test_quote_and_backslash_escaped),
		cmocka_unit_test(test_nul_needs_a_length),
		cmocka_unit_test(test_valid_utf8_stays),
		cmocka_unit_test(test_malformed_utf8_escaped),
		cmocka_unit_test(test_unprintable_code_points_escaped),
		cmocka_unit_test(test_cut_never_splits),
		cmocka_unit_test(test_cut_examples),
		cmocka_unit_test(test_line_cannot_be_forged),
		cmocka_unit_test(test_line_escapes_bad_utf8_keeps_good),
		cmocka_unit_test(test_line_safe_values_unchanged),
		cmocka_unit_test(test_long_line_cut_after_a_field),
		cmocka_unit_test(test_line_limit_boundary),
		cmocka_unit_test(test_fatal_is_one_event),
		cmocka_unit_test(test_line_prefix),
		cmocka_unit_test(test_level_and_errno),
		cmocka_unit_test(test_text_keeps_quotes_not_line_ends),
	};

	log_init("test", true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
