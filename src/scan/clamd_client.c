/*
 * clamd's zINSTREAM (clamd_client.h): one bufferevent to clamd's TCP or
 * unix socket on the caller's loop; the command, the message in framed
 * chunks (clamd_reply.h), the end frame, then the one NUL-terminated
 * verdict read by clamd_reply_parse.
 *
 * The message is streamed, never held: each chunk of at most
 * CLAMD_CHUNK_MAX octets is pread() straight into the output buffer
 * when it has drained below one chunk (the write low watermark), so at
 * most about two chunks are in memory.  The pread runs on the loop: the
 * file was just written by the caller and sits in the page cache, so it
 * costs a copy, not a wait.  The descriptor's offset is never moved.
 *
 * clamd is trusted to scan, not to answer well: the reply is bounded
 * (CLAMD_REPLY_MAX, more fails the scan) and anything but a clean "OK"
 * or a well-formed "FOUND" is an error.  clamd answers early and closes
 * when the stream passes its StreamMaxLength: the reply is read even
 * when our write fails on the closed socket, so the scan fails with
 * clamd's own words.
 *
 * done runs once, from a callback of ours (never from start: an error
 * known at once waits for the end's own turn of the loop, scan_call.h);
 * everything is freed before it runs, and cancel frees the same, so
 * nothing of a client runs after either.
 */
#include "scan/clamd_client.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "scan/clamd_reply.h"
#include "scan/scan_call.h"

struct clamd_client {
	struct scan_call call;		/* timer, end, done */
	struct bufferevent *bev;
	const struct scan_message *msg;
	uint64_t sent;			/* message octets framed so far */
	bool ended;			/* the end frame is queued */
};

static void
client_free(void *p)
{
	struct clamd_client *c = p;

	if (c->bev != NULL)
		bufferevent_free(c->bev);
	scan_call_free(&c->call);
	free(c);
}

static void
fill_verdict(struct scan_result *r, const char *reply, size_t len)
{
	struct clamd_result cr;

	clamd_reply_parse(reply, len, &cr);
	switch (cr.verdict) {
	case CLAMD_CLEAN:
		r->verdict = SCAN_ACCEPT;
		break;
	case CLAMD_INFECTED:
		r->verdict = SCAN_REJECT;
		r->finding = SCAN_FOUND_MALWARE;
		memcpy(r->detail, cr.name, sizeof(cr.name));
		break;
	case CLAMD_ERROR:
		scan_result_fail(r, "clamd: %s", cr.name);
		break;
	}
}

/*
 * The reply, when it is all in: true once res holds the verdict (or why
 * the reply is refused).  at_eof: clamd closed, so what came is all
 * there is (a reply without its NUL is still read, and must parse).
 */
static bool
take_reply(struct clamd_client *c, bool at_eof)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr nul = evbuffer_search(in, "", 1, NULL);
	size_t len = nul.pos >= 0 ? (size_t)nul.pos : evbuffer_get_length(in);
	char reply[CLAMD_REPLY_MAX + 1];

	if (len > CLAMD_REPLY_MAX) {
		scan_result_fail(c->call.res, "reply over %d octets",
		    CLAMD_REPLY_MAX);
		return true;
	}
	if (nul.pos < 0 && !at_eof)
		return false;
	if (len == 0 && nul.pos < 0) {
		scan_result_fail(c->call.res, "connection closed before the reply");
		return true;
	}
	evbuffer_remove(in, reply, len);
	fill_verdict(c->call.res, reply, len);
	return true;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct clamd_client *c = arg;

	(void)bev;
	if (take_reply(c, false))
		scan_call_end(&c->call);
}

/* Frames the next chunk, or the end frame; why the file could not be
 * read as long as it should be, or NULL.  The head goes in first: the
 * space reserved for the data is only good until the next add. */
