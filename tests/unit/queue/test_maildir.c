/*
 * Maildir delivery into a temporary folder: file in new/, LF line ends,
 * Return-Path and Delivered-To first, unique names, S= size, classified
 * failures.
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

#include "deliver/maildir.h"
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deliver),
		cmocka_unit_test(test_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
