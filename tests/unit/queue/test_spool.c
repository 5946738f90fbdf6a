/*
 * The spool: ids, commit and read back, garbage cleanup, queue file
 * records (torn last line, status replay, corrupt files); ids with
 * random digits; and two messages that get one queue id (an injected id
 * source; real ids do not repeat): the second takes another id when
 * data/<id> is taken, fails its commit when queue/<id> is, and never
 * replaces or removes a file of the first.  Messages are committed in
 * format 2 (one file: data, envelope, status); format 1 files (data in
 * data/<id>), made by hand, are still read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/workpool.h"
#include "queue/envelope.h"
#include "queue/queue_id.h"
#include "queue/spool.h"
#include "queue/spool_priv.h"
#include "testutil.h"

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_queue_id(void **state)
{
	enum { N = 20000 };
	static char ids[N][QUEUE_ID_MAX];
	static char *ptrs[N];
	size_t i;

	(void)state;
	for (i = 0; i < N; i++) {
		queue_id_new(ids[i]);
		ptrs[i] = ids[i];
		assert_int_equal(strlen(ids[i]), QUEUE_ID_LEN);
		assert_true(queue_id_valid(ids[i]));
		assert_int_equal(strspn(ids[i], "0123456789ABCDEFGHIJKLMNOPQRSTU"
		    "VWXYZabcdefghijklmnopqrstuvwxyz"), QUEUE_ID_LEN);
		if (i > 0)	/* sortable by arrival */
			assert_true(strcmp(ids[i - 1], ids[i]) < 0);
	}
	qsort(ptrs, N, sizeof(ptrs[0]), cmp_str);
	for (i = 1; i < N; i++)
		assert_true(strcmp(ptrs[i - 1], ptrs[i]) != 0);
	/* The last five are random: ids of one process, made one after
	 * the other, differ there too (all alike: 1 in 62^5 per pair). */
	for (i = 1; i < 4; i++)
		if (strcmp(ids[0] + QUEUE_ID_LEN - 5,
		    ids[i] + QUEUE_ID_LEN - 5) != 0)
			break;
	assert_true(i < 4);
	assert_false(queue_id_valid(""));
	assert_false(queue_id_valid("../etc"));
	assert_false(queue_id_valid("abc.env"));
	assert_false(queue_id_valid("0123456789012345678901234567890123"));
}

struct commit_ctx {
	struct event_base *base;
	int result;
	int calls;
};

static void
commit_done(void *arg, int err)
{
	struct commit_ctx *c = arg;

	c->result = err;
	c->calls++;
	event_base_loopbreak(c->base);
}

static void
fill_env(struct envelope *env, struct envelope_rcpt *rcpts, size_t n)
{
	memset(env, 0, sizeof(*env));
	env->sender = (char *)"alice@example.org";
	env->rcpts = rcpts;
	env->n_rcpts = n;
	env->created = 1700000000;
	env->smtputf8 = true;
	env->eight_bit = true;
	env->client_ip = (char *)"192.0.2.1";
	env->helo = (char *)"client.example.org";
}

static const char body[] = "Received: from x\r\nSubject: hi\r\n\r\nbody\r\n";

/* smtpd's commit of w, through a workpool; runs the loop until done and
 * returns the result done() got. */
static int
commit_writer(struct spool_writer *w, const struct envelope *env)
{
	struct commit_ctx c = { event_base_new(), 99, 0 };
	struct workpool *pool = workpool_new(c.base, 2);

	spool_writer_commit(w, env, pool, commit_done, &c);
	assert_int_equal(c.calls, 0);	/* never before commit() returns */
	event_base_dispatch(c.base);
	assert_int_equal(c.calls, 1);
	workpool_free(pool);
	event_base_free(c.base);
	return c.result;
}

/* area holds want valid queue ids. */
static void
assert_listed(struct spool *sp, const char *area, size_t want)
{
	char **ids;
	size_t n;

	assert_int_equal(spool_list(sp, area, &ids, &n), 0);
	assert_int_equal(n, want);
	spool_list_free(ids, n);
}

/* The message's data, read as the deliveries read it: body, not a
 * byte of the envelope after it. */
static void
assert_data(struct spool *sp, const char *id, const struct queue_file *qf)
{
	char buf[256];
	int64_t size;
	int fd = spool_open_data(sp, "queue", id, qf->data_len, &size);

	assert_true(fd >= 0);
	assert_int_equal(size, sizeof(body) - 1);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0) > size, true);
	assert_memory_equal(buf, body, (size_t)size);
	close(fd);
}

/* Commits one message and runs the loop until done; returns its id. */
static int
commit_one(struct spool *sp, const struct envelope *env, char *id)
{
	struct spool_writer *w;
	char err[256];

	w = spool_writer_new(sp, err, sizeof(err));
	assert_non_null(w);
	snprintf(id, QUEUE_ID_MAX, "%s", spool_writer_id(w));
	assert_int_equal(spool_writer_write(w, body, 20), 0);
	assert_int_equal(spool_writer_write(w, body + 20, sizeof(body) - 21), 0);
	return commit_writer(w, env);
}

