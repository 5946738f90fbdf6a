/*
 * Maildir delivery into a temporary folder: file in new/, LF line ends,
 * Return-Path and Delivered-To first, unique names, S= size, classified
 * failures; files a crash left in tmp/ removed 36 hours after their
 * ctime (never by their mtime, which mail readers date back), at most
 * once per mailbox per sweep interval, at most MAILDIR_TMP_SCAN_MAX a
 * time; lone CRs across the copy's buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include "deliver/maildir.h"
#include "deliver/maildir_tmp.h"
#include "testutil.h"

static const char msg[] = "Received: from c\r\nSubject: t\r\n\r\nline1\r\n"
    "odd\rcr\r\n.\r\n";
static const char want[] = "Return-Path: <s@example.org>\n"
    "Delivered-To: bob@example.net\n"
    "Received: from c\nSubject: t\n\nline1\nodd\rcr\n.\n";

static void
setup_req(struct deliver_request *req, char *root, int fd)
{
	memset(req, 0, sizeof(*req));
	req->id = "0test";
	req->sender = "s@example.org";
	req->local = "bob";
	req->domain = "example.net";
	req->data_fd = fd;
	req->data_size = sizeof(msg) - 1;
	req->hostname = "mx.example:test/x";
	req->mailboxes = root;
}

static void
test_deliver(void **state)
{
	char root[] = "/tmp/decorum-maildir-XXXXXX", path[PATH_MAX];
	char names[2][NAME_MAX + 1], *got, *s;
	struct deliver_request req;
	struct deliver_result res;
	struct dirent *de;
	struct stat st;
	size_t len;
	int fd, n = 0;
	DIR *d;

	(void)state;
	assert_non_null(tu_mkdtemp(root));
	snprintf(path, sizeof(path), "%s/data", root);
	tu_spit(path, msg);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	setup_req(&req, root, fd);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	assert_string_equal(maildir_agent.name, "maildir");

	snprintf(path, sizeof(path), "%s/example.net/bob", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/example.net/bob/cur", root);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/example.net/bob/tmp", root);
	d = opendir(path);
	while ((de = readdir(d)) != NULL)
		assert_true(de->d_name[0] == '.');	/* tmp/ left empty */
	closedir(d);
	snprintf(path, sizeof(path), "%s/example.net/bob/new", root);
	d = opendir(path);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_true(n < 2);
		snprintf(names[n++], sizeof(names[0]), "%s", de->d_name);
	}
	closedir(d);
	assert_int_equal(n, 2);
	assert_string_not_equal(names[0], names[1]);
	for (n = 0; n < 2; n++) {
		/* Host part escapes "/" and ":" (Maildir spec). */
		assert_non_null(strstr(names[n], ".mx.example\\072test\\057x,S="));
		snprintf(path, sizeof(path), "%s/example.net/bob/new/%s", root,
		    names[n]);
		got = tu_slurp(path, &len);
		assert_non_null(got);
		assert_string_equal(got, want);
		s = strstr(names[n], ",S=");
		assert_int_equal(strtoul(s + 3, NULL, 10), len);
		free(got);
	}
	close(fd);
	tu_rmtree(root);
}

static void
test_failures(void **state)
{
	char root[] = "/tmp/decorum-maildir-XXXXXX", path[PATH_MAX];
	struct deliver_request req;
	struct deliver_result res;
	int fd;

	(void)state;
	assert_non_null(tu_mkdtemp(root));
	snprintf(path, sizeof(path), "%s/data", root);
	tu_spit(path, msg);
	fd = open(path, O_RDONLY);
	setup_req(&req, root, fd);

	req.local = "../../etc";
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_PERMFAIL);
	assert_string_equal(res.code, "5.1.3");
	req.local = ".hidden";
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_PERMFAIL);

	/* Missing mailboxes root: wait for the operator, never drop. */
	req.local = "bob";
	snprintf(path, sizeof(path), "%s/missing", root);
	req.mailboxes = path;
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_TEMPFAIL);
	assert_int_equal(res.code[0], '4');

	/* Unwritable mailbox (a file where new/ should be): TEMPFAIL. */
	req.mailboxes = root;
	snprintf(path, sizeof(path), "%s/example.net", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/example.net/bob", root);
	tu_spit(path, "not a folder");
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_TEMPFAIL);

	/* Unreadable data: TEMPFAIL as well. */
	unlink(path);
	close(fd);
	req.data_fd = -1;
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_TEMPFAIL);
	assert_string_equal(res.code, "4.3.0");
	tu_rmtree(root);
}

