/*
 * "A new message is queued": the one message smtpd sends the queue
 * manager, over a SOCK_DGRAM socketpair created by the master.  Losing a
 * notification is harmless (the queue manager also scans the queue
 * periodically), so sending never blocks and never fails loudly.
 * `decorum queue flush` sends QUEUE_NOTIFY_FLUSH instead of an id, over
 * <spool>/qmgr.sock: "try every queued message now".
 */
#ifndef DECORUM_QUEUE_NOTIFY_H
#define DECORUM_QUEUE_NOTIFY_H

#include <stddef.h>

/* Never a real queue id: queue_id_new() makes QUEUE_ID_LEN (24)
 * characters, and the qmgr checks for this token before anything else. */
#define QUEUE_NOTIFY_FLUSH	"flush"

void queue_notify_send(int fd, const char *id);
/* The same, from outside the daemon (sendmail, queue release, queue
 * flush): one datagram to the qmgr's socket <spool>/qmgr.sock.  0 when
 * it was sent; -1 with errno when not: ENOENT or ECONNREFUSED when no
 * queue manager is listening, EAGAIN when its socket is full. */
int queue_notify_spool(const char *spool, const char *id);
/* Reads one notification; 0 and id filled (a queue id, or
 * QUEUE_NOTIFY_FLUSH), or -1 (EAGAIN or garbage). */
int queue_notify_recv(int fd, char *id, size_t idlen);

#endif
