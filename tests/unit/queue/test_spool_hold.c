/*
 * Held messages and the garbage cleanup: hold and release racing the
 * hourly spool_cleanup() (run in a thread of its own, on its own open
 * spool, as the queue manager's process runs it beside `decorum queue
 * release`), for a message whose data is older than SPOOL_GARBAGE_AGE;
 * the garbage hold/ can hold after a crash; and hold and release never
 * replacing a file of another message.  These are messages of format 1
 * (queued by an earlier version: data in data/<id>, moved as a link of
 * its own); one of format 2 (one file) moves in one rename.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include "common/buf.h"
#include "queue/envelope.h"
#include "queue/queue_id.h"
#include "queue/spool.h"
#include "queue/spool_hold.h"
#include "testutil.h"

static const char body[] = "Received: from x\r\nSubject: held\r\n\r\n"
    "the body that must survive\r\n";

struct fixture {
	char dir[64];
	struct spool *sp;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/decorum-hold-XXXXXX");
	if (tu_mkdtemp(f->dir) == NULL)
		return -1;
	f->sp = spool_open(f->dir, err, sizeof(err));
	if (f->sp == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	spool_close(f->sp);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static void
fill_env(struct envelope *env, struct envelope_rcpt *rcpt)
{
	memset(env, 0, sizeof(*env));
	env->sender = (char *)"alice@example.org";
	env->rcpts = rcpt;
	env->n_rcpts = 1;
	env->created = time(NULL);
}

/* Commits one message as this version does (format 2); its id in id. */
static void
commit_one_file(struct spool *sp, char *id)
{
	struct envelope_rcpt rcpt = { (char *)"bob@example.net" };
	struct spool_writer *w;
	struct envelope env;
	char err[256];

	fill_env(&env, &rcpt);
	w = spool_writer_new(sp, err, sizeof(err));
	assert_non_null(w);
	snprintf(id, QUEUE_ID_MAX, "%s", spool_writer_id(w));
	assert_int_equal(spool_writer_write(w, body, sizeof(body) - 1), 0);
	assert_int_equal(spool_writer_commit_now(w, &env), 0);
}

/* Queues one message as an earlier version did (format 1: envelope in
 * queue/<id>, data in data/<id>); its id in id. */
static void
commit(struct spool *sp, char *id)
{
	struct envelope_rcpt rcpt = { (char *)"bob@example.net" };
	char path[PATH_MAX];
	struct envelope env;
	struct buf b;

	queue_id_new(id);
	fill_env(&env, &rcpt);
	memcpy(env.id, id, QUEUE_ID_MAX);
	buf_init(&b, 4096);
	assert_int_equal(envelope_format(&env, -1, &b), 0);
	assert_int_equal(buf_append(&b, "", 1), 0);
	snprintf(path, sizeof(path), "%s/queue/%s", spool_dir(sp), id);
	tu_spit(path, b.data);
	buf_free(&b);
	snprintf(path, sizeof(path), "%s/data/%s", spool_dir(sp), id);
	tu_spit(path, body);
}

