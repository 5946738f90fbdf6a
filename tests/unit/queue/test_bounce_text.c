/*
 * What bounce.c makes of the texts in a queue file: the remote-failure
 * form "host NAME[IP] said: REPLY (in reply to CMD)" (good, odd and
 * hostile inputs), the N record a delay warning leaves (parsed, torn,
 * invalid), and the reports bounce_queue() and bounce_queue_delay()
 * commit to a real spool in a temporary folder, read back from disk.
 * Also the other way a message is retried at once, `queue flush`: its
 * token over a real <spool>/qmgr.sock (queue/notify.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/buf.h"
#include "queue/bounce.h"
#include "queue/dsn.h"
#include "queue/envelope.h"
#include "queue/notify.h"
#include "queue/qmgr.h"
#include "queue/queue_id.h"
#include "queue/spool.h"
#include "testutil.h"

/* ---- bounce_parse_remote ---- */

struct remote_case {
	const char *text;
	const char *mta;	/* NULL: not the form */
	const char *diag;
};

static void
test_parse_remote_good(void **state)
{
	static const struct remote_case cases[] = {
		{ "host mx.example.org[192.0.2.7] said: 550 5.1.1 <x@y>: no "
		    "such user (in reply to RCPT TO)", "mx.example.org",
		    "550 5.1.1 <x@y>: no such user" },
		{ "host MX-1.Example.ORG.[2001:db8::25] said: 451 4.7.1 "
		    "greylisted, try later (in reply to MAIL FROM)",
		    "MX-1.Example.ORG.", "451 4.7.1 greylisted, try later" },
		/* LMTP, the same form: over TCP and over a unix socket. */
		{ "host lmtp.example.test[127.0.0.1]:24 said: 552 5.2.2 "
		    "mailbox full (in reply to end of DATA)", "lmtp.example.test",
		    "552 5.2.2 mailbox full" },
		{ "host /run/dovecot/lmtp[unix] said: 450 4.2.0 busy "
		    "(in reply to RCPT TO)", "", "450 4.2.0 busy" },
		{ "host /x[unix]:24 said: 550 5.1.1 x", "", "550 5.1.1 x" },
		/* No "in reply to": the reply is the rest. */
		{ "host mx.example.org[192.0.2.7] said: 554 5.7.1 go away",
		    "mx.example.org", "554 5.7.1 go away" },
		{ "host mx.example.org[192.0.2.7] said: 421", "mx.example.org",
		    "421" },
		{ "host mx.example.org[192.0.2.7] said: 550-5.7.1 first line "
		    "(in reply to DATA)", "mx.example.org",
		    "550-5.7.1 first line" },
		/* The reply holds the phrase itself: the last one closes. */
		{ "host mx[192.0.2.7] said: 550 x (in reply to RCPT TO) "
		    "(in reply to DATA)", "mx", "550 x (in reply to RCPT TO)" },
		/* Not closing the text: part of the reply. */
		{ "host mx[192.0.2.7] said: 550 x (in reply to RCPT TO) more",
		    "mx", "550 x (in reply to RCPT TO) more" },
		{ "host mx[192.0.2.7] said: 550 (in reply to (x)", "mx",
		    "550 (in reply to (x)" },
		/* A lifetime expiry keeps the last error after its prefix. */
		{ "queue lifetime expired, last error: host mx.example.org"
		    "[192.0.2.7] said: 451 4.3.0 later (in reply to RCPT TO)",
		    "mx.example.org", "451 4.3.0 later" },
	};
	char mta[BOUNCE_MTA_MAX + 1], diag[DSN_TEXT_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(mta, 'z', sizeof(mta));
		memset(diag, 'z', sizeof(diag));
		assert_true(bounce_parse_remote(cases[i].text, mta, sizeof(mta),
		    diag, sizeof(diag)));
		assert_string_equal(mta, cases[i].mta);
		assert_string_equal(diag, cases[i].diag);
	}
}

