/*
 * The routing tests' fixture: a temporary domains folder, a config that
 * names a postmaster and the "+" delimiter, and the tables opened on it
 * the way the daemons open them (domains_open_live, without a loop).
 * Each test file writes its own users/aliases/senders between
 * route_fixture_new() and route_fixture_open(); a test that changes the
 * files later calls route_fixture_refresh(), which does what the daemon's
 * next refresh would do once the files have been still for a second.
 * Files written by the tests are dated back (route_fixture_age), so
 * that nothing waits for them to be still.
 */
#ifndef DECORUM_TESTS_ROUTE_FIXTURE_H
#define DECORUM_TESTS_ROUTE_FIXTURE_H

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "route/domains.h"
#include "route/domains_priv.h"
#include "route/route.h"
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

static inline int
route_fixture_age_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	struct timespec t[2];

	(void)flag;
	(void)ftw;
	/* Only what was written lately: older files keep their identity,
	 * so the tests can see that unchanged tables are shared. */
	if (st->st_mtime < time(NULL) - 5)
		return 0;
	t[0].tv_sec = t[1].tv_sec = time(NULL) - 10;
	t[0].tv_nsec = t[1].tv_nsec = 0;
	return utimensat(AT_FDCWD, path, t, 0);
}

/* Date every file and folder written in the last seconds 10 s back. */
static inline void
route_fixture_age(struct fixture *fx)
{
	assert_int_equal(nftw(fx->dir, route_fixture_age_one, 16, FTW_PHYS), 0);
}

static inline void
route_fixture_open(struct fixture *fx)
{
	route_fixture_age(fx);
	fx->d = domains_open_live(fx->dir, NULL, NULL);
}

/* What the daemon's next refresh does, the files being still by then. */
static inline void
route_fixture_refresh(struct fixture *fx)
{
	struct timespec now, settle = { 0, 0 };

	route_fixture_age(fx);
	clock_gettime(CLOCK_REALTIME, &now);
	(void)domains_refresh_now(fx->d, &now, &settle);
}

/*
 * r, the routing of addr, has kind and, when dest is not NULL, one
 * destination "local@domain" ("remote:local@domain" for a remote one
 * when mark_remote); a failure names addr and the routing's reason.
 */
static inline void
route_fixture_check(const char *addr, const struct route_result *r,
    enum route_kind kind, const char *dest, bool mark_remote)
{
	char got[600];

	if (r->kind != kind)
		fail_msg("%s: kind %s, want %s (%s)", addr,
		    route_kind_name(r->kind), route_kind_name(kind), r->reason);
	if (dest == NULL)
		return;
	if (r->n_dests != 1)
		fail_msg("%s: %zu dests (%s)", addr, r->n_dests, r->reason);
	snprintf(got, sizeof(got), "%s%s@%s", mark_remote &&
	    r->dests[0].kind == ROUTE_REMOTE ? "remote:" : "",
	    r->dests[0].local, r->dests[0].domain);
	if (strcmp(got, dest) != 0)
		fail_msg("%s: dest %s, want %s (%s)", addr, got, dest,
		    r->reason);
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