/* dir/rel's modification time set age seconds back. */
static void
backdate(const char *dir, const char *rel, time_t age)
{
	char path[PATH_MAX];
	struct timespec ts[2];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static bool
exists(const char *dir, const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return lstat(path, &st) == 0;
}

/* The message data at dir/rel is the one committed. */
static void
assert_body(const char *dir, const char *rel)
{
	char path[PATH_MAX], *got;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	got = tu_slurp(path, &len);
	if (got == NULL)
		fail_msg("%s is gone: the message data was lost", rel);
	assert_int_equal(len, sizeof(body) - 1);
	assert_memory_equal(got, body, len);
	free(got);
}

struct cleaner {
	const char *dir;
	atomic_bool stop;
	atomic_uint runs;
	atomic_uint removed;
};

/* The queue manager's hourly cleanup, as often as it can run. */
static void *
cleaner_run(void *p)
{
	struct cleaner *c = p;
	struct spool *sp;
	char err[256];

	sp = spool_open(c->dir, err, sizeof(err));
	if (sp == NULL)
		return NULL;
	while (!atomic_load(&c->stop)) {
		atomic_fetch_add(&c->removed, spool_cleanup(sp,
		    SPOOL_GARBAGE_AGE));
		atomic_fetch_add(&c->runs, 1);
	}
	spool_close(sp);
	return NULL;
}

/*
 * Release links hold/ID.data back to data/ID before it renames the
 * envelope into queue/: in between, data/ID (three hours old, a link does
 * not change mtime) has no envelope in queue/.  A cleanup that looked
 * then would take it, and the release would end with an envelope and no
 * data.  Many rounds with a cleanup running all the time: never.
 */
static void
test_release_races_cleanup(void **state)
{
	struct fixture *f = *state;
	struct cleaner c = { f->dir, false, 0, 0 };
	char id[QUEUE_ID_MAX], rel[QUEUE_ID_MAX + 16];
	pthread_t t;
	int round;

	commit(f->sp, id);
	snprintf(rel, sizeof(rel), "data/%s", id);
	backdate(f->dir, rel, SPOOL_GARBAGE_AGE + 3600);
	assert_int_equal(pthread_create(&t, NULL, cleaner_run, &c), 0);
	while (atomic_load(&c.runs) == 0)
		sched_yield();
	for (round = 0; round < 200; round++) {
		assert_int_equal(spool_hold(f->sp, id), 0);
		snprintf(rel, sizeof(rel), "hold/%s.data", id);
		assert_body(f->dir, rel);
		assert_int_equal(spool_release(f->sp, id), 0);
		snprintf(rel, sizeof(rel), "data/%s", id);
		assert_body(f->dir, rel);
	}
	atomic_store(&c.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* The cleanup did run, many times, and took nothing. */
	assert_true(atomic_load(&c.runs) > 200);
	assert_int_equal(atomic_load(&c.removed), 0);
	snprintf(rel, sizeof(rel), "queue/%s", id);
	assert_true(exists(f->dir, rel));
}

static void
put(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	tu_spit(path, text);
}

/*
 * What a crash leaves in hold/ and data/, two hours old or more: links
 * without an envelope go, links beside one stay, and so does anything
 * younger (a hold or release of another process may be under way).
 */
static void
test_cleanup_hold_leftovers(void **state)
{
	struct fixture *f = *state;
	char held[QUEUE_ID_MAX], queued[QUEUE_ID_MAX], rel[64];
	time_t old = SPOOL_GARBAGE_AGE + 60;

	commit(f->sp, held);
	commit(f->sp, queued);
	assert_int_equal(spool_hold(f->sp, held), 0);
	/* A crash in a hold, after its link: data/ID and hold/ID.data. */
	snprintf(rel, sizeof(rel), "hold/%s.data", queued);
	put(f->dir, rel, "link of a queued message");
	backdate(f->dir, rel, old);
	/* A crash in a release, after its link: data/ID beside hold/ID. */
	snprintf(rel, sizeof(rel), "data/%s", held);
	put(f->dir, rel, "link of a held message");
	backdate(f->dir, rel, old);
	/* Links of messages deleted meanwhile: no envelope anywhere. */
	put(f->dir, "hold/0GONE.data", "x");
	backdate(f->dir, "hold/0GONE.data", old);
	put(f->dir, "data/0GONE", "x");
	backdate(f->dir, "data/0GONE", old);
	put(f->dir, "hold/0YOUNG.data", "x");
	backdate(f->dir, "hold/0YOUNG.data", SPOOL_GARBAGE_AGE - 60);
	/* Not a link name: never touched. */
	put(f->dir, "hold/notes.txt", "x");
	backdate(f->dir, "hold/notes.txt", old);
	snprintf(rel, sizeof(rel), "data/%s", queued);
	backdate(f->dir, rel, old);
	snprintf(rel, sizeof(rel), "hold/%s.data", held);
	backdate(f->dir, rel, old);

	assert_int_equal(spool_cleanup(f->sp, SPOOL_GARBAGE_AGE), 3);
	assert_false(exists(f->dir, "hold/0GONE.data"));
	assert_false(exists(f->dir, "data/0GONE"));
	snprintf(rel, sizeof(rel), "hold/%s.data", queued);
	assert_false(exists(f->dir, rel));
	assert_true(exists(f->dir, "hold/0YOUNG.data"));
	assert_true(exists(f->dir, "hold/notes.txt"));
	snprintf(rel, sizeof(rel), "data/%s", held);
	assert_true(exists(f->dir, rel));
	snprintf(rel, sizeof(rel), "hold/%s.data", held);
	assert_body(f->dir, rel);
	snprintf(rel, sizeof(rel), "data/%s", queued);
	assert_body(f->dir, rel);
	/* Both messages go on: the release replaces its own stale link. */
	assert_int_equal(spool_release(f->sp, held), 0);
	snprintf(rel, sizeof(rel), "data/%s", held);
	assert_body(f->dir, rel);
	assert_int_equal(spool_hold(f->sp, queued), 0);
	snprintf(rel, sizeof(rel), "hold/%s.data", queued);
	assert_body(f->dir, rel);
}

/*
 * Two messages with one id (a clock stepped back, a pid reused): one
 * held, the other queued.  Neither a release nor a hold may replace the
 * other's envelope or data: EEXIST, and every file stays as it was.
 */
static void
assert_text(const char *dir, const char *rel, const char *want)
{
	char path[PATH_MAX], *got;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	got = tu_slurp(path, NULL);
	if (got == NULL)
		fail_msg("%s is gone", rel);
	assert_string_equal(got, want);
	free(got);
}

static void
remove_at(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(unlink(path), 0);
}

static void
test_hold_release_never_replace(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_MAX], queued[64], data[64], rel[64];

	commit(f->sp, id);
	assert_int_equal(spool_hold(f->sp, id), 0);
	snprintf(queued, sizeof(queued), "queue/%s", id);
	put(f->dir, queued, "V 1\nthe other envelope\n");
	snprintf(data, sizeof(data), "data/%s", id);
	put(f->dir, data, "the other data");

	assert_int_equal(spool_release(f->sp, id), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(spool_hold(f->sp, id), -1);
	assert_int_equal(errno, EEXIST);
	assert_text(f->dir, queued, "V 1\nthe other envelope\n");
	assert_text(f->dir, data, "the other data");
	snprintf(rel, sizeof(rel), "hold/%s.data", id);
	assert_body(f->dir, rel);
	snprintf(rel, sizeof(rel), "hold/%s", id);
	assert_true(exists(f->dir, rel));
	/* A failed or corrupt one stops the release too. */
	remove_at(f->dir, queued);
	snprintf(rel, sizeof(rel), "corrupt/%s", id);
	put(f->dir, rel, "corrupt");
	assert_int_equal(spool_release(f->sp, id), -1);
	assert_int_equal(errno, EEXIST);
	assert_text(f->dir, data, "the other data");
	remove_at(f->dir, rel);
	/* Alone again: the release goes, over the stale data link. */
	assert_int_equal(spool_release(f->sp, id), 0);
	assert_body(f->dir, data);
	assert_true(exists(f->dir, queued));
}

/* One file: hold and release move it with one rename each, with its
 * data inside; no data link is made on either side, and the cleanup
 * finds nothing to take however old it is. */
static void
test_hold_release_one_file(void **state)
{
	struct fixture *f = *state;
	char id[QUEUE_ID_MAX], rel[64], err[256], buf[256];
	struct queue_file qf;
	int64_t size;
	int fd;

	commit_one_file(f->sp, id);
	assert_int_equal(spool_hold(f->sp, id), 0);
	snprintf(rel, sizeof(rel), "queue/%s", id);
	assert_false(exists(f->dir, rel));
	snprintf(rel, sizeof(rel), "hold/%s.data", id);
	assert_false(exists(f->dir, rel));
	snprintf(rel, sizeof(rel), "hold/%s", id);
	backdate(f->dir, rel, SPOOL_GARBAGE_AGE + 3600);
	assert_int_equal(spool_cleanup(f->sp, SPOOL_GARBAGE_AGE), 0);
	assert_int_equal(spool_hold_load(f->sp, id, &qf, err, sizeof(err)), 0);
	assert_int_equal(qf.data_len, sizeof(body) - 1);
	fd = spool_open_data(f->sp, "hold", id, qf.data_len, &size);
	assert_true(fd >= 0);
	assert_int_equal(size, sizeof(body) - 1);
	assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
	assert_memory_equal(buf, body, (size_t)size);
	close(fd);
	queue_file_free(&qf);

	assert_int_equal(spool_release(f->sp, id), 0);
	snprintf(rel, sizeof(rel), "data/%s", id);
	assert_false(exists(f->dir, rel));
	assert_int_equal(spool_load(f->sp, "queue", id, &qf, err, sizeof(err)),
	    0);
	assert_int_equal(qf.data_len, sizeof(body) - 1);
	queue_file_free(&qf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_release_races_cleanup,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cleanup_hold_leftovers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_release_never_replace,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_release_one_file,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
