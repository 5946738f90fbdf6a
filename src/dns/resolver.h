/*
 * Asynchronous DNS for the event loop, on libunbound.
 *
 * Queries run in libunbound's own thread; their answers are picked up on
 * the loop when libunbound's notification fd becomes readable, so a
 * callback always runs in the loop thread and the loop never waits.
 * Positive answers are also kept here for their TTL (dns_cache.h) and a
 * name asked again is answered from them, still from the loop, never
 * from inside resolver_query.
 * With a configured nameserver ("IP@PORT") every query is forwarded there
 * (tests use a DNS server on loopback); otherwise /etc/resolv.conf and
 * /etc/hosts are used.
 */
#ifndef DECORUM_DNS_RESOLVER_H
#define DECORUM_DNS_RESOLVER_H

#include <stddef.h>

struct event_base;
struct resolver;
struct ub_result;

enum dns_status { DNS_OK, DNS_NOTFOUND, DNS_TEMPFAIL };

/* NULL and err filled when libunbound cannot be set up. */
struct resolver *resolver_new(struct event_base *base, const char *nameserver,
    char *err, size_t errlen);
/* Cancels every query still pending (their callbacks never run). */
void resolver_free(struct resolver *r);

/*
 * Look up name/type (class IN).  cb runs later in the loop thread with
 * the status and the libunbound result (valid only during the callback;
 * NULL unless DNS_OK).  Returns a query id for resolver_cancel, or -1
 * when the query could not be started (cb then never runs).
 */
typedef void (*resolver_cb)(void *arg, enum dns_status st, struct ub_result *res);
int resolver_query(struct resolver *r, const char *name, int rrtype,
    resolver_cb cb, void *arg);
void resolver_cancel(struct resolver *r, int id);

#endif
