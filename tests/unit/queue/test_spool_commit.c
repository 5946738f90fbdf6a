/*
 * The commit's two orders (spool.c): fsync-first renames the envelope
 * into queue/ after the fsyncs, rename-first before them.  Either way a
 * commit that succeeds leaves queue/<id> whose L record is data/<id>'s
 * size (a rewritten message's too), and one whose fsync fails leaves
 * nothing: not queue/<id>, not data/<id>, not tmp/<id>.env.  Also the
 * L record's rules in the queue file, and the file system judgement
 * behind the order's "auto" (spool_fs.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/dirsync.h"
#include "queue/envelope.h"
#include "queue/spool.h"
#include "queue/spool_fs.h"
#include "queue/spool_priv.h"
#include "testutil.h"

static const enum commit_order orders[] = {
	COMMIT_ORDER_FSYNC_FIRST, COMMIT_ORDER_RENAME_FIRST
};

static const char body[] = "Subject: hi\r\n\r\nbody\r\n";
/* The rewrite in these tests puts HEAD in place of body's first line. */
#define FIRST_LINE	13
#define TEMPLATE	"/tmp/decorum-commit-XXXXXX"

static int
failing_fsync(int fd, void *arg)
{
	(void)fd;
	(void)arg;
	errno = EIO;
	return -1;
}

static struct spool *
open_spool(char *dir, enum commit_order order)
{
	char err[256];
	struct spool *sp;

	snprintf(dir, sizeof(TEMPLATE), "%s", TEMPLATE);
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	assert_int_equal(spool_set_commit_order(sp, order, err, sizeof(err)),
	    order == COMMIT_ORDER_RENAME_FIRST);
	assert_string_equal(err, "queue.commit_order");
	return sp;
}

/* Commits one message of body (rewritten to head + body when head is
 * not NULL) and returns the commit's result; id gets its queue id. */
static int
commit(struct spool *sp, const char *head, char id[QUEUE_ID_MAX])
{
	struct envelope_rcpt rcpt = { (char *)"bob@example.net" };
	struct envelope env;
	struct spool_writer *w;
	char err[256];

	memset(&env, 0, sizeof(env));
	env.sender = (char *)"alice@example.org";
	env.rcpts = &rcpt;
	env.n_rcpts = 1;
	env.created = 1700000000;
	env.data_size = 7;	/* the writer's count wins */
	w = spool_writer_new(sp, err, sizeof(err));
	assert_non_null(w);
	snprintf(id, QUEUE_ID_MAX, "%s", spool_writer_id(w));
	assert_int_equal(spool_writer_write(w, body, sizeof(body) - 1), 0);
	if (head != NULL)
		assert_int_equal(spool_writer_rewrite(w, head, strlen(head),
		    NULL, 0, FIRST_LINE), 0);
	return spool_writer_commit_now(w, &env);
}

static size_t
count(struct spool *sp, const char *area)
{
	char **ids;
	size_t n;

	assert_int_equal(spool_list(sp, area, &ids, &n), 0);
	spool_list_free(ids, n);
	return n;
}

/* Committed, in either order: the L record is the data's size, the
 * rewritten data's when it was rewritten. */
static void
test_commit_records_size(void **state)
{
	char dir[] = TEMPLATE, err[256];
	char id[QUEUE_ID_MAX];
	const char *head = "X-Scanned: yes\r\nSubject: hi\r\n";
	const size_t rewritten = strlen(head) + sizeof(body) - 1 - FIRST_LINE;
	struct queue_file qf;
	struct spool *sp;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		sp = open_spool(dir, orders[i]);
		assert_int_equal(commit(sp, NULL, id), 0);
		assert_int_equal(spool_load(sp, "queue", id, &qf, err,
		    sizeof(err)), 0);
		assert_int_equal(qf.env.data_size, sizeof(body) - 1);
		assert_int_equal(spool_data_size(sp, id), sizeof(body) - 1);
		queue_file_free(&qf);

		assert_int_equal(commit(sp, head, id), 0);
		assert_int_equal(spool_load(sp, "queue", id, &qf, err,
		    sizeof(err)), 0);
		assert_int_equal(qf.env.data_size, rewritten);
		assert_int_equal(spool_data_size(sp, id), rewritten);
		queue_file_free(&qf);
		assert_int_equal(count(sp, "tmp"), 0);
		spool_close(sp);
		tu_rmtree(dir);
	}
}

/* A failed directory fsync (of queue/, or of data/ when the data file
 * is new since the last) fails the commit and takes back all it made,
 * the rename of the rename-first order included. */
static void
test_commit_fails_whole(void **state)
{
	static const int areas[] = { SPOOL_QUEUE, SPOOL_DATA };
	char dir[] = TEMPLATE, id[QUEUE_ID_MAX];
	struct spool *sp;
	size_t i, a;

	(void)state;
	for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		for (a = 0; a < 2; a++) {
			sp = open_spool(dir, orders[i]);
			dirsync_free(sp->sync[areas[a]]);
			sp->sync[areas[a]] = dirsync_new(failing_fsync, NULL);
			assert_int_equal(commit(sp, NULL, id), -1);
			assert_int_equal(count(sp, "queue"), 0);
			assert_int_equal(count(sp, "data"), 0);
			assert_int_equal(count(sp, "tmp"), 0);
			spool_close(sp);
			tu_rmtree(dir);
		}
	}
}

