/*
 * scanprobe: one scanner client (the src/scan clients) run on one message
 * file, for the integration tests of the clients against real scanners
 * (rspamd, clamd, clamav-milter, test milters) and for trying a scanner
 * by hand.
 *
 *   scanprobe milter|rspamd|clamd ADDRESS FILE [-f SENDER] [-r RCPT]...
 *       [-a LOGIN] [-k spam|malware|other] [-t SECONDS] [-c]
 *       [-n COUNT] [-N] [-P K]
 *
 * FILE is the message as spooled (CRLF line ends).  -n runs the
 * message COUNT times, one after another on one loop (a milter's
 * connection is kept between them, as in the smtpd, unless -N).  -P
 * (milter only): each of the COUNT rounds is K conversations at once on
 * the one pool, a round 100 ms after the end of the one before.  -c
 * cancels the client 50 ms after the start of the last message
 * (nothing may be printed after "cancelled"; the sanitizers watch for
 * the rest).  Prints one line
 * "verdict=... finding=... code=... enhanced=... text=\"...\"
 * detail=\"...\" score=... required=..." then one "mod ..." line per
 * change and "body OCTETS" for a replaced body.  Exit 0.  Not installed.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "scan/clamd_client.h"
#include "scan/milter_client.h"
#include "scan/milter_pool.h"
#include "scan/rspamd_client.h"

#define PROBE_RCPTS	64

static const char *const verdicts[] = { "accept", "flag", "tempfail",
    "reject", "discard", "failed" };
static const char *const findings[] = { "nothing", "spam", "malware",
    "other" };
static const char *const modtypes[] = { "add_header", "insert_header",
    "change_header", "remove_header", "add_rcpt", "del_rcpt",
    "change_from", "quarantine" };

struct probe {
	struct event_base *base;
	struct scan_result res;
	void *client;
	const char *kind;
	bool finished;
	bool cancel;
	unsigned count;		/* messages still to start */
	struct milter_pool *pool;
	const struct scan_message *msg;
	const struct milter_conf *mc;
	const struct rspamd_conf *rc;
	const struct clamd_conf *cc;
	/* -P K: milter only, rounds of K conversations at once on the one
	 * pool, the next round 100 ms after the last of the one before. */
	unsigned parallel, pending;
	struct conv *convs;
};

struct conv {
	struct probe *p;
	void *client;
	struct scan_result res;
};

static void start(struct probe *p);

static void
print_text(const char *key, const char *s)
{
	printf(" %s=\"", key);
	for (; s != NULL && *s != '\0'; s++)
		putchar(*s == '\n' ? '|' : *s == '"' ? '\'' : *s);
	putchar('"');
}

static void
print_result(const struct scan_result *r)
{
	const struct scan_mod *m;

	printf("verdict=%s finding=%s code=%d enhanced=%s",
	    verdicts[r->verdict], findings[r->finding], r->code,
	    r->enhanced[0] != '\0' ? r->enhanced : "-");
	print_text("text", r->text);
	print_text("detail", r->detail);
	printf(" score=%.2f required=%.2f\n", r->score, r->required);
	for (m = r->mods; m != NULL; m = m->next) {
		printf("mod %s index=%u", modtypes[m->type], m->index);
		print_text("name", m->name);
		print_text("value", m->value);
		print_text("addr", m->addr);
		putchar('\n');
	}
	if (r->body != NULL)
		printf("body %zu\n", evbuffer_get_length(r->body));
	fflush(stdout);
}

static void
done(void *arg, struct scan_result *res)
{
	struct probe *p = arg;

	print_result(res);
	scan_result_clear(res);
	if (p->count > 0) {
		start(p);
		return;
	}
	p->finished = true;
	event_base_loopexit(p->base, NULL);
}

static void
cancel_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	(void)what;
	if (p->finished)
		return;
	if (strcmp(p->kind, "milter") == 0)
		milter_client_cancel(p->client);
	else if (strcmp(p->kind, "rspamd") == 0)
		rspamd_client_cancel(p->client);
	else
		clamd_client_cancel(p->client);
	printf("cancelled\n");
	fflush(stdout);
	/* Let a late answer arrive at nothing before leaving. */
	struct timeval tv = { 1, 0 };
	event_base_loopexit(p->base, &tv);
}

static void start_round(evutil_socket_t fd, short what, void *arg);

static void
conv_done(void *arg, struct scan_result *res)
{
	struct conv *c = arg;
	struct probe *p = c->p;
	struct timeval tv = { 0, 100000 };

	print_result(res);
	scan_result_clear(res);
	c->client = NULL;
	if (--p->pending > 0)
		return;
	if (p->count > 0)
		event_base_once(p->base, -1, EV_TIMEOUT, start_round, p, &tv);
	else
		event_base_loopexit(p->base, NULL);
}

static void
start_round(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	unsigned i;

	(void)fd;
	(void)what;
	p->count--;
	p->pending = p->parallel;
	for (i = 0; i < p->parallel; i++) {
		p->convs[i].p = p;
		p->convs[i].client = milter_client_start(p->base, p->pool,
		    p->mc, 64u << 20, p->msg, &p->convs[i].res, conv_done,
		    &p->convs[i]);
	}
}

