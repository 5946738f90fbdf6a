/*
 * rspamd's /checkv2 over HTTP (rspamd_client.h): one POST per message
 * through libevent's evhttp client on the caller's loop, the reply read
 * by rspamd_reply.c into the scan_result.
 *
 * The message is never copied: a dup() of msg->fd is handed to the
 * request's buffer as a file segment (evbuffer_add_file, which maps or
 * sends it and closes the dup when done), so the caller's descriptor and
 * its offset are untouched.  rspamd is trusted to score, not to answer
 * well: the reply's headers and body are bounded (RSPAMD_REPLY_MAX, more
 * fails the scan), and everything in it goes through rspamd_reply_parse.
 *
 * Invariants: done runs only from the call's own events (scan_call.h:
 * the end's turn, the overall timer), never from inside evhttp nor
 * from start, because evhttp still uses the connection after a
 * request's callback returns; the connection is freed there too.
 * Cancel frees the connection, which drops its request without
 * calling back.
 */
#include "scan/rspamd_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "scan/rspamd_reply.h"
#include "scan/scan_call.h"
#include "scan/scan_text.h"

/* The reply's status line and headers (rspamd's are a few hundred
 * octets). */
#define RSPAMD_HEADERS_SIZE_MAX	(16 * 1024)

struct rspamd_client {
	struct scan_call call;		/* timer, end, done */
	struct evhttp_connection *evcon;
	/* evhttp's reason when it gives up on the request (error_cb) */
	enum evhttp_request_error http_error;
	bool http_failed;
	/* evhttp's own connect callback, which connect_cb wraps, and the
	 * socket error it saw (evhttp loses it before calling back) */
	bufferevent_data_cb evhttp_read, evhttp_write;
	bufferevent_event_cb evhttp_event;
	void *evhttp_arg;
	int connect_error;
};

static void
client_free(void *p)
{
	struct rspamd_client *c = p;

	if (c->evcon != NULL)
		evhttp_connection_free(c->evcon);
	scan_call_free(&c->call);
	free(c);
}


static void
error_cb(enum evhttp_request_error err, void *arg)
{
	struct rspamd_client *c = arg;

	c->http_error = err;
	c->http_failed = true;
}

/*
 * Wraps evhttp's callback while it connects, only to keep the socket's
 * error: when the connect fails, evhttp resets the connection (errno is
 * gone) and calls the request back with no status and no error_cb.
 * Once connected, evhttp sets its own callbacks again.
 */
static void
connect_cb(struct bufferevent *bev, short what, void *arg)
{
	struct rspamd_client *c = arg;

	if (!(what & BEV_EVENT_CONNECTED))
		c->connect_error = EVUTIL_SOCKET_ERROR();
	c->evhttp_event(bev, what, c->evhttp_arg);
}

static void
wrap_connect(struct rspamd_client *c)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);

	bufferevent_getcb(bev, &c->evhttp_read, &c->evhttp_write,
	    &c->evhttp_event, &c->evhttp_arg);
	if (c->evhttp_event != NULL)
		bufferevent_setcb(bev, c->evhttp_read, c->evhttp_write,
		    connect_cb, c);
}

/* Why a request got no HTTP answer: no error_cb means the connect
 * failed. */
static void
fail_unanswered(struct rspamd_client *c)
{
	if (!c->http_failed) {
		if (c->connect_error == ECONNREFUSED)
			scan_result_fail(c->call.res, "connection refused");
		else
			scan_result_fail(c->call.res, "cannot connect: %s",
			    c->connect_error != 0 ?
			    strerror(c->connect_error) : "unknown error");
		return;
	}
	switch (c->http_error) {
	case EVREQ_HTTP_TIMEOUT:
		scan_result_fail(c->call.res, "timed out after %u s",
		    c->call.timeout);
		break;
	case EVREQ_HTTP_DATA_TOO_LONG:
		scan_result_fail(c->call.res, "reply over %d octets",
		    RSPAMD_REPLY_MAX);
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		scan_result_fail(c->call.res, "invalid HTTP reply");
		break;
	case EVREQ_HTTP_EOF:
		scan_result_fail(c->call.res,
		    "connection closed before the reply");
		break;
	default:
		scan_result_fail(c->call.res, "connection failed");
		break;
	}
}

/* detail: "action=reject score=15.00/15.00 symbols=GTUBE,...", the
 * symbols that fit. */
