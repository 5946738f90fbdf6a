/*
 * The operator's commands on a Redis greylist (store.h's
 * greylist_admin_*, backend.h's list/allow/purge for redis:// URLs):
 * synchronous, with hiredis's blocking API and a timeout, for the
 * `decorum greylist` CLI, which has no loop to keep.
 */
#ifndef DECORUM_GREYLIST_REDIS_ADMIN_H
#define DECORUM_GREYLIST_REDIS_ADMIN_H

#include "greylist/store.h"

int redis_admin_list(const char *url, const char *state_dir,
    greylist_list_cb cb, void *arg, char *err, size_t errlen);
int redis_admin_allow(const char *url, const char *state_dir,
    const struct greylist_params *p, const char *net, time_t now,
    char *err, size_t errlen);
int redis_admin_purge(const char *url, const char *state_dir,
    const struct greylist_params *p, time_t now, unsigned *removed,
    char *err, size_t errlen);

#endif
