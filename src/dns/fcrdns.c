/*
 * FCrDNS: see fcrdns.h.  A small state machine over resolver queries:
 * PTR, then A or AAAA (the client's family) for each PTR name in turn, at
 * most FCRDNS_NAMES_MAX names, under one overall deadline.  The first
 * name that maps back wins; a temporary failure on one name does not
 * stop the others (a later one may still match), but when none matched
 * it makes the whole answer a temporary one, never "no match".
 *
 * Everything here comes from the network and is untrusted: names are
 * decoded with bounds checks and only letters, digits, '-', '_' and '.'
 * are kept (anything else makes the name unusable).
 */
#include "dns/fcrdns.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "common/bounds.h"
#include "common/xmalloc.h"

struct fcrdns {
	struct resolver *r;
	struct event *deadline;
	fcrdns_cb cb;
	void *arg;
	int family;
	unsigned char addr[16];
	char names[FCRDNS_NAMES_MAX][SMTP_DOMAIN_MAX + 2];
	int n_names, next_name;
	int query;		/* pending resolver query, -1 none */
	bool tempfail;		/* some lookup failed temporarily */
	int matched;		/* index of the verified name, -1 none */
};

int
fcrdns_wire_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < len) {
		size_t l = p[i++];

		if (l == 0) {
			if (o == 0 && outlen > 1)
				out[o++] = '.';
			out[o] = '\0';
			return o > 0 ? 0 : -1;
		}
		if (l > 63 || i + l > len || o + l + 2 > outlen)
			return -1;
		for (size_t k = 0; k < l; k++) {
			unsigned char c = p[i + k];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_'))
				return -1;
			out[o++] = (char)c;
		}
		out[o++] = '.';
		i += l;
	}
	return -1;
}

int
fcrdns_reverse_name(const struct sockaddr *sa, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *a;
	size_t o = 0;

	if (sa->sa_family == AF_INET) {
		a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
		snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa.", a[3], a[2], a[1], a[0]);
		return 0;
	}
	if (sa->sa_family != AF_INET6 || outlen < 64 + sizeof("ip6.arpa."))
		return -1;
	a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[a[i] & 15];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	snprintf(out + o, outlen - o, "ip6.arpa.");
	return 0;
}

/*
 * Report and free.  A query still in flight (f->query >= 0: the deadline
 * fired before its answer) is cancelled by fcrdns_cancel, so its late
 * answer never reaches f.  Each resolver callback sets f->query to -1
 * on entry, because its own query is over by then.  f is freed before
 * the callback runs (it may end the session that owns f), so the names
 * are copied out, and lose their root dot, as Received: and the logs
 * show them.
 */
static void
finish(struct fcrdns *f, enum dns_status st)
{
	char names[FCRDNS_NAMES_MAX][SMTP_DOMAIN_MAX + 2];
	struct fcrdns_result res = { .status = st };
	fcrdns_cb cb = f->cb;
	void *arg = f->arg;

	for (int i = 0; i < f->n_names; i++) {
		size_t len = strlen(f->names[i]);

		if (len > 1 && f->names[i][len - 1] == '.')
			len--;
		memcpy(names[i], f->names[i], len);
		names[i][len] = '\0';
		res.ptr[res.n_ptr++] = names[i];
	}
	if (st == DNS_OK)
		res.name = names[f->matched];
	fcrdns_cancel(f);
	cb(arg, &res);
}

static void next_name(struct fcrdns *f);

static void
forward_cb(void *arg, enum dns_status st, struct ub_result *res)
{
	struct fcrdns *f = arg;
	size_t want = f->family == AF_INET ? 4 : 16;

	f->query = -1;
	if (st == DNS_TEMPFAIL)
		f->tempfail = true;
	for (int i = 0; st == DNS_OK && res->data[i] != NULL; i++) {
		if ((size_t)res->len[i] == want && memcmp(res->data[i], f->addr, want) == 0) {
			f->matched = f->next_name - 1;
			finish(f, DNS_OK);
			return;
		}
	}
	next_name(f);
}

static void
next_name(struct fcrdns *f)
{
	if (f->next_name >= f->n_names) {
		finish(f, f->tempfail ? DNS_TEMPFAIL : DNS_NOTFOUND);
		return;
	}
	f->query = resolver_query(f->r, f->names[f->next_name++],
	    f->family == AF_INET ? 1 /* A */ : 28 /* AAAA */, forward_cb, f);
	if (f->query < 0)
		finish(f, DNS_TEMPFAIL);
}

static void
ptr_cb(void *arg, enum dns_status st, struct ub_result *res)
{
	struct fcrdns *f = arg;

	f->query = -1;
	if (st != DNS_OK) {
		finish(f, st);
		return;
	}
	for (int i = 0; res->data[i] != NULL && f->n_names < FCRDNS_NAMES_MAX; i++)
		if (fcrdns_wire_name((const unsigned char *)res->data[i],
		    (size_t)res->len[i], f->names[f->n_names],
		    sizeof(f->names[0])) == 0)
			f->n_names++;
	next_name(f);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	finish(arg, DNS_TEMPFAIL);
}

struct fcrdns *
fcrdns_start(struct resolver *r, struct event_base *base, const struct sockaddr *sa,
    unsigned timeout_seconds, fcrdns_cb cb, void *arg)
{
	struct fcrdns *f = xcalloc(1, sizeof(*f));
	struct timeval tv = { (time_t)timeout_seconds, 0 };
	struct sockaddr_in v4;
	char rev[128];

	if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(
	    &((const struct sockaddr_in6 *)sa)->sin6_addr)) {
		/* An IPv4 client on a dual-stack socket: its PTR is under
		 * in-addr.arpa and its name must have an A record. */
		memset(&v4, 0, sizeof(v4));
		v4.sin_family = AF_INET;
		memcpy(&v4.sin_addr, ((const struct sockaddr_in6 *)sa)->
		    sin6_addr.s6_addr + 12, 4);
		sa = (const struct sockaddr *)&v4;
	}
	f->r = r;
	f->matched = -1;
	f->cb = cb;
	f->arg = arg;
	f->family = sa->sa_family;
	f->query = -1;
	if (sa->sa_family == AF_INET)
		memcpy(f->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	else if (sa->sa_family == AF_INET6)
		memcpy(f->addr, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
	f->deadline = evtimer_new(base, deadline_cb, f);
	evtimer_add(f->deadline, &tv);
	if (fcrdns_reverse_name(sa, rev, sizeof(rev)) == 0)
		f->query = resolver_query(r, rev, 12 /* PTR */, ptr_cb, f);
	if (f->query < 0) {
		/* Report asynchronously all the same: callers expect it. */
		struct timeval now = { 0, 0 };

		evtimer_add(f->deadline, &now);
	}
	return f;
}

void
fcrdns_cancel(struct fcrdns *f)
{
	if (f == NULL)
		return;
	if (f->query >= 0)
		resolver_cancel(f->r, f->query);
	event_free(f->deadline);
	free(f);
}
