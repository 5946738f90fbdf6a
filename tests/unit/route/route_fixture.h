/*
 * The routing tests' fixture: a temporary domains folder, a config that
 * names a postmaster and the "+" delimiter, and the tables opened on it.
 * Each test file writes its own users/aliases/senders between
 * route_fixture_new() and route_fixture_open().
 */
#ifndef DECORUM_TESTS_ROUTE_FIXTURE_H
#define DECORUM_TESTS_ROUTE_FIXTURE_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "route/domains.h"
#include "testutil.h"

struct fixture {
	char dir[PATH_MAX];
	struct config cfg;
	struct domains *d;
};

/* NULL when the temporary folder cannot be made. */
static inline struct fixture *
route_fixture_new(const char *name)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	log_set_level(LOG_LEVEL_ERROR);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/decorum-%s-XXXXXX", name);
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return NULL;
	}
	fx->cfg.postmaster = strdup("admin@example.test");
	fx->cfg.recipient_delimiter = strdup("+");
	return fx;
}

static inline void
route_fixture_open(struct fixture *fx)
{
	fx->d = domains_open(fx->dir);
}

/* cmocka group teardown. */
static inline int
route_fixture_teardown(void **state)
{
	struct fixture *fx = *state;

	domains_free(fx->d);
	free(fx->cfg.postmaster);
	free(fx->cfg.recipient_delimiter);
	tu_rmtree(fx->dir);
	free(fx);
	return 0;
}

#endif
