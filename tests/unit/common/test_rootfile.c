/*
 * Unit tests of src/common/rootfile.c on a real file system, as root (the
 * master's case; the tests refuse to run otherwise): files root reads for
 * the daemon are opened through links, as Let's Encrypt's live/ needs,
 * and refused when anything met on the way (a folder, a link, the file)
 * is the guarded account's or writable by it or by everyone, or lies in
 * one of the account's own folders; the scenario of the review (a key
 * kept in the state folder, swapped for a link to another service's
 * key) among them.  The guarded account is uid/gid 65534 with one group.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/rootfile.h"
#include "common/safedir.h"
#include "testutil.h"

#define NOBODY		65534
#define OTHER_GID	4242	/* a group the account is not in */

static char root[PATH_MAX];
static struct safedir_owner nobody = { .guard = true, .uid = NOBODY,
    .gid = NOBODY, .name = "nobody", .groups = { NOBODY }, .n_groups = 1 };

static int
setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "test_rootfile must run as root\n");
		return -1;
	}
	umask(022);
	if (tu_mkdtemp_real(root, sizeof(root), "/tmp/decorum-rootfile-XXXXXX") < 0)
		return -1;
	return chmod(root, 0755);
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmtree(root);
}

/* root/rel as a path. */
static const char *
at(const char *rel)
{
	static char buf[4][PATH_MAX + 64];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", root, rel);
	return buf[i];
}

static void
mkdir_mode(const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
	assert_int_equal(mkdir(at(rel), 0700), 0);
	assert_int_equal(chown(at(rel), uid, gid), 0);
	assert_int_equal(chmod(at(rel), mode), 0);
}

static void
file_mode(const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
	tu_spit(at(rel), "secret\n");
	assert_int_equal(chown(at(rel), uid, gid), 0);
	assert_int_equal(chmod(at(rel), mode), 0);
}

/* The rules of the daemon: nobody guarded, state and spool apart. */
static struct rootfile_rules
rules(const struct safedir_owner *o)
{
	static char state[PATH_MAX + 64], spool[PATH_MAX + 64];
	struct rootfile_rules r = { .o = o, .n_apart = 2 };

	snprintf(state, sizeof(state), "%s", at("state"));
	snprintf(spool, sizeof(spool), "%s", at("spool"));
	r.apart[0].name = "state";
	r.apart[0].path = state;
	r.apart[1].name = "spool";
	r.apart[1].path = spool;
	return r;
}

/* Opens rel, expecting real path want_real (relative to root). */
static void
opens(const char *rel, const char *want_real)
{
	struct rootfile_rules r = rules(&nobody);
	char real[PATH_MAX], err[512] = "";
	int fd;

	fd = rootfile_open(at(rel), &r, real, sizeof(real), err, sizeof(err));
	if (fd < 0)
		fail_msg("%s refused: %s", rel, err);
	close(fd);
	assert_string_equal(real, at(want_real));
}