static const char *
queue_chunk(struct clamd_client *c, struct evbuffer *out)
{
	uint64_t left = c->msg->size - c->sent;
	size_t len = left < CLAMD_CHUNK_MAX ? (size_t)left : CLAMD_CHUNK_MAX;
	uint8_t head[CLAMD_FRAME_HEAD];
	struct evbuffer_iovec v;
	ssize_t n;

	if (len == 0) {
		evbuffer_add(out, head, clamd_frame_end(head));
		c->ended = true;
		return NULL;
	}
	evbuffer_add(out, head, clamd_frame_head(head, len));
	if (evbuffer_reserve_space(out, (ev_ssize_t)len, &v, 1) < 1 ||
	    v.iov_len < len)
		return "no buffer space";
	n = pread(c->msg->fd, v.iov_base, len, (off_t)c->sent);
	if (n < 0)
		return strerror(errno);
	if ((size_t)n != len)
		return "shorter than its size";
	v.iov_len = len;
	evbuffer_commit_space(out, &v, 1);
	c->sent += len;
	return NULL;
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct clamd_client *c = arg;
	struct evbuffer *out = bufferevent_get_output(bev);
	const char *why;

	while (!c->ended && evbuffer_get_length(out) < CLAMD_CHUNK_MAX) {
		why = queue_chunk(c, out);
		if (why != NULL) {
			scan_result_fail(c->call.res, "cannot read the message: %s",
			    why);
			scan_call_end(&c->call);
			return;
		}
	}
}

/*
 * An error or EOF: clamd may have answered and closed while we were
 * still writing (its size limit), so whatever it sent is read first.
 */
static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct clamd_client *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_write(bev, CLAMD_INSTREAM_CMD,
		    CLAMD_INSTREAM_CMD_LEN);
		write_cb(bev, c);
		return;
	}
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	/* bounded: a reply longer than that is refused anyway */
	while (bufferevent_getfd(bev) >= 0 &&
	    evbuffer_get_length(bufferevent_get_input(bev)) <= CLAMD_REPLY_MAX &&
	    evbuffer_read(bufferevent_get_input(bev), bufferevent_getfd(bev),
	    CLAMD_REPLY_MAX + 1) > 0)
		;
	if (evbuffer_get_length(bufferevent_get_input(bev)) > 0 ||
	    (what & BEV_EVENT_EOF))
		take_reply(c, true);
	else if (err == ECONNREFUSED)
		scan_result_fail(c->call.res, "connection refused");
	else
		scan_result_fail(c->call.res, "connection failed: %s",
		    err != 0 ? strerror(err) : "closed");
	scan_call_end(&c->call);
}

/* Connects; the reason it cannot, or NULL. */
static const char *
connect_clamd(struct clamd_client *c, struct event_base *base,
    const struct clamd_conf *cc)
{
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		return "cannot make a socket";
	/* write_cb when less than a chunk is left to send */
	bufferevent_setwatermark(c->bev, EV_WRITE, CLAMD_CHUNK_MAX, 0);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CLAMD_REPLY_MAX + 1);
	/* The callbacks are set after: a failing connect calls the event
	 * callback at once, which must not finish inside start.  A refusal
	 * it learns later is reported on a later turn, to the callbacks. */
	if (bufferevent_socket_connect(c->bev,
	    (const struct sockaddr *)&cc->ep.addr, (int)cc->ep.addrlen) < 0)
		return errno == ENOENT ? "cannot connect: no such socket"
		    : errno == ECONNREFUSED ? "connection refused"
		    : "cannot connect";
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return NULL;
}

struct clamd_client *
clamd_client_start(struct event_base *base, const struct clamd_conf *cc,
    const struct scan_message *msg, struct scan_result *res,
    scan_done_fn *done, void *arg)
{
	struct clamd_client *c = xcalloc(1, sizeof(*c));
	const char *why;

	scan_call_init(&c->call, base, "clamd", cc->timeout, res, done, arg,
	    client_free, c);
	c->msg = msg;
	why = connect_clamd(c, base, cc);
	if (why != NULL && c->bev != NULL) {
		/* No callback of the socket may run: only the end's turn. */
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	scan_call_arm(&c->call, why);
	return c;
}

void
clamd_client_cancel(struct clamd_client *c)
{
	client_free(c);
}
