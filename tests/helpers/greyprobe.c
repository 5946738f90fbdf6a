/*
 * greyprobe: the Redis greylist backend (src/greylist/store_redis.c)
 * driven line by line, for tests/integration/test_greylist_redis.py.
 *
 *   greyprobe URL DELAY WINDOW LIFETIME AUTO_ALLOW
 *
 * reads commands on stdin and answers on stdout, one line each:
 *
 *   check ID NOW NET SENDER RCPT   later: "answer ID pass|defer|trouble
 *                                  RETRY_AT NET_ALLOWED"
 *                                  (SENDER "<>" is the null sender; NOW
 *                                  "now" is the clock)
 *   cancel ID                      "cancelled ID"; ID never answers
 *   close                          closes the store with any checks out:
 *                                  "closed", and no answer after it
 *   list                           "net NET PASSES ALLOWED UNTIL" and
 *                                  "triplet NET SENDER RCPT FIRST LAST
 *                                  PASSED UNTIL" lines, then "listed"
 *   allow NET NOW                  "allowed" or "error ..."
 *   purge NOW                      "purged N" or "error ..."
 *
 * The admin commands are the blocking ones of the CLI.  EOF ends it
 * (exit 0).  The store runs on this program's own libevent loop, as in
 * the smtpd, so cancel and close exercise the real paths under ASan.
 * Not installed.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "greylist/backend.h"

#define PROBE_QUERIES	4096

struct probe {
	struct event_base *base;
	const char *url;
	struct greylist_params p;
	void *store;
	struct greylist_query *q[PROBE_QUERIES];
	unsigned ids[PROBE_QUERIES];
};

static struct probe P;

static const char *const answers[] = { "pass", "defer", "trouble" };

static void
probe_answer(void *arg, const struct greylist_reply *r)
{
	unsigned slot = (unsigned)(uintptr_t)arg;

	P.q[slot] = NULL;
	printf("answer %u %s %lld %d\n", P.ids[slot], answers[r->answer],
	    (long long)r->retry_at, r->net_allowed ? 1 : 0);
	fflush(stdout);
}

static int
probe_slot(unsigned id)
{
	return id < PROBE_QUERIES ? (int)id : -1;
}

static time_t
probe_now(const char *s)
{
	return strcmp(s, "now") == 0 ? time(NULL) : (time_t)strtoll(s, NULL, 10);
}

static void
probe_check(char *args)
{
	struct greylist_triplet t;
	char now[32], net[GREYLIST_NET_MAX], sender[GREYLIST_ADDR_MAX],
	    rcpt[GREYLIST_ADDR_MAX];
	unsigned id;
	int slot;

	memset(&t, 0, sizeof(t));
	if (sscanf(args, "%u %31s %63s %519s %519s", &id, now, net, sender, rcpt) != 5 ||
	    (slot = probe_slot(id)) < 0 || P.store == NULL || P.q[slot] != NULL) {
		printf("error bad check\n");
		return;
	}
	snprintf(t.net, sizeof(t.net), "%s", net);
	snprintf(t.sender, sizeof(t.sender), "%s", strcmp(sender, "<>") == 0 ? "" : sender);
	snprintf(t.rcpt, sizeof(t.rcpt), "%s", rcpt);
	P.ids[slot] = id;
	P.q[slot] = greylist_backend_redis.check(P.store, &t, probe_now(now),
	    probe_answer, (void *)(uintptr_t)slot);
}

static void
probe_list_cb(void *arg, const struct greylist_entry *e)
{
	(void)arg;
	if (e->is_net)
		printf("net %s %u %d %lld\n", e->t.net, e->passes, e->allowed ? 1 : 0,
		    (long long)e->until);
	else
		printf("triplet %s %s %s %lld %lld %d %lld\n", e->t.net,
		    e->t.sender[0] != '\0' ? e->t.sender : "<>", e->t.rcpt,
		    (long long)e->r.first, (long long)e->r.last, e->r.passed ? 1 : 0,
		    (long long)e->until);
}

static void
probe_admin(const char *cmd, const char *args)
{
	char err[512] = "", a[GREYLIST_NET_MAX] = "", b[32] = "";
	unsigned removed = 0;
	int rc;

	if (strcmp(cmd, "list") == 0)
		rc = greylist_backend_redis.list(P.url, "/nonexistent", probe_list_cb, NULL,
		    err, sizeof(err));
	else if (strcmp(cmd, "allow") == 0 && sscanf(args, "%63s %31s", a, b) == 2)
		rc = greylist_backend_redis.allow(P.url, "/nonexistent", &P.p, a,
		    probe_now(b), err, sizeof(err));
	else if (strcmp(cmd, "purge") == 0 && sscanf(args, "%31s", b) == 1)
		rc = greylist_backend_redis.purge(P.url, "/nonexistent", &P.p,
		    probe_now(b), &removed, err, sizeof(err));
	else {
		printf("error bad command\n");
		return;
	}
	if (rc < 0)
		printf("error %s\n", err);
	else if (strcmp(cmd, "purge") == 0)
		printf("purged %u\n", removed);
	else
		printf("%s\n", strcmp(cmd, "list") == 0 ? "listed" : "allowed");
}

static void
probe_line(char *line)
{
	char *args = strchr(line, ' ');
	unsigned id;
	int slot;

	if (args != NULL)
		*args++ = '\0';
	else
		args = line + strlen(line);
	if (strcmp(line, "check") == 0) {
		probe_check(args);
	} else if (strcmp(line, "cancel") == 0 && sscanf(args, "%u", &id) == 1 &&
	    (slot = probe_slot(id)) >= 0 && P.q[slot] != NULL) {
		greylist_backend_redis.cancel(P.q[slot]);
		P.q[slot] = NULL;
		printf("cancelled %u\n", id);
	} else if (strcmp(line, "close") == 0 && P.store != NULL) {
		greylist_backend_redis.close(P.store);
		P.store = NULL;
		memset(P.q, 0, sizeof(P.q));
		printf("closed\n");
	} else {
		probe_admin(line, args);
	}
	fflush(stdout);
}

static void
probe_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;

	(void)arg;
	while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF)) != NULL) {
		probe_line(line);
		free(line);
	}
}

static void
probe_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)arg;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		event_base_loopexit(P.base, NULL);
}

int
main(int argc, char **argv)
{
	struct bufferevent *in;
	char err[512] = "";

	if (argc != 6) {
		fprintf(stderr, "usage: greyprobe URL DELAY WINDOW LIFETIME AUTO_ALLOW\n");
		return 2;
	}
	log_init("greyprobe", true);
	P.url = argv[1];
	P.p.delay = (unsigned)strtoul(argv[2], NULL, 10);
	P.p.retry_window = (unsigned)strtoul(argv[3], NULL, 10);
	P.p.lifetime = (unsigned)strtoul(argv[4], NULL, 10);
	P.p.auto_allow = (unsigned)strtoul(argv[5], NULL, 10);
	P.base = event_base_new();
	P.store = greylist_backend_redis.open(P.url, "/nonexistent", &P.p, P.base, err,
	    sizeof(err));
	if (P.store == NULL) {
		fprintf(stderr, "greyprobe: %s\n", err);
		return 2;
	}
	in = bufferevent_socket_new(P.base, STDIN_FILENO, 0);
	bufferevent_setcb(in, probe_read, NULL, probe_event, NULL);
	bufferevent_enable(in, EV_READ);
	event_base_dispatch(P.base);
	bufferevent_free(in);
	if (P.store != NULL)
		greylist_backend_redis.close(P.store);
	event_base_free(P.base);
	return 0;
}
