/*
 * The smtpd process: see smtpd.h.  Started by the master after fork, with
 * privileges already dropped.  Owns the event loop, the worker pool that
 * makes spool commits durable and re-reads changed domain tables off the
 * loop, the greylist store (when greylisting is on), and the list of
 * sessions.
 *
 * Shutdown (SIGTERM): listeners close at once; idle sessions get 421;
 * sessions inside DATA or a commit finish their message first.  After
 * DRAIN_SECONDS whatever is left is cut off (a message not yet answered
 * with 250 is not ours to keep; the client will retry).
 */
#include "smtpd/smtpd.h"

#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "auth/throttle.h"
#include "common/evloop.h"
#include "common/netkey.h"
#include "common/config.h"
#include "common/log.h"
#include "common/workpool.h"
#include "common/xmalloc.h"
#include "dns/resolver.h"
#include "greylist/store.h"
#include "queue/spool.h"
#include "route/domains.h"
#include "scan/milter_pool.h"
#include "tls/tls.h"
#include "smtpd/admission.h"
#include "smtpd/control.h"
#include "smtpd/listener.h"
#include "smtpd/server.h"
#include "smtpd/session.h"
#include "smtpd/session_internal.h"

#define DRAIN_SECONDS	30
#define SPOOL_THREADS	16
#define THROTTLE_ENTRIES	10000
/* Client networks whose connection rate is remembered beyond those
 * connected now (admission.h). */
#define ADMISSION_IDLE_ENTRIES	65536

struct smtpd {
	struct server srv;
	struct listener **listeners;
	size_t n_listeners;
	struct event *sig_term, *sig_int, *drain_timer;
	struct control *control;
};

unsigned
server_command_timeout(const struct server *srv)
{
	const struct config *cfg = srv->cfg;

	if (srv->stress && cfg->stress_timeout < cfg->timeout_command)
		return cfg->stress_timeout;
	return cfg->timeout_command;
}

void
server_session_added(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct session *s;

	/* n > 80% of max, in integers: 100 n > 80 max. */
	if (srv->stress || (unsigned long long)srv->n_sessions * 100 <=
	    (unsigned long long)cfg->max_connections * STRESS_ON_PCT)
		return;
	srv->stress = true;
	log_info("event=stress state=on sessions=%u max_connections=%u timeout=%u",
	    srv->n_sessions, cfg->max_connections, server_command_timeout(srv));
	/* Sessions already waiting get the shorter timeout too: they are
	 * the idle ones holding slots.  Once per entry into stress. */
	TAILQ_FOREACH(s, &srv->sessions, entry)
		session_stress(s);
}

void
server_session_gone(struct server *srv)
{
	const struct config *cfg = srv->cfg;

	srv->n_sessions--;
	if (srv->stress && (unsigned long long)srv->n_sessions * 100 <=
	    (unsigned long long)cfg->max_connections * STRESS_OFF_PCT) {
		srv->stress = false;
		log_info("event=stress state=off sessions=%u max_connections=%u timeout=%u",
		    srv->n_sessions, cfg->max_connections, server_command_timeout(srv));
	}
	if (srv->stopping && srv->n_sessions == 0)
		event_base_loopexit(srv->base, NULL);
}

static void
drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd *d = arg;

	(void)fd;
	(void)what;
	log_warn("event=shutdown-timeout sessions=%u", d->srv.n_sessions);
	event_base_loopexit(d->srv.base, NULL);
}

static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct smtpd *d = arg;
	struct session *s, *next;
	struct timeval tv = { DRAIN_SECONDS, 0 };

	(void)what;
	if (d->srv.stopping)
		return;
	log_info("event=stopping signal=%d sessions=%u", (int)sig, d->srv.n_sessions);
	d->srv.stopping = true;
	for (size_t i = 0; i < d->n_listeners; i++)
		listener_free(d->listeners[i]);
	d->n_listeners = 0;
	/* session_shutdown may free s: walk with a saved next pointer. */
	for (s = TAILQ_FIRST(&d->srv.sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_shutdown(s);
	}
	if (d->srv.n_sessions == 0) {
		event_base_loopexit(d->srv.base, NULL);
		return;
	}
	d->drain_timer = evtimer_new(d->srv.base, drain_timeout_cb, d);
	evtimer_add(d->drain_timer, &tv);
}

/* TLS contexts, the AUTH throttle and the connection limits, which
 * group clients by the same networks. */