/* The next message; with -c, the last is cancelled. */
static void
start(struct probe *p)
{
	p->count--;
	if (strcmp(p->kind, "milter") == 0)
		p->client = milter_client_start(p->base, p->pool, p->mc,
		    64u << 20, p->msg, &p->res, done, p);
	else if (strcmp(p->kind, "rspamd") == 0)
		p->client = rspamd_client_start(p->base, p->rc, p->msg,
		    &p->res, done, p);
	else
		p->client = clamd_client_start(p->base, p->cc, p->msg,
		    &p->res, done, p);
	if (p->cancel && p->count == 0) {
		struct timeval tv = { 0, 50000 };

		event_base_once(p->base, -1, EV_TIMEOUT, cancel_cb, p, &tv);
	}
}

/* The whole file, and where its header section ends. */
static char *
load(const char *file, int *fd, struct scan_message *msg)
{
	struct stat st;
	char *data, *end;

	*fd = open(file, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || fstat(*fd, &st) < 0) {
		perror(file);
		exit(2);
	}
	data = calloc(1, (size_t)st.st_size + 1);
	if (data == NULL || pread(*fd, data, (size_t)st.st_size, 0) != st.st_size) {
		perror(file);
		exit(2);
	}
	msg->fd = *fd;
	msg->size = (uint64_t)st.st_size;
	end = strstr(data, "\r\n\r\n");
	if (strncmp(data, "\r\n", 2) == 0) {
		msg->headers_len = 0;
		msg->body_offset = 2;
	} else if (end != NULL) {
		msg->headers_len = (size_t)(end - data) + 2;
		msg->body_offset = msg->headers_len + 2;
	} else {
		msg->headers_len = (size_t)st.st_size;
		msg->body_offset = (uint64_t)st.st_size;
	}
	msg->headers = data;
	return data;
}

static enum scan_kind
parse_kind(const char *s)
{
	return strcmp(s, "malware") == 0 ? SCAN_KIND_MALWARE
	    : strcmp(s, "other") == 0 ? SCAN_KIND_OTHER : SCAN_KIND_SPAM;
}

int
main(int argc, char **argv)
{
	static const char *rcpts[PROBE_RCPTS];
	struct scan_message msg = { 0 };
	struct milter_conf mc = { 0 };
	struct rspamd_conf rc = { 0 };
	struct clamd_conf cc = { 0 };
	struct scan_endpoint ep = { 0 };
	struct probe p = { 0 };
	unsigned timeout = 10;
	char err[256], *data;
	int fd, opt;

	if (argc < 4) {
		fprintf(stderr, "usage: scanprobe milter|rspamd|clamd ADDRESS FILE [options]\n");
		return 2;
	}
	log_init("scanprobe", true);
	p.kind = argv[1];
	if (scan_endpoint_parse(argv[2], &ep, err, sizeof(err)) < 0) {
		fprintf(stderr, "scanprobe: %s\n", err);
		return 2;
	}
	ep.address = argv[2];
	data = load(argv[3], &fd, &msg);
	msg.queue_id = "1ProbeQueueId";
	msg.hostname = "mx.example.test";
	msg.client_ip = "127.0.0.1";
	msg.client_port = 40000;
	msg.client_name = "client.example.test";
	msg.helo = "client.example.test";
	msg.sender = "alice@example.org";
	msg.rcpts = rcpts;
	mc.name = "probe";
	mc.kind = SCAN_KIND_SPAM;
	optind = 4;
	mc.reuse = true;
	p.count = 1;
	while ((opt = getopt(argc, argv, "f:r:a:k:t:cn:NP:")) != -1) {
		switch (opt) {
		case 'f': msg.sender = optarg; break;
		case 'r':
			if (msg.n_rcpts < PROBE_RCPTS)
				rcpts[msg.n_rcpts++] = optarg;
			break;
		case 'a': msg.auth_login = optarg; break;
		case 'k': mc.kind = parse_kind(optarg); break;
		case 't': timeout = (unsigned)atoi(optarg); break;
		case 'c': p.cancel = true; break;
		case 'n': p.count = (unsigned)atoi(optarg); break;
		case 'N': mc.reuse = false; break;
		case 'P': p.parallel = (unsigned)atoi(optarg); break;
		default: return 2;
		}
	}
	if (msg.n_rcpts == 0)
		rcpts[msg.n_rcpts++] = "bob@example.test";
	if (p.count == 0)
		p.count = 1;
	mc.ep = ep;
	mc.connect_timeout = mc.command_timeout = mc.eom_timeout = timeout;
	rc.enabled = cc.enabled = true;
	rc.ep = cc.ep = ep;
	rc.timeout = cc.timeout = timeout;
	p.msg = &msg;
	p.mc = &mc;
	p.rc = &rc;
	p.cc = &cc;
	p.base = event_base_new();
	p.pool = milter_pool_new();
	if (p.parallel > 0 && strcmp(p.kind, "milter") == 0) {
		p.convs = calloc(p.parallel, sizeof(*p.convs));
		if (p.convs == NULL)
			return 2;
		start_round(-1, 0, &p);
	} else
		start(&p);
	event_base_dispatch(p.base);
	free(p.convs);
	scan_result_clear(&p.res);
	milter_pool_free(p.pool);
	event_base_free(p.base);
	close(fd);
	free(data);
	return 0;
}
