/*
 * Unit tests of the pid cache (src/common/pidcache.c): the cached id is
 * this process's, and a child made by fork() after the value was cached
 * sees its own id, not its parent's (the daemon's children log and make
 * queue ids with it), also in a grandchild.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/pidcache.h"

static void
test_cached_is_own(void **state)
{
	(void)state;
	assert_int_equal(pidcache_get(), getpid());
	assert_int_equal(pidcache_get(), getpid());
}

/* In a child: exit 0 when its cache holds its own id; depth more
 * generations below it checked too. */
static int
child_checks(int depth)
{
	pid_t pid;
	int status;

	if (pidcache_get() != getpid())
		return 1;
	if (depth == 0)
		return 0;
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0)
		_exit(child_checks(depth - 1));
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 3;
	return WEXITSTATUS(status) == 0 && pidcache_get() == getpid() ? 0 : 4;
}

static void
test_child_after_fork_sees_its_own(void **state)
{
	pid_t parent = pidcache_get(), pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_checks(2));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The parent keeps its own. */
	assert_int_equal(pidcache_get(), parent);
	assert_int_equal(parent, getpid());
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cached_is_own),
		cmocka_unit_test(test_child_after_fork_sees_its_own),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