static void
set_detail(struct scan_result *r, const struct rspamd_result *rr)
{
	size_t len, i;
	int n;

	n = snprintf(r->detail, sizeof(r->detail),
	    "action=%s score=%.2f/%.2f symbols=",
	    rspamd_action_name(rr->action), rr->score, rr->required_score);
	len = n > 0 ? (size_t)n : 0;
	for (i = 0; i < rr->n_symbols && len < sizeof(r->detail); i++) {
		/* room for this name, its comma and a closing ",..." */
		if (len + strlen(rr->symbols[i]) + 5 >= sizeof(r->detail))
			break;
		n = snprintf(r->detail + len, sizeof(r->detail) - len, "%s%s",
		    i > 0 ? "," : "", rr->symbols[i]);
		len += (size_t)n;
	}
	if (i < rr->symbols_total && len + 4 < sizeof(r->detail))
		memcpy(r->detail + len, i > 0 ? ",..." : "...", 5);
	scan_copy_printable(r->detail, sizeof(r->detail), r->detail,
	    strlen(r->detail));
}

static bool
add_mods(struct scan_result *r, const struct rspamd_result *rr)
{
	size_t i;

	for (i = 0; i < rr->n_remove; i++)
		if (!scan_result_add_mod(r, SCAN_MOD_REMOVE_HEADER, 0,
		    rr->remove[i], NULL, NULL))
			return false;
	for (i = 0; i < rr->n_add; i++)
		if (!scan_result_add_mod(r, SCAN_MOD_ADD_HEADER, 0,
		    rr->add[i].name, rr->add[i].value, NULL))
			return false;
	if (rr->subject[0] != '\0' &&
	    !scan_result_add_mod(r, SCAN_MOD_CHANGE_HEADER, 1, "Subject",
	    rr->subject, NULL))
		return false;
	return true;
}

static void
set_verdict(struct scan_result *r, enum rspamd_action a)
{
	switch (a) {
	case RSPAMD_REJECT:
		r->verdict = SCAN_REJECT;
		break;
	case RSPAMD_SOFT_REJECT:
	case RSPAMD_GREYLIST:
		r->verdict = SCAN_TEMPFAIL;
		break;
	case RSPAMD_ADD_HEADER:
	case RSPAMD_REWRITE_SUBJECT:
		r->verdict = SCAN_FLAG;
		break;
	case RSPAMD_NO_ACTION:
		r->verdict = SCAN_ACCEPT;
		return;
	}
	r->finding = SCAN_FOUND_SPAM;
}

/* The parsed result is ~60 KB: on the heap, not on the loop's stack. */
static void
read_reply(struct scan_result *r, struct evbuffer *body)
{
	size_t len = evbuffer_get_length(body);
	struct rspamd_result *rr;
	enum rspamd_error e;
	const char *json;

	if (len > RSPAMD_REPLY_MAX) {
		scan_result_fail(r, "reply over %d octets", RSPAMD_REPLY_MAX);
		return;
	}
	json = len > 0 ? (const char *)evbuffer_pullup(body, -1) : "";
	rr = xcalloc(1, sizeof(*rr));
	e = rspamd_reply_parse(json, len, rr);
	if (e != RSPAMD_OK) {
		if (e == RSPAMD_ESERVER)
			scan_result_fail(r, "reply: %s: %s", rspamd_strerror(e),
			    rr->message);
		else
			scan_result_fail(r, "reply: %s", rspamd_strerror(e));
	} else if (!add_mods(r, rr)) {
		/* none of a refused reply's changes is kept */
		scan_result_clear(r);
		scan_result_fail(r, "reply: more changes than allowed");
	} else {
		set_verdict(r, rr->action);
		r->score = rr->score;
		r->required = rr->required_score;
		scan_copy_printable(r->text, sizeof(r->text), rr->message,
		    strlen(rr->message));
		set_detail(r, rr);
	}
	free(rr);
}

/* evhttp's callback: req is NULL, or has no status, when no answer came.
 * Only records; done runs on the end's own turn. */
static void
request_cb(struct evhttp_request *req, void *arg)
{
	struct rspamd_client *c = arg;
	int status = req != NULL ? evhttp_request_get_response_code(req) : 0;

	if (status == 0)
		fail_unanswered(c);
	else if (status != HTTP_OK)
		scan_result_fail(c->call.res, "HTTP %d", status);
	else
		read_reply(c->call.res, evhttp_request_get_input_buffer(req));
	scan_call_end_later(&c->call);
}

static int
add_header(struct evkeyvalq *h, const char *name, const char *value)
{
	return evhttp_add_header(h, name, value);
}