static void
test_parse_remote_not_the_form(void **state)
{
	static const char *const texts[] = {
		"",
		"no such user",
		"5.1.1 host mx[192.0.2.7] said: 550 x",	/* code not stripped */
		"connect to mx.example.org[192.0.2.7]:25: Connection refused",
		"host mx.example.org[192.0.2.7] refused to talk to me: 554 x",
		"host [192.0.2.7] said: 550 x",		/* no name */
		"host mx.example.org said: 550 x",		/* no [IP] */
		"host mx.example.org[] said: 550 x",		/* empty [IP] */
		"host mx.example.org[192.0.2.7 said: 550 x",
		"host mx.example.org[1[2]] said: 550 x",
		"host mx.example.org[a b] said: 550 x",
		"host mx example.org[192.0.2.7] said: 550 x",
		"host mx/evil[192.0.2.7] said: 550 x",
		/* A path only with [unix], and no spaces in it. */
		"host /run/dovecot/lmtp[192.0.2.7] said: 550 x",
		"host /run/dovecot/lmtp[unixx] said: 550 x",
		"host /run/dovecot/lmtp[] said: 550 x",
		"host /run/my lmtp[unix] said: 550 x",
		"host /run/\x80[unix] said: 550 x",
		"host mx.example.org[192.0.2.7]:x said: 550 x",
		"host mx.example.org[192.0.2.7]: said: 550 x",
		"host mx.example.org[192.0.2.7]:123456 said: 550 x",
		"host mx.example.org[192.0.2.7] said: ",
		"host mx.example.org[192.0.2.7] said: 55",
		"host mx.example.org[192.0.2.7] said: 5500 x",
		"host mx.example.org[192.0.2.7] said: 650 x",
		"host mx.example.org[192.0.2.7] said: 150 x",
		"host mx.example.org[192.0.2.7] said: x550 y",
		"host mx.example.org[192.0.2.7] said:550 x",
		"Host mx.example.org[192.0.2.7] said: 550 x",
		" host mx.example.org[192.0.2.7] said: 550 x",
		"queue lifetime expired, last error: connect to mx: refused",
		"queue lifetime expired, last error: ",
		"queue lifetime expired",
	};
	char mta[BOUNCE_MTA_MAX + 1], diag[DSN_TEXT_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		memset(mta, 'z', sizeof(mta));
		memset(diag, 'z', sizeof(diag));
		if (bounce_parse_remote(texts[i], mta, sizeof(mta), diag,
		    sizeof(diag)))
			fail_msg("taken for the remote form: \"%s\"", texts[i]);
		assert_string_equal(mta, "");
		assert_string_equal(diag, "");
	}
	assert_false(bounce_parse_remote(NULL, mta, sizeof(mta), diag,
	    sizeof(diag)));
	assert_string_equal(mta, "");
	assert_false(bounce_parse_remote("host a[b] said: 550 x", NULL, 0,
	    NULL, 0));
}

