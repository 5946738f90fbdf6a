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

struct auth_throttle;
struct config;
struct domains;
struct resolver;
struct event_base;
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
	int notify_fd;
	struct session_list sessions;
	unsigned n_sessions;
	bool stopping;		/* SIGTERM seen: finish transactions, then 421 */
	unsigned long next_session;
};

/* Number of live sessions whose client has this address. */
unsigned server_sessions_from(const struct server *srv, const struct sockaddr *sa);
/* Called by a session when it has freed itself. */
void server_session_gone(struct server *srv);

#endif