/* A fresh mailboxes root (the template root is filled in) holding the
 * message data, and a request for bob@example.net reading it; returns
 * the data's descriptor. */
static int
setup_mailboxes(char *root, struct deliver_request *req)
{
	char path[PATH_MAX];
	int fd;

	assert_non_null(tu_mkdtemp(root));
	snprintf(path, sizeof(path), "%s/data", root);
	tu_spit(path, msg);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	setup_req(req, root, fd);
	return fd;
}

/* Files (not dot entries) in root/rel. */
static int
count_files(const char *root, const char *rel)
{
	char path[PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* The first file (not a dot entry) of root/rel, read whole. */
static char *
slurp_first(const char *root, const char *rel, size_t *len)
{
	char path[PATH_MAX], file[2 * PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
		;
	assert_non_null(de);
	snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
	closedir(d);
	return tu_slurp(file, len);
}

/*
 * The mailbox tree is made once and remembered (no mkdir per delivery):
 * a cur/ removed after the first delivery stays away on the second.  A
 * mailbox removed whole is found missing by the open (ENOENT), made
 * again, and the copy still lands; so is a new/ removed alone (the
 * rename says ENOENT).
 */
static void
test_deliver_tree_remembered(void **state)
{
	char root[] = "/tmp/decorum-maildir-XXXXXX", path[PATH_MAX];
	struct deliver_request req;
	struct deliver_result res;
	int fd;

	(void)state;
	fd = setup_mailboxes(root, &req);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	snprintf(path, sizeof(path), "%s/example.net/bob/cur", root);
	assert_int_equal(rmdir(path), 0);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	assert_int_equal(count_files(root, "example.net/bob/new"), 2);
	assert_int_equal(count_files(root, "example.net/bob/cur"), -1);

	snprintf(path, sizeof(path), "%s/example.net", root);
	tu_rmtree(path);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	assert_int_equal(count_files(root, "example.net/bob/new"), 1);
	assert_int_equal(count_files(root, "example.net/bob/cur"), 0);

	snprintf(path, sizeof(path), "%s/example.net/bob/new", root);
	tu_rmtree(path);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	assert_int_equal(count_files(root, "example.net/bob/new"), 1);
	assert_int_equal(count_files(root, "example.net/bob/tmp"), 0);
	close(fd);
	tu_rmtree(root);
}

/* A request with a folder: the copy lands in <box>/.Junk/new (made on
 * demand as a Maildir++ folder: tmp/ new/ cur/ 0700, an empty
 * maildirfolder 0600), the inbox is made but stays empty, and a second
 * copy finds the folder ready. */
static void
test_deliver_folder(void **state)
{
	char root[] = "/tmp/decorum-maildir-XXXXXX", path[PATH_MAX], *got;
	static const char *const subs[] = { "tmp", "new", "cur" };
	struct deliver_request req;
	struct deliver_result res;
	struct stat st;
	size_t len;
	int fd;

	(void)state;
	fd = setup_mailboxes(root, &req);
	req.folder = ".Junk";
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);

	assert_int_equal(count_files(root, "example.net/bob/new"), 0);
	assert_int_equal(count_files(root, "example.net/bob/cur"), 0);
	assert_int_equal(count_files(root, "example.net/bob/.Junk/new"), 2);
	assert_int_equal(count_files(root, "example.net/bob/.Junk/tmp"), 0);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/example.net/bob/.Junk/%s",
		    root, subs[i]);
		assert_int_equal(lstat(path, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	snprintf(path, sizeof(path), "%s/example.net/bob/.Junk", root);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/example.net/bob/.Junk/maildirfolder",
	    root);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 0);

	/* The copy is the inbox's bytes. */
	got = slurp_first(root, "example.net/bob/.Junk/new", &len);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);

	/* A sub-folder name (Maildir++ '.' separator) is one entry too. */
	req.folder = ".Junk.Old";
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	assert_int_equal(count_files(root, "example.net/bob/.Junk.Old/new"), 1);
	close(fd);
	tu_rmtree(root);
}

