/*
 * The master's end of the control channel to the smtpd (frames of
 * smtpd/control_frame.h).  The master has no event loop, so the channel
 * never blocks it: a frame is queued whole and written as far as the
 * socket takes it, and the rest goes out between signal waits
 * (channel_wait, channel_service).  A frame once started is always
 * finished; only a newer frame that has not started replaces an older
 * one, so the stream never holds half a frame followed by another.
 *
 * Each smtpd gets a fresh socketpair (channel_open before its fork), so
 * a restarted smtpd starts with a clean stream: whatever was queued for
 * its predecessor is dropped (and wiped), and the new smtpd has the
 * latest keys by inheritance.
 */
#ifndef DECORUM_DAEMON_CHANNEL_H
#define DECORUM_DAEMON_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct channel {
	int fd;			/* our end, non-blocking; -1: no smtpd */
	struct buf cur;		/* the frame being written (wiped after) */
	size_t off;		/* ... how much of it is out */
	struct buf next;	/* a whole frame waiting behind cur */
	struct buf in;		/* what the smtpd sent us */
	uint32_t seq;		/* the last key frame's number */
};

void channel_init(struct channel *ch);
/* A new socketpair; the old one is closed first.  Returns the smtpd's end
 * (the caller closes its copy after the fork), or -1 with errno. */
int channel_open(struct channel *ch);
/* Close our end and drop (wipe) whatever was queued. */
void channel_close(struct channel *ch);
/* Queue payload as the next key frame, numbered ++seq.  0, -1 when
 * there is no smtpd or the payload is over CONTROL_FRAME_MAX. */
int channel_send_keys(struct channel *ch, const void *payload, size_t len);
/* Bytes waiting to be written? */
bool channel_busy(const struct channel *ch);
/* Wait at most ms for the socket to take more (only when busy). */
void channel_wait(const struct channel *ch, int ms);
/* Write what the socket takes, read what the smtpd sent.  Returns the
 * number of resend requests seen (the caller queues the keys again), or
 * -1 when the smtpd's end is gone (the channel is then closed). */
int channel_service(struct channel *ch);

#endif
