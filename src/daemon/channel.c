/*
 * The master's end of the control channel: see channel.h.
 *
 * Called only from the master's loop (master.c), single-threaded.
 * Invariants: cur is empty or holds exactly one frame of which off
 * octets are written; next is empty or one whole frame; a key frame's
 * bytes are wiped (explicit_bzero of the whole buffer) before they are
 * freed or overwritten.  Trust: the smtpd is unprivileged and may be
 * compromised, so what it sends is read bounded (CHANNEL_IN_MAX) and
 * only a well-formed RESEND frame means anything; anything else is
 * dropped.  A smtpd that stops reading costs the master at most two
 * frames of memory and never a wait longer than channel_wait's.
 */
#include "daemon/channel.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtpd/control_frame.h"

/* Requests from the smtpd are 20 octets; more than this waiting means
 * it is not talking frames. */
#define CHANNEL_IN_MAX	4096
#define EMPTY_FRAME	(CONTROL_HEADER_LEN + CONTROL_TRAILER_LEN)

void
channel_init(struct channel *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->fd = -1;
	buf_init(&ch->cur, CONTROL_HEADER_LEN + CONTROL_FRAME_MAX +
	    CONTROL_TRAILER_LEN);
	buf_init(&ch->next, CONTROL_HEADER_LEN + CONTROL_FRAME_MAX +
	    CONTROL_TRAILER_LEN);
	buf_init(&ch->in, CHANNEL_IN_MAX);
}

void
channel_close(struct channel *ch)
{
	if (ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
	ch->off = 0;
	buf_wipe(&ch->cur);
	buf_wipe(&ch->next);
	buf_free(&ch->in);
	buf_init(&ch->in, CHANNEL_IN_MAX);
}

int
channel_open(struct channel *ch)
{
	int sv[2];

	channel_close(ch);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	/* Non-blocking on our side: a stuck smtpd must never stall us. */
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		errno = e;
		return -1;
	}
	ch->fd = sv[0];
	return sv[1];
}

int
channel_send_keys(struct channel *ch, const void *payload, size_t len)
{
	struct buf *dst;

	if (ch->fd < 0 || len > CONTROL_FRAME_MAX)
		return -1;
	/* A frame half out must be finished first; one not started yet is
	 * older news than this one. */
	dst = ch->cur.len == 0 ? &ch->cur : &ch->next;
	buf_wipe(dst);
	if (control_frame_encode(dst, CONTROL_KEYS, ++ch->seq, payload,
	    len) < 0) {
		buf_wipe(dst);
		return -1;
	}
	return 0;
}

bool
channel_busy(const struct channel *ch)
{
	return ch->fd >= 0 && ch->cur.len > 0;
}

void
channel_wait(const struct channel *ch, int ms)
{
	struct pollfd p = { .fd = ch->fd, .events = POLLOUT | POLLIN };

	if (!channel_busy(ch))
		return;
	/* Any outcome is fine: channel_service() finds out. */
	(void)poll(&p, 1, ms);
}

/* Write as much of cur as the socket takes; move next up when done.
 * 0, or -1 when the smtpd's end is gone. */
static int
channel_flush(struct channel *ch)
{
	ssize_t w;

	while (ch->cur.len > 0) {
		w = send(ch->fd, ch->cur.data + ch->off, ch->cur.len - ch->off,
		    MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -1;
		ch->off += (size_t)w;
		if (ch->off < ch->cur.len)
			continue;
		/* Done: wipe it, and the waiting frame (if any) is next. */
		buf_wipe(&ch->cur);
		ch->off = 0;
		if (ch->next.len > 0) {
			struct buf t = ch->cur;

			ch->cur = ch->next;
			ch->next = t;
		}
	}
	return 0;
}

/* Read what the smtpd sent and count the RESEND frames in it. */
static int
channel_read(struct channel *ch)
{
	struct control_frame f;
	uint8_t chunk[512];
	size_t total;
	ssize_t r;
	int resend = 0;

	while ((r = recv(ch->fd, chunk, sizeof(chunk), MSG_DONTWAIT)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r < 0 || buf_append(&ch->in, chunk, (size_t)r) < 0)
			return -1;
		while (ch->in.len > 0) {
			enum control_scan sc = control_frame_header(
			    (const uint8_t *)ch->in.data, ch->in.len, &total);

			if (sc == CONTROL_SCAN_MORE || (sc == CONTROL_SCAN_FRAME &&
			    total == EMPTY_FRAME && ch->in.len < total))
				break;
			/* Only an empty RESEND frame means anything; a
			 * long "frame" is not waited for. */
			if (sc == CONTROL_SCAN_FRAME && total == EMPTY_FRAME &&
			    control_frame_open((const uint8_t *)ch->in.data,
			    total, &f) == CONTROL_SCAN_FRAME &&
			    f.type == CONTROL_RESEND)
				resend++;
			else if (sc == CONTROL_SCAN_FRAME)
				total = control_frame_resync(
				    (const uint8_t *)ch->in.data, ch->in.len);
			buf_consume(&ch->in, total);
		}
	}
	return r == 0 ? -1 : resend;
}

int
channel_service(struct channel *ch)
{
	int resend;

	if (ch->fd < 0)
		return 0;
	if (channel_flush(ch) < 0 || (resend = channel_read(ch)) < 0) {
		channel_close(ch);
		return -1;
	}
	return resend;
}
