/* Small helpers shared by the queue tests: temp dirs and whole files. */
#ifndef DECORUM_TESTS_QUEUE_TESTUTIL_H
#define DECORUM_TESTS_QUEUE_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
tu_rmtree(const char *dir)
{
	nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline char *
tu_mkdtemp(char *tmpl)
{
	return mkdtemp(tmpl);
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

static inline void
tu_spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
}

#endif
