/*
 * The config tests' fixture: a temporary folder holding decorum.conf,
 * and the two checks every config test makes: a text that loads, and a
 * text that fails on a given line with a given message and leaves
 * nothing allocated.  Each test file defines its own BASE config.
 */
#ifndef DECORUM_TESTS_CONFIG_FIXTURE_H
#define DECORUM_TESTS_CONFIG_FIXTURE_H

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "testutil.h"

static char tmpdir[PATH_MAX];
static char conf[PATH_MAX + 32];

/* config_load resolves the folder: compare against the real path. */
static inline int
config_fixture_setup(const char *template)
{
	if (tu_mkdtemp_real(tmpdir, sizeof(tmpdir), template) != 0)
		return -1;
	snprintf(conf, sizeof(conf), "%s/decorum.conf", tmpdir);
	return 0;
}

static inline int
teardown(void **state)
{
	(void)state;
	return tu_rmtree(tmpdir);
}

static inline void
load_ok(const char *text, struct config *cfg)
{
	struct config_error err;

	tu_spit(conf, text);
	if (config_load(conf, cfg, &err) < 0)
		fail_msg("%s:%d: %s", err.file, err.line, err.message);
}

/* Load text, expect failure on line (0: none) of this file with a
 * message containing needle; a failed load leaves cfg all zero, so
 * nothing is allocated (config.h's invariant). */
static inline void
expect_error(const char *text, int line, const char *needle)
{
	static const struct config zero;
	struct config cfg;
	struct config_error err;

	tu_spit(conf, text);
	assert_int_equal(config_load(conf, &cfg, &err), -1);
	if (strstr(err.message, needle) == NULL || err.line != line)
		fail_msg("got %s:%d: %s; want line %d with \"%s\"", err.file,
		    err.line, err.message, line, needle);
	assert_string_equal(err.file, conf);
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
}

#endif