static void
test_parse_remote_hostile(void **state)
{
	char mta[BOUNCE_MTA_MAX + 1], diag[DSN_TEXT_MAX + 1], small[8];
	char name[BOUNCE_MTA_MAX + 2], *text;
	size_t len;

	(void)state;
	/* A reply that imitates our own form cannot change the name. */
	assert_true(bounce_parse_remote("host mx.good.example[192.0.2.7] "
	    "said: 550 x] said: host evil.example[1] said: 550 y", mta,
	    sizeof(mta), diag, sizeof(diag)));
	assert_string_equal(mta, "mx.good.example");
	assert_string_equal(diag,
	    "550 x] said: host evil.example[1] said: 550 y");
	/* Lines and fields in the reply are dsn.c's to clean: kept as is
	 * here, never a reason to fail. */
	assert_true(bounce_parse_remote("host mx[192.0.2.7] said: 550 x\r\n"
	    "Bcc: evil@example.org", mta, sizeof(mta), diag, sizeof(diag)));
	assert_string_equal(diag, "550 x\r\nBcc: evil@example.org");
	/* A control or 8-bit byte in the name or address: not the form. */
	assert_false(bounce_parse_remote("host mx\r\nX: y[1] said: 550 x",
	    mta, sizeof(mta), diag, sizeof(diag)));
	assert_false(bounce_parse_remote("host mx\xc3\xa9[1] said: 550 x",
	    mta, sizeof(mta), diag, sizeof(diag)));
	assert_false(bounce_parse_remote("host mx[1\n2] said: 550 x",
	    mta, sizeof(mta), diag, sizeof(diag)));
	assert_false(bounce_parse_remote("host mx[1\x7f] said: 550 x",
	    mta, sizeof(mta), diag, sizeof(diag)));

	/* The longest name fits; one more octet does not. */
	memset(name, 'a', sizeof(name));
	name[BOUNCE_MTA_MAX] = '\0';
	len = strlen(name) + 64;
	text = malloc(len);
	assert_non_null(text);
	snprintf(text, len, "host %s[1] said: 550 x", name);
	assert_true(bounce_parse_remote(text, mta, sizeof(mta), diag,
	    sizeof(diag)));
	assert_int_equal(strlen(mta), BOUNCE_MTA_MAX);
	/* ... but not in a smaller buffer. */
	assert_false(bounce_parse_remote(text, small, sizeof(small), diag,
	    sizeof(diag)));
	assert_string_equal(small, "");
	assert_string_equal(diag, "");
	name[BOUNCE_MTA_MAX] = 'a';
	name[BOUNCE_MTA_MAX + 1] = '\0';
	snprintf(text, len, "host %s[1] said: 550 x", name);
	assert_false(bounce_parse_remote(text, mta, sizeof(mta), diag,
	    sizeof(diag)));
	free(text);

	/* A long reply is cut to the buffer, never past it. */
	len = 5 * DSN_TEXT_MAX;
	text = malloc(len + 1);
	assert_non_null(text);
	memset(text, 'r', len);
	memcpy(text, "host mx[1] said: 550 ", 21);
	text[len] = '\0';
	assert_true(bounce_parse_remote(text, mta, sizeof(mta), small,
	    sizeof(small)));
	assert_string_equal(small, "550 rrr");
	assert_true(bounce_parse_remote(text, mta, sizeof(mta), diag,
	    sizeof(diag)));
	assert_int_equal(strlen(diag), DSN_TEXT_MAX);
	free(text);
}

/* One parse: whatever the answer, both results are terminated inside
 * their buffers; a yes has a host-name mta (empty only for a path) and
 * a diag that starts with a reply code; a no leaves both empty. */
