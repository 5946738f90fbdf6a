/*
 * Inside the greylist store (store.h): what a backend provides.  store.c
 * picks one by the URL's scheme and forwards the calls of store.h to it;
 * store_sqlite.c and store_redis.c each define one descriptor.  Nothing
 * outside src/greylist includes this.
 *
 * A backend's query starts with a struct greylist_query (its first
 * member), so store.c can cancel any query through q->backend.
 */
#ifndef DECORUM_GREYLIST_BACKEND_H
#define DECORUM_GREYLIST_BACKEND_H

#include "greylist/store.h"

struct greylist_backend;

struct greylist_query {
	const struct greylist_backend *backend;
};

struct greylist_backend {
	const char *scheme;	/* "sqlite:", "redis://": the URL's start */
	void *(*open)(const char *url, const char *state_dir,
	    const struct greylist_params *p, struct event_base *base,
	    char *err, size_t errlen);
	void (*close)(void *impl);
	struct greylist_query *(*check)(void *impl,
	    const struct greylist_triplet *t, time_t now, greylist_cb cb,
	    void *arg);
	void (*cancel)(struct greylist_query *q);
	int (*list)(const char *url, const char *state_dir,
	    greylist_list_cb cb, void *arg, char *err, size_t errlen);
	int (*allow)(const char *url, const char *state_dir,
	    const struct greylist_params *p, const char *net, time_t now,
	    char *err, size_t errlen);
	int (*purge)(const char *url, const char *state_dir,
	    const struct greylist_params *p, time_t now, unsigned *removed,
	    char *err, size_t errlen);
};

extern const struct greylist_backend greylist_backend_sqlite;	/* store_sqlite.c */
extern const struct greylist_backend greylist_backend_redis;	/* store_redis.c */

#endif
