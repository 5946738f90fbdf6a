/*
 * A delivery attempt against a fake agent: one copy per mailbox, status
 * records replayed so delivered mailboxes are not delivered again, and
 * the message finished (removed or moved to failed/) when done; results
 * the outbound scheduler carried are recorded the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include "common/config.h"
#include "queue/attempt.h"
#include "queue/envelope.h"
#include "queue/spool.h"
#include "testutil.h"

static unsigned fake_calls;
static enum deliver_status fake_status = DELIVER_OK;
static const char *fake_folder;		/* the last request's folder */
static int fake_fd;			/* the last request's data */
static int64_t fake_size;

static void
fake_deliver(const struct deliver_request *req, struct deliver_result *res)
{
	assert_true(req->data_fd >= 0);
	fake_calls++;
	fake_folder = req->folder;
	fake_fd = req->data_fd;
	fake_size = req->data_size;
	res->status = fake_status;
	snprintf(res->code, sizeof(res->code), "%s",
	    fake_status == DELIVER_OK ? "2.0.0" : fake_status ==
	    DELIVER_TEMPFAIL ? "4.2.2" : "5.2.1");
	snprintf(res->text, sizeof(res->text), "fake %s@%s", req->local,
	    req->domain);
}

static const struct deliver_agent fake_agent = { "fake", fake_deliver };

static struct spool *
make_spool(char *dir, const char *id, const char *rcpts)
{
	char path[PATH_MAX], text[1024], err[256];
	struct spool *sp;

	assert_non_null(tu_mkdtemp(dir));
	sp = spool_open(dir, err, sizeof(err));
	assert_non_null(sp);
	snprintf(text, sizeof(text), "V 1\nI %s\nT %lld\nS s@x\n%sE\n", id,
	    (long long)time(NULL), rcpts);
	snprintf(path, sizeof(path), "%s/queue/%s", dir, id);
	tu_spit(path, text);
	snprintf(path, sizeof(path), "%s/data/%s", dir, id);
	tu_spit(path, "Subject: t\r\n\r\nhi\r\n");
	return sp;
}

static struct attempt *
new_attempt(struct spool *sp, const char *id)
{
	struct attempt *a = attempt_new(id, sp);

	a->agent = &fake_agent;
	a->hostname = "mx.example.test";
	a->mailboxes = "/nonexistent";
	a->created = time(NULL);
	a->retry_min = 60;
	a->retry_max = 3600;
	a->lifetime = 86400;
	return a;
}

static void
test_dedup_defer_fail(void **state)
{
	char dir[] = "/tmp/decorum-attempt-XXXXXX", path[PATH_MAX], err[256];
	struct attempt_rcpt *r;
	struct queue_file qf;
	struct attempt *a;
	struct spool *sp;
	struct stat st;

	(void)state;
	sp = make_spool(dir, "0m1", "R a@x\nR b@x\nR c@x\n");
	fake_calls = 0;
	fake_status = DELIVER_OK;
	a = new_attempt(sp, "0m1");
	r = attempt_add_rcpt(a, 0, "r0@x", 0);
	attempt_add_dest(r, "u", "x");
	attempt_add_dest(r, "v", "x");
	r = attempt_add_rcpt(a, 1, "r1@x", 0);
	attempt_add_dest(r, "u", "x");		/* same mailbox: one copy */
	r = attempt_add_rcpt(a, 2, "r2@x", 0);
	r->route = DELIVER_TEMPFAIL;
	snprintf(r->code, sizeof(r->code), "4.4.0");
	snprintf(r->text, sizeof(r->text), "cannot deliver yet");
	attempt_run(a);
	assert_int_equal(fake_calls, 2);
	assert_int_equal(a->delivered, 2);
	assert_int_equal(a->outcome, ATTEMPT_PENDING);
	assert_true(a->next_try >= time(NULL) + 50);
	assert_true(a->next_try <= time(NULL) + 70);
	attempt_free(a);

	assert_int_equal(spool_load(sp, "queue", "0m1", &qf, err, sizeof(err)), 0);
	assert_int_equal(qf.st[0].state, RCPT_DONE);
	assert_int_equal(qf.st[1].state, RCPT_DONE);
	assert_int_equal(qf.st[2].state, RCPT_PENDING);
	assert_int_equal(qf.st[2].attempts, 1);
	assert_true(queue_file_is_delivered(&qf, "u@x"));
	assert_true(queue_file_is_delivered(&qf, "v@x"));
	queue_file_free(&qf);

	/* Then the last recipient fails for good: kept in failed/. */
	a = new_attempt(sp, "0m1");
	r = attempt_add_rcpt(a, 2, "r2@x", 1);
	r->route = DELIVER_PERMFAIL;
	snprintf(r->code, sizeof(r->code), "5.1.1");
	snprintf(r->text, sizeof(r->text), "no such user");
	attempt_run(a);
	assert_int_equal(a->outcome, ATTEMPT_FAILED);
	attempt_free(a);
	assert_int_equal(spool_load(sp, "failed", "0m1", &qf, err, sizeof(err)), 0);
	assert_int_equal(qf.st[2].state, RCPT_FAILED);
	assert_string_equal(qf.st[2].text, "5.1.1 no such user");
	queue_file_free(&qf);
	snprintf(path, sizeof(path), "%s/data/0m1", dir);
	assert_int_equal(stat(path, &st), 0);	/* nothing lost */

	spool_close(sp);
	tu_rmtree(dir);
}