static int
parse(const char *text, struct queue_file *qf)
{
	char err[256];

	return queue_file_parse(text, strlen(text), qf, err, sizeof(err));
}

/* Format 2 carries L and format 1 never does; the writer picks the
 * format from the size it has. */
static void
test_size_record(void **state)
{
	struct envelope_rcpt rcpt = { (char *)"a@x" };
	struct queue_file qf;
	struct envelope env;
	struct buf b;

	(void)state;
	assert_int_equal(parse("V 2\nI 0abc\nT 1\nS <>\nR a@x\nL 0\nE\n", &qf),
	    0);
	assert_int_equal(qf.env.data_size, 0);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 1\nS <>\nR a@x\nE\n", &qf), 0);
	assert_int_equal(qf.env.data_size, -1);
	queue_file_free(&qf);
	/* Missing, out of its format, twice, or not a number. */
	assert_int_equal(parse("V 2\nI 0abc\nT 1\nS <>\nR a@x\nE\n", &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 1\nS <>\nR a@x\nL 5\nE\n",
	    &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 2\nI 0abc\nT 1\nS <>\nR a@x\nL 5\nL 5\nE\n",
	    &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 2\nI 0abc\nT 1\nS <>\nR a@x\nL -5\nE\n",
	    &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 2\nI 0abc\nT 1\nS <>\nR a@x\nL\nE\n", &qf),
	    -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 3\nI 0abc\nT 1\nS <>\nR a@x\nL 5\nE\n",
	    &qf), -1);
	queue_file_free(&qf);

	memset(&env, 0, sizeof(env));
	snprintf(env.id, sizeof(env.id), "0abc");
	env.sender = (char *)"";
	env.rcpts = &rcpt;
	env.n_rcpts = 1;
	env.created = 1;
	env.data_size = 12345;
	buf_init(&b, 4096);
	assert_int_equal(envelope_format(&env, &b), 0);
	assert_true(b.len > 4 && memcmp(b.data, "V 2\n", 4) == 0);
	assert_non_null(memmem(b.data, b.len, "\nL 12345\nE\n", 11));
	buf_reset(&b);
	env.data_size = -1;
	assert_int_equal(envelope_format(&env, &b), 0);
	assert_true(b.len > 4 && memcmp(b.data, "V 1\n", 4) == 0);
	assert_null(memmem(b.data, b.len, "\nL ", 3));
	buf_free(&b);
}

/* What "auto" takes, by the file system and ext4's data mode. */
static void
test_fs_judge(void **state)
{
	char why[128];

	(void)state;
	assert_true(spool_fs_judge(XFS_SUPER_MAGIC, NULL, why, sizeof(why)));
	assert_string_equal(why, "xfs");
	assert_true(spool_fs_judge(BTRFS_SUPER_MAGIC, NULL, why, sizeof(why)));
	assert_true(spool_fs_judge(EXT4_SUPER_MAGIC,
	    "rw\ndelalloc\ndata=ordered\ncommit=5\n", why, sizeof(why)));
	assert_string_equal(why, "ext4 data=ordered");
	assert_true(spool_fs_judge(EXT4_SUPER_MAGIC, "rw\ndata=journal",
	    why, sizeof(why)));
	assert_false(spool_fs_judge(EXT4_SUPER_MAGIC, "rw\ndata=writeback\n",
	    why, sizeof(why)));
	assert_string_equal(why, "ext4 data=writeback");
	/* No journal: no data= line at all. */
	assert_false(spool_fs_judge(EXT4_SUPER_MAGIC,
	    "rw\nnojournal_checksum\nbarrier\n", why, sizeof(why)));
	assert_string_equal(why, "ext4 without a journal");
	/* Only a whole line counts. */
	assert_false(spool_fs_judge(EXT4_SUPER_MAGIC,
	    "rw\nxdata=ordered\ndata=orderedx\n", why, sizeof(why)));
	assert_false(spool_fs_judge(EXT4_SUPER_MAGIC, NULL, why, sizeof(why)));
	assert_false(spool_fs_judge(TMPFS_MAGIC, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "0x1021994"));
}

/* "auto" on the folder the tests run in: whatever it takes, it says
 * why in words an operator reads. */
static void
test_fs_probe(void **state)
{
	char dir[] = "/tmp/decorum-commit-XXXXXX", err[256];
	struct spool *sp;

	(void)state;
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	err[0] = '\0';
	(void)spool_set_commit_order(sp, COMMIT_ORDER_AUTO, err, sizeof(err));
	assert_true(strlen(err) > 2);
	spool_close(sp);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_records_size),
		cmocka_unit_test(test_commit_fails_whole),
		cmocka_unit_test(test_size_record),
		cmocka_unit_test(test_fs_judge),
		cmocka_unit_test(test_fs_probe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
