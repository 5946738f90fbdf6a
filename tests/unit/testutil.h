/*
 * Helpers shared by the unit tests: temporary folders, whole files and
 * socket addresses.
 *
 * One copy for every test under tests/unit (tests/unit/meson.build puts
 * this folder on the include path).  Header-only, every function static
 * inline, so a test that uses a few of them needs no prototypes and warns
 * about none it leaves unused.  The writers check with cmocka's asserts:
 * a file the test cannot write fails that test.
 */
#ifndef DECORUM_TESTS_UNIT_TESTUTIL_H
#define DECORUM_TESTS_UNIT_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static inline int
tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Removes dir and everything below it; nftw's result (0 on success). */
static inline int
tu_rmtree(const char *dir)
{
	return nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *
tu_mkdtemp(char *tmpl)
{
	return mkdtemp(tmpl);
}

/*
 * Makes a folder from tmpl (ending in XXXXXX) and leaves its real path
 * (symbolic links resolved) in dir, for tests of code that resolves the
 * paths it is given.  0, or -1 when either step fails.
 */
static inline int
tu_mkdtemp_real(char *dir, size_t size, const char *tmpl)
{
	char *real;

	snprintf(dir, size, "%s", tmpl);
	if (mkdtemp(dir) == NULL)
		return -1;
	real = realpath(dir, NULL);
	if (real == NULL)
		return -1;
	snprintf(dir, size, "%s", real);
	free(real);
	return 0;
}

/* Reads a whole small file into a malloc'd NUL-terminated string. */
static inline char *
tu_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	if (fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		fclose(f);
		return NULL;
	}
	p[n] = '\0';
	fclose(f);
	if (len != NULL)
		*len = (size_t)n;
	return p;
}

/* Writes text as the whole of path. */
static inline void
tu_spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/*
 * Writes text as root/rel, making rel's folder first when it is missing
 * (one level: "domain/file").
 */
static inline void
tu_put(const char *root, const char *rel, const char *text)
{
	char path[PATH_MAX + 64], dir[PATH_MAX + 64];
	char *slash;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	mkdir(dir, 0755);
	tu_spit(path, text);
}

/* The socket address of a literal IPv4 or IPv6 address (port 0); one
 * that does not parse fails the test. */
static inline struct sockaddr_storage
tu_addr(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

#endif