static void
test_all_delivered_removed(void **state)
{
	char dir[] = "/tmp/decorum-attempt-XXXXXX", path[PATH_MAX];
	struct attempt_rcpt *r;
	struct attempt *a;
	struct spool *sp;
	struct stat st;

	(void)state;
	sp = make_spool(dir, "0m2", "R a@x\n");
	fake_calls = 0;
	/* First try: mailbox unwritable, deferred. */
	fake_status = DELIVER_TEMPFAIL;
	a = new_attempt(sp, "0m2");
	r = attempt_add_rcpt(a, 0, "r0@x", 0);
	attempt_add_dest(r, "u", "x");
	attempt_run(a);
	assert_int_equal(a->outcome, ATTEMPT_PENDING);
	attempt_free(a);
	/* Retry works: removed; the data once the removal is durable. */
	fake_status = DELIVER_OK;
	a = new_attempt(sp, "0m2");
	r = attempt_add_rcpt(a, 0, "r0@x", 1);
	attempt_add_dest(r, "u", "x");
	attempt_run(a);
	assert_int_equal(a->outcome, ATTEMPT_REMOVED);
	attempt_free(a);
	assert_int_equal(fake_calls, 2);
	snprintf(path, sizeof(path), "%s/data/0m2", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(spool_removals_pending(sp), 1);
	assert_int_equal(spool_removals_flush(sp), 0);
	assert_int_equal(stat(path, &st), -1);
	snprintf(path, sizeof(path), "%s/queue/0m2", dir);
	assert_int_equal(stat(path, &st), -1);
	spool_close(sp);
	tu_rmtree(dir);
}

/* The attempt of message id, with the queue file loaded as the queue
 * manager hands it over, and one recipient (0) to deliver to u@x. */
static struct attempt *
kept_attempt(struct spool *sp, const char *id)
{
	struct attempt *a = new_attempt(sp, id);
	struct attempt_rcpt *r;
	char err[256];

	assert_int_equal(spool_load(sp, "queue", id, &a->qf, err,
	    sizeof(err)), 0);
	a->qf_valid = true;
	r = attempt_add_rcpt(a, 0, "r0@x", 0);
	attempt_add_dest(r, "u", "x");
	return a;
}

/* A message of two recipients whose queue file ends with loaded when
 * the attempt loads it and with then (NULL: as loaded) when it runs,
 * delivering recipient 0 to u@x.  The outcome; *after: the file then
 * (NULL when it is gone), *base: what came before the tails. */
static enum attempt_outcome
kept_run(const char *loaded, const char *then, char **base, char **after)
{
	char dir[] = "/tmp/decorum-attempt-XXXXXX", path[PATH_MAX];
	char text[1024];
	enum attempt_outcome o;
	struct attempt *a;
	struct spool *sp;

	fake_status = DELIVER_OK;
	sp = make_spool(dir, "0k1", "R a@x\nR b@x\n");
	snprintf(path, sizeof(path), "%s/queue/0k1", dir);
	*base = tu_slurp(path, NULL);
	snprintf(text, sizeof(text), "%s%s", *base, loaded);
	tu_spit(path, text);
	a = kept_attempt(sp, "0k1");
	assert_int_equal(a->qf.torn, strchr(loaded, '\n') == NULL &&
	    loaded[0] != '\0');
	if (then != NULL) {
		snprintf(text, sizeof(text), "%s%s", *base, then);
		tu_spit(path, text);
	}
	attempt_run(a);
	o = a->outcome;
	attempt_free(a);
	*after = access(path, F_OK) == 0 ? tu_slurp(path, NULL) : NULL;
	spool_close(sp);
	tu_rmtree(dir);
	return o;
}

/*
 * The file the attempt keeps: the outcome comes from it and the records
 * appended, not from a read back, while each append finds the file at
 * the size they make (the size is its word: a line changed in place
 * unseen).  A file of another size (another writer appended) is read
 * back; a file loaded with a torn tail has it cut before the append.
 */
static void
test_kept_file(void **state)
{
	char text[1024], *base, *after;

	(void)state;
	/* Loaded with recipient 1 done; then, at the same size, pending. */
	assert_int_equal(kept_run("K 1\n", "Z 1\n", &base, &after),
	    ATTEMPT_REMOVED);
	assert_null(after);
	free(base);
	/* Another writer failed recipient 1 after the load: read back. */
	assert_int_equal(kept_run("", "F 1 5.1.1 gone\n", &base, &after),
	    ATTEMPT_FAILED);
	assert_null(after);		/* in failed/ */
	free(base);
	/* Loaded torn: cut before the records, then read back. */
	assert_int_equal(kept_run("K 1", NULL, &base, &after), ATTEMPT_PENDING);
	snprintf(text, sizeof(text), "%sD 0 u@x\nK 0\n", base);
	assert_string_equal(after, text);
	free(after);
	free(base);
}

/* The data the load opened (and sized): the first run delivers from it,
 * with the load's size, and closes it; an attempt freed without a run
 * closes it too; a run given none opens the data itself. */
static void
test_load_data_fd(void **state)
{
	char dir[] = "/tmp/decorum-attempt-XXXXXX", path[PATH_MAX];
	struct attempt_rcpt *r;
	struct attempt *a;
	struct spool *sp;
	int fd;

	(void)state;
	fake_status = DELIVER_OK;
	sp = make_spool(dir, "0d1", "R a@x\nR b@x\n");
	snprintf(path, sizeof(path), "%s/data/0d1", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	a = new_attempt(sp, "0d1");
	a->data_fd = fd;
	a->data_size = 7;		/* not the file's: the load's word */
	r = attempt_add_rcpt(a, 0, "r0@x", 0);
	attempt_add_dest(r, "u", "x");
	attempt_run(a);
	assert_int_equal(a->outcome, ATTEMPT_PENDING);
	assert_int_equal(fake_fd, fd);
	assert_int_equal(fake_size, 7);
	assert_int_equal(a->data_fd, -1);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	attempt_free(a);

	/* None given: the run opens the data, its size from the file. */
	a = new_attempt(sp, "0d1");
	r = attempt_add_rcpt(a, 1, "r1@x", 0);
	attempt_add_dest(r, "v", "x");
	attempt_run(a);
	assert_int_equal(a->outcome, ATTEMPT_REMOVED);
	assert_true(fake_fd >= 0);
	assert_int_equal(fake_size, strlen("Subject: t\r\n\r\nhi\r\n"));
	attempt_free(a);

	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	a = new_attempt(sp, "0d1");
	a->data_fd = fd;
	attempt_free(a);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	spool_close(sp);
	tu_rmtree(dir);
}

/*
 * The queue file the load opened: the first run's records go through
 * it, also into a file moved meanwhile (a hold), and the run closes it.
 * A kept copy that says the message failed is read back by name before
 * any report: one moved away meanwhile (a delete under way) is gone.
 */
static void
test_load_queue_fd(void **state)
{
	char dir[] = "/tmp/decorum-attempt-XXXXXX", path[PATH_MAX];
	char moved[PATH_MAX], err[256], *after;
	struct attempt_rcpt *r;
	struct attempt *a;
	struct spool *sp;
	int fd;

	(void)state;
	fake_status = DELIVER_OK;
	sp = make_spool(dir, "0q1", "R a@x\nR b@x\n");
	snprintf(path, sizeof(path), "%s/queue/0q1", dir);
	snprintf(moved, sizeof(moved), "%s/tmp/0q1", dir);
	a = new_attempt(sp, "0q1");
	assert_int_equal(spool_load_open(sp, "0q1", &a->qf, err, sizeof(err),
	    &a->queue_fd), 0);
	a->qf_valid = true;
	fd = a->queue_fd;
	r = attempt_add_rcpt(a, 0, "r0@x", 0);
	attempt_add_dest(r, "u", "x");
	assert_int_equal(rename(path, moved), 0);
	attempt_run(a);
	assert_int_equal(a->outcome, ATTEMPT_PENDING);
	assert_int_equal(a->queue_fd, -1);
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	attempt_free(a);
	after = tu_slurp(moved, NULL);
	assert_non_null(strstr(after, "E\nD 0 u@x\nK 0\n"));
	free(after);

	/* Recipient 1 fails, the file moved away before the finish. */
	assert_int_equal(rename(moved, path), 0);
	fake_status = DELIVER_PERMFAIL;
	a = new_attempt(sp, "0q1");
	assert_int_equal(spool_load_open(sp, "0q1", &a->qf, err, sizeof(err),
	    &a->queue_fd), 0);
	a->qf_valid = true;
	a->bounces = true;
	a->postmaster = "postmaster@x";
	r = attempt_add_rcpt(a, 1, "r1@x", 0);
	attempt_add_dest(r, "v", "x");
	assert_int_equal(rename(path, moved), 0);
	attempt_run(a);
	assert_int_equal(a->outcome, ATTEMPT_GONE);
	assert_string_equal(a->bounce_id, "");
	attempt_free(a);
	after = tu_slurp(moved, NULL);
	assert_non_null(strstr(after, "K 0\nF 1 5.2.1 fake v@x\n"));
	free(after);
	spool_close(sp);
	tu_rmtree(dir);
}

static void
test_expired_and_gone(void **state)
{
	char dir[] = "/tmp/decorum-attempt-XXXXXX", err[256];
	struct attempt_rcpt *r;
	struct queue_file qf;
	struct attempt *a;
	struct spool *sp;

	(void)state;
	sp = make_spool(dir, "0m3", "R a@x\n");
	fake_status = DELIVER_TEMPFAIL;
	a = new_attempt(sp, "0m3");
	a->created = time(NULL) - 100000;	/* past its lifetime */
	r = attempt_add_rcpt(a, 0, "r0@x", 5);
	attempt_add_dest(r, "u", "x");
	attempt_run(a);
	assert_int_equal(a->outcome, ATTEMPT_FAILED);
	attempt_free(a);
	assert_int_equal(spool_load(sp, "failed", "0m3", &qf, err, sizeof(err)), 0);
	assert_non_null(strstr(qf.st[0].text, "5.4.7"));
	queue_file_free(&qf);

	/* Deleted by the operator meanwhile: the attempt notices. */
	a = new_attempt(sp, "0m9");
	r = attempt_add_rcpt(a, 0, "r0@x", 0);
	r->route = DELIVER_PERMFAIL;
	snprintf(r->code, sizeof(r->code), "5.1.1");
	attempt_run(a);
	assert_int_equal(a->outcome, ATTEMPT_GONE);
	attempt_free(a);
	spool_close(sp);
	tu_rmtree(dir);
}

static void
test_backoff(void **state)
{
	int64_t d;

	(void)state;
	d = attempt_backoff(1, 300, 3600);
	assert_true(d >= 270 && d <= 330);
	d = attempt_backoff(2, 300, 3600);
	assert_true(d >= 540 && d <= 660);
	d = attempt_backoff(30, 300, 3600);
	assert_true(d >= 3240 && d <= 3600);
}

/* queue.retry_max is a promise: the jitter never takes a delay past it,
 * whatever the step; below the cap every step keeps its +-10%. */
static void
test_backoff_within_retry_max(void **state)
{
	static const unsigned limits[][2] = {
		{ 300, 3600 }, { 300, 300 }, { 1, 2 }, { 60, 3599 },
		{ 7, 1000 }, { 3600, 86400 },
	};
	int64_t d, step, lo, hi;
	unsigned attempts, k, n;

	(void)state;
	for (k = 0; k < sizeof(limits) / sizeof(limits[0]); k++) {
		unsigned rmin = limits[k][0], rmax = limits[k][1];

		for (attempts = 0; attempts <= 40; attempts++) {
			step = rmin;
			for (n = 1; n < attempts && step < rmax; n++)
				step *= 2;
			if (step > rmax)
				step = rmax;
			lo = step - step / 10;
			hi = step + step / 10;
			for (n = 0; n < 200; n++) {
				d = attempt_backoff(attempts, rmin, rmax);
				assert_true(d >= 1);
				assert_true(d <= (int64_t)rmax);
				assert_true(d >= lo && d <= hi);
			}
		}
	}
}

/* At the cap the delays still spread (all below it), so messages that
 * reached retry_max together do not retry in lockstep. */
static void
test_backoff_spread_at_cap(void **state)
{
	int64_t d, low = INT64_MAX, high = 0;
	unsigned n;

	(void)state;
	for (n = 0; n < 500; n++) {
		d = attempt_backoff(20, 300, 3600);
		if (d < low)
			low = d;
		if (d > high)
			high = d;
	}
	assert_true(low >= 3240);
	assert_true(high <= 3600);
	assert_true(high - low >= 100);
}

/* Results the outbound scheduler carried (SMTP, LMTP) are recorded
 * like the agent's, and the agent is never called for them. */
static void
test_outbound_results(void **state)
{
	static const struct transport_conf smtp = {
		.match = "", .via = "smtp", .kind = TRANSPORT_SMTP,
	};
	char dir[] = "/tmp/decorum-attempt-XXXXXX", err[256];
	struct attempt_dest *d;
	struct attempt_rcpt *r;
	struct queue_file qf;
	struct attempt *a;
	struct spool *sp;

	(void)state;
	sp = make_spool(dir, "0m4", "R a@far\nR b@far\nR c@far\n");
	fake_calls = 0;
	a = new_attempt(sp, "0m4");
	r = attempt_add_rcpt(a, 0, "a@far", 0);
	d = attempt_add_dest(r, "a", "far");
	d->t = &smtp;
	d->done = true;
	d->res.status = DELIVER_OK;
	snprintf(d->res.code, sizeof(d->res.code), "2.0.0");
	snprintf(d->res.text, sizeof(d->res.text), "host mx.far[192.0.2.1] "
	    "said: 250 2.0.0 ok (in reply to end of DATA)");
	d->res.reply_code = 250;
	d->relay = strdup("mx.far[192.0.2.1]:25");
	r = attempt_add_rcpt(a, 1, "b@far", 0);
	d = attempt_add_dest(r, "b", "far");
	d->t = &smtp;
	d->done = true;
	d->res.status = DELIVER_TEMPFAIL;
	snprintf(d->res.code, sizeof(d->res.code), "4.7.1");
	snprintf(d->res.text, sizeof(d->res.text), "host mx.far[192.0.2.1] "
	    "said: 451 4.7.1 greylisted (in reply to RCPT TO)");
	r = attempt_add_rcpt(a, 2, "c@far", 0);
	d = attempt_add_dest(r, "c", "far");
	d->t = &smtp;		/* not carried yet: left open */
	attempt_run(a);
	assert_int_equal(fake_calls, 0);
	assert_int_equal(a->delivered, 1);
	assert_int_equal(a->outcome, ATTEMPT_PENDING);
	attempt_free(a);

	assert_int_equal(spool_load(sp, "queue", "0m4", &qf, err, sizeof(err)), 0);
	assert_int_equal(qf.st[0].state, RCPT_DONE);
	assert_true(queue_file_is_delivered(&qf, "a@far"));
	assert_int_equal(qf.st[1].state, RCPT_PENDING);
	assert_non_null(strstr(qf.st[1].text, "4.7.1 host mx.far[192.0.2.1] "
	    "said: 451 4.7.1 greylisted"));
	/* No record at all: its next run closes it. */
	assert_int_equal(qf.st[2].state, RCPT_PENDING);
	assert_int_equal(qf.st[2].attempts, 0);
	assert_null(qf.st[2].text);
	queue_file_free(&qf);
	spool_close(sp);
	tu_rmtree(dir);
}

/*
 * Two runs of one attempt: the local copies while the network copies are
 * out (network_pending), then the network results.  A mailbox reached by
 * a local-only recipient and by one that also goes out is copied once,
 * across the runs; the second recipient is closed only by the second run.
 */
static void
test_two_runs(void **state)
{
	static const struct transport_conf smtp = {
		.match = "", .via = "smtp", .kind = TRANSPORT_SMTP,
	};
	char dir[] = "/tmp/decorum-attempt-XXXXXX", err[256];
	struct attempt_dest *out;
	struct attempt_rcpt *r;
	struct queue_file qf;
	struct attempt *a;
	struct spool *sp;

	(void)state;
	sp = make_spool(dir, "0m5", "R a@x\nR b@x\n");
	fake_calls = 0;
	fake_status = DELIVER_OK;
	a = new_attempt(sp, "0m5");
	r = attempt_add_rcpt(a, 0, "a@x", 0);
	attempt_add_dest(r, "u", "x");
	r = attempt_add_rcpt(a, 1, "b@x", 0);
	attempt_add_dest(r, "u", "x");		/* the same mailbox */
	out = attempt_add_dest(r, "v", "far");
	out->t = &smtp;
	a->network_pending = true;
	attempt_run(a);
	assert_int_equal(fake_calls, 1);
	assert_int_equal(spool_load(sp, "queue", "0m5", &qf, err, sizeof(err)), 0);
	assert_int_equal(qf.st[0].state, RCPT_DONE);
	assert_int_equal(qf.st[1].state, RCPT_PENDING);
	assert_int_equal(qf.st[1].attempts, 0);
	queue_file_free(&qf);

	/* The network result is in (qmgr_outbound_collect). */
	out->done = true;
	out->res.status = DELIVER_OK;
	snprintf(out->res.code, sizeof(out->res.code), "2.0.0");
	snprintf(out->res.text, sizeof(out->res.text), "host mx.far[192.0.2.1] "
	    "said: 250 ok (in reply to end of DATA)");
	a->network_pending = false;
	attempt_run(a);
	assert_int_equal(fake_calls, 1);	/* u@x not copied again */
	assert_int_equal(a->delivered, 2);
	assert_int_equal(a->outcome, ATTEMPT_REMOVED);
	attempt_free(a);
	spool_close(sp);
	tu_rmtree(dir);
}

/* Network copies kept back (no room): the local ones go, the recipient
 * waiting for the network stays pending with no record, and the message
 * is not finished. */
static void
test_network_held(void **state)
{
	static const struct transport_conf smtp = {
		.match = "", .via = "smtp", .kind = TRANSPORT_SMTP,
	};
	char dir[] = "/tmp/decorum-attempt-XXXXXX", err[256];
	struct attempt_rcpt *r;
	struct queue_file qf;
	struct attempt *a;
	struct spool *sp;

	(void)state;
	sp = make_spool(dir, "0m6", "R a@x\nR b@far\n");
	fake_calls = 0;
	fake_status = DELIVER_OK;
	a = new_attempt(sp, "0m6");
	r = attempt_add_rcpt(a, 0, "a@x", 0);
	attempt_add_dest(r, "a", "x");
	r = attempt_add_rcpt(a, 1, "b@far", 0);
	attempt_add_dest(r, "b", "far")->t = &smtp;
	attempt_run(a);
	assert_int_equal(fake_calls, 1);
	assert_int_equal(a->outcome, ATTEMPT_PENDING);
	attempt_free(a);
	assert_int_equal(spool_load(sp, "queue", "0m6", &qf, err, sizeof(err)), 0);
	assert_int_equal(qf.st[0].state, RCPT_DONE);
	assert_int_equal(qf.st[1].state, RCPT_PENDING);
	assert_int_equal(qf.st[1].attempts, 0);
	assert_null(qf.st[1].text);
	queue_file_free(&qf);
	spool_close(sp);
	tu_rmtree(dir);
}

/*
 * Forward destinations: one forwarded copy for the union of the targets
 * (one target reached by two recipients is one recipient of the copy),
 * its sender the one planned, its data one Delivered-To: per recipient
 * that reached a target then the original bytes; D records for each
 * recipient's targets, and the recipients closed.  A run with the same
 * targets already handed over makes no second copy.
 */
static void
test_forward_copy(void **state)
{
	char dir[] = "/tmp/decorum-attempt-XXXXXX", err[256], id[QUEUE_ID_MAX];
	struct attempt_rcpt *r;
	struct queue_file qf;
	struct attempt *a;
	struct spool *sp;
	char **ids, *data, path[PATH_MAX];
	size_t n;

	(void)state;
	sp = make_spool(dir, "0f1", "R a@x\nR b@x\nR c@x\n");
	fake_calls = 0;
	fake_status = DELIVER_OK;
	a = new_attempt(sp, "0f1");
	a->fwd_sender = strdup("SRS0=hash=TT=x=s@srs.x");
	a->fwd_srs = true;
	a->client_ip = strdup("192.0.2.1");
	r = attempt_add_rcpt(a, 0, "a@x", 0);
	attempt_add_dest(r, "t", "far.example")->forward = true;
	attempt_add_dest(r, "u", "x");		/* a mailbox too */
	r = attempt_add_rcpt(a, 1, "b@x", 0);
	attempt_add_dest(r, "t", "far.example")->forward = true;
	attempt_add_dest(r, "t2", "far.example")->forward = true;
	r = attempt_add_rcpt(a, 2, "c@x", 0);
	attempt_add_dest(r, "v", "x");		/* no forward: no trace */
	attempt_run(a);
	assert_int_equal(fake_calls, 2);
	assert_int_equal(a->outcome, ATTEMPT_REMOVED);
	assert_true(a->forward_id[0] != '\0');
	snprintf(id, sizeof(id), "%s", a->forward_id);
	attempt_free(a);

	assert_int_equal(spool_list(sp, "queue", &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	spool_list_free(ids, n);
	assert_int_equal(spool_load(sp, "queue", id, &qf, err, sizeof(err)), 0);
	assert_string_equal(qf.env.sender, "SRS0=hash=TT=x=s@srs.x");
	assert_int_equal(qf.env.n_rcpts, 2);
	assert_string_equal(qf.env.rcpts[0].addr, "t@far.example");
	assert_string_equal(qf.env.rcpts[1].addr, "t2@far.example");
	assert_string_equal(qf.env.client_ip, "192.0.2.1");
	assert_false(qf.env.authenticated);
	/* The copy's data, and not a byte of the envelope after it. */
	snprintf(path, sizeof(path), "%s/queue/%s", dir, id);
	data = tu_slurp(path, NULL);
	assert_non_null(data);
	assert_true(qf.data_len >= 0);
	data[qf.data_len] = '\0';
	assert_string_equal(data, "Delivered-To: a@x\r\nDelivered-To: b@x\r\n"
	    "Subject: t\r\n\r\nhi\r\n");
	free(data);
	queue_file_free(&qf);
	spool_close(sp);
	tu_rmtree(dir);
}

/* A message judged unwanted (J): its Maildir copies are asked for the
 * attempt's folder, its forwarded copy keeps J, and a recipient that
 * fails makes no report (BCP: no DSN for such mail): the message is
 * kept in failed/, nothing else is queued. */
static void
test_junk_no_bounce(void **state)
{
	char dir[] = "/tmp/decorum-attempt-XXXXXX", err[256];
	struct attempt_rcpt *r;
	struct queue_file qf;
	struct attempt *a;
	struct spool *sp;
	char **ids;
	size_t n;

	(void)state;
	sp = make_spool(dir, "0j1", "J\nR a@x\nR b@x\nR c@x\n");
	fake_calls = 0;
	fake_status = DELIVER_OK;
	fake_folder = NULL;
	a = new_attempt(sp, "0j1");
	a->bounces = true;
	a->postmaster = "pm@x";
	a->junk = true;
	a->folder = ".Junk";
	a->fwd_sender = strdup("s@x");
	r = attempt_add_rcpt(a, 0, "a@x", 0);
	attempt_add_dest(r, "u", "x");
	r = attempt_add_rcpt(a, 1, "b@x", 0);
	attempt_add_dest(r, "t", "far.example")->forward = true;
	r = attempt_add_rcpt(a, 2, "c@x", 0);
	r->route = DELIVER_PERMFAIL;
	snprintf(r->code, sizeof(r->code), "5.1.1");
	snprintf(r->text, sizeof(r->text), "no such user");
	attempt_run(a);
	assert_int_equal(fake_calls, 1);
	assert_string_equal(fake_folder, ".Junk");
	assert_int_equal(a->outcome, ATTEMPT_FAILED);
	assert_string_equal(a->bounce_id, "");
	assert_true(a->forward_id[0] != '\0');

	/* The queue holds the forwarded copy only, marked. */
	assert_int_equal(spool_list(sp, "queue", &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], a->forward_id);
	assert_int_equal(spool_load(sp, "queue", ids[0], &qf, err,
	    sizeof(err)), 0);
	assert_true(qf.env.junk);
	assert_string_equal(qf.env.rcpts[0].addr, "t@far.example");
	queue_file_free(&qf);
	spool_list_free(ids, n);
	attempt_free(a);
	assert_int_equal(spool_load(sp, "failed", "0j1", &qf, err,
	    sizeof(err)), 0);
	assert_true(qf.env.junk);
	assert_int_equal(qf.st[2].state, RCPT_FAILED);
	queue_file_free(&qf);
	spool_close(sp);
	tu_rmtree(dir);
}

/* The copy cannot be made (no sender planned: a table failed): the
 * forward targets are deferred, a mailbox of the same recipient still
 * gets its copy, and nothing else is queued. */
static void
test_forward_deferred(void **state)
{
	char dir[] = "/tmp/decorum-attempt-XXXXXX", err[256];
	struct attempt_rcpt *r;
	struct queue_file qf;
	struct attempt *a;
	struct spool *sp;
	char **ids;
	size_t n;

	(void)state;
	sp = make_spool(dir, "0f2", "R a@x\n");
	fake_calls = 0;
	fake_status = DELIVER_OK;
	a = new_attempt(sp, "0f2");
	r = attempt_add_rcpt(a, 0, "a@x", 0);
	attempt_add_dest(r, "t", "far.example")->forward = true;
	attempt_add_dest(r, "u", "x");
	attempt_run(a);
	assert_int_equal(fake_calls, 1);
	assert_int_equal(a->outcome, ATTEMPT_PENDING);
	assert_string_equal(a->forward_id, "");
	attempt_free(a);
	assert_int_equal(spool_list(sp, "queue", &ids, &n), 0);
	assert_int_equal(n, 1);
	spool_list_free(ids, n);
	assert_int_equal(spool_load(sp, "queue", "0f2", &qf, err, sizeof(err)), 0);
	assert_int_equal(qf.st[0].state, RCPT_PENDING);
	assert_int_equal(qf.st[0].attempts, 1);
	assert_true(queue_file_is_delivered(&qf, "u@x"));
	assert_false(queue_file_is_delivered(&qf, "t@far.example"));
	assert_non_null(strstr(qf.st[0].text, "4.3.0"));
	queue_file_free(&qf);
	spool_close(sp);
	tu_rmtree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dedup_defer_fail),
		cmocka_unit_test(test_all_delivered_removed),
		cmocka_unit_test(test_kept_file),
		cmocka_unit_test(test_load_data_fd),
		cmocka_unit_test(test_load_queue_fd),
		cmocka_unit_test(test_expired_and_gone),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_backoff_within_retry_max),
		cmocka_unit_test(test_backoff_spread_at_cap),
		cmocka_unit_test(test_outbound_results),
		cmocka_unit_test(test_two_runs),
		cmocka_unit_test(test_network_held),
		cmocka_unit_test(test_forward_copy),
		cmocka_unit_test(test_forward_deferred),
		cmocka_unit_test(test_junk_no_bounce),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