static void
test_commit_read_back(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", path[PATH_MAX], err[256];
	char id[QUEUE_ID_MAX], **ids;
	struct envelope_rcpt rcpts[2] = { { (char *)"bob@example.net" },
	    { (char *)"\"odd user\"@example.net" } };
	struct envelope env;
	struct queue_file qf;
	struct spool *sp;
	size_t n, len;
	char *data;

	(void)state;
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	fill_env(&env, rcpts, 2);
	assert_int_equal(commit_one(sp, &env, id), 0);

	/* One file: the data as written, then the envelope, which ends
	 * with the data's size. */
	snprintf(path, sizeof(path), "%s/queue/%s", dir, id);
	data = tu_slurp(path, &len);
	assert_non_null(data);
	assert_true(len > sizeof(body) - 1);
	assert_memory_equal(data, body, sizeof(body) - 1);
	assert_memory_equal(data + sizeof(body) - 1, "V 2\nI ", 6);
	assert_int_equal(sizeof(body) - 1, 39);
	assert_memory_equal(data + len - 6, "\nE 39\n", 6);
	free(data);
	assert_listed(sp, "tmp", 0);		/* nothing left behind */
	assert_listed(sp, "data", 0);		/* the file moved into queue/ */
	assert_int_equal(spool_list(sp, "queue", &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	spool_list_free(ids, n);

	assert_int_equal(spool_load(sp, "queue", id, &qf, err, sizeof(err)), 0);
	assert_string_equal(qf.env.id, id);
	assert_string_equal(qf.env.sender, "alice@example.org");
	assert_int_equal(qf.env.n_rcpts, 2);
	assert_string_equal(qf.env.rcpts[1].addr, "\"odd user\"@example.net");
	assert_int_equal(qf.env.created, 1700000000);
	assert_true(qf.env.smtputf8);
	assert_true(qf.env.eight_bit);
	assert_string_equal(qf.env.client_ip, "192.0.2.1");
	assert_string_equal(qf.env.helo, "client.example.org");
	assert_int_equal(queue_file_count(&qf, RCPT_PENDING), 2);
	assert_int_equal(qf.data_len, sizeof(body) - 1);
	assert_int_equal(qf.len, len);	/* the whole file */
	assert_data(sp, id, &qf);
	queue_file_free(&qf);

	/* Null sender round trip. */
	env.sender = (char *)"";
	assert_int_equal(commit_one(sp, &env, id), 0);
	assert_int_equal(spool_load(sp, "queue", id, &qf, err, sizeof(err)), 0);
	assert_string_equal(qf.env.sender, "");
	queue_file_free(&qf);

	/* A value with CRLF would forge records: refused, nothing queued. */
	rcpts[0].addr = (char *)"x@y\r\nR evil@example.com";
	assert_int_equal(commit_one(sp, &env, id), -1);
	assert_int_equal(spool_load(sp, "queue", id, &qf, err, sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_listed(sp, "tmp", 0);

	/* Delete: gone, and nothing left in any folder. */
	assert_int_equal(spool_list(sp, "queue", &ids, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(spool_delete(sp, ids[0]), 0);
	assert_int_equal(spool_delete(sp, ids[0]), -1);
	assert_int_equal(errno, ENOENT);
	spool_list_free(ids, n);
	assert_listed(sp, "queue", 1);
	assert_listed(sp, "tmp", 0);

	spool_close(sp);
	tu_rmtree(dir);
}

/* The blocking commit, as the sendmail command and qmgr workers use it. */
static void
test_commit_now(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", err[256], id[QUEUE_ID_MAX];
	struct envelope_rcpt rcpts[1] = { { (char *)"bob@example.net" } };
	struct envelope env;
	struct queue_file qf;
	struct spool_writer *w;
	struct spool *sp;

	(void)state;
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	fill_env(&env, rcpts, 1);
	w = spool_writer_new(sp, err, sizeof(err));
	assert_non_null(w);
	snprintf(id, sizeof(id), "%s", spool_writer_id(w));
	assert_int_equal(spool_writer_write(w, body, sizeof(body) - 1), 0);
	assert_int_equal(spool_writer_commit_now(w, &env), 0);
	assert_int_equal(spool_load(sp, "queue", id, &qf, err, sizeof(err)), 0);
	assert_string_equal(qf.env.rcpts[0].addr, "bob@example.net");
	assert_data(sp, id, &qf);
	queue_file_free(&qf);

	/* A forged record is refused and leaves nothing behind. */
	rcpts[0].addr = (char *)"x@y\nR evil@example.com";
	w = spool_writer_new(sp, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(spool_writer_commit_now(w, &env), -1);
	assert_listed(sp, "tmp", 0);
	assert_listed(sp, "queue", 1);

	spool_close(sp);
	tu_rmtree(dir);
}

static int
backdate_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	struct timespec ts[2] = { { st->st_atime - 60, 0 }, { st->st_mtime - 60, 0 } };

	(void)ftw;
	if (type == FTW_F)
		utimensat(AT_FDCWD, path, ts, 0);
	return 0;
}

/* Every file under dir a minute older.  Garbage "0 seconds old" would
 * race the clock: a file's time comes from the kernel's coarse clock,
 * which may be a second ahead of time() (seen under gVisor), and an
 * age of -1 is young. */
static void
backdate_tree(const char *dir)
{
	assert_int_equal(nftw(dir, backdate_one, 8, FTW_PHYS), 0);
}

static void
test_cleanup(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", path[PATH_MAX], err[256];
	char id[QUEUE_ID_MAX], orphan[QUEUE_ID_MAX];
	struct envelope_rcpt rcpt = { (char *)"bob@example.net" };
	struct envelope env;
	struct spool_writer *w;
	struct spool *sp;
	struct stat st;

	(void)state;
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	fill_env(&env, &rcpt, 1);
	assert_int_equal(commit_one(sp, &env, id), 0);
	/* A crash mid-receive (tmp file) and between the two renames
	 * (data without envelope). */
	w = spool_writer_new(sp, err, sizeof(err));
	assert_non_null(w);
	assert_int_equal(spool_writer_write(w, "x", 1), 0);
	queue_id_new(orphan);
	snprintf(path, sizeof(path), "%s/data/%s", dir, orphan);
	tu_spit(path, "half a message");
	/* An earlier version's crash between writing an envelope and its
	 * rename. */
	snprintf(path, sizeof(path), "%s/tmp/%s.env", dir, orphan);
	tu_spit(path, "V 1\n");
	/* A message queued by an earlier version: format 1, its data in
	 * data/. */
	snprintf(path, sizeof(path), "%s/queue/0old", dir);
	tu_spit(path, "V 1\nI 0old\nT 1\nS <>\nR a@b\nE\n");
	snprintf(path, sizeof(path), "%s/data/0old", dir);
	tu_spit(path, "Subject: old\r\n\r\nx\r\n");

	/* Young garbage may belong to a live smtpd: left alone. */
	backdate_tree(dir);
	assert_int_equal(spool_cleanup(sp, 3600), 0);
	assert_int_equal(spool_cleanup(sp, 30), 3);
	snprintf(path, sizeof(path), "%s/queue/%s", dir, id);
	assert_int_equal(stat(path, &st), 0);	/* committed: kept */
	snprintf(path, sizeof(path), "%s/data/0old", dir);
	assert_int_equal(stat(path, &st), 0);	/* format 1's data: kept */
	spool_writer_abort(w);
	spool_close(sp);
	tu_rmtree(dir);
}

/* An id source that hands out the ids of a list, in order. */
struct id_list {
	const char *const *ids;
	size_t next;
};

static void
id_from_list(char out[QUEUE_ID_MAX], void *arg)
{
	struct id_list *l = arg;

	snprintf(out, QUEUE_ID_MAX, "%s", l->ids[l->next++]);
}

/* The whole content of dir/rel, or NULL. */
static char *
file_at(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return tu_slurp(path, NULL);
}

static void
put_at(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	tu_spit(path, text);
}

static void
assert_file(const char *dir, const char *rel, const char *want)
{
	char *got = file_at(dir, rel);

	if (got == NULL)
		fail_msg("%s is gone", rel);
	assert_string_equal(got, want);
	free(got);
}

/*
 * The id given is taken in data/ (another message's data, or a file
 * left with a name it should not have): the writer takes the next id,
 * and the file stays as it was.
 */
static void
test_id_taken_in_data_new_id(void **state)
{
	static const char *const ids[] = { "0AAAAA", "0BBBBB" };
	char dir[] = "/tmp/decorum-spool-XXXXXX", err[256];
	struct envelope_rcpt rcpt = { (char *)"bob@example.net" };
	struct id_list list = { ids, 0 };
	struct envelope env;
	struct queue_file qf;
	struct spool_writer *w;
	struct spool *sp;

	(void)state;
	fill_env(&env, &rcpt, 1);
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	put_at(dir, "data/0AAAAA", "the first message's file\n");
	sp->id_source = id_from_list;
	sp->id_arg = &list;
	w = spool_writer_new(sp, err, sizeof(err));
	assert_non_null(w);
	assert_string_equal(spool_writer_id(w), "0BBBBB");
	assert_int_equal(list.next, 2);
	assert_int_equal(spool_writer_write(w, body, sizeof(body) - 1), 0);
	assert_int_equal(spool_writer_commit_now(w, &env), 0);
	assert_file(dir, "data/0AAAAA", "the first message's file\n");
	assert_int_equal(spool_load(sp, "queue", "0BBBBB", &qf, err,
	    sizeof(err)), 0);
	assert_data(sp, "0BBBBB", &qf);
	queue_file_free(&qf);
	assert_null(file_at(dir, "data/0BBBBB"));
	spool_close(sp);
	tu_rmtree(dir);
}

/*
 * The id is another message's in an area the commit does not write
 * (failed/, corrupt/, hold/): no writer looks there (ids do not repeat,
 * queue_id.c), the commit goes through, and the other message's files
 * stay whole; the moves between areas refuse to replace them later
 * (test_move_never_replaces, test_spool_hold.c).  In data/ the writer
 * takes another id (test_id_taken_in_data_new_id), in queue/ the commit
 * refuses (test_id_taken_at_commit).
 */
static void
test_id_elsewhere_both_kept(void **state)
{
	static const char *const taken[] = {
		"failed/0AAAAA", "corrupt/0AAAAA", "hold/0AAAAA",
		"hold/0AAAAA.data",
	};
	static const char *const ids[] = { "0AAAAA" };
	char dir[] = "/tmp/decorum-spool-XXXXXX", err[256], rel[64];
	struct envelope_rcpt rcpt = { (char *)"bob@example.net" };
	struct id_list list;
	struct envelope env;
	struct queue_file qf;
	struct spool_writer *w;
	struct spool *sp;
	size_t i;

	(void)state;
	fill_env(&env, &rcpt, 1);
	for (i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		snprintf(dir, sizeof(dir), "/tmp/decorum-spool-XXXXXX");
		assert_non_null(tu_mkdtemp(dir));
		sp = spool_open(dir, err, sizeof(err));
		assert_non_null(sp);
		snprintf(rel, sizeof(rel), "%s/hold", dir);
		assert_int_equal(mkdir(rel, 0700), 0);
		put_at(dir, taken[i], "the first message's file\n");
		list.ids = ids;
		list.next = 0;
		sp->id_source = id_from_list;
		sp->id_arg = &list;
		w = spool_writer_new(sp, err, sizeof(err));
		assert_non_null(w);
		assert_string_equal(spool_writer_id(w), "0AAAAA");
		assert_int_equal(list.next, 1);		/* one syscall, one id */
		assert_int_equal(spool_writer_write(w, body,
		    sizeof(body) - 1), 0);
		assert_int_equal(spool_writer_commit_now(w, &env), 0);
		assert_file(dir, taken[i], "the first message's file\n");
		assert_int_equal(spool_load(sp, "queue", "0AAAAA", &qf, err,
		    sizeof(err)), 0);
		assert_data(sp, "0AAAAA", &qf);
		queue_file_free(&qf);
		spool_close(sp);
		tu_rmtree(dir);
	}
}

/* Every try taken: no writer, a clear reason, nothing changed. */
static void
test_id_all_taken(void **state)
{
	static const char *const ids[] = { "0AAAAA", "0AAAAA", "0AAAAA",
	    "0AAAAA", "0AAAAA", "0AAAAA", "0AAAAA", "0AAAAA", "0AAAAA",
	    "0AAAAA", "0AAAAA", "0AAAAA", "0AAAAA", "0AAAAA", "0AAAAA",
	    "0AAAAA", "0BBBBB" };
	char dir[] = "/tmp/decorum-spool-XXXXXX", err[256];
	struct id_list list = { ids, 0 };
	struct spool *sp;

	(void)state;
	assert_int_equal(sizeof(ids) / sizeof(ids[0]), SPOOL_ID_TRIES + 1);
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	put_at(dir, "data/0AAAAA", "first\n");
	sp->id_source = id_from_list;
	sp->id_arg = &list;
	assert_null(spool_writer_new(sp, err, sizeof(err)));
	assert_non_null(strstr(err, "no free queue id"));
	assert_int_equal(list.next, SPOOL_ID_TRIES);
	assert_listed(sp, "data", 1);		/* the first file only */
	assert_file(dir, "data/0AAAAA", "first\n");
	spool_close(sp);
	tu_rmtree(dir);
}

/*
 * The id was free when the writer was made and is taken by the commit
 * (another process made the same id meanwhile and committed it, its
 * data/<id> already gone, held or delivered): the commit fails (smtpd
 * answers 451, the client retries) and the other message's queue file
 * is untouched; ours leave nothing behind.  (data/<id> cannot be taken
 * at commit: the writer made it exclusively.)
 */
static void
test_id_taken_at_commit(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", err[256], rel[64];
	char id[QUEUE_ID_MAX];
	struct envelope_rcpt rcpt = { (char *)"bob@example.net" };
	struct envelope env;
	struct spool_writer *w;
	struct spool *sp;
	int i, rc;

	(void)state;
	fill_env(&env, &rcpt, 1);
	for (i = 0; i < 2; i++) {
		snprintf(dir, sizeof(dir), "/tmp/decorum-spool-XXXXXX");
		assert_non_null(tu_mkdtemp(dir));
		sp = spool_open(dir, err, sizeof(err));
		assert_non_null(sp);
		w = spool_writer_new(sp, err, sizeof(err));
		assert_non_null(w);
		snprintf(id, sizeof(id), "%s", spool_writer_id(w));
		assert_int_equal(spool_writer_write(w, body,
		    sizeof(body) - 1), 0);
		snprintf(rel, sizeof(rel), "queue/%s", id);
		put_at(dir, rel, "the first message's file\n");
		/* The blocking commit, then smtpd's through the pool. */
		rc = i == 0 ? spool_writer_commit_now(w, &env)
		    : commit_writer(w, &env);
		assert_int_equal(rc, -1);
		assert_file(dir, rel, "the first message's file\n");
		/* Nothing of ours is left: tmp/ and data/ are empty. */
		assert_listed(sp, "tmp", 0);
		assert_listed(sp, "data", 0);
		spool_close(sp);
		tu_rmtree(dir);
	}
}

/* Moving an envelope between areas never replaces one either. */
static void
test_move_never_replaces(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", err[256];
	struct spool *sp;

	(void)state;
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	put_at(dir, "queue/0AAAAA", "second\n");
	put_at(dir, "failed/0AAAAA", "first\n");
	assert_int_equal(spool_move(sp, "0AAAAA", "queue", "failed"), -1);
	assert_int_equal(errno, EEXIST);
	assert_file(dir, "failed/0AAAAA", "first\n");
	assert_file(dir, "queue/0AAAAA", "second\n");
	assert_int_equal(spool_move(sp, "0AAAAA", "queue", "corrupt"), 0);
	assert_file(dir, "corrupt/0AAAAA", "second\n");
	assert_null(file_at(dir, "queue/0AAAAA"));
	spool_close(sp);
	tu_rmtree(dir);
}

static const char qhead[] =
    "V 1\nI 0abc\nT 100\nS <>\nR a@x\nR b@x\nR c@x\nE\n";

static int
parse(const char *text, struct queue_file *qf)
{
	char err[256];

	return queue_file_parse(text, strlen(text), qf, err, sizeof(err));
}

static void
test_status_replay(void **state)
{
	struct queue_file qf;
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 16);
	buf_append_str(&b, qhead);
	buf_append_str(&b, "D 0 u@x\nD 0 v@x\nK 0\nW 1 500 4.2.0 full\n"
	    "W 1 900 4.2.0 still full\nF 2 5.1.1 no such user\n");
	assert_int_equal(parse(b.data, &qf), 0);
	assert_string_equal(qf.env.sender, "");
	assert_int_equal(qf.st[0].state, RCPT_DONE);
	assert_int_equal(qf.st[1].state, RCPT_PENDING);
	assert_int_equal(qf.st[1].attempts, 2);
	assert_int_equal(qf.st[1].next_try, 900);
	assert_string_equal(qf.st[1].text, "4.2.0 still full");
	assert_int_equal(qf.st[2].state, RCPT_FAILED);
	assert_true(queue_file_is_delivered(&qf, "u@x"));
	assert_true(queue_file_is_delivered(&qf, "v@x"));
	assert_false(queue_file_is_delivered(&qf, "w@x"));
	assert_int_equal(queue_file_count(&qf, RCPT_PENDING), 1);
	assert_false(qf.torn);
	queue_file_free(&qf);

	/* Unreadable status records are ignored, not fatal. */
	buf_append_str(&b, "K 7\nZ 1\nW 1 notanumber x\n");
	assert_int_equal(parse(b.data, &qf), 0);
	assert_int_equal(qf.bad_records, 3);
	assert_int_equal(qf.st[1].state, RCPT_PENDING);
	queue_file_free(&qf);
	buf_free(&b);
}

/* Records applied one at a time by their writer give what a parse of
 * the whole file gives, unreadable ones and the file's length alike. */
static void
test_status_apply(void **state)
{
	static const char *const lines[] = { "D 0 u@x", "K 0",
	    "W 1 500 4.2.0 full", "F 2 5.1.1 no such user", "N 700", "K 7",
	    "Z 1", "", "K", "W 1 x y", "N 0", "D 1 v@x" };
	struct queue_file qf, whole;
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 1 << 16);
	buf_append_str(&b, qhead);
	assert_int_equal(parse(qhead, &qf), 0);
	assert_int_equal(qf.len, strlen(qhead));
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		queue_file_apply_status(&qf, lines[i], strlen(lines[i]));
		buf_printf(&b, "%s\n", lines[i]);
		assert_int_equal(parse(b.data, &whole), 0);
		assert_int_equal(qf.len, whole.len);
		assert_int_equal(qf.len, b.len);
		assert_int_equal(qf.bad_records, whole.bad_records);
		assert_int_equal(qf.warned, whole.warned);
		assert_int_equal(qf.n_delivered, whole.n_delivered);
		assert_int_equal(qf.st[1].attempts, whole.st[1].attempts);
		assert_int_equal(qf.st[1].next_try, whole.st[1].next_try);
		assert_int_equal(queue_file_count(&qf, RCPT_PENDING),
		    queue_file_count(&whole, RCPT_PENDING));
		assert_int_equal(queue_file_count(&qf, RCPT_FAILED),
		    queue_file_count(&whole, RCPT_FAILED));
		queue_file_free(&whole);
	}
	assert_int_equal(qf.bad_records, 6);
	assert_int_equal(qf.warned, 700);
	assert_true(queue_file_is_delivered(&qf, "v@x"));
	assert_string_equal(qf.st[2].text, "5.1.1 no such user");
	queue_file_free(&qf);
	buf_free(&b);
}

/* env written as a queue file and read back into qf; whether the text
 * had the A record. */
static bool
format_parse(const struct envelope *env, struct queue_file *qf)
{
	struct buf b;
	bool has_a;

	buf_init(&b, 1 << 12);
	assert_int_equal(envelope_format(env, -1, &b), 0);
	has_a = strstr(b.data, "\nA\n") != NULL;
	assert_int_equal(parse(b.data, qf), 0);
	buf_free(&b);
	return has_a;
}

/* The authenticated flag: written and read back, absent in older
 * files (not authenticated), and with an argument it is malformed. */
static void
test_authenticated_record(void **state)
{
	struct envelope_rcpt r = { (char *)"a@x" };
	struct envelope env;
	struct queue_file qf;

	(void)state;
	fill_env(&env, &r, 1);
	snprintf(env.id, sizeof(env.id), "0abc");
	assert_false(format_parse(&env, &qf));
	assert_false(qf.env.authenticated);
	queue_file_free(&qf);
	env.authenticated = true;
	assert_true(format_parse(&env, &qf));
	assert_true(qf.env.authenticated);
	queue_file_free(&qf);

	assert_int_equal(parse(qhead, &qf), 0);
	assert_false(qf.env.authenticated);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 100\nS <>\nA\nR a@x\nE\n",
	    &qf), 0);
	assert_true(qf.env.authenticated);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 100\nS <>\nA u\nR a@x\nE\n",
	    &qf), -1);
	queue_file_free(&qf);
}

