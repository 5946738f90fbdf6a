/*
 * Unit tests of src/common/safedir.c on a real file system, as root (the
 * master's case; the tests refuse to run otherwise): folders created with
 * their parents, owner and mode fixed through the descriptor, and every
 * refusal: a symbolic link as the folder or a parent, a parent owned or
 * writable by the guarded account or writable by everyone, the sticky
 * exception and its limit, "." and "..".  A check run (create false)
 * changes nothing.  A folder that stays root's (safedir_open_kept) and
 * the entries in it (safedir_check_kept_at): owner, writers, links.  The guarded account is uid/gid 65534 with one group.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/safedir.h"
#include "testutil.h"

#define NOBODY	65534
#define OTHER_GID	4242	/* a group the account is not in */

static char root[PATH_MAX];

static int
setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "test_safedir must run as root\n");
		return -1;
	}
	umask(022);
	return tu_mkdtemp_real(root, sizeof(root), "/tmp/decorum-safedir-XXXXXX");
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmtree(root);
}

static struct safedir_owner
guarded(void)
{
	struct safedir_owner o = { .guard = true, .uid = NOBODY, .gid = NOBODY,
	    .name = "nobody", .groups = { NOBODY }, .n_groups = 1 };

	return o;
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

static struct stat
st_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st;
}

