/*
 * The addresses of a host name: its A and AAAA records, asked together
 * (two queries, one lookup) under one deadline, and whether a given
 * address is among them.  For the HELO/EHLO checks (src/policy:
 * helo.resolves, helo.matches_ip, helo.syntax's own-name rule), which
 * share one lookup per name.
 */
#ifndef DECORUM_DNS_HOSTADDR_H
#define DECORUM_DNS_HOSTADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "dns/resolver.h"

struct event_base;
struct hostaddr;

/* At most this many addresses are kept as text for the evidence; every
 * record is compared with the address wanted. */
#define HOSTADDR_TEXT_MAX	8
#define HOSTADDR_TEXT_LEN	46	/* INET6_ADDRSTRLEN */

/*
 * What the lookup found, valid only during the callback.  a, aaaa: each
 * query's status (DNS_TEMPFAIL also for one the deadline left open).
 * found: the wanted address is among the records of its family (an
 * IPv4-mapped IPv6 address is looked for among the A records).  text:
 * the first addresses, A before AAAA; n_all counts every one.
 */
struct hostaddr_result {
	enum dns_status a, aaaa;
	bool found;
	const char *text[HOSTADDR_TEXT_MAX];
	size_t n_text, n_all;
};

typedef void (*hostaddr_cb)(void *arg, const struct hostaddr_result *res);

/* name: a domain name (no root dot needed).  want: the address to look
 * for (AF_INET or AF_INET6).  The callback always runs later on base's
 * loop, never from inside this call, at the latest timeout_seconds on. */
struct hostaddr *hostaddr_start(struct resolver *r, struct event_base *base,
    const char *name, const struct sockaddr *want, unsigned timeout_seconds,
    hostaddr_cb cb, void *arg);
/* The callback will not run.  NULL is fine. */
void hostaddr_cancel(struct hostaddr *h);

#endif