/* The junk mark: written and read back, absent in files without it
 * (the inbox), kept by envelope_copy, and with an argument or before
 * the V record the file is corrupt. */
static void
test_junk_record(void **state)
{
	struct envelope_rcpt r = { (char *)"a@x" };
	struct envelope env, copy;
	struct queue_file qf;
	struct buf b;

	(void)state;
	fill_env(&env, &r, 1);
	snprintf(env.id, sizeof(env.id), "0abc");
	buf_init(&b, 1 << 12);
	assert_int_equal(envelope_format(&env, -1, &b), 0);
	assert_null(strstr(b.data, "\nJ\n"));
	assert_int_equal(parse(b.data, &qf), 0);
	assert_false(qf.env.junk);
	queue_file_free(&qf);
	buf_free(&b);

	env.junk = true;
	buf_init(&b, 1 << 12);
	assert_int_equal(envelope_format(&env, -1, &b), 0);
	assert_non_null(strstr(b.data, "\nJ\n"));
	assert_int_equal(parse(b.data, &qf), 0);
	assert_true(qf.env.junk);
	assert_string_equal(qf.env.rcpts[0].addr, "a@x");
	envelope_copy(&copy, &qf.env);
	assert_true(copy.junk);
	envelope_free(&copy);
	queue_file_free(&qf);
	buf_free(&b);

	assert_int_equal(parse(qhead, &qf), 0);
	assert_false(qf.env.junk);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 100\nS <>\nJ\nR a@x\nE\n",
	    &qf), 0);
	assert_true(qf.env.junk);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 100\nS <>\nJ 1\nR a@x\nE\n",
	    &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("J\nV 1\nI 0abc\nT 100\nS <>\nR a@x\nE\n",
	    &qf), -1);
	queue_file_free(&qf);
	/* After E a J is no status record: ignored, the envelope's word
	 * stands. */
	assert_int_equal(parse("V 1\nI 0abc\nT 100\nS <>\nR a@x\nE\nJ\n",
	    &qf), 0);
	assert_false(qf.env.junk);
	queue_file_free(&qf);
}

