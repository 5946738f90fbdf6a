/*
 * What the sessions of one smtpd process share: the config, the loop,
 * the spool, the tables, and the connection accounting.  Owned by
 * smtpd.c; sessions and listeners only read it or go through the
 * functions below.
 */
#ifndef DECORUM_SMTPD_SERVER_H
#define DECORUM_SMTPD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/queue.h>
#include <sys/socket.h>

struct admission;
struct auth_throttle;
struct config;
struct domains;
struct resolver;
struct event_base;
struct greylist_store;
struct milter_pool;
struct session;
struct spool;
struct tls_server;
struct workpool;

TAILQ_HEAD(session_list, session);

struct server {
	const struct config *cfg;
	struct event_base *base;
	struct spool *spool;
	struct workpool *pool;
	struct domains *domains;
	struct resolver *resolver;	/* NULL: no DNS, clients are "unknown" */
	struct tls_server *tls;		/* NULL: no listener uses TLS */
	struct auth_throttle *throttle;
	struct admission *admission;	/* connections per client network */
	struct greylist_store *greylist;	/* NULL: greylisting off */
	/* Idle milter connections for the next message (content_scan.c);
	 * the config is read once per process (SIGHUP reloads only the
	 * certificates), and the pool is keyed by address anyway. */
	struct milter_pool *milters;
	int notify_fd;
	struct session_list sessions;
	unsigned n_sessions;
	bool stopping;		/* SIGTERM seen: finish transactions, then 421 */
	bool stress;		/* over STRESS_ON_PCT of max_connections */
	unsigned long next_session;
};

/*
 * Stress (as Postfix's): with more than STRESS_ON_PCT of max_connections
 * in use, command and TLS handshake timeouts drop to stress_timeout, so
 * idle clients give their slots up sooner; it ends at STRESS_OFF_PCT or
 * less (apart, so that one client at the edge does not flip it, and log
 * it, on every connection).
 */
#define STRESS_ON_PCT	80
#define STRESS_OFF_PCT	70

/* Called by a session once it is counted in n_sessions. */
void server_session_added(struct server *srv);
/* Called by a session when it has freed itself. */
void server_session_gone(struct server *srv);
/* The timeout, seconds, for a command or a TLS handshake now. */
unsigned server_command_timeout(const struct server *srv);

#endif
