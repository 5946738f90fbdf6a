/*
 * The read side of a session: whether we read the client's input, how
 * long we wait for it, and, on a plaintext connection, the reading.
 *
 * A plaintext session reads with one read() per readable event, straight
 * into its bufferevent's input buffer.  libevent's socket bufferevent asks
 * the kernel how much is readable (ioctl FIONREAD) before every read and
 * then reads at most 4096 bytes with readv: twice the system calls, and
 * more reads for a message.  So the session owns a read event of its own
 * on the socket and the bufferevent's read side is never switched on; the
 * bufferevent keeps the write side (session_flush_cb, its write event and
 * timeout) and the input buffer, which session_process and STARTTLS's
 * injection check read as before.  A TLS session (no event of its own:
 * s->input is NULL) reads through bufferevent_openssl, which owns the
 * record layer; these functions pass to it.
 *
 * What libevent did, done the same way here: input is read only while
 * reading is on; the read timeout runs only then and restarts with each
 * read (EV_PERSIST with a timeout); at most INPUT_HIGH_WATER bytes wait
 * unprocessed; EOF, errors and the timeout go to session_event as
 * BEV_EVENT_* flags, with reading switched off first.
 */
#include "smtpd/session_internal.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <unistd.h>

#include "common/log.h"
#include "smtpd/server.h"

/* One read takes at most this much (libevent's bufferevent: 16 KiB per
 * callback, in reads of at most 4 KiB).  A message's data comes in
 * bigger reads: a 100 KiB message took 11 reads instead of 16.  Commands
 * stay with the small buffer, so an idle session never holds the big
 * one. */
#define READ_CHUNK	(16 * 1024)
#define DATA_READ_CHUNK	(64 * 1024)

static void
input_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t have = evbuffer_get_length(in), want, chunk;
	struct evbuffer_iovec vec;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		session_input_off(s);
		session_event(s, BEV_EVENT_READING | BEV_EVENT_TIMEOUT);
		return;
	}
	if (have >= INPUT_HIGH_WATER) {
		/* Input is processed only from states that end with
		 * session_resume, which switches reading on again. */
		session_input_off(s);
		return;
	}
	chunk = s->state == SESSION_DATA ? DATA_READ_CHUNK : READ_CHUNK;
	want = INPUT_HIGH_WATER - have < chunk ? INPUT_HIGH_WATER - have :
	    chunk;
	/* The bufferevent keeps its input's end frozen to everyone but
	 * itself; thawed for this one read. */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_reserve_space(in, (ev_ssize_t)want, &vec, 1) != 1)
		panic("out of memory");
	n = read(fd, vec.iov_base, want);
	if (n > 0) {
		vec.iov_len = (size_t)n;
		evbuffer_commit_space(in, &vec, 1);
	}
	evbuffer_freeze(in, 0);
	if (n > 0) {
		session_readable(s);	/* may free s */
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	session_input_off(s);
	session_event(s, BEV_EVENT_READING |
	    (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR));
}

void
session_input_init(struct session *s)
{
	s->input = event_new(s->srv->base, bufferevent_getfd(s->bev),
	    EV_READ | EV_PERSIST, input_cb, s);
	if (s->input == NULL)
		panic("cannot create an event");
}

void
session_input_free(struct session *s)
{
	if (s->input != NULL)
		event_free(s->input);
	s->input = NULL;
}

/* (Re)starting reading restarts the read timeout, as bufferevent_enable
 * does. */
void
session_input_on(struct session *s)
{
	if (s->input == NULL)
		bufferevent_enable(s->bev, EV_READ);
	else if (evutil_timerisset(&s->input_timeout))
		event_add(s->input, &s->input_timeout);
	else
		event_add(s->input, NULL);
}

void
session_input_off(struct session *s)
{
	if (s->input == NULL)
		bufferevent_disable(s->bev, EV_READ);
	else
		event_del(s->input);
}

/* Both timeouts; a zero one is none, as for bufferevent_set_timeouts. */
void
session_input_timeouts(struct session *s, const struct timeval *tv)
{
	/* Plaintext: only the write side's counts. */
	bufferevent_set_timeouts(s->bev, tv, tv);
	if (s->input == NULL)
		return;
	s->input_timeout = *tv;
	if (!event_pending(s->input, EV_READ, NULL))
		return;
	if (evutil_timerisset(tv))
		event_add(s->input, tv);
	else
		event_remove_timer(s->input);
}