static void
test_torn_and_corrupt(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", path[PATH_MAX], err[256];
	struct queue_file qf;
	struct spool *sp;
	char text[512], *after;

	(void)state;
	/* Crash mid-append: the half record does not count. */
	snprintf(text, sizeof(text), "%sD 0 u@x\nK 0", qhead);
	assert_int_equal(parse(text, &qf), 0);
	assert_true(qf.torn);
	assert_int_equal(qf.st[0].state, RCPT_PENDING);
	assert_true(queue_file_is_delivered(&qf, "u@x"));
	queue_file_free(&qf);

	/* No end record, or records out of place: corrupt. */
	assert_int_equal(parse("V 1\nI 0abc\nT 100\nS <>\nR a@x\n", &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 100\nS <>\nR a@x\nE", &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 1x0\nS <>\nR a@x\nE\n", &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 100\nS <>\nE\n", &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("hello\n", &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("", &qf), -1);
	queue_file_free(&qf);

	/* Appending after a torn tail cuts it first. */
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	snprintf(path, sizeof(path), "%s/queue/0abc", dir);
	tu_spit(path, text);
	assert_int_equal(spool_status_append(sp, "0abc", "W 1 5 4.0.0 later"), 0);
	after = tu_slurp(path, NULL);
	assert_non_null(after);
	assert_non_null(strstr(after, "D 0 u@x\nW 1 5 4.0.0 later\n"));
	assert_null(strstr(after, "K 0"));
	free(after);
	assert_int_equal(spool_load(sp, "queue", "0abc", &qf, err, sizeof(err)), 0);
	assert_false(qf.torn);
	assert_int_equal(qf.st[1].attempts, 1);
	queue_file_free(&qf);
	/* A file name that disagrees with its I record is corrupt. */
	snprintf(path, sizeof(path), "%s/queue/0abd", dir);
	tu_spit(path, qhead);
	assert_int_equal(spool_load(sp, "queue", "0abd", &qf, err, sizeof(err)), -2);
	/* Appending to a deleted message fails, never creates it. */
	assert_int_equal(spool_status_append(sp, "0zzz", "K 0"), -1);
	assert_int_equal(errno, ENOENT);
	spool_close(sp);
	tu_rmtree(dir);
}

/* queue/0abc of format 2: data_len octets of data ('d'), the envelope,
 * then extra (status records, or anything). */
static void
put_one_file(const char *dir, size_t data_len, const char *extra)
{
	static const char env[] = "V 2\nI 0abc\nT 100\nS <>\nR a@x\nR b@x\n";
	char path[PATH_MAX], end[32];
	size_t elen, xlen = strlen(extra);
	char *text;
	FILE *fp;

	snprintf(end, sizeof(end), "E %zu\n", data_len);
	elen = strlen(end);
	text = malloc(data_len + sizeof(env) + elen + xlen);
	assert_non_null(text);
	memset(text, 'd', data_len);
	memcpy(text + data_len, env, sizeof(env) - 1);
	memcpy(text + data_len + sizeof(env) - 1, end, elen);
	memcpy(text + data_len + sizeof(env) - 1 + elen, extra, xlen);
	snprintf(path, sizeof(path), "%s/queue/0abc", dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, data_len + sizeof(env) - 1 + elen +
	    xlen, fp), data_len + sizeof(env) - 1 + elen + xlen);
	fclose(fp);
	free(text);
}

/* Loads queue/0abc: spool_load's result; qf loaded on 0. */
static int
load_0abc(struct spool *sp, struct queue_file *qf)
{
	char err[256];

	return spool_load(sp, "queue", "0abc", qf, err, sizeof(err));
}

/*
 * Format 2, the end record and the data before it: found from the end
 * (the data is never read, nor taken for records), whatever the size of
 * the data or of the status after the envelope; every way of getting
 * it wrong is corrupt (set aside, never delivered), never a guess.
 */
static void
test_one_file_format(void **state)
{
	static const char wline[] = "W 1 5 4.0.0 deferred for a while more\n";
	char dir[] = "/tmp/decorum-spool-XXXXXX", err[256], *big;
	struct queue_file qf;
	struct spool *sp;
	size_t i;

	(void)state;
	/* The end record: the last whole line that starts with "E ". */
	assert_int_equal(queue_file_data_len("x\nE 12\nD 0 a@x\n", 16, true), 12);
	assert_int_equal(queue_file_data_len("E 0\n", 4, true), 0);
	/* A torn last line is no record, even one that looks like it. */
	assert_int_equal(queue_file_data_len("E 12\nE 99", 10, true), 12);
	assert_int_equal(queue_file_data_len("E 12\nW 0 5 x E 7\n", 18, true), 12);
	assert_int_equal(queue_file_data_len("E \n", 3, true), -1);
	assert_int_equal(queue_file_data_len("E 1x\n", 5, true), -1);
	assert_int_equal(queue_file_data_len("E 1234567890123456789\n", 22, true), -1);
	assert_int_equal(queue_file_data_len("V 2\nE\n", 6, true), -1);
	assert_int_equal(queue_file_data_len("", 0, true), -1);
	/* A part from the middle of a file: its first line may be the end
	 * of a longer one ("...E 5" is no end record). */
	assert_int_equal(queue_file_data_len("E 5\nK 0\n", 8, false), -1);
	assert_int_equal(queue_file_data_len("x\nE 5\nK 0\n", 10, false), 5);

	/* The envelope's own rules: "E" for format 1, "E <n>" for 2. */
	assert_int_equal(parse("V 2\nI 0abc\nT 1\nS <>\nR a@x\nE 5\n", &qf), 0);
	assert_int_equal(qf.data_len, 5);
	queue_file_free(&qf);
	assert_int_equal(parse(qhead, &qf), 0);
	assert_int_equal(qf.data_len, -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 2\nI 0abc\nT 1\nS <>\nR a@x\nE\n", &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 1\nI 0abc\nT 1\nS <>\nR a@x\nE 5\n", &qf), -1);
	queue_file_free(&qf);
	assert_int_equal(parse("V 2\nV 1\nI 0abc\nT 1\nS <>\nR a@x\nE\n", &qf),
	    -1);
	queue_file_free(&qf);

	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	/* Small, with status; a status append goes after it all. */
	put_one_file(dir, 10, "D 0 a@x\nK 0\n");
	assert_int_equal(load_0abc(sp, &qf), 0);
	assert_int_equal(qf.data_len, 10);
	assert_int_equal(qf.st[0].state, RCPT_DONE);
	queue_file_free(&qf);
	assert_int_equal(spool_status_append(sp, "0abc", "W 1 5 4.0.0 later"), 0);
	assert_int_equal(load_0abc(sp, &qf), 0);
	assert_int_equal(qf.st[1].attempts, 1);
	assert_int_equal(qf.data_len, 10);
	queue_file_free(&qf);
	/* A torn append is cut before the next, never into the envelope. */
	put_one_file(dir, 10, "D 0 a@x\nE 3");
	assert_int_equal(load_0abc(sp, &qf), 0);
	assert_true(qf.torn);
	queue_file_free(&qf);
	assert_int_equal(spool_status_append(sp, "0abc", "K 1"), 0);
	assert_int_equal(load_0abc(sp, &qf), 0);
	assert_false(qf.torn);
	assert_int_equal(qf.st[1].state, RCPT_DONE);
	assert_int_equal(qf.data_len, 10);
	queue_file_free(&qf);
	/* Data far larger than the tail read: only the tail is read. */
	put_one_file(dir, 300 * 1024, "K 0\n");
	assert_int_equal(load_0abc(sp, &qf), 0);
	assert_int_equal(qf.data_len, 300 * 1024);
	assert_int_equal(qf.st[0].state, RCPT_DONE);
	queue_file_free(&qf);
	/* Status longer than the tail read: read again from the data's end. */
	big = malloc(3000 * (sizeof(wline) - 1) + 1);
	assert_non_null(big);
	for (i = 0; i < 3000; i++)
		memcpy(big + i * (sizeof(wline) - 1), wline, sizeof(wline) - 1);
	big[3000 * (sizeof(wline) - 1)] = '\0';
	put_one_file(dir, 70 * 1024, big);
	free(big);
	assert_int_equal(load_0abc(sp, &qf), 0);
	assert_int_equal(qf.data_len, 70 * 1024);
	assert_int_equal(qf.st[1].attempts, 3000);
	queue_file_free(&qf);
	/* The number names no "V 2": corrupt.  So is no end record at all,
	 * a number past the file, and a status line that is an end record. */
	put_one_file(dir, 10, "E 4\n");
	assert_int_equal(load_0abc(sp, &qf), -2);
	put_one_file(dir, 10, "E 999\n");
	assert_int_equal(load_0abc(sp, &qf), -2);
	put_at(dir, "queue/0abc", "Received: x\r\n\r\nno envelope\r\n");
	assert_int_equal(load_0abc(sp, &qf), -2);
	put_at(dir, "queue/0abc", "");
	assert_int_equal(load_0abc(sp, &qf), -2);
	/* Format 1 after data is no queue file either. */
	put_at(dir, "queue/0abc", "data\nV 1\nI 0abc\nT 1\nS <>\nR a@x\nE 5\n");
	assert_int_equal(load_0abc(sp, &qf), -2);
	spool_close(sp);
	tu_rmtree(dir);
}

