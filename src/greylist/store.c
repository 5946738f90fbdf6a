/*
 * The greylist store's front (store.h): picks the backend by the URL's
 * scheme and forwards each call to it (backend.h).  Called by the
 * smtpd (open, check, cancel, close) and by `decorum greylist` (the
 * admin functions).
 *
 * The table lists the backends built in.  A backend is one descriptor
 * in its own file and one line in backends[] below.  Trusts the URL to
 * have passed the config's syntax check; a scheme no backend claims is
 * an error here with the URL named.
 */
#include "greylist/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

static const struct greylist_backend *const backends[] = {
	&greylist_backend_sqlite,
	&greylist_backend_redis,
};

struct greylist_store {
	const struct greylist_backend *b;
	void *impl;
};

static const struct greylist_backend *
backend_for(const char *url, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(*backends); i++) {
		const char *scheme = backends[i]->scheme;

		if (strncmp(url, scheme, strlen(scheme)) == 0)
			return backends[i];
	}
	snprintf(err, errlen, "greylist backend \"%.200s\": no backend for "
	    "this scheme in this build", url);
	return NULL;
}

struct greylist_store *
greylist_store_open(const char *url, const char *state_dir,
    const struct greylist_params *p, struct event_base *base,
    char *err, size_t errlen)
{
	const struct greylist_backend *b = backend_for(url, err, errlen);
	struct greylist_store *s;
	void *impl;

	if (b == NULL)
		return NULL;
	if ((impl = b->open(url, state_dir, p, base, err, errlen)) == NULL)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->b = b;
	s->impl = impl;
	return s;
}

void
greylist_store_close(struct greylist_store *s)
{
	if (s == NULL)
		return;
	s->b->close(s->impl);
	free(s);
}

struct greylist_query *
greylist_store_check(struct greylist_store *s, const struct greylist_triplet *t,
    time_t now, greylist_cb cb, void *arg)
{
	return s->b->check(s->impl, t, now, cb, arg);
}

void
greylist_query_cancel(struct greylist_query *q)
{
	if (q != NULL)
		q->backend->cancel(q);
}

int
greylist_admin_list(const char *url, const char *state_dir,
    greylist_list_cb cb, void *arg, char *err, size_t errlen)
{
	const struct greylist_backend *b = backend_for(url, err, errlen);

	return b == NULL ? -1 : b->list(url, state_dir, cb, arg, err, errlen);
}

int
greylist_admin_allow(const char *url, const char *state_dir,
    const struct greylist_params *p, const char *net, time_t now,
    char *err, size_t errlen)
{
	const struct greylist_backend *b = backend_for(url, err, errlen);

	return b == NULL ? -1 : b->allow(url, state_dir, p, net, now, err, errlen);
}

int
greylist_admin_purge(const char *url, const char *state_dir,
    const struct greylist_params *p, time_t now, unsigned *removed,
    char *err, size_t errlen)
{
	const struct greylist_backend *b = backend_for(url, err, errlen);

	*removed = 0;
	return b == NULL ? -1 :
	    b->purge(url, state_dir, p, now, removed, err, errlen);
}