/* Refused by the rules (-2), needle in the sentence. */
static void
refused_by(const struct safedir_owner *o, const char *rel,
    const char *needle)
{
	struct rootfile_rules r = rules(o);
	char err[512] = "";

	assert_int_equal(rootfile_open(at(rel), &r, NULL, 0, err,
	    sizeof(err)), -2);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void
refused(const char *rel, const char *needle)
{
	refused_by(&nobody, rel, needle);
}

static void
test_plain_and_links(void **state)
{
	(void)state;
	mkdir_mode("etc", 0755, 0, 0);
	file_mode("etc/key.pem", 0600, 0, 0);
	opens("etc/key.pem", "etc/key.pem");
	opens("etc//./key.pem", "etc/key.pem");
	/* Let's Encrypt: live/NAME/ holds relative links into archive/. */
	mkdir_mode("le", 0755, 0, 0);
	mkdir_mode("le/archive", 0700, 0, 0);
	mkdir_mode("le/archive/mx", 0755, 0, 0);
	file_mode("le/archive/mx/privkey1.pem", 0600, 0, 0);
	mkdir_mode("le/live", 0700, 0, 0);
	mkdir_mode("le/live/mx", 0755, 0, 0);
	assert_int_equal(symlink("../../archive/mx/privkey1.pem",
	    at("le/live/mx/privkey.pem")), 0);
	opens("le/live/mx/privkey.pem", "le/archive/mx/privkey1.pem");
	/* An absolute link to a folder, a link to a link. */
	assert_int_equal(symlink(at("le/live"), at("etc/live")), 0);
	assert_int_equal(symlink("live/mx/privkey.pem", at("etc/k")), 0);
	opens("etc/k", "le/archive/mx/privkey1.pem");
	/* A folder opens too (a tls_ca folder). */
	opens("le/archive/mx", "le/archive/mx");
}

static void
test_system_errors(void **state)
{
	struct rootfile_rules r = rules(&nobody);
	char err[512];

	(void)state;
	mkdir_mode("etc", 0755, 0, 0);
	assert_int_equal(rootfile_open(at("etc/missing"), &r, NULL, 0, err,
	    sizeof(err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(symlink("loop", at("etc/loop")), 0);
	assert_int_equal(rootfile_open(at("etc/loop"), &r, NULL, 0, err,
	    sizeof(err)), -1);
	assert_int_equal(errno, ELOOP);
	file_mode("etc/f", 0600, 0, 0);
	assert_int_equal(rootfile_open(at("etc/f/x"), &r, NULL, 0, err,
	    sizeof(err)), -1);
	assert_int_equal(errno, ENOTDIR);
	/* A FIFO is refused before it is opened: nothing blocks. */
	assert_int_equal(mkfifo(at("etc/fifo"), 0600), 0);
	refused("etc/fifo", "is not a regular file");
	assert_int_equal(rootfile_open("etc/f", &r, NULL, 0, err,
	    sizeof(err)), -2);
}

/* The account's own folders: never where the file is, nor the way. */
static void
test_apart(void **state)
{
	struct safedir_owner none = { .guard = false };

	(void)state;
	mkdir_mode("state", 0755, 0, 0);	/* not yet handed over */
	mkdir_mode("state/tls", 0755, 0, 0);
	file_mode("state/tls/key.pem", 0600, 0, 0);
	refused_by(&none, "state/tls/key.pem", "/state/tls is inside state");
	/* Named through a link from a good place. */
	mkdir_mode("etc", 0755, 0, 0);
	assert_int_equal(symlink(at("state/tls/key.pem"), at("etc/key.pem")), 0);
	refused_by(&none, "etc/key.pem", "is inside state");
	/* A link that lives in spool, to a good file. */
	mkdir_mode("spool", 0755, 0, 0);
	file_mode("etc/good.pem", 0600, 0, 0);
	assert_int_equal(symlink(at("etc/good.pem"), at("spool/k")), 0);
	refused_by(&none, "spool/k", "/spool/k is inside spool");
	/* The folder itself, as a tls_ca folder. */
	refused_by(&none, "spool", "/spool is spool, the daemon's user's folder");
	/* Only through the folder, back up by "..": nothing in it is used. */
	opens("state/../etc/good.pem", "etc/good.pem");
	/* A common prefix is not inside. */
	mkdir_mode("stately", 0755, 0, 0);
	file_mode("stately/k", 0600, 0, 0);
	opens("stately/k", "stately/k");
}

/* The review's scenario: the key kept in the state folder, which the
 * account owns; a worker swaps it for a link to another service's key.
 * The other key's own folders are fine, but the way there is not. */
static void
test_swapped_for_a_link(void **state)
{
	(void)state;
	mkdir_mode("other", 0700, 0, 0);
	file_mode("other/key.pem", 0600, 0, 0);
	mkdir_mode("srv", 0755, 0, 0);
	mkdir_mode("srv/tls", 0700, NOBODY, NOBODY);
	assert_int_equal(symlink(at("other/key.pem"), at("srv/tls/key.pem")), 0);
	assert_int_equal(lchown(at("srv/tls/key.pem"), NOBODY, NOBODY), 0);
	refused("srv/tls/key.pem", "/srv/tls is owned by nobody, the daemon's user");
	/* The same link in a root-owned folder, but owned by the account. */
	mkdir_mode("etc", 0755, 0, 0);
	assert_int_equal(symlink(at("other/key.pem"), at("etc/key.pem")), 0);
	assert_int_equal(lchown(at("etc/key.pem"), NOBODY, NOBODY), 0);
	refused("etc/key.pem", "/etc/key.pem is owned by nobody");
	/* Root's own link there is fine: only root could have made it. */
	assert_int_equal(lchown(at("etc/key.pem"), 0, 0), 0);
	opens("etc/key.pem", "other/key.pem");
	/* The file itself owned by the account. */
	file_mode("etc/mine.pem", 0600, NOBODY, NOBODY);
	refused("etc/mine.pem", "/etc/mine.pem is owned by nobody");
}

static void
test_writable(void **state)
{
	struct safedir_owner none = { .guard = false };

	(void)state;
	/* A folder on the way the account can write through its group. */
	mkdir_mode("g", 0775, 0, NOBODY);
	file_mode("g/k", 0600, 0, 0);
	refused("g/k", "/g is writable by user nobody (through group 65534)");
	/* A group the account is not in may write. */
	mkdir_mode("o", 0775, 0, OTHER_GID);
	file_mode("o/k", 0600, 0, 0);
	opens("o/k", "o/k");
	/* Everyone may write: refused even with no account to guard. */
	mkdir_mode("w", 0777, 0, 0);
	file_mode("w/k", 0600, 0, 0);
	refused_by(&none, "w/k", "/w is writable by everyone");
	/* Sticky: root's entry stays root's; the account's is refused. */
	mkdir_mode("t", 01777, 0, 0);
	file_mode("t/k", 0600, 0, 0);
	opens("t/k", "t/k");
	file_mode("t/n", 0600, NOBODY, NOBODY);
	refused("t/n", "/t/n is owned by nobody");
	/* The file itself: group or everyone may write it. */
	mkdir_mode("f", 0755, 0, 0);
	file_mode("f/gw", 0660, 0, NOBODY);
	refused("f/gw", "/f/gw is writable by user nobody");
	file_mode("f/ow", 0646, 0, 0);
	refused_by(&none, "f/ow", "/f/ow is writable by everyone");
	file_mode("f/og", 0660, 0, OTHER_GID);
	opens("f/og", "f/og");
	/* A folder named as the file: sticky does not help, since an
	 * entry added there (a CA) is as bad as one changed. */
	refused("t", "/t is writable by everyone");
	/* Unguarded, the account's group is just a group. */
	{
		struct rootfile_rules r = rules(&none);
		char err[512];
		int fd = rootfile_open(at("g/k"), &r, NULL, 0, err,
		    sizeof(err));

		assert_true(fd >= 0);
		close(fd);
		fd = rootfile_open(at("f/gw"), &r, NULL, 0, err, sizeof(err));
		assert_true(fd >= 0);
		close(fd);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_and_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_system_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swapped_for_a_link, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