/* What the folder never does: follow a link (the folder, or its new/),
 * accept a name that leaves the mailbox, or bounce: every refusal is a
 * temporary failure, and nothing is written through the link. */
static void
test_deliver_folder_refused(void **state)
{
	char root[] = "/tmp/decorum-maildir-XXXXXX", path[PATH_MAX];
	char elsewhere[PATH_MAX];
	static const char *const bad[] = { ".", "..", "Junk", "./x", ".a/b",
	    "" };
	struct deliver_request req;
	struct deliver_result res;
	int fd;

	(void)state;
	fd = setup_mailboxes(root, &req);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req.folder = bad[i];
		maildir_deliver(&req, &res);
		assert_int_equal(res.status, DELIVER_TEMPFAIL);
		assert_string_equal(res.code, "4.2.0");
	}
	assert_int_equal(count_files(root, "example.net/bob/new"), 0);

	/* The folder a symbolic link to another folder. */
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", root);
	assert_int_equal(mkdir(elsewhere, 0700), 0);
	snprintf(path, sizeof(path), "%s/example.net/bob/.Junk", root);
	assert_int_equal(symlink(elsewhere, path), 0);
	req.folder = ".Junk";
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_TEMPFAIL);
	assert_int_equal(count_files(root, "elsewhere"), 0);

	/* A real folder whose new/ is a link. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/example.net/bob/.Junk/new", root);
	assert_int_equal(symlink(elsewhere, path), 0);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_TEMPFAIL);
	assert_int_equal(count_files(root, "elsewhere"), 0);

	/* A link as the marker file is not written through either. */
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/example.net/bob/.Junk/maildirfolder",
	    root);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere/target", root);
	assert_int_equal(symlink(elsewhere, path), 0);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	assert_int_equal(count_files(root, "elsewhere"), 0);
	assert_int_equal(count_files(root, "example.net/bob/.Junk/new"), 1);
	close(fd);
	tu_rmtree(root);
}