static void
smtpd_setup_auth(struct smtpd *d, const struct smtpd_args *a)
{
	const struct config *cfg = a->cfg;
	const struct netkey_prefixes prefixes = { cfg->client_prefix_v4,
	    cfg->client_prefix_v6 };
	struct admission_limits lim = {
		.max_per_network = cfg->max_connections_per_ip,
		.max_rate = cfg->max_connection_rate,
		.prefixes = prefixes,
		.max_entries = (size_t)cfg->max_connections + ADMISSION_IDLE_ENTRIES,
	};
	char err[256];

	/* A seed no client knows, so none can aim at one hash chain. */
	lim.seed = arc4random();
	d->srv.admission = admission_new(&lim);

	if (a->n_keys > 0) {
		d->srv.tls = tls_server_new(a->keys, a->n_keys, err, sizeof(err));
		if (d->srv.tls == NULL)
			fatal("tls: %s", err);
	}
	d->srv.throttle = auth_throttle_new(cfg->auth_max_failures,
	    cfg->auth_block_time, THROTTLE_ENTRIES, &prefixes);
	if (a->control_fd >= 0)
		d->control = control_new(&d->srv, a->control_fd);
}

/* The greylist's store (greylist.backend), when greylisting is on.  A
 * backend that cannot start at all (an unknown scheme, no state folder)
 * stops the daemon here; one that is merely down answers "trouble". */
static void
smtpd_setup_greylist(struct smtpd *d, const struct config *cfg)
{
	const struct greylist_conf *g = &cfg->greylist;
	const struct greylist_params p = { g->delay, g->retry_window,
	    g->lifetime, g->auto_allow };
	char err[256];

	if (g->action == POLICY_OFF)
		return;
	d->srv.greylist = greylist_store_open(g->backend, cfg->state, &p,
	    d->srv.base, err, sizeof(err));
	if (d->srv.greylist == NULL)
		fatal("greylist: %s", err);
}

static void
smtpd_setup(struct smtpd *d, const struct smtpd_args *a)
{
	const struct config *cfg = a->cfg;
	const int *fds = a->fds;
	size_t n_fds = a->n_fds;
	char err[256], safe[LOG_SAFE_SIZE(256)];

	memset(d, 0, sizeof(*d));
	d->srv.cfg = cfg;
	d->srv.notify_fd = a->notify_fd;
	TAILQ_INIT(&d->srv.sessions);
	d->srv.base = evloop_new();
	if (d->srv.base == NULL)
		fatal("cannot create the event loop");
	d->srv.spool = spool_open(cfg->spool, err, sizeof(err));
	if (d->srv.spool == NULL)
		fatal("spool %s: %s", cfg->spool, err);
	d->srv.resolver = resolver_new(d->srv.base, cfg->dns_nameserver, err, sizeof(err));
	if (d->srv.resolver == NULL)
		log_warn("event=dns-unavailable reason=\"%s\" effect=\"clients shown as unknown\"",
		    log_safe(err, safe, sizeof(safe)));
	d->srv.pool = workpool_new(d->srv.base, SPOOL_THREADS);
	/* Read now; re-read off the loop, in the pool, as files change. */
	d->srv.domains = domains_open_live(cfg->domains, d->srv.base, d->srv.pool);
	smtpd_setup_auth(d, a);
	smtpd_setup_greylist(d, cfg);
	d->srv.milters = milter_pool_new();
	d->listeners = xcalloc(n_fds, sizeof(*d->listeners));
	for (size_t i = 0; i < n_fds; i++)
		d->listeners[d->n_listeners++] = listener_new(&d->srv, &cfg->listen[i], fds[i]);
	d->sig_term = evsignal_new(d->srv.base, SIGTERM, stop_cb, d);
	d->sig_int = evsignal_new(d->srv.base, SIGINT, stop_cb, d);
	evsignal_add(d->sig_term, NULL);
	evsignal_add(d->sig_int, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void
smtpd_teardown(struct smtpd *d)
{
	struct session *s;

	/* Commits in flight complete (and answer their clients) first. */
	workpool_free(d->srv.pool);
	while ((s = TAILQ_FIRST(&d->srv.sessions)) != NULL)
		session_abort(s);
	/* After the sessions: none holds a query any more. */
	greylist_store_close(d->srv.greylist);
	/* After the sessions too: a scan that ended may have put one. */
	milter_pool_free(d->srv.milters);
	for (size_t i = 0; i < d->n_listeners; i++)
		listener_free(d->listeners[i]);
	free(d->listeners);
	if (d->drain_timer != NULL)
		event_free(d->drain_timer);
	event_free(d->sig_term);
	event_free(d->sig_int);
	resolver_free(d->srv.resolver);
	control_free(d->control);
	tls_server_free(d->srv.tls);
	auth_throttle_free(d->srv.throttle);
	admission_free(d->srv.admission);
	domains_free(d->srv.domains);
	spool_close(d->srv.spool);
	event_base_free(d->srv.base);
}

int
smtpd_main(const struct smtpd_args *args)
{
	struct smtpd d;

	smtpd_setup(&d, args);
	log_info("event=ready listeners=%zu tls=%s", args->n_fds,
	    d.srv.tls != NULL ? "yes" : "no");
	evloop_run(d.srv.base);
	smtpd_teardown(&d);
	log_info("event=stopped");
	return 0;
}