static void
mkdir_mode(const char *path, mode_t mode, uid_t uid, gid_t gid)
{
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(chown(path, uid, gid), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* prepare (create) path, expecting failure with needle in the error. */
static void
refused(const char *path, const char *needle)
{
	struct safedir_owner o = guarded();
	struct safedir_change ch;
	char err[512] = "";

	assert_int_equal(safedir_prepare(path, &o, 0700, 0, true, &ch, err,
	    sizeof(err)), -1);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void
test_create_with_parents(void **state)
{
	struct safedir_owner o = guarded();
	struct safedir_change ch;
	char err[512];
	struct stat st;

	(void)state;
	umask(077);	/* the parents must still be searchable */
	assert_int_equal(safedir_prepare(at("a//b/spool/"), &o, 0700, 0, true,
	    &ch, err, sizeof(err)), 0);
	umask(022);
	assert_true(ch.created);
	st = st_of(at("a"));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_uid, 0);
	st = st_of(at("a/b/spool"));
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_uid, NOBODY);
	assert_int_equal(st.st_gid, NOBODY);
	/* Again: nothing left to change. */
	assert_int_equal(safedir_prepare(at("a/b/spool"), &o, 0700, 0, true,
	    &ch, err, sizeof(err)), 0);
	assert_false(ch.created || ch.chowned || ch.chmoded);
}

static void
test_fix_owner_and_mode(void **state)
{
	struct safedir_owner o = guarded();
	struct safedir_change ch;
	char err[512];

	(void)state;
	mkdir_mode(at("spool"), 0777, 0, 0);
	mkdir_mode(at("mail"), 0777, 0, 0);
	mkdir_mode(at("mail2"), 02705, 0, 0);
	/* A check run says what it would do and does nothing. */
	assert_int_equal(safedir_prepare(at("spool"), &o, 0700, 0, false, &ch,
	    err, sizeof(err)), 0);
	assert_true(ch.chowned && ch.chmoded && !ch.created);
	assert_int_equal(ch.old_mode, 0777);
	assert_int_equal(ch.new_mode, 0700);
	assert_int_equal(st_of(at("spool")).st_mode & 07777, 0777);
	assert_int_equal(st_of(at("spool")).st_uid, 0);

	assert_int_equal(safedir_prepare(at("spool"), &o, 0700, 0, true, &ch,
	    err, sizeof(err)), 0);
	assert_int_equal(st_of(at("spool")).st_mode & 07777, 0700);
	assert_int_equal(st_of(at("spool")).st_uid, NOBODY);
	/* Mailboxes keep group read and search, nothing else. */
	assert_int_equal(safedir_prepare(at("mail"), &o, 0700, 0050, true, &ch,
	    err, sizeof(err)), 0);
	assert_int_equal(st_of(at("mail")).st_mode & 07777, 0750);
	assert_int_equal(safedir_prepare(at("mail2"), &o, 0700, 0050, true, &ch,
	    err, sizeof(err)), 0);
	assert_int_equal(st_of(at("mail2")).st_mode & 07777, 0700);
}

/* No account to guard against: the folder becomes the caller's. */
static void
test_unguarded(void **state)
{
	struct safedir_owner o = { .guard = false };
	struct safedir_change ch;
	char err[512];

	(void)state;
	mkdir_mode(at("spool"), 0755, NOBODY, NOBODY);
	assert_int_equal(safedir_prepare(at("spool"), &o, 0700, 0, true, &ch,
	    err, sizeof(err)), 0);
	assert_true(ch.chowned);
	assert_int_equal(ch.old_uid, NOBODY);
	assert_int_equal(st_of(at("spool")).st_uid, 0);
	assert_int_equal(st_of(at("spool")).st_mode & 07777, 0700);
}

static void
test_symlinks(void **state)
{
	struct stat before;

	(void)state;
	/* The reproduced attack: the folder replaced by a link to a
	 * root-owned folder, which must come out untouched. */
	mkdir_mode(at("victim"), 0755, 0, 0);
	before = st_of(at("victim"));
	assert_int_equal(symlink(at("victim"), at("spool")), 0);
	refused(at("spool"), "is a symbolic link (to ");
	assert_int_equal(st_of(at("victim")).st_uid, 0);
	assert_int_equal(st_of(at("victim")).st_mode, before.st_mode);
	/* A link anywhere above it. */
	mkdir_mode(at("real"), 0755, 0, 0);
	assert_int_equal(symlink("real", at("link")), 0);
	refused(at("link/spool"), "/link is a symbolic link (to real)");
	assert_int_equal(access(at("real/spool"), F_OK), -1);
	/* A dangling link is still a link, not a name to create. */
	assert_int_equal(symlink("nowhere", at("dangling")), 0);
	refused(at("dangling"), "is a symbolic link");
	assert_int_equal(access(at("nowhere"), F_OK), -1);
}

static void
test_parents(void **state)
{
	(void)state;
	/* Owned by the account: it could swap what the folder holds. */
	mkdir_mode(at("box"), 0755, NOBODY, NOBODY);
	refused(at("box/spool"), "/box is owned by uid 65534");
	/* Writable through the account's group. */
	mkdir_mode(at("grp"), 0775, 0, NOBODY);
	refused(at("grp/spool"), "/grp is writable by user nobody");
	/* Writable by everyone. */
	mkdir_mode(at("world"), 0777, 0, 0);
	refused(at("world/spool"), "/world is writable by everyone");
	/* A group the account is not in may write (Debian's /var/mail is
	 * root:mail 2775). */
	mkdir_mode(at("mailgrp"), 02775, 0, OTHER_GID);
	{
		struct safedir_owner o = guarded();
		struct safedir_change ch;
		char err[512];

		assert_int_equal(safedir_prepare(at("mailgrp/decorum"), &o,
		    0700, 0, true, &ch, err, sizeof(err)), 0);
	}
	/* Nothing was created where it was refused. */
	assert_int_equal(access(at("box/spool"), F_OK), -1);
	assert_int_equal(access(at("world/spool"), F_OK), -1);
}

/* /tmp-like: sticky and world-writable.  Root's entries in it are safe,
 * the account's own folder there is not (it could rename it away). */
static void
test_sticky(void **state)
{
	struct safedir_owner o = guarded(), none = { .guard = false };
	struct safedir_change ch;
	char err[512];

	(void)state;
	mkdir_mode(at("tmp"), 01777, 0, 0);
	mkdir_mode(at("tmp/mine"), 0755, 0, 0);
	assert_int_equal(safedir_prepare(at("tmp/mine/spool"), &o, 0700, 0,
	    true, &ch, err, sizeof(err)), 0);
	refused(at("tmp/spool"), "/tmp is writable by everyone");
	mkdir_mode(at("tmp/theirs"), 0755, NOBODY, NOBODY);
	refused(at("tmp/theirs/spool"), "/tmp/theirs is owned by uid 65534 in "
	    "a folder others can write");
	/* With no account to hand over to, root's folder in it is fine. */
	assert_int_equal(safedir_prepare(at("tmp/spool"), &none, 0700, 0, true,
	    &ch, err, sizeof(err)), 0);
	assert_int_equal(st_of(at("tmp/spool")).st_uid, 0);
}

static void
test_bad_paths(void **state)
{
	(void)state;
	refused("relative/spool", "absolute");
	refused("/", "absolute path below /");
	refused(at("x/../y"), "must not hold");
	refused(at("x/./y"), "must not hold");
	/* Refused before anything is made. */
	assert_int_equal(access(at("x"), F_OK), -1);
	tu_spit(at("file"), "not a folder\n");
	refused(at("file"), "is not a folder");
	refused(at("file/spool"), "is not a folder");
}

/* check only: a missing folder is no problem, and nothing appears. */
static void
test_check_only(void **state)
{
	struct safedir_owner o = guarded();
	struct safedir_change ch;
	char err[512];

	(void)state;
	assert_int_equal(safedir_prepare(at("new/spool"), &o, 0700, 0, false,
	    &ch, err, sizeof(err)), 0);
	assert_true(ch.created);
	assert_int_equal(access(at("new"), F_OK), -1);
	assert_int_equal(symlink("/", at("l")), 0);
	assert_int_equal(safedir_prepare(at("l/spool"), &o, 0700, 0, false,
	    &ch, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symbolic link"));
}

/* A folder that stays root's (the domains tree): checked, never
 * changed, refused when the account could write it or when it is not
 * root's; entries in it the same, links refused. */
static void
test_kept(void **state)
{
	struct safedir_owner o = guarded(), none = { .guard = false };
	char err[512];
	int fd, sub;

	(void)state;
	assert_int_equal(safedir_open_kept(at("none/domains"), &o, err,
	    sizeof(err)), -2);
	assert_int_equal(access(at("none"), F_OK), -1);
	mkdir_mode(at("domains"), 0755, 0, 0);
	mkdir_mode(at("domains/a.test"), 0755, 0, 0);
	tu_spit(at("domains/a.test/users"), "ann:\n");
	fd = safedir_open_kept(at("domains"), &o, err, sizeof(err));
	assert_true(fd >= 0);
	assert_int_equal(safedir_check_kept_at(fd, at("domains"), "a.test",
	    &o, &sub, err, sizeof(err)), 0);
	assert_true(sub >= 0);
	assert_int_equal(safedir_check_kept_at(sub, "a.test", "users", &o,
	    NULL, err, sizeof(err)), 0);
	assert_int_equal(safedir_check_kept_at(sub, "a.test", "none", &o,
	    NULL, err, sizeof(err)), 0);
	/* The account's group may write the file: refused. */
	assert_int_equal(chown(at("domains/a.test/users"), 0, NOBODY), 0);
	assert_int_equal(chmod(at("domains/a.test/users"), 0660), 0);
	assert_int_equal(safedir_check_kept_at(sub, "a.test", "users", &o,
	    NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "a.test/users is writable by user "
	    "nobody (through group 65534)"));
	/* Group read is what the daemon needs, and is fine. */
	assert_int_equal(chmod(at("domains/a.test/users"), 0640), 0);
	assert_int_equal(safedir_check_kept_at(sub, "a.test", "users", &o,
	    NULL, err, sizeof(err)), 0);
	close(sub);
	/* Owned by the account. */
	mkdir_mode(at("domains/b.test"), 0755, NOBODY, NOBODY);
	assert_int_equal(safedir_check_kept_at(fd, at("domains"), "b.test",
	    &o, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/domains/b.test is owned by uid 65534"));
	/* Writable by everyone, even sticky. */
	mkdir_mode(at("domains/c.test"), 01777, 0, 0);
	assert_int_equal(safedir_check_kept_at(fd, at("domains"), "c.test",
	    &none, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "c.test is writable by everyone"));
	/* A link, wherever it points. */
	assert_int_equal(symlink("a.test", at("domains/d.test")), 0);
	assert_int_equal(safedir_check_kept_at(fd, at("domains"), "d.test",
	    &o, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "d.test is a symbolic link (to a.test)"));
	close(fd);
	/* The folder itself, and its parents by the usual rules. */
	assert_int_equal(chmod(at("domains"), 0775), 0);
	assert_int_equal(chown(at("domains"), 0, NOBODY), 0);
	assert_int_equal(safedir_open_kept(at("domains"), &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "/domains is writable by user nobody"));
	assert_int_equal(chmod(at("domains"), 0755), 0);
	mkdir_mode(at("box"), 0755, NOBODY, NOBODY);
	mkdir_mode(at("box/domains"), 0755, 0, 0);
	assert_int_equal(safedir_open_kept(at("box/domains"), &o, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "parent "));
	assert_non_null(strstr(err, "/box is owned by uid 65534"));
	/* In a sticky folder, root's folder is as safe as any parent. */
	mkdir_mode(at("tmp"), 01777, 0, 0);
	mkdir_mode(at("tmp/domains"), 0755, 0, 0);
	fd = safedir_open_kept(at("tmp/domains"), &o, err, sizeof(err));
	assert_true(fd >= 0);
	close(fd);
	/* Nothing was changed by any of it. */
	assert_int_equal(st_of(at("domains/b.test")).st_uid, NOBODY);
	assert_int_equal(st_of(at("domains/c.test")).st_mode & 07777, 01777);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_with_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fix_owner_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unguarded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sticky, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kept, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