static bool
parse_checked(const char *text)
{
	char mta[32], diag[24];
	bool yes;

	memset(mta, 'z', sizeof(mta));
	memset(diag, 'z', sizeof(diag));
	yes = bounce_parse_remote(text, mta, sizeof(mta), diag, sizeof(diag));
	assert_non_null(memchr(mta, '\0', sizeof(mta)));
	assert_non_null(memchr(diag, '\0', sizeof(diag)));
	if (!yes) {
		assert_string_equal(mta, "");
		assert_string_equal(diag, "");
		return false;
	}
	assert_true(mta[0] != '\0' || strstr(text, "host /") != NULL);
	assert_int_equal(strspn(mta, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"), strlen(mta));
	assert_true(diag[0] >= '2' && diag[0] <= '5');
	return true;
}

/* Every prefix of good texts, then random mutations of them and random
 * bytes: no crash, no overrun, the results as parse_checked() says. */
static void
test_parse_remote_robust(void **state)
{
	static const char *const good[] = {
		"queue lifetime expired, last error: host mx.example.org"
		    "[192.0.2.7]:25 said: 550 5.1.1 (in reply to RCPT TO)",
		"host /run/dovecot/lmtp[unix] said: 452 4.2.2 full (in reply "
		    "to end of DATA)",
		"host a[2001:db8::1] said: 250-x (in reply to (in reply to ))",
	};
	static const char alphabet[] = "host []:said()0123456789 .-_/ailnrtux"
	    "\r\n\x80\xff";
	char text[200];
	unsigned seed = 4242, iter, yes = 0, k;
	size_t i, len, g;

	(void)state;
	for (g = 0; g < sizeof(good) / sizeof(good[0]); g++) {
		for (i = 0; i <= strlen(good[g]); i++) {
			memcpy(text, good[g], i);
			text[i] = '\0';
			(void)parse_checked(text);
		}
		assert_true(parse_checked(good[g]));
	}
	for (iter = 0; iter < 30000; iter++) {
		seed = seed * 1103515245u + 12345u;
		if (iter % 2 == 0) {
			/* 1-4 bytes of a good text changed, cut or doubled. */
			g = (seed >> 8) % (sizeof(good) / sizeof(good[0]));
			len = strlen(good[g]);
			memcpy(text, good[g], len + 1);
			for (k = 0; k < 1 + (seed >> 20) % 4; k++) {
				seed = seed * 1103515245u + 12345u;
				i = (seed >> 8) % len;
				switch ((seed >> 4) % 3) {
				case 0:
					text[i] = alphabet[(seed >> 16) %
					    (sizeof(alphabet) - 1)];
					break;
				case 1:	/* delete */
					memmove(text + i, text + i + 1, len - i);
					len--;
					break;
				default: /* duplicate */
					if (len + 2 < sizeof(text)) {
						memmove(text + i + 1, text + i,
						    len - i + 1);
						len++;
					}
				}
			}
		} else {
			len = (seed >> 8) % (sizeof(text) - 1);
			i = iter % 4 == 1 ? 5 : 0;
			memcpy(text, "host ", i);
			for (; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				text[i] = alphabet[(seed >> 16) %
				    (sizeof(alphabet) - 1)];
			}
			text[len] = '\0';
		}
		yes += parse_checked(text);
	}
	/* The mutations keep many texts in the form: both paths ran. */
	assert_true(yes > 1000 && yes < 29000);
}

/* ---- the N record ---- */

static const char envelope_text[] =
    "V 1\nI 0ABCDEFGHIJKLMNOPQR\nT 1700000000\nS alice@example.test\n"
    "R bob@example.test\nR carol@example.org\nE\n";

/* Parses envelope_text followed by status. */
static void
parse_with(const char *status, struct queue_file *qf)
{
	char text[1024], err[128];
	int n;

	n = snprintf(text, sizeof(text), "%s%s", envelope_text, status);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	assert_int_equal(queue_file_parse(text, (size_t)n, qf, err,
	    sizeof(err)), 0);
}

static void
test_n_record(void **state)
{
	struct queue_file qf;
	char text[1024], err[128];
	int n;

	(void)state;
	parse_with("", &qf);
	assert_int_equal(qf.warned, 0);
	queue_file_free(&qf);

	parse_with("W 0 1700000600 4.4.1 later\nN 1700003600\n", &qf);
	assert_int_equal(qf.warned, 1700003600);
	assert_int_equal(qf.bad_records, 0);
	assert_false(qf.torn);
	/* It concerns the message, no recipient. */
	assert_int_equal(qf.st[0].state, RCPT_PENDING);
	assert_int_equal(qf.st[0].attempts, 1);
	assert_string_equal(qf.st[0].text, "4.4.1 later");
	assert_int_equal(qf.st[1].state, RCPT_PENDING);
	assert_null(qf.st[1].text);
	queue_file_free(&qf);
	assert_int_equal(qf.warned, 0);

	/* Anywhere among the status records; the last one counts. */
	parse_with("N 1700000100\nK 1\nN 1700000200\nF 0 5.1.1 gone\n", &qf);
	assert_int_equal(qf.warned, 1700000200);
	assert_int_equal(qf.st[0].state, RCPT_FAILED);
	assert_int_equal(qf.st[1].state, RCPT_DONE);
	queue_file_free(&qf);

	/* Torn (a crash while appending it): ignored, so at worst the
	 * warning is sent twice, never lost. */
	n = snprintf(text, sizeof(text), "%sW 0 1700000600 4.4.1 x\nN 17000",
	    envelope_text);
	assert_int_equal(queue_file_parse(text, (size_t)n, &qf, err,
	    sizeof(err)), 0);
	assert_true(qf.torn);
	assert_int_equal(qf.warned, 0);
	assert_int_equal(qf.bad_records, 0);
	queue_file_free(&qf);
	/* A complete one before the torn line stays. */
	n = snprintf(text, sizeof(text), "%sN 1700000100\nN 17000", envelope_text);
	assert_int_equal(queue_file_parse(text, (size_t)n, &qf, err,
	    sizeof(err)), 0);
	assert_true(qf.torn);
	assert_int_equal(qf.warned, 1700000100);
	queue_file_free(&qf);
}

static void
test_n_record_invalid(void **state)
{
	static const char *const bad[] = {
		"N\n", "N \n", "N 0\n", "N -5\n", "N +5\n", "N 12x\n",
		"N 1 2\n", "N  7\n", "N 7 \n", "N 0x10\n",
		"N 1234567890123456789\n",	/* over 18 digits */
		"N\t7\n", "NN 7\n", "n 7\n",
	};
	struct queue_file qf;
	char status[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse_with(bad[i], &qf);
		assert_int_equal(qf.warned, 0);
		assert_int_equal(qf.bad_records, 1);
		assert_int_equal(queue_file_count(&qf, RCPT_PENDING), 2);
		queue_file_free(&qf);
		/* A bad one does not undo a good one before it. */
		snprintf(status, sizeof(status), "N 99\n%s", bad[i]);
		parse_with(status, &qf);
		assert_int_equal(qf.warned, 99);
		queue_file_free(&qf);
	}
}

static void
test_n_record_in_envelope(void **state)
{
	struct queue_file qf;
	char err[128];
	static const char text[] = "V 1\nI 0ABC\nT 1700000000\nS a@b\n"
	    "N 1700000000\nR c@d\nE\n";

	(void)state;
	/* Before E it is no envelope record: the file is corrupt. */
	assert_int_equal(queue_file_parse(text, sizeof(text) - 1, &qf, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "'N'"));
	queue_file_free(&qf);
}

/* ---- reports committed to a spool ---- */

static const char orig_body[] =
    "From: Alice <alice@example.test>\r\nSubject: the plan\r\n\r\n"
    "secret body\r\n";

struct spool_fixture {
	char dir[64];
	struct spool *sp;
};

static int
spool_setup(void **state)
{
	struct spool_fixture *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/decorum-bounce-XXXXXX");
	if (tu_mkdtemp(f->dir) == NULL)
		return -1;
	f->sp = spool_open(f->dir, err, sizeof(err));
	if (f->sp == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
spool_teardown(void **state)
{
	struct spool_fixture *f = *state;

	spool_close(f->sp);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* Commits a message from sender to the given recipients, appends the
 * status lines (each without its LF) and loads it back into qf. */
static void
queue_message(struct spool *sp, const char *sender, const char *const *rcpts,
    size_t n, const char *const *status, struct queue_file *qf)
{
	struct envelope_rcpt er[4];
	struct envelope env;
	struct spool_writer *w;
	char err[256], id[QUEUE_ID_MAX];
	size_t i;

	assert_true(n <= 4);
	memset(&env, 0, sizeof(env));
	for (i = 0; i < n; i++)
		er[i].addr = (char *)rcpts[i];
	env.sender = (char *)sender;
	env.rcpts = er;
	env.n_rcpts = n;
	env.created = 1700000000;
	w = spool_writer_new(sp, err, sizeof(err));
	assert_non_null(w);
	snprintf(id, sizeof(id), "%s", spool_writer_id(w));
	assert_int_equal(spool_writer_write(w, orig_body,
	    sizeof(orig_body) - 1), 0);
	assert_int_equal(spool_writer_commit_now(w, &env), 0);
	for (i = 0; status != NULL && status[i] != NULL; i++)
		assert_int_equal(spool_status_append(sp, id, status[i]), 0);
	assert_int_equal(spool_load(sp, "queue", id, qf, err, sizeof(err)), 0);
}

/* The committed report: its envelope and its text. */
static char *
load_report(struct spool *sp, const char *id, struct queue_file *rq)
{
	char err[256], *text;
	int64_t size;
	ssize_t got;
	int fd;

	assert_int_equal(spool_load(sp, "queue", id, rq, err, sizeof(err)), 0);
	/* A report is queued in format 2: one file, data first. */
	assert_true(rq->data_len >= 0);
	fd = spool_open_data(sp, "queue", id, rq->data_len, &size);
	assert_true(fd >= 0);
	assert_int_equal(size, rq->data_len);
	assert_true(size > 0 && size < 1000000);
	text = malloc((size_t)size + 1);
	assert_non_null(text);
	got = read(fd, text, (size_t)size);
	close(fd);
	assert_int_equal(got, size);
	text[size] = '\0';
	return text;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void
test_delay_warning_queued(void **state)
{
	struct spool_fixture *f = *state;
	static const char *const rcpts[] = { "bob@example.test",
	    "carol@example.org", "dave@example.net", "erin@example.net" };
	static const char *const status[] = {
		"W 0 1700000600 4.4.1 host mx.example.test[192.0.2.7] said: "
		    "451 4.4.1 greylisted (in reply to RCPT TO)",
		"K 1",
		"F 2 5.1.1 no such user",
		NULL,	/* erin: never tried yet */
	};
	struct queue_file qf, rq;
	struct bounce_out out;
	char *report;

	queue_message(f->sp, "alice@example.test", rcpts, 4, status, &qf);
	assert_int_equal(bounce_queue_delay(f->sp, &qf, "mx.example.test",
	    1700432000, &out), BOUNCE_QUEUED);
	assert_true(queue_id_valid(out.new_id));
	assert_string_equal(out.to, "alice@example.test");
	report = load_report(f->sp, out.new_id, &rq);
	/* From <> (RFC 5321 4.5.5), to the sender, nothing else. */
	assert_string_equal(rq.env.sender, "");
	assert_int_equal(rq.env.n_rcpts, 1);
	assert_string_equal(rq.env.rcpts[0].addr, "alice@example.test");
	assert_non_null(strstr(report,
	    "\r\nSubject: Delayed Mail (still being retried)\r\n"));
	assert_non_null(strstr(report, "\r\nX-Decorum-Queue-ID: "));
	assert_non_null(strstr(report, qf.env.id));
	/* The two pending recipients, not the delivered or failed ones. */
	assert_int_equal(count(report, "\r\nAction: delayed\r\n"), 2);
	assert_int_equal(count(report, "\r\nAction: failed\r\n"), 0);
	assert_int_equal(count(report,
	    "\r\nWill-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n"), 2);
	assert_non_null(strstr(report, "\r\nFinal-Recipient: rfc822; "
	    "bob@example.test\r\nAction: delayed\r\nStatus: 4.4.1\r\n"
	    "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n"
	    "Remote-MTA: dns; mx.example.test\r\n"
	    "Diagnostic-Code: smtp; 451 4.4.1 greylisted\r\n"));
	assert_non_null(strstr(report, "\r\nFinal-Recipient: rfc822; "
	    "erin@example.net\r\nAction: delayed\r\nStatus: 4.0.0\r\n"
	    "Will-Retry-Until: "));
	assert_null(strstr(report, "carol@example.org"));
	assert_null(strstr(report, "dave@example.net"));
	/* The header section came back, the body did not. */
	assert_non_null(strstr(report, "\r\nSubject: the plan\r\n"));
	assert_null(strstr(report, "secret body"));
	free(report);
	queue_file_free(&rq);
	queue_file_free(&qf);
}

static void
test_delay_warning_not_due(void **state)
{
	struct spool_fixture *f = *state;
	static const char *const one[] = { "bob@example.test" };
	static const char *const two[] = { "bob@example.test",
	    "carol@example.org" };
	static const char *const warned[] = {
		"W 0 1700000600 4.4.1 later", "N 1700003600", NULL };
	static const char *const finished[] = {
		"K 0", "F 1 5.1.1 no such user", NULL };
	static const char *const deferred[] = {
		"W 0 1700000600 4.4.1 later", NULL };
	struct queue_file qf;
	struct bounce_out out;
	char **ids;
	size_t n;

	/* Never a warning about a report. */
	queue_message(f->sp, "", one, 1, deferred, &qf);
	assert_int_equal(bounce_queue_delay(f->sp, &qf, "mx.example.test",
	    1700432000, &out), BOUNCE_NONE);
	assert_non_null(strstr(out.why, "null sender"));
	assert_string_equal(out.new_id, "");
	queue_file_free(&qf);
	/* Once per message: the N record says it went out. */
	queue_message(f->sp, "alice@example.test", one, 1, warned, &qf);
	assert_int_equal(qf.warned, 1700003600);
	assert_int_equal(bounce_queue_delay(f->sp, &qf, "mx.example.test",
	    1700432000, &out), BOUNCE_NONE);
	assert_non_null(strstr(out.why, "already"));
	queue_file_free(&qf);
	/* Nothing pending. */
	queue_message(f->sp, "alice@example.test", two, 2, finished, &qf);
	assert_int_equal(bounce_queue_delay(f->sp, &qf, "mx.example.test",
	    1700432000, &out), BOUNCE_NONE);
	assert_non_null(strstr(out.why, "no pending"));
	queue_file_free(&qf);
	/* None of them queued anything: the three messages only. */
	assert_int_equal(spool_list(f->sp, "queue", &ids, &n), 0);
	assert_int_equal(n, 3);
	spool_list_free(ids, n);
}

/* A bounce of remote failures: Remote-MTA and Diagnostic-Code. */
static void
test_bounce_remote_fields(void **state)
{
	struct spool_fixture *f = *state;
	static const char *const rcpts[] = { "bob@example.test",
	    "carol@example.org", "dave@example.net", "erin@example.test" };
	static const char *const status[] = {
		"F 0 5.1.1 host mx.example.test[192.0.2.7] said: 550 5.1.1 "
		    "<bob@example.test>: no such user (in reply to RCPT TO)",
		"F 1 5.4.7 queue lifetime expired, last error: host "
		    "lmtp.example.org[127.0.0.1]:24 said: 452 4.2.2 over quota "
		    "(in reply to RCPT TO)",
		"F 2 5.1.2 no address for example.net",
		"F 3 5.2.2 host /run/dovecot/lmtp[unix] said: 552 5.2.2 "
		    "erin: over quota (in reply to end of DATA)",
		NULL,
	};
	struct queue_file qf, rq;
	struct bounce_out out;
	char *report;

	queue_message(f->sp, "alice@example.test", rcpts, 4, status, &qf);
	assert_int_equal(bounce_queue(f->sp, &qf, "mx.example.test",
	    "postmaster@example.test", &out), BOUNCE_QUEUED);
	report = load_report(f->sp, out.new_id, &rq);
	assert_string_equal(rq.env.sender, "");
	assert_non_null(strstr(report, "\r\nSubject: Undelivered Mail "
	    "Returned to Sender\r\n"));
	assert_int_equal(count(report, "\r\nAction: failed\r\n"), 4);
	assert_null(strstr(report, "Will-Retry-Until"));
	assert_non_null(strstr(report, "\r\nFinal-Recipient: rfc822; "
	    "bob@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.example.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.test>: no such "
	    "user\r\n"));
	/* LMTP: the same fields, the diagnostic type stays smtp. */
	assert_non_null(strstr(report, "\r\nFinal-Recipient: rfc822; "
	    "carol@example.org\r\nAction: failed\r\nStatus: 5.4.7\r\n"
	    "Remote-MTA: dns; lmtp.example.org\r\n"
	    "Diagnostic-Code: smtp; 452 4.2.2 over quota\r\n"));
	/* Not the form: as before, no remote fields. */
	assert_non_null(strstr(report, "\r\nFinal-Recipient: rfc822; "
	    "dave@example.net\r\nAction: failed\r\nStatus: 5.1.2\r\n\r\n"));
	/* LMTP over a unix socket: the reply, but a path is no Remote-MTA. */
	assert_non_null(strstr(report, "\r\nFinal-Recipient: rfc822; "
	    "erin@example.test\r\nAction: failed\r\nStatus: 5.2.2\r\n"
	    "Diagnostic-Code: smtp; 552 5.2.2 erin: over quota\r\n"));
	assert_int_equal(count(report, "Remote-MTA"), 2);
	assert_non_null(strstr(report, "    no address for example.net\r\n"));
	free(report);
	queue_file_free(&rq);
	queue_file_free(&qf);
}

/* ---- queue flush over qmgr.sock ---- */

static void
test_notify_flush(void **state)
{
	struct spool_fixture *f = *state;
	struct sockaddr_un sun;
	char id[QUEUE_ID_MAX], big[100];
	int fd, tx;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", f->dir,
	    QMGR_SOCKET_NAME);
	/* No queue manager: no socket file. */
	assert_int_equal(queue_notify_spool(f->dir, QUEUE_NOTIFY_FLUSH), -1);
	assert_int_equal(errno, ENOENT);

	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(queue_notify_spool(f->dir, QUEUE_NOTIFY_FLUSH), 0);
	assert_int_equal(queue_notify_spool(f->dir, "0ABCDEFGHIJKLMNOPQR"), 0);
	assert_int_equal(queue_notify_recv(fd, id, sizeof(id)), 0);
	assert_string_equal(id, QUEUE_NOTIFY_FLUSH);
	assert_int_equal(queue_notify_recv(fd, id, sizeof(id)), 0);
	assert_string_equal(id, "0ABCDEFGHIJKLMNOPQR");
	assert_int_equal(queue_notify_recv(fd, id, sizeof(id)), -1);
	/* Garbage is dropped: near misses of the token, paths, too long. */
	tx = socket(AF_UNIX, SOCK_DGRAM, 0);
	assert_true(tx >= 0);
	assert_int_equal(connect(tx, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(send(tx, "flush\n", 6, 0), 6);
	assert_int_equal(send(tx, "flush\0x", 7, 0), 7);
	assert_int_equal(send(tx, "../flush", 8, 0), 8);
	memset(big, 'a', sizeof(big));
	assert_int_equal(send(tx, big, sizeof(big), 0), (ssize_t)sizeof(big));
	assert_int_equal(queue_notify_recv(fd, id, sizeof(id)), -1);
	assert_int_equal(queue_notify_recv(fd, id, sizeof(id)), -1);
	assert_int_equal(queue_notify_recv(fd, id, sizeof(id)), -1);
	assert_int_equal(queue_notify_recv(fd, id, sizeof(id)), -1);
	/* The token needs room for itself. */
	assert_int_equal(send(tx, "flush", 5, 0), 5);
	assert_int_equal(queue_notify_recv(fd, id, 5), -1);
	close(tx);
	/* A stale socket (the queue manager died): refused. */
	close(fd);
	assert_int_equal(queue_notify_spool(f->dir, QUEUE_NOTIFY_FLUSH), -1);
	assert_int_equal(errno, ECONNREFUSED);
	unlink(sun.sun_path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_remote_good),
		cmocka_unit_test(test_parse_remote_not_the_form),
		cmocka_unit_test(test_parse_remote_hostile),
		cmocka_unit_test(test_parse_remote_robust),
		cmocka_unit_test(test_n_record),
		cmocka_unit_test(test_n_record_invalid),
		cmocka_unit_test(test_n_record_in_envelope),
		cmocka_unit_test_setup_teardown(test_delay_warning_queued,
		    spool_setup, spool_teardown),
		cmocka_unit_test_setup_teardown(test_delay_warning_not_due,
		    spool_setup, spool_teardown),
		cmocka_unit_test_setup_teardown(test_bounce_remote_fields,
		    spool_setup, spool_teardown),
		cmocka_unit_test_setup_teardown(test_notify_flush,
		    spool_setup, spool_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
