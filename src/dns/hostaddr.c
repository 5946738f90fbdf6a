/*
 * A host name's addresses: see hostaddr.h.  Two resolver queries in
 * parallel (A and AAAA) and a deadline; the lookup ends when both have
 * answered or the deadline comes, whichever is first.  A query the
 * deadline leaves open is cancelled (its late answer never reaches us)
 * and counts as a temporary failure.
 *
 * Answers come from the network: each record's length is checked
 * before it is read (4 octets for A, 16 for AAAA; others are skipped).
 * Memory: one record per lookup, its text addresses included.
 */
#include "dns/hostaddr.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "common/xmalloc.h"

enum { Q_A, Q_AAAA, Q_N };

/* Each query keeps its own texts so that the result lists A before
 * AAAA whichever answers first. */
struct hostaddr_query {
	struct hostaddr *h;
	int id;			/* resolver query, -1 when none is out */
	enum dns_status st;
	char text[HOSTADDR_TEXT_MAX][HOSTADDR_TEXT_LEN];
	size_t n_text;
};

struct hostaddr {
	struct resolver *r;
	struct event *deadline;
	hostaddr_cb cb;
	void *arg;
	int want_family;	/* AF_INET or AF_INET6 */
	unsigned char want[16];
	struct hostaddr_query q[Q_N];
	bool found;
	size_t n_all;
};

/* Report and free: h is gone before the callback runs (it may free the
 * owner of h), so the texts are copied out first. */
static void
finish(struct hostaddr *h)
{
	char text[HOSTADDR_TEXT_MAX][HOSTADDR_TEXT_LEN];
	struct hostaddr_result res = { .a = h->q[Q_A].st,
	    .aaaa = h->q[Q_AAAA].st, .found = h->found, .n_all = h->n_all };
	hostaddr_cb cb = h->cb;
	void *arg = h->arg;

	for (int k = 0; k < Q_N; k++)
		for (size_t i = 0; i < h->q[k].n_text &&
		    res.n_text < HOSTADDR_TEXT_MAX; i++) {
			memcpy(text[res.n_text], h->q[k].text[i],
			    sizeof(text[0]));
			res.text[res.n_text] = text[res.n_text];
			res.n_text++;
		}
	hostaddr_cancel(h);
	cb(arg, &res);
}

static void
take(struct hostaddr_query *q, int family, const void *addr, size_t len)
{
	struct hostaddr *h = q->h;

	if (family == h->want_family && memcmp(addr, h->want, len) == 0)
		h->found = true;
	if (q->n_text < HOSTADDR_TEXT_MAX &&
	    inet_ntop(family, addr, q->text[q->n_text], HOSTADDR_TEXT_LEN) != NULL)
		q->n_text++;
	h->n_all++;
}

static void
answer_cb(void *arg, enum dns_status st, struct ub_result *res)
{
	struct hostaddr_query *q = arg;
	struct hostaddr *h = q->h;
	bool aaaa = q == &h->q[Q_AAAA];
	size_t want = aaaa ? 16 : 4;

	q->id = -1;
	q->st = st;
	for (int i = 0; st == DNS_OK && res->data[i] != NULL; i++)
		if ((size_t)res->len[i] == want)
			take(q, aaaa ? AF_INET6 : AF_INET, res->data[i], want);
	if (h->q[Q_A].id < 0 && h->q[Q_AAAA].id < 0)
		finish(h);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg);
}

/* An IPv4 client on a dual-stack socket is looked for among the A
 * records, as fcrdns.c does. */
static void
set_want(struct hostaddr *h, const struct sockaddr *sa)
{
	const struct in6_addr *a6;

	if (sa->sa_family == AF_INET) {
		h->want_family = AF_INET;
		memcpy(h->want, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return;
	}
	if (sa->sa_family != AF_INET6)
		return;		/* want_family 0: found stays false */
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		h->want_family = AF_INET;
		memcpy(h->want, a6->s6_addr + 12, 4);
	} else {
		h->want_family = AF_INET6;
		memcpy(h->want, a6->s6_addr, 16);
	}
}

struct hostaddr *
hostaddr_start(struct resolver *r, struct event_base *base, const char *name,
    const struct sockaddr *want, unsigned timeout_seconds, hostaddr_cb cb,
    void *arg)
{
	struct hostaddr *h = xcalloc(1, sizeof(*h));
	struct timeval tv = { (time_t)timeout_seconds, 0 };
	static const int types[Q_N] = { 1 /* A */, 28 /* AAAA */ };
	bool started = false;

	h->r = r;
	h->cb = cb;
	h->arg = arg;
	set_want(h, want);
	h->deadline = evtimer_new(base, deadline_cb, h);
	for (int i = 0; i < Q_N; i++) {
		h->q[i].h = h;
		h->q[i].st = DNS_TEMPFAIL;
		h->q[i].id = resolver_query(r, name, types[i], answer_cb, &h->q[i]);
		started |= h->q[i].id >= 0;
	}
	if (!started) {
		/* Report asynchronously all the same: callers expect it. */
		tv.tv_sec = 0;
	}
	evtimer_add(h->deadline, &tv);
	return h;
}

void
hostaddr_cancel(struct hostaddr *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < Q_N; i++)
		if (h->q[i].id >= 0)
			resolver_cancel(h->r, h->q[i].id);
	event_free(h->deadline);
	free(h);
}