/* A fresh spool in dir (a mkdtemp template) whose queue/0abc (path,
 * PATH_MAX) holds qhead. */
static struct spool *
spool_with_qhead(char *dir, char *path)
{
	struct spool *sp;
	char err[256];

	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	snprintf(path, PATH_MAX, "%s/queue/0abc", dir);
	tu_spit(path, qhead);
	return sp;
}

/*
 * Records written together (a recipient's last D with the record that
 * closes it): one write, in order; a lazy append is made durable by
 * spool_status_sync() or ended by spool_remove_deferred(), which takes
 * the envelope at once, the data only after the flush's fsync, and says
 * ENOENT for a message gone.
 */
static void
test_status_lines(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", path[PATH_MAX];
	char *after;
	const char *two[] = { "D 0 u@x", "K 0" };
	const char *bad[] = { "D 0 u@x", "K 0\nK 1" };
	const char *many[SPOOL_STATUS_LINES_MAX + 1];
	struct spool *sp;
	size_t i;

	(void)state;
	sp = spool_with_qhead(dir, path);
	assert_int_equal(spool_status_append_lines(sp, "0abc", two, 2, false), 0);
	after = tu_slurp(path, NULL);
	assert_non_null(strstr(after, "E\nD 0 u@x\nK 0\n"));
	free(after);
	assert_int_equal(spool_status_sync(sp, "0abc"), 0);
	/* Refused whole: an LF in any line, none, or more than the most. */
	assert_int_equal(spool_status_append_lines(sp, "0abc", bad, 2, true), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_status_append_lines(sp, "0abc", two, 0, true), -1);
	for (i = 0; i <= SPOOL_STATUS_LINES_MAX; i++)
		many[i] = "K 0";
	assert_int_equal(spool_status_append_lines(sp, "0abc", many,
	    SPOOL_STATUS_LINES_MAX + 1, true), -1);
	assert_int_equal(spool_status_append_lines(sp, "0abc", many,
	    SPOOL_STATUS_LINES_MAX, true), 0);
	after = tu_slurp(path, NULL);
	assert_null(strstr(after, "K 1"));
	assert_non_null(strstr(after, "K 0\nK 0\nK 0\nK 0\nK 0\n"));
	free(after);

	snprintf(path, sizeof(path), "%s/data/0abc", dir);
	tu_spit(path, "data\r\n");
	assert_int_equal(spool_remove_deferred(sp, "0abc", false), 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(spool_removals_pending(sp), 1);
	assert_int_equal(spool_removals_flush(sp), 0);
	assert_int_equal(spool_removals_pending(sp), 0);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/queue/0abc", dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(spool_remove_deferred(sp, "0abc", false), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_status_sync(sp, "0abc"), -1);
	assert_int_equal(errno, ENOENT);
	spool_close(sp);
	tu_rmtree(dir);
}


/*
 * The writer that knows the file's size (spool_status_append_known):
 * at that size the tail is not looked at (a torn tail the writer did not
 * know of stays: the size is its word), and the size comes back grown
 * by the records; at any other size, one octet more or less, the tail
 * is looked at and cut as always and the size comes back unknown.
 */
static void
test_status_known_size(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", path[PATH_MAX];
	char text[512], *after;
	const char *two[] = { "D 0 u@x", "K 0" };
	const char *one[] = { "W 1 5 4.0.0 later" };
	struct spool *sp;
	int64_t size;

	(void)state;
	sp = spool_with_qhead(dir, path);
	size = (int64_t)strlen(qhead);
	assert_int_equal(spool_status_append_known(sp, "0abc", two, 2, false,
	    &size), 0);
	assert_int_equal(size, strlen(qhead) + strlen("D 0 u@x\nK 0\n"));
	after = tu_slurp(path, NULL);
	assert_int_equal(strlen(after), size);
	free(after);

	/* A torn tail at the size given is the writer's word: kept. */
	snprintf(text, sizeof(text), "%sK 1", qhead);
	tu_spit(path, text);
	size = (int64_t)strlen(text);
	assert_int_equal(spool_status_append_known(sp, "0abc", one, 1, true,
	    &size), 0);
	assert_int_equal(size, strlen(text) + strlen(one[0]) + 1);
	after = tu_slurp(path, NULL);
	assert_non_null(strstr(after, "K 1W 1 5"));
	free(after);

	/* One octet more or less than the file: looked at, cut, unknown. */
	tu_spit(path, text);
	size = (int64_t)strlen(text) - 1;
	assert_int_equal(spool_status_append_known(sp, "0abc", one, 1, true,
	    &size), 0);
	assert_int_equal(size, -1);
	after = tu_slurp(path, NULL);
	assert_null(strstr(after, "K 1"));
	assert_non_null(strstr(after, "E\nW 1 5 4.0.0 later\n"));
	free(after);
	tu_spit(path, text);
	size = (int64_t)strlen(text) + 1;
	assert_int_equal(spool_status_append_known(sp, "0abc", one, 1, true,
	    &size), 0);
	assert_int_equal(size, -1);
	after = tu_slurp(path, NULL);
	assert_null(strstr(after, "K 1"));
	free(after);

	/* Gone: fails, and the size is unknown. */
	size = 10;
	assert_int_equal(spool_status_append_known(sp, "0zzz", one, 1, true,
	    &size), -1);
	assert_int_equal(errno, ENOENT);
	spool_close(sp);
	tu_rmtree(dir);
}

/*
 * The queue file the queue manager loads and keeps open to append to:
 * its records land in the file, also once it was moved (they go with
 * it); once it is removed (its last link gone) an append fails with
 * ENOENT, as by name; a corrupt file leaves no descriptor behind.
 */
static void
test_load_open_append(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", path[PATH_MAX], moved[PATH_MAX];
	char err[256], *after;
	const char *one[] = { "K 0" };
	struct queue_file qf;
	struct spool *sp;
	int64_t size;
	int fd = -1;

	(void)state;
	sp = spool_with_qhead(dir, path);
	assert_int_equal(spool_load_open(sp, "0abc", &qf, err, sizeof(err),
	    &fd), 0);
	assert_true(fd >= 0);
	size = (int64_t)qf.len;
	queue_file_free(&qf);
	assert_int_equal(spool_status_append_fd(fd, one, 1, true, &size), 0);
	assert_int_equal(size, strlen(qhead) + 4);
	/* Moved away (as a hold moves it): the record goes with it. */
	snprintf(moved, sizeof(moved), "%s/tmp/0abc", dir);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(spool_status_append_fd(fd, one, 1, false, &size), 0);
	after = tu_slurp(moved, NULL);
	assert_non_null(strstr(after, "E\nK 0\nK 0\n"));
	free(after);
	/* Removed: gone, as by name. */
	assert_int_equal(unlink(moved), 0);
	assert_int_equal(spool_status_append_fd(fd, one, 1, true, &size), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(size, -1);
	close(fd);

	/* Corrupt or missing: -2 or -1, and no descriptor. */
	tu_spit(path, "V 1\nI 0abd\nT 100\nS <>\nR a@x\nE\n");
	fd = -1;
	assert_int_equal(spool_load_open(sp, "0abc", &qf, err, sizeof(err),
	    &fd), -2);
	assert_int_equal(fd, -1);
	assert_int_equal(spool_load_open(sp, "0zzz", &qf, err, sizeof(err),
	    &fd), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(fd, -1);
	spool_close(sp);
	tu_rmtree(dir);
}

static int
failing_fsync(int fd, void *arg)
{
	(void)fd;
	(void)arg;
	errno = EIO;
	return -1;
}

/* Puts queue/<id> and data/<id> of a finished message in place. */
static void
finished(const char *dir, unsigned n, char id[QUEUE_ID_MAX])
{
	char path[PATH_MAX];

	snprintf(id, QUEUE_ID_MAX, "0gone%u", n);
	snprintf(path, sizeof(path), "%s/queue/%s", dir, id);
	tu_spit(path, qhead);
	snprintf(path, sizeof(path), "%s/data/%s", dir, id);
	tu_spit(path, "data\r\n");
}

static bool
data_exists(const char *dir, unsigned n)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/data/0gone%u", dir, n);
	return access(path, F_OK) == 0;
}

/*
 * Batched removals: a full batch is made durable by the removal that
 * would overfill it (its own stays waiting), and a failed fsync keeps
 * the data of every removal it covered and only theirs.
 */
static void
test_removals_batch(void **state)
{
	char dir[] = "/tmp/decorum-spool-XXXXXX", err[256], id[QUEUE_ID_MAX];
	struct spool *sp;
	unsigned i;

	(void)state;
	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	for (i = 0; i < SPOOL_GONE_MAX; i++) {
		finished(dir, i, id);
		assert_int_equal(spool_remove_deferred(sp, id, false), 0);
	}
	assert_int_equal(spool_removals_pending(sp), SPOOL_GONE_MAX);
	assert_true(data_exists(dir, 0));
	assert_true(data_exists(dir, SPOOL_GONE_MAX - 1));
	finished(dir, SPOOL_GONE_MAX, id);
	assert_int_equal(spool_remove_deferred(sp, id, false), 0);
	assert_int_equal(spool_removals_pending(sp), 1);
	for (i = 0; i < SPOOL_GONE_MAX; i++)
		assert_false(data_exists(dir, i));
	assert_true(data_exists(dir, SPOOL_GONE_MAX));

	/* The next fsync fails: that batch's data stays, for the cleanup. */
	dirsync_free(sp->sync[SPOOL_QUEUE]);
	sp->sync[SPOOL_QUEUE] = dirsync_new(failing_fsync, NULL);
	finished(dir, SPOOL_GONE_MAX + 1, id);
	assert_int_equal(spool_remove_deferred(sp, id, false), 0);
	assert_int_equal(spool_removals_flush(sp), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(spool_removals_pending(sp), 0);
	assert_true(data_exists(dir, SPOOL_GONE_MAX));
	assert_true(data_exists(dir, SPOOL_GONE_MAX + 1));
	/* Nothing waiting: a flush makes no fsync and succeeds. */
	assert_int_equal(spool_removals_flush(sp), 0);

	/* Format 2 has no data file: its batch unlinks none, not even a
	 * data/<id> that is not its own. */
	dirsync_free(sp->sync[SPOOL_QUEUE]);
	sp->sync[SPOOL_QUEUE] = dirsync_new(NULL, NULL);
	finished(dir, SPOOL_GONE_MAX + 2, id);
	assert_int_equal(spool_remove_deferred(sp, id, true), 0);
	assert_int_equal(spool_removals_flush(sp), 0);
	assert_true(data_exists(dir, SPOOL_GONE_MAX + 2));
	spool_close(sp);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_id),
		cmocka_unit_test(test_commit_read_back),
		cmocka_unit_test(test_commit_now),
		cmocka_unit_test(test_cleanup),
		cmocka_unit_test(test_id_taken_in_data_new_id),
		cmocka_unit_test(test_id_elsewhere_both_kept),
		cmocka_unit_test(test_id_all_taken),
		cmocka_unit_test(test_id_taken_at_commit),
		cmocka_unit_test(test_move_never_replaces),
		cmocka_unit_test(test_status_replay),
		cmocka_unit_test(test_status_lines),
		cmocka_unit_test(test_removals_batch),
		cmocka_unit_test(test_status_apply),
		cmocka_unit_test(test_status_known_size),
		cmocka_unit_test(test_load_open_append),
		cmocka_unit_test(test_torn_and_corrupt),
		cmocka_unit_test(test_one_file_format),
		cmocka_unit_test(test_authenticated_record),
		cmocka_unit_test(test_junk_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