/* The facts as rspamd's request headers (its protocol names them). */
static int
add_facts(struct evkeyvalq *h, const struct scan_message *msg,
    const char *host)
{
	size_t i;
	int rc = 0;

	rc |= add_header(h, "Host", host);
	rc |= add_header(h, "Connection", "close");
	if (msg->client_ip != NULL)
		rc |= add_header(h, "IP", msg->client_ip);
	if (msg->helo != NULL && msg->helo[0] != '\0')
		rc |= add_header(h, "Helo", msg->helo);
	if (msg->client_name != NULL)
		rc |= add_header(h, "Hostname", msg->client_name);
	if (msg->sender != NULL)
		rc |= add_header(h, "From",
		    msg->sender[0] != '\0' ? msg->sender : "<>");
	for (i = 0; i < msg->n_rcpts; i++)
		rc |= add_header(h, "Rcpt", msg->rcpts[i]);
	if (msg->queue_id != NULL)
		rc |= add_header(h, "Queue-Id", msg->queue_id);
	if (msg->auth_login != NULL)
		rc |= add_header(h, "User", msg->auth_login);
	if (msg->tls_version != NULL)
		rc |= add_header(h, "TLS-Version", msg->tls_version);
	return rc;
}

/* The whole message as the request body, by a file segment on a dup of
 * its descriptor (evbuffer_add_file closes the dup when done). */
static int
add_body(struct evbuffer *out, const struct scan_message *msg)
{
	int fd;

	if (msg->size == 0)
		return 0;
	fd = dup(msg->fd);
	if (fd < 0)
		return -1;
	if (evbuffer_add_file(out, fd, 0, (ev_off_t)msg->size) < 0) {
		close(fd);
		return -1;
	}
	return 0;
}

/* The endpoint as evhttp wants it: a numeric host and a port. */
static int
endpoint_host(const struct scan_endpoint *ep, char *host, size_t hostlen,
    uint16_t *port, int *family)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&ep->addr;
	const struct sockaddr_in6 *sin6 =
	    (const struct sockaddr_in6 *)&ep->addr;

	*family = ep->addr.ss_family;
	if (*family == AF_INET) {
		*port = ntohs(sin->sin_port);
		return inet_ntop(AF_INET, &sin->sin_addr, host,
		    (socklen_t)hostlen) != NULL ? 0 : -1;
	}
	if (*family == AF_INET6) {
		*port = ntohs(sin6->sin6_port);
		return inet_ntop(AF_INET6, &sin6->sin6_addr, host,
		    (socklen_t)hostlen) != NULL ? 0 : -1;
	}
	return -1;
}

/* Sets up and sends the request; the reason it could not, or NULL. */
static const char *
send_request(struct rspamd_client *c, struct event_base *base,
    const struct rspamd_conf *rc, const struct scan_message *msg)
{
	char host[INET6_ADDRSTRLEN], host_hdr[INET6_ADDRSTRLEN + 2];
	struct evhttp_request *req;
	uint16_t port;
	int family;

	if (endpoint_host(&rc->ep, host, sizeof(host), &port, &family) < 0)
		return "not an inet: address";
	snprintf(host_hdr, sizeof(host_hdr), family == AF_INET6 ? "[%s]" : "%s",
	    host);
	c->evcon = evhttp_connection_base_new(base, NULL, host, port);
	if (c->evcon == NULL)
		return "cannot make a connection";
	evhttp_connection_set_family(c->evcon, family);
	evhttp_connection_set_timeout(c->evcon, (int)c->call.timeout);
	evhttp_connection_set_retries(c->evcon, 0);
	evhttp_connection_set_max_headers_size(c->evcon,
	    RSPAMD_HEADERS_SIZE_MAX);
	evhttp_connection_set_max_body_size(c->evcon, RSPAMD_REPLY_MAX);
	req = evhttp_request_new(request_cb, c);
	evhttp_request_set_error_cb(req, error_cb);
	if (add_facts(evhttp_request_get_output_headers(req), msg,
	    host_hdr) < 0) {
		evhttp_request_free(req);
		return "a fact cannot be a request header";
	}
	if (add_body(evhttp_request_get_output_buffer(req), msg) < 0) {
		evhttp_request_free(req);
		return "cannot read the message";
	}
	/* On failure evhttp has freed the request. */
	if (evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, "/checkv2") < 0)
		return "cannot send the request";
	wrap_connect(c);
	return NULL;
}

struct rspamd_client *
rspamd_client_start(struct event_base *base, const struct rspamd_conf *rc,
    const struct scan_message *msg, struct scan_result *res,
    scan_done_fn *done, void *arg)
{
	struct rspamd_client *c = xcalloc(1, sizeof(*c));

	scan_call_init(&c->call, base, "rspamd", rc->timeout, res, done, arg,
	    client_free, c);
	scan_call_arm(&c->call, send_request(c, base, rc, msg));
	return c;
}

void
rspamd_client_cancel(struct rspamd_client *c)
{
	client_free(c);
}