/* dir/name, a regular file, its mtime set to when. */
static void
stale_file(const char *dir, const char *name, time_t when)
{
	char path[2 * PATH_MAX];
	struct timespec ts[2];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	tu_spit(path, "half a message");
	ts[0].tv_sec = ts[1].tv_sec = when;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static bool
exists_in(const char *dir, const char *name)
{
	char path[2 * PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* A Maildir at root/example.net/LOCAL with its three folders. */
static void
make_maildir(const char *root, const char *local, char *box, size_t boxlen)
{
	char path[PATH_MAX];
	static const char *const subs[] = { "tmp", "new", "cur" };

	snprintf(path, sizeof(path), "%s/example.net", root);
	mkdir(path, 0700);
	snprintf(box, boxlen, "%s/example.net/%s", root, local);
	assert_int_equal(mkdir(box, 0700), 0);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", box, subs[i]);
		assert_int_equal(mkdir(path, 0700), 0);
	}
}

/* The change time of dir/name (which no test can set back). */
static time_t
ctime_of(const char *dir, const char *name)
{
	char path[2 * PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(lstat(path, &st), 0);
	return st.st_ctime;
}

/*
 * What is removed: regular files whose ctime is 36 hours old and more,
 * exactly; the mtime does not count (a mail reader sets it to the
 * message's date while the file is still being saved).  A ctime cannot
 * be set back, so the sweep's clock moves instead.
 */
static void
test_tmp_sweep(void **state)
{
	char root[] = "/tmp/decorum-maildir-XXXXXX", box[PATH_MAX];
	char tmp[PATH_MAX + 8], path[PATH_MAX + 16], outside[PATH_MAX];
	time_t now = time(NULL), c;
	struct timespec ts[2];

	(void)state;
	assert_non_null(tu_mkdtemp(root));
	make_maildir(root, "bob", box, sizeof(box));
	snprintf(tmp, sizeof(tmp), "%s/tmp", box);
	/* Saved right now by a mail reader, dated 40 hours back. */
	stale_file(tmp, "1600000000.M1P2.host", now - 40 * 3600);
	stale_file(tmp, ".dot-file", now - MAILDIR_TMP_STALE - 3600);
	/* Not files: a folder and a symbolic link (to an old file outside,
	 * which must not be touched either). */
	snprintf(path, sizeof(path), "%s/folder", tmp);
	assert_int_equal(mkdir(path, 0700), 0);
	ts[0].tv_sec = ts[1].tv_sec = now - 2 * MAILDIR_TMP_STALE;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	snprintf(outside, sizeof(outside), "%s/elsewhere", root);
	stale_file(root, "elsewhere", now - 2 * MAILDIR_TMP_STALE);
	snprintf(path, sizeof(path), "%s/link", tmp);
	assert_int_equal(symlink(outside, path), 0);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);

	/* Now: every mtime is old, every ctime fresh: nothing goes. */
	assert_int_equal(maildir_tmp_sweep(box, time(NULL), MAILDIR_TMP_STALE,
	    MAILDIR_TMP_SCAN_MAX), 0);
	assert_true(exists_in(tmp, "1600000000.M1P2.host"));
	assert_true(exists_in(tmp, ".dot-file"));
	/* A second short of 36 hours after the older ctime: kept... */
	c = ctime_of(tmp, "1600000000.M1P2.host");
	assert_int_equal(maildir_tmp_sweep(box, c + MAILDIR_TMP_STALE - 1,
	    MAILDIR_TMP_STALE, MAILDIR_TMP_SCAN_MAX), 0);
	/* ...36 hours after the younger: both removed, the others stay. */
	if (ctime_of(tmp, ".dot-file") > c)
		c = ctime_of(tmp, ".dot-file");
	assert_int_equal(maildir_tmp_sweep(box, c + MAILDIR_TMP_STALE,
	    MAILDIR_TMP_STALE, MAILDIR_TMP_SCAN_MAX), 2);
	assert_false(exists_in(tmp, "1600000000.M1P2.host"));
	assert_false(exists_in(tmp, ".dot-file"));
	assert_int_equal(maildir_tmp_sweep(box, c + 3 * MAILDIR_TMP_STALE,
	    MAILDIR_TMP_STALE, MAILDIR_TMP_SCAN_MAX), 0);
	assert_true(exists_in(tmp, "folder"));
	assert_true(exists_in(tmp, "link"));
	assert_true(exists_in(root, "elsewhere"));
	/* No tmp/ at all: nothing to do, no harm. */
	snprintf(path, sizeof(path), "%s/nothing-here", root);
	assert_int_equal(maildir_tmp_sweep(path, now, MAILDIR_TMP_STALE,
	    MAILDIR_TMP_SCAN_MAX), 0);
	tu_rmtree(root);
}

/* One file, both sides of the boundary exactly: ctime + 36 h - 1 s
 * keeps it, ctime + 36 h removes it. */
static void
test_tmp_sweep_boundary(void **state)
{
	char root[] = "/tmp/decorum-maildir-XXXXXX", box[PATH_MAX];
	char tmp[PATH_MAX + 8];
	time_t c;

	(void)state;
	assert_non_null(tu_mkdtemp(root));
	make_maildir(root, "bob", box, sizeof(box));
	snprintf(tmp, sizeof(tmp), "%s/tmp", box);
	stale_file(tmp, "saving", time(NULL) - 40 * 3600);
	c = ctime_of(tmp, "saving");
	assert_int_equal(maildir_tmp_sweep(box, c + MAILDIR_TMP_STALE - 1,
	    MAILDIR_TMP_STALE, MAILDIR_TMP_SCAN_MAX), 0);
	assert_true(exists_in(tmp, "saving"));
	assert_int_equal(maildir_tmp_sweep(box, c + MAILDIR_TMP_STALE,
	    MAILDIR_TMP_STALE, MAILDIR_TMP_SCAN_MAX), 1);
	assert_false(exists_in(tmp, "saving"));
	tu_rmtree(root);
}

/* At most max_entries entries a sweep (the agent's is
 * MAILDIR_TMP_SCAN_MAX): the rest next time. */
static void
test_tmp_sweep_limit(void **state)
{
	enum { LIMIT = 5 };
	char root[] = "/tmp/decorum-maildir-XXXXXX", box[PATH_MAX];
	char tmp[PATH_MAX + 8], name[32];
	time_t later;
	unsigned i;

	(void)state;
	assert_non_null(tu_mkdtemp(root));
	make_maildir(root, "bob", box, sizeof(box));
	snprintf(tmp, sizeof(tmp), "%s/tmp", box);
	for (i = 0; i < LIMIT; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		stale_file(tmp, name, time(NULL));
	}
	later = time(NULL) + MAILDIR_TMP_STALE + 60;
	assert_int_equal(maildir_tmp_sweep(box, later, MAILDIR_TMP_STALE,
	    LIMIT), LIMIT);
	for (i = 0; i <= LIMIT; i++) {
		snprintf(name, sizeof(name), "g%u", i);
		stale_file(tmp, name, time(NULL));
	}
	assert_int_equal(maildir_tmp_sweep(box, later, MAILDIR_TMP_STALE,
	    LIMIT), LIMIT);
	assert_int_equal(maildir_tmp_sweep(box, later, MAILDIR_TMP_STALE,
	    LIMIT), 1);
	assert_int_equal(maildir_tmp_sweep(box, later, MAILDIR_TMP_STALE,
	    LIMIT), 0);
	tu_rmtree(root);
}

/* Once per mailbox per interval, whatever the number of deliveries. */
static void
test_tmp_due(void **state)
{
	const char *a = "/srv/mail/example.net/due-a";
	const char *b = "/srv/mail/example.net/due-b";
	int64_t t = 1700000000;

	(void)state;
	assert_true(maildir_tmp_due(a, t));
	assert_false(maildir_tmp_due(a, t));
	assert_false(maildir_tmp_due(a, t + MAILDIR_TMP_SWEEP_INTERVAL - 1));
	assert_true(maildir_tmp_due(b, t));
	assert_true(maildir_tmp_due(a, t + MAILDIR_TMP_SWEEP_INTERVAL));
	assert_false(maildir_tmp_due(a, t + MAILDIR_TMP_SWEEP_INTERVAL + 1));
	/* The clock went back: due at once, then counted from there. */
	assert_true(maildir_tmp_due(a, t));
	assert_false(maildir_tmp_due(a, t + 1));
	assert_false(maildir_tmp_due(b, t + 1));
}

/*
 * The agent sweeps before its first delivery to a mailbox (the mailbox
 * is marked swept), on its own clock: a file a mail reader is saving,
 * dated 40 hours back, stays.  (What a sweep removes, on a moved clock:
 * test_tmp_sweep.)
 */
static void
test_deliver_sweeps_tmp(void **state)
{
	char root[] = "/tmp/decorum-maildir-XXXXXX", box[PATH_MAX];
	char tmp[PATH_MAX + 8], path[PATH_MAX];
	struct deliver_request req;
	struct deliver_result res;
	time_t now = time(NULL);
	int fd;

	(void)state;
	assert_non_null(tu_mkdtemp(root));
	snprintf(path, sizeof(path), "%s/data", root);
	tu_spit(path, msg);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	make_maildir(root, "bob", box, sizeof(box));
	snprintf(tmp, sizeof(tmp), "%s/tmp", box);
	stale_file(tmp, "being-saved", now - 40 * 3600);
	setup_req(&req, root, fd);
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	assert_true(exists_in(tmp, "being-saved"));
	/* It looked: the mailbox is not due again within the interval. */
	assert_false(maildir_tmp_due(box, (int64_t)time(NULL)));
	close(fd);
	tu_rmtree(root);
}

/* The spool data file of the copy tests: root/data, open for reading. */
static int
data_file(const char *root, const char *data, size_t dlen)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/data", root);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, dlen), (ssize_t)dlen);
	close(fd);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	return fd;
}

/* bob's new/ under root holds n files, each expect[0..wlen). */
static void
assert_copies(const char *root, const char *expect, size_t wlen, int n)
{
	char path[PATH_MAX];
	struct dirent *de;
	size_t len;
	int found = 0;
	char *got;
	DIR *d;

	snprintf(path, sizeof(path), "%s/example.net/bob/new", root);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char file[2 * PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		found++;
		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		got = tu_slurp(file, &len);
		assert_non_null(got);
		assert_int_equal(len, wlen);
		assert_memory_equal(got, expect, wlen);
		free(got);
	}
	closedir(d);
	assert_int_equal(found, n);
}

/* Delivers data[0..dlen) to bob, its size known (and, with unknown,
 * again with it unknown), and checks each copy is expect[0..wlen). */
static void
copy_and_check(const char *data, size_t dlen, const char *expect,
    size_t wlen, bool unknown)
{
	char root[] = "/tmp/decorum-maildir-XXXXXX";
	struct deliver_request req;
	struct deliver_result res;
	int fd;

	assert_non_null(tu_mkdtemp(root));
	fd = data_file(root, data, dlen);
	setup_req(&req, root, fd);
	req.data_size = (int64_t)dlen;
	maildir_deliver(&req, &res);
	assert_int_equal(res.status, DELIVER_OK);
	if (unknown) {
		req.data_size = -1;
		maildir_deliver(&req, &res);
		assert_int_equal(res.status, DELIVER_OK);
	}
	assert_copies(root, expect, wlen, unknown ? 2 : 1);
	close(fd);
	tu_rmtree(root);
}

/*
 * Lone CRs (kept) past the 64 KiB output buffer, on both parities of the
 * buffer's fill: each "\rx" puts two bytes in it for one byte read, the
 * header fields start it off, and a last lone CR ends the data.  The
 * copy is the same whether the data's size is known or not.
 */
static void
test_deliver_lone_cr_buffer(void **state)
{
	static const char head[] = "Return-Path: <s@example.org>\n"
	    "Delivered-To: bob@example.net\n";
	const size_t pairs = 70000;

	(void)state;
	for (int odd = 0; odd < 2; odd++) {
		size_t dlen = (size_t)odd + 2 * pairs + 3, wlen, o = 0;
		char *data = malloc(dlen), *want2;

		if (odd)
			data[o++] = 'a';
		for (size_t i = 0; i < pairs; i++) {
			data[o++] = '\r';
			data[o++] = 'x';
		}
		memcpy(data + o, "\r\n\r", 3);
		wlen = sizeof(head) - 1 + dlen - 1;
		want2 = malloc(wlen);
		assert_non_null(data);
		assert_non_null(want2);
		memcpy(want2, head, sizeof(head) - 1);
		memcpy(want2 + sizeof(head) - 1, data, dlen - 3);
		memcpy(want2 + wlen - 2, "\n\r", 2);
		copy_and_check(data, dlen, want2, wlen, true);
		free(data);
		free(want2);
	}
}

/* A CRLF split by the 64 KiB reads (the CR last of one, the LF first of
 * the next) becomes one LF, like any other. */
static void
test_deliver_crlf_across_reads(void **state)
{
	static const char head[] = "Return-Path: <s@example.org>\n"
	    "Delivered-To: bob@example.net\n";
	const size_t dlen = 65535 + 2 + 3, wlen = sizeof(head) - 1 + 65535 + 3;
	char *data = malloc(dlen), *want2 = malloc(wlen);

	(void)state;
	assert_non_null(data);
	assert_non_null(want2);
	memset(data, 'a', 65535);
	memcpy(data + 65535, "\r\nb\r\n", 5);
	memcpy(want2, head, sizeof(head) - 1);
	memset(want2 + sizeof(head) - 1, 'a', 65535);
	memcpy(want2 + wlen - 3, "\nb\n", 3);
	copy_and_check(data, dlen, want2, wlen, false);
	free(data);
	free(want2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deliver),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_deliver_tree_remembered),
		cmocka_unit_test(test_deliver_folder),
		cmocka_unit_test(test_deliver_folder_refused),
		cmocka_unit_test(test_tmp_sweep),
		cmocka_unit_test(test_tmp_sweep_boundary),
		cmocka_unit_test(test_tmp_sweep_limit),
		cmocka_unit_test(test_tmp_due),
		cmocka_unit_test(test_deliver_sweeps_tmp),
		cmocka_unit_test(test_deliver_lone_cr_buffer),
		cmocka_unit_test(test_deliver_crlf_across_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
